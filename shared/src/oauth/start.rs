//! Starting an authorization: the state, the PKCE verifier, the authorize URL.

use crate::domain::ExposeSecret;
use std::sync::Arc;

use url::Url;

use super::{code_verifier, random_token, CallbackBase, STATE_LIFETIME};
use crate::domain::{AccountId, Clock, Provider, ReturnUrl, TeamId, UserId};
use crate::providers::{AuthorizeRequest, Consent, ProviderClient, ProviderError};
use crate::store::{AccountStore, OAuthState, StateStore, StoreError};

/// What the authorization is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new connection to this network.
    New(Provider),
    /// New tokens for this account of the caller's team (same external account only).
    Reconnect(AccountId),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The account is not one of the caller's team.
    #[error("no account with this id in your team")]
    UnknownAccount,
    /// No client credentials for the network in this deployment.
    #[error("{0} is not offered here: this deployment has no client credentials for it")]
    NotOffered(Provider),
    #[error("the OAuth state could not be stored")]
    Store(#[from] StoreError),
    #[error("the authorize URL could not be built")]
    Provider(#[source] ProviderError),
}

/// What `oauth-start` works with, built once at cold start.
pub struct Start {
    /// Reads the account a reconnect is for.
    pub accounts: Arc<dyn AccountStore>,
    pub states: Arc<dyn StateStore>,
    pub providers: Arc<dyn ProviderClient>,
    pub clock: Arc<dyn Clock>,
    pub callback: CallbackBase,
}

impl Start {
    /// Stores a fresh single-use state for the caller and returns the network's authorize
    /// URL carrying it (and the PKCE challenge where the network takes one).
    pub async fn begin(
        &self,
        team: &TeamId,
        user: &UserId,
        target: Target,
        return_to: ReturnUrl,
    ) -> Result<Url, StartError> {
        let (provider, account, consent) = match target {
            Target::New(provider) => (provider, None, Consent::Connect),
            Target::Reconnect(id) => {
                let account = self
                    .accounts
                    .get_account(team, &id)
                    .await?
                    .ok_or(StartError::UnknownAccount)?;
                let consent = if account.missing_scopes().is_empty() {
                    Consent::Reconnect
                } else {
                    Consent::ReconnectMissingScopes
                };
                (account.provider, Some(account.id), consent)
            }
        };
        if !self.providers.offered().contains(&provider) {
            return Err(StartError::NotOffered(provider));
        }
        let now = self.clock.now();
        let verifier = provider.spec().pkce.used().then(code_verifier);
        let state = OAuthState {
            id: random_token().expose_secret().to_owned(),
            team: team.clone(),
            user: user.clone(),
            provider,
            return_to,
            account,
            pkce_verifier: verifier,
            redirect_uri: self.callback.redirect_uri(provider),
            created_at: now,
            expires_at: now + STATE_LIFETIME,
        };
        let url = self
            .providers
            .authorize_url(&AuthorizeRequest {
                provider,
                state: &state.id,
                redirect_uri: &state.redirect_uri,
                code_verifier: state.pkce_verifier.as_ref(),
                consent,
            })
            .map_err(|e| match e {
                ProviderError::NotOffered(p) => StartError::NotOffered(p),
                other => StartError::Provider(other),
            })?;
        self.states.put_state(&state).await?;
        tracing::info!(
            team = %team,
            user = %user,
            provider = %provider,
            account = state.account.as_ref().map(AccountId::as_str).unwrap_or("-"),
            pkce = state.pkce_verifier.is_some(),
            "authorization started"
        );
        Ok(url)
    }
}
