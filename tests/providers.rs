//! The HTTP provider adapter against the provider fakes, over the wire: every network's
//! connect flow (authorize, code exchange, long-lived exchange, accounts, check, refresh,
//! revoke), client authentication and PKCE as the fake saw them, and the failures that
//! must (or must not) break a connection. Each test starts its own fakes on 127.0.0.1:0.

use std::error::Error as _;
use std::time::Duration;

use provider_fakes::{
    ClientAuthSeen, EndpointKind, FakeHandle, FakePage, FakeUser, Fault, RecordedRequest,
    SettingsPatch,
};
use tokenwarden::domain::{Endpoints, KeepAlive, Pkce, Provider, Reason, Status, Verdict};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::providers::{
    AuthorizeRequest, ClientCredentials, Consent, Credentials, HeldTokens, HttpProviderClient,
    ProviderClient, ProviderError, TokenGrant,
};
use url::Url;

const REDIRECT_URI: &str = "https://app.tokenwarden.test/oauth/callback";
const CANARY: &str = "canary-";

struct Rig {
    fakes: FakeHandle,
    client: HttpProviderClient,
    browser: reqwest::Client,
}

async fn rig() -> Rig {
    rig_with_timeout(Duration::from_secs(5)).await
}

async fn rig_with_timeout(timeout: Duration) -> Rig {
    let fakes = provider_fakes::start_local()
        .await
        .expect("the provider fakes start on a free port");
    let client = HttpProviderClient::new(fakes.credentials(), fakes.endpoints(), timeout)
        .expect("the HTTP client builds");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the browser client builds");
    Rig {
        fakes,
        client,
        browser,
    }
}

fn new_verifier() -> String {
    // A canary too: a verifier must never show in an error either.
    format!(
        "canary-verifier-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Display, Debug and every source of an error, for leak checks.
fn shown(err: &ProviderError) -> String {
    let mut text = format!("{err} | {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    text
}

fn assert_no_canary(err: &ProviderError) {
    let text = shown(err);
    assert!(!text.contains(CANARY), "an error shows a secret: {text}");
}

fn revoked(reason: Reason) -> Verdict {
    Verdict::Broken {
        status: Status::Revoked,
        reason,
    }
}

fn secs(d: Option<chrono::Duration>) -> Option<i64> {
    d.map(|d| d.num_seconds())
}

impl Rig {
    fn provider_calls(
        log: &[RecordedRequest],
        provider: Provider,
        kind: EndpointKind,
    ) -> Vec<RecordedRequest> {
        log.iter()
            .filter(|r| r.provider == Some(provider) && r.kind == Some(kind))
            .cloned()
            .collect()
    }

    async fn log(&self) -> Vec<RecordedRequest> {
        self.fakes
            .control
            .requests()
            .await
            .expect("the request log")
    }

    /// Follows the authorize URL like a browser and returns the redirect's query.
    async fn follow_authorize(
        &self,
        provider: Provider,
        state: &str,
        verifier: Option<&Secret>,
    ) -> Url {
        let url = self
            .client
            .authorize_url(&AuthorizeRequest {
                provider,
                state,
                redirect_uri: REDIRECT_URI,
                code_verifier: verifier,
                consent: Consent::Connect,
            })
            .expect("an authorize URL");
        let location = provider_fakes::consent(&self.browser, &url)
            .await
            .unwrap_or_else(|e| panic!("{provider}: authorize redirects: {e:?}"));
        assert!(
            location.as_str().starts_with(REDIRECT_URI),
            "{provider}: back to our callback: {location}"
        );
        location
    }

    /// Authorizes and returns the code (and the PKCE verifier used, where the network
    /// takes one).
    async fn authorize(&self, provider: Provider) -> (Secret, Option<Secret>) {
        let verifier = provider.spec().pkce.used().then(new_verifier);
        let verifier_secret = verifier.clone().map(Secret::from);
        let state = format!("state-{}", uuid::Uuid::new_v4().simple());
        let back = self
            .follow_authorize(provider, &state, verifier_secret.as_ref())
            .await;
        let param = |k: &str| {
            back.query_pairs()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(
            param("state").as_deref(),
            Some(state.as_str()),
            "{provider}: state returned"
        );
        let code = param("code").unwrap_or_else(|| panic!("{provider}: a code in {back}"));
        (Secret::from(code), verifier.map(Secret::from))
    }

    async fn connect(&self, provider: Provider) -> TokenGrant {
        let (code, verifier) = self.authorize(provider).await;
        self.client
            .exchange_code(provider, &code, REDIRECT_URI, verifier.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{provider}: code exchange: {e}"))
    }
}

/// (expires_in, refresh_expires_in, has a refresh token) of the fake's code exchange.
fn code_grant_lifetimes(provider: Provider) -> (Option<i64>, Option<i64>, bool) {
    match provider {
        Provider::Facebook | Provider::Instagram => (Some(5_400), None, false),
        Provider::InstagramLogin | Provider::Threads => (None, None, false),
        Provider::Linkedin => (Some(5_184_000), Some(31_536_000), true),
        Provider::X => (Some(7_200), None, true),
        Provider::Google => (Some(3_599), None, true),
        Provider::Tiktok => (Some(7_200), Some(15_552_000), true),
        Provider::Pinterest => (Some(2_592_000), Some(5_184_000), true),
    }
}

fn expected_client_auth(provider: Provider) -> ClientAuthSeen {
    match provider {
        Provider::Facebook | Provider::Instagram => ClientAuthSeen::Query,
        Provider::X | Provider::Pinterest => ClientAuthSeen::Basic,
        Provider::Tiktok => ClientAuthSeen::ClientKey,
        Provider::InstagramLogin | Provider::Threads | Provider::Linkedin | Provider::Google => {
            ClientAuthSeen::Form
        }
    }
}

/// The whole life of one connection at one network.
async fn full_flow(provider: Provider) {
    let rig = rig().await;
    let spec = provider.spec();
    let canary_access = format!("canary-{}-access-", provider.id());

    // Connect: authorize in the browser, exchange the code.
    let (code, verifier) = rig.authorize(provider).await;
    let grant = rig
        .client
        .exchange_code(provider, &code, REDIRECT_URI, verifier.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{provider}: code exchange: {e}"));
    let (expires, refresh_expires, has_refresh) = code_grant_lifetimes(provider);
    assert!(grant
        .access_token
        .expose_secret()
        .starts_with(&canary_access));
    assert_eq!(secs(grant.expires_in), expires, "{provider}: expires_in");
    assert_eq!(
        secs(grant.refresh_expires_in),
        refresh_expires,
        "{provider}: refresh expiry"
    );
    assert_eq!(
        grant.refresh_token.is_some(),
        has_refresh,
        "{provider}: refresh token"
    );
    if matches!(
        provider,
        Provider::InstagramLogin | Provider::Threads | Provider::Tiktok
    ) {
        assert_eq!(
            grant.user_id.as_deref(),
            Some(format!("{}-user-1", provider.id()).as_str()),
            "{provider}: the token answer names the user"
        );
    }
    assert!(
        !format!("{grant:?}").contains(CANARY),
        "a grant's Debug hides its tokens"
    );

    // What the fake saw at the token endpoint: client auth and PKCE.
    let log = rig.log().await;
    let token_calls = Rig::provider_calls(&log, provider, EndpointKind::Token);
    assert_eq!(token_calls.len(), 1, "{provider}");
    let seen = &token_calls[0];
    assert_eq!(seen.status, 200, "{provider}");
    assert_eq!(
        seen.client_auth,
        expected_client_auth(provider),
        "{provider}: client auth"
    );
    assert_eq!(seen.redirect_uri.as_deref(), Some(REDIRECT_URI));
    assert_eq!(
        seen.code_verifier.as_deref(),
        verifier.as_ref().map(ExposeSecret::expose_secret),
        "{provider}: PKCE verifier sent exactly where a challenge was"
    );
    let authorize = &Rig::provider_calls(&log, provider, EndpointKind::Authorize)[0];
    assert_eq!(
        authorize.code_challenge.is_some(),
        spec.pkce.used(),
        "{provider}"
    );

    // Long-lived exchange (Meta), unchanged elsewhere.
    let short_token = grant.access_token.clone();
    let grant = rig
        .client
        .long_lived(provider, grant)
        .await
        .unwrap_or_else(|e| panic!("{provider}: long-lived: {e}"));
    if matches!(
        provider,
        Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads
    ) {
        assert_ne!(
            grant.access_token.expose_secret(),
            short_token.expose_secret(),
            "{provider}: a new long-lived token"
        );
        assert_eq!(
            secs(grant.expires_in),
            Some(5_184_000),
            "{provider}: 60 days"
        );
    } else {
        assert_eq!(
            grant.access_token.expose_secret(),
            short_token.expose_secret(),
            "{provider}: nothing to exchange"
        );
    }
    if provider == Provider::InstagramLogin {
        assert!(
            grant.user_id.is_some(),
            "the exchange keeps the short-lived answer's user id"
        );
    }

    // The accounts the grant reaches.
    let accounts = rig
        .client
        .accounts(provider, &grant.access_token)
        .await
        .unwrap_or_else(|e| panic!("{provider}: accounts: {e}"));
    match provider {
        Provider::Facebook => {
            assert_eq!(
                accounts
                    .iter()
                    .map(|a| a.external_id.as_str())
                    .collect::<Vec<_>>(),
                ["100000000000001", "100000000000002"]
            );
            assert!(accounts.iter().all(|a| a
                .access_token
                .as_ref()
                .is_some_and(|t| t.expose_secret().starts_with("canary-facebook-page-"))));
            assert_eq!(accounts[0].display_name, "Fake Bakery");
        }
        Provider::Instagram => {
            assert_eq!(accounts.len(), 1, "only the Page with an Instagram account");
            assert_eq!(accounts[0].external_id, "17841400000000001");
            assert_eq!(accounts[0].display_name, "fake.bakery");
            assert!(accounts[0].access_token.is_some(), "the Page token");
        }
        _ => {
            assert_eq!(accounts.len(), 1, "{provider}");
            assert_eq!(accounts[0].external_id, format!("{}-user-1", provider.id()));
            assert!(accounts[0].display_name.starts_with("Fake "), "{provider}");
            assert!(accounts[0].picture_url.is_some(), "{provider}");
            assert!(accounts[0].access_token.is_none(), "{provider}");
        }
    }

    // Check.
    let check = rig
        .client
        .check(provider, &grant.access_token)
        .await
        .unwrap_or_else(|e| panic!("{provider}: check: {e}"));
    assert!(check.valid, "{provider}");
    let now = chrono::Utc::now();
    match provider {
        Provider::Facebook | Provider::Instagram => {
            let left = check.expires_at.expect("a user token expires") - now;
            assert!(
                (5_183_000..=5_184_000).contains(&left.num_seconds()),
                "{left}"
            );
            assert!(check.data_access_expires_at.is_some());
            assert!(check.scopes.as_ref().is_some_and(|s| !s.is_empty()));
        }
        Provider::Linkedin | Provider::Google => {
            let left = check.expires_at.expect("introspection tells the expiry") - now;
            let (lifetime, _, _) = code_grant_lifetimes(provider);
            assert!(
                (lifetime.unwrap() - 5..=lifetime.unwrap()).contains(&left.num_seconds()),
                "{provider}: {left}"
            );
        }
        _ => assert_eq!(
            check.expires_at, None,
            "{provider}: a profile read says no expiry"
        ),
    }

    // Refresh.
    let access = match spec.keep_alive {
        KeepAlive::None => {
            let err = rig
                .client
                .refresh(provider, &grant.access_token, None)
                .await
                .expect_err("Meta user tokens cannot be refreshed");
            assert!(matches!(err, ProviderError::Unsupported { .. }), "{err}");
            grant.access_token.clone()
        }
        KeepAlive::Exchange { .. } => {
            let refreshed = rig
                .client
                .refresh(provider, &grant.access_token, None)
                .await
                .unwrap_or_else(|e| panic!("{provider}: refresh: {e}"));
            assert_eq!(secs(refreshed.expires_in), Some(5_184_000));
            assert_ne!(
                refreshed.access_token.expose_secret(),
                grant.access_token.expose_secret()
            );
            refreshed.access_token
        }
        KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => {
            let old_refresh = grant.refresh_token.clone().expect("a refresh token");
            let refreshed = rig
                .client
                .refresh(provider, &grant.access_token, Some(&old_refresh))
                .await
                .unwrap_or_else(|e| panic!("{provider}: refresh: {e}"));
            assert_ne!(
                refreshed.access_token.expose_secret(),
                grant.access_token.expose_secret()
            );
            assert_eq!(
                secs(refreshed.expires_in),
                expires,
                "{provider}: new access lifetime"
            );
            match provider {
                Provider::Linkedin => {
                    assert_eq!(
                        refreshed
                            .refresh_token
                            .as_ref()
                            .map(ExposeSecret::expose_secret),
                        Some(old_refresh.expose_secret()),
                        "not rotated"
                    );
                    let left = secs(refreshed.refresh_expires_in).expect("the seconds left");
                    assert!(
                        (31_535_990..=31_536_000).contains(&left),
                        "kept from first issue: {left}"
                    );
                }
                Provider::X | Provider::Tiktok | Provider::Pinterest => {
                    let new = refreshed.refresh_token.as_ref().expect("rotated");
                    assert_ne!(
                        new.expose_secret(),
                        old_refresh.expose_secret(),
                        "{provider}: a new refresh token"
                    );
                    assert_eq!(secs(refreshed.refresh_expires_in), refresh_expires);
                }
                _ => assert!(
                    refreshed.refresh_token.is_none(),
                    "{provider}: keeps the old one"
                ),
            }
            let log = rig.log().await;
            let refresh_call = &Rig::provider_calls(&log, provider, EndpointKind::Refresh)[0];
            assert_eq!(
                refresh_call.client_auth,
                expected_client_auth(provider),
                "{provider}"
            );
            assert_eq!(
                refresh_call.refresh_token.as_deref(),
                Some(old_refresh.expose_secret())
            );
            refreshed.access_token
        }
    };
    let check = rig.client.check(provider, &access).await;
    assert!(
        check.is_ok_and(|c| c.valid),
        "{provider}: the refreshed token works"
    );

    // Revoke, where the network offers it; the token is dead afterwards.
    let held = HeldTokens {
        access: &access,
        refresh: None,
    };
    let result = rig.client.revoke(provider, held).await;
    if matches!(
        provider,
        Provider::InstagramLogin | Provider::Threads | Provider::Pinterest
    ) {
        let err = result.expect_err("no revocation");
        assert!(matches!(err, ProviderError::Unsupported { .. }), "{err}");
        return;
    }
    result.unwrap_or_else(|e| panic!("{provider}: revoke: {e}"));
    let err = rig
        .client
        .check(provider, &access)
        .await
        .expect_err("a revoked token fails its check");
    let expected = match provider {
        Provider::Facebook | Provider::Instagram | Provider::Linkedin => {
            revoked(Reason::AccessRevoked)
        }
        _ => revoked(Reason::TokenInvalid),
    };
    assert_eq!(err.verdict(), expected, "{provider}: {err}");
    assert_no_canary(&err);
}

macro_rules! flow_tests {
    ($($name:ident => $provider:expr),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            full_flow($provider).await;
        }
    )*};
}

flow_tests! {
    facebook_connects_refreshes_checks_and_revokes => Provider::Facebook,
    instagram_via_facebook_connects_checks_and_revokes => Provider::Instagram,
    instagram_login_connects_exchanges_and_refreshes => Provider::InstagramLogin,
    threads_connects_exchanges_and_refreshes => Provider::Threads,
    linkedin_connects_refreshes_and_revokes => Provider::Linkedin,
    x_connects_refreshes_and_revokes => Provider::X,
    google_connects_refreshes_and_revokes => Provider::Google,
    tiktok_connects_refreshes_and_revokes => Provider::Tiktok,
    pinterest_connects_and_refreshes => Provider::Pinterest,
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_refused_and_the_right_one_then_accepted() {
    let rig = rig().await;
    for provider in Provider::ALL.into_iter().filter(|p| p.spec().pkce.used()) {
        let (code, verifier) = rig.authorize(provider).await;
        let wrong = Secret::from(new_verifier());

        let err = rig
            .client
            .exchange_code(provider, &code, REDIRECT_URI, Some(&wrong))
            .await
            .expect_err("a wrong verifier is refused");
        let missing = rig
            .client
            .exchange_code(provider, &code, REDIRECT_URI, None)
            .await
            .expect_err("a missing verifier is refused");
        let grant = rig
            .client
            .exchange_code(provider, &code, REDIRECT_URI, verifier.as_ref())
            .await;

        assert!(
            matches!(err, ProviderError::Rejected { status: 400, .. }),
            "{provider}: {err}"
        );
        assert!(
            matches!(missing, ProviderError::Rejected { .. }),
            "{provider}: {missing}"
        );
        assert!(grant.is_ok(), "{provider}: the right verifier is accepted");
        assert_no_canary(&err);
        assert_no_canary(&missing);
    }
}

#[tokio::test]
async fn x_requires_pkce_at_authorize() {
    let rig = rig().await;
    assert_eq!(Provider::X.spec().pkce, Pkce::Required);
    let mut url = rig
        .client
        .authorize_url(&AuthorizeRequest {
            provider: Provider::X,
            state: "s",
            redirect_uri: REDIRECT_URI,
            code_verifier: Some(&Secret::from("v".repeat(43))),
            consent: Consent::Connect,
        })
        .unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(kept);

    let answer = rig.browser.get(url).send().await.unwrap();
    let location = answer.headers()[reqwest::header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();

    assert!(location.contains("error=invalid_request"), "{location}");
    assert!(!location.contains("code="), "{location}");
}

#[tokio::test]
async fn codes_are_single_use_and_bound_to_their_redirect_uri() {
    let rig = rig().await;
    for provider in Provider::ALL {
        let (code, verifier) = rig.authorize(provider).await;
        let elsewhere = rig
            .client
            .exchange_code(provider, &code, "https://evil.test/cb", verifier.as_ref())
            .await
            .expect_err("another redirect URI is refused");
        rig.client
            .exchange_code(provider, &code, REDIRECT_URI, verifier.as_ref())
            .await
            .unwrap_or_else(|e| panic!("{provider}: {e}"));
        let replay = rig
            .client
            .exchange_code(provider, &code, REDIRECT_URI, verifier.as_ref())
            .await
            .expect_err("a code works once");

        for err in [&elsewhere, &replay] {
            assert!(
                matches!(err, ProviderError::Rejected { .. }),
                "{provider}: {err}"
            );
            assert_no_canary(err);
        }
    }
}

#[tokio::test]
async fn a_denied_authorization_comes_back_as_access_denied() {
    let rig = rig().await;
    for provider in [Provider::Facebook, Provider::X, Provider::Tiktok] {
        rig.fakes.control.set_deny(provider, true).await.unwrap();
        let verifier = Secret::from(new_verifier());

        let back = rig
            .follow_authorize(provider, "st-9", Some(&verifier))
            .await;

        let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("access_denied"),
            "{provider}"
        );
        assert_eq!(q.get("state").map(String::as_str), Some("st-9"));
        assert!(!q.contains_key("code"));
        assert_eq!(
            q.get("error_reason").map(String::as_str),
            (provider == Provider::Facebook).then_some("user_denied"),
            "{provider}"
        );
    }
}

#[tokio::test]
async fn server_errors_timeouts_and_rate_limits_are_transient_on_every_network() {
    let rig = rig_with_timeout(Duration::from_millis(400)).await;
    let code = Secret::from("canary-bogus-code-1");
    for provider in Provider::ALL {
        let faults = [
            Fault::Status5xx { status: Some(502) },
            Fault::RateLimited,
            Fault::Timeout { seconds: Some(3) },
        ];
        for fault in faults {
            rig.fakes
                .control
                .set_fault(provider, EndpointKind::Token, fault.clone(), 1)
                .await
                .unwrap();

            let err = rig
                .client
                .exchange_code(provider, &code, REDIRECT_URI, None)
                .await
                .expect_err("the fault answers");

            assert_eq!(
                err.verdict(),
                Verdict::Transient,
                "{provider} {fault:?}: {err}"
            );
            match fault {
                Fault::Timeout { .. } => {
                    assert!(
                        matches!(err, ProviderError::Timeout { .. }),
                        "{provider}: {err}"
                    )
                }
                Fault::RateLimited => {
                    assert!(
                        matches!(err, ProviderError::Rejected { status: 429, .. }),
                        "{err}"
                    )
                }
                _ => assert!(
                    matches!(err, ProviderError::Rejected { status: 502, .. }),
                    "{err}"
                ),
            }
            assert_no_canary(&err);
        }
    }
}

#[tokio::test]
async fn transient_failures_on_checks_never_break_a_connection() {
    let rig = rig().await;
    let token = Secret::from("canary-bogus-access-1");
    for provider in Provider::ALL {
        // The networks that check by introspection; the others read the profile.
        let kind = match provider {
            Provider::Facebook | Provider::Instagram | Provider::Linkedin | Provider::Google => {
                EndpointKind::Introspect
            }
            _ => EndpointKind::Profile,
        };
        rig.fakes
            .control
            .set_sticky_fault(provider, kind, Fault::Status5xx { status: None })
            .await
            .unwrap();

        let err = rig.client.check(provider, &token).await.expect_err("503");

        assert_eq!(err.verdict(), Verdict::Transient, "{provider}: {err}");
        rig.fakes.control.clear_faults(provider).await.unwrap();
    }
}

#[tokio::test]
async fn invalid_grant_marks_the_connection_revoked_on_every_network() {
    let rig = rig().await;
    let access = Secret::from("canary-bogus-access-2");
    let refresh = Secret::from("canary-bogus-refresh-2");
    for provider in Provider::ALL {
        let spec = provider.spec();
        let err = if spec.keep_alive == KeepAlive::None {
            // Meta user tokens: the long-lived exchange is where a dead grant shows.
            rig.fakes
                .control
                .set_fault(provider, EndpointKind::Exchange, Fault::InvalidGrant, 1)
                .await
                .unwrap();
            let grant = TokenGrant {
                access_token: access.clone(),
                refresh_token: None,
                expires_in: None,
                refresh_expires_in: None,
                scopes: None,
                user_id: None,
            };
            rig.client
                .long_lived(provider, grant)
                .await
                .expect_err("dead")
        } else {
            rig.fakes
                .control
                .set_fault(provider, EndpointKind::Refresh, Fault::InvalidGrant, 1)
                .await
                .unwrap();
            rig.client
                .refresh(provider, &access, Some(&refresh))
                .await
                .expect_err("dead")
        };

        assert_eq!(
            err.verdict(),
            revoked(Reason::TokenInvalid),
            "{provider}: {err}"
        );
        assert_no_canary(&err);
    }
}

#[tokio::test]
async fn meta_190_subcode_460_reads_as_password_changed() {
    let rig = rig().await;
    let password_changed = revoked(Reason::PasswordChanged);
    let fault = Fault::Meta190 { subcode: Some(460) };
    for provider in [Provider::Facebook, Provider::Instagram] {
        // debug_token reports it inside `data` with a 200.
        let grant = rig.connect(provider).await;
        rig.fakes
            .control
            .set_fault(provider, EndpointKind::Introspect, fault.clone(), 1)
            .await
            .unwrap();
        let err = rig
            .client
            .check(provider, &grant.access_token)
            .await
            .expect_err("190");
        assert_eq!(err.verdict(), password_changed, "{provider}: {err}");
        assert!(
            matches!(err, ProviderError::Rejected { status: 200, .. }),
            "{err}"
        );
        assert_no_canary(&err);

        // Page calls report it as a Graph error.
        rig.fakes
            .control
            .set_fault(provider, EndpointKind::Accounts, fault.clone(), 1)
            .await
            .unwrap();
        let err = rig
            .client
            .accounts(provider, &grant.access_token)
            .await
            .expect_err("190");
        assert_eq!(err.verdict(), password_changed, "{provider}: {err}");
        assert!(
            matches!(err, ProviderError::Rejected { status: 400, .. }),
            "{err}"
        );
    }
    for provider in [Provider::InstagramLogin, Provider::Threads] {
        let grant = rig.connect(provider).await;
        rig.fakes
            .control
            .set_fault(provider, EndpointKind::Profile, fault.clone(), 1)
            .await
            .unwrap();
        let err = rig
            .client
            .check(provider, &grant.access_token)
            .await
            .expect_err("190");
        assert_eq!(err.verdict(), password_changed, "{provider}: {err}");
        assert_no_canary(&err);
    }
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_never_followed() {
    let rig = rig().await;
    let code = Secret::from("canary-bogus-code-3");
    for provider in Provider::ALL {
        rig.fakes
            .control
            .set_fault(
                provider,
                EndpointKind::Token,
                Fault::Redirect { location: None },
                1,
            )
            .await
            .unwrap();

        let err = rig
            .client
            .exchange_code(provider, &code, REDIRECT_URI, None)
            .await
            .expect_err("a redirect is an error");

        assert!(
            matches!(err, ProviderError::Redirected { .. }),
            "{provider}: {err}"
        );
        assert_eq!(err.verdict(), Verdict::Unrecognised);
    }
    let log = rig.log().await;
    let redirected = log
        .iter()
        .filter(|r| r.fault.as_deref() == Some("redirect"))
        .count();
    assert_eq!(
        redirected,
        Provider::ALL.len(),
        "every network redirected once"
    );
    assert!(
        !log.iter().any(|r| r.path.starts_with("/_fake/trap")),
        "the redirect target was requested"
    );
}

async fn rotating_replay_kills_the_chain(provider: Provider) {
    let rig = rig().await;
    let grant = rig.connect(provider).await;
    let first = grant.refresh_token.clone().expect("a refresh token");
    let refreshed = rig
        .client
        .refresh(provider, &grant.access_token, Some(&first))
        .await
        .expect("the first refresh works");
    let second = refreshed.refresh_token.clone().expect("rotated");
    assert_ne!(first.expose_secret(), second.expose_secret());

    let replay = rig
        .client
        .refresh(provider, &grant.access_token, Some(&first))
        .await
        .expect_err("the old refresh token is single-use");
    let after = rig
        .client
        .refresh(provider, &refreshed.access_token, Some(&second))
        .await
        .expect_err("the whole chain died with the replay");
    let check = rig
        .client
        .check(provider, &refreshed.access_token)
        .await
        .expect_err("and its access token");

    assert_eq!(replay.verdict(), revoked(Reason::TokenInvalid), "{replay}");
    assert_eq!(after.verdict(), revoked(Reason::TokenInvalid), "{after}");
    assert_eq!(check.verdict(), revoked(Reason::TokenInvalid), "{check}");
    for err in [&replay, &after, &check] {
        assert_no_canary(err);
    }
}

#[tokio::test]
async fn x_rotating_refresh_token_replay_kills_the_chain() {
    rotating_replay_kills_the_chain(Provider::X).await;
}

#[tokio::test]
async fn tiktok_rotating_refresh_token_replay_kills_the_chain() {
    rotating_replay_kills_the_chain(Provider::Tiktok).await;
}

#[tokio::test]
async fn pinterest_continuous_refresh_replay_kills_the_chain() {
    rotating_replay_kills_the_chain(Provider::Pinterest).await;
}

#[tokio::test]
async fn linkedin_introspection_says_revoked_after_the_revoked_fault() {
    let rig = rig().await;
    let grant = rig.connect(Provider::Linkedin).await;
    rig.fakes
        .control
        .set_fault(
            Provider::Linkedin,
            EndpointKind::Introspect,
            Fault::Revoked,
            1,
        )
        .await
        .unwrap();

    let first = rig
        .client
        .check(Provider::Linkedin, &grant.access_token)
        .await;
    let later = rig
        .client
        .check(Provider::Linkedin, &grant.access_token)
        .await;
    let refresh = rig
        .client
        .refresh(
            Provider::Linkedin,
            &grant.access_token,
            grant.refresh_token.as_ref(),
        )
        .await;

    for result in [first.map(drop), later.map(drop), refresh.map(drop)] {
        let err = result.expect_err("revoked");
        assert!(
            matches!(
                err.verdict(),
                Verdict::Broken {
                    status: Status::Revoked,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[tokio::test]
async fn instagram_login_flat_token_answer_is_read_too() {
    let rig = rig().await;
    rig.fakes
        .control
        .patch_settings(
            Provider::InstagramLogin,
            &SettingsPatch {
                flat_token_response: Some(true),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();

    let grant = rig.connect(Provider::InstagramLogin).await;

    assert_eq!(grant.user_id.as_deref(), Some("instagram_login-user-1"));
    assert!(
        grant.scopes.as_ref().is_some_and(|s| s.len() == 2),
        "{:?}",
        grant.scopes
    );
}

#[tokio::test]
async fn facebook_pages_are_read_across_pages_of_results_and_page_tokens_never_expire() {
    let rig = rig().await;
    let pages = (0..130)
        .map(|i| FakePage {
            id: format!("2000000000{i:03}"),
            name: format!("Page {i}"),
            instagram_business_account: None,
        })
        .collect();
    let user = FakeUser {
        pages,
        ..FakeUser::default_for(Provider::Facebook)
    };
    rig.fakes
        .control
        .set_user(Provider::Facebook, &user)
        .await
        .unwrap();
    let grant = rig.connect(Provider::Facebook).await;

    let accounts = rig
        .client
        .accounts(Provider::Facebook, &grant.access_token)
        .await
        .unwrap();
    let page_token = accounts[0].access_token.clone().expect("a Page token");
    let check = rig
        .client
        .check(Provider::Facebook, &page_token)
        .await
        .unwrap();

    assert_eq!(accounts.len(), 130);
    let log = rig.log().await;
    assert_eq!(
        Rig::provider_calls(&log, Provider::Facebook, EndpointKind::Accounts).len(),
        2
    );
    assert!(check.valid);
    assert_eq!(check.expires_at, None, "Page tokens carry no expiry");
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_and_never_shown() {
    let fakes = provider_fakes::start_local().await.unwrap();
    let wrong = Credentials::from_map(
        Provider::ALL
            .into_iter()
            .map(|p| {
                (
                    p,
                    ClientCredentials {
                        client_id: provider_fakes::default_client_id(p),
                        client_secret: Secret::from(format!("canary-{}-wrong-secret", p.id())),
                    },
                )
            })
            .collect(),
    );
    let client = HttpProviderClient::new(wrong, fakes.endpoints(), Duration::from_secs(5)).unwrap();
    for provider in Provider::ALL {
        let err = client
            .exchange_code(
                provider,
                &Secret::from("canary-bogus-code-4"),
                REDIRECT_URI,
                None,
            )
            .await
            .expect_err("wrong client credentials");

        assert!(
            matches!(err, ProviderError::Rejected { .. }),
            "{provider}: {err}"
        );
        // Pinterest answers a failed client authentication with the same bare 401
        // "Authentication failed." as a dead user token, which `classify` reads as
        // token_invalid: known gap, see the adapter's notes.
        if provider != Provider::Pinterest {
            assert!(
                !matches!(err.verdict(), Verdict::Broken { .. }),
                "{provider}: our credentials are not the user's problem: {err}"
            );
        }
        assert_no_canary(&err);
    }
}

#[tokio::test]
async fn echoed_secrets_are_scrubbed_from_every_error() {
    let rig = rig().await;
    for provider in Provider::ALL {
        let grant = rig.connect(provider).await;
        let refresh = Secret::from(format!("canary-{}-refresh-echo", provider.id()));
        for kind in [
            EndpointKind::Token,
            EndpointKind::Refresh,
            EndpointKind::Exchange,
            EndpointKind::Introspect,
            EndpointKind::Profile,
            EndpointKind::Accounts,
            EndpointKind::Revoke,
        ] {
            rig.fakes
                .control
                .set_sticky_fault(provider, kind, Fault::EchoRequest)
                .await
                .unwrap();
        }
        let code = Secret::from("canary-echo-code");
        let v = Secret::from(new_verifier());
        let errors = [
            rig.client
                .exchange_code(provider, &code, REDIRECT_URI, Some(&v))
                .await
                .err(),
            rig.client.long_lived(provider, grant.clone()).await.err(),
            rig.client
                .refresh(provider, &grant.access_token, Some(&refresh))
                .await
                .err(),
            rig.client.check(provider, &grant.access_token).await.err(),
            rig.client
                .accounts(provider, &grant.access_token)
                .await
                .err(),
            rig.client
                .revoke(
                    provider,
                    HeldTokens {
                        access: &grant.access_token,
                        refresh: grant.refresh_token.as_ref(),
                    },
                )
                .await
                .err(),
        ];

        let mut rejected = 0;
        for err in errors.iter().flatten() {
            assert_no_canary(err);
            if matches!(err, ProviderError::Rejected { .. }) {
                rejected += 1;
            }
        }
        assert!(
            rejected >= 4,
            "{provider}: the echo fault answered ({rejected})"
        );
    }
    // The fake did echo the secrets: the scrubbing is what kept them out.
    let log = rig.log().await;
    assert!(log
        .iter()
        .any(|r| r.fault.as_deref() == Some("echo_request")));
}

#[tokio::test]
async fn transport_errors_do_not_carry_the_url_or_its_token() {
    // Nothing listens on port 9 (discard) on loopback here.
    let endpoints = Endpoints::overridden(Url::parse("http://127.0.0.1:9/").unwrap());
    let fakes = provider_fakes::start_local().await.unwrap();
    let client =
        HttpProviderClient::new(fakes.credentials(), endpoints, Duration::from_secs(2)).unwrap();
    let token = Secret::from("canary-instagram_login-access-77");

    // Instagram Login sends the token in the query string.
    let err = client
        .refresh(Provider::InstagramLogin, &token, None)
        .await
        .expect_err("nothing listens");

    assert!(
        matches!(
            err,
            ProviderError::Network { .. } | ProviderError::Timeout { .. }
        ),
        "{err}"
    );
    assert_eq!(err.verdict(), Verdict::Transient);
    let text = shown(&err);
    assert!(
        !text.contains(CANARY) && !text.contains("access_token="),
        "{text}"
    );
}

#[tokio::test]
async fn timeouts_do_not_carry_the_url_either() {
    let rig = rig_with_timeout(Duration::from_millis(300)).await;
    let grant = rig.connect(Provider::Threads).await;
    rig.fakes
        .control
        .set_fault(
            Provider::Threads,
            EndpointKind::Refresh,
            Fault::Timeout { seconds: Some(2) },
            1,
        )
        .await
        .unwrap();

    let err = rig
        .client
        .refresh(Provider::Threads, &grant.access_token, None)
        .await
        .expect_err("too slow");

    assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");
    assert_no_canary(&err);
}

#[tokio::test]
async fn a_network_without_credentials_is_not_offered() {
    let fakes = provider_fakes::start_local().await.unwrap();
    let client = HttpProviderClient::new(
        Credentials::default(),
        fakes.endpoints(),
        Duration::from_secs(1),
    )
    .unwrap();

    let err = client
        .exchange_code(Provider::X, &Secret::from("c"), REDIRECT_URI, None)
        .await
        .expect_err("no credentials");

    assert!(client.offered().is_empty());
    assert!(
        matches!(err, ProviderError::NotOffered(Provider::X)),
        "{err}"
    );
    assert!(
        fakes.control.requests().await.unwrap().is_empty(),
        "nothing was sent"
    );
}

// ---- what a disconnect revokes, by each network's rules -------------------------------------

/// X and Google revoke by refresh token: the stored access token has usually expired by
/// the time a person disconnects. The grant is dead afterwards: its refresh token is refused.
#[tokio::test]
async fn x_and_google_revoke_the_refresh_token_and_the_grant_dies() {
    let rig = rig().await;
    for provider in [Provider::X, Provider::Google] {
        let grant = rig.connect(provider).await;
        let refresh = grant.refresh_token.clone().expect("a refresh token");

        rig.client
            .revoke(
                provider,
                HeldTokens {
                    access: &grant.access_token,
                    refresh: Some(&refresh),
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{provider}: revoke: {e}"));

        let log = rig.log().await;
        let revoke = Rig::provider_calls(&log, provider, EndpointKind::Revoke)
            .last()
            .cloned()
            .expect("a revoke call");
        assert_eq!(
            revoke.params.get("token").map(String::as_str),
            Some(refresh.expose_secret())
        );
        assert_eq!(
            revoke.params.get("token_type_hint").map(String::as_str),
            Some("refresh_token"),
            "{provider}"
        );
        let err = rig
            .client
            .refresh(provider, &grant.access_token, Some(&refresh))
            .await
            .expect_err("the revoked grant cannot be refreshed");
        assert_eq!(
            err.verdict(),
            revoked(Reason::TokenInvalid),
            "{provider}: {err}"
        );
        assert_no_canary(&err);
    }
}

/// TikTok revokes by access token, which lives two hours: a fresh one is fetched with the
/// refresh token first, and that is the one revoked.
#[tokio::test]
async fn tiktok_revokes_a_fresh_access_token() {
    let rig = rig().await;
    let grant = rig.connect(Provider::Tiktok).await;
    let refresh = grant.refresh_token.clone().expect("a refresh token");

    rig.client
        .revoke(
            Provider::Tiktok,
            HeldTokens {
                access: &grant.access_token,
                refresh: Some(&refresh),
            },
        )
        .await
        .expect("revoked");

    let log = rig.log().await;
    let refreshes = Rig::provider_calls(&log, Provider::Tiktok, EndpointKind::Refresh);
    assert_eq!(refreshes.len(), 1);
    let revoke = &Rig::provider_calls(&log, Provider::Tiktok, EndpointKind::Revoke)[0];
    let revoked_token = revoke.params.get("token").expect("a token");
    assert_ne!(
        revoked_token,
        grant.access_token.expose_secret(),
        "not the stored one"
    );
    assert!(revoked_token.starts_with("canary-tiktok-access-"));
}

/// Meta removes the app for the person with the app token at `DELETE /{user-id}/permissions`
/// (a Page token is refused there): every Page token of that person dies with it.
#[tokio::test]
async fn meta_revokes_the_persons_grant_with_the_app_token_and_every_page_dies() {
    let rig = rig().await;
    let user = rig.connect(Provider::Facebook).await;
    let user = rig
        .client
        .long_lived(Provider::Facebook, user)
        .await
        .expect("long-lived");
    let pages = rig
        .client
        .accounts(Provider::Facebook, &user.access_token)
        .await
        .expect("the Pages");
    assert!(pages.len() >= 2);
    let person = FakeUser::default_for(Provider::Facebook).external_id;
    assert_eq!(
        pages[0].grant_owner.as_deref(),
        Some(format!("facebook_login:{person}").as_str())
    );
    let page_token = pages[0].access_token.clone().expect("a Page token");

    rig.client
        .revoke(
            Provider::Facebook,
            HeldTokens {
                access: &page_token,
                refresh: None,
            },
        )
        .await
        .expect("revoked");

    let log = rig.log().await;
    let revoke = &Rig::provider_calls(&log, Provider::Facebook, EndpointKind::Revoke)[0];
    assert_eq!(revoke.method, "DELETE");
    assert!(
        revoke.path.ends_with(&format!("/{person}/permissions")),
        "{}",
        revoke.path
    );
    for page in &pages {
        let token = page.access_token.as_ref().expect("a Page token");
        let err = rig
            .client
            .check(Provider::Facebook, token)
            .await
            .expect_err("every Page of the person is gone");
        assert_eq!(err.verdict(), revoked(Reason::AccessRevoked), "{err}");
    }
}
