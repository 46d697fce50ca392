//! Refreshing one account and keeping what the network handed back: the one
//! implementation the nightly sweep and the credentials function share.
//!
//! The caller holds the account's lease (no two refreshes of one account at once, from
//! anywhere). A rotated token pair is written the moment it arrives, before anything else
//! is computed, and the write is retried hard: for a network that rotates refresh tokens
//! the old one is already dead, so a lost write would lose the connection.

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::domain::Secret;
use crate::domain::{Account, Cause, HistoryEntry, SchedulePolicy, StateAt, Transition};
use crate::grant::renewal;
use crate::providers::{ProviderClient, ProviderError, TokenGrant};
use crate::seal::{Binding, Keyring, SealError, TokenSlot};
use crate::store::{AccountStore, StoreError};

/// An account's tokens, opened.
pub struct OpenTokens {
    pub access: Secret,
    pub refresh: Option<Secret>,
}

/// Opens both tokens of an account. A token that does not open (a moved row, a removed
/// key) makes the account unusable until it is reconnected.
pub fn open_tokens(keyring: &Keyring, account: &Account) -> Result<OpenTokens, SealError> {
    let binding = Binding {
        team: &account.team,
        provider: account.provider,
        account: &account.id,
    };
    let access = keyring.open(&account.tokens.access, binding, TokenSlot::Access)?;
    let refresh = match &account.tokens.refresh {
        None => None,
        Some(sealed) => Some(keyring.open(sealed, binding, TokenSlot::Refresh)?),
    };
    Ok(OpenTokens { access, refresh })
}

/// What a refresh came to.
#[derive(Debug)]
pub enum Refreshed {
    /// The new tokens are stored; `transition` is what the refresh changed (a
    /// `refresh_failed` account recovered).
    Stored {
        account: Box<Account>,
        transition: Option<Transition>,
    },
    /// A reconnect put new tokens in place while this refresh of the old grant ran:
    /// theirs stand, and this refresh's tokens are dropped.
    Replaced(Box<Account>),
}

impl Refreshed {
    pub fn into_account(self) -> Account {
        match self {
            Refreshed::Stored { account, .. } | Refreshed::Replaced(account) => *account,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The network refused or did not answer; nothing was written.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The new tokens could not be stored (after every attempt), or the account is gone.
    #[error("the refreshed tokens could not be stored")]
    Store(#[from] StoreError),
}

/// How a refresh writes.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// When the sweep looks next (the stored `next_due_at` follows it).
    pub schedule: SchedulePolicy,
    /// Times the write of a rotated pair is tried before giving up.
    pub store_attempts: u32,
}

/// What a refresh talks to, borrowed from the sweep or the credentials service.
pub struct Refresher<'a> {
    pub providers: &'a dyn ProviderClient,
    pub accounts: &'a dyn AccountStore,
    pub keyring: &'a Keyring,
    pub policy: &'a RefreshPolicy,
    /// Who refreshes (the sweep's run, a credentials request), for the history.
    pub cause: &'a Cause,
}

impl Refresher<'_> {
    /// Refreshes `account` (its lease held by the caller) and stores the answer at once.
    /// `limit` bounds the calls in flight to this network (held for the provider call only).
    pub async fn refresh(
        &self,
        account: Account,
        tokens: &OpenTokens,
        now: DateTime<Utc>,
        limit: Option<&Semaphore>,
    ) -> Result<Refreshed, RefreshError> {
        let grant = {
            // The semaphores are never closed; a closed one would mean no limit.
            let _permit = match limit {
                Some(s) => s.acquire().await.ok(),
                None => None,
            };
            self.providers
                .refresh(account.provider, &tokens.access, tokens.refresh.as_ref())
                .await?
        };
        Ok(store_refreshed(
            self.accounts,
            self.keyring,
            account,
            &grant,
            now,
            self.policy,
            self.cause,
        )
        .await?)
    }
}

/// Stores a refreshed token pair before anything else (with the history entry of what it
/// changed, in the same write). A version conflict re-reads and re-applies the pair
/// (unless a reconnect replaced the tokens meanwhile); any other failure is retried with
/// backoff.
pub async fn store_refreshed(
    accounts: &dyn AccountStore,
    keyring: &Keyring,
    mut account: Account,
    grant: &TokenGrant,
    now: DateTime<Utc>,
    policy: &RefreshPolicy,
    cause: &Cause,
) -> Result<Refreshed, StoreError> {
    let refreshed_from = account.tokens.clone();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let before = StateAt::of(&account, now);
        let renewal = renewal(&account, keyring, grant, now);
        let transition = account.renewed(renewal, now);
        account.next_due_at = account.next_look(now, &policy.schedule, false);
        let history: Vec<HistoryEntry> = transition
            .map(|t| HistoryEntry::of_transition(t, before, &account, now, cause))
            .into_iter()
            .collect();
        match accounts.update_account_with(&account, &history).await {
            Ok(saved) => {
                return Ok(Refreshed::Stored {
                    account: Box::new(saved),
                    transition,
                })
            }
            // Deleted meanwhile (a disconnect): nothing to keep.
            Err(StoreError::NotFound) => return Err(StoreError::NotFound),
            Err(StoreError::Conflict) if attempt < policy.store_attempts => {
                match accounts.get_account(&account.team, &account.id).await {
                    Ok(Some(fresh)) if fresh.tokens != refreshed_from => {
                        tracing::info!(account = %account.id, "tokens replaced by a reconnect during a refresh; the reconnect's stand");
                        return Ok(Refreshed::Replaced(Box::new(fresh)));
                    }
                    Ok(Some(fresh)) => account = fresh,
                    Ok(None) => return Err(StoreError::NotFound),
                    Err(e) => {
                        tracing::warn!(account = %account.id, error = %e, "re-read after conflict failed; retrying")
                    }
                }
            }
            Err(e) if attempt < policy.store_attempts => {
                tracing::warn!(account = %account.id, attempt, error = %e, "storing the refreshed tokens failed; retrying");
                let pause = 50u64 << attempt.min(6);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            Err(e) => {
                tracing::error!(account = %account.id, attempts = attempt, error = %e,
                    alarm = "refreshed_tokens_not_stored", "the refreshed tokens could not be stored");
                return Err(e);
            }
        }
    }
}
