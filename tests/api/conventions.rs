//! HTTP conventions and the OpenAPI document: bodies refused, routes and methods, CORS,
//! opaque 500s, every documented route served, every sample event as documented, and
//! the document as callers get it.

use super::*;

#[tokio::test]
async fn oversized_body_is_refused_with_413_and_nothing_written() {
    let (h, _) = Harness::with_recorder().await;

    let resp = h
        .prefs(&Event::load("notification-prefs/put-too-large.json").caller("team-a", "u1"))
        .await;

    assert_eq!(resp.status, 413);
    assert_eq!(resp.error_code(), "payload_too_large");
    assert!(h.store.get_prefs(&team("team-a")).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_bodies_are_refused_with_a_clear_message_and_nothing_written() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json").caller("team-a", "u1");
    let good = put.body_json();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        put.clone().body(&b)
    };
    let file =
        |name: &str| Event::load(&format!("notification-prefs/{name}")).caller("team-a", "u1");

    // (event, status, code, what the message or field must name)
    let cases: Vec<(Event, u16, &str, &str)> = vec![
        (
            file("put-malformed.json"),
            400,
            "malformed_json",
            "not valid JSON",
        ),
        (
            file("put-wrong-types.json"),
            400,
            "invalid_body",
            "invalid type",
        ),
        (
            file("put-unknown-field.json"),
            400,
            "invalid_body",
            "unknown field `team_id`",
        ),
        (
            file("put-not-json.json"),
            415,
            "unsupported_media_type",
            "application/json",
        ),
        (put.clone().raw_body(""), 400, "missing_body", "required"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("version");
            }),
            400,
            "invalid_body",
            "missing field `version`",
        ),
        (
            with(&|b| b["events"]["bounced"] = true.into()),
            400,
            "invalid_body",
            "unknown field `bounced`",
        ),
        (
            with(&|b| b["lead_days"] = json!([7, "3"])),
            400,
            "invalid_body",
            "invalid type",
        ),
        (
            file("put-bad-time-zone.json"),
            422,
            "validation_failed",
            "time_zone",
        ),
        (
            with(&|b| b["team_name"] = "A".repeat(81).into()),
            422,
            "validation_failed",
            "team_name",
        ),
        (
            with(&|b| b["team_name"] = "Acme\u{202e}\n".into()),
            422,
            "validation_failed",
            "team_name",
        ),
        (
            with(&|b| b["recipients"] = json!([])),
            400,
            "invalid_body",
            "unknown field `recipients`",
        ),
        (
            file("put-lead-days-out-of-range.json"),
            422,
            "validation_failed",
            "lead_days[0]",
        ),
        (
            with(&|b| b["lead_days"] = json!([0])),
            422,
            "validation_failed",
            "lead_days[0]",
        ),
        (
            with(&|b| b["lead_days"] = json!([61])),
            422,
            "validation_failed",
            "from 1 to 60",
        ),
        (
            with(&|b| b["lead_days"] = json!([-3])),
            422,
            "validation_failed",
            "lead_days[0]",
        ),
        (
            with(&|b| b["lead_days"] = json!([])),
            422,
            "validation_failed",
            "lead_days",
        ),
        (
            with(&|b| b["lead_days"] = json!([1, 2, 3, 4, 5, 6, 7, 8, 9])),
            422,
            "validation_failed",
            "1 to 8",
        ),
    ];

    for (i, (event, status, code, names)) in cases.iter().enumerate() {
        let resp = h.prefs(event).await;
        let said = format!(
            "{} {}",
            resp.error_message(),
            resp.json["error"]["field"].as_str().unwrap_or("")
        );
        assert_eq!(resp.status, *status, "case {i}: {}", resp.text);
        assert_eq!(resp.error_code(), *code, "case {i}: {}", resp.text);
        assert!(
            said.contains(names),
            "case {i}: message should name {names:?}: {}",
            resp.text
        );
    }
    assert!(
        h.store.get_prefs(&team("team-a")).await.unwrap().is_none(),
        "nothing was written"
    );
}

#[tokio::test]
async fn cors_preflight_is_answered_for_a_configured_origin_and_refused_for_another() {
    let (h, _) = Harness::with_recorder().await;

    let ok = h.accounts(&Event::load("accounts/preflight.json")).await;
    let refused = h
        .accounts(&Event::load("accounts/preflight-other-origin.json"))
        .await;
    let prefs_ok = h
        .prefs(&Event::load("notification-prefs/preflight.json"))
        .await;
    let prefs_refused = h
        .prefs(&Event::load(
            "notification-prefs/preflight-other-origin.json",
        ))
        .await;
    let actual_ok = h.accounts(&list("team-a")).await;
    let actual_other = h
        .accounts(&list("team-a").header("origin", "https://evil.example"))
        .await;

    assert_eq!(ok.status, 204);
    assert_eq!(ok.header("access-control-allow-origin"), Some(FRONTEND));
    assert_eq!(
        ok.header("access-control-allow-methods"),
        Some("GET, DELETE, OPTIONS")
    );
    assert!(ok
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    assert_eq!(ok.header("access-control-allow-credentials"), None);
    assert_eq!(prefs_ok.status, 204);
    assert_eq!(
        prefs_ok.header("access-control-allow-methods"),
        Some("GET, PUT, OPTIONS")
    );
    for r in [&refused, &prefs_refused] {
        assert_eq!(r.status, 403);
        assert_eq!(r.error_code(), "origin_not_allowed");
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("access-control-allow-methods"), None);
    }
    assert_eq!(
        actual_ok.header("access-control-allow-origin"),
        Some(FRONTEND)
    );
    assert_eq!(actual_ok.header("vary"), Some("Origin"));
    assert_eq!(actual_other.status, 200);
    assert_eq!(actual_other.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405() {
    let (h, _) = Harness::with_recorder().await;

    let post = h
        .accounts(&Event::load("accounts/method-not-allowed.json").caller("team-a", "u1"))
        .await;
    let delete_prefs = h
        .prefs(&Event::load("notification-prefs/method-not-allowed.json").caller("team-a", "u1"))
        .await;
    let nowhere = h.accounts(&list("team-a").path("/accounts/a/b/c")).await;
    let prefs_elsewhere = h
        .prefs(&Event::load("notification-prefs/get.json").path("/notification-preferences/x"))
        .await;

    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, OPTIONS"));
    assert_eq!(delete_prefs.status, 405);
    assert_eq!(delete_prefs.header("allow"), Some("GET, PUT, OPTIONS"));
    assert_eq!(nowhere.status, 404);
    assert_eq!(prefs_elsewhere.status, 404);
}

#[tokio::test]
async fn a_named_stage_in_the_path_is_routed() {
    let (h, _) = Harness::with_recorder().await;
    h.seed(AccountBuilder::new("team-a", "acc-1").build()).await;
    let mut event = list("team-a").path("/prod/accounts");
    event.0["requestContext"]["stage"] = "prod".into();

    let resp = h.accounts(&event).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(ids(&resp), ["acc-1"]);
}

#[tokio::test]
async fn a_store_failure_is_an_opaque_500_and_its_cause_is_logged() {
    let logs = LogCapture::start();
    let (h, _) = Harness::with_recorder().await;
    let missing_table = tokenwarden::store::dynamo::DynamoStore::new(
        tokenwarden_integration::dynamo().await.0,
        "tw-test-no-such-table",
    );
    let missing_table = Arc::new(missing_table);
    let api = prefs::PrefsApi {
        prefs: missing_table.clone(),
        recipients: api_support::recipients(missing_table, h.clock.clone()).await,
        http: h.prefs_api.http.clone(),
    };

    let resp = api_support::read(
        "GET",
        "/notification-preferences",
        prefs::handle(&api, Event::load("notification-prefs/get.json").request()).await,
    );

    assert_eq!(resp.status, 500);
    assert_eq!(resp.error_code(), "internal");
    assert!(!resp.text.to_lowercase().contains("table"), "{}", resp.text);
    assert!(!resp.text.contains("database"), "{}", resp.text);
    let text = logs.text();
    assert!(
        text.contains("request failed") && text.contains("the database call failed"),
        "cause chain logged: {text}"
    );
}

#[tokio::test]
async fn every_route_in_the_openapi_document_is_served() {
    let (h, _) = Harness::with_recorder().await;
    let ops = openapi::operations();
    let of = |function: &str| {
        let mut v: Vec<(String, String)> = ops
            .iter()
            .filter(|(_, _, f)| f == function)
            .map(|(m, t, _)| (m.clone(), t.clone()))
            .collect();
        v.sort();
        v
    };
    let table = |routes: &[(&str, &str)]| {
        let mut v: Vec<(String, String)> = routes
            .iter()
            .map(|(m, t)| ((*m).to_owned(), (*t).to_owned()))
            .collect();
        v.sort();
        v
    };

    assert_eq!(of("accounts"), table(accounts::ROUTES));
    assert_eq!(of("notification-prefs"), table(prefs::ROUTES));
    assert_eq!(
        of("oauth-start"),
        table(&[
            ("POST", "/accounts/{id}/reconnect"),
            ("POST", "/connections/{provider}/start")
        ])
    );
    assert_eq!(
        of("oauth-callback"),
        table(tokenwarden::api::oauth_callback::ROUTES)
    );
    assert_eq!(
        of("mail-links"),
        table(tokenwarden::api::mail_links::ROUTES)
    );
    assert!(
        ops.iter().all(|(_, _, f)| !f.is_empty()),
        "every operation names its function"
    );
    for (method, template, function) in &ops {
        let path = template.replace("{id}", "acc-1").replace("{provider}", "x");
        let base = Event::load("accounts/list.json").caller("team-a", "u1");
        let event = base.method(method).path(&path);
        let resp = match function.as_str() {
            "accounts" => h.accounts(&event).await,
            "notification-prefs" => h.prefs(&event).await,
            "mail-links" => h.links(&event).await,
            _ => continue, // served by the OAuth functions, tested with them
        };
        assert!(
            resp.status != 405 && !(resp.status == 404 && resp.error_message() == "no such route"),
            "{method} {template} is not served by {function}: {}",
            resp.text
        );
    }
}

/// The status each sample event gets on a table with `acc-demo-1` of `team-demo`.
const EVENT_STATUS: &[(&str, u16)] = &[
    ("accounts/providers.json", 200),
    ("accounts/list.json", 200),
    ("accounts/list-filtered.json", 200),
    ("accounts/list-bad-limit.json", 400),
    ("accounts/list-unknown-parameter.json", 400),
    ("accounts/list-missing-claims.json", 401),
    ("accounts/get.json", 200),
    ("accounts/get-not-found.json", 404),
    ("accounts/history.json", 200),
    ("accounts/history-bad-cursor.json", 400),
    ("accounts/history-not-found.json", 404),
    ("accounts/delete.json", 200),
    ("accounts/delete-not-found.json", 404),
    ("accounts/delete-missing-claims.json", 401),
    ("accounts/method-not-allowed.json", 405),
    ("accounts/preflight.json", 204),
    ("accounts/preflight-other-origin.json", 403),
    ("notification-prefs/get.json", 200),
    ("notification-prefs/get-missing-claims.json", 401),
    ("notification-prefs/put.json", 200),
    ("notification-prefs/put-missing-claims.json", 401),
    ("notification-prefs/put-stale.json", 409),
    ("notification-prefs/put-malformed.json", 400),
    ("notification-prefs/put-wrong-types.json", 400),
    ("notification-prefs/put-unknown-field.json", 400),
    ("notification-prefs/put-bad-time-zone.json", 422),
    ("notification-prefs/add-recipient.json", 201),
    ("notification-prefs/add-self.json", 201),
    // The sample names a recipient the team does not have.
    ("notification-prefs/remove-recipient.json", 404),
    // The samples carry a token no key signed: the pages say the link does not work.
    ("mail-links/confirm-page.json", 404),
    ("mail-links/confirm.json", 404),
    ("mail-links/unsubscribe-page.json", 404),
    ("mail-links/unsubscribe-one-click.json", 404),
    ("mail-links/malformed-token.json", 400),
    ("notification-prefs/put-lead-days-out-of-range.json", 422),
    ("notification-prefs/put-too-large.json", 413),
    ("notification-prefs/put-not-json.json", 415),
    ("notification-prefs/preflight.json", 204),
    ("notification-prefs/preflight-other-origin.json", 403),
    ("notification-prefs/method-not-allowed.json", 405),
];

#[tokio::test]
async fn every_sample_event_runs_through_its_handler_as_documented() {
    let mut on_disk = Vec::new();
    for dir in ["accounts", "notification-prefs", "mail-links"] {
        for entry in std::fs::read_dir(api_support::repo_root().join("events").join(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            on_disk.push(format!("{dir}/{name}"));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = EVENT_STATUS.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every event file has an expected status here"
    );

    for (file, status) in EVENT_STATUS {
        // A table of its own per event, so a delete or a save does not change the next.
        let (h, _) = Harness::with_recorder().await;
        h.seed(AccountBuilder::new("team-demo", "acc-demo-1").build())
            .await;
        let event = Event::load(file);
        let resp = if file.starts_with("accounts/") {
            h.accounts(&event).await
        } else if file.starts_with("mail-links/") {
            h.links(&event).await
        } else {
            h.prefs(&event).await
        };
        assert_eq!(resp.status, *status, "{file}: {}", resp.text);
    }
}

/// API Gateway's JWT authorizer answers 401 `{"message":"Unauthorized"}` itself, before any
/// function runs: every JWT route's documented 401 takes that body (and the functions' own
/// `Error` body), and the public routes document none.
#[test]
fn every_jwt_routes_401_documents_the_authorizers_own_answer() {
    let doc = openapi::document();
    let refusal = json!({"message": "Unauthorized"});
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(ops) = op.as_object() else { continue };
            if !ops.contains_key("responses") {
                continue;
            }
            let public = op.get("security") == Some(&json!([]));
            let documented = op["responses"].get("401").is_some();
            assert_eq!(
                documented, !public,
                "{method} {path}: a 401 exactly when behind the JWT"
            );
            if !public {
                openapi::validate(
                    "/components/responses/Unauthenticated/content/application~1json/schema",
                    &refusal,
                    &format!("{method} {path}"),
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "{checked}");
}

#[tokio::test]
async fn integral_numbers_written_as_floats_and_an_empty_cursor_are_read_as_callers_mean_them() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json").caller("team-f", "u1");
    let mut body = put.body_json();
    body["lead_days"] = json!([14.0, 7.0, 1]);
    body["version"] = json!(0.0);
    let saved = h.prefs(&put.clone().body(&body)).await;
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.json["lead_days"], json!([14, 7, 1]));
    body["lead_days"] = json!([7.5]);
    body["version"] = json!(1);
    let fraction = h.prefs(&put.clone().body(&body)).await;
    assert_eq!(
        fraction.status, 400,
        "a fraction is no whole number of days"
    );

    seed_every_state(&h, "team-f").await;
    let list = Event::load("accounts/list.json").caller("team-f", "u1");
    let first = h.accounts(&list.clone()).await;
    let empty = h.accounts(&list.query(&[("cursor", "")])).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.json, first.json, "an empty cursor is the first page");
}

#[tokio::test]
async fn an_error_message_never_repeats_a_control_character_the_request_carried() {
    let (h, _) = Harness::with_recorder().await;
    let list = Event::load("accounts/list.json").caller("team-c", "u1");
    let resp = h
        .accounts(&list.query(&[("bad\u{1b}[31mname\u{7}", "1")]))
        .await;
    assert_eq!(resp.status, 400);
    let message = resp.error_message();
    assert!(message.contains("unknown query parameter"), "{message}");
    assert!(!message.chars().any(char::is_control), "{message:?}");
    let put = Event::load("notification-prefs/put.json").caller("team-c", "u1");
    let mut body = put.body_json();
    body["bad\u{1}field"] = json!(1);
    let resp = h.prefs(&put.body(&body)).await;
    assert_eq!(resp.status, 400);
    assert!(
        !resp.error_message().chars().any(char::is_control),
        "{}",
        resp.text
    );
}
