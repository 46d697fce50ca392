//! Function `notification-prefs`: who is warned, how early, about what.
//!
//! - `GET /notification-preferences`: the settings and every recipient with its state.
//! - `PUT /notification-preferences`: the settings (team name, time zone, lead days,
//!   events, on/off), conditioned on the version read.
//! - `POST /notification-preferences/recipients`: add yourself (active at once) or invite
//!   an address (pending until its owner confirms the link mailed to it).
//! - `DELETE /notification-preferences/recipients/{id}`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::domain::{
    EmailAddress, MailEvents, NotificationPrefs, Recipient, RecipientId, RecipientState, TeamId,
};
use crate::http::{self, json_body, ApiError, HttpConfig, Route, Tenant};
use crate::mail::recipients::{Asker, RecipientError, Recipients};
use crate::store::{PrefsStore, StoreError};

pub use crate::mail::recipients::{MAX_NAME_CHARS, MAX_RECIPIENTS};

/// Lead days allowed: one day to two months before `reconnect_by`.
pub const LEAD_DAYS_RANGE: std::ops::RangeInclusive<i64> = 1..=60;
/// The most distinct lead days.
pub const MAX_LEAD_DAYS: usize = 8;
/// The longest team name, in characters.
pub const MAX_TEAM_NAME_CHARS: usize = 80;

/// The routes of this function, as written in `infra/openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/notification-preferences"),
    ("PUT", "/notification-preferences"),
    ("POST", "/notification-preferences/recipients"),
    ("DELETE", "/notification-preferences/recipients/{id}"),
];

/// What the `notification-prefs` function works with, built once at cold start.
pub struct PrefsApi {
    pub prefs: Arc<dyn PrefsStore>,
    pub recipients: Recipients,
    pub http: HttpConfig,
}

enum PrefsRoute {
    Settings,
    Recipients,
    Recipient(String),
}

impl Route for PrefsRoute {
    fn find(segments: &[&str]) -> Option<Self> {
        match segments {
            ["notification-preferences"] => Some(PrefsRoute::Settings),
            ["notification-preferences", "recipients"] => Some(PrefsRoute::Recipients),
            ["notification-preferences", "recipients", id] => {
                Some(PrefsRoute::Recipient((*id).to_owned()))
            }
            _ => None,
        }
    }

    fn methods(&self) -> &'static [Method] {
        match self {
            PrefsRoute::Settings => &[Method::GET, Method::PUT],
            PrefsRoute::Recipients => &[Method::POST],
            PrefsRoute::Recipient(_) => &[Method::DELETE],
        }
    }

    fn template(&self) -> &'static str {
        match self {
            PrefsRoute::Settings => "/notification-preferences",
            PrefsRoute::Recipients => "/notification-preferences/recipients",
            PrefsRoute::Recipient(_) => "/notification-preferences/recipients/{id}",
        }
    }
}

/// The function's handler: one API Gateway request in, one response out.
pub async fn handle(api: &PrefsApi, req: Request) -> Response<Body> {
    http::serve(&api.http, req, |req, caller, route| async move {
        match (route, req.method().clone()) {
            (PrefsRoute::Settings, Method::PUT) => put(api, &req, &caller).await,
            (PrefsRoute::Settings, _) => get(api, &caller).await,
            (PrefsRoute::Recipients, _) => add(api, &req, &caller).await,
            (PrefsRoute::Recipient(id), _) => remove(api, &caller, &id).await,
        }
    })
    .await
}

/// The preferences as the frontend reads them. `version` is the one to send back with the
/// next PUT.
#[derive(Debug, Serialize)]
pub struct PrefsView {
    pub team_name: Option<String>,
    pub time_zone: String,
    pub recipients: Vec<RecipientView>,
    pub lead_days: Vec<u32>,
    pub events: MailEvents,
    pub enabled: bool,
    pub version: u64,
}

/// One recipient and where it stands: only `active` ones get digests.
#[derive(Debug, Serialize)]
pub struct RecipientView {
    pub id: RecipientId,
    pub email: EmailAddress,
    pub name: String,
    pub state: RecipientState,
    /// Whether this is the caller's own address.
    pub you: bool,
    pub added_by: String,
    pub added_at: DateTime<Utc>,
    /// Until when the confirm link works (pending recipients).
    pub invitation_expires_at: Option<DateTime<Utc>>,
}

impl RecipientView {
    fn of(r: Recipient, caller: &Tenant) -> Self {
        Self {
            you: r.user_id.as_ref() == Some(&caller.user),
            invitation_expires_at: r.invitation.as_ref().map(|i| i.expires_at),
            id: r.id,
            email: r.email,
            name: r.name,
            state: r.state,
            added_by: r.added_by.to_string(),
            added_at: r.added_at,
        }
    }
}

impl PrefsView {
    fn of(p: NotificationPrefs, caller: &Tenant) -> Self {
        Self {
            team_name: p.team_name,
            time_zone: p.time_zone.name().to_owned(),
            recipients: p
                .recipients
                .into_iter()
                .map(|r| RecipientView::of(r, caller))
                .collect(),
            lead_days: p.lead_days,
            events: p.events,
            enabled: p.enabled,
            version: p.version,
        }
    }
}

async fn read(api: &PrefsApi, team: &TeamId) -> Result<NotificationPrefs, ApiError> {
    Ok(api
        .prefs
        .get_prefs(team)
        .await?
        .unwrap_or_else(|| NotificationPrefs::defaults(team.clone())))
}

async fn get(api: &PrefsApi, caller: &Tenant) -> Result<Response<Body>, ApiError> {
    let prefs = read(api, &caller.team).await?;
    Ok(http::json(StatusCode::OK, &PrefsView::of(prefs, caller)))
}

/// The PUT body: the whole settings (a replacement, not a patch) and the version read.
/// Plain wire types, so a bad time zone or an out-of-range day is a 422 naming the field,
/// and unknown fields (a `team`, say) are refused. Recipients have their own routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefsInput {
    #[serde(default)]
    team_name: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    lead_days: Vec<i64>,
    events: EventsInput,
    enabled: bool,
    version: u64,
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
    /// Checks every rule and builds the team's settings.
    fn validate(self, team: TeamId) -> Result<NotificationPrefs, ApiError> {
        let team_name = match self.team_name.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name)
                if name.chars().count() <= MAX_TEAM_NAME_CHARS
                    && !name.chars().any(crate::mail::names::hidden) =>
            {
                Some(name.to_owned())
            }
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "team_name",
                    format!("a team name is at most {MAX_TEAM_NAME_CHARS} characters without control or format characters"),
                ))
            }
        };
        let time_zone = match self.time_zone.as_deref() {
            None | Some("") => chrono_tz::UTC,
            Some(zone) => zone.parse::<chrono_tz::Tz>().map_err(|_| {
                ApiError::unprocessable(
                    "time_zone",
                    "a time zone is an IANA name such as Europe/Berlin or Asia/Tokyo",
                )
            })?,
        };
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
            team_name,
            time_zone,
            lead_days,
            events: MailEvents {
                expiring: self.events.expiring,
                expired: self.events.expired,
                disconnected: self.events.disconnected,
                recovered: self.events.recovered,
            },
            enabled: self.enabled,
            version: self.version,
            ..NotificationPrefs::defaults(team)
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
    tracing::info!(version = saved.version, by = %caller.user, "notification preferences saved");
    // The answer shows the recipients too, as GET does.
    let prefs = read(api, &caller.team).await?;
    Ok(http::json(StatusCode::OK, &PrefsView::of(prefs, caller)))
}

/// The POST body: the address to add (your own when left out) and the name mails greet.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientInput {
    #[serde(default)]
    email: Option<String>,
    name: String,
}

/// Who asks, as the recipient rules know the caller.
fn asker(caller: &Tenant) -> Asker {
    Asker {
        team: caller.team.clone(),
        user: caller.user.clone(),
        email: caller.email.clone(),
    }
}

fn recipient_error(e: RecipientError) -> ApiError {
    match e {
        RecipientError::Invalid { field, message } => ApiError::unprocessable(field, message),
        RecipientError::Conflict(m) => ApiError::Conflict(m),
        RecipientError::NotFound => ApiError::NotFound(e.to_string()),
        RecipientError::QuotaUsed(_) => ApiError::TooManyRequests(e.to_string()),
        RecipientError::Store(s) => s.into(),
        // Saved as pending; adding it again sends a new link.
        RecipientError::Mail(crate::mail::MailError::Rejected(_)) => ApiError::unprocessable(
            "email",
            "the mail service refused to send to this address (an SES sandbox accepts verified addresses only)",
        ),
        other => ApiError::internal(other),
    }
}

async fn add(api: &PrefsApi, req: &Request, caller: &Tenant) -> Result<Response<Body>, ApiError> {
    let input: RecipientInput = json_body(req, api.http.body_limit)?;
    let email = input
        .email
        .as_deref()
        .map(EmailAddress::parse)
        .transpose()
        .map_err(|e| ApiError::unprocessable("email", e.to_string()))?;
    let added = api
        .recipients
        .add(&asker(caller), email, &input.name)
        .await
        .map_err(recipient_error)?;
    Ok(http::json(
        StatusCode::CREATED,
        &RecipientView::of(added, caller),
    ))
}

async fn remove(api: &PrefsApi, caller: &Tenant, id: &str) -> Result<Response<Body>, ApiError> {
    let id = RecipientId::parse(id)
        .ok_or_else(|| ApiError::NotFound("no recipient by that id in this team".into()))?;
    api.recipients
        .remove(&asker(caller), &id)
        .await
        .map_err(recipient_error)?;
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({"id": id, "removed": true}),
    ))
}

#[cfg(test)]
mod body_props {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::parser_props::CASES, ..ProptestConfig::default() })]

        /// Any PUT body: refused (400 or 422) or valid settings whose every rule holds.
        #[test]
        fn any_prefs_body_is_refused_or_keeps_every_rule(
            team_name in prop::option::of(".{0,120}"),
            time_zone in prop::option::of("[A-Za-z_/]{0,30}|Asia/Tokyo|UTC"),
            lead_days in prop::collection::vec(any::<i64>(), 0..12),
            raw in ".{0,200}",
        ) {
            let body = json!({
                "team_name": team_name, "time_zone": time_zone,
                "lead_days": lead_days, "enabled": true, "version": 0,
                "events": {"expiring": true, "expired": true, "disconnected": true, "recovered": true},
            });
            let team = TeamId::parse("t").unwrap();
            if let Ok(input) = serde_json::from_value::<PrefsInput>(body) {
                if let Ok(prefs) = input.validate(team.clone()) {
                    prop_assert!(prefs.lead_days.iter().all(|d| (1..=60).contains(d)), "{:?}", prefs.lead_days);
                    prop_assert!(!prefs.lead_days.is_empty() && prefs.lead_days.len() <= MAX_LEAD_DAYS);
                    if let Some(name) = &prefs.team_name {
                        prop_assert!(!name.is_empty() && name.chars().count() <= MAX_TEAM_NAME_CHARS);
                        prop_assert!(!name.chars().any(crate::mail::names::hidden));
                    }
                    prop_assert!(prefs.recipients.is_empty());
                }
            }
            // A body that is not JSON of the shape never parses.
            let is_object = raw.trim_start().starts_with('{');
            prop_assert!(serde_json::from_str::<PrefsInput>(&raw).is_err() || is_object, "{}", raw);
        }
    }
}
