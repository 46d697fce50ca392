//! The one way tokenwarden talks HTTP to a network, for the network modules and for the
//! `oauth2` crate alike.
//!
//! - No redirect is followed: a 3xx from a provider endpoint is
//!   [`ProviderError::Redirected`] (a token endpoint that redirects is misconfigured or
//!   hijacked, and following it would carry the code or secret elsewhere).
//! - Every failed answer becomes [`ProviderError::Rejected`] with the network's verdict and
//!   a summary made of the body's code/type/message fields only, scrubbed of every secret
//!   the request carried. Transport errors lose their URL (`without_url`): query strings
//!   carry tokens.
//! - A success status whose body is an error object (TikTok's and Meta's errors over 200)
//!   is rejected like a 4xx.
//! - Answers are read up to [`MAX_BODY_BYTES`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use oauth2::http;
use reqwest::redirect::Policy;
use reqwest::{RequestBuilder, Response};
use serde_json::Value;

use super::errors::{classify, error_code};
use super::{wire, ProviderError};
use crate::domain::{Provider, ProviderReply};

/// The largest answer read from a network; bigger ones are unreadable.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The HTTP client could not be built (TLS initialisation); a cold-start failure.
#[derive(Debug, thiserror::Error)]
#[error("the HTTP client for provider calls could not be built")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// The reqwest client every provider call goes through.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    pub(crate) http: reqwest::Client,
}

/// A 2xx answer.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Transport {
    /// `timeout` bounds both connecting and each whole call.
    pub(crate) fn new(timeout: Duration) -> Result<Self, ClientBuildError> {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("tokenwarden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientBuildError)?;
        Ok(Self { http })
    }

    /// Sends a request and returns a 2xx body; everything else becomes a `ProviderError`.
    /// `sent` lists the secret values in the request, scrubbed from any summary.
    pub(crate) async fn send(
        &self,
        provider: Provider,
        request: RequestBuilder,
        sent: &[&str],
    ) -> Result<Answer, ProviderError> {
        let response = request.send().await.map_err(|e| transport(provider, e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(ProviderError::Redirected { provider });
        }
        let body = read_limited(provider, response).await?;
        if !status.is_success() {
            return Err(rejected(provider, status.as_u16(), &body, sent));
        }
        Ok(Answer {
            status: status.as_u16(),
            body,
        })
    }

    /// Sends and parses a JSON answer; an error object over a 2xx is rejected.
    pub(crate) async fn send_json(
        &self,
        provider: Provider,
        request: RequestBuilder,
        sent: &[&str],
    ) -> Result<Value, ProviderError> {
        let answer = self.send(provider, request, sent).await?;
        let json = parse_json(provider, &answer.body)?;
        if wire::embedded_error(&json) {
            return Err(rejected(provider, answer.status, &answer.body, sent));
        }
        Ok(json)
    }

    /// [`Transport::send_json`] read as a token answer.
    pub(crate) async fn send_grant(
        &self,
        provider: Provider,
        request: RequestBuilder,
        sent: &[&str],
    ) -> Result<super::TokenGrant, ProviderError> {
        let json = self.send_json(provider, request, sent).await?;
        wire::grant(&json).map_err(|what| unreadable(provider, what))
    }

    /// The `oauth2` crate's HTTP client for `provider`'s calls: the same client, the same
    /// refusals and the same verdicts.
    pub(crate) fn oauth2(&self, provider: Provider) -> OAuth2Http<'_> {
        OAuth2Http {
            transport: self,
            provider,
        }
    }

    /// Runs a request the `oauth2` crate built. A 2xx comes back as 200 with a JSON
    /// content type (the crate accepts exactly that); anything else is an `Err` carrying the
    /// classified [`ProviderError`], so the crate never has to read an error body.
    async fn execute(
        &self,
        provider: Provider,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ProviderError> {
        let secrets = secrets_in(&request);
        let sent: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let (parts, body) = request.into_parts();
        let builder = self
            .http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body);
        let answer = self.send(provider, builder, &sent).await?;
        if let Ok(json) = serde_json::from_slice::<Value>(&answer.body) {
            if wire::embedded_error(&json) {
                return Err(rejected(provider, answer.status, &answer.body, &sent));
            }
        }
        http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(answer.body)
            .map_err(|_| unreadable(provider, "an answer that cannot be passed on"))
    }
}

/// [`Transport`] as the `oauth2` crate's asynchronous HTTP client.
pub(crate) struct OAuth2Http<'a> {
    transport: &'a Transport,
    provider: Provider,
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuth2Http<'_> {
    type Error = ProviderError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, ProviderError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.transport.execute(self.provider, request))
    }
}

/// What an `oauth2` request failure means: our own error when the call itself failed
/// (every non-2xx ends there), an unreadable answer otherwise.
pub(crate) fn from_oauth2<RE>(
    provider: Provider,
    error: oauth2::RequestTokenError<ProviderError, RE>,
) -> ProviderError
where
    RE: oauth2::ErrorResponse + 'static,
{
    match error {
        oauth2::RequestTokenError::Request(e) => e,
        // Not reached: non-2xx answers end as `Request` above.
        oauth2::RequestTokenError::ServerResponse(_) => {
            unreadable(provider, "an error answer over a success status")
        }
        // serde's message can quote the body: keep only where it failed.
        oauth2::RequestTokenError::Parse(e, _) => unreadable(
            provider,
            &format!("an answer that is not a JSON object (at {})", e.path()),
        ),
        oauth2::RequestTokenError::Other(_) => unreadable(provider, "an unexpected answer"),
    }
}

/// Every value in a request that may be a secret: form and query values and the
/// credentials of a Basic `Authorization` header (each URL-decoded too).
fn secrets_in(request: &http::Request<Vec<u8>>) -> Vec<String> {
    let mut found: Vec<String> = url::form_urlencoded::parse(request.body())
        .map(|(_, v)| v.into_owned())
        .collect();
    if let Some(query) = request.uri().query() {
        found.extend(url::form_urlencoded::parse(query.as_bytes()).map(|(_, v)| v.into_owned()));
    }
    let basic = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    if let Some(pair) = basic {
        for part in pair.splitn(2, ':') {
            found.push(part.to_owned());
            // RFC 6749 §2.3.1 URL-encodes both before Base64: keep the decoded form too.
            found.extend(url::form_urlencoded::parse(part.as_bytes()).map(|(k, _)| k.into_owned()));
        }
    }
    found
}

pub(crate) fn transport(provider: Provider, error: reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Timeout { provider }
    } else {
        // The URL can carry a token in its query: never keep it.
        ProviderError::Network {
            provider,
            source: Box::new(error.without_url()),
        }
    }
}

pub(crate) fn rejected(
    provider: Provider,
    status: u16,
    body: &[u8],
    sent: &[&str],
) -> ProviderError {
    ProviderError::Rejected {
        provider,
        status,
        verdict: classify(provider, ProviderReply::Http { status, body }),
        summary: wire::summary(body, sent),
        code: error_code(body),
    }
}

pub(crate) fn unreadable(provider: Provider, what: &str) -> ProviderError {
    ProviderError::Unreadable {
        provider,
        what: what.to_owned(),
    }
}

pub(crate) fn parse_json(provider: Provider, body: &[u8]) -> Result<Value, ProviderError> {
    // serde's message can quote the input: keep only where it failed.
    serde_json::from_slice(body).map_err(|e| ProviderError::Unreadable {
        provider,
        what: format!("not JSON (line {} column {})", e.line(), e.column()),
    })
}

async fn read_limited(
    provider: Provider,
    mut response: Response,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(provider, e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(unreadable(provider, "an answer larger than 1 MiB"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_summary_never_carries_the_sent_secret() {
        let body = br#"{"error":"invalid_grant","error_description":"refresh token rt-abcdef-123 is revoked"}"#;
        let err = rejected(Provider::Google, 400, body, &["rt-abcdef-123"]);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("rt-abcdef-123"), "{shown}");
        assert!(shown.contains("invalid_grant"), "{shown}");
        assert!(matches!(
            err.verdict(),
            crate::domain::Verdict::Broken { .. }
        ));
    }

    #[test]
    fn the_secrets_of_a_built_request_are_its_values_and_basic_credentials() {
        let request = http::Request::builder()
            .method("POST")
            .uri("https://api.example/token?access_token=query-secret-1")
            .header(
                http::header::AUTHORIZATION,
                format!("Basic {}", STANDARD.encode("app-id:s%2Fcret-value")),
            )
            .body(b"grant_type=refresh_token&refresh_token=rt-secret-2".to_vec())
            .unwrap();

        let found = secrets_in(&request);

        for expected in [
            "query-secret-1",
            "rt-secret-2",
            "s%2Fcret-value",
            "s/cret-value",
        ] {
            assert!(
                found.iter().any(|f| f == expected),
                "{expected} in {found:?}"
            );
        }
    }
}
