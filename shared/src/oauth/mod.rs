//! Connecting an account through OAuth, and reconnecting a dead one.
//!
//! - [`Start`]: a single-use `state` (random, 10 minutes, bound to team, user, network,
//!   return URL, the exact redirect URI and, for a reconnect, the account) with a PKCE S256
//!   verifier wherever the network takes one; answers the network's authorize URL.
//! - [`Callback`]: consumes the state once, checks it was issued for this network (one
//!   redirect URI per network: the mix-up defence), exchanges the code, reads the accounts
//!   the grant reaches, stores them with sealed tokens, and says where the browser goes
//!   back to with which [`OAuthResult`].
//!
//! The HTTP edges are `crate::api::oauth_start` and `crate::api::oauth_callback`.

mod callback;
mod pkce;
mod start;

use std::fmt;

use chrono::Duration;
use url::Url;

use crate::domain::Provider;

pub use callback::{
    parked_key, Callback, CallbackParams, Completion, FinishError, Finished,
    MAX_ACCOUNTS_PER_CONSENT, MAX_ACCOUNTS_PER_TEAM, PARK_LIFETIME,
};
pub use pkce::{code_verifier, random_token};
pub use start::{Start, StartError, Target};

/// How long a started authorization can come back.
pub const STATE_LIFETIME: Duration = Duration::minutes(10);

/// Where the browser lands after OAuth: the frontend's `return_to` with `result=` one of
/// these (plus `account=` ids where useful). Never a token, a code or the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthResult {
    /// New accounts stored (or an already connected one refreshed in place).
    Connected,
    /// The account of a reconnect has new tokens and is active again.
    Reconnected,
    /// The person pressed "Cancel" at the network. Nothing stored.
    Denied,
    /// A reconnect came back signed in as another external account. Nothing changed.
    DifferentAccount,
    /// The authorization took longer than [`STATE_LIFETIME`]. Nothing stored.
    ExpiredState,
    /// Anything else (the network refused the code, answered a redirect, a state issued
    /// for another network...). Nothing stored.
    Error,
}

impl OAuthResult {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthResult::Connected => "connected",
            OAuthResult::Reconnected => "reconnected",
            OAuthResult::Denied => "denied",
            OAuthResult::DifferentAccount => "different_account",
            OAuthResult::ExpiredState => "expired_state",
            OAuthResult::Error => "error",
        }
    }
}

impl fmt::Display for OAuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A callback base URL that cannot be registered with the networks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the callback base URL must be an absolute https URL (http only for localhost) without query, fragment or userinfo")]
pub struct InvalidCallbackBase;

/// The API's public base URL: each network gets exactly one redirect URI,
/// `{base}/oauth/{provider}/callback`, registered with the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackBase(Url);

impl CallbackBase {
    /// An absolute https URL (http only for localhost / 127.0.0.1, for local runs) without
    /// query, fragment or userinfo. A trailing `/` is dropped.
    pub fn parse(raw: &str) -> Result<Self, InvalidCallbackBase> {
        let url = Url::parse(raw.trim()).map_err(|_| InvalidCallbackBase)?;
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => matches!(url.host_str(), Some("localhost") | Some("127.0.0.1")),
            _ => false,
        };
        if !scheme_ok
            || url.host_str().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(InvalidCallbackBase);
        }
        Ok(Self(url))
    }

    /// The one redirect URI of `provider`.
    pub fn redirect_uri(&self, provider: Provider) -> String {
        format!(
            "{}/oauth/{}/callback",
            self.0.as_str().trim_end_matches('/'),
            provider.id()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_network_has_one_redirect_uri_under_the_base() {
        let base = CallbackBase::parse("https://api.example.com/prod/").unwrap();
        assert_eq!(
            base.redirect_uri(Provider::InstagramLogin),
            "https://api.example.com/prod/oauth/instagram_login/callback"
        );
        let local = CallbackBase::parse("http://127.0.0.1:9000/lambda-url/oauth-callback").unwrap();
        assert_eq!(
            local.redirect_uri(Provider::X),
            "http://127.0.0.1:9000/lambda-url/oauth-callback/oauth/x/callback"
        );
    }

    #[test]
    fn callback_base_refuses_what_cannot_be_registered() {
        for bad in [
            "",
            "api.example.com",
            "http://api.example.com",
            "https://api.example.com/?a=1",
            "https://api.example.com/#x",
            "https://u:p@api.example.com",
            "ftp://api.example.com",
        ] {
            assert!(CallbackBase::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
