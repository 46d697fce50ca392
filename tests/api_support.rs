//! What tests/api/ stands on: the sample events of `events/` (the ones `cargo lambda
//! invoke` uses) with claims, path, query or body changed; the two API handlers wired on a
//! fresh DynamoDB Local table; a counting decorator around the account store; a recording
//! provider client; and the OpenAPI check that every response goes through.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use lambda_http::http::HeaderMap;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use tokenwarden::api::accounts::{self, AccountsApi};
use tokenwarden::api::mail_links::{self, MailLinksApi};
use tokenwarden::api::prefs::{self, PrefsApi};
use tokenwarden::domain::{Account, EmailAddress, ManualClock, OriginAllowlist, Provider};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::http::HttpConfig;
use tokenwarden::mail::recipients::Recipients;
use tokenwarden::mail::SesMailer;
use tokenwarden::providers::{
    AuthorizeRequest, HeldTokens, ProviderClient, ProviderError, RemoteAccount, TokenCheck,
    TokenGrant,
};
use tokenwarden::seal::{Binding, Keyring, TokenSlot};
use tokenwarden::store::dynamo::DynamoStore;
use tokenwarden::store::AccountStore;
pub use tokenwarden_integration::{CountingAccounts, LogCapture};

pub const FRONTEND: &str = "https://app.example.com";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---- events -----------------------------------------------------------------------------

/// A sample event from `events/`, changed as a test needs.
#[derive(Debug, Clone)]
pub struct Event(pub Value);

impl Event {
    pub fn load(name: &str) -> Self {
        let path = repo_root().join("events").join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        Self(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}")))
    }

    fn ctx(&mut self) -> &mut serde_json::Map<String, Value> {
        self.0["requestContext"]
            .as_object_mut()
            .expect("an event has a requestContext")
    }

    /// The caller: team and user claims as the JWT authorizer puts them.
    pub fn caller(mut self, team: &str, user: &str) -> Self {
        let claims = serde_json::json!({
            "iss": "https://auth.example.com/", "aud": "tokenwarden",
            "sub": user, "team_id": team, "exp": "1772359200", "iat": "1772355600"
        });
        self.ctx().insert(
            "authorizer".into(),
            serde_json::json!({"jwt": {"claims": claims, "scopes": null}}),
        );
        self
    }

    /// The caller's own address in the token (the `email` claim), verified by the
    /// identity provider (`email_verified`).
    pub fn email(mut self, email: &str) -> Self {
        let claims = &mut self.0["requestContext"]["authorizer"]["jwt"]["claims"];
        claims["email"] = email.into();
        claims["email_verified"] = "true".into();
        self
    }

    /// Removes one claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        if let Some(claims) =
            self.0["requestContext"]["authorizer"]["jwt"]["claims"].as_object_mut()
        {
            claims.remove(name);
        }
        self
    }

    /// No authorizer context at all.
    pub fn without_claims(mut self) -> Self {
        self.ctx().remove("authorizer");
        self
    }

    pub fn method(mut self, method: &str) -> Self {
        self.ctx()["http"]["method"] = method.into();
        self
    }

    /// The request path (raw path, context path and, for `/accounts/{id}...`,
    /// `/connections/{provider}/...` and `/oauth/{provider}/...`, the path parameter).
    pub fn path(mut self, path: &str) -> Self {
        self.0["rawPath"] = path.into();
        self.ctx()["http"]["path"] = path.into();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segments.as_slice() {
            ["accounts", id, ..] => self.0["pathParameters"] = serde_json::json!({ "id": id }),
            ["connections" | "oauth", provider, ..] => {
                self.0["pathParameters"] = serde_json::json!({ "provider": provider })
            }
            ["notification-preferences", "recipients", id] => {
                self.0["pathParameters"] = serde_json::json!({ "id": id })
            }
            _ => {}
        }
        self
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        let raw = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.0["rawQueryString"] = raw.into();
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            map.insert((*k).into(), (*v).into());
        }
        self.0["queryStringParameters"] = Value::Object(map);
        self
    }

    pub fn body(self, body: &Value) -> Self {
        self.raw_body(&body.to_string())
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.0["body"] = body.into();
        self
    }

    pub fn body_json(&self) -> Value {
        serde_json::from_str(self.0["body"].as_str().expect("the event has a body"))
            .expect("the event's body is JSON")
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.0["headers"][name] = value.into();
        self
    }

    pub fn method_str(&self) -> String {
        self.0["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or("GET")
            .to_owned()
    }

    /// The path as routed: without the stage prefix of a named stage.
    pub fn path_str(&self) -> String {
        let raw = self.0["rawPath"].as_str().unwrap_or("/");
        match self.0["requestContext"]["stage"].as_str() {
            Some(stage) if stage != "$default" => raw
                .strip_prefix(&format!("/{stage}"))
                .unwrap_or(raw)
                .to_owned(),
            _ => raw.to_owned(),
        }
    }

    /// The request as the Lambda runtime builds it from the event.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.0.to_string())
            .unwrap_or_else(|e| panic!("event is not an API Gateway payload 2.0: {e}"))
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

// ---- responses and the OpenAPI check ---------------------------------------------------

/// A handler's response, read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    pub fn error_message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or("")
    }
}

/// Reads the response and checks it against `infra/openapi.yaml`.
pub fn read(method: &str, path: &str, resp: Response<Body>) -> Resp {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = match resp.body() {
        Body::Empty => String::new(),
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8(b.clone()).expect("bodies are UTF-8"),
        _ => String::new(),
    };
    let html = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let json = if text.is_empty() || html {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
    };
    let resp = Resp {
        status,
        headers,
        text,
        json,
    };
    openapi::check(method, path, &resp);
    resp
}

pub mod openapi {
    use super::*;

    /// `infra/openapi.yaml` as JSON.
    pub fn document() -> &'static Value {
        static DOC: OnceLock<Value> = OnceLock::new();
        DOC.get_or_init(|| {
            let path = repo_root().join("infra/openapi.yaml");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml: {e}"))
        })
    }

    /// The document's path template that `path` matches (`/accounts/a1` matches
    /// `/accounts/{id}`; literal segments win over parameters).
    pub fn template_for(path: &str) -> Option<String> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(usize, String)> = None;
        for template in document()["paths"].as_object()?.keys() {
            let t: Vec<&str> = template.trim_matches('/').split('/').collect();
            if t.len() != segs.len() {
                continue;
            }
            let mut literals = 0;
            let fits = t.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') {
                    !s.is_empty()
                } else {
                    literals += 1;
                    t == s
                }
            });
            if fits && best.as_ref().is_none_or(|(l, _)| literals > *l) {
                best = Some((literals, template.clone()));
            }
        }
        best.map(|(_, t)| t)
    }

    /// Every (method, template, x-function) the document declares.
    pub fn operations() -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (template, item) in document()["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                    let function = op["x-function"].as_str().unwrap_or("").to_owned();
                    out.push((method.to_uppercase(), template.clone(), function));
                }
            }
        }
        out
    }

    fn pointer_escape(s: &str) -> String {
        s.replace('~', "~0").replace('/', "~1")
    }

    /// Resolves a local `$ref` (to a response object); returns the object and its pointer.
    fn resolve(value: &Value, pointer: String) -> (&Value, String) {
        match value["$ref"].as_str() {
            Some(r) => {
                let p = r.trim_start_matches('#').to_owned();
                let target = document()
                    .pointer(&p)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"));
                (target, p)
            }
            None => (value, pointer),
        }
    }

    pub fn validate(pointer: &str, instance: &Value, what: &str) {
        let mut schema = document().clone();
        schema
            .as_object_mut()
            .expect("document is an object")
            .insert(
                "$ref".into(),
                format!("#{}", pointer.replace('{', "%7B").replace('}', "%7D")).into(),
            );
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match infra/openapi.yaml ({pointer}):\n{}\nbody: {instance}",
            errors.join("\n")
        );
    }

    const ERROR_SCHEMA: &str = "/components/schemas/Error";

    /// Checks a response against the document: the status is one documented for the
    /// operation, the body matches its schema, required headers are there. Requests the
    /// document has no operation for must be a preflight (204/403), a 405 or a 404, with
    /// the error body where there is one.
    pub fn check(method: &str, path: &str, resp: &Resp) {
        let what = format!("{method} {path} -> {}", resp.status);
        let Some(template) = template_for(path) else {
            assert_eq!(resp.status, 404, "{what}: undocumented path must be 404");
            validate(ERROR_SCHEMA, &resp.json, &what);
            return;
        };
        let op_pointer = format!(
            "/paths/{}/{}",
            pointer_escape(&template),
            method.to_lowercase()
        );
        let Some(op) = document().pointer(&op_pointer) else {
            match (method, resp.status) {
                ("OPTIONS", 204) => assert!(resp.text.is_empty(), "{what}: preflight has no body"),
                ("OPTIONS", 403) | (_, 405) => validate(ERROR_SCHEMA, &resp.json, &what),
                _ => panic!("{what}: no operation in the document and not a preflight or 405"),
            }
            return;
        };
        let status = resp.status.to_string();
        let response = op["responses"].get(&status).unwrap_or_else(|| {
            panic!("{what}: status {status} is not documented for {method} {template}")
        });
        let (response, pointer) = resolve(response, format!("{op_pointer}/responses/{status}"));
        if let Some(headers) = response["headers"].as_object() {
            for (name, h) in headers {
                if h["required"].as_bool() == Some(true) {
                    assert!(resp.header(name).is_some(), "{what}: header {name} missing");
                }
            }
        }
        let html = resp
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if html {
            assert!(
                !response["content"]["text/html"].is_null(),
                "{what}: an HTML answer is not documented"
            );
            assert!(resp.text.starts_with("<!DOCTYPE html>"), "{what}: a page");
            return;
        }
        match response["content"]["application/json"]["schema"] {
            Value::Null => assert!(
                resp.text.is_empty(),
                "{what}: documented without a body but has one: {}",
                resp.text
            ),
            _ => {
                assert_eq!(
                    resp.header("content-type"),
                    Some("application/json"),
                    "{what}: content type"
                );
                validate(
                    &format!("{pointer}/content/application~1json/schema"),
                    &resp.json,
                    &what,
                );
            }
        }
    }
}

// ---- the API wired on DynamoDB Local -----------------------------------------------------

/// A provider client that records revocations (with the token it was given) and can be
/// told to fail them.
#[derive(Default)]
pub struct RecordingProviders {
    pub offered: Vec<Provider>,
    pub revoked: Mutex<Vec<(Provider, String)>>,
    pub fail_revoke: bool,
}

impl RecordingProviders {
    pub fn revoked(&self) -> Vec<(Provider, String)> {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn unsupported(provider: Provider, operation: &'static str) -> ProviderError {
    ProviderError::Unsupported {
        provider,
        operation,
    }
}

#[async_trait]
impl ProviderClient for RecordingProviders {
    fn offered(&self) -> Vec<Provider> {
        self.offered.clone()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, ProviderError> {
        Err(unsupported(request.provider, "authorize"))
    }

    async fn exchange_code(
        &self,
        provider: Provider,
        _code: &Secret,
        _redirect_uri: &str,
        _code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        Err(unsupported(provider, "exchange"))
    }

    async fn long_lived(
        &self,
        provider: Provider,
        _grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        Err(unsupported(provider, "long-lived exchange"))
    }

    async fn refresh(
        &self,
        provider: Provider,
        _access_token: &Secret,
        _refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        Err(unsupported(provider, "refresh"))
    }

    async fn check(
        &self,
        provider: Provider,
        _access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        Err(unsupported(provider, "check"))
    }

    async fn accounts(
        &self,
        provider: Provider,
        _access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        Err(unsupported(provider, "accounts"))
    }

    async fn revoke(
        &self,
        provider: Provider,
        tokens: HeldTokens<'_>,
    ) -> Result<(), ProviderError> {
        self.revoked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((provider, tokens.access.expose_secret().to_owned()));
        if self.fail_revoke {
            return Err(ProviderError::Rejected {
                provider,
                status: 503,
                verdict: tokenwarden::domain::Verdict::Transient,
                summary: "service unavailable".into(),
                code: None,
            });
        }
        Ok(())
    }
}

/// The canary text sealed as an account's token: it must never come back out.
pub fn canary(account: &str, slot: &str) -> String {
    format!("CANARY-{slot}-{account}-9d2f1c")
}

/// Both API handlers on a fresh table, with a manual clock.
pub struct Harness {
    pub store: Arc<DynamoStore>,
    /// The raw table, for items the store would never write.
    pub dynamo: aws_sdk_dynamodb::Client,
    pub table: String,
    pub counting: Arc<CountingAccounts>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<ManualClock>,
    pub accounts_api: AccountsApi,
    pub prefs_api: PrefsApi,
    /// The public routes the links in mails open, on the same table.
    pub links_api: MailLinksApi,
}

/// The recipient rules as the functions wire them: the real SES mailer to the SES
/// stand-in, the real KMS signer (moto), the tests' mail settings.
pub async fn recipients(store: Arc<DynamoStore>, clock: Arc<ManualClock>) -> Recipients {
    let ses = aws_sdk_sesv2::Client::new(
        &tokenwarden_integration::aws_config("AWS_ENDPOINT_URL_SESV2").await,
    );
    Recipients {
        prefs: store,
        mailer: Arc::new(SesMailer::new(
            ses,
            EmailAddress::parse("alerts@tokenwarden.test").expect("an address"),
            Some("Maybe* Alerts"),
            None,
        )),
        signer: Arc::new(tokenwarden_integration::link_signer().await),
        settings: Arc::new(tokenwarden_integration::mail_settings()),
        clock,
    }
}

pub fn http_config() -> HttpConfig {
    HttpConfig::new(
        OriginAllowlist::parse(&format!("{FRONTEND}, http://localhost:5173"))
            .expect("test origins parse"),
    )
}

impl Harness {
    pub async fn new(providers: Arc<dyn ProviderClient>) -> Self {
        let (dynamo, table) = tokenwarden_integration::dynamo().await;
        let store = Arc::new(DynamoStore::new(dynamo.clone(), table.clone()));
        let counting = Arc::new(CountingAccounts::counting(store.clone()));
        let keyring = Arc::new(
            Keyring::from_secret(&Keyring::generate_secret("k1")).expect("a fresh keyring"),
        );
        let clock = Arc::new(ManualClock::at(
            tokenwarden_integration::t0() + chrono::Duration::days(1),
        ));
        let accounts_api = AccountsApi {
            accounts: counting.clone(),
            history: store.clone(),
            providers: providers.clone(),
            disconnection: tokenwarden::disconnect::Disconnection {
                accounts: counting.clone(),
                ledger: store.clone(),
                providers,
                keyring: keyring.clone(),
                clock: clock.clone(),
            },
            clock: clock.clone(),
            http: http_config(),
        };
        let prefs_api = PrefsApi {
            prefs: store.clone(),
            recipients: recipients(store.clone(), clock.clone()).await,
            http: http_config(),
        };
        let links_api = MailLinksApi {
            recipients: recipients(store.clone(), clock.clone()).await,
        };
        Self {
            store,
            dynamo,
            table,
            counting,
            keyring,
            clock,
            accounts_api,
            prefs_api,
            links_api,
        }
    }

    pub async fn with_recorder() -> (Self, Arc<RecordingProviders>) {
        let rec = Arc::new(RecordingProviders {
            offered: vec![Provider::Facebook, Provider::X, Provider::Threads],
            ..RecordingProviders::default()
        });
        (Self::new(rec.clone()).await, rec)
    }

    /// Stores the account with canary tokens sealed for its row.
    pub async fn seed(&self, mut account: Account) -> Account {
        let binding = Binding {
            team: &account.team,
            provider: account.provider,
            account: &account.id,
        };
        let id = account.id.as_str().to_owned();
        let access = self.keyring.seal(
            &Secret::from(canary(&id, "access")),
            binding,
            TokenSlot::Access,
        );
        let refresh = account.tokens.refresh.as_ref().map(|_| {
            self.keyring.seal(
                &Secret::from(canary(&id, "refresh")),
                binding,
                TokenSlot::Refresh,
            )
        });
        account.tokens.access = access;
        account.tokens.refresh = refresh;
        self.store
            .create_account(&account)
            .await
            .unwrap_or_else(|e| panic!("seeding {id}: {e}"))
    }

    pub async fn accounts(&self, event: &Event) -> Resp {
        let resp = accounts::handle(&self.accounts_api, event.request()).await;
        read(&event.method_str(), &event.path_str(), resp)
    }

    pub async fn prefs(&self, event: &Event) -> Resp {
        let resp = prefs::handle(&self.prefs_api, event.request()).await;
        read(&event.method_str(), &event.path_str(), resp)
    }

    pub async fn links(&self, event: &Event) -> Resp {
        let resp = mail_links::handle(&self.links_api, event.request()).await;
        read(&event.method_str(), &event.path_str(), resp)
    }
}
