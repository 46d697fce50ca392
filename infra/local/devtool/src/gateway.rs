//! `devtool gateway`: what stands where API Gateway stands in the local run.
//!
//! It serves the routes of `infra/template.yaml`'s HTTP API (read from the template at
//! start), checks the JWT on every route but the public callback as the HTTP API's JWT
//! authorizer does (401 `{"message":"Unauthorized"}` otherwise), builds the payload 2.0
//! event with the token's claims in `requestContext.authorizer.jwt.claims`, invokes the
//! function under `cargo lambda watch` through its Lambda invoke API, and turns the
//! function's answer back into HTTP. CORS is answered here from the template's
//! `CorsConfiguration`, as the HTTP API does. Nothing in the functions knows it is local.
//!
//! `GET /` (no route of the API) is a small stand-in for the frontend: the account list
//! with Connect and Reconnect buttons, calling the API with the demo JWT; the OAuth flow
//! comes back to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use url::Url;

use crate::jwt;
use crate::routes::{Api, Lookup, Route};

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

pub struct Config {
    pub listen: SocketAddr,
    pub api: Api,
    /// `cargo lambda watch`'s invoke endpoint, e.g. `http://[::1]:9000`.
    pub invoke: Url,
    pub key: Vec<u8>,
    pub expect: jwt::Expect,
    /// The FrontendOrigins the API's CORS allows.
    pub origins: Vec<String>,
    /// Shown to the frontend stand-in page, which calls the API with it.
    pub demo_token: Option<String>,
}

struct Gateway {
    config: Config,
    client: reqwest::Client,
}

/// How long API Gateway (HTTP API) waits for a Lambda integration before it answers 504.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let routes = config.api.routes.len();
    let gateway = Arc::new(Gateway {
        client: reqwest::Client::builder()
            // API Gateway's own limit for an HTTP API integration (the run command has had
            // every function answer once before it says it is ready).
            .timeout(INTEGRATION_TIMEOUT)
            .build()?,
        config,
    });
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(gateway.clone());
    println!(
        "gateway listening on http://{addr}/ ({routes} routes of infra/template.yaml -> {})",
        gateway.config.invoke
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(crate::stopped())
    .await?;
    Ok(())
}

async fn handle(
    State(gw): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let (response, what) = gw.answer(peer, request).await;
    eprintln!(
        "gateway: {method} {path} -> {what} {} ({} ms)",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

fn message(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(json!({ "message": text }).to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

impl Gateway {
    async fn answer(&self, peer: SocketAddr, request: Request<Body>) -> (Response<Body>, String) {
        let (parts, body) = request.into_parts();
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let origin = parts
            .headers
            .get("origin")
            .and_then(|o| o.to_str().ok())
            .map(str::to_owned);
        let allowed_origin = origin.filter(|o| self.config.origins.iter().any(|a| a == o));

        let lookup = self.config.api.find(&method, &path);
        // With a CORS configuration the HTTP API answers every preflight itself.
        if parts.method == Method::OPTIONS
            && parts.headers.contains_key("access-control-request-method")
        {
            return (
                self.preflight(allowed_origin.as_deref()),
                "(CORS preflight)".into(),
            );
        }
        let matched = match lookup {
            Lookup::Route(m) => m,
            Lookup::WrongMethod | Lookup::NoRoute => {
                if parts.method == Method::GET && (path == "/" || path == "/index.html") {
                    return (self.frontend(), "(frontend stand-in)".into());
                }
                return (
                    message(StatusCode::NOT_FOUND, "Not Found"),
                    "(no route)".into(),
                );
            }
        };
        let route = matched.route;
        let what = format!("{} [{}]", route.function, route.key());

        let authorizer = if route.public {
            None
        } else {
            match self.authorize(&parts.headers) {
                Ok(claims) => Some(claims),
                Err(why) => {
                    eprintln!("gateway: {method} {path}: 401, {}", why.0);
                    let mut response = message(StatusCode::UNAUTHORIZED, "Unauthorized");
                    let header = format!(
                        "Bearer error=\"invalid_token\" error_description=\"{}\"",
                        why.0
                    );
                    if let Ok(value) = HeaderValue::from_str(&header) {
                        response.headers_mut().insert("www-authenticate", value);
                    }
                    return (response, format!("{what} (JWT authorizer)"));
                }
            }
        };

        let body = match to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                return (
                    message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
                    what,
                )
            }
        };
        let event = event(peer, &parts, route, &matched.params, authorizer, &body);
        let mut response = match self.invoke(&route.function, &event).await {
            Ok(r) => r,
            Err(e)
                if e.downcast_ref::<reqwest::Error>()
                    .is_some_and(reqwest::Error::is_timeout) =>
            {
                eprintln!(
                    "gateway: {method} {path}: {} did not answer within {} s: 504 (if every call \
                     does this, cargo lambda watch has lost the function: restart infra/local/run)",
                    route.function,
                    INTEGRATION_TIMEOUT.as_secs()
                );
                message(StatusCode::GATEWAY_TIMEOUT, "Service Unavailable")
            }
            Err(e) => {
                eprintln!("gateway: {method} {path}: {} failed: {e:#}", route.function);
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        };
        self.cors(allowed_origin.as_deref(), response.headers_mut());
        (response, what)
    }

    /// The HTTP API's JWT authorizer: `Authorization: Bearer <jwt>` (the prefix optional),
    /// signature, issuer, audience, expiry. The claims as the function sees them.
    fn authorize(&self, headers: &HeaderMap) -> Result<Value, jwt::Refused> {
        let raw = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(jwt::Refused("no Authorization header"))?
            .trim();
        let token = match raw.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => raw,
        };
        let now = chrono::Utc::now().timestamp();
        let claims = jwt::verify(&self.config.key, token, &self.config.expect, now)?;
        Ok(json!({
            "jwt": {
                "claims": Value::Object(jwt::flatten_claims(&claims)),
                "scopes": jwt::scopes(&claims),
            }
        }))
    }

    async fn invoke(&self, function: &str, event: &Value) -> anyhow::Result<Response<Body>> {
        let url = self
            .config
            .invoke
            .join(&format!("2015-03-31/functions/{function}/invocations"))?;
        let answer = self
            .client
            .post(url.clone())
            .json(event)
            .send()
            .await
            .with_context(|| {
                format!("invoking {function} at {url} (is cargo lambda watch running?)")
            })?;
        let status = answer.status();
        let function_error = answer
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = answer.text().await?;
        if !status.is_success() || function_error.is_some() {
            anyhow::bail!(
                "the function answered {status} {}: {}",
                function_error.unwrap_or_default(),
                text.chars().take(2000).collect::<String>()
            );
        }
        Ok(http_response(&text))
    }

    fn preflight(&self, origin: Option<&str>) -> Response<Body> {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        if let Some(origin) = origin {
            let cors = &self.config.api.cors;
            let h = response.headers_mut();
            insert(h, "access-control-allow-origin", origin);
            insert(
                h,
                "access-control-allow-methods",
                &cors.allow_methods.join(","),
            );
            insert(
                h,
                "access-control-allow-headers",
                &cors.allow_headers.join(","),
            );
            if let Some(age) = cors.max_age {
                insert(h, "access-control-max-age", &age.to_string());
            }
            insert(h, "vary", "origin");
        }
        response
    }

    /// CORS on an answer: the API's configuration replaces what the function said.
    fn cors(&self, origin: Option<&str>, headers: &mut HeaderMap) {
        let names: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            headers.remove(name);
        }
        if let Some(origin) = origin {
            insert(headers, "access-control-allow-origin", origin);
            insert(headers, "vary", "origin");
        }
    }

    fn frontend(&self) -> Response<Body> {
        let page = include_str!("frontend.html").replace(
            "__DEMO_TOKEN__",
            &serde_json::to_string(&self.config.demo_token).unwrap_or_else(|_| "null".into()),
        );
        let mut response = Response::new(Body::from(page));
        insert(
            response.headers_mut(),
            "content-type",
            "text/html; charset=utf-8",
        );
        insert(response.headers_mut(), "referrer-policy", "no-referrer");
        response
    }
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The payload format 2.0 event API Gateway would send for this request.
fn event(
    peer: SocketAddr,
    parts: &axum::http::request::Parts,
    route: &Route,
    params: &[(String, String)],
    authorizer: Option<Value>,
    body: &[u8],
) -> Value {
    let now = chrono::Utc::now();
    let mut headers: Map<String, Value> = Map::new();
    let mut cookies: Vec<Value> = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let host = headers
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("localhost")
        .to_owned();
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query: Map<String, Value> = Map::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        match query.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_owned()), false),
        Err(_) => (Value::String(STANDARD.encode(body)), true),
    };
    let user_agent = headers.get("user-agent").cloned().unwrap_or(Value::Null);
    let mut context = json!({
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": host,
        "domainPrefix": host.split('.').next().unwrap_or("local"),
        "http": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": peer.ip().to_string(),
            "userAgent": user_agent,
        },
        "requestId": uuid::Uuid::new_v4().to_string(),
        "routeKey": route.key(),
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(authorizer) = authorizer {
        context["authorizer"] = authorizer;
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": encoded,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<_, _>>()
            .into();
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// A function's payload 2.0 answer as HTTP: `{statusCode, headers, cookies, body,
/// isBase64Encoded}`, or any other JSON as a 200 with that JSON (as API Gateway infers).
fn http_response(text: &str) -> Response<Body> {
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::String(text.to_owned()));
    let Some(status) = parsed.get("statusCode").and_then(Value::as_u64) else {
        let mut response = Response::new(Body::from(text.to_owned()));
        insert(response.headers_mut(), "content-type", "application/json");
        return response;
    };
    let body = match parsed.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(b) if parsed["isBase64Encoded"] == true => STANDARD.decode(b).unwrap_or_default(),
        Some(b) => b.as_bytes().to_vec(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(u16::try_from(status).unwrap_or(500))
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let h = response.headers_mut();
    if let Some(headers) = parsed.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            if let (Ok(n), Some(v)) = (HeaderName::try_from(name.as_str()), value.as_str()) {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.append(n, v);
                }
            }
        }
    }
    if let Some(multi) = parsed.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in multi {
            let Ok(n) = HeaderName::try_from(name.as_str()) else {
                continue;
            };
            if h.contains_key(&n) {
                continue;
            }
            for v in values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Ok(v) = HeaderValue::from_str(v) {
                    h.append(n.clone(), v);
                }
            }
        }
    }
    for cookie in parsed
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            h.append("set-cookie", v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_answer_becomes_the_http_response() {
        let r = http_response(
            r#"{"statusCode":302,"headers":{"location":"https://app.example.com/?result=connected"},"cookies":["a=1"],"body":"","isBase64Encoded":false}"#,
        );
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(
            r.headers()["location"],
            "https://app.example.com/?result=connected"
        );
        assert_eq!(r.headers()["set-cookie"], "a=1");
        let raw = http_response(r#"{"done":true}"#);
        assert_eq!(raw.status(), StatusCode::OK);
    }

    #[test]
    fn the_event_carries_claims_only_from_the_authorizer() {
        let request = Request::builder()
            .method("GET")
            .uri("/accounts/acc-1?status=expired&status=revoked")
            .header("host", "127.0.0.1:4000")
            .header("x-team-id", "team-b")
            .body(())
            .unwrap();
        let (parts, _) = request.into_parts();
        let route = Route {
            method: "GET".into(),
            path: "/accounts/{id}".into(),
            function: "accounts".into(),
            public: false,
        };
        let authorizer =
            json!({"jwt": {"claims": {"team_id": "team-a", "sub": "u"}, "scopes": null}});
        let e = event(
            "127.0.0.1:5555".parse().unwrap(),
            &parts,
            &route,
            &[("id".into(), "acc-1".into())],
            Some(authorizer),
            b"",
        );
        assert_eq!(
            e["requestContext"]["authorizer"]["jwt"]["claims"]["team_id"],
            "team-a"
        );
        assert_eq!(e["routeKey"], "GET /accounts/{id}");
        assert_eq!(e["pathParameters"]["id"], "acc-1");
        assert_eq!(e["queryStringParameters"]["status"], "expired,revoked");
        // A header is only a header: the function never reads the team from it.
        assert_eq!(e["headers"]["x-team-id"], "team-b");

        let public = event(
            "127.0.0.1:5555".parse().unwrap(),
            &parts,
            &route,
            &[],
            None,
            b"",
        );
        assert!(public["requestContext"].get("authorizer").is_none());
    }
}
