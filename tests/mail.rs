//! Mail people can trust, end to end over the wire: who agreed to get the digests (their
//! own address, or a confirmed invitation), the one-click unsubscribe of RFC 8058, what
//! SES says back (sends, bounces, complaints, through the feedback function), and no
//! digest lost or sent twice when a run dies between SES's answer and the ledger write.
//! DynamoDB Local, KMS in moto (the links' HMAC key), the SES stand-in, the provider fakes;
//! the clock is a `ManualClock`.

#[allow(dead_code)]
mod sweep_support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::Duration;
use sweep_support::{at_day, ses_event, ses_event_for, DiesAfterSes, HangsAfter, Rig};
use tokenwarden::domain::{
    Clock, EmailAddress, Milestone, Provider, Recipient, RecipientId, RecipientState, TeamId,
    UserId,
};
use tokenwarden::mail::recipients::Asker;
use tokenwarden::mail::{MailKind, MailTags};
use tokenwarden::store::{LeaseKey, Leases, PrefsStore};
use tokenwarden::sweep::invoke::{MailSoon, QueueError};
use tokenwarden::sweep::{Budget, Report, Sweep};
use url::Url;

const LEADS: &[u32] = &[14, 7, 3, 1];

async fn run(sweep: &Sweep, key: &str) -> Report {
    sweep
        .run_scheduled(key, Budget::unlimited())
        .await
        .unwrap_or_else(|e| panic!("run {key}: {e:?}"))
}

/// The one link in `text` that starts with `prefix`.
fn link_in(text: &str, prefix: &str) -> Url {
    let found: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with(prefix))
        .collect();
    assert!(!found.is_empty(), "a {prefix} link in {text}");
    Url::parse(found[0].trim_end_matches(['.', ',', ')'])).expect("a link")
}

/// The same link with its token changed in one character of the MAC.
fn tampered(link: &Url) -> Url {
    let token = link
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .expect("a token");
    let mut chars: Vec<char> = token.chars().collect();
    let last = chars.len() - 2;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let mut url = link.clone();
    url.query_pairs_mut()
        .clear()
        .append_pair("token", &chars.into_iter().collect::<String>());
    url
}

#[tokio::test]
async fn an_address_added_by_another_member_gets_one_confirmation_mail_and_no_digest_until_it_confirms(
) {
    let rig = Rig::new().await;
    let team = rig.team("invite", &["ana"], LEADS).await;
    let page = rig.connect(Provider::Facebook, &team).await;
    let ana = rig.member("invite", "ana");
    let bo = rig.address("invite-bo");
    rig.clock.set(at_day(40));

    let asker = Asker {
        team: team.clone(),
        user: UserId::parse("ana").unwrap(),
        email: Some(ana.clone()),
    };
    let added = rig
        .recipients()
        .await
        .add(&asker, Some(bo.clone()), "Bo")
        .await
        .expect("bo invited");
    assert_eq!(added.state, RecipientState::Pending);

    let mails = rig.mails_to(&bo).await;
    assert_eq!(mails.len(), 1, "exactly one confirmation mail");
    assert!(mails[0].subject.contains("confirm"), "{}", mails[0].subject);
    assert!(mails[0].text.contains("ana"), "says who added them");
    let confirm = link_in(&mails[0].text, "https://api.example.com/mail/confirm?");
    assert!(mails[0]
        .html
        .contains(&confirm.as_str().replace('&', "&amp;")));

    // Opening the link shows a page and changes nothing (mail scanners open links).
    let (status, page_html) = rig.follow("GET", &confirm, "text/html").await;
    assert_eq!(status, 200);
    assert!(page_html.contains("<form method=\"post\""), "{page_html}");
    assert_eq!(
        rig.recipient(&team, &bo).await.unwrap().state,
        RecipientState::Pending
    );

    // The 14-day warning: Ana gets it, Bo (pending) does not.
    rig.clock.set(at_day(46));
    let report = run(&rig.sweep(), "day-46").await;
    assert_eq!(report.mails_sent, 1, "{report:?}");
    assert_eq!(rig.mails_to(&ana).await.len(), 1);
    assert_eq!(
        rig.mails_to(&bo).await.len(),
        1,
        "still only the confirmation"
    );

    // Confirmed: active; the link works once.
    let (status, body) = rig.follow("POST", &confirm, "application/json").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"state\":\"active\""), "{body}");
    assert_eq!(
        rig.recipient(&team, &bo).await.unwrap().state,
        RecipientState::Active
    );
    let (again, _) = rig.follow("POST", &confirm, "application/json").await;
    assert_eq!(again, 404, "a used link does nothing");

    // The 7-day warning reaches both.
    rig.clock.set(at_day(53));
    run(&rig.sweep(), "day-53").await;
    let bo_mails = rig.mails_to(&bo).await;
    assert_eq!(bo_mails.len(), 2);
    let digest = bo_mails
        .iter()
        .find(|m| !m.dispatched.is_empty())
        .expect("a digest to bo");
    assert_eq!(
        digest.entries(),
        vec![(page.id.to_string(), Milestone::Expiring { days: 7 })]
    );
}

#[tokio::test]
async fn a_forged_or_expired_confirm_link_changes_nothing() {
    let rig = Rig::new().await;
    let team = rig.team("forged", &["ana"], LEADS).await;
    let bo = rig.address("forged-bo");
    rig.clock.set(at_day(1));
    let asker = Asker {
        team: team.clone(),
        user: UserId::parse("ana").unwrap(),
        email: Some(rig.member("forged", "ana")),
    };
    rig.recipients()
        .await
        .add(&asker, Some(bo.clone()), "Bo")
        .await
        .expect("bo invited");
    let mail = &rig.mails_to(&bo).await[0];
    let confirm = link_in(&mail.text, "https://api.example.com/mail/confirm?");

    let (forged, body) = rig
        .follow("POST", &tampered(&confirm), "application/json")
        .await;
    assert_eq!(forged, 404, "{body}");
    assert!(
        !body.contains("forged"),
        "no team or recipient named to a wrong token: {body}"
    );
    let mut junk = confirm.clone();
    junk.query_pairs_mut()
        .clear()
        .append_pair("token", "not-a-token");
    assert_eq!(rig.follow("POST", &junk, "application/json").await.0, 400);
    let (page, html) = rig.follow("GET", &tampered(&confirm), "text/html").await;
    assert_eq!(page, 404);
    assert!(html.contains("This link does not work"), "{html}");

    // Eight days later the invitation (7 days) has expired.
    rig.clock.set(at_day(9));
    assert_eq!(
        rig.follow("POST", &confirm, "application/json").await.0,
        404
    );
    assert_eq!(
        rig.recipient(&team, &bo).await.unwrap().state,
        RecipientState::Pending
    );
}

#[tokio::test]
async fn the_unsubscribe_post_stops_that_recipients_mail_for_that_team_only() {
    let rig = Rig::new().await;
    let alpha = rig.team("alpha", &["ana"], LEADS).await;
    let ana = rig.member("alpha", "ana");
    // Ana is a recipient of a second team too, with the same address.
    let beta = rig.team("beta", &[], LEADS).await;
    rig.store
        .save_recipient(
            &Recipient::own(
                beta.clone(),
                UserId::parse("ana").unwrap(),
                ana.clone(),
                "Ana",
                rig.clock.now(),
            ),
            None,
        )
        .await
        .unwrap();
    rig.connect(Provider::Facebook, &alpha).await;
    rig.connect(Provider::Facebook, &beta).await;

    rig.clock.set(at_day(46));
    run(&rig.sweep(), "day-46").await;
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 2, "one digest per team");
    let of_alpha = mails
        .iter()
        .find(|m| m.subject.contains("alpha-"))
        .expect("alpha's digest");
    assert_eq!(
        of_alpha.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    let unsubscribe = of_alpha.unsubscribe_link();

    // The page shows a button and changes nothing.
    let (status, html) = rig.follow("GET", &unsubscribe, "text/html").await;
    assert_eq!(status, 200);
    assert!(html.contains("Unsubscribe</button>"), "{html}");
    assert_eq!(
        rig.recipient(&alpha, &ana).await.unwrap().state,
        RecipientState::Active
    );

    // A tampered token: 404, nothing changed.
    assert_eq!(
        rig.follow("POST", &tampered(&unsubscribe), "*/*").await.0,
        404
    );
    assert_eq!(
        rig.recipient(&alpha, &ana).await.unwrap().state,
        RecipientState::Active
    );

    // The mail client's one-click POST; again: harmless.
    for _ in 0..2 {
        let (status, body) = rig.follow("POST", &unsubscribe, "*/*").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"state\":\"unsubscribed\""), "{body}");
    }
    assert_eq!(
        rig.recipient(&alpha, &ana).await.unwrap().state,
        RecipientState::Unsubscribed
    );
    assert_eq!(
        rig.recipient(&beta, &ana).await.unwrap().state,
        RecipientState::Active
    );

    // Another member cannot sign her up again; she can.
    let bob = Asker {
        team: alpha.clone(),
        user: UserId::parse("bob").unwrap(),
        email: Some(rig.address("alpha-bob")),
    };
    assert!(rig
        .recipients()
        .await
        .add(&bob, Some(ana.clone()), "Ana")
        .await
        .is_err());

    rig.clock.set(at_day(53));
    run(&rig.sweep(), "day-53").await;
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 3, "only beta's 7-day digest came");
    assert!(
        mails
            .iter()
            .filter(|m| m.subject.contains("alpha-"))
            .count()
            == 1
    );
}

#[tokio::test]
async fn a_hard_bounce_marks_the_recipient_bounced_a_complaint_complained_and_neither_is_mailed_again(
) {
    let rig = Rig::new().await;
    let team = rig.team("fb", &["ana", "bob", "cy"], LEADS).await;
    rig.connect(Provider::Facebook, &team).await;
    let (ana, bob, cy) = (
        rig.member("fb", "ana"),
        rig.member("fb", "bob"),
        rig.member("fb", "cy"),
    );
    rig.clock.set(at_day(46));
    run(&rig.sweep(), "day-46").await;
    let tags = |who: &EmailAddress| MailTags {
        kind: MailKind::Digest,
        team: team.clone(),
        recipient: RecipientId::of(who),
        dispatch: None,
    };
    let failed = rig
        .feed(&[
            ses_event_for("bounce-permanent.json", &ana, &tags(&ana), "m-ana"),
            ses_event_for("complaint.json", &bob, &tags(&bob), "m-bob"),
            ses_event_for("bounce-transient.json", &cy, &tags(&cy), "m-cy"),
            "not an event".to_owned(),
        ])
        .await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        rig.recipient(&team, &ana).await.unwrap().state,
        RecipientState::Bounced
    );
    assert_eq!(
        rig.recipient(&team, &bob).await.unwrap().state,
        RecipientState::Complained
    );
    assert_eq!(
        rig.recipient(&team, &cy).await.unwrap().state,
        RecipientState::Active,
        "a soft bounce changes nothing"
    );
    // The team sees it.
    let prefs = rig.store.get_prefs(&team).await.unwrap().unwrap();
    let states: Vec<_> = prefs.recipients.iter().map(|r| r.state).collect();
    assert!(
        states.contains(&RecipientState::Bounced) && states.contains(&RecipientState::Complained)
    );

    rig.clock.set(at_day(53));
    run(&rig.sweep(), "day-53").await;
    assert_eq!(
        rig.mails_to(&ana).await.len(),
        1,
        "no more mail to a bounced address"
    );
    assert_eq!(
        rig.mails_to(&bob).await.len(),
        1,
        "no more mail to a complainer"
    );
    assert_eq!(rig.mails_to(&cy).await.len(), 2);
}

#[tokio::test]
async fn a_mail_phase_killed_between_ses_accepting_a_digest_and_the_ledger_write_resends_nothing_ses_sent(
) {
    let rig = Rig::new().await;
    let team = rig.team("kill", &["ana", "bob"], LEADS).await;
    let page = rig.connect(Provider::Facebook, &team).await;
    let (ana, bob) = (rig.member("kill", "ana"), rig.member("kill", "bob"));
    rig.clock.set(at_day(46));

    // SES accepts the first digest; the process dies before the ledger hears of it.
    let dies = Arc::new(DiesAfterSes::new(rig.mailer_on(rig.ses.clone()), 0));
    let killed = rig.sweep_with(rig.config(), Arc::new(rig.store.clone()), dies.clone());
    let task = tokio::spawn(async move { run(&killed, "day-46").await });
    tokio::time::timeout(std::time::Duration::from_secs(60), dies.died.notified())
        .await
        .expect("the run got to SES");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let accepted = dies.accepted();
    assert_eq!(accepted.len(), 1);
    let first = accepted[0].0.to.clone();
    let second = if first == ana {
        bob.clone()
    } else {
        ana.clone()
    };

    // The first rerun that may mail the team (the killed run's mail lease has run out),
    // before SES's event came: the one in flight waits for it, the other goes.
    rig.clock.set(at_day(46) + Duration::minutes(11));
    let report = run(&rig.sweep(), "rerun-1").await;
    assert_eq!(report.mails_sent, 1, "{report:?}");
    assert_eq!(report.mail_pending_teams, 1, "{report:?}");
    assert_eq!(rig.mails_to(&first).await.len(), 1);
    assert_eq!(rig.mails_to(&second).await.len(), 1);

    // SES's Send event for the accepted digest arrives; the next run sends nothing more.
    let (email, message_id) = &accepted[0];
    assert!(rig
        .feed(&[ses_event("sent.json", email, message_id)])
        .await
        .is_empty());
    rig.clock.set(at_day(46) + Duration::minutes(30));
    let report = run(&rig.sweep(), "rerun-2").await;
    assert_eq!(report.mails_sent, 0, "{report:?}");
    assert_eq!(report.mail_pending_teams, 0, "{report:?}");
    for who in [&ana, &bob] {
        let mails = rig.mails_to(who).await;
        assert_eq!(mails.len(), 1, "{who}: 0 duplicates");
        assert_eq!(
            mails[0].entries(),
            vec![(page.id.to_string(), Milestone::Expiring { days: 14 })]
        );
    }
    assert!(rig.pending(&team).await.is_empty(), "every entry closed");
}

#[tokio::test]
async fn a_digest_ses_never_accepted_goes_out_once_its_dispatch_outlives_the_grace_period() {
    let rig = Rig::new().await;
    let team = rig.team("lost", &["ana"], LEADS).await;
    rig.connect(Provider::Facebook, &team).await;
    let ana = rig.member("lost", "ana");
    rig.clock.set(at_day(46));
    // Dies on the way to SES: the dispatch is written, SES never sees the mail.
    let hangs = Arc::new(HangsAfter::new(rig.mailer_on(rig.ses.clone()), 0));
    let killed = rig.sweep_with(rig.config(), Arc::new(rig.store.clone()), hangs.clone());
    let task = tokio::spawn(async move { run(&killed, "day-46").await });
    tokio::time::timeout(std::time::Duration::from_secs(60), hangs.hung.notified())
        .await
        .expect("the run got to the send");
    task.abort();
    let _ = task.await;

    rig.clock.set(at_day(46) + Duration::minutes(11));
    let report = run(&rig.sweep(), "rerun-1").await;
    assert_eq!(
        (report.mails_sent, report.mail_pending_teams),
        (0, 1),
        "{report:?}"
    );
    assert!(rig.mails_to(&ana).await.is_empty());

    // No Send event ever came: past the grace period the digest goes out, once.
    rig.clock.set(at_day(46) + Duration::minutes(16));
    let report = run(&rig.sweep(), "rerun-2").await;
    assert_eq!(report.mails_sent, 1, "{report:?}");
    run(&rig.sweep(), "rerun-3").await;
    assert_eq!(rig.mails_to(&ana).await.len(), 1, "0 lost, 0 duplicates");
}

/// Records the teams handed to a mail task.
#[derive(Default)]
struct RecordedMailTasks(Mutex<Vec<TeamId>>);

#[async_trait]
impl MailSoon for RecordedMailTasks {
    async fn mail_team_soon(&self, team: &TeamId) -> Result<(), QueueError> {
        self.0.lock().unwrap().push(team.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_team_whose_mail_lease_a_crashed_run_holds_is_reported_pending_and_mailed_when_the_lease_ends(
) {
    let rig = Rig::new().await;
    let team = rig.team("leased", &["ana"], LEADS).await;
    rig.connect(Provider::Facebook, &team).await;
    let ana = rig.member("leased", "ana");
    rig.clock.set(at_day(46));
    // A run killed mid-team left the team's mail lease held.
    assert!(rig
        .store
        .acquire(
            &LeaseKey::Run(format!("mail#{team}")),
            "crashed-run",
            rig.clock.now(),
            Duration::minutes(10),
        )
        .await
        .unwrap());

    let report = run(&rig.sweep(), "day-46").await;
    assert_eq!(
        report.mail_pending_teams, 1,
        "the run says it left mail pending: {report:?}"
    );
    assert!(
        !report.incomplete,
        "one team's held lease does not stop the run's other shards: {report:?}"
    );
    assert!(rig.mails_to(&ana).await.is_empty());

    // With a queue, the team is handed to a mail task instead.
    let tasks = Arc::new(RecordedMailTasks::default());
    let mut sweep = rig.sweep();
    sweep.mail_soon = Some(tasks.clone());
    let report = run(&sweep, "day-46-again").await;
    assert_eq!(report.mail_pending_teams, 1);
    assert_eq!(*tasks.0.lock().unwrap(), vec![team.clone()]);

    // The task, once the lease has run out: the digest goes out.
    rig.clock.set(at_day(46) + Duration::minutes(11));
    let report = sweep.mail_team_now(&team).await.unwrap();
    assert_eq!(
        (report.mails_sent, report.incomplete),
        (1, false),
        "{report:?}"
    );
    assert_eq!(rig.mails_to(&ana).await.len(), 1);
}

#[tokio::test]
async fn a_team_over_its_daily_digest_allowance_waits_for_the_next_day_without_mail_tasks() {
    let rig = Rig::new().await;
    let team = rig.team("capped", &["ana", "bob"], LEADS).await;
    rig.connect(Provider::Facebook, &team).await;
    let (ana, bob) = (rig.member("capped", "ana"), rig.member("capped", "bob"));
    let tasks = Arc::new(RecordedMailTasks::default());
    let mut sweep = rig.sweep();
    let mut settings = tokenwarden_integration::mail_settings();
    settings.digests_per_day = 1;
    sweep.mail = Arc::new(settings);
    sweep.mail_soon = Some(tasks.clone());

    rig.clock.set(at_day(46));
    let report = run(&sweep, "day-46").await;
    assert_eq!(
        (
            report.mails_sent,
            report.mail_pending_teams,
            report.mail_capped
        ),
        (1, 1, true),
        "{report:?}"
    );
    assert!(
        tasks.0.lock().unwrap().is_empty(),
        "no mail task: the allowance is back tomorrow"
    );
    assert_eq!(
        rig.mails_to(&ana).await.len() + rig.mails_to(&bob).await.len(),
        1
    );

    // The next day the other recipient gets the 14-day warning, once.
    rig.clock.set(at_day(47));
    let report = run(&sweep, "day-47").await;
    assert_eq!(report.mails_sent, 1, "{report:?}");
    assert_eq!(
        (
            rig.mails_to(&ana).await.len(),
            rig.mails_to(&bob).await.len()
        ),
        (1, 1)
    );
    assert!(rig.pending(&team).await.is_empty());
}
