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

fn ids(resp: &api_support::Resp) -> Vec<String> {
    resp.json["accounts"]
        .as_array()
        .expect("accounts array")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

fn by_id<'a>(resp: &'a api_support::Resp, id: &str) -> &'a Value {
    resp.json["accounts"]
        .as_array()
        .expect("accounts array")
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {}", resp.json))
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

// ---- the list and its token column ---------------------------------------------------------

#[tokio::test]
async fn list_shows_status_reason_sentence_and_days_left_for_every_state() {
    let (h, _) = Harness::with_recorder().await;
    seed_every_state(&h, "team-a").await;

    let resp = h.accounts(&list("team-a")).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    let col = |id: &str| by_id(&resp, id)["token"].clone();

    let active = col("acc-active");
    assert_eq!(active["status"], "active");
    assert_eq!(active["reason"], Value::Null);
    assert_eq!(active["days_left"], 59);
    assert_eq!(active["auto_refresh"], false);
    assert!(active["message"]
        .as_str()
        .unwrap()
        .contains("needs a reconnect in 59 day(s)"));
    assert_eq!(active["reconnect_by"], "2026-12-31T03:00:00Z");
    assert_eq!(active["last_checked_at"], "2026-11-01T03:00:00Z");

    let expiring = col("acc-expiring");
    assert_eq!(expiring["status"], "expiring");
    assert_eq!(expiring["days_left"], 5);
    assert!(expiring["message"]
        .as_str()
        .unwrap()
        .contains("in 5 day(s)"));

    let expired = col("acc-expired");
    assert_eq!(expired["status"], "expired");
    assert_eq!(expired["reason"], Value::Null);
    // Down: no days left, no automatic refresh; the deadline shown is the one that passed.
    assert_eq!(expired["days_left"], Value::Null);
    assert_eq!(expired["auto_refresh"], false);
    assert_eq!(
        expired["message"],
        "The connection to Facebook Pages expired. Reconnect the account to continue posting."
    );

    for (id, reason, status) in [
        ("acc-password", Reason::PasswordChanged, "revoked"),
        ("acc-admin", Reason::AdminLost, "revoked"),
    ] {
        let c = col(id);
        assert_eq!(c["status"], status, "{id}");
        assert_eq!(c["reason"], reason.as_str(), "{id}");
        assert_eq!(c["message"], reason.sentence("Facebook Pages"), "{id}");
    }
    let x = col("acc-x-invalid");
    assert_eq!(x["status"], "expired");
    assert_eq!(x["reason"], "token_invalid");
    assert_eq!(x["message"], Reason::TokenInvalid.sentence("X"));

    let google = col("acc-google");
    assert_eq!(google["status"], "active");
    assert_eq!(google["auto_refresh"], true);
    assert_eq!(google["reconnect_by"], Value::Null);
    assert_eq!(google["days_left"], Value::Null);
    assert!(google["message"].as_str().unwrap().contains("renews"));

    let account = by_id(&resp, "acc-google");
    assert_eq!(account["provider"], "google");
    assert_eq!(
        account["provider_name"],
        "Google Business Profile / YouTube"
    );
    assert_eq!(account["display_name"], "Page acc-google");
    assert_eq!(resp.json["next_cursor"], Value::Null);
}

#[tokio::test]
async fn list_is_ordered_by_urgency_broken_first_then_soonest_reconnect_by() {
    let (h, _) = Harness::with_recorder().await;
    seed_every_state(&h, "team-a").await;

    let resp = h.accounts(&list("team-a")).await;

    assert_eq!(
        ids(&resp),
        [
            "acc-admin",
            "acc-password",
            "acc-x-invalid",
            "acc-expired",
            "acc-expiring",
            "acc-active",
            "acc-google"
        ]
    );
}

#[tokio::test]
async fn list_filters_by_status_and_provider() {
    let (h, _) = Harness::with_recorder().await;
    seed_every_state(&h, "team-a").await;

    let revoked = h
        .accounts(&list("team-a").query(&[("status", "revoked")]))
        .await;
    let attention = h
        .accounts(&list("team-a").query(&[("status", "expired,revoked")]))
        .await;
    let x_or_google = h
        .accounts(&list("team-a").query(&[("provider", "x,google")]))
        .await;
    let both = h
        .accounts(&list("team-a").query(&[("status", "active"), ("provider", "facebook")]))
        .await;
    let filtered_event = h
        .accounts(&Event::load("accounts/list-filtered.json").caller("team-a", "user-ana"))
        .await;

    assert_eq!(ids(&revoked), ["acc-admin", "acc-password"]);
    assert_eq!(
        ids(&attention),
        ["acc-admin", "acc-password", "acc-x-invalid", "acc-expired"]
    );
    assert_eq!(ids(&x_or_google), ["acc-x-invalid", "acc-google"]);
    assert_eq!(ids(&both), ["acc-active"]);
    // events/accounts/list-filtered.json: expired or revoked, Facebook or X.
    assert_eq!(
        ids(&filtered_event),
        ["acc-admin", "acc-password", "acc-x-invalid", "acc-expired"]
    );
}

/// Walks every page of a listing; returns the ids in order and the number of pages.
async fn walk(h: &Harness, team_id: &str, query: &[(&str, &str)]) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, &str)> = query.to_vec();
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let resp = h.accounts(&list(team_id).query(&q)).await;
        assert_eq!(resp.status, 200, "{}", resp.text);
        pages += 1;
        seen.extend(ids(&resp));
        match resp.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 50, "pagination does not end");
    }
    (seen, pages)
}

async fn seed_many(h: &Harness, team_id: &str, n: i64) {
    let now = h.clock.now();
    for i in 1..=n {
        h.seed(
            AccountBuilder::new(team_id, &format!("acc-{i:03}"))
                .reconnect_by(Some(now + Duration::days(i) + Duration::hours(1)))
                .build(),
        )
        .await;
    }
}

#[tokio::test]
async fn pagination_over_several_pages_has_no_duplicates_and_no_gaps() {
    let (h, _) = Harness::with_recorder().await;
    seed_many(&h, "team-a", 23).await;
    let expected: Vec<String> = (1..=23).map(|i| format!("acc-{i:03}")).collect();

    let (all, pages) = walk(&h, "team-a", &[("limit", "5")]).await;
    // Accounts 14..=23 are more than 14 days out (active); the filter cuts pages mid-way.
    let (active, active_pages) = walk(&h, "team-a", &[("limit", "4"), ("status", "active")]).await;

    assert!(pages >= 5, "23 accounts in pages of 5: {pages} pages");
    assert_eq!(all, expected, "every account once, in urgency order");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 23);
    assert_eq!(active, expected[13..].to_vec());
    assert!(active_pages >= 3);
}

#[tokio::test]
async fn a_list_of_n_accounts_costs_about_n_over_page_size_store_reads() {
    let (h, _) = Harness::with_recorder().await;
    seed_many(&h, "team-a", 40).await;
    h.counting.observer.reset();

    let (all, pages) = walk(&h, "team-a", &[("limit", "10")]).await;

    let calls = h.counting.observer.of(tokenwarden_integration::Op::List);
    let items_read = h
        .counting
        .observer
        .items_read
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(all.len(), 40);
    assert!(pages <= 5, "{pages} pages");
    assert!(
        calls <= 40 / 10 + 1,
        "{calls} store queries for 40 accounts in pages of 10 (no read per account)"
    );
    assert!(
        items_read <= 40 + 10,
        "{items_read} items read for 40 accounts"
    );
}

#[tokio::test]
async fn bad_list_parameters_are_refused_with_400() {
    let (h, _) = Harness::with_recorder().await;
    seed_many(&h, "team-a", 3).await;

    let bad_limit = h
        .accounts(&Event::load("accounts/list-bad-limit.json").caller("team-a", "u1"))
        .await;
    let unknown = h
        .accounts(&Event::load("accounts/list-unknown-parameter.json").caller("team-a", "u1"))
        .await;
    let bad_status = h
        .accounts(&list("team-a").query(&[("status", "dead")]))
        .await;
    let bad_provider = h
        .accounts(&list("team-a").query(&[("provider", "myspace")]))
        .await;
    let garbage_cursor = h
        .accounts(&list("team-a").query(&[("cursor", "not-a-cursor")]))
        .await;

    assert_eq!(bad_limit.status, 400);
    assert!(bad_limit.error_message().contains("limit"));
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.error_code(), "unknown_parameter");
    assert!(unknown.error_message().contains("team_id"));
    assert_eq!(bad_status.status, 400);
    assert_eq!(bad_provider.status, 400);
    assert!(bad_provider.error_message().contains("myspace"));
    assert_eq!(garbage_cursor.status, 400);
    assert_eq!(garbage_cursor.error_code(), "invalid_cursor");
}

#[tokio::test]
async fn get_returns_the_account_and_404_for_an_unknown_id() {
    let (h, _) = Harness::with_recorder().await;
    seed_every_state(&h, "team-a").await;

    let found = h
        .accounts(&account_event(
            "accounts/get.json",
            "team-a",
            "acc-password",
        ))
        .await;
    let missing = h
        .accounts(&Event::load("accounts/get-not-found.json").caller("team-a", "u1"))
        .await;
    let impossible = h
        .accounts(&account_event("accounts/get.json", "team-a", "a%23b"))
        .await;

    assert_eq!(found.status, 200);
    assert_eq!(found.json["id"], "acc-password");
    assert_eq!(found.json["token"]["reason"], "password_changed");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "not_found");
    assert_eq!(impossible.status, 404);
}

#[tokio::test]
async fn providers_lists_the_offered_networks_with_their_capabilities() {
    let (h, _) = Harness::with_recorder().await;

    let resp = h
        .accounts(&Event::load("accounts/providers.json").caller("team-a", "u1"))
        .await;

    assert_eq!(resp.status, 200);
    let list = resp.json["providers"].as_array().unwrap();
    let offered: Vec<&str> = list.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(offered, ["facebook", "threads", "x"]);
    let facebook = &list[0];
    assert_eq!(facebook["auto_refresh"], false);
    assert_eq!(facebook["keep_alive"], "none");
    assert_eq!(facebook["typical_access_lifetime_seconds"], 60 * 86400);
    assert_eq!(facebook["revokes_on_disconnect"], true);
    assert_eq!(facebook["disconnect"], "removes_app_for_person");
    let threads = &list[1];
    assert_eq!(threads["keep_alive"], "self_refresh");
    assert_eq!(threads["revokes_on_disconnect"], false);
    assert_eq!(threads["disconnect"], "not_offered");
    let x = &list[2];
    assert_eq!(x["keep_alive"], "rotating_refresh_token");
    assert_eq!(x["needs_refresh_token"], true);
    assert_eq!(x["disconnect"], "revokes_refresh_token");
}

// ---- tenancy ---------------------------------------------------------------------------------

/// A team claim the identity provider sent as null, a boolean, an empty or blank string, or
/// an array or object reaches the function as API Gateway renders it (devtool's gateway
/// renders them the same way): every one is refused with 401, never taken as a team.
#[tokio::test]
async fn claims_that_cannot_name_a_team_or_user_are_refused() {
    let (h, _) = Harness::with_recorder().await;
    h.seed(AccountBuilder::new("null", "acc-in-null").build())
        .await;
    for rendered in [
        "null",
        "true",
        "false",
        "",
        "   ",
        "[a b]",
        r#"{"id":"t"}"#,
        "map[id:t]",
    ] {
        let as_team = h
            .accounts(&Event::load("accounts/list.json").caller(rendered, "user-1"))
            .await;
        let as_user = h
            .accounts(&Event::load("accounts/list.json").caller("team-a", rendered))
            .await;
        for resp in [as_team, as_user] {
            assert_eq!(resp.status, 401, "{rendered:?}: {}", resp.text);
            assert_eq!(resp.error_code(), "unauthenticated");
            assert!(!resp.text.contains("acc-in-null"));
        }
    }
}

#[tokio::test]
async fn team_a_cannot_read_or_delete_team_b_accounts_whatever_it_sends() {
    let (h, rec) = Harness::with_recorder().await;
    seed_every_state(&h, "team-b").await;
    h.seed(AccountBuilder::new("team-a", "acc-mine").build())
        .await;
    let b_first_page = h.accounts(&list("team-b").query(&[("limit", "2")])).await;
    let b_cursor = b_first_page.json["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let read = h
        .accounts(&account_event(
            "accounts/get.json",
            "team-a",
            "acc-password",
        ))
        .await;
    let delete = h
        .accounts(&account_event(
            "accounts/delete.json",
            "team-a",
            "acc-password",
        ))
        .await;
    let listed = h.accounts(&list("team-a")).await;
    let team_in_query = h
        .accounts(&list("team-a").query(&[("team_id", "team-b")]))
        .await;
    let team_in_path = h
        .accounts(
            &account_event("accounts/get.json", "team-a", "team-b").path("/teams/team-b/accounts"),
        )
        .await;
    let b_cursor_used_by_a = h
        .accounts(&list("team-a").query(&[("limit", "2"), ("cursor", &b_cursor)]))
        .await;
    let delete_with_body = h
        .accounts(
            &account_event("accounts/delete.json", "team-a", "acc-admin")
                .header("content-type", "application/json")
                .body(&json!({"team_id": "team-b"})),
        )
        .await;

    assert_eq!(read.status, 404);
    assert_eq!(delete.status, 404);
    assert_eq!(delete_with_body.status, 404);
    assert_eq!(ids(&listed), ["acc-mine"]);
    assert_eq!(team_in_query.status, 400);
    assert_eq!(team_in_path.status, 404);
    assert_eq!(b_cursor_used_by_a.status, 400);
    assert!(rec.revoked().is_empty(), "nothing revoked for team B");
    for id in ["acc-password", "acc-admin"] {
        assert!(
            h.store
                .get_account(&team("team-b"), &account_id(id))
                .await
                .unwrap()
                .is_some(),
            "team B's {id} is still there"
        );
    }
}

#[tokio::test]
async fn team_a_cannot_read_or_write_team_b_preferences() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json");
    let b_saved = h.prefs(&put.clone().caller("team-b", "user-b")).await;
    assert_eq!(b_saved.status, 200, "{}", b_saved.text);

    let a_reads = h
        .prefs(&Event::load("notification-prefs/get.json").caller("team-a", "user-a"))
        .await;
    let mut body = put.body_json();
    body["team_id"] = "team-b".into();
    let a_names_b = h
        .prefs(&put.clone().caller("team-a", "user-a").body(&body))
        .await;
    let mut mine = put.body_json();
    mine["team_name"] = "Team A".into();
    mine["version"] = 1.into(); // team B's version: A has none saved, so this is stale for A
    let a_with_b_version = h
        .prefs(&put.clone().caller("team-a", "user-a").body(&mine))
        .await;
    let a_in_query = h
        .prefs(
            &Event::load("notification-prefs/get.json")
                .caller("team-a", "user-a")
                .query(&[("team_id", "team-b")]),
        )
        .await;

    assert_eq!(a_reads.status, 200);
    assert_eq!(a_reads.json["version"], 0, "team A sees its own defaults");
    assert_eq!(a_reads.json["recipients"], json!([]));
    assert_eq!(a_names_b.status, 400);
    assert!(a_names_b.error_message().contains("team_id"));
    assert_eq!(a_with_b_version.status, 409);
    assert_eq!(a_in_query.status, 200, "GET takes no parameters it acts on");
    let b_now = h.store.get_prefs(&team("team-b")).await.unwrap().unwrap();
    assert_eq!(b_now.version, 1);
    assert_eq!(b_now.team_name.as_deref(), Some("Acme"));
    assert!(h.store.get_prefs(&team("team-a")).await.unwrap().is_none());
}

#[tokio::test]
async fn requests_without_usable_claims_are_refused_with_401() {
    let (h, _) = Harness::with_recorder().await;
    seed_every_state(&h, "team-demo").await;
    let get = Event::load("accounts/get.json").path("/accounts/acc-active");

    let mut answers = vec![
        h.accounts(&Event::load("accounts/list-missing-claims.json"))
            .await,
        h.accounts(
            &Event::load("accounts/delete-missing-claims.json").path("/accounts/acc-active"),
        )
        .await,
        h.accounts(&get.clone().without_claim("team_id")).await,
        h.accounts(&get.clone().without_claim("sub")).await,
        h.accounts(&get.clone().caller("team a;drop", "user-ana"))
            .await,
        h.accounts(&get.clone().caller("", "user-ana")).await,
        h.accounts(&Event::load("accounts/providers.json").without_claims())
            .await,
        h.prefs(&Event::load("notification-prefs/get-missing-claims.json"))
            .await,
        h.prefs(&Event::load("notification-prefs/put-missing-claims.json"))
            .await,
    ];
    // The claim names are configurable: with `custom:team_id`, `team_id` no longer counts.
    let mut custom = api_support::http_config();
    custom.claims.team = "custom:team_id".into();
    let api = accounts::AccountsApi {
        http: custom,
        ..clone_accounts_api(&h)
    };
    let resp = accounts::handle(&api, get.request()).await;
    answers.push(api_support::read("GET", "/accounts/acc-active", resp));

    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, 401, "answer {i}: {}", a.text);
        assert_eq!(a.error_code(), "unauthenticated");
    }
    assert!(h
        .store
        .get_account(&team("team-demo"), &account_id("acc-active"))
        .await
        .unwrap()
        .is_some());
    assert!(h
        .store
        .get_prefs(&team("team-demo"))
        .await
        .unwrap()
        .is_none());
}

fn clone_accounts_api(h: &Harness) -> accounts::AccountsApi {
    accounts::AccountsApi {
        accounts: h.accounts_api.accounts.clone(),
        history: h.accounts_api.history.clone(),
        providers: h.accounts_api.providers.clone(),
        disconnection: tokenwarden::disconnect::Disconnection {
            accounts: h.accounts_api.disconnection.accounts.clone(),
            ledger: h.accounts_api.disconnection.ledger.clone(),
            providers: h.accounts_api.disconnection.providers.clone(),
            keyring: h.accounts_api.disconnection.keyring.clone(),
            clock: h.accounts_api.disconnection.clock.clone(),
        },
        clock: h.accounts_api.clock.clone(),
        http: h.accounts_api.http.clone(),
    }
}

// ---- bodies ---------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_body_is_refused_with_413_and_nothing_written() {
    let (h, _) = Harness::with_recorder().await;

    let resp = h
        .prefs(&Event::load("notification-prefs/put-too-large.json").caller("team-a", "u1"))
        .await;

    assert_eq!(resp.status, 413);
    assert_eq!(resp.error_code(), "payload_too_large");
    assert!(h.store.get_prefs(&team("team-a")).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_bodies_are_refused_with_a_clear_message_and_nothing_written() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json").caller("team-a", "u1");
    let good = put.body_json();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        put.clone().body(&b)
    };
    let file =
        |name: &str| Event::load(&format!("notification-prefs/{name}")).caller("team-a", "u1");

    // (event, status, code, what the message or field must name)
    let cases: Vec<(Event, u16, &str, &str)> = vec![
        (
            file("put-malformed.json"),
            400,
            "malformed_json",
            "not valid JSON",
        ),
        (
            file("put-wrong-types.json"),
            400,
            "invalid_body",
            "invalid type",
        ),
        (
            file("put-unknown-field.json"),
            400,
            "invalid_body",
            "unknown field `team_id`",
        ),
        (
            file("put-not-json.json"),
            415,
            "unsupported_media_type",
            "application/json",
        ),
        (put.clone().raw_body(""), 400, "missing_body", "required"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("version");
            }),
            400,
            "invalid_body",
            "missing field `version`",
        ),
        (
            with(&|b| b["events"]["bounced"] = true.into()),
            400,
            "invalid_body",
            "unknown field `bounced`",
        ),
        (
            with(&|b| b["lead_days"] = json!([7, "3"])),
            400,
            "invalid_body",
            "invalid type",
        ),
        (
            file("put-bad-time-zone.json"),
            422,
            "validation_failed",
            "time_zone",
        ),
        (
            with(&|b| b["team_name"] = "A".repeat(81).into()),
            422,
            "validation_failed",
            "team_name",
        ),
        (
            with(&|b| b["team_name"] = "Acme\u{202e}\n".into()),
            422,
            "validation_failed",
            "team_name",
        ),
        (
            with(&|b| b["recipients"] = json!([])),
            400,
            "invalid_body",
            "unknown field `recipients`",
        ),
        (
            file("put-lead-days-out-of-range.json"),
            422,
            "validation_failed",
            "lead_days[0]",
        ),
        (
            with(&|b| b["lead_days"] = json!([0])),
            422,
            "validation_failed",
            "lead_days[0]",
        ),
        (
            with(&|b| b["lead_days"] = json!([61])),
            422,
            "validation_failed",
            "from 1 to 60",
        ),
        (
            with(&|b| b["lead_days"] = json!([-3])),
            422,
            "validation_failed",
            "lead_days[0]",
        ),
        (
            with(&|b| b["lead_days"] = json!([])),
            422,
            "validation_failed",
            "lead_days",
        ),
        (
            with(&|b| b["lead_days"] = json!([1, 2, 3, 4, 5, 6, 7, 8, 9])),
            422,
            "validation_failed",
            "1 to 8",
        ),
    ];

    for (i, (event, status, code, names)) in cases.iter().enumerate() {
        let resp = h.prefs(event).await;
        let said = format!(
            "{} {}",
            resp.error_message(),
            resp.json["error"]["field"].as_str().unwrap_or("")
        );
        assert_eq!(resp.status, *status, "case {i}: {}", resp.text);
        assert_eq!(resp.error_code(), *code, "case {i}: {}", resp.text);
        assert!(
            said.contains(names),
            "case {i}: message should name {names:?}: {}",
            resp.text
        );
    }
    assert!(
        h.store.get_prefs(&team("team-a")).await.unwrap().is_none(),
        "nothing was written"
    );
}

// ---- disconnect --------------------------------------------------------------------------------

async fn pending(h: &Harness, team_id: &str, account: &str) -> usize {
    h.store
        .pending_for_team(&team(team_id))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.account.as_str() == account)
        .count()
}

async fn add_pending(h: &Harness, team_id: &str, account: &str, milestone: Milestone) {
    let now = h.clock.now();
    assert!(h
        .store
        .record_pending(&LedgerEntry {
            team: team(team_id),
            account: account_id(account),
            milestone,
            state: MailState::Pending,
            created_at: now,
            updated_at: now,
            detail: None,
            sent_to: Vec::new(),
            audience: None,
        })
        .await
        .unwrap());
}

#[tokio::test]
async fn disconnect_revokes_at_the_network_and_removes_everything_of_the_account() {
    let (h, rec) = Harness::with_recorder().await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-demo-1")
            .external_id("page-77")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-other")
            .grant_owner("facebook_login:person-2")
            .build(),
    )
    .await;
    add_pending(
        &h,
        "team-demo",
        "acc-demo-1",
        Milestone::Expiring { days: 7 },
    )
    .await;
    add_pending(&h, "team-demo", "acc-demo-1", Milestone::Disconnected).await;
    add_pending(&h, "team-demo", "acc-other", Milestone::Expired).await;

    let resp = h.accounts(&Event::load("accounts/delete.json")).await;
    let again = h.accounts(&Event::load("accounts/delete.json")).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["revocation"], "revoked", "{}", resp.text);
    assert_eq!(resp.json["removed"], true);
    assert_eq!(
        rec.revoked(),
        [(Provider::Facebook, canary("acc-demo-1", "access"))],
        "revoked at Facebook with the account's own access token"
    );
    let t = team("team-demo");
    assert!(h
        .store
        .get_account(&t, &account_id("acc-demo-1"))
        .await
        .unwrap()
        .is_none());
    assert!(h
        .store
        .find_by_external_id(&t, Provider::Facebook, "page-77")
        .await
        .unwrap()
        .is_none());
    assert_eq!(pending(&h, "team-demo", "acc-demo-1").await, 0);
    assert_eq!(
        pending(&h, "team-demo", "acc-other").await,
        1,
        "other accounts keep theirs"
    );
    assert!(h
        .store
        .get_account(&t, &account_id("acc-other"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn disconnect_calls_the_fake_networks_revoke_endpoint_where_the_network_has_one() {
    let fakes = provider_fakes::start_local()
        .await
        .expect("provider fakes start");
    let client = tokenwarden::providers::HttpProviderClient::new(
        fakes.credentials(),
        fakes.endpoints(),
        std::time::Duration::from_secs(5),
    )
    .expect("provider client");
    let h = Harness::new(Arc::new(client)).await;
    // The Facebook Page was connected before its grant's owner was recorded: nothing can
    // tell whether other accounts need the person's grant, so it is not revoked.
    let cases = [
        ("acc-fb", Provider::Facebook, false),
        ("acc-x", Provider::X, true),
        ("acc-google", Provider::Google, true),
        ("acc-linkedin", Provider::Linkedin, true),
        ("acc-threads", Provider::Threads, false),
        ("acc-pinterest", Provider::Pinterest, false),
    ];
    for (id, provider, _) in cases {
        h.seed(AccountBuilder::new("team-a", id).provider(provider).build())
            .await;
    }

    let mut statuses = Vec::new();
    for (id, _, _) in cases {
        statuses.push(
            h.accounts(&account_event("accounts/delete.json", "team-a", id))
                .await
                .status,
        );
    }

    assert_eq!(statuses, [200; 6]);
    let revokes: Vec<_> = fakes
        .control
        .requests()
        .await
        .expect("the fakes' request log")
        .into_iter()
        .filter(|r| r.kind == Some(provider_fakes::EndpointKind::Revoke))
        .collect();
    for (id, provider, revocable) in cases {
        let called = revokes.iter().any(|r| {
            r.provider == Some(provider) && r.access_token.as_deref() == Some(&canary(id, "access"))
        });
        assert_eq!(
            called, revocable,
            "{provider}: revoke endpoint called with {id}'s token"
        );
    }
    assert_eq!(revokes.len(), 3);
    assert_eq!(
        ids(&h.accounts(&list("team-a")).await),
        Vec::<String>::new()
    );
}

/// The store's `delete_account` is to remove the account's refresh lease with it (so a
/// disconnected account leaves nothing behind, not even until the lease's TTL).
#[tokio::test]
async fn disconnect_removes_the_account_lease() {
    let (h, _) = Harness::with_recorder().await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-demo-1")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    let lease = LeaseKey::Account(team("team-demo"), account_id("acc-demo-1"));
    let now = h.clock.now();
    assert!(h
        .store
        .acquire(&lease, "sweep-1", now, Duration::minutes(5))
        .await
        .unwrap());

    let resp = h.accounts(&Event::load("accounts/delete.json")).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(
        h.store
            .acquire(&lease, "sweep-2", now, Duration::minutes(5))
            .await
            .unwrap(),
        "the lease held by sweep-1 is gone with the account"
    );
}

/// Meta's revocation removes the app for the person everywhere: a Page another team
/// connected through the same person keeps the grant, and the answer says so.
#[tokio::test]
async fn a_meta_disconnect_keeps_the_grant_another_teams_page_stands_on() {
    let (h, rec) = Harness::with_recorder().await;
    for (t, id, owner) in [
        ("team-a", "acc-fb", "facebook_login:person-1"),
        ("team-b", "acc-ig", "facebook_login:person-1"),
        ("team-b", "acc-alone", "facebook_login:person-9"),
    ] {
        let provider = if id == "acc-ig" {
            Provider::Instagram
        } else {
            Provider::Facebook
        };
        h.seed(
            AccountBuilder::new(t, id)
                .provider(provider)
                .grant_owner(owner)
                .build(),
        )
        .await;
    }

    let shared = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-fb"))
        .await;
    let alone = h
        .accounts(&account_event(
            "accounts/delete.json",
            "team-b",
            "acc-alone",
        ))
        .await;

    assert_eq!(shared.status, 200, "{}", shared.text);
    assert_eq!(shared.json["revocation"], "kept_for_other_connections");
    assert!(
        shared.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("other connected accounts")),
        "{}",
        shared.text
    );
    assert_eq!(alone.json["revocation"], "revoked", "{}", alone.text);
    assert_eq!(
        rec.revoked(),
        [(Provider::Facebook, canary("acc-alone", "access"))],
        "only the grant nothing else stands on is revoked"
    );
    // Google's revocation ends the person's grant too: the same rule holds.
    for (t, id) in [("team-a", "acc-g1"), ("team-b", "acc-g2")] {
        h.seed(
            AccountBuilder::new(t, id)
                .provider(Provider::Google)
                .grant_owner("google:person-g")
                .build(),
        )
        .await;
    }
    let google = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-g1"))
        .await;
    assert_eq!(
        google.json["revocation"], "kept_for_other_connections",
        "{}",
        google.text
    );
    // Once the other team's account is gone too, the last one out revokes.
    let last = h
        .accounts(&account_event("accounts/delete.json", "team-b", "acc-ig"))
        .await;
    assert_eq!(last.json["revocation"], "revoked", "{}", last.text);
}

#[tokio::test]
async fn disconnect_goes_ahead_when_revocation_fails_or_the_network_has_none() {
    let failing = Arc::new(RecordingProviders {
        fail_revoke: true,
        ..RecordingProviders::default()
    });
    let h = Harness::new(failing.clone()).await;
    h.seed(
        AccountBuilder::new("team-a", "acc-fb")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    h.seed(
        AccountBuilder::new("team-a", "acc-threads")
            .provider(Provider::Threads)
            .build(),
    )
    .await;

    let fb = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-fb"))
        .await;
    let threads = h
        .accounts(&account_event(
            "accounts/delete.json",
            "team-a",
            "acc-threads",
        ))
        .await;

    assert_eq!(fb.status, 200);
    assert_eq!(fb.json["revocation"], "failed", "{}", fb.text);
    assert_eq!(threads.status, 200);
    assert_eq!(
        threads.json["revocation"], "not_offered",
        "{}",
        threads.text
    );
    assert_eq!(
        failing.revoked(),
        [(Provider::Facebook, canary("acc-fb", "access"))],
        "Threads offers no revocation: not called"
    );
    let listed = h.accounts(&list("team-a")).await;
    assert_eq!(ids(&listed), Vec::<String>::new());
}

// ---- preferences -------------------------------------------------------------------------------

#[tokio::test]
async fn preferences_default_then_round_trip() {
    let (h, _) = Harness::with_recorder().await;
    let get = Event::load("notification-prefs/get.json").caller("team-a", "u1");
    let put = Event::load("notification-prefs/put.json").caller("team-a", "u1");

    let defaults = h.prefs(&get).await;
    let mut body = put.body_json();
    body["lead_days"] = json!([3, 14, 7, 14, 1, 3]);
    body["time_zone"] = "Asia/Tokyo".into();
    let saved = h.prefs(&put.clone().body(&body)).await;
    let read_back = h.prefs(&get).await;
    body["version"] = 1.into();
    body["enabled"] = false.into();
    let second = h.prefs(&put.clone().body(&body)).await;

    assert_eq!(defaults.status, 200);
    assert_eq!(
        defaults.json,
        json!({"team_name": null, "time_zone": "UTC", "recipients": [], "lead_days": [14, 7, 3, 1],
               "events": {"expiring": true, "expired": true, "disconnected": true, "recovered": true},
               "enabled": true, "version": 0})
    );
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.json["version"], 1);
    assert_eq!(
        saved.json["lead_days"],
        json!([14, 7, 3, 1]),
        "sorted, deduplicated"
    );
    assert_eq!(saved.json["time_zone"], "Asia/Tokyo");
    assert_eq!(saved.json["team_name"], "Acme");
    assert_eq!(saved.json["events"]["recovered"], false);
    assert_eq!(read_back.json, saved.json);
    assert_eq!(second.status, 200);
    assert_eq!(second.json["version"], 2);
    assert_eq!(second.json["enabled"], false);
}

#[tokio::test]
async fn concurrent_puts_of_one_version_give_one_success_and_one_409() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json").caller("team-a", "u1");
    let mut other = put.body_json();
    other["enabled"] = false.into();
    let put_other = put.clone().body(&other);

    let (a, b) = futures::join!(h.prefs(&put), h.prefs(&put_other));
    let stale_file = h
        .prefs(&Event::load("notification-prefs/put-stale.json").caller("team-a", "u1"))
        .await;
    let replay = h.prefs(&put).await;

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let loser = if a.status == 409 { &a } else { &b };
    assert_eq!(loser.error_code(), "conflict");
    assert!(loser.error_message().contains("reload"));
    assert_eq!(stale_file.status, 409);
    assert_eq!(replay.status, 409, "version 0 is stale once saved");
    let stored = h.store.get_prefs(&team("team-a")).await.unwrap().unwrap();
    assert_eq!(stored.version, 1, "exactly one write landed");
}

// ---- HTTP conventions ---------------------------------------------------------------------------

#[tokio::test]
async fn cors_preflight_is_answered_for_a_configured_origin_and_refused_for_another() {
    let (h, _) = Harness::with_recorder().await;

    let ok = h.accounts(&Event::load("accounts/preflight.json")).await;
    let refused = h
        .accounts(&Event::load("accounts/preflight-other-origin.json"))
        .await;
    let prefs_ok = h
        .prefs(&Event::load("notification-prefs/preflight.json"))
        .await;
    let prefs_refused = h
        .prefs(&Event::load(
            "notification-prefs/preflight-other-origin.json",
        ))
        .await;
    let actual_ok = h.accounts(&list("team-a")).await;
    let actual_other = h
        .accounts(&list("team-a").header("origin", "https://evil.example"))
        .await;

    assert_eq!(ok.status, 204);
    assert_eq!(ok.header("access-control-allow-origin"), Some(FRONTEND));
    assert_eq!(
        ok.header("access-control-allow-methods"),
        Some("GET, DELETE, OPTIONS")
    );
    assert!(ok
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    assert_eq!(ok.header("access-control-allow-credentials"), None);
    assert_eq!(prefs_ok.status, 204);
    assert_eq!(
        prefs_ok.header("access-control-allow-methods"),
        Some("GET, PUT, OPTIONS")
    );
    for r in [&refused, &prefs_refused] {
        assert_eq!(r.status, 403);
        assert_eq!(r.error_code(), "origin_not_allowed");
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-methods"), None);
    }
    assert_eq!(
        actual_ok.header("access-control-allow-origin"),
        Some(FRONTEND)
    );
    assert_eq!(actual_ok.header("vary"), Some("Origin"));
    assert_eq!(actual_other.status, 200);
    assert_eq!(actual_other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405() {
    let (h, _) = Harness::with_recorder().await;

    let post = h
        .accounts(&Event::load("accounts/method-not-allowed.json").caller("team-a", "u1"))
        .await;
    let delete_prefs = h
        .prefs(&Event::load("notification-prefs/method-not-allowed.json").caller("team-a", "u1"))
        .await;
    let nowhere = h.accounts(&list("team-a").path("/accounts/a/b/c")).await;
    let prefs_elsewhere = h
        .prefs(&Event::load("notification-prefs/get.json").path("/notification-preferences/x"))
        .await;

    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, OPTIONS"));
    assert_eq!(delete_prefs.status, 405);
    assert_eq!(delete_prefs.header("allow"), Some("GET, PUT, OPTIONS"));
    assert_eq!(nowhere.status, 404);
    assert_eq!(prefs_elsewhere.status, 404);
}

#[tokio::test]
async fn a_named_stage_in_the_path_is_routed() {
    let (h, _) = Harness::with_recorder().await;
    h.seed(AccountBuilder::new("team-a", "acc-1").build()).await;
    let mut event = list("team-a").path("/prod/accounts");
    event.0["requestContext"]["stage"] = "prod".into();

    let resp = h.accounts(&event).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(ids(&resp), ["acc-1"]);
}

#[tokio::test]
async fn a_store_failure_is_an_opaque_500_and_its_cause_is_logged() {
    let logs = LogCapture::start();
    let (h, _) = Harness::with_recorder().await;
    let missing_table = tokenwarden::store::dynamo::DynamoStore::new(
        tokenwarden_integration::dynamo().await.0,
        "tw-test-no-such-table",
    );
    let missing_table = Arc::new(missing_table);
    let api = prefs::PrefsApi {
        prefs: missing_table.clone(),
        recipients: api_support::recipients(missing_table, h.clock.clone()).await,
        http: h.prefs_api.http.clone(),
    };

    let resp = api_support::read(
        "GET",
        "/notification-preferences",
        prefs::handle(&api, Event::load("notification-prefs/get.json").request()).await,
    );

    assert_eq!(resp.status, 500);
    assert_eq!(resp.error_code(), "internal");
    assert!(!resp.text.to_lowercase().contains("table"), "{}", resp.text);
    assert!(!resp.text.contains("database"), "{}", resp.text);
    let text = logs.text();
    assert!(
        text.contains("request failed") && text.contains("the database call failed"),
        "cause chain logged: {text}"
    );
}

// ---- the document and the events ------------------------------------------------------------

#[tokio::test]
async fn every_route_in_the_openapi_document_is_served() {
    let (h, _) = Harness::with_recorder().await;
    let ops = openapi::operations();
    let of = |function: &str| {
        let mut v: Vec<(String, String)> = ops
            .iter()
            .filter(|(_, _, f)| f == function)
            .map(|(m, t, _)| (m.clone(), t.clone()))
            .collect();
        v.sort();
        v
    };
    let table = |routes: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = routes
            .iter()
            .map(|(m, t)| ((*m).to_owned(), (*t).to_owned()))
            .collect();
        v.sort();
        v
    };

    assert_eq!(of("accounts"), table(accounts::ROUTES));
    assert_eq!(of("notification-prefs"), table(prefs::ROUTES));
    assert_eq!(
        of("oauth-start"),
        table(&[
            ("POST", "/accounts/{id}/reconnect"),
            ("POST", "/connections/{provider}/start")
        ])
    );
    assert_eq!(
        of("oauth-callback"),
        table(tokenwarden::api::oauth_callback::ROUTES)
    );
    assert_eq!(
        of("mail-links"),
        table(tokenwarden::api::mail_links::ROUTES)
    );
    assert!(
        ops.iter().all(|(_, _, f)| !f.is_empty()),
        "every operation names its function"
    );
    for (method, template, function) in &ops {
        let path = template.replace("{id}", "acc-1").replace("{provider}", "x");
        let base = Event::load("accounts/list.json").caller("team-a", "u1");
        let event = base.method(method).path(&path);
        let resp = match function.as_str() {
            "accounts" => h.accounts(&event).await,
            "notification-prefs" => h.prefs(&event).await,
            "mail-links" => h.links(&event).await,
            _ => continue, // served by the OAuth functions, tested with them
        };
        assert!(
            resp.status != 405 && !(resp.status == 404 && resp.error_message() == "no such route"),
            "{method} {template} is not served by {function}: {}",
            resp.text
        );
    }
}

/// The status each sample event gets on a table with `acc-demo-1` of `team-demo`.
const EVENT_STATUS: &[(&str, u16)] = &[
    ("accounts/providers.json", 200),
    ("accounts/list.json", 200),
    ("accounts/list-filtered.json", 200),
    ("accounts/list-bad-limit.json", 400),
    ("accounts/list-unknown-parameter.json", 400),
    ("accounts/list-missing-claims.json", 401),
    ("accounts/get.json", 200),
    ("accounts/get-not-found.json", 404),
    ("accounts/history.json", 200),
    ("accounts/history-bad-cursor.json", 400),
    ("accounts/history-not-found.json", 404),
    ("accounts/delete.json", 200),
    ("accounts/delete-not-found.json", 404),
    ("accounts/delete-missing-claims.json", 401),
    ("accounts/method-not-allowed.json", 405),
    ("accounts/preflight.json", 204),
    ("accounts/preflight-other-origin.json", 403),
    ("notification-prefs/get.json", 200),
    ("notification-prefs/get-missing-claims.json", 401),
    ("notification-prefs/put.json", 200),
    ("notification-prefs/put-missing-claims.json", 401),
    ("notification-prefs/put-stale.json", 409),
    ("notification-prefs/put-malformed.json", 400),
    ("notification-prefs/put-wrong-types.json", 400),
    ("notification-prefs/put-unknown-field.json", 400),
    ("notification-prefs/put-bad-time-zone.json", 422),
    ("notification-prefs/add-recipient.json", 201),
    ("notification-prefs/add-self.json", 201),
    // The sample names a recipient the team does not have.
    ("notification-prefs/remove-recipient.json", 404),
    // The samples carry a token no key signed: the pages say the link does not work.
    ("mail-links/confirm-page.json", 404),
    ("mail-links/confirm.json", 404),
    ("mail-links/unsubscribe-page.json", 404),
    ("mail-links/unsubscribe-one-click.json", 404),
    ("mail-links/malformed-token.json", 400),
    ("notification-prefs/put-lead-days-out-of-range.json", 422),
    ("notification-prefs/put-too-large.json", 413),
    ("notification-prefs/put-not-json.json", 415),
    ("notification-prefs/preflight.json", 204),
    ("notification-prefs/preflight-other-origin.json", 403),
    ("notification-prefs/method-not-allowed.json", 405),
];

#[tokio::test]
async fn every_sample_event_runs_through_its_handler_as_documented() {
    let mut on_disk = Vec::new();
    for dir in ["accounts", "notification-prefs", "mail-links"] {
        for entry in std::fs::read_dir(api_support::repo_root().join("events").join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            on_disk.push(format!("{dir}/{name}"));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = EVENT_STATUS.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every event file has an expected status here"
    );

    for (file, status) in EVENT_STATUS {
        // A table of its own per event, so a delete or a save does not change the next.
        let (h, _) = Harness::with_recorder().await;
        h.seed(AccountBuilder::new("team-demo", "acc-demo-1").build())
            .await;
        let event = Event::load(file);
        let resp = if file.starts_with("accounts/") {
            h.accounts(&event).await
        } else if file.starts_with("mail-links/") {
            h.links(&event).await
        } else {
            h.prefs(&event).await
        };
        assert_eq!(resp.status, *status, "{file}: {}", resp.text);
    }
}

// ---- history -----------------------------------------------------------------------------------

fn history_event(team_id: &str, id: &str, query: &[(&str, &str)]) -> Event {
    Event::load("accounts/history.json")
        .caller(team_id, "user-ana")
        .path(&format!("/accounts/{id}/history"))
        .query(query)
}

/// `n` history entries of the account, a minute apart, oldest first.
async fn seed_history(
    h: &Harness,
    account: &tokenwarden::domain::Account,
    n: usize,
) -> Vec<String> {
    use tokenwarden::domain::{Cause, HistoryEntry, HistoryKind, StateAt, UserId};
    use tokenwarden::store::HistoryStore;
    let mut ids = Vec::new();
    for i in 0..n {
        let at = h.clock.now() + Duration::minutes(i as i64);
        let kind = [HistoryKind::Failing, HistoryKind::Recovered][i % 2];
        let entry = HistoryEntry::of(
            kind,
            Some(StateAt::of(account, at)),
            account,
            at,
            &Cause::Api {
                user: UserId::parse("user-ana").unwrap(),
            },
        )
        .with_provider_error(Some("190/460".into()));
        h.store.record(&entry).await.unwrap();
        ids.push(entry.id);
    }
    ids
}

#[tokio::test]
async fn history_pages_newest_first_without_gaps_or_duplicates() {
    let (h, _) = Harness::with_recorder().await;
    let account = h.seed(AccountBuilder::new("team-a", "acc-1").build()).await;
    let other = h.seed(AccountBuilder::new("team-a", "acc-2").build()).await;
    let mut written = seed_history(&h, &account, 23).await;
    seed_history(&h, &other, 3).await;
    written.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("limit", "10")];
        if let Some(c) = &cursor {
            query.push(("cursor", c));
        }
        let page = h.accounts(&history_event("team-a", "acc-1", &query)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        pages += 1;
        for entry in page.json["history"].as_array().unwrap() {
            seen.push(entry["id"].as_str().unwrap().to_owned());
            assert_eq!(entry["cause"], json!({"type": "api", "id": "user-ana"}));
            assert_eq!(entry["provider_error"], "190/460");
        }
        match page.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the listing ends");
    }

    assert_eq!(
        seen, written,
        "newest first, every entry once, only this account's"
    );
}

#[tokio::test]
async fn history_of_another_teams_account_or_with_a_foreign_cursor_is_refused() {
    let (h, _) = Harness::with_recorder().await;
    let mine = h
        .seed(AccountBuilder::new("team-a", "acc-mine").build())
        .await;
    let theirs = h
        .seed(AccountBuilder::new("team-b", "acc-theirs").build())
        .await;
    seed_history(&h, &mine, 3).await;
    seed_history(&h, &theirs, 3).await;
    let their_page = h
        .accounts(&history_event("team-b", "acc-theirs", &[("limit", "1")]))
        .await;
    let their_cursor = their_page.json["next_cursor"].as_str().unwrap().to_owned();
    let my_page = h
        .accounts(&history_event("team-a", "acc-mine", &[("limit", "1")]))
        .await;
    let my_cursor = my_page.json["next_cursor"].as_str().unwrap().to_owned();

    let foreign = h
        .accounts(&history_event("team-a", "acc-theirs", &[]))
        .await;
    let foreign_cursor = h
        .accounts(&history_event(
            "team-a",
            "acc-mine",
            &[("cursor", &their_cursor)],
        ))
        .await;
    let forged = h
        .accounts(&history_event(
            "team-a",
            "acc-mine",
            &[("cursor", "eyJzIjoiSElTVE9SWSMifQ")],
        ))
        .await;
    let mine_again = h
        .accounts(&history_event(
            "team-a",
            "acc-mine",
            &[("cursor", &my_cursor)],
        ))
        .await;

    assert_eq!(foreign.status, 404, "{}", foreign.text);
    assert_eq!(foreign_cursor.status, 400, "{}", foreign_cursor.text);
    assert_eq!(forged.status, 400, "{}", forged.text);
    assert_eq!(mine_again.status, 200);
    assert_eq!(mine_again.json["history"].as_array().unwrap().len(), 2);
    assert!(
        !mine_again.text.contains("canary"),
        "no token in the history"
    );
}

#[tokio::test]
async fn a_disconnect_leaves_its_history_entry_and_the_list_shows_the_last_change() {
    use tokenwarden::domain::{HistoryKind, Status as S};
    use tokenwarden::store::HistoryStore;
    let (h, _) = Harness::with_recorder().await;
    let account = h.seed(AccountBuilder::new("team-a", "acc-1").build()).await;
    let mut broken = account.clone();
    let now = h.clock.now();
    let before = tokenwarden::domain::StateAt::of(&broken, now);
    let t = broken
        .broke(S::Revoked, Reason::PasswordChanged, now)
        .expect("a transition");
    let entry = tokenwarden::domain::HistoryEntry::of_transition(
        t,
        before,
        &broken,
        now,
        &tokenwarden::domain::Cause::Api {
            user: tokenwarden::domain::UserId::parse("user-ana").unwrap(),
        },
    );
    h.store
        .update_account_with(&broken, std::slice::from_ref(&entry))
        .await
        .unwrap();
    let listed = h.accounts(&list("team-a")).await;
    assert_eq!(listed.json["accounts"][0]["last_change"]["kind"], "broken");
    h.clock.advance(Duration::minutes(5));

    let deleted = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-1"))
        .await;

    assert_eq!(deleted.status, 200);
    let left = h
        .store
        .history(&team("team-a"), &account_id("acc-1"), 10, None)
        .await
        .unwrap()
        .items;
    let kinds: Vec<HistoryKind> = left.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![HistoryKind::Disconnected, HistoryKind::Broken]);
    assert_eq!(left[0].after, None);
    assert_eq!(
        left[0].before.map(|b| b.status),
        Some(S::Revoked),
        "removed while broken"
    );
}

/// One account item that cannot be read (damaged, or written by a newer version) never
/// breaks its team: the list leaves it out and the rest is served, its detail and
/// reconnect say what to do, and it can still be removed.
#[tokio::test]
async fn one_unreadable_item_never_breaks_a_team() {
    let (h, rec) = Harness::with_recorder().await;
    h.seed(AccountBuilder::new("team-a", "acc-good").build())
        .await;
    let bad = AccountBuilder::new("team-a", "acc-bad").build();
    h.seed(bad).await;
    h.dynamo
        .update_item()
        .table_name(&h.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("TEAM#team-a".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT#acc-bad".into()),
        )
        .update_expression("REMOVE display_name SET access_issued_at = :garbage")
        .expression_attribute_values(
            ":garbage",
            aws_sdk_dynamodb::types::AttributeValue::S("not a time".into()),
        )
        .send()
        .await
        .unwrap();

    let listed = h.accounts(&list("team-a")).await;
    let detail = h
        .accounts(&account_event("accounts/get.json", "team-a", "acc-bad"))
        .await;
    let removed = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-bad"))
        .await;

    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(ids(&listed), ["acc-good"]);
    assert_eq!(detail.status, 409, "{}", detail.text);
    assert!(
        detail.error_message().contains("disconnect it"),
        "{}",
        detail.text
    );
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json["revocation"], "unreadable_record");
    assert!(rec.revoked().is_empty(), "nothing known to revoke");
    let after = h.accounts(&list("team-a")).await;
    assert_eq!(ids(&after), ["acc-good"]);
    assert!(h
        .store
        .get_account(&team("team-a"), &account_id("acc-bad"))
        .await
        .unwrap()
        .is_none());
}

// ---- canaries ---------------------------------------------------------------------------------

#[tokio::test]
async fn no_token_text_in_any_response_or_log_line() {
    let logs = LogCapture::start();
    let failing = Arc::new(RecordingProviders {
        offered: Provider::ALL.to_vec(),
        fail_revoke: true,
        ..RecordingProviders::default()
    });
    let h = Harness::new(failing.clone()).await;
    seed_every_state(&h, "team-demo").await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-demo-1")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    let mut canaries = Vec::new();
    let mut sealed = Vec::new();
    for id in [
        "acc-active",
        "acc-expiring",
        "acc-expired",
        "acc-password",
        "acc-admin",
        "acc-x-invalid",
        "acc-google",
        "acc-demo-1",
    ] {
        canaries.push(canary(id, "access"));
        canaries.push(canary(id, "refresh"));
        let stored = h
            .store
            .get_account(&team("team-demo"), &account_id(id))
            .await
            .unwrap()
            .unwrap();
        sealed.push(stored.tokens.access.as_stored().to_owned());
    }

    let mut responses = Vec::new();
    for file in [
        "accounts/providers.json",
        "accounts/list.json",
        "accounts/list-filtered.json",
        "accounts/get.json",
        "accounts/get-not-found.json",
        "accounts/list-missing-claims.json",
    ] {
        responses.push(h.accounts(&Event::load(file)).await);
    }
    responses.push(
        h.accounts(&Event::load("accounts/get.json").path("/accounts/acc-google"))
            .await,
    );
    responses.push(h.accounts(&Event::load("accounts/delete.json")).await);
    responses.push(
        h.accounts(&Event::load("accounts/delete.json").path("/accounts/acc-x-invalid"))
            .await,
    );
    responses.push(h.prefs(&Event::load("notification-prefs/put.json")).await);
    responses.push(h.prefs(&Event::load("notification-prefs/get.json")).await);

    let revoked = failing.revoked();
    assert_eq!(
        revoked.len(),
        2,
        "two revocations were attempted (and failed)"
    );
    assert!(
        revoked.iter().all(|(_, t)| canaries.contains(t)),
        "the fakes did get the tokens"
    );
    let log = logs.text();
    assert!(log.contains("account disconnected"), "logs were captured");
    assert!(log.contains("revocation at the network failed"));
    for resp in &responses {
        for secret in canaries.iter().chain(&sealed) {
            assert!(
                !resp.text.contains(secret.as_str()),
                "response carries {secret}"
            );
            assert!(
                !format!("{:?}", resp.headers).contains(secret.as_str()),
                "headers carry {secret}"
            );
        }
        assert!(!resp.text.contains("CANARY"));
        assert!(
            !resp.text.contains("tw1."),
            "no sealed envelope: {}",
            resp.text
        );
    }
    for secret in &canaries {
        assert!(
            !log.contains(secret.as_str()),
            "a log line carries {secret}"
        );
    }
    assert!(!log.contains("CANARY"));
}

// ---- recipients --------------------------------------------------------------------------------

#[tokio::test]
async fn recipients_are_added_invited_listed_and_removed_through_the_preferences_api() {
    let (h, _) = Harness::with_recorder().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let ana = format!("ana.{tag}@example.com");
    let bo = format!("bo.{tag}@example.com");
    let add = |who: &str, body: Value| {
        Event::load("notification-prefs/add-recipient.json")
            .caller("team-r", who)
            .email(&ana)
            .body(&body)
    };
    let list = || {
        Event::load("notification-prefs/get.json")
            .caller("team-r", "user-ana")
            .email(&ana)
    };

    // An address the identity provider did not verify is not the caller's own.
    let unverified = h
        .prefs(&add("user-ana", json!({"name": "Ana"})).without_claim("email_verified"))
        .await;
    assert_eq!(unverified.status, 422, "{}", unverified.text);
    assert_eq!(unverified.json["error"]["field"], "email");

    // Ana adds herself: active at once, no mail.
    let me = h.prefs(&add("user-ana", json!({"name": "Ana"}))).await;
    assert_eq!(me.status, 201, "{}", me.text);
    assert_eq!(
        (me.json["state"].as_str(), me.json["you"].as_bool()),
        (Some("active"), Some(true))
    );
    let again = h.prefs(&add("user-ana", json!({"name": "Ana"}))).await;
    assert_eq!(again.status, 409);

    // She invites Bo: pending, one confirmation mail.
    let invited = h
        .prefs(&add("user-ana", json!({"email": bo, "name": "Bo"})))
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    assert_eq!(invited.json["state"], "pending");
    assert!(invited.json["invitation_expires_at"].is_string());
    // Invited again within a day: refused, no second mail.
    let soon = h
        .prefs(&add("user-ana", json!({"email": bo, "name": "Bo"})))
        .await;
    assert_eq!(soon.status, 409, "{}", soon.text);
    // Invalid input: a clear 422, nothing written.
    for (body, field) in [
        (json!({"email": "no-at-sign", "name": "X"}), "email"),
        (json!({"email": "x@example.com", "name": " "}), "name"),
        (
            json!({"email": "x@example.com", "name": "X\u{202e}"}),
            "name",
        ),
    ] {
        let refused = h.prefs(&add("user-ana", body)).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.json["error"]["field"], field);
    }
    let unknown = h
        .prefs(&add("user-ana", json!({"name": "X", "team_id": "t"})))
        .await;
    assert_eq!(unknown.status, 400);

    let listed = h.prefs(&list()).await;
    assert_eq!(listed.status, 200);
    let mut states: Vec<(&str, &str)> = listed.json["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    states.sort();
    assert_eq!(states, [(ana.as_str(), "active"), (bo.as_str(), "pending")]);
    // Another team sees none of them.
    let other = h
        .prefs(&Event::load("notification-prefs/get.json").caller("team-other", "u"))
        .await;
    assert_eq!(other.json["recipients"], json!([]));

    // Removed by id; a second removal is a 404.
    let id = invited.json["id"].as_str().unwrap().to_owned();
    let remove = Event::load("notification-prefs/remove-recipient.json")
        .caller("team-r", "user-ana")
        .path(&format!("/notification-preferences/recipients/{id}"));
    let removed = h.prefs(&remove).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json, json!({"id": id, "removed": true}));
    assert_eq!(h.prefs(&remove).await.status, 404);
    let other_team = h
        .prefs(
            &Event::load("notification-prefs/remove-recipient.json")
                .caller("team-other", "u")
                .path(&format!(
                    "/notification-preferences/recipients/{}",
                    me.json["id"].as_str().unwrap()
                )),
        )
        .await;
    assert_eq!(
        other_team.status, 404,
        "a team cannot remove another team's recipient"
    );
}

#[tokio::test]
async fn a_team_sends_at_most_its_daily_allowance_of_confirmation_mails() {
    let (h, _) = Harness::with_recorder().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let cap = h.prefs_api.recipients.settings.confirmations_per_day;
    let add = |n: u32| {
        Event::load("notification-prefs/add-recipient.json")
            .caller("team-q", "user-ana")
            .body(&json!({"email": format!("p{n}.{tag}@example.com"), "name": "P"}))
    };
    for n in 0..cap {
        assert_eq!(h.prefs(&add(n)).await.status, 201);
    }
    let over = h.prefs(&add(cap)).await;
    assert_eq!(over.status, 429, "{}", over.text);
    assert_eq!(over.error_code(), "too_many_requests");
    let prefs = h.store.get_prefs(&team("team-q")).await.unwrap().unwrap();
    assert_eq!(
        prefs.recipients.len(),
        cap as usize,
        "the refused one was not written"
    );
    // The next day the allowance is back.
    h.clock.advance(Duration::days(1));
    assert_eq!(h.prefs(&add(cap)).await.status, 201);
}

// ---- the document is what callers get -----------------------------------------------------------

/// API Gateway's JWT authorizer answers 401 `{"message":"Unauthorized"}` itself, before any
/// function runs: every JWT route's documented 401 takes that body (and the functions' own
/// `Error` body), and the public routes document none.
#[test]
fn every_jwt_routes_401_documents_the_authorizers_own_answer() {
    let doc = openapi::document();
    let refusal = json!({"message": "Unauthorized"});
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(ops) = op.as_object() else { continue };
            if !ops.contains_key("responses") {
                continue;
            }
            let public = op.get("security") == Some(&json!([]));
            let documented = op["responses"].get("401").is_some();
            assert_eq!(
                documented, !public,
                "{method} {path}: a 401 exactly when behind the JWT"
            );
            if !public {
                openapi::validate(
                    "/components/responses/Unauthenticated/content/application~1json/schema",
                    &refusal,
                    &format!("{method} {path}"),
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[tokio::test]
async fn integral_numbers_written_as_floats_and_an_empty_cursor_are_read_as_callers_mean_them() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json").caller("team-f", "u1");
    let mut body = put.body_json();
    body["lead_days"] = json!([14.0, 7.0, 1]);
    body["version"] = json!(0.0);
    let saved = h.prefs(&put.clone().body(&body)).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.json["lead_days"], json!([14, 7, 1]));
    body["lead_days"] = json!([7.5]);
    body["version"] = json!(1);
    let fraction = h.prefs(&put.clone().body(&body)).await;
    assert_eq!(
        fraction.status, 400,
        "a fraction is no whole number of days"
    );

    seed_every_state(&h, "team-f").await;
    let list = Event::load("accounts/list.json").caller("team-f", "u1");
    let first = h.accounts(&list.clone()).await;
    let empty = h.accounts(&list.query(&[("cursor", "")])).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.json, first.json, "an empty cursor is the first page");
}

#[tokio::test]
async fn an_error_message_never_repeats_a_control_character_the_request_carried() {
    let (h, _) = Harness::with_recorder().await;
    let list = Event::load("accounts/list.json").caller("team-c", "u1");
    let resp = h
        .accounts(&list.query(&[("bad\u{1b}[31mname\u{7}", "1")]))
        .await;
    assert_eq!(resp.status, 400);
    let message = resp.error_message();
    assert!(message.contains("unknown query parameter"), "{message}");
    assert!(!message.chars().any(char::is_control), "{message:?}");
    let put = Event::load("notification-prefs/put.json").caller("team-c", "u1");
    let mut body = put.body_json();
    body["bad\u{1}field"] = json!(1);
    let resp = h.prefs(&put.body(&body)).await;
    assert_eq!(resp.status, 400);
    assert!(
        !resp.error_message().chars().any(char::is_control),
        "{}",
        resp.text
    );
}
