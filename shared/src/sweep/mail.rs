//! The mail phase: one digest per recipient per team, from the ledger's pending entries.

use chrono::Duration;

use super::{Budget, Report, Sweep, SweepError};
use crate::domain::{Milestone, NotificationPrefs, TeamId};
use crate::mail::digest::{self, DigestEntry};
use crate::mail::MailError;
use crate::store::{LeaseKey, LedgerEntry, MailState};

/// How long one team's mail lease lasts (two invocations never mail one team at once).
const MAIL_LEASE: Duration = Duration::minutes(10);

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
            self.mail_team_leased(&team, &mut report).await?;
            if report.mail_stopped || report.mail_throttled {
                break;
            }
        }
        Ok(report)
    }

    /// Sends one team's digests now, outside the nightly run: a breakage found during the
    /// day (a confirmed failure report) is mailed within minutes, through the same ledger,
    /// so the nightly digest does not repeat it. `incomplete` when another invocation is
    /// mailing the team at this moment (the task is handed out again).
    pub async fn mail_team_now(&self, team: &TeamId) -> Result<Report, SweepError> {
        let mut report = Report::default();
        if !self.mail_team_leased(team, &mut report).await? {
            report.incomplete = true;
        }
        Ok(report)
    }

    /// One team's digests under the team's mail lease (two invocations never mail one
    /// team at once). `false`: another holder has the lease.
    async fn mail_team_leased(
        &self,
        team: &TeamId,
        report: &mut Report,
    ) -> Result<bool, SweepError> {
        let key = LeaseKey::Run(format!("mail#{team}"));
        if !self
            .leases
            .acquire(&key, &self.config.holder, self.clock.now(), MAIL_LEASE)
            .await?
        {
            return Ok(false);
        }
        let result = self.mail_team(team, report).await;
        if let Err(e) = self.leases.release(&key, &self.config.holder).await {
            tracing::warn!(team = %team, error = %e, "mail lease not released");
        }
        result.map(|()| true)
    }

    async fn mail_team(&self, team: &TeamId, report: &mut Report) -> Result<(), SweepError> {
        let now = self.clock.now();
        let prefs = self
            .prefs
            .get_prefs(team)
            .await?
            .unwrap_or_else(|| NotificationPrefs::defaults(team.clone()));
        let mut pending = Vec::new();
        for entry in self.ledger.pending_for_team(team).await? {
            let skip = if !prefs.enabled {
                Some("mail is turned off for the team")
            } else if prefs.recipients.is_empty() {
                Some("the team has no recipients")
            } else if !event_wanted(&prefs, entry.milestone) {
                Some("the team does not mail this event")
            } else {
                None
            };
            match skip {
                Some(why) => self.close(&entry, MailState::Failed, Some(why)).await?,
                None => pending.push(entry),
            }
        }

        // What each entry says, read once.
        let mut lines: Vec<(LedgerEntry, DigestEntry)> = Vec::new();
        for entry in pending {
            match self.accounts.get_account(team, &entry.account).await? {
                None => {
                    self.close(&entry, MailState::Failed, Some("the account was removed"))
                        .await?
                }
                Some(account) => {
                    let line = DigestEntry {
                        account: account.id.clone(),
                        provider: account.provider,
                        display_name: account.display_name.clone(),
                        milestone: entry.milestone,
                        reason: account.broken.and_then(|b| b.reason),
                        reconnect_by: account.reconnect_by(),
                    };
                    lines.push((entry, line));
                }
            }
        }
        if lines.is_empty() {
            return Ok(());
        }

        // Which entries reached someone (now or in an earlier, cut-short run), and the last
        // refusal: an entry nobody received is closed as failed with the refusal.
        let mut delivered: Vec<bool> = lines.iter().map(|(e, _)| !e.sent_to.is_empty()).collect();
        let mut refusal: Option<String> = None;
        for recipient in &prefs.recipients {
            let todo: Vec<usize> = (0..lines.len())
                .filter(|i| !lines[*i].0.sent_to.contains(&recipient.user_id))
                .collect();
            if todo.is_empty() {
                continue;
            }
            let digest_lines: Vec<DigestEntry> = todo.iter().map(|i| lines[*i].1.clone()).collect();
            let email = digest::render(recipient, &digest_lines, &self.config.frontend_url);
            let mut sent = self.mailer.send(&email).await;
            if matches!(sent, Err(MailError::Throttled)) {
                tokio::time::sleep(self.config.throttle_pause).await;
                sent = self.mailer.send(&email).await;
            }
            match sent {
                Ok(message_id) => {
                    tracing::info!(team = %team, user = %recipient.user_id, entries = todo.len(), message_id = %message_id, "digest sent");
                    report.mails_sent += 1;
                    for i in &todo {
                        delivered[*i] = true;
                    }
                }
                Err(MailError::Rejected(why)) => {
                    // Never accepted for this address: recorded, not retried.
                    tracing::warn!(team = %team, user = %recipient.user_id, why = %why, "digest rejected");
                    report.mails_rejected += 1;
                    refusal = Some(why);
                }
                Err(MailError::Throttled) => {
                    tracing::warn!(team = %team, "mail throttled; the rest stays pending for the next run");
                    report.mail_throttled = true;
                    return Ok(());
                }
                Err(MailError::SendingStopped(why)) => {
                    tracing::error!(team = %team, why = %why, alarm = "mail_sending_stopped",
                        "the mail account cannot send; mail phase ended");
                    report.mail_stopped = true;
                    return Ok(());
                }
                Err(e @ MailError::Transient(_)) => {
                    tracing::warn!(team = %team, error = %e, cause = ?std::error::Error::source(&e), "digest not sent; stays pending");
                    return Ok(());
                }
            }
            for (entry, _) in todo.iter().map(|i| &lines[*i]) {
                self.ledger
                    .add_recipient(
                        team,
                        &entry.account,
                        entry.milestone,
                        &recipient.user_id,
                        now,
                    )
                    .await?;
            }
        }
        // Every recipient has had it (or refused it for good): the entries are done.
        for ((entry, _), delivered) in lines.iter().zip(delivered) {
            match (&refusal, delivered) {
                (Some(why), false) => {
                    let detail = format!("rejected for every recipient: {why}");
                    self.close(entry, MailState::Failed, Some(&detail)).await?
                }
                _ => self.close(entry, MailState::Sent, None).await?,
            }
        }
        Ok(())
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
