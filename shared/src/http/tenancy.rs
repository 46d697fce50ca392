//! Who is calling: the team and the user, from the JWT authorizer's claims and nowhere
//! else. API Gateway (HTTP API, payload format 2.0) verified the token and put its claims in
//! `requestContext.authorizer.jwt.claims`; a request without them is refused (fail closed).

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use super::error::ApiError;
use crate::domain::{EmailAddress, TeamId, UserId};

/// The claim names that carry the team, the user and the user's email address
/// (configurable per identity provider, e.g. Cognito's `custom:team_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub team: String,
    pub user: String,
    pub email: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            team: "team_id".into(),
            user: "sub".into(),
            email: "email".into(),
        }
    }
}

/// The caller: the team whose data the request may touch, and the person acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub team: TeamId,
    pub user: UserId,
    /// The person's own address, when the token carries a valid one with
    /// `email_verified: true` (the identity provider vouches for it, so adding it needs no
    /// confirmation).
    pub email: Option<EmailAddress>,
}

/// Reads the caller from the authorizer's claims. Missing context, missing claims and
/// values that are not valid ids are all a 401.
pub fn tenant(req: &Request, names: &ClaimNames) -> Result<Tenant, ApiError> {
    #[allow(unreachable_patterns)] // other event kinds exist when their features are on
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    let claims = claims.ok_or_else(|| refuse("no JWT authorizer claims in the request"))?;
    let team = claims
        .get(&names.team)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refuse("the team claim is missing"))?;
    let user = claims
        .get(&names.user)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| refuse("the user claim is missing"))?;
    if !names_someone(team) {
        return Err(refuse("the team claim names no team"));
    }
    if !names_someone(user) {
        return Err(refuse("the user claim names no user"));
    }
    let team = TeamId::parse(team).map_err(|_| refuse("the team claim is not a valid id"))?;
    let user = UserId::parse(user).map_err(|_| refuse("the user claim is not a valid id"))?;
    // Only an address the identity provider verified (OIDC's `email_verified`): an
    // unverified one is whatever the person typed into their profile.
    let verified = claims
        .get("email_verified")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let email = claims
        .get(&names.email)
        .filter(|_| verified)
        .and_then(|e| EmailAddress::parse(e).ok());
    Ok(Tenant { team, user, email })
}

/// API Gateway hands every claim over as text: a JSON `null`, `true` or `false` arrives as
/// the word, an array as `[a b]`, an object as its JSON (or Go's `map[...]`). None of those
/// names a team or a user; taken as an id, "null" would be a team every misconfigured
/// identity provider shares.
fn names_someone(value: &str) -> bool {
    const NOT_A_NAME: [&str; 6] = ["null", "true", "false", "undefined", "nil", "none"];
    let v = value.trim();
    !(v.is_empty()
        || v != value
        || NOT_A_NAME.iter().any(|w| v.eq_ignore_ascii_case(w))
        || v.starts_with('[')
        || v.starts_with('{')
        || v.starts_with("map["))
}

fn refuse(why: &'static str) -> ApiError {
    tracing::warn!(reason = why, "request refused: no usable identity");
    ApiError::Unauthenticated(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_rendered_from_non_strings_name_nobody() {
        for rendered in [
            "",
            " ",
            "null",
            "NULL",
            "true",
            "false",
            "undefined",
            "nil",
            "None",
            "[a b]",
            "[]",
            "{\"id\":\"t\"}",
            "map[id:t]",
            " team-a",
            "team-a ",
        ] {
            assert!(!names_someone(rendered), "{rendered:?}");
        }
        for real in ["team-a", "t_1", "acme:eu", "nullable-team", "truest"] {
            assert!(names_someone(real), "{real:?}");
        }
    }
}
