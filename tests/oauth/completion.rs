//! Completion bound to the person who started it (RFC 9700 §4.7.1): the code is parked, a
//! handle completes once and for its starter only, and nothing in flight is in the clear.

use super::*;

/// An attacker starts a connect in their own team and sends the authorize link to a
/// social-media manager, who consents: the code is only parked, and the manager's own
/// completion is refused. Nothing lands in the attacker's team (or anywhere).
#[tokio::test]
async fn a_consent_to_an_attackers_link_lands_nothing_in_the_attackers_team() {
    let h = OAuth::new().await;
    let start = Event::load("oauth-start/start.json")
        .caller("team-evil", "user-mallory")
        .path("/connections/facebook/start");
    let resp = h.start(&start).await;
    assert_eq!(resp.status, 200, "{}", resp.text);
    let link = authorize_url(&resp);

    // The manager clicks "Continue" at Facebook; their browser lands on the frontend.
    let back = h.authorize(&link).await;
    let at_frontend = landing(&h.callback(&callback_event(&back)).await);
    assert_eq!(
        at_frontend.result, "pending",
        "the code is parked, not exchanged"
    );
    let handle = param(&at_frontend.url, "handle").expect("a handle");
    let done = h.complete_as(&handle, TEAM, USER).await;

    assert_eq!(done.status, 403, "{}", done.text);
    assert_eq!(done.error_code(), "not_your_authorization");
    assert!(h.accounts().await.is_empty(), "nothing stored in any team");
    let token_calls = kinds(&h.log().await, EndpointKind::Token).len();
    assert_eq!(token_calls, 0, "the code was never exchanged");
}

/// A leaked authorize URL of the victim's: the attacker consents with their own account,
/// and their completion is refused. Nothing is planted in the victim's team, and the
/// refusal consumes nothing.
#[tokio::test]
async fn a_leaked_authorize_url_cannot_plant_the_attackers_account_in_the_victims_team() {
    let h = OAuth::new().await;
    let leaked = h.start_connect(Provider::X).await;
    let mut mallory = FakeUser::default_for(Provider::X);
    mallory.external_id = "mallory-x-1".into();
    h.fakes
        .control
        .set_user(Provider::X, &mallory)
        .await
        .unwrap();

    let back = h.authorize(&leaked).await;
    let at_frontend = landing(&h.callback(&callback_event(&back)).await);
    let handle = param(&at_frontend.url, "handle").expect("a handle");
    let refused = h.complete_as(&handle, "team-evil", "user-mallory").await;
    let same_team = h.complete_as(&handle, TEAM, "user-bob").await;

    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(
        same_team.status, 403,
        "another user of the team is refused too"
    );
    assert!(h.accounts().await.is_empty(), "nothing planted");
    assert_eq!(kinds(&h.log().await, EndpointKind::Token).len(), 0);
    // Nothing valuable consumed: the parked code is still there for the one who started it.
    assert!(h
        .store
        .parked(&tokenwarden::oauth::parked_key(&handle))
        .await
        .unwrap()
        .is_some());
}

/// A handle completes once; a parked code waits five minutes.
#[tokio::test]
async fn a_handle_completes_once_and_not_after_five_minutes() {
    let h = OAuth::new().await;
    let first = landing(
        &h.callback(&callback_event(
            &h.authorize(&h.start_connect(Provider::Linkedin).await)
                .await,
        ))
        .await,
    );
    let handle = param(&first.url, "handle").unwrap();
    let done = h.complete_as(&handle, TEAM, USER).await;
    let again = h.complete_as(&handle, TEAM, USER).await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert_eq!(done.json["result"], "connected");
    assert_eq!(done.json["accounts"].as_array().unwrap().len(), 1);
    assert_eq!(again.status, 404, "{}", again.text);

    let late = landing(
        &h.callback(&callback_event(
            &h.authorize(&h.start_connect(Provider::Google).await).await,
        ))
        .await,
    );
    h.clock
        .advance(tokenwarden::oauth::PARK_LIFETIME + Duration::seconds(1));
    let expired = h
        .complete_as(&param(&late.url, "handle").unwrap(), TEAM, USER)
        .await;
    assert_eq!(expired.status, 400, "{}", expired.text);
    assert_eq!(expired.error_code(), "expired_handle");
    assert_eq!(h.accounts().await.len(), 1, "only the LinkedIn account");
}

/// While an authorization is in flight, the table holds neither the state, the PKCE
/// verifier nor the code in a form that completes it: the state under its hash, the verifier
/// sealed under the raw state (then with the keyring once parked), the code sealed.
#[tokio::test]
async fn the_table_never_holds_a_state_verifier_or_code_in_the_clear() {
    let h = OAuth::new().await;
    let authorize = h.start_connect(Provider::X).await;
    let state = param(&authorize, "state").unwrap();
    let at_start = format!("{:?}", h.items().await);
    let back = h.authorize(&authorize).await;
    let code = param(&back, "code").unwrap();
    let parked = landing(&h.callback(&callback_event(&back)).await);
    let while_parked = format!("{:?}", h.items().await);
    let handle = param(&parked.url, "handle").unwrap();

    let done = h.complete_as(&handle, TEAM, USER).await;

    assert_eq!(done.json["result"], "connected", "{}", done.text);
    let log = h.log().await;
    let verifier = kinds(&log, EndpointKind::Token)[0]
        .code_verifier
        .clone()
        .expect("X takes PKCE");
    for (when, items) in [("at start", &at_start), ("while parked", &while_parked)] {
        for (what, value) in [
            ("state", &state),
            ("verifier", &verifier),
            ("code", &code),
            ("handle", &handle),
        ] {
            assert!(
                !items.contains(value.as_str()),
                "{what} in the table {when}"
            );
        }
    }
}
