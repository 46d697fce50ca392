//! Every sample event of `events/oauth-start` and `events/oauth-callback` through its handler.

use super::*;

/// The status (and for a 302, the result) each sample event gets, on a table with
/// `acc-demo-1` (X) of `team-demo` and the callback events' states stored.
const EVENT_STATUS: &[(&str, u16, Option<&str>)] = &[
    ("oauth-start/start.json", 200, None),
    ("oauth-start/start-default-return.json", 200, None),
    ("oauth-start/reconnect.json", 200, None),
    ("oauth-start/reconnect-not-found.json", 404, None),
    ("oauth-start/start-bad-return-to.json", 422, None),
    (
        "oauth-start/start-scheme-relative-return-to.json",
        422,
        None,
    ),
    ("oauth-start/start-unknown-field.json", 400, None),
    ("oauth-start/start-unknown-provider.json", 404, None),
    ("oauth-start/start-missing-claims.json", 401, None),
    ("oauth-callback/success.json", 302, Some("pending")),
    // Its handle was never parked.
    ("oauth-callback/complete.json", 404, None),
    ("oauth-callback/denied.json", 302, Some("denied")),
    (
        "oauth-callback/expired-state.json",
        302,
        Some("expired_state"),
    ),
    ("oauth-callback/unknown-state.json", 400, None),
    ("oauth-callback/missing-state.json", 400, None),
    ("oauth-callback/unknown-provider.json", 404, None),
];

/// Stores the state a sample callback event names, for `provider`, created at `at`.
async fn seed_state(
    h: &OAuth,
    id: &str,
    provider: Provider,
    at: chrono::DateTime<Utc>,
) -> OAuthState {
    let origins = OriginAllowlist::parse(FRONTEND).unwrap();
    let verifier = provider
        .spec()
        .pkce
        .used()
        .then(|| Secret::from(format!("verifier-{id}-{}", "0".repeat(43))));
    let state = OAuthState {
        id: id.to_owned(),
        team: team(TEAM),
        user: tokenwarden::domain::UserId::parse(USER).unwrap(),
        provider,
        return_to: ReturnUrl::parse(SETTINGS, &origins).unwrap(),
        account: None,
        pkce_verifier: verifier,
        redirect_uri: format!("{CALLBACK_BASE}/oauth/{}/callback", provider.id()),
        created_at: at,
        expires_at: at + STATE_LIFETIME,
    };
    h.store.put_state(&state).await.unwrap();
    state
}

#[tokio::test]
async fn every_sample_event_runs_through_its_handler_as_documented() {
    let mut on_disk = Vec::new();
    for dir in ["oauth-start", "oauth-callback"] {
        for entry in std::fs::read_dir(api_support::repo_root().join("events").join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            on_disk.push(format!("{dir}/{name}"));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = EVENT_STATUS
        .iter()
        .map(|(f, _, _)| (*f).to_owned())
        .collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every event file has an expected status here"
    );

    for (file, status, result) in EVENT_STATUS {
        let h = OAuth::new().await;
        let demo = tokenwarden_integration::AccountBuilder::new(TEAM, "acc-demo-1")
            .provider(Provider::X)
            .build();
        h.store.create_account(&demo).await.unwrap();
        let mut event = Event::load(file);
        if file.starts_with("oauth-callback/") {
            let query = event.0["queryStringParameters"].clone();
            let state_id = query["state"].as_str().unwrap_or_default().to_owned();
            let now = h.clock.now();
            match *file {
                "oauth-callback/expired-state.json" => {
                    seed_state(&h, &state_id, Provider::X, now - Duration::minutes(30)).await;
                }
                "oauth-callback/success.json" => {
                    // The event's state, with a real code from the fake for it.
                    let state = seed_state(&h, &state_id, Provider::X, now).await;
                    let authorize = h
                        .providers
                        .authorize_url(&tokenwarden::providers::AuthorizeRequest {
                            provider: Provider::X,
                            state: &state.id,
                            redirect_uri: &state.redirect_uri,
                            code_verifier: state.pkce_verifier.as_ref(),
                            consent: Default::default(),
                        })
                        .unwrap();
                    let back = h.authorize(&authorize).await;
                    let code = param(&back, "code").unwrap();
                    event = event.query(&[("state", &state_id), ("code", &code)]);
                }
                "oauth-callback/denied.json" => {
                    seed_state(&h, &state_id, Provider::X, now).await;
                }
                _ => {}
            }
        }

        let resp = if file.starts_with("oauth-start/") {
            h.start(&event).await
        } else if *file == "oauth-callback/complete.json" {
            let answer = oauth_callback::handle(&h.callback_api, event.request()).await;
            read(&event.method_str(), &event.path_str(), answer)
        } else {
            h.callback(&event).await
        };

        assert_eq!(resp.status, *status, "{file}: {}", resp.text);
        if let Some(result) = result {
            assert_eq!(landing(&resp).result, *result, "{file}");
        }
        if *file == "oauth-callback/success.json" {
            assert_eq!(h.land(&resp).await.result, "connected", "{file}");
        }
    }
}
