//! Ports for everything tokenwarden keeps, and their DynamoDB adapter.
//!
//! One trait per capability, so a handler asks only for what it uses. The key design is
//! written down in `shared/DATA.md`.

pub mod dynamo;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    Account, AccountId, HistoryEntry, Milestone, NotificationPrefs, Provider, Recipient,
    RecipientId, RecipientState, ReturnUrl, TeamId, UserId,
};
use crate::domain::{SealedToken, Secret};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A version-conditioned write lost to a newer one: re-read and decide again.
    #[error("the item changed since it was read (stale version)")]
    Conflict,
    /// A create found the item already there.
    #[error("the item already exists")]
    AlreadyExists,
    /// The item is not there.
    #[error("the item does not exist")]
    NotFound,
    /// A stored item could not be read back into the domain (named by its key, never its
    /// content).
    #[error("stored item {key} is malformed: {what}")]
    Malformed { key: String, what: String },
    /// A cursor that this store did not issue.
    #[error("the cursor is not valid")]
    BadCursor,
    /// The database failed or could not be reached.
    #[error("the database call failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An opaque position in a listing. Clients get it as a string and give it back.
#[derive(Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn new(raw: String) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({})", self.0)
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
    /// Items the database read to answer (its ScannedCount): what a page cost.
    pub items_read: u64,
    /// Items left out because they cannot be read (logged by key).
    pub skipped: u32,
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Stores a new account at version 1. `AlreadyExists` if the id is taken.
    async fn create_account(&self, account: &Account) -> Result<Account, StoreError>;

    async fn get_account(
        &self,
        team: &TeamId,
        id: &AccountId,
    ) -> Result<Option<Account>, StoreError>;

    /// The team's account that has this network's external id, if connected.
    async fn find_by_external_id(
        &self,
        team: &TeamId,
        provider: Provider,
        external_id: &str,
    ) -> Result<Option<Account>, StoreError>;

    /// The team's accounts, most urgent first (revoked, then by `reconnect_by`, soonest
    /// first; accounts with no `reconnect_by` last). One query per page.
    async fn list_accounts(
        &self,
        team: &TeamId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Account>, StoreError>;

    /// Writes `account` if the stored version is still `account.version`; returns it at
    /// the next version. A stale write gets `Conflict` and changes nothing.
    async fn update_account(&self, account: &Account) -> Result<Account, StoreError>;

    /// Removes the account with everything the store keeps beside it (its external-id
    /// item and its lease). Ledger entries are `Ledger::clear_account`'s. `false` if it
    /// was not there.
    async fn delete_account(&self, team: &TeamId, id: &AccountId) -> Result<bool, StoreError>;

    /// `create_account` with the change's history entries in the same transaction.
    async fn create_account_with(
        &self,
        account: &Account,
        history: &[HistoryEntry],
    ) -> Result<Account, StoreError>;

    /// `update_account` with the change's history entries in the same transaction: no
    /// change without its record, no record without its change. The account's
    /// `last_change` becomes the last entry's.
    async fn update_account_with(
        &self,
        account: &Account,
        history: &[HistoryEntry],
    ) -> Result<Account, StoreError>;

    /// How many accounts the team has, counted up to `up_to` (reading stops there).
    async fn count_accounts(&self, team: &TeamId, up_to: u64) -> Result<u64, StoreError>;

    /// Accounts (of every team) with a token sealed by a key other than `key_id`: one Scan
    /// page, filtered on the envelopes' key id. The key-retirement pass reads these.
    async fn sealed_with_other_keys(
        &self,
        key_id: &str,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Account>, StoreError>;

    /// Whether an account other than `team`/`id`, in any team, stands on the grant of
    /// `grant_owner` (see [`Account::grant_owner`]). Eventually consistent: an account
    /// connected a moment ago may not be seen yet.
    async fn others_on_grant(
        &self,
        grant_owner: &str,
        team: &TeamId,
        id: &AccountId,
    ) -> Result<bool, StoreError>;

    /// `delete_account` with the removal's history entry in the same transaction (the
    /// history outlives the account).
    async fn delete_account_with(
        &self,
        team: &TeamId,
        id: &AccountId,
        history: &HistoryEntry,
    ) -> Result<bool, StoreError>;
}

/// Accounts' history, newest first.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// An entry that records no change of the account (a failure report the check did
    /// not confirm).
    async fn record(&self, entry: &HistoryEntry) -> Result<(), StoreError>;

    /// One page of an account's history, newest first. A cursor works only for the team
    /// and account it was issued for.
    async fn history(
        &self,
        team: &TeamId,
        account: &AccountId,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<HistoryEntry>, StoreError>;
}

/// One item of the due index: an account, or an item that does not read back as one
/// (skipped, counted and logged by the sweep, which goes on).
#[derive(Debug)]
pub enum DueItem {
    Account(Box<Account>),
    Malformed { key: String, what: String },
}

impl DueItem {
    /// A key naming the item (never its content).
    pub fn key(&self) -> String {
        match self {
            DueItem::Account(a) => format!("{}/{}", a.team, a.id),
            DueItem::Malformed { key, .. } => key.clone(),
        }
    }
}

/// The sparse, sharded "next due" index: only accounts with a `next_due_at` are in it.
/// A shard holds whole teams (the shard is a hash of the team), so the sweep invocation
/// that handles a shard also sends those teams' digests.
#[async_trait]
pub trait DueIndex: Send + Sync {
    /// How many shards the index spreads over; query each of them.
    fn shards(&self) -> u16;

    /// Items of one shard whose `next_due_at` is at or before `before`, soonest first.
    async fn due_accounts(
        &self,
        shard: u16,
        before: DateTime<Utc>,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> Result<Page<DueItem>, StoreError>;
}

/// An OAuth authorization in flight: bound to who started it, where it goes back to, and
/// (for a reconnect) which account it replaces.
#[derive(Debug, Clone)]
pub struct OAuthState {
    /// The random `state` parameter. Stored only as its SHA-256: a state read back from the
    /// store carries that hash here.
    pub id: String,
    pub team: TeamId,
    pub user: UserId,
    pub provider: Provider,
    pub return_to: ReturnUrl,
    /// Set for a reconnect.
    pub account: Option<AccountId>,
    pub pkce_verifier: Option<Secret>,
    /// The exact redirect URI sent at authorize, sent again at the token exchange.
    pub redirect_uri: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An authorization code the network sent back, parked until the person who started the
/// authorization completes it with their own credentials (`POST /connections/complete`).
#[derive(Debug, Clone)]
pub struct Parked {
    /// SHA-256 (hex) of the handle the browser carries; the handle itself is never stored.
    pub key: String,
    /// The consumed state: who started the authorization, for what.
    pub state: OAuthState,
    /// The code, sealed for this item (`Keyring::seal_in_flight` with `key`).
    pub code: SealedToken,
    /// The state's PKCE verifier, sealed the same way (the parked state holds none).
    pub verifier: Option<SealedToken>,
    pub expires_at: DateTime<Utc>,
}

/// What consuming a state found.
#[derive(Debug)]
pub enum Consumed {
    /// The state was there and unexpired; it is gone now.
    Fresh(OAuthState),
    /// The state was there but past its expiry; it is gone now.
    Expired(OAuthState),
    /// Never issued, or already consumed.
    Missing,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    async fn put_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Removes the state and returns it, exactly once: of two parallel calls, one gets it.
    async fn consume_state(&self, id: &str, now: DateTime<Utc>) -> Result<Consumed, StoreError>;

    /// Parks a code. A key that is already there is `AlreadyExists` (keys are random).
    async fn park(&self, parked: &Parked) -> Result<(), StoreError>;

    /// The parked code under `key`, if it is there (expired or not: the caller judges).
    async fn parked(&self, key: &str) -> Result<Option<Parked>, StoreError>;

    /// Removes the parked code under `key`; `true` for the one caller that removed it.
    async fn take_parked(&self, key: &str) -> Result<bool, StoreError>;
}

#[async_trait]
pub trait PrefsStore: Send + Sync {
    /// The team's preferences with every recipient (any state); `None` if the team never
    /// saved preferences and has no recipient.
    async fn get_prefs(&self, team: &TeamId) -> Result<Option<NotificationPrefs>, StoreError>;

    /// Saves the settings (not the recipients, which have their own operations) if the
    /// stored version is still `prefs.version` (0: never saved); returns the saved prefs at
    /// the next version. `Conflict` if stale.
    async fn put_prefs(&self, prefs: &NotificationPrefs) -> Result<NotificationPrefs, StoreError>;

    /// One recipient of the team.
    async fn recipient(
        &self,
        team: &TeamId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError>;

    /// Writes the recipient: when `expect` is `None` only if the team has no recipient of
    /// that id, else only if the stored one is in state `expect`. `Conflict` otherwise.
    async fn save_recipient(
        &self,
        recipient: &Recipient,
        expect: Option<RecipientState>,
    ) -> Result<(), StoreError>;

    /// Moves a recipient to `to` if it is in one of `from` (and, with `nonce`, only if its
    /// open invitation carries that nonce and has not expired at `now`), dropping any
    /// invitation. Returns whether it moved.
    async fn set_recipient_state(
        &self,
        team: &TeamId,
        id: &RecipientId,
        change: StateChange<'_>,
    ) -> Result<bool, StoreError>;

    /// Removes a recipient if it is in one of `from`. Returns whether it went.
    async fn remove_recipient(
        &self,
        team: &TeamId,
        id: &RecipientId,
        from: &[RecipientState],
    ) -> Result<bool, StoreError>;

    /// Counts one use of a per-team daily allowance (`what`, e.g. confirmation mails) on
    /// `now`'s UTC day; `false`, counting nothing, when `cap` uses were already counted.
    async fn take_quota(
        &self,
        team: &TeamId,
        what: &str,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// A conditional change of a recipient's state.
#[derive(Debug, Clone, Copy)]
pub struct StateChange<'a> {
    pub to: RecipientState,
    pub from: &'a [RecipientState],
    /// Only if the open invitation carries this nonce and is still valid at `now`.
    pub nonce: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Where a milestone mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailState {
    /// Written before sending; a crashed run leaves it for the next one.
    Pending,
    Sent,
    /// A permanent refusal (e.g. MessageRejected): recorded, not retried.
    Failed,
}

/// One (account, milestone) mail of a team.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub team: TeamId,
    pub account: AccountId,
    pub milestone: Milestone,
    pub state: MailState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why a send failed, for operators (no token, no mail body).
    pub detail: Option<String>,
    /// Recipients who already had this entry in a digest (a run cut short between two
    /// recipients does not mail the first one twice).
    pub sent_to: Vec<RecipientId>,
    /// Only these recipients may get it (a "connected again" entry goes only to the people
    /// who were told the connection broke); `None`: every active recipient.
    pub audience: Option<Vec<RecipientId>>,
}

impl LedgerEntry {
    /// A milestone just reached, to be mailed: pending, sent to nobody yet.
    pub fn pending(
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            team: team.clone(),
            account: account.clone(),
            milestone,
            state: MailState::Pending,
            created_at: now,
            updated_at: now,
            detail: None,
            sent_to: Vec::new(),
            audience: None,
        }
    }

    /// Whether `recipient` still has to get this entry.
    pub fn owed_to(&self, recipient: &RecipientId) -> bool {
        !self.sent_to.contains(recipient)
            && self
                .audience
                .as_ref()
                .is_none_or(|people| people.contains(recipient))
    }
}

/// One digest handed to the mail service: written before the send, so a run killed between
/// the service's answer and the ledger write leaves a record the service's `Send` event
/// confirms (tagged with `id`). Entries of a confirmed dispatch count as sent to its
/// recipient; an unconfirmed one older than the grace period was never accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub team: TeamId,
    /// Random, URL- and tag-safe (hex).
    pub id: String,
    pub recipient: RecipientId,
    pub entries: Vec<(AccountId, Milestone)>,
    pub created_at: DateTime<Utc>,
    /// When the mail service's `Send` event for it arrived.
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Ledger: Send + Sync {
    /// Writes the entry as pending unless this (account, milestone) already has one; a
    /// once-a-day milestone's entry from an earlier UTC day is replaced. Returns whether it
    /// was written.
    async fn record_pending(&self, entry: &LedgerEntry) -> Result<bool, StoreError>;

    /// Moves an entry to `Sent` or `Failed`.
    async fn mark(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        state: MailState,
        detail: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The team's entries still pending.
    async fn pending_for_team(&self, team: &TeamId) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Records that `recipient` had this entry in a digest.
    async fn add_recipient(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        recipient: &RecipientId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// [`Ledger::add_recipient`] from SES's `Send` event of a dispatch made at
    /// `dispatched_at`: only on an entry created no later (`NotFound` otherwise).
    async fn add_dispatched(
        &self,
        team: &TeamId,
        account: &AccountId,
        milestone: Milestone,
        recipient: &RecipientId,
        dispatched_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Who was mailed that the account broke (its disconnected and expired entries), for
    /// the audience of its "connected again" entry.
    async fn told_broken(
        &self,
        team: &TeamId,
        account: &AccountId,
    ) -> Result<Vec<RecipientId>, StoreError>;

    /// Writes a dispatch before its mail is sent.
    async fn open_dispatch(&self, dispatch: &Dispatch) -> Result<(), StoreError>;

    /// The team's dispatches of the last days (they expire on their own).
    async fn dispatches(&self, team: &TeamId) -> Result<Vec<Dispatch>, StoreError>;

    /// Marks a dispatch confirmed by the mail service's `Send` event; returns it (`None`:
    /// no such dispatch, e.g. expired).
    async fn confirm_dispatch(
        &self,
        team: &TeamId,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Dispatch>, StoreError>;

    /// Teams of one shard (the due index's sharding) that have pending entries, from this
    /// run or a crashed one.
    async fn teams_with_pending(&self, shard: u16) -> Result<Vec<TeamId>, StoreError>;

    /// Removes every entry of the account (a disconnect).
    async fn clear_account(&self, team: &TeamId, account: &AccountId) -> Result<u32, StoreError>;

    /// A reconnect starts the account's milestones afresh, except the once-a-day ones
    /// (disconnected, recovered) recorded on `now`'s UTC day and already mailed: a
    /// connection that flaps within one day is mailed at most one disconnected and one
    /// recovered, and a breakage fixed before anyone was told is never mailed. Returns how
    /// many entries went.
    async fn clear_for_reconnect(
        &self,
        team: &TeamId,
        account: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<u32, StoreError>;
}

/// What a lease guards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseKey {
    /// One refresh of one account at a time, from the sweep or anywhere else.
    Account(TeamId, AccountId),
    /// At most one verification of a reported failure per account per period: taken for
    /// the period and never given back, so a storm of reports costs one provider call.
    Verification(TeamId, AccountId),
    /// One sweep run per scheduled time.
    Run(String),
}

#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease for `ttl` if nobody holds it, or its holder's time ran out (a crashed
    /// holder cannot keep it), and it was not completed. Returns whether it was taken.
    async fn acquire(
        &self,
        key: &LeaseKey,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// [`Leases::acquire`], or the same holder taking it again while it is still held and
    /// not completed: a redelivery of a crashed invocation (Lambda retries an asynchronous
    /// invocation with the same request id) carries on with the work it had begun.
    async fn resume(
        &self,
        key: &LeaseKey,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease back if `holder` still holds it.
    async fn release(&self, key: &LeaseKey, holder: &str) -> Result<(), StoreError>;

    /// Marks the lease's work done for good (a finished run): it can never be taken again.
    async fn complete(&self, key: &LeaseKey, holder: &str) -> Result<(), StoreError>;
}
