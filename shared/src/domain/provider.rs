//! The provider catalogue: each network's name, how its connections are kept alive and the
//! lifetimes it documents, in domain terms. Endpoints are the network modules' (absolute
//! URLs); a base override (tests, the local run) keeps each path and replaces scheme, host
//! and port with `{base}/{provider id}`.

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
        // The catalogue lists the networks in declaration order (tested).
        &CATALOGUE[self as usize]
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

/// What disconnecting does at the network (`GET /providers` says it, the disconnect does it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disconnect {
    /// The refresh token is revoked, which ends the grant (the stored access token has
    /// usually expired by then); without one, the access token.
    RevokesRefreshToken,
    /// The access token is revoked: the network revokes by nothing else.
    RevokesAccessToken,
    /// Meta's revocation (`DELETE /{user-id}/permissions`) removes the app for the person
    /// everywhere, including Pages and accounts other teams connected through them: it is
    /// done only when no other account, in any team, stands on that person's grant;
    /// otherwise the account is removed here only, and the answer says so.
    RemovesAppForPerson,
    /// The network offers no revocation: the account is removed here only.
    NotOffered,
}

impl Disconnect {
    /// Whether a disconnect can revoke at the network at all.
    pub fn revokes(self) -> bool {
        !matches!(self, Disconnect::NotOffered)
    }
}

/// What the domain knows about one network: its name, how its connections are kept
/// alive, and the lifetimes it documents. How to talk to it (endpoints, request shapes,
/// answers, errors) is its module under `providers/`.
#[derive(Debug)]
pub struct ProviderSpec {
    pub provider: Provider,
    pub display_name: &'static str,
    pub pkce: Pkce,
    /// The scopes asked for at authorize.
    pub default_scopes: &'static [&'static str],
    /// The scopes without which the network refuses to publish: a consent missing one
    /// connects the account as `revoked` / `scopes_changed`, naming the permission.
    pub posting_scopes: &'static [&'static str],
    /// Any one of `posting_scopes` is enough (Google: Business Profile or YouTube, and
    /// Google's granular consent lets a person grant one of them).
    pub posting_scopes_any: bool,
    /// Used only when the token response has no `expires_in`. `None`: no expiry.
    pub default_access_lifetime: Option<Duration>,
    /// Used only when the token response has no refresh expiry field.
    pub default_refresh_lifetime: Option<Duration>,
    pub keep_alive: KeepAlive,
    /// LinkedIn: a refresh keeps the first refresh token's expiry instead of restarting it.
    pub refresh_expiry_fixed_at_first_issue: bool,
    /// Meta's data access clock (90 days from the person's last activity in the app) binds
    /// this network's connections besides the token's own expiry.
    pub data_access_clock: bool,
    pub disconnect: Disconnect,
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

    /// The posting scopes `granted` lacks, in catalogue order (for an any-of rule: all of
    /// them when none is granted, else none).
    pub fn missing_scopes(&self, granted: &[String]) -> Vec<&'static str> {
        let missing: Vec<&'static str> = self
            .posting_scopes
            .iter()
            .copied()
            .filter(|s| !granted.iter().any(|g| g == s))
            .collect();
        if self.posting_scopes_any && missing.len() < self.posting_scopes.len() {
            return Vec::new();
        }
        missing
    }
}

const fn days(n: i64) -> Duration {
    Duration::days(n)
}

const fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

/// The facts behind each entry, with their sources and the date they were checked, are in
/// the network's module doc (`providers/meta`, `linkedin`, `x`, `google`, `tiktok`,
/// `pinterest`).
static CATALOGUE: [ProviderSpec; 9] = [
    ProviderSpec {
        provider: Provider::Facebook,
        display_name: "Facebook Pages",
        pkce: Pkce::Accepted,
        default_scopes: &[
            "pages_show_list",
            "pages_read_engagement",
            "pages_manage_posts",
            "business_management",
        ],
        posting_scopes: &["pages_show_list", "pages_manage_posts"],
        posting_scopes_any: false,
        // Long-lived user token; Page tokens derived from it carry no expiry.
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::None,
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: true,
        disconnect: Disconnect::RemovesAppForPerson,
    },
    ProviderSpec {
        provider: Provider::Instagram,
        display_name: "Instagram (via Facebook)",
        pkce: Pkce::Accepted,
        default_scopes: &[
            "instagram_basic",
            "instagram_content_publish",
            "pages_show_list",
            "business_management",
        ],
        posting_scopes: &["instagram_basic", "instagram_content_publish"],
        posting_scopes_any: false,
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::None,
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: true,
        disconnect: Disconnect::RemovesAppForPerson,
    },
    ProviderSpec {
        provider: Provider::InstagramLogin,
        display_name: "Instagram",
        pkce: Pkce::NotUsed,
        default_scopes: &[
            "instagram_business_basic",
            "instagram_business_content_publish",
        ],
        posting_scopes: &["instagram_business_content_publish"],
        posting_scopes_any: false,
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::Exchange { min_age: hours(24) },
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: false,
        disconnect: Disconnect::NotOffered,
    },
    ProviderSpec {
        provider: Provider::Threads,
        display_name: "Threads",
        pkce: Pkce::NotUsed,
        default_scopes: &["threads_basic", "threads_content_publish"],
        posting_scopes: &["threads_content_publish"],
        posting_scopes_any: false,
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::Exchange { min_age: hours(24) },
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: false,
        disconnect: Disconnect::NotOffered,
    },
    ProviderSpec {
        provider: Provider::Linkedin,
        display_name: "LinkedIn",
        pkce: Pkce::NotUsed,
        default_scopes: &["openid", "profile", "email", "w_member_social"],
        posting_scopes: &["w_member_social"],
        posting_scopes_any: false,
        default_access_lifetime: Some(days(60)),
        default_refresh_lifetime: Some(days(365)),
        keep_alive: KeepAlive::RefreshGrant,
        refresh_expiry_fixed_at_first_issue: true,
        data_access_clock: false,
        disconnect: Disconnect::RevokesAccessToken,
    },
    ProviderSpec {
        provider: Provider::X,
        display_name: "X",
        pkce: Pkce::Required,
        default_scopes: &["tweet.read", "tweet.write", "users.read", "offline.access"],
        posting_scopes: &["tweet.write", "users.read"],
        posting_scopes_any: false,
        default_access_lifetime: Some(hours(2)),
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::RefreshGrantRotating,
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: false,
        disconnect: Disconnect::RevokesRefreshToken,
    },
    ProviderSpec {
        provider: Provider::Google,
        display_name: "Google Business Profile / YouTube",
        pkce: Pkce::Accepted,
        default_scopes: &[
            "openid",
            "email",
            "profile",
            "https://www.googleapis.com/auth/business.manage",
            "https://www.googleapis.com/auth/youtube.upload",
        ],
        posting_scopes: &[
            "https://www.googleapis.com/auth/business.manage",
            "https://www.googleapis.com/auth/youtube.upload",
        ],
        posting_scopes_any: true,
        default_access_lifetime: Some(hours(1)),
        // Apps in "Testing" status: 7 days, set by the network settings (google module).
        default_refresh_lifetime: None,
        keep_alive: KeepAlive::RefreshGrant,
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: false,
        disconnect: Disconnect::RevokesRefreshToken,
    },
    ProviderSpec {
        provider: Provider::Tiktok,
        display_name: "TikTok",
        pkce: Pkce::NotUsed,
        default_scopes: &["user.info.basic", "video.publish"],
        posting_scopes: &["video.publish"],
        posting_scopes_any: false,
        // As documented since 2025 (2 h / 180 d); the answer's own fields win.
        default_access_lifetime: Some(hours(2)),
        default_refresh_lifetime: Some(days(180)),
        keep_alive: KeepAlive::RefreshGrantRotating,
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: false,
        disconnect: Disconnect::RevokesAccessToken,
    },
    ProviderSpec {
        provider: Provider::Pinterest,
        display_name: "Pinterest",
        pkce: Pkce::NotUsed,
        default_scopes: &[
            "boards:read",
            "pins:read",
            "pins:write",
            "user_accounts:read",
        ],
        posting_scopes: &["boards:read", "pins:write"],
        posting_scopes_any: false,
        default_access_lifetime: Some(days(30)),
        // Continuous refresh: every refresh returns a new refresh token good for 60 days.
        default_refresh_lifetime: Some(days(60)),
        keep_alive: KeepAlive::RefreshGrantRotating,
        refresh_expiry_fixed_at_first_issue: false,
        data_access_clock: false,
        disconnect: Disconnect::NotOffered,
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

    /// The URL to call for `documented`, one of a network module's endpoint URLs.
    pub fn resolve(&self, provider: Provider, documented: &str) -> Result<Url, url::ParseError> {
        let real = Url::parse(documented)?;
        Ok(match &self.base_override {
            None => real,
            Some(base) => {
                let mut url = base.clone();
                let prefix = base.path().trim_end_matches('/');
                url.set_path(&format!("{prefix}/{}{}", provider.id(), real.path()));
                url.set_query(real.query());
                url
            }
        })
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
        assert!(Provider::X
            .spec()
            .default_scopes
            .contains(&"offline.access"));
        assert_eq!(
            Provider::Tiktok.spec().keep_alive,
            KeepAlive::RefreshGrantRotating
        );
        assert_eq!(
            Provider::Tiktok.spec().default_access_lifetime,
            Some(Duration::hours(2))
        );
        assert_eq!(
            Provider::Tiktok.spec().default_refresh_lifetime,
            Some(Duration::days(180))
        );
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
        assert!(Provider::Facebook.spec().data_access_clock);
        assert!(!Provider::InstagramLogin.spec().data_access_clock);
    }

    #[test]
    fn every_network_asks_for_the_scopes_it_needs_to_post() {
        for p in Provider::ALL {
            let spec = p.spec();
            for s in spec.posting_scopes {
                assert!(spec.default_scopes.contains(s), "{p} {s}");
            }
            let all: Vec<String> = spec.default_scopes.iter().map(|s| s.to_string()).collect();
            assert!(spec.missing_scopes(&all).is_empty(), "{p}");
            assert_eq!(spec.missing_scopes(&[]), spec.posting_scopes, "{p}");
        }
        // Google: YouTube alone (or Business Profile alone) is enough to publish.
        let youtube = vec!["https://www.googleapis.com/auth/youtube.upload".to_owned()];
        assert!(Provider::Google.spec().missing_scopes(&youtube).is_empty());
        // Facebook needs every one of its posting scopes.
        let list_only = vec!["pages_show_list".to_owned()];
        assert_eq!(
            Provider::Facebook.spec().missing_scopes(&list_only),
            ["pages_manage_posts"]
        );
        {}
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
        assert_eq!(
            e.resolve(
                Provider::Tiktok,
                "https://open.tiktokapis.com/v2/oauth/token/"
            )
            .unwrap()
            .as_str(),
            "http://127.0.0.1:8123/tiktok/v2/oauth/token/"
        );
        assert!(Endpoints::real().resolve(Provider::X, "not a url").is_err());
        assert_eq!(
            Endpoints::real()
                .resolve(Provider::X, "https://api.x.com/2/oauth2/token")
                .unwrap()
                .as_str(),
            "https://api.x.com/2/oauth2/token"
        );
    }
}
