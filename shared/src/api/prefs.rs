//! Function `notification-prefs`: who is warned, how early, about what.

use std::collections::HashSet;
use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::domain::{EmailAddress, MailEvents, NotificationPrefs, Recipient, TeamId, UserId};
use crate::http::{self, json_body, ApiError, HttpConfig, Route, Tenant};
use crate::store::{PrefsStore, StoreError};

/// The most recipients a team may list.
pub const MAX_RECIPIENTS: usize = 50;
/// Lead days allowed: one day to two months before `reconnect_by`.
pub const LEAD_DAYS_RANGE: std::ops::RangeInclusive<i64> = 1..=60;
/// The most distinct lead days.
pub const MAX_LEAD_DAYS: usize = 8;
/// The longest recipient name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/notification-preferences"),
    ("PUT", "/notification-preferences"),
];

/// What the `notification-prefs` function works with, built once at cold start.
pub struct PrefsApi {
    pub prefs: Arc<dyn PrefsStore>,
    pub http: HttpConfig,
}

struct PrefsRoute;

impl Route for PrefsRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        matches!(segments, ["notification-preferences"]).then_some(PrefsRoute)
    }

    fn methods(&self) -> &'static [Method] {
        &[Method::GET, Method::PUT]
    }

    fn template(&self) -> &'static str {
        "/notification-preferences"
    }
}

/// The function's handler: one API Gateway request in, one response out.
pub async fn handle(api: &PrefsApi, req: Request) -> Response<Body> {
    http::serve(&api.http, req, |req, caller, PrefsRoute| async move {
        if req.method() == Method::PUT {
            put(api, &req, &caller).await
        } else {
            get(api, &caller).await
        }
    })
    .await
}

/// The preferences as the frontend reads and writes them. `version` is the one to send
/// back with the next PUT.
#[derive(Debug, Serialize)]
pub struct PrefsView {
    pub recipients: Vec<RecipientView>,
    pub lead_days: Vec<u32>,
    pub events: MailEvents,
    pub enabled: bool,
    pub version: u64,
}

#[derive(Debug, Serialize)]
pub struct RecipientView {
    pub user_id: UserId,
    pub email: EmailAddress,
    pub name: String,
}

impl From<NotificationPrefs> for PrefsView {
    fn from(p: NotificationPrefs) -> Self {
        Self {
            recipients: p
                .recipients
                .into_iter()
                .map(|r| RecipientView {
                    user_id: r.user_id,
                    email: r.email,
                    name: r.name,
                })
                .collect(),
            lead_days: p.lead_days,
            events: p.events,
            enabled: p.enabled,
            version: p.version,
        }
    }
}

async fn get(api: &PrefsApi, caller: &Tenant) -> Result<Response<Body>, ApiError> {
    let prefs = api
        .prefs
        .get_prefs(&caller.team)
        .await?
        .unwrap_or_else(|| NotificationPrefs::defaults(caller.team.clone()));
    Ok(http::json(StatusCode::OK, &PrefsView::from(prefs)))
}

/// The PUT body: the whole preferences (a replacement, not a patch) and the version read.
/// Plain wire types, so a bad email or an out-of-range day is a 422 naming the field, and
/// unknown fields (a `team`, say) are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefsInput {
    recipients: Vec<RecipientInput>,
    lead_days: Vec<i64>,
    events: EventsInput,
    enabled: bool,
    version: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientInput {
    user_id: String,
    email: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsInput {
    expiring: bool,
    expired: bool,
    disconnected: bool,
    recovered: bool,
}

impl PrefsInput {
    /// Checks every rule and builds the team's preferences.
    fn validate(self, team: TeamId) -> Result<NotificationPrefs, ApiError> {
        if self.recipients.len() > MAX_RECIPIENTS {
            return Err(ApiError::unprocessable(
                "recipients",
                format!("at most {MAX_RECIPIENTS} recipients"),
            ));
        }
        let mut recipients = Vec::with_capacity(self.recipients.len());
        let mut users = HashSet::new();
        let mut emails = HashSet::new();
        for (i, r) in self.recipients.into_iter().enumerate() {
            let at = |f: &str| format!("recipients[{i}].{f}");
            let user_id = UserId::parse(&r.user_id)
                .map_err(|e| ApiError::unprocessable(at("user_id"), e.to_string()))?;
            let email = EmailAddress::parse(&r.email)
                .map_err(|e| ApiError::unprocessable(at("email"), e.to_string()))?;
            let name = r.name.trim().to_owned();
            if name.is_empty()
                || name.chars().count() > MAX_NAME_CHARS
                || name.chars().any(char::is_control)
            {
                return Err(ApiError::unprocessable(
                    at("name"),
                    format!(
                        "a name is 1 to {MAX_NAME_CHARS} characters without control characters"
                    ),
                ));
            }
            if !users.insert(user_id.clone()) {
                return Err(ApiError::unprocessable(
                    at("user_id"),
                    "this user is already a recipient",
                ));
            }
            if !emails.insert(email.as_str().to_ascii_lowercase()) {
                return Err(ApiError::unprocessable(
                    at("email"),
                    "this email address is already a recipient",
                ));
            }
            recipients.push(Recipient {
                user_id,
                email,
                name,
            });
        }

        let mut lead_days = Vec::with_capacity(self.lead_days.len());
        for (i, d) in self.lead_days.iter().enumerate() {
            if !LEAD_DAYS_RANGE.contains(d) {
                return Err(ApiError::unprocessable(
                    format!("lead_days[{i}]"),
                    format!(
                        "a lead day is a whole number of days from {} to {}",
                        LEAD_DAYS_RANGE.start(),
                        LEAD_DAYS_RANGE.end()
                    ),
                ));
            }
            lead_days.push(*d as u32);
        }
        lead_days.sort_unstable_by(|a, b| b.cmp(a));
        lead_days.dedup();
        if lead_days.is_empty() || lead_days.len() > MAX_LEAD_DAYS {
            return Err(ApiError::unprocessable(
                "lead_days",
                format!("give 1 to {MAX_LEAD_DAYS} different lead days"),
            ));
        }

        Ok(NotificationPrefs {
            team,
            recipients,
            lead_days,
            events: MailEvents {
                expiring: self.events.expiring,
                expired: self.events.expired,
                disconnected: self.events.disconnected,
                recovered: self.events.recovered,
            },
            enabled: self.enabled,
            version: self.version,
        })
    }
}

async fn put(api: &PrefsApi, req: &Request, caller: &Tenant) -> Result<Response<Body>, ApiError> {
    let input: PrefsInput = json_body(req, api.http.body_limit)?;
    let prefs = input.validate(caller.team.clone())?;
    let saved = api.prefs.put_prefs(&prefs).await.map_err(|e| match e {
        StoreError::Conflict => ApiError::Conflict(
            "the notification preferences were changed by someone else since you read them; \
             reload them and apply your change again"
                .into(),
        ),
        other => other.into(),
    })?;
    tracing::info!(
        recipients = saved.recipients.len(),
        version = saved.version,
        by = %caller.user,
        "notification preferences saved"
    );
    Ok(http::json(StatusCode::OK, &PrefsView::from(saved)))
}

#[cfg(test)]
mod body_props {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::parser_props::CASES, ..ProptestConfig::default() })]

        /// Any PUT body: refused (400 or 422) or valid preferences whose every rule holds.
        #[test]
        fn any_prefs_body_is_refused_or_keeps_every_rule(
            emails in prop::collection::vec(".{0,40}|[a-z]{1,8}@[a-z]{1,8}\\\\.[a-z]{2,4}", 0..60),
            names in prop::collection::vec(".{0,120}", 0..60),
            lead_days in prop::collection::vec(any::<i64>(), 0..12),
            raw in ".{0,200}",
        ) {
            let recipients: Vec<_> = emails.iter().zip(names.iter().chain(std::iter::repeat(&String::new())))
                .enumerate()
                .map(|(i, (e, n))| json!({"user_id": format!("u{i}"), "email": e, "name": n}))
                .collect();
            let body = json!({
                "recipients": recipients, "lead_days": lead_days, "enabled": true, "version": 0,
                "events": {"expiring": true, "expired": true, "disconnected": true, "recovered": true},
            });
            let team = TeamId::parse("t").unwrap();
            if let Ok(input) = serde_json::from_value::<PrefsInput>(body) {
                if let Ok(prefs) = input.validate(team.clone()) {
                    prop_assert!(prefs.recipients.len() <= 50);
                    prop_assert!(prefs.lead_days.iter().all(|d| (1..=90).contains(d)), "{:?}", prefs.lead_days);
                }
            }
            // A body that is not JSON of the shape never parses.
            let is_object = raw.trim_start().starts_with('{');
            prop_assert!(serde_json::from_str::<PrefsInput>(&raw).is_err() || is_object, "{}", raw);
        }
    }
}
