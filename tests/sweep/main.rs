//! The nightly expiry sweep end to end, over the wire: DynamoDB Local (a fresh table per
//! test), the provider fakes in-process (accounts hold tokens the fakes issued through
//! their OAuth flow), SES v2 through the real `SesMailer` to the SES stand-in (read back
//! from its store), SQS in moto for the fan-out. Time is a `ManualClock`: "65 days later"
//! is 65 runs, not a wait. Each test's recipients have addresses of their own, so tests
//! run in parallel on one SES stand-in.

#[allow(dead_code)]
#[path = "../sweep_support.rs"]
mod sweep_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use futures::{stream, StreamExt};
use provider_fakes::{EndpointKind, Fault};
use serde_json::{json, Value};
use sweep_support::{at_day, sqs_event, sqs_queue, take, HangsAfter, Rig, SesFault, SesProxy};
use tokenwarden::domain::{
    Account, Clock, EmailAddress, Failures, KeepAlive, Milestone, Provider, Reason, SchedulePolicy,
    Status, TeamId,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::mail::{Email, MailError, Mailer};
use tokenwarden::providers::ProviderClient;
use tokenwarden::seal::Keyring;
use tokenwarden::store::{AccountStore, PrefsStore};
use tokenwarden::sweep::invoke::{self, ShardQueue, ShardTask, SqsShardQueue};
use tokenwarden::sweep::{Budget, Report, Sweep};
use tokenwarden_integration::t0;
use tokenwarden_integration::FlakyAccounts;

const LEADS: &[u32] = &[14, 7, 3, 1];

impl Rig {
    /// Day `n`'s nightly run: the clock at [`at_day`], a run key of its own.
    async fn run_day(&self, sweep: &Sweep, n: i64) -> Report {
        self.clock.set(at_day(n));
        sweep
            .run_scheduled(&format!("sweep#day-{n}"), Budget::unlimited())
            .await
            .unwrap_or_else(|e| panic!("the run of day {n}: {e:?}"))
    }
}

fn expiring(days: u32) -> Milestone {
    Milestone::Expiring { days }
}

fn id(account: &Account) -> String {
    account.id.to_string()
}

/// The scheduled event EventBridge Scheduler sends for the run at `at`.
fn scheduled(at: chrono::DateTime<chrono::Utc>) -> Value {
    json!({ "scheduled_time": at.format("%Y-%m-%dT%H:%M:%SZ").to_string() })
}

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

fn failures_of(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .expect("a batchItemFailures list")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().expect("an id").to_owned())
        .collect()
}

// ---- 65 days, nine networks -----------------------------------------------------------------

#[tokio::test]
async fn every_network_through_65_days_only_tokens_that_cannot_be_renewed_are_warned_about_and_a_reconnect_stops_the_warnings(
) {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], LEADS).await;
    let ana = rig.member("shop", "ana");
    let mut accounts = BTreeMap::new();
    for provider in Provider::ALL {
        accounts.insert(provider, rig.connect(provider, &team).await);
    }
    let fb = id(&accounts[&Provider::Facebook]);
    let ig = id(&accounts[&Provider::Instagram]);
    let sweep = rig.sweep();

    let mut mails_by_day: BTreeMap<i64, Vec<(String, Milestone)>> = BTreeMap::new();
    let mut mails_seen = 0;
    for day in 1..=65 {
        if day == 54 {
            // Ana reconnects the Instagram account after its 7-day warning.
            rig.clock.set(at_day(54) - Duration::minutes(30));
            rig.reconnect(&accounts[&Provider::Instagram]).await;
        }
        let report = rig.run_day(&sweep, day).await;
        assert!(!report.duplicate_run, "day {day}");
        assert_eq!(
            (
                report.broken,
                report.transient_failures,
                report.skipped_poison
            ),
            (0, 0, 0),
            "day {day}: {report:?}"
        );
        let mails = rig.mails_to(&ana).await;
        assert!(mails.len() <= mails_seen + 1, "day {day}: one digest a run");
        for mail in &mails[mails_seen..] {
            mails_by_day.entry(day).or_default().extend(mail.entries());
        }
        mails_seen = mails.len();
    }

    let expected: BTreeMap<i64, Vec<(String, Milestone)>> = BTreeMap::from([
        (
            46,
            vec![(fb.clone(), expiring(14)), (ig.clone(), expiring(14))],
        ),
        (
            53,
            vec![(fb.clone(), expiring(7)), (ig.clone(), expiring(7))],
        ),
        (57, vec![(fb.clone(), expiring(3))]),
        (59, vec![(fb.clone(), expiring(1))]),
        (60, vec![(fb.clone(), Milestone::Expired)]),
    ])
    .into_iter()
    .map(|(day, mut entries)| {
        entries.sort();
        (day, entries)
    })
    .collect();
    assert_eq!(mails_by_day, expected);

    // The history lists every milestone in order, by the sweep, whatever was mailed.
    {
        use tokenwarden::domain::HistoryKind::{Expired, Expiring, Reconnected};
        use tokenwarden::store::HistoryStore;
        for (provider, account) in &accounts {
            let mut entries = rig
                .store
                .history(&team, &account.id, 100, None)
                .await
                .expect("history")
                .items;
            entries.reverse();
            let got: Vec<_> = entries.iter().map(|e| (e.kind, e.days_left)).collect();
            let want = match provider {
                Provider::Facebook => vec![
                    (Expiring, Some(14)),
                    (Expiring, Some(7)),
                    (Expiring, Some(3)),
                    (Expiring, Some(1)),
                    (Expired, None),
                ],
                Provider::Instagram => vec![
                    (Expiring, Some(14)),
                    (Expiring, Some(7)),
                    (Reconnected, None),
                ],
                _ => vec![],
            };
            assert_eq!(got, want, "{provider}");
            let at: Vec<_> = entries.iter().map(|e| e.at).collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{provider}: in order");
        }
    }

    let now = rig.clock.now();
    for (provider, connected) in &accounts {
        let account = rig.account(&team, &connected.id).await;
        let column = account.token_column(now);
        match provider {
            Provider::Facebook => {
                assert_eq!(column.status, Status::Expired);
                assert_eq!(account.next_due_at, None, "out of the due index");
            }
            Provider::Instagram => {
                assert_eq!(column.status, Status::Active, "reconnected");
                assert!(account
                    .reconnect_by()
                    .is_some_and(|by| by > now + Duration::days(40)));
            }
            _ => {
                assert!(column.auto_refresh, "{provider}");
                assert_eq!(column.status, Status::Active, "{provider}");
                assert_eq!(account.failures, Failures::default(), "{provider}");
            }
        }
    }

    // Kept alive by each network's rules, and only when due: the refresh-grant networks
    // weekly (their check), Instagram Login and Threads once, a week before the 60 days.
    let log = rig.log().await;
    for provider in Provider::ALL {
        let refreshes: Vec<_> = log
            .iter()
            .filter(|r| r.provider == Some(provider) && r.kind == Some(EndpointKind::Refresh))
            .collect();
        let expected = match provider.spec().keep_alive {
            KeepAlive::None => 0,
            KeepAlive::Exchange { .. } => 1,
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => 9,
        };
        assert_eq!(refreshes.len(), expected, "{provider}: refresh calls");
        assert!(refreshes.iter().all(|r| r.status == 200), "{provider}");
        if provider.spec().keep_alive == KeepAlive::RefreshGrantRotating {
            let presented: BTreeSet<_> = refreshes.iter().map(|r| &r.refresh_token).collect();
            assert_eq!(presented.len(), refreshes.len(), "{provider}: no replay");
            let stored = rig.refresh_token_of(&rig.account(&team, &accounts[&provider].id).await);
            assert!(
                !presented.contains(&Some(stored)),
                "{provider}: the newest token is the one kept"
            );
        }
    }
}

#[tokio::test]
async fn a_teams_own_lead_days_events_and_switch_decide_what_is_mailed() {
    let rig = Rig::new().await;
    let picky = rig.team("picky", &["ana"], &[10, 2]).await;
    let off = rig.team("off", &["bob"], LEADS).await;
    let mut prefs = rig.store.get_prefs(&picky).await.unwrap().unwrap();
    prefs.events.expired = false;
    rig.store.put_prefs(&prefs).await.unwrap();
    let mut prefs = rig.store.get_prefs(&off).await.unwrap().unwrap();
    prefs.enabled = false;
    rig.store.put_prefs(&prefs).await.unwrap();
    let page = rig.connect(Provider::Facebook, &picky).await;
    rig.connect(Provider::Facebook, &off).await;
    let sweep = rig.sweep();
    let ana = rig.member("picky", "ana");

    let mut by_day = BTreeMap::new();
    for day in 40..=62 {
        rig.run_day(&sweep, day).await;
        let count = rig.mails_to(&ana).await.len();
        if by_day.values().sum::<usize>() < count {
            by_day.insert(day, count - by_day.values().sum::<usize>());
        }
    }

    assert_eq!(
        by_day,
        BTreeMap::from([(50, 1), (58, 1)]),
        "10 and 2 days ahead only"
    );
    let entries: Vec<_> = rig
        .mails_to(&ana)
        .await
        .iter()
        .flat_map(|m| m.entries())
        .collect();
    assert_eq!(
        entries,
        vec![(id(&page), expiring(10)), (id(&page), expiring(2))]
    );
    assert!(rig.mails_to(&rig.member("off", "bob")).await.is_empty());
    assert!(rig.pending(&picky).await.is_empty());
    assert!(rig.pending(&off).await.is_empty());
}

// ---- dead tokens ----------------------------------------------------------------------------

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

// ---- transient failures ---------------------------------------------------------------------

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

// ---- rotating refresh tokens ----------------------------------------------------------------

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

// ---- mail: exactly once ---------------------------------------------------------------------

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

// ---- poison ---------------------------------------------------------------------------------

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

// ---- cost -----------------------------------------------------------------------------------

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

// ---- fan-out over SQS -----------------------------------------------------------------------

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

// ---- per-network limits ---------------------------------------------------------------------

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
        rig.providers.max_in_flight(Provider::X),
        1,
        "X one at a time"
    );
    assert!(
        rig.providers.max_in_flight(Provider::Google) >= 2,
        "unlimited networks overlap (the probe sees overlap when there is some)"
    );
    let refreshes = rig.calls(Provider::X, EndpointKind::Refresh).await;
    assert_eq!(refreshes.len(), 4);
    assert!(refreshes.iter().all(|r| r.status == 200));
}

// ---- the invocation's time ------------------------------------------------------------------

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

// ---- retiring a sealing key -------------------------------------------------------------------

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
