//! The credentials function over the wire: `tokenwarden::credentials` (the code the
//! function runs) on DynamoDB Local (a fresh table per test), the provider fakes
//! in-process (accounts hold tokens the fakes issued through their OAuth flow), SQS in
//! moto for the "mail within minutes" path and the SES stand-in for the mail itself.
//! Every answer is validated against `infra/credentials.schema.json`; every sample event
//! in `events/credentials/` has its expected answer here.

#[allow(dead_code)]
mod sweep_support;

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration as StdDuration, Instant};
use tokenwarden::domain::ExposeSecret;

use chrono::Duration;
use futures::stream::{self, StreamExt};
use provider_fakes::{EndpointKind, Fault};
use serde_json::{json, Value};
use sweep_support::{sqs_event, sqs_queue, take, Rig};
use tokenwarden::credentials::{CredentialsConfig, CredentialsService};
use tokenwarden::domain::{Account, Cause, Clock, HistoryKind, Milestone, Provider, Status};
use tokenwarden::store::{AccountStore, HistoryStore, Leases, Ledger, PrefsStore};
use tokenwarden::sweep::invoke::{self, MailSoon, SqsShardQueue};
use tokenwarden::sweep::Budget;
use tokenwarden_integration::FlakyAccounts;
use tokenwarden_integration::{CountingAccounts, LogCapture};

// ---- the rig --------------------------------------------------------------------------------

/// The credentials service as the function wires it, on the sweep rig's stack.
fn service(rig: &Rig, accounts: Arc<dyn AccountStore>) -> CredentialsService {
    let store = Arc::new(rig.store.clone());
    CredentialsService {
        accounts,
        leases: store.clone() as Arc<dyn Leases>,
        ledger: store.clone() as Arc<dyn Ledger>,
        history: store.clone() as Arc<dyn HistoryStore>,
        prefs: store as Arc<dyn PrefsStore>,
        providers: rig.providers.clone(),
        keyring: rig.keyring.clone(),
        clock: rig.clock.clone(),
        mail_soon: None,
        config: CredentialsConfig::default(),
    }
}

fn plain(rig: &Rig) -> CredentialsService {
    service(rig, Arc::new(rig.store.clone()))
}

static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A request id of its own for every call, as Lambda gives every invocation.
fn request_id() -> String {
    format!("req-{}", REQUESTS.fetch_add(1, Ordering::Relaxed))
}

fn get_token(account: &Account, min_valid: u32) -> Value {
    json!({"action": "get_token", "team_id": account.team.as_str(),
           "account_id": account.id.as_str(), "min_valid_seconds": min_valid})
}

fn report(account: &Account, status: u16, body: Value) -> Value {
    json!({"action": "report_failure", "team_id": account.team.as_str(),
           "account_id": account.id.as_str(), "http_status": status,
           "body": body.to_string(), "request": "POST /feed"})
}

async fn call(service: &CredentialsService, request: Value) -> Value {
    let answer = service.handle(&request_id(), request).await;
    assert_schema(&answer);
    answer
}

/// Validates an answer against `infra/credentials.schema.json`'s `Answer`.
fn assert_schema(answer: &Value) {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../infra/credentials.schema.json");
        let text = std::fs::read_to_string(&path).expect("the schema file");
        let mut schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
        schema["$ref"] = json!("#/$defs/Answer");
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("the schema compiles: {e}"))
    });
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the answer does not match infra/credentials.schema.json:\n{}\n{answer}",
        errors.join("\n")
    );
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
}

async fn refreshes(rig: &Rig, provider: Provider) -> usize {
    rig.calls(provider, EndpointKind::Refresh).await.len()
}

/// Where the fakes' log stands now.
async fn mark(rig: &Rig) -> u64 {
    rig.log().await.iter().map(|r| r.seq).max().unwrap_or(0)
}

/// The calls the fakes got for `provider` (any kind) after `mark`.
async fn provider_calls(rig: &Rig, provider: Provider, mark: u64) -> usize {
    rig.log()
        .await
        .iter()
        .filter(|r| r.provider == Some(provider) && r.seq > mark)
        .count()
}

/// Moves the clock to `before` ahead of the account's access expiry.
fn near_expiry(rig: &Rig, account: &Account, before: Duration) {
    let expires = account.access_expires_at.expect("an expiring token");
    rig.clock.set(expires - before);
}

// ---- get_token ------------------------------------------------------------------------------

#[tokio::test]
async fn a_fresh_token_costs_one_store_read_no_provider_call_and_never_reaches_a_log() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let counting = Arc::new(CountingAccounts::counting(Arc::new(rig.store.clone())));
    let service = service(&rig, counting.clone());
    rig.clock.advance(Duration::minutes(10));
    let calls_before = rig.log().await.len();
    let token = rig.access_token_of(&x).expose_secret().to_owned();

    let logs = LogCapture::start();
    let answer = call(&service, get_token(&x, 300)).await;
    let log = logs.text();
    drop(logs);

    assert_eq!(answer["access_token"], json!(token), "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["refreshed"], false);
    assert_eq!(answer["degraded"], false);
    assert_eq!(answer["external_id"], json!(x.external_id));
    assert_eq!(answer["token"]["status"], "active");
    assert_eq!(
        counting.observer.of(tokenwarden_integration::Op::Get),
        1,
        "one store read"
    );
    assert_eq!(rig.log().await.len(), calls_before, "no provider call");
    assert!(log.contains("get_token answered"), "logs were captured");
    assert!(
        !log.contains(&token),
        "the token reached a log line:\n{log}"
    );
}

#[tokio::test]
async fn expiring_tokens_are_refreshed_once_with_the_rotated_pair_stored_first_despite_a_failing_write(
) {
    for provider in [Provider::X, Provider::Tiktok, Provider::Google] {
        let rig = Rig::new().await;
        let team = rig.team("shop", &["ana"], &[7]).await;
        let account = rig.connect(provider, &team).await;
        let old_refresh = rig.refresh_token_of(&account);
        let old_access = rig.access_token_of(&account).expose_secret().to_owned();
        // The first write of the refreshed pair fails; it is retried.
        let flaky = Arc::new(FlakyAccounts::failing_first_updates(
            Arc::new(rig.store.clone()),
            1,
        ));
        let service = service(&rig, flaky.clone());
        near_expiry(&rig, &account, Duration::minutes(4));

        let answer = call(&service, get_token(&account, 300)).await;

        assert_eq!(answer["refreshed"], true, "{provider}: {answer}");
        assert_eq!(
            refreshes(&rig, provider).await,
            1,
            "{provider}: one refresh"
        );
        assert_eq!(
            flaky.observer.failed.load(Ordering::SeqCst),
            1,
            "{provider}"
        );
        let stored = rig.account(&team, &account.id).await;
        let stored_access = rig.access_token_of(&stored).expose_secret().to_owned();
        assert_eq!(answer["access_token"], json!(stored_access), "{provider}");
        assert_ne!(stored_access, old_access, "{provider}: a new access token");
        let new_refresh = rig.refresh_token_of(&stored);
        if provider.spec().keep_alive == tokenwarden::domain::KeepAlive::RefreshGrantRotating {
            assert_ne!(
                new_refresh, old_refresh,
                "{provider}: the rotated token is stored"
            );
        }
        let now = rig.clock.now();
        let expires: chrono::DateTime<chrono::Utc> =
            serde_json::from_value(answer["expires_at"].clone()).expect("a time");
        assert!(
            expires - now >= Duration::seconds(300),
            "{provider}: valid long enough"
        );

        // A minute later a forced refresh presents the new refresh token (never the old
        // one again) and the network accepts it.
        rig.clock.advance(Duration::minutes(2));
        let forced = call(
            &service,
            json!({"action":"get_token","team_id":team.as_str(),"account_id":account.id.as_str(),"force_refresh":true}),
        )
        .await;
        assert_eq!(forced["refreshed"], true, "{provider}: {forced}");
        let presented: Vec<String> = rig
            .calls(provider, EndpointKind::Refresh)
            .await
            .into_iter()
            .filter_map(|r| r.refresh_token)
            .collect();
        assert_eq!(presented.len(), 2, "{provider}");
        assert_eq!(presented[0], old_refresh, "{provider}");
        assert_eq!(
            presented[1], new_refresh,
            "{provider}: the stored token was sent"
        );
        assert!(
            rig.calls(provider, EndpointKind::Refresh)
                .await
                .iter()
                .all(|r| r.status == 200),
            "{provider}: every refresh accepted"
        );
    }
}

#[tokio::test]
async fn a_forced_refresh_happens_at_most_once_a_minute() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    let force = json!({"action":"get_token","team_id":team.as_str(),"account_id":x.id.as_str(),"force_refresh":true});

    let first = call(&service, force.clone()).await;
    rig.clock.advance(Duration::seconds(30));
    let second = call(&service, force.clone()).await;
    rig.clock.advance(Duration::seconds(31));
    let third = call(&service, force).await;

    assert_eq!(first["refreshed"], true);
    assert_eq!(second["refreshed"], false, "within the minute: {second}");
    assert_eq!(second["access_token"], first["access_token"]);
    assert_eq!(third["refreshed"], true);
    assert_eq!(refreshes(&rig, Provider::X).await, 2);
}

#[tokio::test]
async fn a_refresh_answer_with_an_absurd_lifetime_never_loses_the_rotated_token() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    for seconds in [i64::MAX, 99_999_999_999] {
        rig.fakes
            .control
            .set_fault(
                Provider::X,
                EndpointKind::Refresh,
                Fault::AbsurdLifetime {
                    seconds: Some(seconds),
                },
                1,
            )
            .await
            .unwrap();
        let account = rig.account(&team, &x.id).await;
        rig.clock.advance(Duration::minutes(2));

        let forced = call(
            &service,
            json!({"action":"get_token","team_id":team.as_str(),"account_id":x.id.as_str(),"force_refresh":true}),
        )
        .await;

        assert_eq!(forced["refreshed"], true, "{forced}");
        let stored = rig.account(&team, &x.id).await;
        assert_ne!(
            rig.refresh_token_of(&stored),
            rig.refresh_token_of(&account),
            "the rotated token is stored"
        );
        let lifetime = stored.access_expires_at.expect("an expiry") - rig.clock.now();
        assert!(
            lifetime <= Duration::days(3660) && lifetime > Duration::days(3600),
            "clamped to ten years: {lifetime}"
        );
    }
    // The sweep's path (the same code) takes the same hostile answer, and the chain stays
    // intact: the night after, the refresh presents the stored token and is accepted.
    let sweep = rig.sweep();
    rig.fakes
        .control
        .set_fault(
            Provider::X,
            EndpointKind::Refresh,
            Fault::AbsurdLifetime { seconds: None },
            1,
        )
        .await
        .unwrap();
    rig.clock.advance(Duration::days(8));
    let report = sweep
        .run_scheduled("sweep#absurd", Budget::unlimited())
        .await
        .expect("the sweep runs");
    assert_eq!(report.refreshed, 1, "{report:?}");
    rig.clock.advance(Duration::days(3660));
    let report = sweep
        .run_scheduled("sweep#ten-years-on", Budget::unlimited())
        .await
        .expect("the sweep runs");
    assert_eq!(report.refreshed, 1, "{report:?}");
    let calls = rig.calls(Provider::X, EndpointKind::Refresh).await;
    assert!(calls.iter().all(|r| r.status == 200), "{calls:?}");
    assert_eq!(calls.len(), 4);
    let presented: BTreeSet<_> = calls
        .iter()
        .filter_map(|r| r.refresh_token.clone())
        .collect();
    assert_eq!(presented.len(), 4, "no refresh token was ever sent twice");
}

#[tokio::test]
async fn a_hundred_concurrent_callers_make_one_provider_call_and_all_get_the_new_token() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let old = rig.access_token_of(&x).expose_secret().to_owned();
    let mut service = plain(&rig);
    // What is under test is the single flight, not the waiting limit: room for a slow
    // machine.
    service.config.wait = StdDuration::from_secs(20);
    near_expiry(&rig, &x, Duration::minutes(2));

    let started = Instant::now();
    let answers: Vec<Value> = futures::future::join_all((0..100).map(|_| {
        let (service, request) = (&service, get_token(&x, 300));
        async move { service.handle(&request_id(), request).await }
    }))
    .await;
    let took = started.elapsed();

    assert_eq!(
        refreshes(&rig, Provider::X).await,
        1,
        "exactly one provider call"
    );
    let stored = rig.account(&team, &x.id).await;
    let new = rig.access_token_of(&stored).expose_secret().to_owned();
    let tokens: BTreeSet<&str> = answers
        .iter()
        .map(|a| a["access_token"].as_str().unwrap_or("<none>"))
        .collect();
    assert_eq!(
        tokens,
        BTreeSet::from([new.as_str()]),
        "all 100 got the new token"
    );
    assert!(
        !tokens.contains(old.as_str()),
        "none got the rotated-away token"
    );
    for answer in &answers {
        assert_schema(answer);
        assert_eq!(answer["refreshed"], true);
    }
    println!("100 concurrent get_token on one account: 1 provider call, {took:?} wall time");
}

#[tokio::test]
async fn get_token_racing_the_nightly_sweep_makes_one_provider_call_between_them() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    let sweep = rig.sweep();
    // A week on: the sweep's refresh is due and the two-hour access token long gone.
    rig.clock.advance(Duration::days(7) + Duration::hours(1));

    let id = request_id();
    let (answer, report) = tokio::join!(
        service.handle(&id, get_token(&x, 300)),
        sweep.run_scheduled("sweep#race", Budget::unlimited())
    );

    let report = report.expect("the sweep runs");
    assert_schema(&answer);
    assert_eq!(refreshes(&rig, Provider::X).await, 1, "{report:?} {answer}");
    let stored = rig.account(&team, &x.id).await;
    assert_eq!(
        answer["access_token"],
        json!(rig.access_token_of(&stored).expose_secret()),
        "the answer is the stored, refreshed token"
    );
    assert!(stored.next_due_at.expect("still due later") > rig.clock.now());
}

#[tokio::test]
async fn dead_connections_answer_reconnect_needed_and_never_a_token() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let service = plain(&rig);
    // Facebook's long-lived user token (60 days), which cannot be refreshed.
    let facebook = rig.connect(Provider::Facebook, &team).await;
    // LinkedIn without a refresh token (an app without refresh tokens enabled).
    let mut linkedin = rig.connect(Provider::Linkedin, &team).await;
    linkedin.tokens.refresh = None;
    linkedin.refresh_expires_at = None;
    let linkedin = rig.store.update_account(&linkedin).await.expect("stored");
    // A TikTok account found revoked.
    let mut tiktok = rig.connect(Provider::Tiktok, &team).await;
    tiktok.broke(
        Status::Revoked,
        tokenwarden::domain::Reason::AccessRevoked,
        rig.clock.now(),
    );
    let tiktok = rig.store.update_account(&tiktok).await.expect("stored");
    rig.clock.advance(Duration::days(61));
    let calls_before = rig.log().await.len();

    for (account, status) in [
        (&facebook, "expired"),
        (&linkedin, "expired"),
        (&tiktok, "revoked"),
    ] {
        let answer = call(&service, get_token(account, 300)).await;
        assert_eq!(
            code(&answer),
            "reconnect_needed",
            "{}: {answer}",
            account.provider
        );
        assert_eq!(answer["error"]["token"]["status"], status, "{answer}");
        assert!(answer.get("access_token").is_none());
        assert!(
            !answer
                .to_string()
                .contains(rig.access_token_of(account).expose_secret()),
            "no token in the answer"
        );
        assert_eq!(
            answer["error"]["message"],
            answer["error"]["token"]["message"]
        );
    }
    let revoked = call(&service, get_token(&tiktok, 300)).await;
    assert_eq!(revoked["error"]["token"]["reason"], "access_revoked");
    assert_eq!(rig.log().await.len(), calls_before, "no provider call");
}

#[tokio::test]
async fn an_outage_during_a_needed_refresh_answers_the_still_valid_token_flagged_or_provider_unavailable(
) {
    let rig = Rig::with_provider_timeout(StdDuration::from_secs(1)).await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    rig.fakes
        .control
        .set_sticky_fault(
            Provider::X,
            EndpointKind::Refresh,
            Fault::Status5xx { status: None },
        )
        .await
        .unwrap();
    near_expiry(&rig, &x, Duration::minutes(3));

    let degraded = call(&service, get_token(&x, 300)).await;

    assert_eq!(degraded["degraded"], true, "{degraded}");
    assert_eq!(
        degraded["access_token"],
        json!(rig.access_token_of(&x).expose_secret())
    );
    rig.clock.advance(Duration::minutes(5));
    let expired = call(&service, get_token(&x, 300)).await;
    assert_eq!(code(&expired), "provider_unavailable", "{expired}");
    assert!(expired["error"]["retry_after_ms"].as_u64().is_some());
    let stored = rig.account(&team, &x.id).await;
    assert_eq!(stored.broken, None, "an outage breaks nothing");
    assert_eq!(stored.tokens, x.tokens);
}

#[tokio::test]
async fn callers_during_an_outage_make_one_provider_call_between_them() {
    let rig = Rig::with_provider_timeout(StdDuration::from_secs(1)).await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let mut service = plain(&rig);
    service.config.wait = StdDuration::from_millis(600);
    rig.fakes
        .control
        .set_sticky_fault(
            Provider::X,
            EndpointKind::Refresh,
            Fault::Status5xx { status: None },
        )
        .await
        .unwrap();
    near_expiry(&rig, &x, Duration::minutes(3));

    let answers: Vec<Value> = futures::future::join_all((0..20).map(|_| {
        let (service, request) = (&service, get_token(&x, 300));
        async move { service.handle(&request_id(), request).await }
    }))
    .await;
    // Later callers within the lease's back-off do not call the network either.
    let later = call(&service, get_token(&x, 300)).await;

    assert_eq!(
        refreshes(&rig, Provider::X).await,
        1,
        "one try for all of them"
    );
    let degraded = answers.iter().filter(|a| a["degraded"] == true).count();
    let busy = answers.iter().filter(|a| code(a) == "busy").count();
    assert_eq!((degraded, busy), (1, 19), "{answers:?}");
    assert_eq!(code(&later), "busy", "{later}");
    for answer in answers.iter().chain([&later]) {
        assert_schema(answer);
        if let Some(token) = answer["access_token"].as_str() {
            assert_eq!(
                token,
                rig.access_token_of(&x).expose_secret(),
                "the still-valid token"
            );
        }
    }
}

// ---- report_failure -------------------------------------------------------------------------

/// Meta's answer to a call with a token whose user changed their password.
fn meta_190_460() -> Value {
    json!({"error": {"message": "Error validating access token: The session has been invalidated because the user changed their password.",
        "type": "OAuthException", "code": 190, "error_subcode": 460, "fbtrace_id": "AbC"}})
}

#[tokio::test]
async fn a_confirmed_meta_190_report_breaks_the_account_and_is_mailed_within_minutes_exactly_once()
{
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let ana = rig.member("shop", "ana");
    let page = rig.connect(Provider::Facebook, &team).await;
    let (sqs, url) = sqs_queue().await;
    let queue = SqsShardQueue::new(sqs.clone(), url.clone()).with_mail_delay(StdDuration::ZERO);
    let mut service = plain(&rig);
    service.mail_soon = Some(Arc::new(queue) as Arc<dyn MailSoon>);
    // Meta says the same at debug_token: the check confirms it.
    rig.fakes
        .control
        .set_sticky_fault(
            Provider::Facebook,
            EndpointKind::Introspect,
            Fault::Meta190 { subcode: Some(460) },
        )
        .await
        .unwrap();

    let at_connect = rig
        .calls(Provider::Facebook, EndpointKind::Introspect)
        .await
        .len();

    let answer = call(&service, report(&page, 400, meta_190_460())).await;

    assert_eq!(answer["outcome"], "confirmed", "{answer}");
    assert_eq!(answer["token"]["status"], "revoked");
    assert_eq!(answer["token"]["reason"], "password_changed");
    assert_eq!(
        rig.calls(Provider::Facebook, EndpointKind::Introspect)
            .await
            .len()
            - at_connect,
        1,
        "verified with one check"
    );
    let stored = rig.account(&team, &page.id).await;
    assert_eq!(stored.token_column(rig.clock.now()).status, Status::Revoked);
    assert_eq!(stored.next_due_at, None);
    // Its history: broken by this credentials request, with Meta's code.
    let history = rig
        .store
        .history(&team, &page.id, 10, None)
        .await
        .expect("history")
        .items;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].kind, HistoryKind::Broken);
    assert_eq!(history[0].provider_error.as_deref(), Some("190/460"));
    assert!(matches!(history[0].cause, Cause::Credentials { .. }));
    assert_eq!(
        history[0].after.map(|a| (a.status, a.reason)),
        Some((
            Status::Revoked,
            Some(tokenwarden::domain::Reason::PasswordChanged)
        ))
    );
    assert_eq!(
        rig.pending(&team).await,
        vec![(page.id.clone(), Milestone::Disconnected)]
    );

    // The mail task on the queue, handed to the sweep function as SQS would.
    let messages = take(&sqs, &url, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&messages[0].1).unwrap(),
        json!({"mail_team": team.as_str()})
    );
    let sweep = rig.sweep();
    let answer = invoke::handle(&sweep, None, &sqs_event(&messages), Budget::unlimited())
        .await
        .expect("the mail task runs");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let mails = rig.mails_to(&ana).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].entries(),
        vec![(page.id.as_str().to_owned(), Milestone::Disconnected)]
    );

    // A second report, the same day: nothing new. Nor does the nightly digest repeat it.
    let again = call(&service, report(&page, 400, meta_190_460())).await;
    assert_eq!(again["outcome"], "deduplicated");
    rig.clock.advance(Duration::days(1));
    sweep
        .run_scheduled("sweep#next-night", Budget::unlimited())
        .await
        .expect("the nightly run");
    assert_eq!(rig.mails_to(&ana).await.len(), 1, "mailed exactly once");
    assert!(take(&sqs, &url, 1).await.is_empty(), "one mail task");
}

#[tokio::test]
async fn a_401_that_the_check_does_not_confirm_changes_nothing() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    rig.clock.advance(Duration::minutes(5));
    let before = rig.raw_account(&x).await;
    let since = mark(&rig).await;

    let answer = call(
        &service,
        report(&x, 401, json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"})),
    )
    .await;

    assert_eq!(answer["outcome"], "not_confirmed", "{answer}");
    assert_eq!(answer["token"]["status"], "active");
    assert_eq!(
        rig.raw_account(&x).await,
        before,
        "the account is unchanged"
    );
    assert_eq!(
        provider_calls(&rig, Provider::X, since).await,
        1,
        "one check"
    );
    let history = rig
        .store
        .history(&team, &x.id, 10, None)
        .await
        .expect("history")
        .items;
    let kinds: Vec<HistoryKind> = history.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![HistoryKind::FailureNotConfirmed],
        "counted in the history"
    );
    assert!(rig.pending(&team).await.is_empty());
}

#[tokio::test]
async fn transient_failures_change_nothing_and_call_nobody() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    let before = rig.raw_account(&x).await;
    let since = mark(&rig).await;

    for (status, body) in [
        (429, json!({"title":"Too Many Requests","status":429})),
        (503, json!({"errors":[{"message":"Service Unavailable"}]})),
        (400, json!({"unexpected":"shape"})),
    ] {
        let answer = call(&service, report(&x, status, body)).await;
        assert_eq!(answer["outcome"], "transient", "{status}: {answer}");
    }

    assert_eq!(rig.raw_account(&x).await, before);
    assert_eq!(provider_calls(&rig, Provider::X, since).await, 0);
}

#[tokio::test]
async fn ten_thousand_reports_in_a_burst_cost_at_most_one_provider_call() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    let body =
        json!({"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"});
    let since = mark(&rig).await;

    let started = Instant::now();
    let outcomes: Vec<Value> = stream::iter(0..10_000)
        .map(|_| {
            let (service, request) = (&service, report(&x, 401, body.clone()));
            async move { service.handle(&request_id(), request).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let took = started.elapsed();

    assert!(provider_calls(&rig, Provider::X, since).await <= 1);
    let verified = outcomes
        .iter()
        .filter(|a| a["outcome"] == "not_confirmed")
        .count();
    let deduplicated = outcomes
        .iter()
        .filter(|a| a["outcome"] == "deduplicated")
        .count();
    assert_eq!((verified, deduplicated), (1, 9_999));
    assert_schema(&outcomes[0]);
    println!("10,000 failure reports for one account: 1 provider call, {took:?}");
}

// ---- bad input ------------------------------------------------------------------------------

#[tokio::test]
async fn bad_requests_and_other_teams_answer_typed_errors_and_change_nothing() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let other = rig.team("rival", &["bob"], &[7]).await;
    let x = rig.connect(Provider::X, &team).await;
    let service = plain(&rig);
    near_expiry(&rig, &x, Duration::minutes(1));
    let before = rig.raw_account(&x).await;
    let since = mark(&rig).await;

    let foreign = json!({"action":"get_token","team_id":other.as_str(),"account_id":x.id.as_str()});
    let cases: Vec<(&str, Value)> = vec![
        ("not_found", call(&service, foreign).await),
        (
            "not_found",
            call(
                &service,
                json!({"action":"report_failure","team_id":other.as_str(),"account_id":x.id.as_str(),
                       "http_status":401,"body":"{}"}),
            )
            .await,
        ),
        (
            "bad_request",
            service.handle_bytes(&request_id(), b"{\"action\": \"get_token\",").await,
        ),
        (
            "unknown_action",
            call(&service, json!({"action":"drop_table","team_id":team.as_str()})).await,
        ),
        (
            "bad_request",
            call(
                &service,
                json!({"action":"get_token","team_id":team.as_str(),"account_id":x.id.as_str(),"admin":true}),
            )
            .await,
        ),
        (
            "payload_too_large",
            call(&service, report(&x, 401, json!({"pad": "x".repeat(20_000)}))).await,
        ),
        (
            "payload_too_large",
            service
                .handle_bytes(&request_id(), &vec![b' '; 70_000])
                .await,
        ),
    ];

    for (want, answer) in &cases {
        assert_schema(answer);
        assert_eq!(code(answer), *want, "{answer}");
    }
    assert_eq!(rig.raw_account(&x).await, before, "nothing changed");
    assert_eq!(
        provider_calls(&rig, Provider::X, since).await,
        0,
        "nobody called"
    );
}

// ---- sample events ----------------------------------------------------------------------------

#[tokio::test]
async fn every_sample_event_has_its_expected_answer() {
    let rig = Rig::new().await;
    let team = tokenwarden::domain::TeamId::parse("team-demo").unwrap();
    let x = rig.connect(Provider::X, &team).await;
    let facebook = rig.connect(Provider::Facebook, &team).await;
    let mut dead = rig.connect(Provider::Linkedin, &team).await;
    dead.broke(
        Status::Revoked,
        tokenwarden::domain::Reason::TokenInvalid,
        rig.clock.now(),
    );
    let dead = rig.store.update_account(&dead).await.expect("stored");
    rig.fakes
        .control
        .set_sticky_fault(
            Provider::Facebook,
            EndpointKind::Introspect,
            Fault::Meta190 { subcode: Some(460) },
        )
        .await
        .unwrap();
    let service = plain(&rig);
    let expected: &[(&str, &Account, &str)] = &[
        ("get-token.json", &x, "token"),
        ("get-token-force-refresh.json", &x, "token"),
        ("get-token-not-found.json", &x, "not_found"),
        ("get-token-reconnect-needed.json", &dead, "reconnect_needed"),
        ("report-failure-meta-190.json", &facebook, "confirmed"),
        ("report-failure-rate-limited.json", &x, "transient"),
        (
            "report-failure-body-too-large.json",
            &x,
            "payload_too_large",
        ),
        ("unknown-action.json", &x, "unknown_action"),
        ("unknown-field.json", &x, "bad_request"),
        ("missing-action.json", &x, "bad_request"),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/credentials");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("events/credentials")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let covered: BTreeSet<String> = expected.iter().map(|(f, _, _)| (*f).to_owned()).collect();
    assert_eq!(files, covered, "every sample event has an expected answer");

    for (file, account, want) in expected {
        let text = std::fs::read_to_string(dir.join(file)).expect("the event");
        let text = text
            .replace("replace-with-an-expired-account-id", account.id.as_str())
            .replace("replace-with-an-account-id", account.id.as_str());
        rig.clock.advance(Duration::minutes(2));
        let answer = service.handle_bytes(&request_id(), text.as_bytes()).await;
        assert_schema(&answer);
        let got = if answer.get("access_token").is_some() {
            "token"
        } else if let Some(outcome) = answer["outcome"].as_str() {
            outcome
        } else {
            code(&answer)
        };
        assert_eq!(got, *want, "{file}: {answer}");
    }
}

#[tokio::test]
async fn a_connection_flapping_within_a_day_is_mailed_once_disconnected_and_once_recovered() {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], &[7]).await;
    let ana = rig.member("shop", "ana");
    let page = rig.connect(Provider::Facebook, &team).await;
    let (sqs, url) = sqs_queue().await;
    let queue = SqsShardQueue::new(sqs.clone(), url.clone()).with_mail_delay(StdDuration::ZERO);
    let mut service = plain(&rig);
    service.mail_soon = Some(Arc::new(queue) as Arc<dyn MailSoon>);
    let sweep = rig.sweep();
    let mail_tasks = || async {
        let messages = take(&sqs, &url, 10).await;
        if !messages.is_empty() {
            invoke::handle(&sweep, None, &sqs_event(&messages), Budget::unlimited())
                .await
                .expect("the mail tasks run");
        }
        messages.len()
    };
    let break_it = || async {
        rig.fakes
            .control
            .set_fault(
                Provider::Facebook,
                EndpointKind::Introspect,
                Fault::Meta190 { subcode: Some(460) },
                1,
            )
            .await
            .unwrap();
        let answer = call(&service, report(&page, 400, meta_190_460())).await;
        assert_eq!(answer["outcome"], "confirmed", "{answer}");
    };
    let mailed = || async {
        rig.mails_to(&ana)
            .await
            .iter()
            .flat_map(|m| m.entries())
            .map(|(_, milestone)| milestone)
            .collect::<Vec<_>>()
    };

    // Morning: broken, mailed; reconnected, mailed as recovered.
    break_it().await;
    assert_eq!(mail_tasks().await, 1);
    rig.reconnect(&page).await;
    sweep.mail_team_now(&team).await.expect("mail");
    // Afternoon: broken again (past the 10-minute verification window), reconnected again.
    rig.clock.advance(Duration::hours(4));
    break_it().await;
    assert_eq!(mail_tasks().await, 0, "nothing new to mail: no task");
    rig.reconnect(&page).await;
    sweep.mail_team_now(&team).await.expect("mail");
    rig.clock.advance(Duration::hours(2));
    sweep
        .run_scheduled("sweep#flap-night", Budget::unlimited())
        .await
        .expect("the nightly run");

    assert_eq!(
        mailed().await,
        vec![Milestone::Disconnected, Milestone::Recovered],
        "one of each that day"
    );

    // The next day is a new day: a breakage is mailed again.
    rig.clock.advance(Duration::days(1));
    break_it().await;
    assert_eq!(mail_tasks().await, 1);
    assert_eq!(
        mailed().await,
        vec![
            Milestone::Disconnected,
            Milestone::Recovered,
            Milestone::Disconnected
        ]
    );
}
