//! What each network publishes about its OAuth endpoints, written down here from the
//! networks' own documentation and not taken from tokenwarden's catalogue: a wrong path,
//! PKCE rule or client authentication in the code under test must fail against the fakes.
//!
//! Paths are the documented ones without scheme and host (the fakes serve every network
//! under `/{provider id}`). `{ver}` is a Graph API version segment (`v21.0`), served only
//! for the versions in [`GRAPH_VERSIONS`]; `{node}` is a Graph node id (a person's id).

use tokenwarden::domain::Provider;

use crate::model::ClientAuthSeen;

/// The Graph API versions Meta serves (facebook.com, graph.facebook.com), oldest first.
///
/// From Meta's Graph API changelog, version table ("Introduced", "Available Until"),
/// <https://developers.facebook.com/docs/graph-api/changelog/>, and the v27.0 release post
/// <https://developers.facebook.com/blog/post/2026/11/04/introducing-graph-api-v27-and-marketing-api-v27/>;
/// checked 2026-12-02:
///
/// | version | introduced | available until |
/// | --- | --- | --- |
/// | v21.0 | 2024-10-02 | 2027-01-21 |
/// | v22.0 | 2025-01-21 | 2027-05-20 |
/// | v23.0 | 2025-05-29 | 2027-10-08 |
/// | v24.0 | 2025-10-08 | 2028-02-18 |
/// | v25.0 | 2026-02-18 | 2028-07-29 |
/// | v26.0 | 2026-07-29 | TBD |
/// | v27.0 | 2026-11-04 | TBD |
///
/// v20.0 was available until 2026-09-24. Meta's versioning page says a call to an expired
/// version is served by the oldest available one; the fakes answer Graph's "Unknown path
/// components" error instead, so a client pinned to a stale version is caught.
pub(crate) const GRAPH_VERSIONS: &[&str] = &[
    "v21.0", "v22.0", "v23.0", "v24.0", "v25.0", "v26.0", "v27.0",
];

/// Whether the network takes a PKCE challenge (`code_challenge`, S256) at authorize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pkce {
    /// Refused without a challenge.
    Required,
    /// Checked when one was sent.
    Accepted,
    /// Not documented: a challenge is ignored and no verifier is asked for.
    NotUsed,
}

impl Pkce {
    pub fn used(self) -> bool {
        !matches!(self, Pkce::NotUsed)
    }
}

/// What a refresh does, as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresh {
    /// No refresh grant (Meta user tokens: a person reconnects).
    None,
    /// `grant_type=refresh_token`; the same refresh token stays.
    Keeps,
    /// `grant_type=refresh_token`; every refresh returns a new refresh token and retires
    /// the one presented.
    Rotates,
    /// Pinterest: rotating for a continuous-refresh grant, keeping for a legacy one.
    PinterestContinuous,
    /// The long-lived access token refreshes itself (`ig_refresh_token`,
    /// `th_refresh_token`).
    Exchange,
}

impl Refresh {
    pub fn uses_refresh_token(self) -> bool {
        matches!(
            self,
            Refresh::Keeps | Refresh::Rotates | Refresh::PinterestContinuous
        )
    }
}

/// One network's documented OAuth surface.
#[derive(Debug)]
pub(crate) struct Documented {
    pub provider: Provider,
    /// The network's name on its consent and error pages.
    pub display_name: &'static str,
    pub authorize: &'static str,
    /// Code exchange and refresh grants (and Meta's `fb_exchange_token`).
    pub token: &'static str,
    /// Instagram Login's / Threads' short-to-long-lived exchange.
    pub exchange: Option<&'static str>,
    /// Instagram Login's / Threads' `refresh_access_token`.
    pub refresh_exchange: Option<&'static str>,
    pub introspect: Option<&'static str>,
    pub profile: &'static str,
    /// Facebook's `/me/accounts`.
    pub accounts: Option<&'static str>,
    /// Token revocation, every documented form (first: the one a token names itself by).
    pub revoke: &'static [&'static str],
    /// The revoke method: Graph's `DELETE`, everyone else's `POST`.
    pub revoke_method: &'static str,
    pub pkce: Pkce,
    /// The `code_challenge_method`s documented (RFC 7636: `S256`, `plain`).
    pub pkce_methods: &'static [&'static str],
    /// How the client may authenticate at the token endpoint.
    pub client_auth: &'static [ClientAuthSeen],
    /// The name of the client id parameter at authorize.
    pub client_id_param: &'static str,
    /// How the token answer lists scopes.
    pub scope_separator: &'static str,
    pub refresh: Refresh,
}

/// Facebook Login (manual flow), long-lived and Page tokens, `debug_token`, and
/// `DELETE /{user-id}/permissions`. <https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow>,
/// <https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived>,
/// <https://developers.facebook.com/docs/graph-api/reference/debug_token/>,
/// <https://developers.facebook.com/docs/graph-api/reference/user/permissions/>,
/// <https://developers.facebook.com/docs/pages-api/overview>; checked 2026-12-02.
/// Client authentication: `client_id` + `client_secret` as parameters of the
/// (GET) `oauth/access_token` call. PKCE: the manual flow takes `code_challenge` and
/// `code_challenge_method`.
const FACEBOOK: Documented = Documented {
    provider: Provider::Facebook,
    display_name: "Facebook Pages",
    authorize: "/{ver}/dialog/oauth",
    token: "/{ver}/oauth/access_token",
    exchange: None,
    refresh_exchange: None,
    introspect: Some("/{ver}/debug_token"),
    profile: "/{ver}/me",
    accounts: Some("/{ver}/me/accounts"),
    revoke: &["/{ver}/me/permissions", "/{ver}/{node}/permissions"],
    revoke_method: "DELETE",
    pkce: Pkce::Accepted,
    pkce_methods: &["S256"],
    client_auth: &[ClientAuthSeen::Query, ClientAuthSeen::Form],
    client_id_param: "client_id",
    scope_separator: ",",
    refresh: Refresh::None,
};

/// Instagram professional accounts through Facebook Login for Business: the same Graph
/// endpoints as Facebook. <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-facebook-login/>,
/// checked 2026-12-02.
const INSTAGRAM: Documented = Documented {
    provider: Provider::Instagram,
    display_name: "Instagram (via Facebook)",
    ..FACEBOOK
};

/// Instagram API with Instagram Login: authorize at www.instagram.com, code exchange
/// at api.instagram.com (form body: `client_id`, `client_secret`, `grant_type`,
/// `redirect_uri`, `code`), long-lived exchange and refresh at graph.instagram.com.
/// <https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/business-login>,
/// <https://developers.facebook.com/docs/instagram-platform/reference/access_token>,
/// <https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token>;
/// checked 2026-12-02. No PKCE is documented.
const INSTAGRAM_LOGIN: Documented = Documented {
    provider: Provider::InstagramLogin,
    display_name: "Instagram",
    authorize: "/oauth/authorize",
    token: "/oauth/access_token",
    exchange: Some("/access_token"),
    refresh_exchange: Some("/refresh_access_token"),
    introspect: None,
    profile: "/me",
    accounts: None,
    revoke: &[],
    revoke_method: "POST",
    pkce: Pkce::NotUsed,
    pkce_methods: &["S256"],
    client_auth: &[ClientAuthSeen::Form],
    client_id_param: "client_id",
    scope_separator: ",",
    refresh: Refresh::Exchange,
};

/// Threads API: authorize at threads.net, code exchange at graph.threads.net (form body),
/// `th_exchange_token` and `th_refresh_token`, profile at `/v1.0/me`.
/// <https://developers.facebook.com/docs/threads/get-started/get-access-tokens-and-permissions>,
/// <https://developers.facebook.com/docs/threads/get-started/long-lived-tokens>,
/// <https://developers.facebook.com/docs/threads/threads-profiles>; checked 2026-12-02.
/// No PKCE is documented.
const THREADS: Documented = Documented {
    provider: Provider::Threads,
    display_name: "Threads",
    authorize: "/oauth/authorize",
    token: "/oauth/access_token",
    exchange: Some("/access_token"),
    refresh_exchange: Some("/refresh_access_token"),
    introspect: None,
    profile: "/v1.0/me",
    accounts: None,
    revoke: &[],
    revoke_method: "POST",
    pkce: Pkce::NotUsed,
    pkce_methods: &["S256"],
    client_auth: &[ClientAuthSeen::Form],
    client_id_param: "client_id",
    scope_separator: ",",
    refresh: Refresh::Exchange,
};

/// LinkedIn 3-legged OAuth: `client_id` + `client_secret` in the form body of
/// `/oauth/v2/accessToken`, `introspectToken` and `revoke`; programmatic refresh tokens
/// keep their first 365-day expiry; OpenID userinfo at api.linkedin.com.
/// <https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow>,
/// <https://learn.microsoft.com/en-us/linkedin/shared/authentication/programmatic-refresh-tokens>,
/// <https://learn.microsoft.com/en-us/linkedin/shared/authentication/token-introspection>,
/// <https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2>;
/// checked 2026-12-02. PKCE is documented only for native (mobile) clients: not used here.
const LINKEDIN: Documented = Documented {
    provider: Provider::Linkedin,
    display_name: "LinkedIn",
    authorize: "/oauth/v2/authorization",
    token: "/oauth/v2/accessToken",
    exchange: None,
    refresh_exchange: None,
    introspect: Some("/oauth/v2/introspectToken"),
    profile: "/v2/userinfo",
    accounts: None,
    revoke: &["/oauth/v2/revoke"],
    revoke_method: "POST",
    pkce: Pkce::NotUsed,
    pkce_methods: &["S256"],
    client_auth: &[ClientAuthSeen::Form],
    client_id_param: "client_id",
    scope_separator: " ",
    refresh: Refresh::Keeps,
};

/// X OAuth 2.0 Authorization Code with PKCE: PKCE required (`S256` or `plain`); a
/// confidential client sends
/// `Authorization: Basic` at `/2/oauth2/token` and `/2/oauth2/revoke`; refresh tokens
/// (with `offline.access`) rotate. <https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code>,
/// <https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/user-access-token>;
/// checked 2026-12-02.
const X: Documented = Documented {
    provider: Provider::X,
    display_name: "X",
    authorize: "/i/oauth2/authorize",
    token: "/2/oauth2/token",
    exchange: None,
    refresh_exchange: None,
    introspect: None,
    profile: "/2/users/me",
    accounts: None,
    revoke: &["/2/oauth2/revoke"],
    revoke_method: "POST",
    pkce: Pkce::Required,
    pkce_methods: &["S256", "plain"],
    client_auth: &[ClientAuthSeen::Basic],
    client_id_param: "client_id",
    scope_separator: " ",
    refresh: Refresh::Rotates,
};

/// Google OAuth 2.0 for web server applications: `client_id` + `client_secret` in the
/// form body (Google's discovery document also lists `client_secret_basic`), PKCE
/// accepted (`S256` or `plain`), a refresh token only with `access_type=offline`, revocation at
/// oauth2.googleapis.com/revoke, at most 100 refresh tokens per account per client.
/// <https://developers.google.com/identity/protocols/oauth2/web-server>,
/// <https://developers.google.com/identity/protocols/oauth2#expiration>,
/// <https://accounts.google.com/.well-known/openid-configuration>; checked 2026-12-02.
const GOOGLE: Documented = Documented {
    provider: Provider::Google,
    display_name: "Google Business Profile / YouTube",
    authorize: "/o/oauth2/v2/auth",
    token: "/token",
    exchange: None,
    refresh_exchange: None,
    introspect: Some("/tokeninfo"),
    profile: "/oauth2/v3/userinfo",
    accounts: None,
    revoke: &["/revoke"],
    revoke_method: "POST",
    pkce: Pkce::Accepted,
    pkce_methods: &["S256", "plain"],
    client_auth: &[ClientAuthSeen::Form, ClientAuthSeen::Basic],
    client_id_param: "client_id",
    scope_separator: " ",
    refresh: Refresh::Keeps,
};

/// TikTok Login Kit for web: `client_key` at authorize; `client_key` + `client_secret`
/// in the form body of `/v2/oauth/token/` and `/v2/oauth/revoke/`; refresh tokens rotate.
/// PKCE is documented for mobile and desktop apps only, so a web client sends none.
/// <https://developers.tiktok.com/doc/login-kit-web>,
/// <https://developers.tiktok.com/doc/oauth-user-access-token-management>; checked
/// 2026-12-02.
const TIKTOK: Documented = Documented {
    provider: Provider::Tiktok,
    display_name: "TikTok",
    authorize: "/v2/auth/authorize/",
    token: "/v2/oauth/token/",
    exchange: None,
    refresh_exchange: None,
    introspect: None,
    profile: "/v2/user/info/",
    accounts: None,
    revoke: &["/v2/oauth/revoke/"],
    revoke_method: "POST",
    pkce: Pkce::NotUsed,
    pkce_methods: &["S256"],
    client_auth: &[ClientAuthSeen::ClientKey],
    client_id_param: "client_key",
    scope_separator: ",",
    refresh: Refresh::Rotates,
};

/// Pinterest API v5: authorize at www.pinterest.com/oauth/, `Authorization: Basic` at
/// `/v5/oauth/token`, continuous refresh (`continuous_refresh=true`, the default for apps
/// created from 2025-09-25). No PKCE and no revocation endpoint are documented.
/// <https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/>,
/// <https://developers.pinterest.com/docs/api/v5/oauth-token>; checked 2026-12-02.
const PINTEREST: Documented = Documented {
    provider: Provider::Pinterest,
    display_name: "Pinterest",
    authorize: "/oauth/",
    token: "/v5/oauth/token",
    exchange: None,
    refresh_exchange: None,
    introspect: None,
    profile: "/v5/user_account",
    accounts: None,
    revoke: &[],
    revoke_method: "POST",
    pkce: Pkce::NotUsed,
    pkce_methods: &["S256"],
    client_auth: &[ClientAuthSeen::Basic],
    client_id_param: "client_id",
    scope_separator: ",",
    refresh: Refresh::PinterestContinuous,
};

static TABLE: [Documented; 9] = [
    FACEBOOK,
    INSTAGRAM,
    INSTAGRAM_LOGIN,
    THREADS,
    LINKEDIN,
    X,
    GOOGLE,
    TIKTOK,
    PINTEREST,
];

/// The documented surface of `provider`.
pub(crate) fn of(provider: Provider) -> &'static Documented {
    TABLE
        .iter()
        .find(|d| d.provider == provider)
        .unwrap_or(&TABLE[0])
}

/// Whether a path segment is a Graph version (`v21.0`), served or not.
pub(crate) fn is_version_segment(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_its_own_entry() {
        for provider in Provider::ALL {
            assert_eq!(of(provider).provider, provider);
        }
    }

    #[test]
    fn version_segments() {
        assert!(is_version_segment("v21.0"));
        assert!(is_version_segment("v3.2"));
        assert!(!is_version_segment("v21"));
        assert!(!is_version_segment("me"));
        assert!(!is_version_segment("v.0"));
        assert!(GRAPH_VERSIONS.iter().all(|v| is_version_segment(v)));
    }
}
