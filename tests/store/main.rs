//! The DynamoDB adapter against DynamoDB Local, over the wire. Every test makes its own
//! table, so they run in parallel.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use chrono::{DateTime, Duration, Utc};
use futures::{stream, StreamExt, TryStreamExt};
use tokenwarden::domain::{
    Account, EmailAddress, Failures, Invitation, Milestone, NotificationPrefs, OriginAllowlist,
    Provider, Reason, Recipient, RecipientId, RecipientState, ReturnUrl, Status, TeamId, UserId,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::store::dynamo::{create_table, DynamoStore, LAYOUT};
use tokenwarden::store::{
    AccountStore, Consumed, Cursor, Dispatch, DueIndex, DueItem, LeaseKey, Leases, Ledger,
    LedgerEntry, MailState, OAuthState, Page, PrefsStore, StateChange, StateStore, StoreError,
};
use tokenwarden_integration::{account_id, dynamo, dynamo_store, t0, team, AccountBuilder};

/// The table and its accounts: round trips, uniqueness, versions, listing, the due index.
mod accounts;
/// History items: written with their account change or not at all, with a TTL, no token.
mod history;
/// The mail ledger: pending milestones, their recipients, and the dispatches.
mod ledger;
/// Preferences and recipients: optimistic versions, recipient states, daily allowances.
mod preferences;
/// Taken by one: OAuth states consumed exactly once, and leases held by one holder.
mod states_and_leases;

fn entry(team_id: &str, account: &str, milestone: Milestone) -> LedgerEntry {
    LedgerEntry {
        team: team(team_id),
        account: account_id(account),
        milestone,
        state: MailState::Pending,
        created_at: t0(),
        updated_at: t0(),
        detail: None,
        sent_to: Vec::new(),
        audience: None,
    }
}
