//! Disconnecting an account: revoking at the network where the catalogue says a disconnect
//! revokes (and only when nothing else stands on the same grant), removing its ledger
//! entries and the account itself with its history entry. The one place outside the sweep
//! and the credentials function that opens sealed tokens; no HTTP handler does.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::{
    Account, AccountId, Cause, Clock, Disconnect, HistoryEntry, HistoryKind, StateAt, TeamId,
    UserId,
};
use crate::error_chain::cause_chain;
use crate::providers::{HeldTokens, ProviderClient, ProviderError};
use crate::seal::Keyring;
use crate::store::{AccountStore, Ledger, StoreError};

/// What a disconnect needs, built once at cold start.
pub struct Disconnection {
    pub accounts: Arc<dyn AccountStore>,
    pub ledger: Arc<dyn Ledger>,
    pub providers: Arc<dyn ProviderClient>,
    /// Opens the tokens the network revokes by.
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
}

/// What a disconnect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnected {
    pub revocation: Revocation,
    /// In the network's words for the person ("Disconnected, and ...").
    pub message: String,
}

/// What a disconnect did at the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// The network confirmed the revocation.
    Revoked,
    /// The network refused or could not be reached; the account is removed anyway.
    Failed,
    /// Another account (in any team) stands on the same person's grant, which Meta's
    /// revocation would end too.
    KeptForOtherConnections,
    /// Whether another account stands on the same person's grant is not known (the
    /// account predates the record of its grant's owner, or the lookup failed): kept.
    KeptGrantUnknown,
    /// The network offers no revocation.
    NotOffered,
    /// The stored record could not be read: removed without knowing what to revoke.
    UnreadableRecord,
}

impl Revocation {
    pub fn as_str(self) -> &'static str {
        match self {
            Revocation::Revoked => "revoked",
            Revocation::Failed => "failed",
            Revocation::KeptForOtherConnections => "kept_for_other_connections",
            Revocation::KeptGrantUnknown => "kept_grant_unknown",
            Revocation::NotOffered => "not_offered",
            Revocation::UnreadableRecord => "unreadable_record",
        }
    }

    pub fn sentence(self, network: &str) -> String {
        match self {
            Revocation::Revoked => format!("Disconnected, and the app's access was revoked at {network}."),
            Revocation::Failed => format!(
                "Disconnected. {network} did not confirm the revocation: remove the app in the account's {network} settings if it should lose access now."
            ),
            Revocation::KeptForOtherConnections => format!(
                "Disconnected. The app's access at {network} was kept because other connected accounts depend on the same person's sign-in."
            ),
            Revocation::KeptGrantUnknown => format!(
                "Disconnected. The app's access at {network} was kept: tokenwarden cannot tell whether other connected accounts depend on the same person's sign-in. Remove the app in the {network} settings if it should lose access everywhere."
            ),
            Revocation::NotOffered => format!(
                "Disconnected. {network} offers no revocation: remove the app in the account's {network} settings if it should lose access."
            ),
            Revocation::UnreadableRecord => "Removed. Its stored record could not be read, so nothing was revoked at the network: remove the app in the network's settings if it should lose access.".into(),
        }
    }
}

impl Disconnection {
    /// Disconnects `id` of `team` for `by`: revokes at the network where it offers
    /// revocation (best effort: a failure is logged and does not keep the account), then
    /// removes the account's ledger entries and the account (its sealed tokens, lease and
    /// external-id items go with it). `None`: the team has no such account. A record that
    /// cannot be read is still removed (its raw keys are enough), without revoking.
    pub async fn disconnect(
        &self,
        team: &TeamId,
        id: &AccountId,
        by: &UserId,
    ) -> Result<Option<Disconnected>, StoreError> {
        let account = match self.accounts.get_account(team, id).await {
            Ok(Some(account)) => account,
            Ok(None) => return Ok(None),
            Err(StoreError::Malformed { key, what }) => {
                tracing::error!(key = %key, what = %what, metric = "unreadable_account_items",
                    "disconnecting an account whose record cannot be read; not revoking");
                self.ledger.clear_account(team, id).await?;
                self.accounts.delete_account(team, id).await?;
                let revocation = Revocation::UnreadableRecord;
                return Ok(Some(Disconnected {
                    revocation,
                    message: revocation.sentence("the network"),
                }));
            }
            Err(e) => return Err(e),
        };
        let revocation = self.revocation(&account).await;
        let cleared = self.ledger.clear_account(team, id).await?;
        let now = self.clock.now();
        let mut removal = HistoryEntry::of(
            HistoryKind::Disconnected,
            Some(StateAt::of(&account, now)),
            &account,
            now,
            &Cause::Api { user: by.clone() },
        );
        removal.after = None;
        removal.reconnect_by = None;
        let removed = self
            .accounts
            .delete_account_with(team, id, &removal)
            .await?;
        tracing::info!(
            account = %id,
            provider = %account.provider,
            revoked = revocation == Revocation::Revoked,
            ledger_entries = cleared,
            removed,
            by = %by,
            revocation = revocation.as_str(),
            "account disconnected"
        );
        Ok(Some(Disconnected {
            revocation,
            message: revocation.sentence(account.provider.spec().display_name),
        }))
    }

    /// Revokes where the catalogue says a disconnect revokes, with the token the network
    /// revokes by; Meta's person-wide revocation only when nothing else stands on the grant.
    async fn revocation(&self, account: &Account) -> Revocation {
        let disconnect = account.provider.spec().disconnect;
        if disconnect == Disconnect::NotOffered {
            return Revocation::NotOffered;
        }
        // A revocation that ends the person's grant to the app (Meta's, Google's) is made only
        // when no other account, in any team, stands on that grant.
        match (&account.grant_owner, disconnect) {
            (None, Disconnect::RemovesAppForPerson) => {
                // Connected before the grant's owner was recorded (the weekly check fills it
                // in): nothing can tell whether other accounts need the grant.
                return Revocation::KeptGrantUnknown;
            }
            (None, _) => {}
            (Some(owner), _) => match self
                .accounts
                .others_on_grant(owner, &account.team, &account.id)
                .await
            {
                Ok(false) => {}
                Ok(true) => return Revocation::KeptForOtherConnections,
                Err(e) => {
                    tracing::warn!(account = %account.id, error = %cause_chain(&e), "cannot tell whether other accounts stand on the grant; not revoking");
                    return Revocation::KeptGrantUnknown;
                }
            },
        }
        if self.revoke(account).await {
            Revocation::Revoked
        } else {
            Revocation::Failed
        }
    }

    /// Whether the network confirmed the revocation.
    async fn revoke(&self, account: &Account) -> bool {
        let provider = account.provider;
        let tokens = match crate::refresh::open_tokens(&self.keyring, account) {
            Ok(tokens) => tokens,
            Err(e) => {
                tracing::warn!(account = %account.id, provider = %provider, error = %cause_chain(&e), "cannot open the tokens to revoke them; disconnecting without revoking");
                return false;
            }
        };
        let held = HeldTokens {
            access: &tokens.access,
            refresh: tokens.refresh.as_ref(),
        };
        match self.providers.revoke(provider, held).await {
            Ok(()) => true,
            Err(ProviderError::Unsupported { .. }) => false,
            Err(e) => {
                tracing::warn!(account = %account.id, provider = %provider, error = %cause_chain(&e), "revocation at the network failed; disconnecting anyway");
                false
            }
        }
    }
}
