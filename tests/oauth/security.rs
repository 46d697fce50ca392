//! Refusals at start and callback (states, `return_to`, denials, failing networks, unknown
//! providers, missing claims), and the canary: no token, code verifier or client secret in
//! any response, URL or log line.

use super::*;

#[tokio::test]
async fn garbage_unknown_and_missing_states_get_a_400_and_no_redirect() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::X).await;
    let real = h.authorize(&authorize).await;
    let code = param(&real, "code").unwrap();
    let long = "A".repeat(5000);
    let bad_states = [
        vec![("state", "not-a-state-we-issued"), ("code", code.as_str())],
        vec![("state", ""), ("code", code.as_str())],
        vec![("code", code.as_str())],
        vec![("state", long.as_str()), ("code", code.as_str())],
        vec![("error", "access_denied")],
        vec![],
    ];

    for query in bad_states {
        let event = Event::load("oauth-callback/success.json").query(&query);
        let resp = h.callback(&event).await;

        assert_eq!(resp.status, 400, "{query:?}: {}", resp.text);
        assert_eq!(resp.error_code(), "invalid_state");
        assert!(resp.header("location").is_none());
    }
    assert!(
        kinds(&h.log().await, EndpointKind::Token).is_empty(),
        "no code exchanged"
    );
    assert_eq!(h.accounts().await.len(), 0);
}

#[tokio::test]
async fn a_replayed_state_succeeds_exactly_once() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::Pinterest).await;
    let event = callback_event(&h.authorize(&authorize).await);

    // Two callbacks at once (a double-clicked link, a replay), then one more afterwards.
    let (a, b) = tokio::join!(h.callback(&event), h.callback(&event));
    let later = h.callback(&event).await;

    let mut statuses = vec![a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, vec![302, 400], "exactly one succeeds");
    let winner = if a.status == 302 { &a } else { &b };
    assert_eq!(h.land(winner).await.result, "connected");
    assert_eq!(later.status, 400);
    assert_eq!(h.accounts().await.len(), 1);
    assert_eq!(
        kinds(&h.log().await, EndpointKind::Token).len(),
        1,
        "the code exchanged once"
    );
}

#[tokio::test]
async fn an_expired_state_goes_back_with_expired_state_and_stores_nothing() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::Linkedin).await;
    let event = callback_event(&h.authorize(&authorize).await);
    h.clock.advance(STATE_LIFETIME + Duration::seconds(1));

    let back = h.land(&h.callback(&event).await).await;
    let again = h.callback(&event).await;

    assert_eq!(back.result, "expired_state");
    assert_eq!(again.status, 400, "an expired state is gone too");
    assert!(kinds(&h.log().await, EndpointKind::Token).is_empty());
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn a_state_for_one_network_arriving_at_another_networks_callback_is_refused() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::X).await;
    let back_from_x = h.authorize(&authorize).await;
    let at_google =
        Url::parse(&back_from_x.as_str().replace("/oauth/x/", "/oauth/google/")).unwrap();

    let back = h.land(&h.callback(&callback_event(&at_google)).await).await;
    let at_x_after = h.callback(&callback_event(&back_from_x)).await;

    assert_eq!(back.result, "error");
    assert!(
        kinds(&h.log().await, EndpointKind::Token).is_empty(),
        "no exchange anywhere"
    );
    assert_eq!(at_x_after.status, 400, "the state is used up");
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn return_to_outside_the_allowlist_is_refused_at_start() {
    let h = OAuth::new().await;
    for bad in [
        "//evil.example",
        "//evil.example/settings",
        "https://app.example.com.evil.example/settings",
        "https://evil.example/https://app.example.com",
        "https:\\\\evil.example",
        "https://app.example.com\\@evil.example",
        "/\\evil.example",
        "https://app.example.com%2eevil.example/",
        "https://evil%2eexample/",
        "https%3A%2F%2Fevil.example",
        "https://app.example.com@evil.example/",
        "http://app.example.com/settings",
        "javascript:alert(1)",
        "",
    ] {
        let event = connect_event("x").body(&json!({ "return_to": bad }));

        let resp = h.start(&event).await;

        assert_eq!(resp.status, 422, "{bad}: {}", resp.text);
        assert_eq!(resp.json["error"]["field"], "return_to");
    }
    assert!(h.items().await.is_empty(), "no state stored");
}

#[tokio::test]
async fn return_to_defaults_to_the_frontend_page_and_keeps_its_query() {
    let h = OAuth::new().await;
    let custom = "https://app.example.com/settings/social?tab=accounts";
    let with_body = connect_event("x").body(&json!({ "return_to": custom }));
    let without = connect_event("x").raw_body("");

    let a = h.start(&with_body).await;
    let b = h.start(&without).await;
    let c = h.start(&connect_event("x").body(&json!({}))).await;

    for resp in [&a, &b, &c] {
        assert_eq!(resp.status, 200, "{}", resp.text);
    }
    let back = h
        .land(
            &h.callback(&callback_event(&h.authorize(&authorize_url(&a)).await))
                .await,
        )
        .await;
    assert_eq!(param(&back.url, "tab").as_deref(), Some("accounts"));
    let back = h
        .land(
            &h.callback(&callback_event(&h.authorize(&authorize_url(&b)).await))
                .await,
        )
        .await;
    assert_eq!(back.url.path(), "/settings/social");
}

#[tokio::test]
async fn denied_at_the_network_goes_back_with_denied_and_stores_nothing() {
    let h = OAuth::new().await;
    for provider in [Provider::Facebook, Provider::Linkedin, Provider::Tiktok] {
        h.fakes.control.set_deny(provider, true).await.unwrap();

        let authorize = h.start_connect(provider).await;
        let back_from_network = h.authorize(&authorize).await;
        let back = h
            .land(&h.callback(&callback_event(&back_from_network)).await)
            .await;

        assert_eq!(
            param(&back_from_network, "error").as_deref(),
            Some("access_denied")
        );
        assert_eq!(back.result, "denied", "{provider}");
    }
    assert!(kinds(&h.log().await, EndpointKind::Token).is_empty());
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn a_redirect_from_the_token_endpoint_is_not_followed() {
    let h = OAuth::new().await;
    h.fakes
        .control
        .set_fault(
            Provider::Tiktok,
            EndpointKind::Token,
            Fault::Redirect { location: None },
            1,
        )
        .await
        .unwrap();

    let back = h.connect(Provider::Tiktok).await;

    assert_eq!(back.result, "error");
    let log = h.log().await;
    assert_eq!(
        log.iter()
            .filter(|r| r.fault.as_deref() == Some("redirect"))
            .count(),
        1
    );
    assert!(
        log.iter().all(|r| r.path != "/_fake/trap"),
        "the redirect target was never requested: {log:#?}"
    );
    assert!(h.items().await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn a_failing_network_goes_back_with_an_error_and_stores_nothing() {
    let h = OAuth::new().await;
    for (provider, kind, fault) in [
        (Provider::X, EndpointKind::Token, Fault::InvalidGrant),
        (
            Provider::Google,
            EndpointKind::Token,
            Fault::Status5xx { status: None },
        ),
        (
            Provider::Threads,
            EndpointKind::Exchange,
            Fault::RateLimited,
        ),
        (
            Provider::Facebook,
            EndpointKind::Accounts,
            Fault::Meta190 { subcode: None },
        ),
    ] {
        h.fakes
            .control
            .set_fault(provider, kind, fault, 1)
            .await
            .unwrap();

        let back = h.connect(provider).await;

        assert_eq!(back.result, "error", "{provider}");
    }
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn an_unknown_provider_is_not_found_at_start_and_callback() {
    let h = OAuth::new().await;

    let start = h.start(&connect_event("myspace")).await;
    let callback = h
        .callback(&Event::load("oauth-callback/unknown-provider.json"))
        .await;
    let other_route = h
        .callback(&Event::load("oauth-callback/success.json").path("/oauth/x"))
        .await;

    assert_eq!(start.status, 404, "{}", start.text);
    assert!(start.error_message().contains("unknown provider"));
    assert_eq!(callback.status, 404);
    assert_eq!(other_route.status, 404);
}

#[tokio::test]
async fn a_network_without_credentials_is_reported_as_not_offered() {
    let fakes = provider_fakes::start_local().await.unwrap();
    let mut map = std::collections::BTreeMap::new();
    for p in [Provider::X, Provider::Google] {
        let all = fakes.credentials();
        map.insert(p, all.get(p).unwrap().clone());
    }
    let h = OAuth::with_credentials(fakes, Credentials::from_map(map)).await;

    let resp = h.start(&connect_event("tiktok")).await;
    let offered = h.start(&connect_event("x")).await;

    assert_eq!(resp.status, 404, "{}", resp.text);
    assert!(
        resp.error_message().contains("not offered"),
        "{}",
        resp.text
    );
    assert_eq!(offered.status, 200);
    assert!(
        h.items().await.len() == 1,
        "only the offered network's state"
    );
}

#[tokio::test]
async fn start_needs_the_callers_claims_and_refuses_unknown_fields() {
    let h = OAuth::new().await;

    let anonymous = h.start(&connect_event("x").without_claims()).await;
    let smuggled = h
        .start(&connect_event("x").body(&json!({"return_to": SETTINGS, "team_id": "team-b"})))
        .await;
    let wrong_method = h.start(&connect_event("x").method("GET")).await;

    assert_eq!(anonymous.status, 401);
    assert_eq!(smuggled.status, 400);
    assert_eq!(wrong_method.status, 405);
    assert!(h.items().await.is_empty());
}

#[tokio::test]
async fn no_token_code_verifier_or_client_secret_in_any_response_url_or_log_line() {
    // Everything the functions would log at their most verbose (RUST_LOG=trace).
    let logs = LogCapture::with_filter(tokenwarden::runtime::log_filter("trace"));
    let h = OAuth::new().await;
    let mut texts = Vec::new();
    let mut states = Vec::new();
    fn record(resp: &Resp, texts: &mut Vec<String>) {
        texts.push(resp.text.clone());
        texts.push(format!("{:?}", resp.headers));
    }
    fn record_landing(back: &Landing, texts: &mut Vec<String>) {
        texts.push(back.url.to_string());
        if let Some(done) = &back.completion {
            record(done, texts);
        }
    }

    for provider in Provider::ALL {
        let authorize = h.start_connect(provider).await;
        states.push(param(&authorize, "state").unwrap());
        let resp = h
            .callback(&callback_event(&h.authorize(&authorize).await))
            .await;
        let back = h.land(&resp).await;
        assert_eq!(back.result, "connected");
        record(&resp, &mut texts);
        record_landing(&back, &mut texts);
    }
    // A reconnect, a denial, a replay, and careless networks quoting what they were sent.
    let x = h
        .accounts()
        .await
        .into_iter()
        .find(|a| a.provider == Provider::X)
        .unwrap();
    let authorize = h.start_reconnect(&x.id).await;
    let event = callback_event(&h.authorize(&authorize).await);
    let resp = h.callback(&event).await;
    let back = h.land(&resp).await;
    assert_eq!(back.result, "reconnected");
    record(&resp, &mut texts);
    record_landing(&back, &mut texts);
    record(&h.callback(&event).await, &mut texts);
    h.fakes
        .control
        .set_deny(Provider::Pinterest, true)
        .await
        .unwrap();
    record_landing(&h.connect(Provider::Pinterest).await, &mut texts);
    for (provider, kind) in [
        (Provider::X, EndpointKind::Token),
        (Provider::Facebook, EndpointKind::Token),
        (Provider::Threads, EndpointKind::Exchange),
        (Provider::Linkedin, EndpointKind::Profile),
    ] {
        h.fakes
            .control
            .set_fault(provider, kind, Fault::EchoRequest, 1)
            .await
            .unwrap();
        let back = h.connect(provider).await;
        assert_eq!(back.result, "error");
        record_landing(&back, &mut texts);
    }

    let log = h.log().await;
    let echoed = log
        .iter()
        .filter(|r| r.fault.as_deref() == Some("echo_request"))
        .count();
    assert_eq!(echoed, 4, "the careless answers were given");
    let mut secrets: Vec<String> = log
        .iter()
        .flat_map(|r| {
            [
                r.code.clone(),
                r.code_verifier.clone(),
                r.refresh_token.clone(),
                r.access_token.clone(),
            ]
        })
        .flatten()
        .collect();
    secrets.extend(Provider::ALL.map(provider_fakes::default_client_secret));
    let verifiers = log.iter().filter(|r| r.code_verifier.is_some()).count();
    assert!(verifiers >= 4, "PKCE verifiers were sent");
    let lines = logs.text();
    assert!(
        lines.contains("authorization completed"),
        "logs were captured"
    );
    assert!(
        lines.contains("connection not completed"),
        "failures were logged"
    );
    for text in &texts {
        assert!(
            !text.contains("canary-"),
            "a response carries a canary: {text}"
        );
        for secret in secrets.iter().chain(&states) {
            assert!(
                !text.contains(secret.as_str()),
                "a response carries {secret}"
            );
        }
    }
    assert!(!lines.contains("canary-"), "a log line carries a canary");
    for secret in secrets.iter().chain(&states) {
        if let Some(line) = lines.lines().find(|l| l.contains(secret.as_str())) {
            panic!("a log line carries {secret}: {line}");
        }
    }
}
