//! Reconnect: the tokens replaced in place, a broken account made active again, another
//! account or another team's account refused.

use super::*;

#[tokio::test]
async fn reconnect_replaces_the_tokens_in_place_and_keeps_the_refresh_token_when_none_is_sent() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::Google).await;
    let id = first.accounts[0].clone();
    let before = h.stored(&id).await;
    let old_refresh = h
        .open(&before, TokenSlot::Refresh)
        .expect("a refresh token");
    h.clock.advance(Duration::days(3));

    // Google sends no new refresh token when the person had granted offline access
    // before and is not asked to consent again: the fake does the same without
    // `access_type=offline`.
    let mut authorize = h.start_reconnect(&id).await;
    let kept: Vec<(String, String)> = authorize
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "access_type")
        .collect();
    authorize.query_pairs_mut().clear().extend_pairs(kept);
    let back = h.authorize(&authorize).await;
    let resp = h.callback(&callback_event(&back)).await;

    let back = h.land(&resp).await;
    assert_eq!(back.result, "reconnected");
    assert_eq!(back.accounts, vec![id.clone()]);
    let token_answer = kinds(&h.log().await, EndpointKind::Token).len();
    assert_eq!(token_answer, 2);
    let after = h.stored(&id).await;
    assert_eq!(h.accounts().await.len(), 1, "replaced in place");
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.external_id, before.external_id);
    assert_ne!(
        h.open(&after, TokenSlot::Access),
        h.open(&before, TokenSlot::Access)
    );
    assert_eq!(
        h.open(&after, TokenSlot::Refresh),
        Some(old_refresh),
        "refresh token kept"
    );
    let now = h.clock.now();
    let grant = h.last_grant(Provider::Google);
    assert!(
        grant.refresh_token.is_none(),
        "the network sent no refresh token"
    );
    assert_eq!(after.access_issued_at, now);
    assert_eq!(
        after.access_expires_at,
        grant.expires_in.map(|d| now + d),
        "the new grant's lifetime"
    );
    assert_eq!(after.connected_at, before.connected_at);
}

#[tokio::test]
async fn reconnect_of_a_broken_account_makes_it_active_again_and_records_recovered() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::Linkedin).await;
    let id = first.accounts[0].clone();
    let mut broken = h.stored(&id).await;
    let old_refresh_expiry = broken.refresh_expires_at;
    broken.broken = Some(Broken {
        status: Status::Revoked,
        reason: Some(Reason::PasswordChanged),
        since: h.clock.now(),
    });
    broken.failures.record(h.clock.now());
    broken.next_due_at = None;
    let broken = h.store.update_account(&broken).await.unwrap();
    for milestone in [Milestone::Expiring { days: 14 }, Milestone::Disconnected] {
        let entry = LedgerEntry {
            team: team(TEAM),
            account: id.clone(),
            milestone,
            state: MailState::Sent,
            created_at: h.clock.now(),
            updated_at: h.clock.now(),
            detail: None,
            sent_to: Vec::new(),
            audience: None,
        };
        assert!(h.store.record_pending(&entry).await.unwrap());
    }
    h.clock.advance(Duration::days(30));

    let authorize = h.start_reconnect(&id).await;
    let back = h
        .land(
            &h.callback(&callback_event(&h.authorize(&authorize).await))
                .await,
        )
        .await;

    assert_eq!(back.result, "reconnected");
    let now = h.clock.now();
    let after = h.stored(&id).await;
    assert_eq!(after.broken, None);
    assert_eq!(after.status(now), Status::Active);
    assert_eq!(after.failures, Default::default());
    assert!(
        after.next_due_at.is_some_and(|d| d > now),
        "back in the due index"
    );
    assert_eq!(after.version, broken.version + 1);
    // A new authorization brings a new refresh token with a clock of its own.
    let grant = h.last_grant(Provider::Linkedin);
    assert!(grant.refresh_token.is_some());
    assert_eq!(
        after.refresh_expires_at,
        grant.refresh_expires_in.map(|d| now + d)
    );
    assert_ne!(after.refresh_expires_at, old_refresh_expiry);
    let pending = h.store.pending_for_team(&team(TEAM)).await.unwrap();
    let milestones: Vec<Milestone> = pending.iter().map(|e| e.milestone).collect();
    assert_eq!(
        milestones,
        vec![Milestone::Recovered],
        "old milestones cleared, recovered recorded"
    );
    assert!(pending[0].sent_to.is_empty());
    let ledger_items = h
        .items()
        .await
        .into_iter()
        .filter(|i| {
            i.get("kind")
                .and_then(|k| k.as_s().ok())
                .map(String::as_str)
                == Some("ledger")
        })
        .count();
    assert_eq!(ledger_items, 1, "the sent entries are gone too");
    // Exactly one history item for the reconnect: recovered, from revoked to active, by
    // the callback of the user who reconnected; the account's last change says so.
    use tokenwarden::domain::{Cause, HistoryKind};
    use tokenwarden::store::HistoryStore;
    let history = h
        .store
        .history(&team(TEAM), &id, 10, None)
        .await
        .unwrap()
        .items;
    let kinds: Vec<HistoryKind> = history.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![HistoryKind::Recovered, HistoryKind::Connected]);
    let recovered = &history[0];
    assert_eq!(
        recovered.before.map(|b| (b.status, b.reason)),
        Some((Status::Revoked, Some(Reason::PasswordChanged)))
    );
    assert_eq!(
        recovered.after.map(|a| (a.status, a.reason)),
        Some((Status::Active, None))
    );
    assert!(
        matches!(&recovered.cause, Cause::Callback { .. }),
        "{:?}",
        recovered.cause
    );
    assert_eq!(
        after.last_change.map(|l| (l.kind, l.at)),
        Some((HistoryKind::Recovered, now))
    );
}

#[tokio::test]
async fn reconnect_with_a_different_account_is_refused_and_changes_nothing() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::X).await;
    let id = first.accounts[0].clone();
    let mut someone_else = FakeUser::default_for(Provider::X);
    someone_else.external_id = "x-user-2".into();
    someone_else.name = "Another Person".into();
    h.fakes
        .control
        .set_user(Provider::X, &someone_else)
        .await
        .unwrap();
    let authorize = h.start_reconnect(&id).await;
    let back_from_network = h.authorize(&authorize).await;
    let before = h.items().await;
    let account_before = h.stored(&id).await;

    let resp = h.callback(&callback_event(&back_from_network)).await;

    let back = h.land(&resp).await;
    assert_eq!(back.result, "different_account");
    assert_eq!(back.accounts, vec![id.clone()]);
    let mut after = h.items().await;
    // The only change: the state item is consumed.
    let state_items = before.len() - after.len();
    assert_eq!(state_items, 1);
    after.retain(|i| {
        i.get("kind")
            .and_then(|k| k.as_s().ok())
            .map(String::as_str)
            != Some("oauth_state")
    });
    let mut before = before;
    before.retain(|i| {
        i.get("kind")
            .and_then(|k| k.as_s().ok())
            .map(String::as_str)
            != Some("oauth_state")
    });
    assert_eq!(after, before, "nothing changed");
    assert_eq!(h.stored(&id).await, account_before);
    assert_eq!(
        h.accounts().await.len(),
        1,
        "the other account was not connected either"
    );
}

#[tokio::test]
async fn reconnect_of_an_account_of_another_team_is_not_found() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::X).await;
    let id = first.accounts[0].clone();

    let resp = h
        .start(&reconnect_event(id.as_str()).caller("team-other", "user-eve"))
        .await;
    let unknown = h.start(&reconnect_event("acc-nope")).await;
    let invalid = h.start(&reconnect_event("a%23b")).await;

    assert_eq!(resp.status, 404, "{}", resp.text);
    assert_eq!(resp.error_code(), "not_found");
    assert_eq!(unknown.status, 404);
    assert_eq!(invalid.status, 404);
}
