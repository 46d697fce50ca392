//! Who may see what: claims that name no team or user, one team closed to another, and the
//! canary: no token text in any response or log line.

use super::*;

/// A team claim the identity provider sent as null, a boolean, an empty or blank string, or
/// an array or object reaches the function as API Gateway renders it (devtool's gateway
/// renders them the same way): every one is refused with 401, never taken as a team.
#[tokio::test]
async fn claims_that_cannot_name_a_team_or_user_are_refused() {
    let (h, _) = Harness::with_recorder().await;
    h.seed(AccountBuilder::new("null", "acc-in-null").build())
        .await;
    for rendered in [
        "null",
        "true",
        "false",
        "",
        "   ",
        "[a b]",
        r#"{"id":"t"}"#,
        "map[id:t]",
    ] {
        let as_team = h
            .accounts(&Event::load("accounts/list.json").caller(rendered, "user-1"))
            .await;
        let as_user = h
            .accounts(&Event::load("accounts/list.json").caller("team-a", rendered))
            .await;
        for resp in [as_team, as_user] {
            assert_eq!(resp.status, 401, "{rendered:?}: {}", resp.text);
            assert_eq!(resp.error_code(), "unauthenticated");
            assert!(!resp.text.contains("acc-in-null"));
        }
    }
}

#[tokio::test]
async fn team_a_cannot_read_or_delete_team_b_accounts_whatever_it_sends() {
    let (h, rec) = Harness::with_recorder().await;
    seed_every_state(&h, "team-b").await;
    h.seed(AccountBuilder::new("team-a", "acc-mine").build())
        .await;
    let b_first_page = h.accounts(&list("team-b").query(&[("limit", "2")])).await;
    let b_cursor = b_first_page.json["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let read = h
        .accounts(&account_event(
            "accounts/get.json",
            "team-a",
            "acc-password",
        ))
        .await;
    let delete = h
        .accounts(&account_event(
            "accounts/delete.json",
            "team-a",
            "acc-password",
        ))
        .await;
    let listed = h.accounts(&list("team-a")).await;
    let team_in_query = h
        .accounts(&list("team-a").query(&[("team_id", "team-b")]))
        .await;
    let team_in_path = h
        .accounts(
            &account_event("accounts/get.json", "team-a", "team-b").path("/teams/team-b/accounts"),
        )
        .await;
    let b_cursor_used_by_a = h
        .accounts(&list("team-a").query(&[("limit", "2"), ("cursor", &b_cursor)]))
        .await;
    let delete_with_body = h
        .accounts(
            &account_event("accounts/delete.json", "team-a", "acc-admin")
                .header("content-type", "application/json")
                .body(&json!({"team_id": "team-b"})),
        )
        .await;

    assert_eq!(read.status, 404);
    assert_eq!(delete.status, 404);
    assert_eq!(delete_with_body.status, 404);
    assert_eq!(ids(&listed), ["acc-mine"]);
    assert_eq!(team_in_query.status, 400);
    assert_eq!(team_in_path.status, 404);
    assert_eq!(b_cursor_used_by_a.status, 400);
    assert!(rec.revoked().is_empty(), "nothing revoked for team B");
    for id in ["acc-password", "acc-admin"] {
        assert!(
            h.store
                .get_account(&team("team-b"), &account_id(id))
                .await
                .unwrap()
                .is_some(),
            "team B's {id} is still there"
        );
    }
}

#[tokio::test]
async fn team_a_cannot_read_or_write_team_b_preferences() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json");
    let b_saved = h.prefs(&put.clone().caller("team-b", "user-b")).await;
    assert_eq!(b_saved.status, 200, "{}", b_saved.text);

    let a_reads = h
        .prefs(&Event::load("notification-prefs/get.json").caller("team-a", "user-a"))
        .await;
    let mut body = put.body_json();
    body["team_id"] = "team-b".into();
    let a_names_b = h
        .prefs(&put.clone().caller("team-a", "user-a").body(&body))
        .await;
    let mut mine = put.body_json();
    mine["team_name"] = "Team A".into();
    mine["version"] = 1.into(); // team B's version: A has none saved, so this is stale for A
    let a_with_b_version = h
        .prefs(&put.clone().caller("team-a", "user-a").body(&mine))
        .await;
    let a_in_query = h
        .prefs(
            &Event::load("notification-prefs/get.json")
                .caller("team-a", "user-a")
                .query(&[("team_id", "team-b")]),
        )
        .await;

    assert_eq!(a_reads.status, 200);
    assert_eq!(a_reads.json["version"], 0, "team A sees its own defaults");
    assert_eq!(a_reads.json["recipients"], json!([]));
    assert_eq!(a_names_b.status, 400);
    assert!(a_names_b.error_message().contains("team_id"));
    assert_eq!(a_with_b_version.status, 409);
    assert_eq!(a_in_query.status, 200, "GET takes no parameters it acts on");
    let b_now = h.store.get_prefs(&team("team-b")).await.unwrap().unwrap();
    assert_eq!(b_now.version, 1);
    assert_eq!(b_now.team_name.as_deref(), Some("Acme"));
    assert!(h.store.get_prefs(&team("team-a")).await.unwrap().is_none());
}

#[tokio::test]
async fn requests_without_usable_claims_are_refused_with_401() {
    let (h, _) = Harness::with_recorder().await;
    seed_every_state(&h, "team-demo").await;
    let get = Event::load("accounts/get.json").path("/accounts/acc-active");

    let mut answers = vec![
        h.accounts(&Event::load("accounts/list-missing-claims.json"))
            .await,
        h.accounts(
            &Event::load("accounts/delete-missing-claims.json").path("/accounts/acc-active"),
        )
        .await,
        h.accounts(&get.clone().without_claim("team_id")).await,
        h.accounts(&get.clone().without_claim("sub")).await,
        h.accounts(&get.clone().caller("team a;drop", "user-ana"))
            .await,
        h.accounts(&get.clone().caller("", "user-ana")).await,
        h.accounts(&Event::load("accounts/providers.json").without_claims())
            .await,
        h.prefs(&Event::load("notification-prefs/get-missing-claims.json"))
            .await,
        h.prefs(&Event::load("notification-prefs/put-missing-claims.json"))
            .await,
    ];
    // The claim names are configurable: with `custom:team_id`, `team_id` no longer counts.
    let mut custom = api_support::http_config();
    custom.claims.team = "custom:team_id".into();
    let api = accounts::AccountsApi {
        http: custom,
        ..clone_accounts_api(&h)
    };
    let resp = accounts::handle(&api, get.request()).await;
    answers.push(api_support::read("GET", "/accounts/acc-active", resp));

    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a.status, 401, "answer {i}: {}", a.text);
        assert_eq!(a.error_code(), "unauthenticated");
    }
    assert!(h
        .store
        .get_account(&team("team-demo"), &account_id("acc-active"))
        .await
        .unwrap()
        .is_some());
    assert!(h
        .store
        .get_prefs(&team("team-demo"))
        .await
        .unwrap()
        .is_none());
}

fn clone_accounts_api(h: &Harness) -> accounts::AccountsApi {
    accounts::AccountsApi {
        accounts: h.accounts_api.accounts.clone(),
        history: h.accounts_api.history.clone(),
        providers: h.accounts_api.providers.clone(),
        disconnection: tokenwarden::disconnect::Disconnection {
            accounts: h.accounts_api.disconnection.accounts.clone(),
            ledger: h.accounts_api.disconnection.ledger.clone(),
            providers: h.accounts_api.disconnection.providers.clone(),
            keyring: h.accounts_api.disconnection.keyring.clone(),
            clock: h.accounts_api.disconnection.clock.clone(),
        },
        clock: h.accounts_api.clock.clone(),
        http: h.accounts_api.http.clone(),
    }
}

#[tokio::test]
async fn no_token_text_in_any_response_or_log_line() {
    let logs = LogCapture::start();
    let failing = Arc::new(RecordingProviders {
        offered: Provider::ALL.to_vec(),
        fail_revoke: true,
        ..RecordingProviders::default()
    });
    let h = Harness::new(failing.clone()).await;
    seed_every_state(&h, "team-demo").await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-demo-1")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    let mut canaries = Vec::new();
    let mut sealed = Vec::new();
    for id in [
        "acc-active",
        "acc-expiring",
        "acc-expired",
        "acc-password",
        "acc-admin",
        "acc-x-invalid",
        "acc-google",
        "acc-demo-1",
    ] {
        canaries.push(canary(id, "access"));
        canaries.push(canary(id, "refresh"));
        let stored = h
            .store
            .get_account(&team("team-demo"), &account_id(id))
            .await
            .unwrap()
            .unwrap();
        sealed.push(stored.tokens.access.as_stored().to_owned());
    }

    let mut responses = Vec::new();
    for file in [
        "accounts/providers.json",
        "accounts/list.json",
        "accounts/list-filtered.json",
        "accounts/get.json",
        "accounts/get-not-found.json",
        "accounts/list-missing-claims.json",
    ] {
        responses.push(h.accounts(&Event::load(file)).await);
    }
    responses.push(
        h.accounts(&Event::load("accounts/get.json").path("/accounts/acc-google"))
            .await,
    );
    responses.push(h.accounts(&Event::load("accounts/delete.json")).await);
    responses.push(
        h.accounts(&Event::load("accounts/delete.json").path("/accounts/acc-x-invalid"))
            .await,
    );
    responses.push(h.prefs(&Event::load("notification-prefs/put.json")).await);
    responses.push(h.prefs(&Event::load("notification-prefs/get.json")).await);

    let revoked = failing.revoked();
    assert_eq!(
        revoked.len(),
        2,
        "two revocations were attempted (and failed)"
    );
    assert!(
        revoked.iter().all(|(_, t)| canaries.contains(t)),
        "the fakes did get the tokens"
    );
    let log = logs.text();
    assert!(log.contains("account disconnected"), "logs were captured");
    assert!(log.contains("revocation at the network failed"));
    for resp in &responses {
        for secret in canaries.iter().chain(&sealed) {
            assert!(
                !resp.text.contains(secret.as_str()),
                "response carries {secret}"
            );
            assert!(
                !format!("{:?}", resp.headers).contains(secret.as_str()),
                "headers carry {secret}"
            );
        }
        assert!(!resp.text.contains("CANARY"));
        assert!(
            !resp.text.contains("tw1."),
            "no sealed envelope: {}",
            resp.text
        );
    }
    for secret in &canaries {
        assert!(
            !log.contains(secret.as_str()),
            "a log line carries {secret}"
        );
    }
    assert!(!log.contains("CANARY"));
}
