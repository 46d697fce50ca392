//! Which documented endpoint a request path names: `/{provider id}{documented path}`,
//! the paths taken from tokenwarden's catalogue so `Endpoints::overridden` lands here.

use tokenwarden::domain::Provider;
use url::Url;

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

fn path_of(documented: &str) -> String {
    Url::parse(documented)
        .map(|u| u.path().to_owned())
        .unwrap_or_default()
}

/// Splits `/{provider}/{rest}` and finds the endpoint `rest` names.
pub(crate) fn route_of(path: &str) -> Option<(Provider, Route)> {
    let rest = path.strip_prefix('/')?;
    let (id, tail) = rest.split_once('/')?;
    let provider: Provider = id.parse().ok()?;
    let tail = format!("/{tail}");
    let spec = provider.spec();
    let mut table: Vec<(String, Route)> = vec![
        (path_of(spec.authorize_url), Route::Authorize),
        (path_of(spec.token_url), Route::Token),
    ];
    if let Some(u) = spec.exchange_url {
        table.push((path_of(u), Route::Exchange));
    }
    if let Some(u) = spec.refresh_url {
        table.push((path_of(u), Route::RefreshExchange));
    }
    if let Some(u) = spec.introspection_url {
        table.push((path_of(u), Route::Introspect));
    }
    table.push((path_of(spec.profile_url), Route::Profile));
    if matches!(provider, Provider::Facebook | Provider::Instagram) {
        table.push((
            format!("{}/accounts", path_of(spec.profile_url)),
            Route::Accounts,
        ));
    }
    if let Some(u) = spec.revoke_url {
        table.push((path_of(u), Route::Revoke));
    }
    // First match wins: Meta's exchange URL is its token URL, served by `Token`.
    table
        .into_iter()
        .find(|(p, _)| *p == tail)
        .map(|(_, r)| (provider, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_endpoint_is_routed() {
        for provider in Provider::ALL {
            let spec = provider.spec();
            let at = |u: &str| format!("/{}{}", provider.id(), path_of(u));
            assert_eq!(
                route_of(&at(spec.authorize_url)),
                Some((provider, Route::Authorize))
            );
            assert_eq!(
                route_of(&at(spec.token_url)),
                Some((provider, Route::Token))
            );
            assert_eq!(
                route_of(&at(spec.profile_url)),
                Some((provider, Route::Profile))
            );
            if let Some(u) = spec.revoke_url {
                assert_eq!(route_of(&at(u)), Some((provider, Route::Revoke)));
            }
            if let Some(u) = spec.introspection_url {
                assert_eq!(route_of(&at(u)), Some((provider, Route::Introspect)));
            }
        }
        assert_eq!(
            route_of("/facebook/v21.0/me/accounts"),
            Some((Provider::Facebook, Route::Accounts))
        );
        assert_eq!(
            route_of("/threads/refresh_access_token"),
            Some((Provider::Threads, Route::RefreshExchange))
        );
        assert_eq!(route_of("/myspace/oauth"), None);
        assert_eq!(
            route_of("/tiktok/v2/oauth/token"),
            None,
            "TikTok's path ends in a slash"
        );
    }
}
