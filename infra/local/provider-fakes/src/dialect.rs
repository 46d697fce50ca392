//! Each network's error answers, as documented (status and body).

use serde_json::{json, Value};
use tokenwarden::domain::Provider;

use crate::routes::Route;

/// What went wrong, before it is said in a network's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Wrong or missing app credentials.
    InvalidClient,
    /// A bad, used or expired code; a wrong PKCE verifier; a dead refresh token.
    InvalidGrant(&'static str),
    /// The redirect URI differs from the one used at authorize.
    RedirectMismatch,
    InvalidRequest(&'static str),
    /// An access token that is unknown, expired or revoked, at an API endpoint.
    DeadToken(Dead),
    RateLimited,
    Server(u16),
}

/// Why a token no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dead {
    Unknown,
    Expired,
    Revoked,
    /// Meta's code 190 with this subcode.
    Meta(u32),
    /// A Page token whose user no longer has a role on the Page: Meta's code 190 with
    /// no subcode.
    AdminLost,
}

/// Meta's code 190 message for a Page token of a user who lost their role on the Page.
pub(crate) const ADMIN_LOST: &str =
    "The user must be an administrator of the page in order to impersonate it.";

impl Dead {
    pub fn meta_subcode(self) -> Option<u32> {
        match self {
            Dead::Unknown | Dead::AdminLost => None,
            Dead::Expired => Some(463),
            Dead::Revoked => Some(458),
            Dead::Meta(s) => Some(s),
        }
    }

    pub fn meta_message(self) -> &'static str {
        if self == Dead::AdminLost {
            return ADMIN_LOST;
        }
        match self.meta_subcode() {
            None => "Invalid OAuth access token - Cannot parse access token",
            Some(458) => "Error validating access token: The user has not authorized application.",
            Some(459) => "Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.",
            Some(460) => "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
            Some(463) => "Error validating access token: Session has expired.",
            Some(464) => "Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user.",
            // The fakes' wording: Meta's text for 493 was not found in its documentation.
            Some(493) => "Error validating access token: The user has not engaged the app in longer than 90 days.",
            Some(_) => "Error validating access token: The access token is invalid.",
        }
    }
}

pub(crate) fn is_meta(provider: Provider) -> bool {
    matches!(
        provider,
        Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads
    )
}

/// A log id in the networks' style (Meta's `fbtrace_id`, TikTok's `log_id`).
fn trace(seq: u64) -> String {
    format!("FAKE{seq:08}")
}

/// Graph API error `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
pub(crate) fn meta_error(
    status: u16,
    code: u32,
    subcode: Option<u32>,
    message: &str,
    seq: u64,
) -> (u16, Value) {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": trace(seq),
    });
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    if code == 2 || code == 17 {
        error["is_transient"] = json!(true);
    }
    (status, json!({ "error": error }))
}

/// RFC 6749 §5.2 `{"error","error_description"}` (+ TikTok's `log_id`).
fn oauth2(
    provider: Provider,
    status: u16,
    error: &str,
    description: &str,
    seq: u64,
) -> (u16, Value) {
    let mut body = json!({ "error": error, "error_description": description });
    if provider == Provider::Tiktok {
        body["log_id"] = json!(trace(seq));
    }
    (status, body)
}

/// The answer for `failure` at `route` of `provider`.
pub(crate) fn failure(
    provider: Provider,
    route: Route,
    failure: Failure,
    seq: u64,
) -> (u16, Value) {
    // A Meta 190 subcode is always said in Graph's words by the Meta networks.
    if let (true, Failure::DeadToken(dead @ (Dead::Meta(_) | Dead::AdminLost))) =
        (is_meta(provider), failure)
    {
        return meta_error(400, 190, dead.meta_subcode(), dead.meta_message(), seq);
    }
    match provider {
        Provider::InstagramLogin if route == Route::Token => instagram_login_token(failure),
        Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads => {
            meta(failure, seq)
        }
        Provider::Pinterest => pinterest(failure),
        Provider::Linkedin | Provider::X | Provider::Google | Provider::Tiktok => {
            let token_like = matches!(
                route,
                Route::Token | Route::Revoke | Route::Introspect | Route::Authorize
            );
            if token_like {
                oauth2_failure(provider, route, failure, seq)
            } else {
                api_failure(provider, failure, seq)
            }
        }
    }
}

fn meta(failure: Failure, seq: u64) -> (u16, Value) {
    match failure {
        Failure::InvalidClient => meta_error(400, 1, None, "Error validating client secret.", seq),
        Failure::InvalidGrant(message) => meta_error(400, 100, Some(36009), message, seq),
        Failure::RedirectMismatch => meta_error(
            400,
            100,
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            seq,
        ),
        Failure::InvalidRequest(message) => meta_error(400, 100, None, message, seq),
        Failure::DeadToken(dead) => meta_error(400, 190, dead.meta_subcode(), dead.meta_message(), seq),
        Failure::RateLimited => meta_error(429, 17, Some(2446079), "(#17) User request limit reached", seq),
        Failure::Server(status) => meta_error(
            status,
            2,
            None,
            "An unexpected error has occurred. Please retry your request later.",
            seq,
        ),
    }
}

/// api.instagram.com's token endpoint: `{"error_type","code","error_message"}`.
fn instagram_login_token(failure: Failure) -> (u16, Value) {
    let (status, kind, message) = match failure {
        Failure::InvalidClient => (400, "OAuthException", "Invalid platform app"),
        Failure::InvalidGrant(_) | Failure::DeadToken(_) => (
            400,
            "OAuthException",
            "Matching code was not found or was already used",
        ),
        Failure::RedirectMismatch => (
            400,
            "OAuthException",
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        ),
        Failure::InvalidRequest(message) => (400, "OAuthException", message),
        Failure::RateLimited => (429, "OAuthRateLimitException", "The request limit has been reached"),
        Failure::Server(status) => (status, "OAuthException", "An unknown error has occurred."),
    };
    (
        status,
        json!({ "error_type": kind, "code": status, "error_message": message }),
    )
}

fn pinterest(failure: Failure) -> (u16, Value) {
    let (status, code, message) = match failure {
        Failure::InvalidClient | Failure::DeadToken(_) => (401, 2, "Authentication failed."),
        Failure::InvalidGrant(_) => (401, 283, "The authorization grant is invalid"),
        Failure::RedirectMismatch => (400, 1, "Invalid redirect_uri"),
        Failure::InvalidRequest(message) => (400, 1, message),
        Failure::RateLimited => (
            429,
            8,
            "You have exceeded your rate limit. Try again later.",
        ),
        Failure::Server(status) => (status, 10, "Service unavailable. Try again later."),
    };
    (status, json!({ "code": code, "message": message }))
}

fn oauth2_failure(provider: Provider, route: Route, failure: Failure, seq: u64) -> (u16, Value) {
    match failure {
        Failure::InvalidClient => match provider {
            Provider::X => oauth2(
                provider,
                401,
                "unauthorized_client",
                "Missing valid authorization header",
                seq,
            ),
            Provider::Google => oauth2(
                provider,
                401,
                "invalid_client",
                "The OAuth client was not found.",
                seq,
            ),
            Provider::Tiktok => oauth2(
                provider,
                401,
                "invalid_client",
                "The client_key or client_secret is invalid.",
                seq,
            ),
            _ => oauth2(
                provider,
                401,
                "invalid_client",
                "Client authentication failed",
                seq,
            ),
        },
        Failure::InvalidGrant(message) => oauth2(provider, 400, "invalid_grant", message, seq),
        Failure::RedirectMismatch => match provider {
            Provider::Google => oauth2(provider, 400, "redirect_uri_mismatch", "Bad Request", seq),
            _ => oauth2(
                provider,
                400,
                "invalid_grant",
                "The redirect_uri does not match the one used at authorization.",
                seq,
            ),
        },
        Failure::InvalidRequest(message) => oauth2(provider, 400, "invalid_request", message, seq),
        Failure::DeadToken(_) => match (provider, route) {
            (Provider::Google, Route::Introspect) => {
                oauth2(provider, 400, "invalid_token", "Invalid Value", seq)
            }
            (Provider::Google, Route::Revoke) => oauth2(
                provider,
                400,
                "invalid_token",
                "Token expired or revoked",
                seq,
            ),
            _ => oauth2(
                provider,
                400,
                "invalid_grant",
                "Token has been expired or revoked.",
                seq,
            ),
        },
        Failure::RateLimited => match provider {
            Provider::X => x_problem(429, "Too Many Requests"),
            _ => oauth2(
                provider,
                429,
                "rate_limit_exceeded",
                "Too many requests. Try again later.",
                seq,
            ),
        },
        Failure::Server(status) => oauth2(
            provider,
            status,
            "temporarily_unavailable",
            "The service is temporarily unavailable.",
            seq,
        ),
    }
}

/// X API v2 problem details.
fn x_problem(status: u16, title: &str) -> (u16, Value) {
    (
        status,
        json!({ "title": title, "type": "about:blank", "status": status, "detail": title }),
    )
}

fn api_failure(provider: Provider, failure: Failure, seq: u64) -> (u16, Value) {
    match provider {
        Provider::X => match failure {
            Failure::DeadToken(_) | Failure::InvalidGrant(_) | Failure::InvalidClient => {
                x_problem(401, "Unauthorized")
            }
            Failure::RateLimited => x_problem(429, "Too Many Requests"),
            Failure::Server(status) => x_problem(status, "Service Unavailable"),
            Failure::InvalidRequest(message) => (
                400,
                json!({ "title": "Invalid Request", "type": "about:blank", "status": 400, "detail": message }),
            ),
            Failure::RedirectMismatch => x_problem(400, "Invalid Request"),
        },
        Provider::Tiktok => {
            let (status, code, message) = match failure {
                Failure::DeadToken(_) | Failure::InvalidGrant(_) | Failure::InvalidClient => (
                    401,
                    "access_token_invalid",
                    "The access token is invalid or not found in the request.",
                ),
                Failure::RateLimited => (
                    429,
                    "rate_limit_exceeded",
                    "The API rate limit was exceeded.",
                ),
                Failure::Server(status) => (
                    status,
                    "internal_error",
                    "Something went wrong. Please try again later.",
                ),
                Failure::InvalidRequest(message) => (400, "invalid_params", message),
                Failure::RedirectMismatch => (400, "invalid_params", "Invalid redirect_uri"),
            };
            (
                status,
                json!({ "data": {}, "error": { "code": code, "message": message, "log_id": trace(seq) } }),
            )
        }
        Provider::Linkedin => match failure {
            Failure::DeadToken(_) | Failure::InvalidGrant(_) | Failure::InvalidClient => (
                401,
                json!({ "serviceErrorCode": 65600, "message": "Invalid access token", "status": 401 }),
            ),
            Failure::RateLimited => (
                429,
                json!({ "status": 429, "serviceErrorCode": 101, "code": "TOO_MANY_REQUESTS",
                        "message": "Resource level throttle limit for calls to this resource is reached." }),
            ),
            Failure::Server(status) => (
                status,
                json!({ "message": "Internal Server Error", "status": status }),
            ),
            Failure::InvalidRequest(message) => (400, json!({ "message": message, "status": 400 })),
            Failure::RedirectMismatch => (
                400,
                json!({ "message": "Invalid redirect_uri", "status": 400 }),
            ),
        },
        // Google's userinfo and APIs.
        _ => match failure {
            Failure::DeadToken(_) | Failure::InvalidGrant(_) | Failure::InvalidClient => (
                401,
                json!({ "error": "invalid_request", "error_description": "Invalid Credentials" }),
            ),
            Failure::RateLimited => (
                429,
                json!({ "error": { "code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED" } }),
            ),
            Failure::Server(status) => (
                status,
                json!({ "error": { "code": status, "message": "The service is currently unavailable.", "status": "UNAVAILABLE" } }),
            ),
            Failure::InvalidRequest(message) => (
                400,
                json!({ "error": { "code": 400, "message": message, "status": "INVALID_ARGUMENT" } }),
            ),
            Failure::RedirectMismatch => (
                400,
                json!({ "error": "redirect_uri_mismatch", "error_description": "Bad Request" }),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenwarden::domain::{ProviderReply, Reason, Status, Verdict};
    use tokenwarden::providers::classify;

    fn verdict(provider: Provider, route: Route, f: Failure) -> Verdict {
        let (status, body) = failure(provider, route, f, 1);
        let body = body.to_string();
        classify(
            provider,
            ProviderReply::Http {
                status,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn dead_refresh_tokens_read_as_revoked_on_every_refreshable_network() {
        let revoked = Verdict::Broken {
            status: Status::Revoked,
            reason: Reason::TokenInvalid,
        };
        for provider in [
            Provider::Linkedin,
            Provider::X,
            Provider::Google,
            Provider::Tiktok,
            Provider::Pinterest,
        ] {
            assert_eq!(
                verdict(provider, Route::Token, Failure::InvalidGrant("dead")),
                revoked,
                "{provider}"
            );
        }
        for provider in [Provider::InstagramLogin, Provider::Threads] {
            assert_eq!(
                verdict(
                    provider,
                    Route::RefreshExchange,
                    Failure::DeadToken(Dead::Unknown)
                ),
                revoked,
                "{provider}"
            );
        }
    }

    #[test]
    fn rate_limits_and_server_errors_are_transient_everywhere() {
        for provider in Provider::ALL {
            for route in [Route::Token, Route::Profile, Route::Introspect] {
                assert_eq!(
                    verdict(provider, route, Failure::RateLimited),
                    Verdict::Transient
                );
                assert_eq!(
                    verdict(provider, route, Failure::Server(503)),
                    Verdict::Transient
                );
            }
        }
    }

    #[test]
    fn meta_password_change_names_its_cause() {
        assert_eq!(
            verdict(
                Provider::Facebook,
                Route::Profile,
                Failure::DeadToken(Dead::Meta(460))
            ),
            Verdict::Broken {
                status: Status::Revoked,
                reason: Reason::PasswordChanged
            }
        );
    }
}
