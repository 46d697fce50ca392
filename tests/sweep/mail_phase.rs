//! The mail phase: every milestone mailed exactly once through kills, redeliveries and
//! duplicates, and what SES's throttling, rejections, paused sending and errors lead to.

use super::*;

/// A ledger entry's raw item.
async fn ledger_entry(
    rig: &Rig,
    team: &TeamId,
    account: &Account,
    milestone: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    rig.raw_item(
        &format!("TEAM#{team}"),
        &format!("LEDGER#{}#{milestone}", account.id),
    )
    .await
    .expect("the ledger entry")
}

#[tokio::test]
async fn a_sweep_killed_while_mailing_and_rerun_mails_every_milestone_exactly_once() {
    let rig = Rig::new().await;
    let names = ["north", "south", "east"];
    let mut pages = BTreeMap::new();
    for name in names {
        let team = rig.team(name, &["ana", "bob"], LEADS).await;
        pages.insert(name, rig.connect(Provider::Facebook, &team).await);
    }
    let addresses: Vec<(&str, EmailAddress)> = names
        .iter()
        .flat_map(|n| [(*n, rig.member(n, "ana")), (*n, rig.member(n, "bob"))])
        .collect();
    rig.clock.set(at_day(46));
    // Three digests go out, the fourth hangs: one team fully mailed, the next one cut
    // between its two recipients.
    let hangs = Arc::new(HangsAfter::new(rig.mailer_on(rig.ses.clone()), 3));
    let killed = rig.sweep_with(rig.config(), Arc::new(rig.store.clone()), hangs.clone());

    let run = tokio::spawn(async move {
        killed
            .run_scheduled("sweep#day-46", Budget::unlimited())
            .await
    });
    tokio::time::timeout(StdDuration::from_secs(60), hangs.hung.notified())
        .await
        .expect("the run got to its fourth mail");
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled(), "killed");
    let mut sent = 0;
    for (_, address) in &addresses {
        sent += rig.mails_to(address).await.len();
    }
    assert_eq!(sent, 3, "three digests went out before the kill");

    let report = rig.run_day(&rig.sweep(), 47).await;
    assert_eq!(report.mails_sent, 3, "{report:?}");
    rig.run_day(&rig.sweep(), 48).await;

    for (name, address) in &addresses {
        let mails = rig.mails_to(address).await;
        assert_eq!(mails.len(), 1, "{address}: exactly one digest");
        assert_eq!(mails[0].entries(), vec![(id(&pages[name]), expiring(14))]);
        assert!(
            mails[0]
                .subject
                .starts_with(&format!("Maybe*: 1 account of {name}-"))
                && mails[0].subject.contains(" needs reconnecting by "),
            "{}",
            mails[0].subject
        );
    }
}

/// An invocation that failed before it finished (a crash: release builds abort on panic)
/// leaves its run lock held. Lambda retries an asynchronous invocation with the same
/// request id, the lock's holder: that redelivery carries on with the same run. Another
/// invocation is still refused while the lock holds.
#[tokio::test]
async fn a_crashed_runs_redelivery_carries_on_with_the_same_run() {
    let rig = Rig::new().await;
    let team = rig.team("crashy", &["ana"], LEADS).await;
    let page = rig.connect(Provider::Facebook, &team).await;
    rig.clock.set(at_day(46));
    let event = scheduled(at_day(46));
    let run = format!("sweep#{}", at_day(46).format("%Y-%m-%dT%H:%M:%SZ"));
    let with_holder = |holder: &str| {
        let mut config = rig.config();
        config.holder = holder.to_owned();
        rig.sweep_with(
            config,
            Arc::new(rig.store.clone()),
            Arc::new(rig.mailer_on(rig.ses.clone())),
        )
    };
    // The first delivery took the lock and died.
    assert!(with_holder("req-1")
        .begin_run(&run, Budget::unlimited())
        .await
        .unwrap());

    let other = invoke::handle(&with_holder("req-2"), None, &event, Budget::unlimited())
        .await
        .unwrap();
    let retried = invoke::handle(&with_holder("req-1"), None, &event, Budget::unlimited())
        .await
        .unwrap();

    assert_eq!(other["duplicate_run"], true, "{other}");
    assert_eq!(retried["duplicate_run"], false, "{retried}");
    assert_eq!(retried["checked"].as_u64(), Some(1), "{retried}");
    let account = rig.account(&team, &page.id).await;
    assert_eq!(account.last_checked_at, Some(at_day(46)));
    // Finished now: even its own holder's next delivery does nothing.
    let again = invoke::handle(&with_holder("req-1"), None, &event, Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(again["duplicate_run"], true, "{again}");
}

#[tokio::test]
async fn the_same_scheduled_event_delivered_twice_does_the_work_once() {
    let rig = Rig::new().await;
    let team = rig.team("twice", &["ana"], LEADS).await;
    let ana = rig.member("twice", "ana");
    let page = rig.connect(Provider::Facebook, &team).await;
    let sweep = rig.sweep();
    let event = scheduled(at_day(46));
    rig.clock.set(at_day(46));

    let first = invoke::handle(&sweep, None, &event, Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(first["duplicate_run"], false);
    assert_eq!(
        (first["checked"].as_u64(), first["mails_sent"].as_u64()),
        (Some(1), Some(1)),
        "{first}"
    );

    // Redelivered a week later, when the account is due again and has a milestone to
    // mail: the duplicate still does nothing.
    rig.clock.set(at_day(53));
    let calls = rig.log().await.len();
    let second = invoke::handle(&sweep, None, &event, Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(second["duplicate_run"], true, "{second}");
    assert_eq!(
        (
            second["accounts_seen"].as_u64(),
            second["mails_sent"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(rig.log().await.len(), calls, "no provider call");
    assert_eq!(rig.mails_to(&ana).await.len(), 1, "no mail");
    let account = rig.account(&team, &page.id).await;
    assert_eq!(account.last_checked_at, Some(at_day(46)), "untouched");

    // That week's own run does the work the duplicate left alone.
    let own = invoke::handle(&sweep, None, &scheduled(at_day(53)), Budget::unlimited())
        .await
        .unwrap();
    assert_eq!(
        (own["checked"].as_u64(), own["mails_sent"].as_u64()),
        (Some(1), Some(1)),
        "{own}"
    );

    // Two deliveries at once: one runs, the other sees the run in progress.
    rig.fakes
        .control
        .set_latency(StdDuration::from_millis(200))
        .await
        .unwrap();
    rig.clock.set(at_day(57));
    let event = scheduled(at_day(57));
    let other = rig.sweep().for_invocation("another-invocation");
    let (a, b) = tokio::join!(
        invoke::handle(&sweep, None, &event, Budget::unlimited()),
        invoke::handle(&other, None, &event, Budget::unlimited())
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let ran: Vec<_> = [&a, &b]
        .into_iter()
        .filter(|r| r["duplicate_run"] == false)
        .collect();
    assert_eq!(ran.len(), 1, "{a} {b}");
    assert_eq!(ran[0]["accounts_seen"], 1, "{a} {b}");
    let mails = rig.mails_to(&ana).await;
    let entries: Vec<_> = mails.iter().flat_map(|m| m.entries()).collect();
    assert_eq!(
        entries,
        vec![
            (id(&page), expiring(14)),
            (id(&page), expiring(7)),
            (id(&page), expiring(3))
        ]
    );
}

#[tokio::test]
async fn ses_throttling_mid_run_leaves_the_rest_pending_and_the_next_run_sends_it() {
    let rig = Rig::new().await;
    let proxy = SesProxy::start().await;
    let names = ["red", "green", "blue"];
    let mut teams = Vec::new();
    for name in names {
        let team = rig.team(name, &["ana"], LEADS).await;
        let page = rig.connect(Provider::Facebook, &team).await;
        teams.push((name, team, page));
    }
    let sweep = rig.sweep_with(
        rig.config(),
        Arc::new(rig.store.clone()),
        Arc::new(rig.mailer_on(proxy.client().await)),
    );
    proxy.fail(SesFault::Throttled, 1, None);

    let report = rig.run_day(&sweep, 46).await;

    assert!(report.mail_throttled, "{report:?}");
    assert_eq!(report.mails_sent, 1);
    assert_eq!(report.checked, 3, "the accounts were all handled");
    assert!(proxy.sends().iter().any(|s| s.status == 429));
    let mut mailed = 0;
    for (name, team, page) in &teams {
        let got = rig.mails_to(&rig.member(name, "ana")).await.len();
        let pending = rig.pending(team).await;
        if got == 1 {
            mailed += 1;
            assert!(pending.is_empty(), "{name}");
        } else {
            assert_eq!(pending, vec![(page.id.clone(), expiring(14))], "{name}");
        }
    }
    assert_eq!(mailed, 1);

    proxy.clear();
    let report = rig.run_day(&sweep, 47).await;

    assert_eq!(report.mails_sent, 2, "{report:?}");
    for (name, team, page) in &teams {
        let mails = rig.mails_to(&rig.member(name, "ana")).await;
        assert_eq!(mails.len(), 1, "{name}");
        assert_eq!(mails[0].entries(), vec![(id(page), expiring(14))]);
        assert!(rig.pending(team).await.is_empty());
    }
}

#[tokio::test]
async fn a_rejected_digest_is_recorded_and_not_retried() {
    let rig = Rig::new().await;
    let proxy = SesProxy::start().await;
    let pair = rig.team("pair", &["ana", "bob"], LEADS).await;
    let solo = rig.team("solo", &["carol"], LEADS).await;
    let pair_page = rig.connect(Provider::Facebook, &pair).await;
    let solo_page = rig.connect(Provider::Facebook, &solo).await;
    let (ana, bob, carol) = (
        rig.member("pair", "ana"),
        rig.member("pair", "bob"),
        rig.member("solo", "carol"),
    );
    proxy.fail_to(SesFault::Rejected, &[&bob, &carol]);
    let sweep = rig.sweep_with(
        rig.config(),
        Arc::new(rig.store.clone()),
        Arc::new(rig.mailer_on(proxy.client().await)),
    );

    let report = rig.run_day(&sweep, 46).await;

    assert_eq!(
        (report.mails_sent, report.mails_rejected),
        (1, 2),
        "{report:?}"
    );
    assert_eq!(rig.mails_to(&ana).await.len(), 1);
    assert!(rig.mails_to(&bob).await.is_empty());
    assert!(rig.pending(&pair).await.is_empty(), "not retried");
    assert!(rig.pending(&solo).await.is_empty(), "not retried");
    let delivered = ledger_entry(&rig, &pair, &pair_page, "expiring-014").await;
    assert_eq!(delivered["state"].as_s().unwrap(), "sent");
    let refused = ledger_entry(&rig, &solo, &solo_page, "expiring-014").await;
    assert_eq!(refused["state"].as_s().unwrap(), "failed", "{refused:?}");
    let detail = refused["detail"].as_s().expect("why it failed");
    assert!(detail.contains("not verified"), "{detail}");

    for day in 47..=52 {
        rig.run_day(&sweep, day).await;
    }
    let to = |who: &EmailAddress| {
        proxy
            .sends()
            .iter()
            .filter(|s| s.to.iter().any(|t| t == who.as_str()))
            .count()
    };
    assert_eq!(
        (to(&bob), to(&carol)),
        (1, 1),
        "each refused once, never again"
    );
}

#[tokio::test]
async fn paused_sending_ends_the_mail_phase_but_every_account_is_still_handled() {
    let rig = Rig::new().await;
    let proxy = SesProxy::start().await;
    // Three teams in three different shards of the due index.
    let mut teams = Vec::new();
    let mut shards = BTreeSet::new();
    for n in 0..40 {
        let name = format!("team{n}");
        let team = rig.team(&name, &["ana"], LEADS).await;
        let page = rig.connect(Provider::Facebook, &team).await;
        if shards.insert(rig.shard_of(&page).await) {
            teams.push((name, team, page));
        } else {
            rig.store.delete_account(&team, &page.id).await.unwrap();
        }
        if teams.len() == 3 {
            break;
        }
    }
    assert_eq!(teams.len(), 3);
    proxy.fail(SesFault::SendingPaused, 0, None);
    let sweep = rig.sweep_with(
        rig.config(),
        Arc::new(rig.store.clone()),
        Arc::new(rig.mailer_on(proxy.client().await)),
    );

    let report = rig.run_day(&sweep, 46).await;

    assert!(report.mail_stopped, "{report:?}");
    assert_eq!(report.mails_sent, 0);
    assert_eq!(
        proxy.sends().len(),
        1,
        "no send after the account-level stop"
    );
    for (name, team, page) in &teams {
        let account = rig.account(team, &page.id).await;
        assert_eq!(account.last_checked_at, Some(at_day(46)), "{name} handled");
        assert_eq!(
            rig.pending(team).await,
            vec![(page.id.clone(), expiring(14))]
        );
    }

    proxy.clear();
    rig.run_day(&sweep, 47).await;

    for (name, team, page) in &teams {
        let mails = rig.mails_to(&rig.member(name, "ana")).await;
        assert_eq!(mails.len(), 1, "{name}");
        assert_eq!(mails[0].entries(), vec![(id(page), expiring(14))]);
        assert!(rig.pending(team).await.is_empty());
    }
}

#[tokio::test]
async fn ses_v2_errors_over_the_wire_map_to_what_the_sweep_must_do() {
    let rig = Rig::new().await;
    let proxy = SesProxy::start().await;
    let mailer = rig.mailer_on(proxy.client().await);
    let to = rig.address("wire");
    let email = Email {
        to: to.clone(),
        subject: "hello".into(),
        text: "text".into(),
        html: "<p>html</p>".into(),
        headers: Vec::new(),
        tags: tokenwarden::mail::MailTags {
            kind: tokenwarden::mail::MailKind::Digest,
            team: TeamId::parse("wire").unwrap(),
            recipient: tokenwarden::domain::RecipientId::of(&to),
            dispatch: None,
        },
    };

    proxy.fail(SesFault::Throttled, 0, None);
    assert!(matches!(
        mailer.send(&email).await,
        Err(MailError::Throttled)
    ));
    assert_eq!(
        proxy.sends().len(),
        3,
        "the SDK's standard retries ran first"
    );
    proxy.fail(SesFault::Rejected, 0, None);
    assert!(matches!(
        mailer.send(&email).await,
        Err(MailError::Rejected(why)) if why.contains("not verified")
    ));
    proxy.fail(SesFault::SendingPaused, 0, None);
    assert!(matches!(
        mailer.send(&email).await,
        Err(MailError::SendingStopped(why)) if why.contains("paused")
    ));
    proxy.clear();
    let id = mailer.send(&email).await.expect("sent through the proxy");
    let mails = rig.mails_to(&to).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].message_id, id);
    assert_eq!(
        mails[0].from,
        format!("\"Maybe* Alerts\" <{}>", sweep_support::MAIL_FROM)
    );
    assert_eq!(
        (mails[0].text.as_str(), mails[0].html.as_str()),
        ("text", "<p>html</p>")
    );
}
