//! Which documented endpoint a request path names: `/{provider id}{documented path}`,
//! the paths taken from the fakes' own table ([`crate::documented`]), so a client that
//! calls a wrong path, or a Graph version Meta no longer serves, fails here.

use tokenwarden::domain::Provider;

use crate::documented::{self, is_version_segment, GRAPH_VERSIONS};

/// A documented endpoint of one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Authorize,
    /// The token URL: code exchange and refresh grants (and Meta's `fb_exchange_token`).
    Token,
    /// Instagram Login's / Threads' `access_token` exchange URL.
    Exchange,
    /// Instagram Login's / Threads' `refresh_access_token`.
    RefreshExchange,
    Introspect,
    Profile,
    /// Facebook's `/me/accounts`.
    Accounts,
    Revoke,
}

/// A request path resolved against the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Routed {
    pub provider: Provider,
    pub route: Route,
    /// The Graph version segment, when the documented path has one.
    pub version: Option<String>,
    /// The Graph node the path names in place of `me` (`/{user-id}/permissions`).
    pub node: Option<String>,
}

impl Routed {
    /// A Graph version segment Meta does not serve (expired, or never released).
    pub fn unserved_version(&self) -> Option<&str> {
        self.version
            .as_deref()
            .filter(|v| !GRAPH_VERSIONS.contains(v))
    }
}

/// Matches `tail` against a documented pattern; `{ver}` and `{node}` match one segment.
fn matches(pattern: &str, tail: &str) -> Option<(Option<String>, Option<String>)> {
    // A trailing slash is part of the documented path (TikTok's end in one).
    let want: Vec<&str> = pattern.split('/').collect();
    let got: Vec<&str> = tail.split('/').collect();
    if want.len() != got.len() {
        return None;
    }
    let (mut version, mut node) = (None, None);
    for (w, g) in want.iter().zip(&got) {
        match *w {
            "{ver}" if is_version_segment(g) => version = Some((*g).to_owned()),
            "{node}" if !g.is_empty() && *g != "me" => node = Some((*g).to_owned()),
            "{ver}" | "{node}" => return None,
            literal if literal == *g => {}
            _ => return None,
        }
    }
    Some((version, node))
}

/// Splits `/{provider}/{rest}` and finds the endpoint `rest` names.
pub(crate) fn route_of(path: &str) -> Option<Routed> {
    let rest = path.strip_prefix('/')?;
    let (id, tail) = rest.split_once('/')?;
    let provider: Provider = id.parse().ok()?;
    let tail = format!("/{tail}");
    let d = documented::of(provider);
    let mut table: Vec<(&str, Route)> =
        vec![(d.authorize, Route::Authorize), (d.token, Route::Token)];
    table.extend(d.exchange.map(|p| (p, Route::Exchange)));
    table.extend(d.refresh_exchange.map(|p| (p, Route::RefreshExchange)));
    table.extend(d.introspect.map(|p| (p, Route::Introspect)));
    table.push((d.profile, Route::Profile));
    table.extend(d.accounts.map(|p| (p, Route::Accounts)));
    table.extend(d.revoke.iter().map(|p| (*p, Route::Revoke)));
    table.into_iter().find_map(|(pattern, route)| {
        matches(pattern, &tail).map(|(version, node)| Routed {
            provider,
            route,
            version,
            node,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Option<(Provider, Route)> {
        route_of(path)
            .filter(|r| r.unserved_version().is_none())
            .map(|r| (r.provider, r.route))
    }

    #[test]
    fn every_documented_endpoint_is_routed() {
        let cases = [
            (
                "/instagram_login/oauth/authorize",
                Provider::InstagramLogin,
                Route::Authorize,
            ),
            (
                "/instagram_login/oauth/access_token",
                Provider::InstagramLogin,
                Route::Token,
            ),
            (
                "/instagram_login/access_token",
                Provider::InstagramLogin,
                Route::Exchange,
            ),
            (
                "/instagram_login/refresh_access_token",
                Provider::InstagramLogin,
                Route::RefreshExchange,
            ),
            (
                "/instagram_login/me",
                Provider::InstagramLogin,
                Route::Profile,
            ),
            (
                "/threads/oauth/authorize",
                Provider::Threads,
                Route::Authorize,
            ),
            (
                "/threads/oauth/access_token",
                Provider::Threads,
                Route::Token,
            ),
            ("/threads/access_token", Provider::Threads, Route::Exchange),
            (
                "/threads/refresh_access_token",
                Provider::Threads,
                Route::RefreshExchange,
            ),
            ("/threads/v1.0/me", Provider::Threads, Route::Profile),
            (
                "/linkedin/oauth/v2/authorization",
                Provider::Linkedin,
                Route::Authorize,
            ),
            (
                "/linkedin/oauth/v2/accessToken",
                Provider::Linkedin,
                Route::Token,
            ),
            (
                "/linkedin/oauth/v2/introspectToken",
                Provider::Linkedin,
                Route::Introspect,
            ),
            ("/linkedin/v2/userinfo", Provider::Linkedin, Route::Profile),
            (
                "/linkedin/oauth/v2/revoke",
                Provider::Linkedin,
                Route::Revoke,
            ),
            ("/x/i/oauth2/authorize", Provider::X, Route::Authorize),
            ("/x/2/oauth2/token", Provider::X, Route::Token),
            ("/x/2/users/me", Provider::X, Route::Profile),
            ("/x/2/oauth2/revoke", Provider::X, Route::Revoke),
            (
                "/google/o/oauth2/v2/auth",
                Provider::Google,
                Route::Authorize,
            ),
            ("/google/token", Provider::Google, Route::Token),
            ("/google/tokeninfo", Provider::Google, Route::Introspect),
            (
                "/google/oauth2/v3/userinfo",
                Provider::Google,
                Route::Profile,
            ),
            ("/google/revoke", Provider::Google, Route::Revoke),
            (
                "/tiktok/v2/auth/authorize/",
                Provider::Tiktok,
                Route::Authorize,
            ),
            ("/tiktok/v2/oauth/token/", Provider::Tiktok, Route::Token),
            ("/tiktok/v2/user/info/", Provider::Tiktok, Route::Profile),
            ("/tiktok/v2/oauth/revoke/", Provider::Tiktok, Route::Revoke),
            ("/pinterest/oauth/", Provider::Pinterest, Route::Authorize),
            (
                "/pinterest/v5/oauth/token",
                Provider::Pinterest,
                Route::Token,
            ),
            (
                "/pinterest/v5/user_account",
                Provider::Pinterest,
                Route::Profile,
            ),
        ];
        for (path, provider, route) in cases {
            assert_eq!(at(path), Some((provider, route)), "{path}");
        }
        assert_eq!(at("/myspace/oauth"), None);
        assert_eq!(
            at("/tiktok/v2/oauth/token"),
            None,
            "TikTok's path ends in a slash"
        );
        assert_eq!(
            at("/pinterest/v5/oauth/revoke"),
            None,
            "Pinterest documents no revoke"
        );
        assert_eq!(at("/threads/me"), None, "Threads' profile is versioned");
    }

    #[test]
    fn meta_graph_routes_are_served_at_every_served_version() {
        for provider in [Provider::Facebook, Provider::Instagram] {
            let id = provider.id();
            for version in GRAPH_VERSIONS {
                let cases = [
                    ("dialog/oauth", Route::Authorize),
                    ("oauth/access_token", Route::Token),
                    ("debug_token", Route::Introspect),
                    ("me", Route::Profile),
                    ("me/accounts", Route::Accounts),
                    ("me/permissions", Route::Revoke),
                    ("facebook-user-1/permissions", Route::Revoke),
                ];
                for (tail, route) in cases {
                    let path = format!("/{id}/{version}/{tail}");
                    let routed = route_of(&path).unwrap_or_else(|| panic!("{path}"));
                    assert_eq!((routed.provider, routed.route), (provider, route), "{path}");
                    assert_eq!(routed.version.as_deref(), Some(*version));
                    assert_eq!(routed.unserved_version(), None, "{path}");
                }
            }
        }
    }

    #[test]
    fn unserved_graph_versions_are_recognised_and_unversioned_paths_are_not_routed() {
        for version in ["v20.0", "v2.10", "v19.0", "v28.0", "v99.0"] {
            let routed = route_of(&format!("/facebook/{version}/me")).expect("a Graph path");
            assert_eq!(routed.route, Route::Profile);
            assert_eq!(routed.unserved_version(), Some(version));
        }
        assert_eq!(route_of("/facebook/me"), None);
        assert_eq!(route_of("/facebook/latest/me"), None);
        assert_eq!(route_of("/facebook/v21.0/me/feed"), None);
    }

    #[test]
    fn the_permissions_edge_names_its_node() {
        let routed = route_of("/facebook/v24.0/1234567890/permissions").unwrap();
        assert_eq!(routed.route, Route::Revoke);
        assert_eq!(routed.node.as_deref(), Some("1234567890"));
        let me = route_of("/facebook/v24.0/me/permissions").unwrap();
        assert_eq!(me.node, None);
    }
}
