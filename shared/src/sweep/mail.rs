//! The mail phase: one digest per active recipient per team, from the ledger's pending
//! entries.
//!
//! Nothing is sent twice and nothing is lost, even when the run is killed:
//! - each digest is written as a *dispatch* before it is handed to SES, and tagged with the
//!   dispatch's id; SES's `Send` event for it (through `mail::feedback`) records its entries
//!   as received by its recipient, so a run killed between SES's answer and the ledger
//!   write leaves nothing to resend;
//! - a dispatch still unconfirmed after [`DISPATCH_GRACE`] was never accepted, and its
//!   entries go out again; while a younger one is unconfirmed, its recipient waits;
//! - a team whose mail cannot go out now (its lease held by a crashed run, a dispatch
//!   waiting for its event) is counted in the report as pending and, with a queue, handed
//!   to a mail task that tries again as soon as the lease allows.

use std::ops::ControlFlow;

use chrono::{DateTime, Duration, Utc};

use super::{Budget, Report, Sweep, SweepError};
use crate::domain::{Account, Milestone, NotificationPrefs, Recipient, TeamId};
use crate::mail::digest::{self, Digest, DigestEntry};
use crate::mail::recipients::{unsubscribe_headers, unsubscribe_url, QUOTA_DIGESTS};
use crate::mail::{Email, MailError, MailKind, MailTags, DISPATCH_HEADER};
use crate::store::{Dispatch, LeaseKey, LedgerEntry, MailState};

/// How long one team's mail lease lasts (two invocations never mail one team at once).
pub(super) const MAIL_LEASE: Duration = Duration::minutes(10);

/// How long an unconfirmed dispatch holds its recipient back: SES publishes the `Send`
/// event within seconds; one this late never comes (the send did not happen). Longer than
/// the mail lease, so the first run that may mail the team after a killed one still waits
/// for an event that is merely late.
pub const DISPATCH_GRACE: Duration = Duration::minutes(15);

/// How one team's mail ended in this invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    Done,
    /// Another invocation holds the team's mail lease (a crashed run's lasts 10 minutes).
    Leased,
    /// Try again soon (a dispatch waiting for its event).
    Waiting,
    /// The team's daily allowance is used up: the rest waits for tomorrow's runs.
    Capped,
    /// A fault (throttled, sending stopped, a transient error, the link not signed): the
    /// rest stays pending for the next invocation.
    Stop,
}

impl Sweep {
    /// Sends the digests of every team in `shard` that has pending entries, this run's or
    /// a crashed run's.
    pub(super) async fn mail_phase(
        &self,
        shard: u16,
        budget: Budget,
    ) -> Result<Report, SweepError> {
        let mut report = Report::default();
        for team in self.ledger.teams_with_pending(shard).await? {
            // Out of time: the rest stays pending for the next invocation or run.
            if budget.exhausted(0) {
                report.incomplete = true;
                break;
            }
            match self.mail_team_leased(&team, &mut report).await? {
                Left::Leased | Left::Waiting => {
                    self.mail_left_pending(&team, &mut report).await;
                }
                Left::Capped => report.mail_pending_teams += 1,
                Left::Done | Left::Stop => {}
            }
            if report.mail_stopped || report.mail_throttled {
                break;
            }
        }
        Ok(report)
    }

    /// Sends one team's digests now, outside the nightly run: a breakage found during the
    /// day (a confirmed failure report) is mailed within minutes, through the same ledger,
    /// so the nightly digest does not repeat it. `incomplete` when another invocation is
    /// mailing the team at this moment or a dispatch waits for its event, and no new mail
    /// task could be queued (the task is handed out again).
    pub async fn mail_team_now(&self, team: &TeamId) -> Result<Report, SweepError> {
        let mut report = Report::default();
        match self.mail_team_leased(team, &mut report).await? {
            // A new delayed task (the lease or the dispatch's grace ends within minutes),
            // rather than this one's redelivery after the queue's visibility timeout.
            Left::Leased | Left::Waiting => {
                if !self.mail_left_pending(team, &mut report).await {
                    report.incomplete = true;
                }
            }
            Left::Capped => report.mail_pending_teams += 1,
            // Handed out again by the queue.
            Left::Stop => report.incomplete = true,
            Left::Done => {}
        }
        Ok(report)
    }

    /// A team whose mail stays pending: said in the report (and so in the run's log line
    /// and metrics), and handed to a mail task when there is a queue. Returns whether a
    /// task was queued. The run itself goes on: without a queue the next invocation sends
    /// the team's mail.
    async fn mail_left_pending(&self, team: &TeamId, report: &mut Report) -> bool {
        report.mail_pending_teams += 1;
        tracing::warn!(team = %team, "the team's mail stays pending (its lease is held or a dispatch waits for its event)");
        match &self.mail_soon {
            Some(soon) => match soon.mail_team_soon(team).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(team = %team, error = %crate::error_chain::cause_chain(&e),
                        "no mail task queued; the next invocation sends it");
                    false
                }
            },
            None => false,
        }
    }

    /// One team's digests under the team's mail lease (two invocations never mail one
    /// team at once).
    async fn mail_team_leased(
        &self,
        team: &TeamId,
        report: &mut Report,
    ) -> Result<Left, SweepError> {
        let key = LeaseKey::Run(format!("mail#{team}"));
        if !self
            .leases
            .acquire(&key, &self.config.holder, self.clock.now(), MAIL_LEASE)
            .await?
        {
            return Ok(Left::Leased);
        }
        let result = self.mail_team(team, report).await;
        if let Err(e) = self.leases.release(&key, &self.config.holder).await {
            tracing::warn!(team = %team, error = %e, "mail lease not released");
        }
        result
    }

    /// One team's digests: its pending entries sifted, one digest to each recipient owed
    /// some, the entries closed once every recipient has had them.
    async fn mail_team(&self, team: &TeamId, report: &mut Report) -> Result<Left, SweepError> {
        let now = self.clock.now();
        let prefs = self
            .prefs
            .get_prefs(team)
            .await?
            .unwrap_or_else(|| NotificationPrefs::defaults(team.clone()));
        let active: Vec<&Recipient> = prefs.active_recipients().collect();
        let pending = self.entries_to_mail(team, &prefs, &active).await?;
        let lines = self.digest_lines(team, pending).await?;
        if lines.is_empty() {
            return Ok(Left::Done);
        }

        let dispatches = self.ledger.dispatches(team).await?;
        let mut mail = TeamMail::new(team, &prefs, now, lines, dispatches);
        for recipient in &active {
            if let ControlFlow::Break(left) =
                self.mail_recipient(&mut mail, recipient, report).await?
            {
                return Ok(left);
            }
        }
        if mail.waiting {
            return Ok(Left::Waiting);
        }
        self.close_mailed(mail).await?;
        Ok(Left::Done)
    }

    /// The team's pending entries that are to be mailed; the others are closed as failed,
    /// with the reason.
    async fn entries_to_mail(
        &self,
        team: &TeamId,
        prefs: &NotificationPrefs,
        active: &[&Recipient],
    ) -> Result<Vec<LedgerEntry>, SweepError> {
        let mut pending = Vec::new();
        for entry in self.ledger.pending_for_team(team).await? {
            match not_mailed_because(prefs, active, &entry) {
                Some(why) => self.close(&entry, MailState::Failed, Some(why)).await?,
                None => pending.push(entry),
            }
        }
        Ok(pending)
    }

    /// What each entry says, read once; an entry whose account was removed is closed as
    /// failed.
    async fn digest_lines(
        &self,
        team: &TeamId,
        pending: Vec<LedgerEntry>,
    ) -> Result<Vec<(LedgerEntry, DigestEntry)>, SweepError> {
        let mut lines = Vec::new();
        for entry in pending {
            match self.accounts.get_account(team, &entry.account).await? {
                None => {
                    self.close(&entry, MailState::Failed, Some("the account was removed"))
                        .await?
                }
                Some(account) => {
                    let line = digest_line(&account, entry.milestone);
                    lines.push((entry, line));
                }
            }
        }
        Ok(lines)
    }

    /// One recipient's digest of the entries owed to them: counted against the team's
    /// allowance, written as a dispatch, sent, and its entries marked as received.
    /// `Break` ends the team's mail for this invocation.
    async fn mail_recipient(
        &self,
        mail: &mut TeamMail<'_>,
        recipient: &Recipient,
        report: &mut Report,
    ) -> Result<ControlFlow<Left>, SweepError> {
        let (team, now) = (mail.team, mail.now);
        let todo = mail.owed_to(recipient);
        if todo.is_empty() {
            return Ok(ControlFlow::Continue(()));
        }
        if mail.in_flight(recipient, &todo) {
            mail.waiting = true;
            return Ok(ControlFlow::Continue(()));
        }
        if !self
            .prefs
            .take_quota(team, QUOTA_DIGESTS, self.mail.digests_per_day, now)
            .await?
        {
            tracing::warn!(team = %team, cap = self.mail.digests_per_day,
                "the team's daily mail allowance is used up; the rest stays pending for tomorrow");
            report.mail_capped = true;
            return Ok(ControlFlow::Break(Left::Capped));
        }
        let dispatch = mail.dispatch(recipient, &todo);
        let email = match self
            .digest_for(mail.prefs, recipient, &dispatch, &mail.lines, &todo)
            .await
        {
            Ok(email) => email,
            Err(e) => {
                tracing::warn!(team = %team, error = %crate::error_chain::cause_chain(&e),
                    "the unsubscribe link could not be signed; the digest stays pending");
                return Ok(ControlFlow::Break(Left::Stop));
            }
        };
        self.ledger.open_dispatch(&dispatch).await?;
        let sent = self.send_digest(&email).await;
        let accepted = match mail.take_answer(sent, recipient, &dispatch, &todo, report) {
            ControlFlow::Continue(accepted) => accepted,
            ControlFlow::Break(left) => return Ok(ControlFlow::Break(left)),
        };
        // A refused digest reached nobody: its recipient is not recorded (and so is not
        // told "connected again" of a breakage never heard of).
        if accepted {
            for (entry, _) in todo.iter().map(|i| &mail.lines[*i]) {
                self.ledger
                    .add_recipient(team, &entry.account, entry.milestone, &recipient.id, now)
                    .await?;
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// Hands a digest to the mailer, with one more try after a pause when it is throttled.
    async fn send_digest(&self, email: &Email) -> Result<String, MailError> {
        let mut sent = self.mailer.send(email).await;
        if matches!(sent, Err(MailError::Throttled)) {
            tokio::time::sleep(self.config.throttle_pause).await;
            sent = self.mailer.send(email).await;
        }
        sent
    }

    /// Every recipient has had the entries (or refused them for good): they are done, as
    /// failed when nobody received one and a recipient refused.
    async fn close_mailed(&self, mail: TeamMail<'_>) -> Result<(), SweepError> {
        for ((entry, _), delivered) in mail.lines.iter().zip(mail.delivered) {
            match (&mail.refusal, delivered) {
                (Some(why), false) => {
                    let detail = format!("rejected for every recipient: {why}");
                    self.close(entry, MailState::Failed, Some(&detail)).await?
                }
                _ => self.close(entry, MailState::Sent, None).await?,
            }
        }
        Ok(())
    }

    /// The digest of `todo`'s entries for one recipient, with its unsubscribe link and
    /// headers, tagged with the dispatch.
    async fn digest_for(
        &self,
        prefs: &NotificationPrefs,
        recipient: &Recipient,
        dispatch: &Dispatch,
        lines: &[(LedgerEntry, DigestEntry)],
        todo: &[usize],
    ) -> Result<Email, crate::mail::links::LinkError> {
        let unsubscribe =
            unsubscribe_url(self.signer.as_ref(), &self.mail, &prefs.team, &recipient.id).await?;
        let entries: Vec<DigestEntry> = todo.iter().map(|i| lines[*i].1.clone()).collect();
        let rendered = digest::render(
            &Digest {
                branding: &self.mail.branding,
                team_name: prefs.display_team_name(),
                recipient_name: &recipient.name,
                time_zone: prefs.time_zone,
                now: self.clock.now(),
                frontend: &self.mail.frontend_url,
                preferences: &self.mail.frontend_url,
                unsubscribe: &unsubscribe,
            },
            &entries,
        );
        Ok(Email {
            to: recipient.email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            headers: {
                let mut headers = unsubscribe_headers(&unsubscribe);
                headers.push((DISPATCH_HEADER.to_owned(), dispatch.id.clone()));
                headers
            },
            tags: MailTags {
                kind: MailKind::Digest,
                team: prefs.team.clone(),
                recipient: recipient.id.clone(),
                dispatch: Some(dispatch.id.clone()),
            },
        })
    }

    async fn close(
        &self,
        entry: &LedgerEntry,
        state: MailState,
        detail: Option<&str>,
    ) -> Result<(), SweepError> {
        self.ledger
            .mark(
                &entry.team,
                &entry.account,
                entry.milestone,
                state,
                detail,
                self.clock.now(),
            )
            .await?;
        Ok(())
    }
}

fn event_wanted(prefs: &NotificationPrefs, milestone: Milestone) -> bool {
    match milestone {
        Milestone::Expiring { .. } => prefs.events.expiring,
        Milestone::Expired => prefs.events.expired,
        Milestone::Disconnected => prefs.events.disconnected,
        Milestone::Recovered => prefs.events.recovered,
    }
}

/// Why a pending entry is not mailed at all, if it is not.
fn not_mailed_because(
    prefs: &NotificationPrefs,
    active: &[&Recipient],
    entry: &LedgerEntry,
) -> Option<&'static str> {
    if !prefs.enabled {
        Some("mail is turned off for the team")
    } else if active.is_empty() {
        Some("the team has no active recipients")
    } else if !event_wanted(prefs, entry.milestone) {
        Some("the team does not mail this event")
    } else if !active.iter().any(|r| entry.owed_to(&r.id)) && entry.sent_to.is_empty() {
        Some("nobody on the list was told it broke")
    } else {
        None
    }
}

/// The digest's line for one entry about `account`.
fn digest_line(account: &Account, milestone: Milestone) -> DigestEntry {
    DigestEntry {
        account: account.id.clone(),
        provider: account.provider,
        display_name: account.display_name.clone(),
        milestone,
        reason: account.broken.and_then(|b| b.reason),
        reconnect_by: account.reconnect_by(),
        broken_since: account.broken.map(|b| b.since),
    }
}

/// One team's mail under way: its entries with their lines, its dispatches, and what
/// came of the digests so far.
struct TeamMail<'a> {
    team: &'a TeamId,
    prefs: &'a NotificationPrefs,
    now: DateTime<Utc>,
    lines: Vec<(LedgerEntry, DigestEntry)>,
    dispatches: Vec<Dispatch>,
    /// Which entries reached someone (now or in an earlier, cut-short run).
    delivered: Vec<bool>,
    /// The last refusal: an entry nobody received is closed as failed with it.
    refusal: Option<String>,
    /// A recipient waits for the event of a digest in flight.
    waiting: bool,
}

impl<'a> TeamMail<'a> {
    fn new(
        team: &'a TeamId,
        prefs: &'a NotificationPrefs,
        now: DateTime<Utc>,
        lines: Vec<(LedgerEntry, DigestEntry)>,
        dispatches: Vec<Dispatch>,
    ) -> Self {
        let delivered = lines.iter().map(|(e, _)| !e.sent_to.is_empty()).collect();
        Self {
            team,
            prefs,
            now,
            lines,
            dispatches,
            delivered,
            refusal: None,
            waiting: false,
        }
    }

    /// The entries (their places in `lines`) the recipient has not had yet.
    fn owed_to(&self, recipient: &Recipient) -> Vec<usize> {
        (0..self.lines.len())
            .filter(|i| self.lines[*i].0.owed_to(&recipient.id))
            .collect()
    }

    /// A digest handed to SES moments ago whose `Send` event has not come yet: it may well
    /// have gone out; wait for the event rather than risk a second copy.
    fn in_flight(&self, recipient: &Recipient, todo: &[usize]) -> bool {
        self.dispatches.iter().any(|d| {
            d.recipient == recipient.id
                && d.confirmed_at.is_none()
                && self.now - d.created_at < DISPATCH_GRACE
                && todo.iter().any(|i| {
                    let (e, _) = &self.lines[*i];
                    d.entries.contains(&(e.account.clone(), e.milestone))
                })
        })
    }

    /// A new dispatch of `todo`'s entries to the recipient.
    fn dispatch(&self, recipient: &Recipient, todo: &[usize]) -> Dispatch {
        Dispatch {
            team: self.team.clone(),
            id: uuid::Uuid::new_v4().simple().to_string(),
            recipient: recipient.id.clone(),
            entries: todo
                .iter()
                .map(|i| (self.lines[*i].0.account.clone(), self.lines[*i].0.milestone))
                .collect(),
            created_at: self.now,
            confirmed_at: None,
        }
    }

    /// Takes the mailer's answer for one digest into the report: `Continue(accepted)`, or
    /// `Break` when the team's mail ends for this invocation.
    fn take_answer(
        &mut self,
        sent: Result<String, MailError>,
        recipient: &Recipient,
        dispatch: &Dispatch,
        todo: &[usize],
        report: &mut Report,
    ) -> ControlFlow<Left, bool> {
        let team = self.team;
        match sent {
            Ok(message_id) => {
                tracing::info!(team = %team, recipient = %recipient.id, dispatch = %dispatch.id,
                    entries = todo.len(), message_id = %message_id, "digest sent");
                report.mails_sent += 1;
                for i in todo {
                    self.delivered[*i] = true;
                }
                ControlFlow::Continue(true)
            }
            Err(MailError::Rejected(why)) => {
                // Never accepted for this address: recorded, not retried.
                tracing::warn!(team = %team, recipient = %recipient.id, why = %why, "digest rejected");
                report.mails_rejected += 1;
                self.refusal = Some(why);
                ControlFlow::Continue(false)
            }
            Err(MailError::Throttled) => {
                tracing::warn!(team = %team, "mail throttled; the rest stays pending for the next run");
                report.mail_throttled = true;
                ControlFlow::Break(Left::Stop)
            }
            Err(MailError::SendingStopped(why)) => {
                tracing::error!(team = %team, why = %why, alarm = "mail_sending_stopped",
                    "the mail account cannot send; mail phase ended");
                report.mail_stopped = true;
                ControlFlow::Break(Left::Stop)
            }
            Err(e @ MailError::Transient(_)) => {
                tracing::warn!(team = %team, error = %e, cause = ?std::error::Error::source(&e), "digest not sent; stays pending");
                ControlFlow::Break(Left::Stop)
            }
        }
    }
}
