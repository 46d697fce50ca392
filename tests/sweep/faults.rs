//! Faults: dead tokens (Meta's subcodes, lost Page roles, invalid grants), transient
//! failures and outages, rotating refresh tokens, and poison items in the due index.

use super::*;

/// A person who lost their Page role: Meta's "must be an administrator" error at the weekly
/// check marks the account `admin_lost`, and the mail says another admin must reconnect.
#[tokio::test]
async fn a_lost_page_role_on_the_weekly_check_is_admin_lost_and_asks_another_admin() {
    let rig = Rig::new().await;
    let team = rig.team("bakery", &["ana"], LEADS).await;
    let ana = rig.member("bakery", "ana");
    let page = rig.connect(Provider::Facebook, &team).await;
    rig.fakes
        .control
        .set_fault(
            Provider::Facebook,
            EndpointKind::Introspect,
            Fault::AdminLost,
            1,
        )
        .await
        .unwrap();

    rig.run_day(&rig.sweep(), 7).await;

    let column = rig
        .account(&team, &page.id)
        .await
        .token_column(rig.clock.now());
    assert_eq!(column.status, Status::Revoked);
    assert_eq!(column.reason, Some(Reason::AdminLost));
    assert!(!column.auto_refresh);
    assert_eq!((column.reconnect_by, column.days_left), (None, None));
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0]
            .text
            .contains("Ask a current admin to reconnect it"),
        "{}",
        mails[0].text
    );
}

/// Meta's 190/493 (the person has not used the app for 90 days) is a reason of its own.
#[tokio::test]
async fn meta_190_subcode_493_on_the_weekly_check_is_data_access_expired() {
    let rig = Rig::new().await;
    let team = rig.team("bakery", &["ana"], LEADS).await;
    let page = rig.connect(Provider::Instagram, &team).await;
    rig.fakes
        .control
        .set_fault(
            Provider::Instagram,
            EndpointKind::Introspect,
            Fault::Meta190 { subcode: Some(493) },
            1,
        )
        .await
        .unwrap();

    rig.run_day(&rig.sweep(), 7).await;

    let column = rig
        .account(&team, &page.id)
        .await
        .token_column(rig.clock.now());
    assert_eq!(column.status, Status::Expired);
    assert_eq!(column.reason, Some(Reason::DataAccessExpired));
    assert!(column.message.contains("90 days"), "{}", column.message);
}

/// Meta's data access clock is the deadline when it comes first: the expiring mails come at
/// the team's lead days before it, though the token itself has weeks left.
#[tokio::test]
async fn the_data_access_clock_brings_the_expiring_mails_forward() {
    let rig = Rig::new().await;
    let team = rig.team("bakery", &["ana"], &[14]).await;
    let ana = rig.member("bakery", "ana");
    // The fake runs on the real clock; the rig's clock starts at t0 (the rig translates).
    let in_30_days = chrono::Utc::now() + Duration::days(30);
    rig.fakes
        .control
        .patch_settings(
            Provider::Facebook,
            &provider_fakes::SettingsPatch {
                data_access_expires_at: Some(in_30_days.timestamp() as u64),
                ..provider_fakes::SettingsPatch::default()
            },
        )
        .await
        .unwrap();
    let mut page = rig.connect(Provider::Facebook, &team).await;
    // Connected before the grant's owner was recorded: the weekly check fills it in.
    let owner = page
        .grant_owner
        .take()
        .expect("the connect names the person");
    let page = rig.store.update_account(&page).await.unwrap();
    let deadline = page.reconnect_by().expect("a deadline");
    assert_eq!(page.data_access_expires_at, Some(deadline));
    assert!(
        (deadline - (t0() + Duration::days(30))).num_seconds().abs() < 60,
        "the data access clock, before the token's 60 days: {deadline}"
    );
    let sweep = rig.sweep();

    rig.run_day(&sweep, 15).await;
    assert!(
        rig.mails_to(&ana).await.is_empty(),
        "15 days ahead: not yet"
    );
    rig.run_day(&sweep, 16).await;

    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].entries(),
        vec![(id(&page), Milestone::Expiring { days: 14 })]
    );
    let checked = rig.account(&team, &page.id).await;
    assert_eq!(checked.reconnect_by(), Some(deadline));
    assert_eq!(checked.grant_owner, Some(owner), "filled in by the check");
}

#[tokio::test]
async fn meta_190_subcode_460_on_the_weekly_check_disconnects_with_password_changed_and_mails_once()
{
    let rig = Rig::new().await;
    let team = rig.team("bakery", &["ana"], LEADS).await;
    let ana = rig.member("bakery", "ana");
    let facebook = rig.connect(Provider::Facebook, &team).await;
    let instagram = rig.connect(Provider::Instagram, &team).await;
    rig.fakes
        .control
        .set_fault(
            Provider::Facebook,
            EndpointKind::Introspect,
            Fault::Meta190 { subcode: Some(460) },
            1,
        )
        .await
        .unwrap();
    let sweep = rig.sweep();

    let report = rig.run_day(&sweep, 7).await;

    assert_eq!((report.checked, report.broken), (1, 1), "{report:?}");
    let now = rig.clock.now();
    let dead = rig.account(&team, &facebook.id).await;
    let column = dead.token_column(now);
    assert_eq!(column.status, Status::Revoked);
    assert_eq!(column.reason, Some(Reason::PasswordChanged));
    assert_eq!(dead.next_due_at, None);
    let healthy = rig.account(&team, &instagram.id).await;
    assert_eq!(healthy.token_column(now).status, Status::Active);
    assert_eq!(healthy.last_checked_at, Some(now));

    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].entries(),
        vec![(id(&facebook), Milestone::Disconnected)]
    );
    assert!(
        mails[0]
            .text
            .contains("The password of the Facebook Pages account was changed"),
        "{}",
        mails[0].text
    );
    assert!(mails[0]
        .html
        .contains("password of the Facebook Pages account was changed"));

    let checks = rig
        .calls(Provider::Facebook, EndpointKind::Introspect)
        .await
        .len();
    for day in 8..=21 {
        rig.run_day(&sweep, day).await;
    }
    assert_eq!(rig.mails_to(&ana).await.len(), 1, "mailed once");
    assert_eq!(
        rig.calls(Provider::Facebook, EndpointKind::Introspect)
            .await
            .len(),
        checks,
        "a broken account is left alone until someone reconnects it"
    );
    assert!(rig.pending(&team).await.is_empty());
}

#[tokio::test]
async fn invalid_grant_on_a_refresh_marks_the_account_revoked_and_mails_once() {
    let rig = Rig::new().await;
    let team = rig.team("studio", &["ana"], LEADS).await;
    let ana = rig.member("studio", "ana");
    let google = rig.connect(Provider::Google, &team).await;
    let x = rig.connect(Provider::X, &team).await;
    rig.fakes
        .control
        .set_fault(
            Provider::Google,
            EndpointKind::Refresh,
            Fault::InvalidGrant,
            1,
        )
        .await
        .unwrap();
    let sweep = rig.sweep();

    let report = rig.run_day(&sweep, 7).await;

    assert_eq!((report.refreshed, report.broken), (1, 1), "{report:?}");
    let dead = rig.account(&team, &google.id).await;
    let column = dead.token_column(rig.clock.now());
    assert_eq!(column.status, Status::Revoked);
    assert_eq!(column.reason, Some(Reason::TokenInvalid));
    assert_eq!(
        rig.account(&team, &x.id)
            .await
            .token_column(rig.clock.now())
            .status,
        Status::Active
    );
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].entries(),
        vec![(id(&google), Milestone::Disconnected)]
    );
    assert!(mails[0]
        .text
        .contains("no longer accepts the saved sign-in"));

    rig.run_day(&sweep, 14).await;
    assert_eq!(
        rig.calls(Provider::Google, EndpointKind::Refresh)
            .await
            .len(),
        1,
        "a dead grant is not tried again"
    );
    assert_eq!(rig.calls(Provider::X, EndpointKind::Refresh).await.len(), 2);
    assert_eq!(rig.mails_to(&ana).await.len(), 1);
}

#[tokio::test]
async fn three_days_of_5xx_and_timeouts_keep_the_account_active_and_the_fourth_days_success_resets_the_counter(
) {
    let rig = Rig::with_provider_timeout(StdDuration::from_secs(1)).await;
    let team = rig.team("agency", &["ana"], LEADS).await;
    let ana = rig.member("agency", "ana");
    let x = rig.connect(Provider::X, &team).await;
    let original_refresh = rig.refresh_token_of(&x);
    let sweep = rig.sweep();
    let faults = [
        (7, Fault::Status5xx { status: None }),
        (8, Fault::Timeout { seconds: Some(3) }),
        (9, Fault::Status5xx { status: Some(502) }),
    ];

    for (n, (day, fault)) in faults.into_iter().enumerate() {
        rig.fakes
            .control
            .set_fault(Provider::X, EndpointKind::Refresh, fault, 1)
            .await
            .unwrap();

        let report = rig.run_day(&sweep, day).await;

        let days_failed = n as u32 + 1;
        assert_eq!(
            (report.transient_failures, report.broken, report.refreshed),
            (1, 0, 0),
            "day {day}: {report:?}"
        );
        let account = rig.account(&team, &x.id).await;
        assert_eq!(account.broken, None, "day {day}");
        assert_eq!(
            account.token_column(at_day(day)).status,
            Status::Active,
            "day {day}"
        );
        assert_eq!(account.failures.days, days_failed, "day {day}: once a day");
        assert_eq!(account.failures.first_at, Some(at_day(7)));
        assert_eq!(
            account.next_due_at,
            Some(at_day(day + 1)),
            "tried again tomorrow"
        );
        assert_eq!(
            rig.calls(Provider::X, EndpointKind::Refresh).await.len(),
            days_failed as usize,
            "day {day}: one attempt a day"
        );
    }

    let report = rig.run_day(&sweep, 10).await;

    assert_eq!(
        (report.refreshed, report.transient_failures),
        (1, 0),
        "{report:?}"
    );
    let account = rig.account(&team, &x.id).await;
    assert_eq!(
        account.failures,
        Failures::default(),
        "reset by the success"
    );
    assert_eq!(account.last_refreshed_at, Some(at_day(10)));
    assert_eq!(account.token_column(at_day(10)).status, Status::Active);
    let refreshes = rig.calls(Provider::X, EndpointKind::Refresh).await;
    assert_eq!(refreshes.len(), 4);
    assert!(refreshes
        .iter()
        .all(|r| r.refresh_token.as_deref() == Some(original_refresh.as_str())));
    assert_eq!(refreshes[3].status, 200);
    assert!(
        rig.mails_to(&ana).await.is_empty(),
        "no mail for a passing outage"
    );
    assert!(rig.pending(&team).await.is_empty());
    // The history has it: failing on the first day, recovered on the fourth.
    use tokenwarden::store::HistoryStore;
    let mut history = rig
        .store
        .history(&team, &x.id, 10, None)
        .await
        .unwrap()
        .items;
    history.reverse();
    let got: Vec<_> = history.iter().map(|e| (e.kind, e.at)).collect();
    assert_eq!(
        got,
        vec![
            (tokenwarden::domain::HistoryKind::Failing, at_day(7)),
            (tokenwarden::domain::HistoryKind::Recovered, at_day(10)),
        ]
    );
}

#[tokio::test]
async fn five_days_of_outage_show_refresh_failed_and_the_network_coming_back_recovers_it() {
    let rig = Rig::new().await;
    let team = rig.team("outage", &["ana"], LEADS).await;
    let ana = rig.member("outage", "ana");
    let x = rig.connect(Provider::X, &team).await;
    rig.fakes
        .control
        .set_fault(
            Provider::X,
            EndpointKind::Refresh,
            Fault::Status5xx { status: Some(503) },
            5,
        )
        .await
        .unwrap();
    let sweep = rig.sweep();

    for day in 7..=11 {
        rig.run_day(&sweep, day).await;
    }

    let failed = rig.account(&team, &x.id).await;
    let column = failed.token_column(at_day(11));
    assert_eq!(
        (column.status, column.reason),
        (Status::Revoked, Some(Reason::RefreshFailed))
    );
    assert_eq!(failed.failures.days, 5);
    assert_eq!(
        failed.next_due_at,
        Some(at_day(12)),
        "still tried every day"
    );
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1, "one disconnected mail, on the fifth day");
    assert_eq!(mails[0].entries(), vec![(id(&x), Milestone::Disconnected)]);
    assert!(mails[0].text.contains("could not be renewed"));

    let report = rig.run_day(&sweep, 12).await;

    assert_eq!(report.refreshed, 1, "{report:?}");
    let back = rig.account(&team, &x.id).await;
    assert_eq!(back.broken, None);
    assert_eq!(back.failures, Failures::default());
    assert_eq!(back.token_column(at_day(12)).status, Status::Active);
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 2);
    // A recovered line needs no reconnect link; it names the account.
    assert!(mails
        .iter()
        .flat_map(|m| m.entries())
        .any(|(a, m)| a == x.id.as_str() && m == Milestone::Recovered));
    let recovered: Vec<_> = mails
        .iter()
        .flat_map(|m| m.lines())
        .filter(|l| l.account.is_none())
        .collect();
    assert_eq!(recovered.len(), 1, "{mails:?}");
    assert!(recovered[0].headline.contains(&x.display_name));
    assert_eq!(recovered[0].account, None);
    assert_eq!(
        rig.calls(Provider::X, EndpointKind::Refresh).await.len(),
        6,
        "one try a day, then the one that worked"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_a_failed_store_write_and_the_old_one_is_never_sent_again()
{
    let rig = Rig::new().await;
    let team = rig.team("press", &["ana"], LEADS).await;
    let x = rig.connect(Provider::X, &team).await;
    let r0 = rig.refresh_token_of(&x);
    let flaky = Arc::new(FlakyAccounts::failing_first_updates(
        Arc::new(rig.store.clone()),
        1,
    ));
    let sweep = rig.sweep_with(
        rig.config(),
        flaky.clone(),
        Arc::new(rig.mailer_on(rig.ses.clone())),
    );

    let report = rig.run_day(&sweep, 7).await;

    assert_eq!(report.refreshed, 1, "{report:?}");
    assert_eq!(
        flaky
            .observer
            .failed
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the first store write of the new pair failed"
    );
    let stored = rig.account(&team, &x.id).await;
    let r1 = rig.refresh_token_of(&stored);
    assert_ne!(r1, r0, "the rotated token is stored");
    assert_eq!(stored.last_refreshed_at, Some(at_day(7)));
    assert_eq!(stored.next_due_at, Some(at_day(14)));
    assert_eq!(stored.broken, None);

    // The chain goes on: each week the newest token is presented and works.
    rig.run_day(&sweep, 14).await;
    rig.run_day(&sweep, 21).await;
    let latest = rig.account(&team, &x.id).await;
    let refreshes = rig.calls(Provider::X, EndpointKind::Refresh).await;
    let presented: Vec<_> = refreshes
        .iter()
        .map(|r| r.refresh_token.clone().unwrap_or_default())
        .collect();
    assert_eq!(presented.len(), 3);
    assert_eq!(presented[0], r0);
    assert_eq!(presented[1], r1);
    assert!(refreshes.iter().all(|r| r.status == 200), "{refreshes:?}");
    let r0_sent = rig
        .log()
        .await
        .iter()
        .filter(|r| r.refresh_token.as_deref() == Some(r0.as_str()))
        .count();
    assert_eq!(r0_sent, 1, "the old refresh token is never sent again");
    assert!(!presented.contains(&rig.refresh_token_of(&latest)));
    rig.providers
        .check(Provider::X, &rig.access_token_of(&latest))
        .await
        .expect("the connection is alive at X");
}

#[tokio::test]
async fn two_sweeps_on_the_same_account_at_once_refresh_it_exactly_once() {
    let rig = Rig::new().await;
    let team = rig.team("duo", &["ana"], LEADS).await;
    let x = rig.connect(Provider::X, &team).await;
    rig.fakes
        .control
        .set_latency(StdDuration::from_millis(300))
        .await
        .unwrap();
    rig.clock.set(at_day(7));
    let a = rig.sweep().for_invocation("invocation-a");
    let b = rig.sweep().for_invocation("invocation-b");

    let (ra, rb) = tokio::join!(
        a.run_scheduled("sweep#a", Budget::unlimited()),
        b.run_scheduled("sweep#b", Budget::unlimited())
    );

    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.refreshed + rb.refreshed, 1, "{ra:?} {rb:?}");
    let refreshes = rig.calls(Provider::X, EndpointKind::Refresh).await;
    assert_eq!(refreshes.len(), 1, "exactly one refresh call reached X");
    rig.fakes
        .control
        .set_latency(StdDuration::ZERO)
        .await
        .unwrap();
    rig.run_day(&rig.sweep(), 14).await;
    let refreshes = rig.calls(Provider::X, EndpointKind::Refresh).await;
    assert_eq!(refreshes.len(), 2);
    assert_eq!(refreshes[1].status, 200, "the chain is intact");
    let stored = rig.account(&team, &x.id).await;
    assert_eq!(stored.last_refreshed_at, Some(at_day(14)));
}

#[tokio::test]
async fn poison_items_are_skipped_and_counted_and_the_rest_is_done() {
    let rig = Rig::new().await;
    let team = rig.team("mixed", &["ana"], LEADS).await;
    let ana = rig.member("mixed", "ana");
    let good = rig.connect_named(Provider::Facebook, &team, "good").await;
    let also_good = rig
        .connect_named(Provider::Facebook, &team, "also-good")
        .await;
    // An item that does not read back as an account, in the due index.
    let mut malformed = rig.raw_account(&good).await;
    malformed.insert(
        "sk".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT#bad-item".into()),
    );
    malformed.insert(
        "account_id".into(),
        aws_sdk_dynamodb::types::AttributeValue::S("bad-item".into()),
    );
    malformed.remove("display_name");
    rig.dynamo
        .put_item()
        .table_name(&rig.table)
        .set_item(Some(malformed))
        .send()
        .await
        .unwrap();
    // An account holding a ciphertext moved from another row: it does not open.
    let (grant, remote) = rig.grant(Provider::Facebook).await;
    let mut moved = rig.build(Provider::Facebook, &team, "moved", &grant, &remote[0]);
    moved.tokens = good.tokens.clone();
    let moved = rig.store.create_account(&moved).await.unwrap();
    let sweep = rig.sweep();

    let report = rig.run_day(&sweep, 46).await;

    assert_eq!(report.skipped_poison, 2, "{report:?}");
    assert_eq!(report.checked, 2, "{report:?}");
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1);
    let mut expected = vec![(id(&good), expiring(14)), (id(&also_good), expiring(14))];
    expected.sort();
    assert_eq!(mails[0].entries(), expected);
    let untouched = rig.account(&team, &moved.id).await;
    assert_eq!(untouched.version, moved.version, "left as it was");

    let report = rig.run_day(&sweep, 47).await;
    assert_eq!(
        (report.skipped_poison, report.checked),
        (2, 0),
        "{report:?}"
    );
    assert_eq!(rig.mails_to(&ana).await.len(), 1);
}
