//! One due account: refresh or check it by its network's rules, map the outcome to the
//! token column, record milestones, and schedule the next look.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::{RunCtx, Sweep, SweepError, Tally};
use crate::domain::{
    Account, AccountId, Cause, HistoryEntry, Milestone, NotificationPrefs, Reason, Reported,
    SchedulePolicy, StateAt, Status, TeamId, Transition, Verdict,
};
use crate::providers::TokenCheck;
use crate::refresh::{open_tokens, OpenTokens, RefreshError, RefreshPolicy, Refreshed, Refresher};
use crate::store::{DueItem, LeaseKey, LedgerEntry, StoreError};

/// What happened to one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Looked at and written back (or found already handled by someone else).
    Done,
    /// Another holder has its lease: left alone.
    Busy,
    /// Its tokens do not open or it cannot be read: skipped, counted, logged.
    Poison,
}

/// Team preferences read once per run.
#[derive(Default)]
pub(super) struct PrefsCache(Mutex<HashMap<TeamId, NotificationPrefs>>);

impl Sweep {
    /// Handles one item of the due index; what was skipped is counted in the tally.
    pub(super) async fn handle_due(&self, item: DueItem, ctx: &RunCtx) {
        let tally = &ctx.tally;
        let (team, id) = match item {
            DueItem::Malformed { key, what } => {
                tracing::warn!(key = %key, what = %what, "malformed item in the due index skipped");
                Tally::bump(&tally.poison);
                return;
            }
            DueItem::Account(a) => (a.team.clone(), a.id.clone()),
        };
        Tally::bump(&tally.seen);
        match self.handle_account(&team, &id, ctx).await {
            Ok(Handled::Done) => {}
            Ok(Handled::Busy) => Tally::bump(&tally.busy),
            Ok(Handled::Poison) => Tally::bump(&tally.poison),
            Err(e) => {
                tracing::error!(team = %team, account = %id, error = %e, cause = ?std::error::Error::source(&e),
                    "account not handled; it stays due for the next invocation");
            }
        }
    }

    /// Handles one account under its lease: no two refreshes of one account at once, from
    /// the sweep or anywhere else.
    pub(super) async fn handle_account(
        &self,
        team: &TeamId,
        id: &AccountId,
        ctx: &RunCtx,
    ) -> Result<Handled, SweepError> {
        let key = LeaseKey::Account(team.clone(), id.clone());
        let holder = &self.config.holder;
        if !self
            .leases
            .acquire(&key, holder, self.clock.now(), self.config.lease_ttl)
            .await?
        {
            return Ok(Handled::Busy);
        }
        let result = self.handle_leased(team, id, ctx).await;
        if let Err(e) = self.leases.release(&key, holder).await {
            // The lease runs out by itself; nothing is lost.
            tracing::warn!(team = %team, account = %id, error = %e, "lease not released");
        }
        result
    }

    async fn team_prefs(
        &self,
        team: &TeamId,
        cache: &PrefsCache,
    ) -> Result<NotificationPrefs, SweepError> {
        let mut map = cache.0.lock().await;
        if let Some(p) = map.get(team) {
            return Ok(p.clone());
        }
        let p = self
            .prefs
            .get_prefs(team)
            .await?
            .unwrap_or_else(|| NotificationPrefs::defaults(team.clone()));
        map.insert(team.clone(), p.clone());
        Ok(p)
    }

    /// Looks at one account under its lease: re-read, refreshed or checked when due, its
    /// failure and milestones recorded, written back with its next due time.
    async fn handle_leased(
        &self,
        team: &TeamId,
        id: &AccountId,
        ctx: &RunCtx,
    ) -> Result<Handled, SweepError> {
        let now = self.clock.now();
        // Re-read under the lease: another holder may have handled it already.
        let Some(account) = self.accounts.get_account(team, id).await? else {
            return Ok(Handled::Done);
        };
        if account.next_due_at.is_none_or(|t| t > now) {
            return Ok(Handled::Done);
        }
        let prefs = self.team_prefs(team, &ctx.prefs).await?;
        let policy = SchedulePolicy {
            lead_days: prefs.lead_days.clone(),
            ..self.config.policy.clone()
        };
        let tokens = match open_tokens(&self.keyring, &account) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(team = %team, account = %id, error = %e, "a token does not open; account skipped");
                return Ok(Handled::Poison);
            }
        };

        let cause = Cause::Sweep {
            run: self.config.holder.clone(),
        };
        let was_broken = account.broken.is_some();
        let probe = Probe::due(&account, &policy, now);
        let mut look = Look::new(team, id, account, now, cause);
        match probe {
            Some(Probe::Refresh) => {
                self.refresh_tokens(&mut look, &tokens, &policy, ctx)
                    .await?
            }
            Some(Probe::Check) => self.check_token(&mut look, &tokens, ctx).await,
            None => {}
        }
        look.apply_failure(&ctx.tally);
        self.record_milestones(&look, &prefs, was_broken, &ctx.tally)
            .await?;
        // The history notes each milestone once, whatever the team wants mailed.
        look.note_milestone(&policy.lead_days);
        self.write_back(look, &policy).await
    }

    /// Refreshes the account's tokens; a network's refusal is the look's failure, a store
    /// failure ends the look.
    async fn refresh_tokens(
        &self,
        look: &mut Look<'_>,
        tokens: &OpenTokens,
        policy: &SchedulePolicy,
        ctx: &RunCtx,
    ) -> Result<(), SweepError> {
        let refresh_policy = RefreshPolicy {
            schedule: policy.clone(),
            store_attempts: self.config.store_attempts,
        };
        let provider = look.account.provider;
        let refresher = Refresher {
            providers: &*self.providers,
            accounts: &*self.accounts,
            keyring: &self.keyring,
            policy: &refresh_policy,
            cause: &look.cause,
        };
        match refresher
            .refresh(look.account.clone(), tokens, look.now, ctx.limit(provider))
            .await
        {
            Ok(refreshed) => {
                look.refreshed(refreshed);
                Tally::bump(&ctx.tally.refreshed);
            }
            Err(RefreshError::Provider(e)) => {
                let (team, id) = (look.team, look.id);
                tracing::info!(team = %team, account = %id, provider = %provider, error = %e, "refresh failed");
                look.failure = Some((e.verdict(), e.code()));
            }
            Err(RefreshError::Store(e)) => return Err(e.into()),
        }
        Ok(())
    }

    /// Asks the network whether the access token still works.
    async fn check_token(&self, look: &mut Look<'_>, tokens: &OpenTokens, ctx: &RunCtx) {
        let checked = {
            let _permit = ctx.permit(look.account.provider).await;
            self.providers
                .check(look.account.provider, &tokens.access)
                .await
        };
        match checked {
            Ok(check) if check.valid => {
                look.check_passed(check);
                Tally::bump(&ctx.tally.checked);
            }
            Ok(_) => {
                look.failure = Some((
                    Verdict::Broken {
                        status: Status::Revoked,
                        reason: Reason::TokenInvalid,
                    },
                    None,
                ))
            }
            Err(e) => {
                let (team, id) = (look.team, look.id);
                tracing::info!(team = %team, account = %id, provider = %look.account.provider, error = %e, "validity check failed");
                look.failure = Some((e.verdict(), e.code()));
            }
        }
    }

    /// Writes a pending ledger entry for each milestone the team wants mailed.
    async fn record_milestones(
        &self,
        look: &Look<'_>,
        prefs: &NotificationPrefs,
        was_broken: bool,
        tally: &Tally,
    ) -> Result<(), SweepError> {
        let (team, id, now) = (look.team, look.id, look.now);
        for milestone in look
            .account
            .milestones_crossed(now, prefs, was_broken, look.recovered)
        {
            let mut entry = LedgerEntry::pending(team, id, milestone, now);
            if milestone == Milestone::Recovered {
                // "Connected again" goes only to the people who were told it broke.
                entry.audience = Some(self.ledger.told_broken(team, id).await?);
            }
            if self.ledger.record_pending(&entry).await? {
                Tally::bump(&tally.milestones);
            }
        }
        Ok(())
    }

    /// Writes the account back with its history and the time of its next look.
    async fn write_back(
        &self,
        mut look: Look<'_>,
        policy: &SchedulePolicy,
    ) -> Result<Handled, SweepError> {
        let now = look.now;
        look.account.next_due_at = look.account.next_look(now, policy, look.failure.is_some());
        look.account.updated_at = now;
        match self
            .accounts
            .update_account_with(&look.account, &look.history)
            .await
        {
            Ok(_) => Ok(Handled::Done),
            // Someone wrote the account meanwhile (a reconnect): theirs stands; the account
            // is looked at again when it is next due.
            Err(StoreError::Conflict) => Ok(Handled::Done),
            Err(e) => Err(e.into()),
        }
    }
}

/// What a look asks of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A refresh, which also proves the connection.
    Refresh,
    /// A validity check of the access token.
    Check,
}

impl Probe {
    /// What the account is due for now, if anything.
    fn due(account: &Account, policy: &SchedulePolicy, now: DateTime<Utc>) -> Option<Probe> {
        let was_broken = account.broken.is_some();
        // An account marked `refresh_failed` after days of outage is still tried each day:
        // the network coming back recovers it without anyone reconnecting.
        let retrying = account
            .broken
            .is_some_and(|b| b.reason == Some(Reason::RefreshFailed));
        let check_due =
            account.last_checked_at.unwrap_or(account.connected_at) + policy.check_every <= now;
        // A refresh grant proves the connection by itself, and an access token that simply
        // ran out (Google's hour) would fail introspection without being revoked: such
        // accounts are checked by refreshing.
        let refresh_is_the_check = account.tokens.refresh.is_some()
            && account.provider.spec().keep_alive.uses_refresh_token();
        if (was_broken && !retrying) || account.status(now) == Status::Expired {
            return None;
        }
        let refresh_due = account.refresh_due_at(policy).is_some_and(|t| t <= now);
        if refresh_due || (check_due && refresh_is_the_check) {
            Some(Probe::Refresh)
        } else if check_due {
            Some(Probe::Check)
        } else {
            None
        }
    }
}

/// A provider's failure: its verdict and the network's own error code.
type Failure = (Verdict, Option<String>);

/// One account as the sweep looks at it: what it was, what changed, what went wrong.
struct Look<'a> {
    team: &'a TeamId,
    id: &'a AccountId,
    now: DateTime<Utc>,
    cause: Cause,
    account: Account,
    /// The state the next history entry starts from.
    before: StateAt,
    history: Vec<HistoryEntry>,
    failure: Option<Failure>,
    /// A refresh or check brought a broken connection back.
    recovered: bool,
}

impl<'a> Look<'a> {
    fn new(
        team: &'a TeamId,
        id: &'a AccountId,
        account: Account,
        now: DateTime<Utc>,
        cause: Cause,
    ) -> Self {
        Self {
            team,
            id,
            now,
            cause,
            before: StateAt::of(&account, now),
            account,
            history: Vec::new(),
            failure: None,
            recovered: false,
        }
    }

    /// Takes the account a refresh stored; what follows is a change of it.
    fn refreshed(&mut self, refreshed: Refreshed) {
        if let Refreshed::Stored { transition, .. } = &refreshed {
            self.recovered = *transition == Some(Transition::Recovered);
        }
        self.account = refreshed.into_account();
        self.before = StateAt::of(&self.account, self.now);
    }

    /// Takes what a passed validity check reports, noting a change of state.
    fn check_passed(&mut self, check: TokenCheck) {
        let reported = Reported {
            expires_at: check.expires_at,
            data_access_expires_at: check.data_access_expires_at,
            scopes: check.scopes,
            grant_owner: check.grant_owner,
        };
        if let Some(t) = self.account.check_passed(reported, self.now) {
            self.recovered = t == Transition::Recovered;
            self.history.push(HistoryEntry::of_transition(
                t,
                self.before,
                &self.account,
                self.now,
                &self.cause,
            ));
        }
    }

    /// Applies the failure found, if any, to the account and counts it.
    fn apply_failure(&mut self, tally: &Tally) {
        let Some((verdict, code)) = self.failure.clone() else {
            return;
        };
        let transition = self.account.failed(verdict, self.now);
        if let Some(t) = transition {
            self.history.push(
                HistoryEntry::of_transition(t, self.before, &self.account, self.now, &self.cause)
                    .with_provider_error(code),
            );
        }
        if matches!(verdict, Verdict::Broken { .. }) {
            Tally::bump(&tally.broken);
        } else {
            Tally::bump(&tally.transient);
            // The streak ran out: refresh_failed.
            if matches!(transition, Some(Transition::Broken { .. })) {
                Tally::bump(&tally.broken);
            }
        }
    }

    /// Notes in the history the milestone the account crossed, if any.
    fn note_milestone(&mut self, lead_days: &[u32]) {
        if let Some(milestone) = self.account.note_milestone(self.now, lead_days) {
            self.history.extend(HistoryEntry::of_milestone(
                milestone,
                self.before,
                &self.account,
                self.now,
                &self.cause,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use crate::domain::SealedToken;
    use crate::domain::{
        Account, AccountId, Broken, EmailAddress, Failures, Milestone, NotificationPrefs, Provider,
        Reason, Recipient, SchedulePolicy, SealedTokens, Status, TeamId, UserId, RETRY_AFTER,
    };

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 3, 0, 0).unwrap()
    }

    /// A Facebook account connected at `t0` whose token ends 60 days later.
    fn page() -> Account {
        Account {
            team: TeamId::parse("team").unwrap(),
            id: AccountId::parse("acc").unwrap(),
            provider: Provider::Facebook,
            external_id: "ext".into(),
            display_name: "Shop".into(),
            picture_url: None,
            scopes: vec![],
            connected_by: UserId::parse("user").unwrap(),
            tokens: SealedTokens {
                access: SealedToken::from_stored("tw1.k.n.c".into()),
                refresh: None,
            },
            access_issued_at: t0(),
            access_expires_at: Some(t0() + Duration::days(60)),
            refresh_expires_at: None,
            data_access_expires_at: None,
            grant_owner: None,
            broken: None,
            failures: Failures::default(),
            last_checked_at: Some(t0()),
            last_refreshed_at: None,
            connected_at: t0(),
            updated_at: t0(),
            next_due_at: None,
            last_change: None,
            noted: None,
            version: 1,
        }
    }

    fn prefs() -> NotificationPrefs {
        NotificationPrefs {
            recipients: vec![Recipient::own(
                TeamId::parse("team").unwrap(),
                UserId::parse("ana").unwrap(),
                EmailAddress::parse("ana@example.com").unwrap(),
                "Ana",
                t0(),
            )],
            ..NotificationPrefs::defaults(TeamId::parse("team").unwrap())
        }
    }

    fn broken(status: Status) -> Option<Broken> {
        Some(Broken {
            status,
            reason: Some(Reason::PasswordChanged),
            since: t0(),
        })
    }

    #[test]
    fn milestones_follow_the_lead_days_and_the_teams_wishes() {
        let a = page();
        let at = |days: i64| t0() + Duration::days(days) + Duration::hours(1);
        assert_eq!(a.milestones_crossed(at(45), &prefs(), false, false), vec![]);
        assert_eq!(
            a.milestones_crossed(at(46), &prefs(), false, false),
            vec![Milestone::Expiring { days: 14 }]
        );
        assert_eq!(
            a.milestones_crossed(at(60), &prefs(), false, false),
            vec![Milestone::Expired]
        );

        let mut quiet = prefs();
        quiet.events.expiring = false;
        assert_eq!(a.milestones_crossed(at(46), &quiet, false, false), vec![]);
        let mut off = prefs();
        off.enabled = false;
        assert_eq!(a.milestones_crossed(at(60), &off, false, false), vec![]);
        let nobody = NotificationPrefs::defaults(a.team.clone());
        assert_eq!(a.milestones_crossed(at(60), &nobody, false, false), vec![]);
    }

    #[test]
    fn a_connection_found_broken_is_a_disconnected_milestone_once() {
        let mut a = page();
        a.broken = broken(Status::Revoked);
        assert_eq!(
            a.milestones_crossed(t0(), &prefs(), false, false),
            vec![Milestone::Disconnected]
        );
        assert_eq!(
            a.milestones_crossed(t0(), &prefs(), true, false),
            vec![],
            "already broken"
        );
        a.broken = broken(Status::Expired);
        assert_eq!(
            a.milestones_crossed(t0(), &prefs(), false, false),
            vec![Milestone::Expired]
        );
        let mut quiet = prefs();
        quiet.events.disconnected = false;
        a.broken = broken(Status::Revoked);
        assert_eq!(a.milestones_crossed(t0(), &quiet, false, false), vec![]);
    }

    #[test]
    fn a_refresh_failed_account_that_works_again_is_recovered() {
        let mut a = page();
        assert_eq!(
            a.milestones_crossed(t0(), &prefs(), true, true),
            vec![Milestone::Recovered]
        );
        let mut quiet = prefs();
        quiet.events.recovered = false;
        assert_eq!(a.milestones_crossed(t0(), &quiet, true, true), vec![]);
        // Still failing: retried the next day, never dropped from the index.
        a.broken = Some(Broken {
            status: Status::Revoked,
            reason: Some(Reason::RefreshFailed),
            since: t0(),
        });
        let now = t0() + Duration::days(3);
        assert_eq!(
            a.next_look(now, &SchedulePolicy::default(), true),
            Some(now + RETRY_AFTER)
        );
    }

    #[test]
    fn the_next_look_is_in_the_future_and_within_a_day_after_a_failure() {
        let policy = SchedulePolicy::default();
        let a = page();
        let now = t0() + Duration::days(1);
        assert_eq!(
            a.next_look(now, &policy, false),
            Some(t0() + Duration::days(7)),
            "the weekly check"
        );
        assert_eq!(
            a.next_look(now, &policy, true),
            Some(now + RETRY_AFTER),
            "a failure is retried the next day"
        );
        // Overdue: never a moment in the past, which would loop the sweep.
        let late = t0() + Duration::days(30);
        assert_eq!(a.next_look(late, &policy, false), Some(late + RETRY_AFTER));
        let mut dead = page();
        dead.broken = broken(Status::Revoked);
        assert_eq!(dead.next_look(now, &policy, true), None, "out of the index");
    }
}
