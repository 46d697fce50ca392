//! The mail ledger: a milestone pending once, sent or failed, cleared with its account, the
//! recipients on each entry, and the dispatches that record who was told.

use super::*;

/// Teams with pending entries over every shard.
async fn teams_with_pending(store: &DynamoStore) -> Vec<TeamId> {
    let mut teams = Vec::new();
    for shard in 0..store.shards() {
        teams.extend(store.teams_with_pending(shard).await.unwrap());
    }
    teams.sort();
    teams
}

#[tokio::test]
async fn a_milestone_is_recorded_pending_only_once() {
    let store = dynamo_store().await;
    let e = entry("t", "a", Milestone::Expiring { days: 7 });

    assert!(store.record_pending(&e).await.unwrap());
    assert!(!store.record_pending(&e).await.unwrap());

    assert_eq!(store.pending_for_team(&team("t")).await.unwrap(), [e]);
    assert_eq!(teams_with_pending(&store).await, [team("t")]);
}

#[tokio::test]
async fn a_sent_or_failed_entry_is_pending_nowhere() {
    let store = dynamo_store().await;
    let sent = entry("t1", "a", Milestone::Expired);
    let failed = entry("t2", "b", Milestone::Disconnected);
    let still = entry("t3", "c", Milestone::Recovered);
    for e in [&sent, &failed, &still] {
        store.record_pending(e).await.unwrap();
    }
    let mut all = teams_with_pending(&store).await;
    all.sort();
    assert_eq!(all, [team("t1"), team("t2"), team("t3")]);

    let later = t0() + Duration::hours(1);
    store
        .mark(
            &team("t1"),
            &sent.account,
            sent.milestone,
            MailState::Sent,
            None,
            later,
        )
        .await
        .unwrap();
    store
        .mark(
            &team("t2"),
            &failed.account,
            failed.milestone,
            MailState::Failed,
            Some("MessageRejected"),
            later,
        )
        .await
        .unwrap();

    assert!(store
        .pending_for_team(&team("t1"))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .pending_for_team(&team("t2"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.pending_for_team(&team("t3")).await.unwrap(), [still]);
    assert_eq!(teams_with_pending(&store).await, [team("t3")]);
    // The entry stays (a milestone is mailed once), so it is not recorded again.
    assert!(!store.record_pending(&sent).await.unwrap());
    assert!(matches!(
        store
            .mark(
                &team("t1"),
                &account_id("zzz"),
                Milestone::Expired,
                MailState::Sent,
                None,
                later
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn clearing_an_account_removes_only_its_entries() {
    let store = dynamo_store().await;
    let milestones = [
        Milestone::Expiring { days: 14 },
        Milestone::Expiring { days: 7 },
        Milestone::Expired,
    ];
    for m in milestones {
        store.record_pending(&entry("t", "acc", m)).await.unwrap();
        store.record_pending(&entry("t", "acc-2", m)).await.unwrap();
        store.record_pending(&entry("u", "acc", m)).await.unwrap();
    }
    store
        .mark(
            &team("t"),
            &account_id("acc"),
            Milestone::Expired,
            MailState::Sent,
            None,
            t0(),
        )
        .await
        .unwrap();

    let cleared = store
        .clear_account(&team("t"), &account_id("acc"))
        .await
        .unwrap();

    assert_eq!(cleared, 3);
    let left: Vec<String> = store
        .pending_for_team(&team("t"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.account.to_string())
        .collect();
    assert_eq!(left, ["acc-2", "acc-2", "acc-2"]);
    assert_eq!(store.pending_for_team(&team("u")).await.unwrap().len(), 3);
    // Cleared milestones can be recorded afresh.
    assert!(store
        .record_pending(&entry("t", "acc", Milestone::Expired))
        .await
        .unwrap());
    assert_eq!(
        store
            .clear_account(&team("t"), &account_id("nobody"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn recipients_who_had_an_entry_are_remembered_on_it() {
    let store = dynamo_store().await;
    let e = entry("t", "a", Milestone::Disconnected);
    store.record_pending(&e).await.unwrap();
    let later = t0() + Duration::minutes(1);
    let r =
        |who: &str| RecipientId::of(&EmailAddress::parse(&format!("{who}@example.com")).unwrap());
    for who in ["u2", "u1", "u2"] {
        store
            .add_recipient(&team("t"), &e.account, e.milestone, &r(who), later)
            .await
            .unwrap();
    }
    let pending = store.pending_for_team(&team("t")).await.unwrap();
    assert_eq!(pending.len(), 1);
    let mut want = vec![r("u1"), r("u2")];
    want.sort();
    assert_eq!(pending[0].sent_to, want);
    assert_eq!(pending[0].state, MailState::Pending);
    assert!(matches!(
        store
            .add_recipient(
                &team("t"),
                &account_id("other"),
                e.milestone,
                &r("u1"),
                later
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_dispatch_is_confirmed_once_and_who_was_told_of_a_breakage_is_read_from_the_ledger() {
    let store = dynamo_store().await;
    let t = team("t");
    let ana = RecipientId::of(&EmailAddress::parse("ana@example.com").unwrap());
    let d = Dispatch {
        team: t.clone(),
        id: "00aa".into(),
        recipient: ana.clone(),
        entries: vec![(account_id("a"), Milestone::Disconnected)],
        created_at: t0(),
        confirmed_at: None,
    };
    store.open_dispatch(&d).await.unwrap();
    assert!(matches!(
        store.open_dispatch(&d).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.dispatches(&t).await.unwrap(), vec![d.clone()]);
    let first = t0() + Duration::seconds(2);
    let confirmed = store
        .confirm_dispatch(&t, "00aa", first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(confirmed.confirmed_at, Some(first));
    // A redelivered event keeps the first time.
    let again = store
        .confirm_dispatch(&t, "00aa", first + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.confirmed_at, Some(first));
    assert_eq!(
        store.confirm_dispatch(&t, "ffff", first).await.unwrap(),
        None
    );

    // Told: the recipients on the disconnected and expired entries only.
    let bo = RecipientId::of(&EmailAddress::parse("bo@example.com").unwrap());
    for (milestone, who) in [
        (Milestone::Disconnected, &ana),
        (Milestone::Expiring { days: 7 }, &bo),
    ] {
        let e = entry("t", "a", milestone);
        store.record_pending(&e).await.unwrap();
        store
            .add_recipient(&t, &e.account, milestone, who, t0())
            .await
            .unwrap();
    }
    assert_eq!(
        store.told_broken(&t, &account_id("a")).await.unwrap(),
        vec![ana]
    );
    assert_eq!(
        store.told_broken(&t, &account_id("b")).await.unwrap(),
        vec![]
    );
}

#[tokio::test]
async fn a_reconnect_keeps_only_the_once_a_day_entries_that_went_out_today() {
    let store = dynamo_store().await;
    let t = team("t");
    let now = t0() + Duration::hours(12);
    let entry_at = |account: &str, milestone, at| LedgerEntry {
        created_at: at,
        updated_at: at,
        ..entry("t", account, milestone)
    };
    // Account a: today's disconnected went out; account b: today's is still pending
    // (nobody was told); both: an expiring entry and yesterday's recovered.
    for account in ["a", "b"] {
        for e in [
            entry_at(account, Milestone::Disconnected, now - Duration::hours(1)),
            entry_at(
                account,
                Milestone::Expiring { days: 7 },
                now - Duration::days(3),
            ),
            entry_at(account, Milestone::Recovered, now - Duration::days(1)),
        ] {
            store.record_pending(&e).await.unwrap();
        }
    }
    store
        .mark(
            &t,
            &account_id("a"),
            Milestone::Disconnected,
            MailState::Sent,
            None,
            now,
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .clear_for_reconnect(&t, &account_id("a"), now)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .clear_for_reconnect(&t, &account_id("b"), now)
            .await
            .unwrap(),
        3
    );
    let left = store.told_broken(&t, &account_id("a")).await.unwrap();
    assert!(left.is_empty(), "nobody was recorded on it");
    assert!(
        store.pending_for_team(&t).await.unwrap().is_empty(),
        "b's pending breakage went: nobody hears of a breakage already fixed"
    );
    // a's sent disconnected stays (one disconnected mail a day at most).
    assert!(!store
        .record_pending(&entry_at("a", Milestone::Disconnected, now))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_send_event_records_its_recipient_only_on_entries_no_newer_than_its_dispatch() {
    let store = dynamo_store().await;
    let t = team("t");
    let ana = RecipientId::of(&EmailAddress::parse("ana@example.com").unwrap());
    let today = t0() + Duration::days(1);
    store
        .record_pending(&LedgerEntry {
            created_at: today,
            updated_at: today,
            ..entry("t", "a", Milestone::Disconnected)
        })
        .await
        .unwrap();
    // Yesterday's dispatch of the same milestone, its event redriven today: not this entry.
    assert!(matches!(
        store
            .add_dispatched(
                &t,
                &account_id("a"),
                Milestone::Disconnected,
                &ana,
                t0(),
                today
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.pending_for_team(&t).await.unwrap()[0]
        .sent_to
        .is_empty());
    store
        .add_dispatched(
            &t,
            &account_id("a"),
            Milestone::Disconnected,
            &ana,
            today,
            today,
        )
        .await
        .unwrap();
    assert_eq!(
        store.pending_for_team(&t).await.unwrap()[0].sent_to,
        vec![ana]
    );
}
