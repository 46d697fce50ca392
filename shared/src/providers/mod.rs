//! Talking to the networks: the port every function uses, and its HTTP adapter.
//!
//! The port speaks in domain terms (a token grant, a profile, a check result). Each
//! network's wire format (endpoints, request shapes, answer parsing, error classification
//! and lifetime rules) lives in its own module, behind [`Network`]:
//!
//! | module | networks | token calls |
//! | --- | --- | --- |
//! | [`meta`] | Facebook Pages, Instagram via Facebook, Instagram Login, Threads | Meta's own (GET exchanges, `*_exchange_token`, `*_refresh_token`) |
//! | [`linkedin`] | LinkedIn | RFC 6749 through the `oauth2` crate |
//! | [`x`] | X | RFC 6749 through the `oauth2` crate |
//! | [`google`] | Google Business Profile / YouTube | RFC 6749 through the `oauth2` crate |
//! | [`pinterest`] | Pinterest | RFC 6749 through the `oauth2` crate |
//! | [`tiktok`] | TikTok | TikTok's own (`client_key`) |
//!
//! Adding a network: its module here (and one line in [`network`]), its catalogue entry in
//! `domain/provider.rs`, its fake in `infra/local/provider-fakes`, and its facts in the
//! module doc. Nothing here ever puts a token, code, verifier or client secret into an
//! error, a log line or a Debug print.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::domain::ExposeSecret;
use crate::domain::Secret;
use crate::domain::{Endpoints, Provider, ProviderReply, Verdict};

mod client;
mod errors;
pub mod google;
pub mod linkedin;
pub mod meta;
pub mod pinterest;
mod standard;
pub mod tiktok;
mod transport;
mod wire;
pub mod x;

pub use client::HttpProviderClient;
pub use errors::{classify, error_code};
pub use meta::GraphVersion;
pub use transport::{ClientBuildError, MAX_BODY_BYTES};

// The parsers, for the crate's property tests (`parser_props`).
#[cfg(test)]
pub(crate) use meta::debug_token as meta_debug_token_for_props;
#[cfg(test)]
pub(crate) use wire::{
    grant as wire_grant_for_props, summary as summary_for_props,
    MAX_LIFETIME_SECS as MAX_LIFETIME_SECS_FOR_PROPS,
};

use standard::Rfc6749;
use transport::Transport;

/// The settings some networks need besides their app credentials.
#[derive(Debug, Clone, Default)]
pub struct NetworkSettings {
    /// Meta's Graph API version (Facebook, Instagram via Facebook).
    pub graph_version: GraphVersion,
    /// The Google app's OAuth consent screen is in "Testing" publishing status: its refresh
    /// tokens die 7 days after they are issued.
    pub google_testing: bool,
}

/// The network module behind `provider`: the one place that lists them all.
pub(crate) fn network(provider: Provider) -> &'static dyn Network {
    match provider {
        Provider::Facebook => &meta::FACEBOOK,
        Provider::Instagram => &meta::INSTAGRAM,
        Provider::InstagramLogin => &meta::INSTAGRAM_LOGIN,
        Provider::Threads => &meta::THREADS,
        Provider::Linkedin => &linkedin::LINKEDIN,
        Provider::X => &x::X,
        Provider::Google => &google::GOOGLE,
        Provider::Tiktok => &tiktok::TIKTOK,
        Provider::Pinterest => &pinterest::PINTEREST,
    }
}

/// What one call to a network has at hand.
pub(crate) struct Call<'a> {
    pub(crate) provider: Provider,
    pub(crate) transport: &'a Transport,
    credentials: Option<&'a ClientCredentials>,
    pub(crate) endpoints: &'a Endpoints,
    pub(crate) settings: &'a NetworkSettings,
}

impl Call<'_> {
    /// The app's credentials for this network.
    pub(crate) fn creds(&self) -> Result<&ClientCredentials, ProviderError> {
        self.credentials
            .ok_or(ProviderError::NotOffered(self.provider))
    }

    /// A documented URL, moved under the base override where there is one.
    pub(crate) fn url(&self, documented: &str) -> Result<Url, ProviderError> {
        self.endpoints
            .resolve(self.provider, documented)
            .map_err(|_| transport::unreadable(self.provider, "an endpoint that is not a URL"))
    }

    /// `GET documented?query` with the token as `Authorization: Bearer`, read as JSON: the
    /// profile read every bearer-token network documents.
    pub(crate) async fn get_json_with_bearer(
        &self,
        documented: &str,
        query: &[(&str, &str)],
        token: &Secret,
    ) -> Result<Value, ProviderError> {
        let t = token.expose_secret();
        let mut request = self
            .transport
            .http
            .get(self.url(documented)?)
            .bearer_auth(t);
        if !query.is_empty() {
            request = request.query(query);
        }
        self.transport.send_json(self.provider, request, &[t]).await
    }

    pub(crate) fn unsupported(&self, operation: &'static str) -> ProviderError {
        ProviderError::Unsupported {
            provider: self.provider,
            operation,
        }
    }
}

/// One network's wire format, behind the [`ProviderClient`] port. A network that follows
/// RFC 6749 names its endpoints ([`Network::oauth`]) and its profile call
/// ([`Network::profile`]); the defaults below then authorize, exchange, refresh, revoke,
/// check and list accounts through them, and the network writes only what it does
/// otherwise.
#[async_trait]
pub(crate) trait Network: Send + Sync {
    /// The network's RFC 6749 endpoints and rules, where it follows the standard.
    fn oauth(&self) -> Option<&'static Rfc6749> {
        None
    }

    /// The network's profile answer for this token (what `check` and `accounts` read by
    /// default).
    async fn profile(&self, cx: &Call<'_>, access_token: &Secret) -> Result<Value, ProviderError> {
        let _ = access_token;
        Err(cx.unsupported("profile"))
    }

    /// The URL to send the browser to.
    fn authorize_url(
        &self,
        cx: &Call<'_>,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Url, ProviderError> {
        rfc6749(self, cx, "authorize")?.authorize_url(cx, request)
    }

    /// Exchanges an authorization code.
    async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        rfc6749(self, cx, "exchange_code")?
            .exchange_code(cx, code, redirect_uri, code_verifier)
            .await
    }

    /// The short-lived to long-lived exchange, where the network has one.
    async fn long_lived(
        &self,
        _cx: &Call<'_>,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        Ok(grant)
    }

    async fn refresh(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let _ = access_token;
        rfc6749(self, cx, "refresh")?
            .refresh(cx, refresh_token)
            .await
    }

    /// Whether the token still works: by default, the profile answers.
    async fn check(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        self.profile(cx, access_token).await?;
        Ok(TokenCheck::valid())
    }

    /// The accounts the token reaches: by default, the profile's one.
    async fn accounts(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let json = self.profile(cx, access_token).await?;
        self.read_accounts(&json)
            .map_err(|what| transport::unreadable(cx.provider, what))
    }

    async fn revoke(&self, cx: &Call<'_>, tokens: HeldTokens<'_>) -> Result<(), ProviderError> {
        rfc6749(self, cx, "revoke")?.revoke(cx, tokens).await
    }

    /// Reads the accounts one answer of the network's profile (or Pages) endpoint names;
    /// `Err` names what is missing. Pure, so every network's is property-tested.
    fn read_accounts(&self, answer: &Value) -> Result<Vec<RemoteAccount>, &'static str>;

    /// What a failed answer's body means, by this network's rules; `None` leaves it to the
    /// rules every network shares (RFC 6749 error codes, a bare 401).
    fn classify(&self, _status: u16, _body: &Value) -> Option<Verdict> {
        None
    }
}

/// The network's RFC 6749 endpoints, or `Unsupported` for `operation` where it has none.
fn rfc6749<N: Network + ?Sized>(
    network: &N,
    cx: &Call<'_>,
    operation: &'static str,
) -> Result<&'static Rfc6749, ProviderError> {
    network.oauth().ok_or_else(|| cx.unsupported(operation))
}

/// The tokens tokenwarden holds for an account, for a revocation.
#[derive(Clone, Copy)]
pub struct HeldTokens<'a> {
    pub access: &'a Secret,
    pub refresh: Option<&'a Secret>,
}

impl fmt::Debug for HeldTokens<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldTokens")
            .field("access", self.access)
            .field("refresh", &self.refresh)
            .finish()
    }
}

/// One network's app credentials.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret,
}

/// All networks' app credentials, from one Secrets Manager secret shaped
/// `{"facebook":{"client_id":"...","client_secret":"..."}, "x":{...}, ...}`.
/// A network missing from it is not offered.
#[derive(Clone, Debug, Default)]
pub struct Credentials(BTreeMap<Provider, ClientCredentials>);

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("the client credentials secret is not JSON of the form {{\"<provider>\":{{\"client_id\":\"...\",\"client_secret\":\"...\"}}}}: {0}")]
    Format(String),
}

impl Credentials {
    pub fn from_secret(secret: &Secret) -> Result<Self, CredentialsError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            client_id: String,
            client_secret: String,
        }
        let raw: BTreeMap<String, Entry> =
            crate::secrets::parse_json(secret).map_err(CredentialsError::Format)?;
        let mut map = BTreeMap::new();
        for (name, entry) in raw {
            let provider: Provider = name
                .parse()
                .map_err(|_| CredentialsError::Format(format!("unknown provider '{name}'")))?;
            if entry.client_id.is_empty() || entry.client_secret.is_empty() {
                continue;
            }
            map.insert(
                provider,
                ClientCredentials {
                    client_id: entry.client_id,
                    client_secret: Secret::from(entry.client_secret),
                },
            );
        }
        Ok(Self(map))
    }

    /// Public client ids only (`x=abc,google=123-x.apps.googleusercontent.com`), for a
    /// function that builds authorize URLs and never talks to a token endpoint. Their
    /// secrets are empty: a token call with them fails at the network.
    pub fn from_client_ids(raw: &str) -> Result<Self, CredentialsError> {
        let mut map = BTreeMap::new();
        for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, id) = pair.split_once('=').ok_or_else(|| {
                CredentialsError::Format(format!(
                    "'{}' is not provider=client_id",
                    pair.chars().take(40).collect::<String>()
                ))
            })?;
            let provider: Provider = name.trim().parse().map_err(|_| {
                CredentialsError::Format(format!(
                    "unknown provider '{}'",
                    name.chars().take(40).collect::<String>()
                ))
            })?;
            let id = id.trim();
            if id.is_empty() || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(CredentialsError::Format(format!(
                    "{provider}: an empty or malformed client id"
                )));
            }
            map.insert(
                provider,
                ClientCredentials {
                    client_id: id.to_owned(),
                    client_secret: Secret::from(""),
                },
            );
        }
        Ok(Self(map))
    }

    pub fn from_map(map: BTreeMap<Provider, ClientCredentials>) -> Self {
        Self(map)
    }

    pub fn get(&self, provider: Provider) -> Option<&ClientCredentials> {
        self.0.get(&provider)
    }

    /// The networks offered (credentials present), in catalogue order.
    pub fn offered(&self) -> Vec<Provider> {
        Provider::ALL
            .into_iter()
            .filter(|p| self.0.contains_key(p))
            .collect()
    }
}

/// Tokens a network handed out, with the lifetimes it stated.
#[derive(Clone)]
pub struct TokenGrant {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    /// `expires_in` as returned; `None` when the response had none.
    pub expires_in: Option<Duration>,
    /// `refresh_token_expires_in` / `refresh_expires_in` as returned.
    pub refresh_expires_in: Option<Duration>,
    /// Granted scopes, when the response lists them.
    pub scopes: Option<Vec<String>>,
    /// The network's user id when the token response carries it (Instagram Login's
    /// `user_id`, Threads' `user_id`, TikTok's `open_id`).
    pub user_id: Option<String>,
}

impl fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenGrant")
            .field("access_token", &self.access_token)
            .field("refresh_token", &self.refresh_token)
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .field("scopes", &self.scopes)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// An account the grant reaches: the user's own profile, or one Facebook Page / Instagram
/// business account per Page the user granted (each with its own Page token).
#[derive(Clone, Debug, Default)]
pub struct RemoteAccount {
    pub external_id: String,
    pub display_name: String,
    pub picture_url: Option<String>,
    /// The token to store for this account when it differs from the user's token
    /// (a Facebook Page token).
    pub access_token: Option<Secret>,
    /// The scopes the network says were granted, when it says so outside the token answer
    /// (Meta's `debug_token`).
    pub scopes: Option<Vec<String>>,
    /// Meta's data access clock for the person's grant.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    /// The person whose grant reaches this account, where one grant reaches several
    /// (Meta's Facebook Login: `facebook_login:{user id}`).
    pub grant_owner: Option<String>,
}

/// The most accounts one grant is read for (Facebook Pages, Instagram business accounts):
/// a grant reaching more is refused at connect, so reading stops at one past it.
pub const MAX_ACCOUNTS_PER_GRANT: usize = 500;

/// The longest display name kept (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest external id kept (characters); a longer one is not an id any network issues.
pub const MAX_EXTERNAL_ID_CHARS: usize = 256;
/// The longest picture URL kept (bytes).
pub const MAX_PICTURE_URL_LEN: usize = 2048;

impl RemoteAccount {
    /// What a network says about an account is shown in the token column, mails and
    /// events: names lose control and invisible formatting characters (bidi overrides and
    /// isolates, zero-width ones) and are capped; a picture URL is kept only if it is
    /// `https:`. An id that is empty once cleaned is no account (`None`).
    pub fn sanitized(self) -> Option<Self> {
        let external_id = clean_text(&self.external_id, MAX_EXTERNAL_ID_CHARS);
        if external_id.is_empty() || external_id != self.external_id {
            // An id is matched exactly (reconnects, uniqueness): one that needed cleaning
            // is not one a network issues.
            return None;
        }
        let display_name = match clean_text(&self.display_name, MAX_NAME_CHARS) {
            name if name.is_empty() => external_id.clone(),
            name => name,
        };
        let picture_url = self
            .picture_url
            .filter(|u| u.len() <= MAX_PICTURE_URL_LEN)
            .and_then(|u| Url::parse(&u).ok())
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .map(String::from);
        Some(Self {
            external_id,
            display_name,
            picture_url,
            ..self
        })
    }
}

/// Text without control characters or invisible formatting (bidi embeddings, overrides
/// and isolates, zero-width characters, the BOM), whitespace runs as one space, trimmed,
/// at most `max` characters.
pub fn clean_text(raw: &str, max: usize) -> String {
    let invisible = |c: char| {
        matches!(c,
            '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
    };
    let mut out = String::new();
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || invisible(c) {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    out.chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// What a validity check found.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenCheck {
    pub valid: bool,
    /// The expiry the network reports now (`debug_token`'s `expires_at`, LinkedIn's
    /// `expires_at`); `None` when it does not say or the token never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Meta's `data_access_expires_at`.
    pub data_access_expires_at: Option<DateTime<Utc>>,
    pub scopes: Option<Vec<String>>,
    /// The person whose grant the token stands on, where the check says (Meta's
    /// `debug_token` `user_id`), as [`RemoteAccount::grant_owner`] names it.
    pub grant_owner: Option<String>,
}

impl TokenCheck {
    /// A check that found the token working and says nothing more.
    pub fn valid() -> Self {
        Self {
            valid: true,
            expires_at: None,
            data_access_expires_at: None,
            scopes: None,
            grant_owner: None,
        }
    }
}

/// A failed call to a network.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The network answered with an error; `verdict` says what it means for the account.
    /// `summary` is the network's error code/type and message, never a token.
    #[error("{provider} answered {status}: {summary}")]
    Rejected {
        provider: Provider,
        status: u16,
        verdict: Verdict,
        summary: String,
        /// The network's error code (`190/460`, `invalid_grant`), for the history.
        code: Option<String>,
    },
    #[error("{provider} did not answer in time")]
    Timeout { provider: Provider },
    #[error("{provider} could not be reached")]
    Network {
        provider: Provider,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A redirect from an endpoint that must answer directly (never followed).
    #[error("{provider} answered with a redirect, which is not followed")]
    Redirected { provider: Provider },
    /// A success status with a body we cannot read.
    #[error("{provider} sent an answer tokenwarden cannot read: {what}")]
    Unreadable { provider: Provider, what: String },
    /// No client credentials for this network.
    #[error("{0} is not offered (no client credentials)")]
    NotOffered(Provider),
    /// The network has no such operation (e.g. revocation on Threads).
    #[error("{provider} does not support {operation}")]
    Unsupported {
        provider: Provider,
        operation: &'static str,
    },
}

impl ProviderError {
    /// The network's error code, when it answered with one.
    pub fn code(&self) -> Option<String> {
        match self {
            ProviderError::Rejected { code, .. } => code.clone(),
            _ => None,
        }
    }

    /// What the failure means for the connection.
    pub fn verdict(&self) -> Verdict {
        match self {
            ProviderError::Rejected { verdict, .. } => *verdict,
            ProviderError::Timeout { provider } => classify(*provider, ProviderReply::Timeout),
            ProviderError::Network { provider, .. } => classify(*provider, ProviderReply::Network),
            // A redirect or an unreadable body is the network misbehaving, not the user.
            ProviderError::Redirected { .. } | ProviderError::Unreadable { .. } => {
                Verdict::Unrecognised
            }
            ProviderError::NotOffered(_) | ProviderError::Unsupported { .. } => {
                Verdict::Unrecognised
            }
        }
    }
}

/// Why a person is sent to the network's consent screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Consent {
    /// A new connection.
    #[default]
    Connect,
    /// A reconnect of an existing account: Meta renews its data access with
    /// `auth_type=reauthorize`.
    Reconnect,
    /// A reconnect of an account that lacks a permission it needs: Meta asks for declined
    /// permissions again only with `auth_type=rerequest`.
    ReconnectMissingScopes,
}

/// The parameters of an authorize redirect.
#[derive(Debug)]
pub struct AuthorizeRequest<'a> {
    pub provider: Provider,
    pub state: &'a str,
    pub redirect_uri: &'a str,
    /// The PKCE verifier kept for the exchange; its S256 challenge goes to networks that
    /// take PKCE.
    pub code_verifier: Option<&'a Secret>,
    pub consent: Consent,
}

/// Every call tokenwarden makes to a network.
#[async_trait]
pub trait ProviderClient: Send + Sync {
    /// The networks this client has credentials for.
    fn offered(&self) -> Vec<Provider>;

    /// The URL to send the browser to.
    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, ProviderError>;

    /// Exchanges an authorization code (with the exact redirect URI used at authorize and
    /// the PKCE verifier where one was sent).
    async fn exchange_code(
        &self,
        provider: Provider,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError>;

    /// Meta's short-lived to long-lived exchange (`fb_exchange_token`, `ig_exchange_token`,
    /// `th_exchange_token`). Networks without one return the grant unchanged.
    async fn long_lived(
        &self,
        provider: Provider,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError>;

    /// Keeps the connection alive by the network's rules: the refresh grant with the refresh
    /// token, or the exchange-style refresh of the access token itself.
    async fn refresh(
        &self,
        provider: Provider,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError>;

    /// Checks validity without using the token for real work: introspection where the
    /// network offers it, a cheap profile read otherwise.
    async fn check(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError>;

    /// The accounts the user token reaches: the user's profile, or for Facebook and
    /// Instagram-via-Facebook one account per Page granted.
    async fn accounts(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError>;

    /// Revokes the app's access at the network, where it offers revocation, with the token
    /// the network revokes by (see [`crate::domain::Disconnect`]).
    async fn revoke(&self, provider: Provider, tokens: HeldTokens<'_>)
        -> Result<(), ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(id: &str, name: &str, picture: Option<&str>) -> RemoteAccount {
        RemoteAccount {
            external_id: id.into(),
            display_name: name.into(),
            picture_url: picture.map(str::to_owned),
            ..RemoteAccount::default()
        }
    }

    #[test]
    fn names_lose_control_and_bidi_characters_and_are_capped() {
        let a = remote(
            "1784",
            "\u{202E}gnp.exe\u{200B} \u{2066}Shop\u{2069}\n\tLtd\u{0007}",
            None,
        )
        .sanitized()
        .unwrap();
        assert_eq!(a.display_name, "gnp.exe Shop Ltd");
        let long = remote("1", &"é".repeat(500), None).sanitized().unwrap();
        assert_eq!(long.display_name.chars().count(), MAX_NAME_CHARS);
        let empty = remote("77", "\u{200B}\u{202E}", None).sanitized().unwrap();
        assert_eq!(empty.display_name, "77");
    }

    #[test]
    fn only_https_pictures_are_kept() {
        for bad in [
            "javascript:alert(1)",
            "http://cdn.example/p.png",
            "data:image/png;base64,AAAA",
            "https://",
            "not a url",
        ] {
            assert_eq!(
                remote("1", "n", Some(bad)).sanitized().unwrap().picture_url,
                None,
                "{bad}"
            );
        }
        let ok = remote("1", "n", Some("https://cdn.example/p.png"))
            .sanitized()
            .unwrap();
        assert_eq!(ok.picture_url.as_deref(), Some("https://cdn.example/p.png"));
    }

    #[test]
    fn client_ids_are_read_from_pairs_and_carry_no_secret() {
        let ids = Credentials::from_client_ids("x=abc, google=123-x.apps.googleusercontent.com,")
            .unwrap();
        assert_eq!(ids.offered(), [Provider::X, Provider::Google]);
        assert_eq!(ids.get(Provider::X).unwrap().client_id, "abc");
        assert_eq!(
            ids.get(Provider::X).unwrap().client_secret.expose_secret(),
            ""
        );
        assert!(Credentials::from_client_ids("myspace=1").is_err());
        assert!(Credentials::from_client_ids("x").is_err());
        assert!(Credentials::from_client_ids("x=").is_err());
        assert!(Credentials::from_client_ids("")
            .unwrap()
            .offered()
            .is_empty());
    }

    #[test]
    fn an_id_that_needs_cleaning_is_no_account() {
        assert!(remote("12\u{202E}34", "n", None).sanitized().is_none());
        assert!(remote("", "n", None).sanitized().is_none());
        assert!(remote(&"9".repeat(300), "n", None).sanitized().is_none());
        assert!(remote("17841400000000001", "n", None).sanitized().is_some());
    }
}
