//! Reading accounts: the list and its token column (order, filters, pages and what they
//! cost), one account, the networks offered, and each account's history.

use super::*;

fn by_id<'a>(resp: &'a api_support::Resp, id: &str) -> &'a Value {
    resp.json["accounts"]
        .as_array()
        .expect("accounts array")
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {}", resp.json))
}

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
