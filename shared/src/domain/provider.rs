//! The provider catalogue: what tokenwarden knows about each network's OAuth and tokens.
//! Facts come from the networks' documentation (see the README's provider table).
//! Endpoints are absolute URLs; a base override (tests, the local run) keeps each path and
//! replaces scheme, host and port with `{base}/{provider id}`.

use std::fmt;
use std::str::FromStr;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use url::Url;

use super::ids::InvalidValue;

/// The nine networks tokenwarden connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Facebook Pages through Facebook Login (one account per Page).
    Facebook,
    /// Instagram professional accounts reached through Facebook Login for Business.
    Instagram,
    /// Instagram API with Instagram Login.
    InstagramLogin,
    Threads,
    Linkedin,
    X,
    /// Google Business Profile and YouTube.
    Google,
    Tiktok,
    Pinterest,
}

impl Provider {
    pub const ALL: [Provider; 9] = [
        Provider::Facebook,
        Provider::Instagram,
        Provider::InstagramLogin,
        Provider::Threads,
        Provider::Linkedin,
        Provider::X,
        Provider::Google,
        Provider::Tiktok,
        Provider::Pinterest,
    ];

    /// The id used in routes, items and the credentials secret.
    pub fn id(self) -> &'static str {
        match self {
            Provider::Facebook => "facebook",
            Provider::Instagram => "instagram",
            Provider::InstagramLogin => "instagram_login",
            Provider::Threads => "threads",
            Provider::Linkedin => "linkedin",
            Provider::X => "x",
            Provider::Google => "google",
            Provider::Tiktok => "tiktok",
            Provider::Pinterest => "pinterest",
        }
    }

    pub fn spec(self) -> &'static ProviderSpec {
        let index = Provider::ALL
            .iter()
            .position(|p| *p == self)
            .expect("every provider is in ALL");
        &CATALOGUE[index]
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Provider {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.id() == s)
            .ok_or_else(|| InvalidValue::Provider(s.chars().take(40).collect()))
    }
}

/// Whether the network takes a PKCE (S256) challenge at authorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pkce {
    Required,
    Accepted,
    NotUsed,
}

impl Pkce {
    pub fn used(self) -> bool {
        !matches!(self, Pkce::NotUsed)
    }
}

/// How the client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)`.
    Basic,
    /// `client_id` and `client_secret` in the form body (or query, for Meta's GET).
    FormBody,
    /// TikTok: `client_key` and `client_secret` in the form body.
    ClientKey,
}

/// How tokenwarden keeps a connection alive without a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KeepAlive {
    /// Nothing can extend the token: a person reconnects before it expires.
    None,
    /// `grant_type=refresh_token`; the refresh token stays the same.
    RefreshGrant,
    /// `grant_type=refresh_token`; every refresh returns a new refresh token and the old
    /// one must never be sent again.
    RefreshGrantRotating,
    /// The long-lived access token refreshes itself once it is at least `min_age` old and
    /// still unexpired (Instagram Login, Threads).
    Exchange {
        #[serde(skip)]
        min_age: Duration,
    },
}

impl KeepAlive {
    pub fn uses_refresh_token(self) -> bool {
        matches!(
            self,
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating
        )
    }
}

/// How a token's validity is checked without using it for real work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Introspection {
    /// Facebook `GET /debug_token?input_token=T&access_token=APP_ID|APP_SECRET`.
    FacebookDebugToken,
    /// LinkedIn `POST /oauth/v2/introspectToken`.
    LinkedinIntrospect,
    /// Google `GET /tokeninfo?access_token=T`.
    GoogleTokenInfo,
    /// A cheap authenticated read of the user's own profile.
    ProfileRead,
}

/// Everything tokenwarden knows about one network.
#[derive(Debug)]
pub struct ProviderSpec {
    pub provider: Provider,
    pub display_name: &'static str,
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    /// Where a refresh grant or an exchange-style refresh goes when not the token URL.
    pub refresh_url: Option<&'static str>,
    /// Short-lived to long-lived exchange (Meta's `fb_exchange_token`, `ig_exchange_token`,
    /// `th_exchange_token`).
    pub exchange_url: Option<&'static str>,
    pub introspection: Introspection,
    pub introspection_url: Option<&'static str>,
    /// The cheap authenticated profile read.
    pub profile_url: &'static str,
    /// Token revocation at the network, where it offers one.
    pub revoke_url: Option<&'static str>,
    pub pkce: Pkce,
    pub client_auth: ClientAuth,
    /// The name of the client id parameter at authorize.
    pub client_id_param: &'static str,
    pub default_scopes: &'static [&'static str],
    pub scope_separator: &'static str,
    /// Extra fixed authorize parameters.
    pub extra_authorize_params: &'static [(&'static str, &'static str)],
    /// Used only when the token response has no `expires_in`. `None`: no expiry.
    pub default_access_lifetime: Option<Duration>,
    /// Used only when the token response has no refresh expiry field.
    pub default_refresh_lifetime: Option<Duration>,
    pub keep_alive: KeepAlive,
    /// LinkedIn: a refresh keeps the first refresh token's expiry instead of restarting it.
    pub refresh_expiry_fixed_at_first_issue: bool,
}

impl ProviderSpec {
    /// Whether tokenwarden can keep this connection alive, given whether it holds a
    /// refresh token (LinkedIn issues one only to partner apps; X only with
    /// `offline.access`).
    pub fn auto_refresh(&self, has_refresh_token: bool) -> bool {
        match self.keep_alive {
            KeepAlive::None => false,
            KeepAlive::Exchange { .. } => true,
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => has_refresh_token,
        }
    }

    pub fn scope_string(&self, scopes: &[&str]) -> String {
        scopes.join(self.scope_separator)
    }
}

const fn days(n: i64) -> Duration {
    Duration::days(n)
}

const fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

static CATALOGUE: [ProviderSpec; 9] = [
    ProviderSpec {
        provider: Provider::Facebook,
        display_name: "Facebook Pages",
        authorize_url: "https://www.facebook.com/v21.0/dialog/oauth",
        token_url: "https://graph.facebook.com/v21.0/oauth/access_token",
        refresh_url: None,
        exchange_url: Some("https://graph.facebook.com/v21.0/oauth/access_token"),
        introspection: Introspection::FacebookDebugToken,
        introspection_url: Some("https://graph.facebook.com/v21.0/debug_token"),
        profile_url: "https://graph.facebook.com/v21.0/me",
        revoke_url: Some("https://graph.facebook.com/v21.0/me/permissions"),
        pkce: Pkce::Accepted,
        client_auth: ClientAuth::FormBody,
        client_id_param: "client_id",
        default_scopes: &[
            "pages_show_list",
            "pages_read_engagement",
            "pages_manage_posts",
            "business_management",
        ],
        scope_separator: ",",
        extra_authorize_params: &[],
        // Long-lived user token; Page tokens derived from it carry no expiry.
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::None,
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::Instagram,
        display_name: "Instagram (via Facebook)",
        authorize_url: "https://www.facebook.com/v21.0/dialog/oauth",
        token_url: "https://graph.facebook.com/v21.0/oauth/access_token",
        refresh_url: None,
        exchange_url: Some("https://graph.facebook.com/v21.0/oauth/access_token"),
        introspection: Introspection::FacebookDebugToken,
        introspection_url: Some("https://graph.facebook.com/v21.0/debug_token"),
        profile_url: "https://graph.facebook.com/v21.0/me",
        revoke_url: Some("https://graph.facebook.com/v21.0/me/permissions"),
        pkce: Pkce::Accepted,
        client_auth: ClientAuth::FormBody,
        client_id_param: "client_id",
        default_scopes: &[
            "instagram_basic",
            "instagram_content_publish",
            "pages_show_list",
            "business_management",
        ],
        scope_separator: ",",
        extra_authorize_params: &[],
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::None,
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::InstagramLogin,
        display_name: "Instagram",
        authorize_url: "https://www.instagram.com/oauth/authorize",
        token_url: "https://api.instagram.com/oauth/access_token",
        refresh_url: Some("https://graph.instagram.com/refresh_access_token"),
        exchange_url: Some("https://graph.instagram.com/access_token"),
        introspection: Introspection::ProfileRead,
        introspection_url: None,
        profile_url: "https://graph.instagram.com/me",
        revoke_url: None,
        pkce: Pkce::NotUsed,
        client_auth: ClientAuth::FormBody,
        client_id_param: "client_id",
        default_scopes: &[
            "instagram_business_basic",
            "instagram_business_content_publish",
        ],
        scope_separator: ",",
        extra_authorize_params: &[],
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::Exchange { min_age: hours(24) },
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::Threads,
        display_name: "Threads",
        authorize_url: "https://threads.net/oauth/authorize",
        token_url: "https://graph.threads.net/oauth/access_token",
        refresh_url: Some("https://graph.threads.net/refresh_access_token"),
        exchange_url: Some("https://graph.threads.net/access_token"),
        introspection: Introspection::ProfileRead,
        introspection_url: None,
        profile_url: "https://graph.threads.net/v1.0/me",
        revoke_url: None,
        pkce: Pkce::NotUsed,
        client_auth: ClientAuth::FormBody,
        client_id_param: "client_id",
        default_scopes: &["threads_basic", "threads_content_publish"],
        scope_separator: ",",
        extra_authorize_params: &[],
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::Exchange { min_age: hours(24) },
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::Linkedin,
        display_name: "LinkedIn",
        authorize_url: "https://www.linkedin.com/oauth/v2/authorization",
        token_url: "https://www.linkedin.com/oauth/v2/accessToken",
        refresh_url: None,
        exchange_url: None,
        introspection: Introspection::LinkedinIntrospect,
        introspection_url: Some("https://www.linkedin.com/oauth/v2/introspectToken"),
        profile_url: "https://api.linkedin.com/v2/userinfo",
        revoke_url: Some("https://www.linkedin.com/oauth/v2/revoke"),
        pkce: Pkce::NotUsed,
        client_auth: ClientAuth::FormBody,
        client_id_param: "client_id",
        default_scopes: &["openid", "profile", "email", "w_member_social"],
        scope_separator: " ",
        extra_authorize_params: &[],
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: Some(days(365)),
        keep_alive: KeepAlive::RefreshGrant,
        refresh_expiry_fixed_at_first_issue: true,
    },
    ProviderSpec {
        provider: Provider::X,
        display_name: "X",
        authorize_url: "https://x.com/i/oauth2/authorize",
        token_url: "https://api.x.com/2/oauth2/token",
        refresh_url: None,
        exchange_url: None,
        introspection: Introspection::ProfileRead,
        introspection_url: None,
        profile_url: "https://api.x.com/2/users/me",
        revoke_url: Some("https://api.x.com/2/oauth2/revoke"),
        pkce: Pkce::Required,
        client_auth: ClientAuth::Basic,
        client_id_param: "client_id",
        default_scopes: &["tweet.read", "tweet.write", "users.read", "offline.access"],
        scope_separator: " ",
        extra_authorize_params: &[],
        default_access_lifetime: Some(hours(2)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::RefreshGrantRotating,
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::Google,
        display_name: "Google Business Profile / YouTube",
        authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        refresh_url: None,
        exchange_url: None,
        introspection: Introspection::GoogleTokenInfo,
        introspection_url: Some("https://oauth2.googleapis.com/tokeninfo"),
        profile_url: "https://www.googleapis.com/oauth2/v3/userinfo",
        revoke_url: Some("https://oauth2.googleapis.com/revoke"),
        pkce: Pkce::Accepted,
        client_auth: ClientAuth::FormBody,
        client_id_param: "client_id",
        default_scopes: &[
            "openid",
            "email",
            "profile",
            "https://www.googleapis.com/auth/business.manage",
            "https://www.googleapis.com/auth/youtube.upload",
        ],
        scope_separator: " ",
        extra_authorize_params: &[("access_type", "offline"), ("prompt", "consent")],
        default_access_lifetime: Some(hours(1)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::RefreshGrant,
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::Tiktok,
        display_name: "TikTok",
        authorize_url: "https://www.tiktok.com/v2/auth/authorize/",
        token_url: "https://open.tiktokapis.com/v2/oauth/token/",
        refresh_url: None,
        exchange_url: None,
        introspection: Introspection::ProfileRead,
        introspection_url: None,
        profile_url: "https://open.tiktokapis.com/v2/user/info/",
        revoke_url: Some("https://open.tiktokapis.com/v2/oauth/revoke/"),
        pkce: Pkce::NotUsed,
        client_auth: ClientAuth::ClientKey,
        client_id_param: "client_key",
        default_scopes: &["user.info.basic", "video.publish"],
        scope_separator: ",",
        extra_authorize_params: &[],
        // The documentation disagrees (24 h / 365 d and 2 h / 180 d): the response decides.
        default_access_lifetime: Some(hours(24)),
        default_refresh_lifetime: Some(days(365)),
        keep_alive: KeepAlive::RefreshGrantRotating,
        refresh_expiry_fixed_at_first_issue: false,
    },
    ProviderSpec {
        provider: Provider::Pinterest,
        display_name: "Pinterest",
        authorize_url: "https://www.pinterest.com/oauth/",
        token_url: "https://api.pinterest.com/v5/oauth/token",
        refresh_url: None,
        exchange_url: None,
        introspection: Introspection::ProfileRead,
        introspection_url: None,
        profile_url: "https://api.pinterest.com/v5/user_account",
        revoke_url: None,
        pkce: Pkce::NotUsed,
        client_auth: ClientAuth::Basic,
        client_id_param: "client_id",
        default_scopes: &[
            "boards:read",
            "pins:read",
            "pins:write",
            "user_accounts:read",
        ],
        scope_separator: ",",
        extra_authorize_params: &[],
        default_access_lifetime: Some(days(30)),
        // Continuous refresh (Pinterest's default since 2025): every refresh returns a new
        // refresh token good for 60 days; the older 365-day tokens are being retired.
        default_refresh_lifetime: Some(days(60)),
        keep_alive: KeepAlive::RefreshGrantRotating,
        refresh_expiry_fixed_at_first_issue: false,
    },
];

/// Resolves the catalogue's endpoints, optionally against a base URL where every network
/// is served under `{base}/{provider id}` (the provider fakes).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    base_override: Option<Url>,
}

impl Endpoints {
    /// The networks' real endpoints.
    pub fn real() -> Self {
        Self::default()
    }

    /// Every endpoint moved under `base` (e.g. `http://127.0.0.1:8123`), path kept.
    pub fn overridden(base: Url) -> Self {
        Self {
            base_override: Some(base),
        }
    }

    /// The URL to call for `documented`, one of a spec's endpoint URLs.
    pub fn resolve(&self, provider: Provider, documented: &str) -> Url {
        let real = Url::parse(documented).expect("catalogue URLs are valid");
        match &self.base_override {
            None => real,
            Some(base) => {
                let mut url = base.clone();
                let prefix = base.path().trim_end_matches('/');
                url.set_path(&format!("{prefix}/{}{}", provider.id(), real.path()));
                url.set_query(real.query());
                url
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_its_own_spec_and_id_round_trips() {
        for p in Provider::ALL {
            assert_eq!(p.spec().provider, p);
            assert_eq!(p.id().parse::<Provider>().unwrap(), p);
        }
        assert!("myspace".parse::<Provider>().is_err());
    }

    #[test]
    fn catalogue_follows_the_documented_facts() {
        assert_eq!(Provider::X.spec().pkce, Pkce::Required);
        assert_eq!(Provider::X.spec().client_auth, ClientAuth::Basic);
        assert!(Provider::X
            .spec()
            .default_scopes
            .contains(&"offline.access"));
        assert_eq!(Provider::Pinterest.spec().client_auth, ClientAuth::Basic);
        assert_eq!(Provider::Tiktok.spec().client_id_param, "client_key");
        assert_eq!(
            Provider::Tiktok.spec().keep_alive,
            KeepAlive::RefreshGrantRotating
        );
        assert!(Provider::Google
            .spec()
            .extra_authorize_params
            .contains(&("access_type", "offline")));
        assert!(
            Provider::Linkedin
                .spec()
                .refresh_expiry_fixed_at_first_issue
        );
        assert_eq!(Provider::Linkedin.spec().pkce, Pkce::NotUsed);
        assert!(matches!(
            Provider::Threads.spec().keep_alive,
            KeepAlive::Exchange { min_age } if min_age == Duration::hours(24)
        ));
        assert_eq!(Provider::Facebook.spec().keep_alive, KeepAlive::None);
    }

    #[test]
    fn auto_refresh_needs_a_refresh_token_for_refresh_grants() {
        assert!(!Provider::Linkedin.spec().auto_refresh(false));
        assert!(Provider::Linkedin.spec().auto_refresh(true));
        assert!(Provider::InstagramLogin.spec().auto_refresh(false));
        assert!(!Provider::Facebook.spec().auto_refresh(true));
    }

    #[test]
    fn override_keeps_the_path_under_the_provider_prefix() {
        let e = Endpoints::overridden(Url::parse("http://127.0.0.1:8123/").unwrap());
        let spec = Provider::Tiktok.spec();
        assert_eq!(
            e.resolve(Provider::Tiktok, spec.token_url).as_str(),
            "http://127.0.0.1:8123/tiktok/v2/oauth/token/"
        );
        assert_eq!(
            Endpoints::real()
                .resolve(Provider::X, Provider::X.spec().token_url)
                .as_str(),
            "https://api.x.com/2/oauth2/token"
        );
    }
}
