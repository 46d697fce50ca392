//! The HTTP API for the hosted frontend (functions `accounts` and `notification-prefs`),
//! through the handlers the functions run, fed with the sample events of `events/`, against
//! DynamoDB Local (a fresh table per test). Every response is checked against
//! `infra/openapi.yaml` on the way (see `api_support::read`).

#[path = "../api_support.rs"]
mod api_support;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Duration;
use serde_json::{json, Value};
use tokenwarden::api::{accounts, prefs};
use tokenwarden::domain::{Clock, Milestone, Provider, Reason, Status};
use tokenwarden::store::{
    AccountStore, LeaseKey, Leases, Ledger, LedgerEntry, MailState, PrefsStore,
};
use tokenwarden_integration::{account_id, team, AccountBuilder};

use api_support::{canary, openapi, Event, Harness, LogCapture, RecordingProviders, FRONTEND};

/// Who may see what: claims, tenancy, and no token text in any response or log line.
mod access;
/// HTTP conventions and the OpenAPI document: bodies, routes, CORS, errors, sample events.
mod conventions;
/// Disconnect: revoked at the network, everything of the account removed, shared grants kept.
mod disconnect;
/// Reading accounts: the list and its token column, pages, one account, and the history.
mod listing;
/// Notification preferences: defaults, versions, recipients and the confirmation mails.
mod preferences;

fn ids(resp: &api_support::Resp) -> Vec<String> {
    resp.json["accounts"]
        .as_array()
        .expect("accounts array")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

fn list(team_id: &str) -> Event {
    Event::load("accounts/list.json").caller(team_id, "user-ana")
}

fn account_event(file: &str, team_id: &str, id: &str) -> Event {
    Event::load(file)
        .caller(team_id, "user-ana")
        .path(&format!("/accounts/{id}"))
}

/// Every state of the token column, for team `team_id`, relative to the harness clock
/// (t0 + 1 day).
async fn seed_every_state(h: &Harness, team_id: &str) {
    let now = h.clock.now();
    for account in [
        AccountBuilder::new(team_id, "acc-active").build(),
        AccountBuilder::new(team_id, "acc-expiring")
            .reconnect_by(Some(now + Duration::days(5) + Duration::hours(1)))
            .build(),
        AccountBuilder::new(team_id, "acc-expired")
            .reconnect_by(Some(now - Duration::days(2)))
            .build(),
        AccountBuilder::new(team_id, "acc-password")
            .broken(Status::Revoked, Some(Reason::PasswordChanged))
            .build(),
        AccountBuilder::new(team_id, "acc-admin")
            .broken(Status::Revoked, Some(Reason::AdminLost))
            .build(),
        AccountBuilder::new(team_id, "acc-x-invalid")
            .provider(Provider::X)
            .refresh_token("sealed", None)
            .broken(Status::Expired, Some(Reason::TokenInvalid))
            .build(),
        AccountBuilder::new(team_id, "acc-google")
            .provider(Provider::Google)
            .refresh_token("sealed", None)
            .build(),
    ] {
        h.seed(account).await;
    }
}
