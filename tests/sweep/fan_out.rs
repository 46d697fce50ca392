//! Fan-out and the invocation: one SQS task per shard, a budget that runs out, a
//! per-network limit, the invocation's time, the store reads a run costs, and the
//! `reseal` action that retires a sealing key.

use super::*;

fn failures_of(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .expect("a batchItemFailures list")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("an id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_sweep_over_500_accounts_with_10_due_reads_only_the_due_ones() {
    let rig = Rig::new().await;
    let (grant, remote) = rig.grant(Provider::Facebook).await;
    let policy = SchedulePolicy::default();
    let mut accounts = Vec::new();
    for t in 0..50 {
        let team = TeamId::parse(&format!("team-{t}")).unwrap();
        for a in 0..10 {
            let mut account = rig.build(
                Provider::Facebook,
                &team,
                &format!("page-{a}"),
                &grant,
                &remote[0],
            );
            if a == 0 && t % 5 == 0 {
                // Last checked 8 days ago: its weekly check is due.
                account.last_checked_at = Some(t0() - Duration::days(8));
                account.next_due_at = account.next_due(t0(), &policy);
            }
            accounts.push(account);
        }
    }
    let due = accounts
        .iter()
        .filter(|a| a.next_due_at.is_some_and(|d| d <= at_day(0)))
        .count();
    assert_eq!(due, 10);
    let store = &rig.store;
    stream::iter(&accounts)
        .map(|a| async move { store.create_account(a).await.unwrap() })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let sweep = rig.sweep();

    let report = rig.run_day(&sweep, 0).await;

    let shards = u64::from(sweep.shards());
    assert_eq!(
        (report.accounts_seen, report.checked),
        (10, 10),
        "{report:?}"
    );
    assert!(
        report.items_read >= 10 && report.items_read <= 10 + shards,
        "read {} items for 10 due accounts among 500",
        report.items_read
    );
    rig.clock.set(at_day(0) + Duration::hours(1));
    let quiet = sweep
        .run_scheduled("sweep#an-hour-later", Budget::unlimited())
        .await
        .unwrap();
    assert_eq!((quiet.accounts_seen, quiet.items_read), (0, 0), "{quiet:?}");
}

#[tokio::test]
async fn fan_out_hands_one_task_per_shard_to_sqs_and_the_tasks_handle_every_due_account() {
    let rig = Rig::new().await;
    let (sqs, url) = sqs_queue().await;
    let queue = SqsShardQueue::new(sqs.clone(), url.clone());
    let mut teams = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        let team = rig.team(name, &["ana"], LEADS).await;
        let page = rig.connect(Provider::Facebook, &team).await;
        teams.push((name, team, page));
    }
    let sweep = rig.sweep();
    rig.clock.set(at_day(46));
    let event = scheduled(at_day(46));
    let calls = rig.log().await.len();

    let started = invoke::handle(
        &sweep,
        Some(&queue as &dyn ShardQueue),
        &event,
        Budget::unlimited(),
    )
    .await
    .unwrap();

    assert_eq!(
        started["shards_handed_out"],
        u64::from(sweep.shards()),
        "{started}"
    );
    assert_eq!(
        started["accounts_seen"], 0,
        "the starter does no account work"
    );
    assert_eq!(rig.log().await.len(), calls);
    let messages = take(&sqs, &url, 16).await;
    let tasks: Vec<ShardTask> = messages
        .iter()
        .map(|(_, body)| serde_json::from_str(body).expect("a shard task"))
        .collect();
    let shards: BTreeSet<u16> = tasks.iter().map(|t| t.shard).collect();
    assert_eq!(shards, (0..sweep.shards()).collect(), "one task per shard");
    assert_eq!(tasks.len(), usize::from(sweep.shards()));
    assert!(
        tasks.iter().all(|t| t.run == "sweep#2026-12-17T04:00:00Z"),
        "{tasks:?}"
    );

    let again = invoke::handle(
        &sweep,
        Some(&queue as &dyn ShardQueue),
        &event,
        Budget::unlimited(),
    )
    .await
    .unwrap();
    assert_eq!(again["duplicate_run"], true);
    assert!(
        take(&sqs, &url, 1).await.is_empty(),
        "no second set of tasks"
    );

    for batch in messages.chunks(8) {
        let answer = invoke::handle(&sweep, None, &sqs_event(batch), Budget::unlimited())
            .await
            .unwrap();
        assert_eq!(failures_of(&answer), Vec::<String>::new(), "{answer}");
    }

    for (name, team, page) in &teams {
        let account = rig.account(team, &page.id).await;
        assert_eq!(account.last_checked_at, Some(at_day(46)), "{name}");
        assert!(
            account.next_due_at.is_some_and(|d| d > at_day(46)),
            "{name}"
        );
        let mails = rig.mails_to(&rig.member(name, "ana")).await;
        assert_eq!(mails.len(), 1, "{name}");
        assert_eq!(mails[0].entries(), vec![(id(page), expiring(14))]);
    }
}

#[tokio::test]
async fn a_shard_task_that_runs_out_of_budget_is_reported_as_a_batch_item_failure() {
    let rig = Rig::new().await;
    let team = rig.team("busy", &["ana"], LEADS).await;
    let one = rig.connect_named(Provider::Facebook, &team, "one").await;
    let two = rig.connect_named(Provider::Facebook, &team, "two").await;
    let shard = rig.shard_of(&one).await;
    let body = serde_json::to_string(&ShardTask {
        run: "sweep#2026-11-08T04:00:00Z".into(),
        shard,
    })
    .unwrap();
    let batch = sqs_event(&[("message-1".into(), body)]);
    let sweep = rig.sweep();
    rig.clock.set(at_day(7));
    // Connecting read `debug_token` once per consent (the person's data access clock).
    let at_connect = rig
        .calls(Provider::Facebook, EndpointKind::Introspect)
        .await
        .len();
    let checks = || async {
        rig.calls(Provider::Facebook, EndpointKind::Introspect)
            .await
            .len()
            - at_connect
    };

    // No time left at all: not started.
    let out_of_time = Budget::until(Instant::now(), StdDuration::ZERO);
    let answer = invoke::handle(&sweep, None, &batch, out_of_time)
        .await
        .unwrap();
    assert_eq!(failures_of(&answer), vec!["message-1"]);
    assert_eq!(checks().await, 0);

    // Time for one of the two due accounts.
    let answer = invoke::handle(
        &sweep,
        None,
        &batch,
        Budget::unlimited().with_max_accounts(1),
    )
    .await
    .unwrap();
    assert_eq!(failures_of(&answer), vec!["message-1"], "{answer}");
    assert_eq!(checks().await, 1);

    // SQS hands it out again; this time it finishes.
    let answer = invoke::handle(&sweep, None, &batch, Budget::unlimited())
        .await
        .unwrap();
    assert!(failures_of(&answer).is_empty(), "{answer}");
    assert_eq!(checks().await, 2);
    for page in [&one, &two] {
        let account = rig.account(&team, &page.id).await;
        assert_eq!(account.last_checked_at, Some(at_day(7)));
    }
}

#[tokio::test]
async fn a_per_network_limit_keeps_x_calls_from_overlapping() {
    let rig = Rig::new().await;
    let team = rig.team("limits", &["ana"], LEADS).await;
    for n in 1..=4 {
        rig.connect_named(Provider::X, &team, &format!("x-{n}"))
            .await;
        rig.connect_named(Provider::Google, &team, &format!("google-{n}"))
            .await;
    }
    let mut config = rig.config();
    config.concurrency = 16;
    config.provider_concurrency = BTreeMap::from([(Provider::X, 1)]);
    let sweep = rig.sweep_with(
        config,
        Arc::new(rig.store.clone()),
        Arc::new(rig.mailer_on(rig.ses.clone())),
    );
    rig.fakes
        .control
        .set_latency(StdDuration::from_millis(150))
        .await
        .unwrap();

    let report = rig.run_day(&sweep, 7).await;

    assert_eq!(report.refreshed, 8, "{report:?}");
    assert_eq!(
        rig.providers.observer.in_flight.max(Provider::X),
        1,
        "X one at a time"
    );
    assert!(
        rig.providers.observer.in_flight.max(Provider::Google) >= 2,
        "unlimited networks overlap (the probe sees overlap when there is some)"
    );
    let refreshes = rig.calls(Provider::X, EndpointKind::Refresh).await;
    assert_eq!(refreshes.len(), 4);
    assert!(refreshes.iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn a_sweep_whose_time_runs_out_stops_taking_accounts_and_a_redelivery_continues() {
    let rig = Rig::new().await;
    let team = rig.team("slow", &["ana"], LEADS).await;
    let mut accounts = Vec::new();
    for n in 1..=6 {
        let label = format!("google-{n}");
        accounts.push(rig.connect_named(Provider::Google, &team, &label).await);
    }
    let shard = rig.shard_of(&accounts[0]).await;
    let mut config = rig.config();
    config.concurrency = 1;
    let sweep = rig.sweep_with(
        config,
        Arc::new(rig.store.clone()),
        Arc::new(rig.mailer_on(rig.ses.clone())),
    );
    // A slow network: each refresh takes 300 ms, and the invocation has 700 ms left.
    rig.fakes
        .control
        .set_latency(StdDuration::from_millis(300))
        .await
        .unwrap();
    rig.clock.set(at_day(7));

    let deadline = Budget::until(
        Instant::now() + StdDuration::from_millis(700),
        StdDuration::ZERO,
    );
    let first = sweep.run_shard(shard, deadline).await.unwrap();

    assert!(first.incomplete, "{first:?}");
    assert!(
        (1..=3).contains(&first.refreshed),
        "no new account is started past the deadline: {first:?}"
    );

    // The same scheduled run, cut short again (one account), lets its lock go, so the
    // scheduler's redelivery continues the run instead of seeing a duplicate.
    rig.fakes
        .control
        .set_latency(StdDuration::ZERO)
        .await
        .unwrap();
    let cut = sweep
        .run_scheduled("sweep#day-7", Budget::unlimited().with_max_accounts(1))
        .await
        .unwrap();
    assert!(cut.incomplete && cut.refreshed == 1, "{cut:?}");
    let rest = sweep
        .run_scheduled("sweep#day-7", Budget::unlimited())
        .await
        .unwrap();
    assert!(!rest.duplicate_run && !rest.incomplete, "{rest:?}");
    assert_eq!(
        first.refreshed + cut.refreshed + rest.refreshed,
        6,
        "{rest:?}"
    );
    let again = sweep
        .run_scheduled("sweep#day-7", Budget::unlimited())
        .await
        .unwrap();
    assert!(again.duplicate_run, "a finished run is done for good");

    assert_eq!(
        rig.calls(Provider::Google, EndpointKind::Refresh)
            .await
            .len(),
        6,
        "each account once"
    );
    for account in &accounts {
        let stored = rig.account(&team, &account.id).await;
        assert_eq!(stored.last_refreshed_at, Some(at_day(7)));
    }
}

/// A new key is made active and the old one kept; one pass re-seals every account (any
/// team, broken ones too) with the new key and reports none left under the old one, so the
/// old key can be removed: with the new key alone, every account's tokens still open.
#[tokio::test]
async fn retiring_a_key_reseals_every_account_and_then_the_old_key_can_go() {
    let rig = Rig::new().await;
    let team = rig.team("keys", &["ana"], LEADS).await;
    let other = rig.team("other", &["bob"], LEADS).await;
    let x = rig.connect(Provider::X, &team).await;
    let page = rig.connect(Provider::Facebook, &other).await;
    let mut broken = rig.connect(Provider::Linkedin, &team).await;
    broken.broke(Status::Revoked, Reason::AccessRevoked, rig.clock.now());
    let broken = rig.store.update_account(&broken).await.unwrap();
    let k1: Value = serde_json::from_str(rig.keyring_secret.expose_secret()).unwrap();
    let k2: Value = serde_json::from_str(Keyring::generate_secret("k2").expose_secret()).unwrap();
    let both = json!({"active": "k2", "keys": {"k1": k1["keys"]["k1"], "k2": k2["keys"]["k2"]}});
    let only_k2 = json!({"active": "k2", "keys": {"k2": k2["keys"]["k2"]}});
    let rotated = Keyring::from_secret(&Secret::from(both.to_string())).unwrap();
    let mut sweep = rig.sweep();
    sweep.keyring = Arc::new(rotated);

    let report = invoke::handle(
        &sweep,
        None,
        &json!({"action": "reseal"}),
        Budget::unlimited(),
    )
    .await
    .unwrap();

    assert_eq!(report["resealed"], 3, "{report}");
    assert_eq!(report["remaining"], json!({}), "{report}");
    assert_eq!(report["active_key"], "k2");
    let again = invoke::handle(
        &sweep,
        None,
        &json!({"action": "reseal"}),
        Budget::unlimited(),
    )
    .await
    .unwrap();
    assert_eq!(again["resealed"], 0, "nothing left to re-seal: {again}");
    let new_only = Keyring::from_secret(&Secret::from(only_k2.to_string())).unwrap();
    for (t, a) in [(&team, &x), (&other, &page), (&team, &broken)] {
        let stored = rig.account(t, &a.id).await;
        assert_eq!(stored.tokens.access.key_id(), Some("k2"));
        let opened = tokenwarden::refresh::open_tokens(&new_only, &stored)
            .unwrap_or_else(|e| panic!("{}: {e}", a.provider));
        let before = tokenwarden::refresh::open_tokens(&rig.keyring, a).unwrap();
        assert_eq!(
            opened.access.expose_secret(),
            before.access.expose_secret(),
            "the same token, sealed anew"
        );
        assert_eq!(
            opened.refresh.as_ref().map(ExposeSecret::expose_secret),
            before.refresh.as_ref().map(ExposeSecret::expose_secret)
        );
    }
    let unknown = invoke::handle(
        &sweep,
        None,
        &json!({"action": "rotate"}),
        Budget::unlimited(),
    )
    .await;
    assert!(unknown.is_err());
}
