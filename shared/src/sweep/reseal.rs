//! Retiring a sealing key. Every account whose tokens were sealed with a key other than the
//! active one is opened and sealed again with the active key (a version-conditioned write:
//! a refresh that lands meanwhile wins, and the account is read again). The report says how
//! many accounts were re-sealed and how many remain per old key id; once none remain for a
//! key, it can be removed from the keyring secret.
//!
//! Run it once after making a new key active:
//! `aws lambda invoke --function-name <stack>-expiry-sweep --payload '{"action":"reseal"}' out.json`
//! (locally `cargo lambda invoke expiry-sweep --data-ascii '{"action":"reseal"}'`).

use std::collections::BTreeMap;

use super::{Budget, Sweep, SweepError};
use crate::domain::{Account, SealedTokens};
use crate::refresh::open_tokens;
use crate::seal::{Binding, TokenSlot};
use crate::store::StoreError;

/// Accounts read per Scan page.
const PAGE: u32 = 100;
/// Times one account is read again after losing a write to a concurrent one.
const ATTEMPTS: usize = 3;

/// What a re-seal pass did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResealReport {
    pub active_key: String,
    pub resealed: u64,
    /// Accounts still sealed with an old key (their tokens did not open, or the write kept
    /// failing), by that key's id. A key with none left can be removed.
    pub remaining: BTreeMap<String, u64>,
    /// Account items that could not be read at all (logged by key).
    pub unreadable: u64,
    /// The invocation's time ran out before the table was read to its end: run it again.
    pub incomplete: bool,
}

impl Sweep {
    /// One pass over the table (see the module doc).
    pub async fn reseal(&self, budget: Budget) -> Result<ResealReport, SweepError> {
        let active = self.keyring.active_key_id().to_owned();
        let mut report = ResealReport {
            active_key: active.clone(),
            ..ResealReport::default()
        };
        let mut cursor = None;
        loop {
            if budget.exhausted(0) {
                report.incomplete = true;
                break;
            }
            let page = self
                .accounts
                .sealed_with_other_keys(&active, PAGE, cursor.as_ref())
                .await?;
            report.unreadable += u64::from(page.skipped);
            for account in page.items {
                match self.reseal_one(account, &active).await {
                    Ok(done) => report.resealed += u64::from(done),
                    Err(old) => *report.remaining.entry(old).or_default() += 1,
                }
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        tracing::info!(report = ?report, "re-seal pass done");
        Ok(report)
    }

    /// `Ok(true)`: re-sealed; `Ok(false)`: nothing left to do (removed, or re-sealed by
    /// someone else meanwhile); `Err(old key id)`: still sealed with that key.
    async fn reseal_one(&self, mut account: Account, active: &str) -> Result<bool, String> {
        let mut last_old = String::from("unknown");
        for _ in 0..ATTEMPTS {
            let old = [
                Some(&account.tokens.access),
                account.tokens.refresh.as_ref(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|t| t.key_id())
            .find(|k| *k != active)
            .map(str::to_owned);
            let Some(old) = old else {
                return Ok(false);
            };
            last_old.clone_from(&old);
            let tokens = match open_tokens(&self.keyring, &account) {
                Ok(tokens) => tokens,
                Err(e) => {
                    tracing::error!(account = %account.id, key = %old, error = %crate::error_chain::cause_chain(&e),
                        "tokens do not open; left sealed with the old key");
                    return Err(old);
                }
            };
            let binding = Binding {
                team: &account.team,
                provider: account.provider,
                account: &account.id,
            };
            account.tokens = SealedTokens {
                access: self
                    .keyring
                    .seal(&tokens.access, binding, TokenSlot::Access),
                refresh: tokens
                    .refresh
                    .as_ref()
                    .map(|r| self.keyring.seal(r, binding, TokenSlot::Refresh)),
            };
            match self.accounts.update_account(&account).await {
                Ok(_) => return Ok(true),
                Err(StoreError::Conflict) => {
                    match self.accounts.get_account(&account.team, &account.id).await {
                        Ok(Some(fresh)) => account = fresh,
                        Ok(None) => return Ok(false),
                        Err(_) => return Err(old),
                    }
                }
                Err(StoreError::NotFound) => return Ok(false),
                Err(e) => {
                    tracing::error!(account = %account.id, error = %crate::error_chain::cause_chain(&e),
                        "the re-sealed tokens were not stored");
                    return Err(old);
                }
            }
        }
        // Kept losing to concurrent writes: still under the old key last seen (an access
        // token re-sealed by a refresh can sit beside a refresh token under the old key).
        Err(last_old)
    }
}
