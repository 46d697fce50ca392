//! Function `mail-links`: the public routes the links in mails open (no JWT: the signed
//! token in the link is the authority).
//!
//! - `GET /mail/confirm?token=…`: a page saying what confirming means, with one button.
//! - `POST /mail/confirm?token=…`: the pending recipient becomes active (once).
//! - `GET /mail/unsubscribe?token=…`: a page with one button.
//! - `POST /mail/unsubscribe?token=…`: no more mail from that team to that address. Mail
//!   clients send it themselves (RFC 8058 one-click: body `List-Unsubscribe=One-Click`);
//!   repeating it is harmless.
//!
//! A GET never changes anything (mail scanners follow links). A malformed token is a 400,
//! a forged, used or expired one a 404 that says no more; a browser (`Accept: text/html`)
//! gets the same status with a page, anyone else the JSON error.

use askama::Template;
use lambda_http::http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::domain::RecipientState;
use crate::http::{self, query, ApiError, Route};
use crate::mail::clean_name;
use crate::mail::links::{LinkError, LinkPurpose};
use crate::mail::recipients::{LinkOutcome, LinkUse, Recipients};

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/mail/confirm"),
    ("POST", "/mail/confirm"),
    ("GET", "/mail/unsubscribe"),
    ("POST", "/mail/unsubscribe"),
];

/// What the `mail-links` function works with, built once at cold start.
pub struct MailLinksApi {
    pub recipients: Recipients,
}

struct LinkRoute(LinkPurpose);

impl Route for LinkRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        match segments {
            ["mail", "confirm"] => Some(LinkRoute(LinkPurpose::Confirm)),
            ["mail", "unsubscribe"] => Some(LinkRoute(LinkPurpose::Unsubscribe)),
            _ => None,
        }
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::GET, Method::POST]
    }

    fn template(&self) -> &'static str {
        match self.0 {
            LinkPurpose::Confirm => "/mail/confirm",
            LinkPurpose::Unsubscribe => "/mail/unsubscribe",
        }
    }
}

#[derive(Template)]
#[template(path = "pages/link.html")]
struct LinkPage<'a> {
    product: &'a str,
    title: &'a str,
    message: String,
    form: Option<PageForm>,
    support: Option<&'a str>,
}

struct PageForm {
    action: String,
    button: &'static str,
}

/// The function's handler.
pub async fn handle(api: &MailLinksApi, req: Request) -> Response<Body> {
    let html = wants_html(&req);
    let mut resp = http::serve_public(req, |req, LinkRoute(purpose)| async move {
        let token = query(&req, &["token"])?
            .one("token")?
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ApiError::bad_request("invalid_link", "the link carries no token"))?;
        let post = req.method() == Method::POST;
        let outcome = match (purpose, post) {
            (LinkPurpose::Confirm, true) => api.recipients.confirm(&token).await,
            (LinkPurpose::Unsubscribe, true) => api.recipients.unsubscribe(&token).await,
            (_, false) => api.recipients.peek(&token, purpose).await,
        }
        .map_err(link_error)?;
        Ok(answer(api, purpose, post, &token, &outcome, html))
    })
    .await;
    if html && !resp.status().is_success() {
        resp = error_page(api, resp.status());
    }
    resp
}

fn wants_html(req: &Request) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

fn link_error(e: LinkUse) -> ApiError {
    match e {
        LinkUse::Link(LinkError::Malformed) => ApiError::bad_request(
            "invalid_link",
            "the link is malformed; copy it from the mail again",
        ),
        LinkUse::Link(LinkError::Invalid) => {
            ApiError::NotFound("the link is not valid, was used already, or has expired".into())
        }
        LinkUse::Link(e @ LinkError::Backend(_)) => ApiError::internal(e),
        LinkUse::Store(e) => e.into(),
    }
}

/// What the route answers: JSON `{state, team_name}` for a program, a page for a browser.
fn answer(
    api: &MailLinksApi,
    purpose: LinkPurpose,
    post: bool,
    token: &str,
    outcome: &LinkOutcome,
    html: bool,
) -> Response<Body> {
    if !html {
        return http::json(
            StatusCode::OK,
            &serde_json::json!({
                "state": outcome.state.map(RecipientState::as_str),
                "team_name": outcome.team_name,
            }),
        );
    }
    let settings = &api.recipients.settings;
    let team = clean_name(&outcome.team_name, 80);
    let product = settings.branding.product.as_str();
    let action = match purpose {
        LinkPurpose::Confirm => settings.confirm_url(token),
        LinkPurpose::Unsubscribe => settings.unsubscribe_url(token),
    };
    let (title, message, button) = match (purpose, post, outcome.state) {
        (LinkPurpose::Confirm, false, _) => (
            "Confirm connection alerts",
            format!("Confirm that you want mail from {product} when social accounts of {team} need reconnecting."),
            Some("Yes, send me these alerts"),
        ),
        (LinkPurpose::Confirm, true, _) => (
            "You are signed up",
            format!("You will get connection alerts of {team}. Every mail has a link to stop them."),
            None,
        ),
        (LinkPurpose::Unsubscribe, false, Some(RecipientState::Active | RecipientState::Pending)) => (
            "Stop connection alerts",
            format!("Stop the connection alert mails of {team} to this address."),
            Some("Unsubscribe"),
        ),
        (LinkPurpose::Unsubscribe, _, _) => (
            "You are unsubscribed",
            format!("This address gets no more connection alerts of {team}."),
            None,
        ),
    };
    page(
        api,
        StatusCode::OK,
        title,
        message,
        button.map(|button| PageForm {
            action: action.to_string(),
            button,
        }),
    )
}

fn error_page(api: &MailLinksApi, status: StatusCode) -> Response<Body> {
    let (title, message) = if status == StatusCode::NOT_FOUND || status == StatusCode::BAD_REQUEST {
        (
            "This link does not work",
            "The link is not valid, was used already, or has expired. Nothing was changed."
                .to_owned(),
        )
    } else {
        (
            "Something went wrong",
            "Nothing was changed. Please try again in a few minutes.".to_owned(),
        )
    };
    page(api, status, title, message, None)
}

fn page(
    api: &MailLinksApi,
    status: StatusCode,
    title: &str,
    message: String,
    form: Option<PageForm>,
) -> Response<Body> {
    let settings = &api.recipients.settings;
    let support = settings.branding.support_url.as_ref().map(|u| u.as_str());
    let rendered = LinkPage {
        product: &settings.branding.product,
        title,
        message,
        form,
        support,
    }
    .render();
    match rendered {
        Ok(body) => {
            let mut resp = Response::new(Body::Text(body));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            http::no_referrer(&mut resp);
            resp
        }
        Err(e) => http::error_response(&ApiError::internal(e)),
    }
}
