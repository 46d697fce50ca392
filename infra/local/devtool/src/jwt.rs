//! HS256 JWTs for the local run: the run command issues one for the demo team, the
//! gateway verifies it as the HTTP API's JWT authorizer would (signature, `iss`, `aud`,
//! `exp`, `nbf`, `iat`).
//!
//! The deployed authorizer verifies the identity provider's RS256 keys from its JWKS; a
//! shared secret in the stack directory is the local stand-in for that key pair. Everything
//! after the signature check (which claims, how they reach the function) is the same.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Map, Value};

/// Signs `claims` with HS256.
pub fn sign(key: &[u8], claims: &Value) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key),
    )?)
}

/// What the authorizer checks besides the signature.
#[derive(Debug, Clone)]
pub struct Expect {
    pub issuer: String,
    /// Accepted audiences: the token's `aud` (string or list), or else its `client_id`,
    /// must be one of them.
    pub audiences: Vec<String>,
}

/// Why a token is refused (the text goes into `WWW-Authenticate`, as API Gateway does).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// Verifies `token` at `now` (seconds since the epoch) and returns its claims: the
/// signature, `iss`, `exp` and `nbf` by jsonwebtoken; the audience (with API Gateway's
/// `client_id` fallback) and a future `iat` here.
pub fn verify(
    key: &[u8],
    token: &str,
    expect: &Expect,
    now: i64,
) -> Result<Map<String, Value>, Refused> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[&expect.issuer]);
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_nbf = true;
    // Checked below, where `client_id` can stand in for `aud`; and at `now`, not the
    // wall clock, so exp and nbf are checked below too.
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_secret(key),
        &validation,
    )
    .map_err(|e| {
        Refused(match e.kind() {
            ErrorKind::InvalidSignature => "the token signature does not verify",
            ErrorKind::InvalidAlgorithm => {
                "the token is not signed with the local key's algorithm (HS256)"
            }
            ErrorKind::InvalidIssuer => "the token issuer is not the configured issuer",
            ErrorKind::MissingRequiredClaim(_) => "the token has no exp",
            ErrorKind::InvalidToken => "the token is not a JWT",
            _ => "the token cannot be read",
        })
    })?;
    let claims = data.claims;
    let audiences: Vec<&str> = match claims.get("aud").or_else(|| claims.get("client_id")) {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences
        .iter()
        .any(|a| expect.audiences.iter().any(|e| e == a))
    {
        return Err(Refused("the token audience is not a configured audience"));
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    match time("exp") {
        Some(exp) if exp > now => {}
        Some(_) => return Err(Refused("the token has expired")),
        None => return Err(Refused("the token has no exp")),
    }
    if time("nbf").is_some_and(|nbf| nbf > now) {
        return Err(Refused("the token is not valid yet (nbf)"));
    }
    if time("iat").is_some_and(|iat| iat > now + 60) {
        return Err(Refused("the token was issued in the future (iat)"));
    }
    Ok(claims)
}

/// The claims as the HTTP API puts them into `requestContext.authorizer.jwt.claims`: every
/// value a string (numbers and booleans as text, lists as `[a b c]`).
pub fn flatten_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    claims
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (name.clone(), Value::String(text))
        })
        .collect()
}

/// The `scope` (or `scp`) claim as the authorizer's `scopes` list, or null.
pub fn scopes(claims: &Map<String, Value>) -> Value {
    match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => json!(s.split_whitespace().collect::<Vec<_>>()),
        Some(Value::Array(list)) => Value::Array(list.clone()),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn claims_are_rendered_as_api_gateway_renders_them() {
        let claims = serde_json::json!({
            "team_null": null, "team_bool": true, "team_list": ["a", "b"],
            "team_object": {"id": "t"}, "team_number": 7, "team_text": "team-a"
        });
        let flat = flatten_claims(claims.as_object().unwrap());
        let text = |k: &str| flat[k].as_str().unwrap().to_owned();
        assert_eq!(text("team_null"), "null");
        assert_eq!(text("team_bool"), "true");
        assert_eq!(text("team_list"), "[a b]");
        assert_eq!(text("team_object"), r#"{"id":"t"}"#);
        assert_eq!(text("team_number"), "7");
        assert_eq!(text("team_text"), "team-a");
    }

    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn expect() -> Expect {
        Expect {
            issuer: "http://127.0.0.1/issuer".into(),
            audiences: vec!["tokenwarden".into()],
        }
    }

    fn claims(exp: i64) -> Value {
        json!({"iss": "http://127.0.0.1/issuer", "aud": "tokenwarden", "sub": "user-1",
               "team_id": "team-1", "iat": 1000, "exp": exp})
    }

    #[test]
    fn a_signed_token_verifies_and_a_changed_one_does_not() {
        let token = sign(KEY, &claims(5000)).unwrap();
        let got = verify(KEY, &token, &expect(), 2000).expect("valid");
        assert_eq!(got["team_id"], "team-1");

        let (prefix, signature) = token.rsplit_once('.').unwrap();
        let (header, _) = prefix.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            json!({"iss": "http://127.0.0.1/issuer", "aud": "tokenwarden", "sub": "user-1",
                   "team_id": "team-2", "exp": 5000})
            .to_string(),
        );
        let forged = format!("{header}.{forged_claims}.{signature}");
        assert_eq!(
            verify(KEY, &forged, &expect(), 2000),
            Err(Refused("the token signature does not verify"))
        );
        assert!(verify(b"another key of 32 bytes........", &token, &expect(), 2000).is_err());
    }

    #[test]
    fn issuer_audience_and_times_are_checked() {
        let token = sign(KEY, &claims(5000)).unwrap();
        assert_eq!(
            verify(KEY, &token, &expect(), 6000),
            Err(Refused("the token has expired"))
        );
        let other_issuer = Expect {
            issuer: "https://elsewhere".into(),
            ..expect()
        };
        assert!(verify(KEY, &token, &other_issuer, 2000).is_err());
        let other_audience = Expect {
            audiences: vec!["other".into()],
            ..expect()
        };
        assert!(verify(KEY, &token, &other_audience, 2000).is_err());
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims(5000).to_string())
        );
        assert!(verify(KEY, &unsigned, &expect(), 2000).is_err());
    }

    #[test]
    fn claims_reach_the_function_as_strings() {
        let Value::Object(c) = json!({"exp": 5, "groups": ["a", "b"], "admin": true, "sub": "u"})
        else {
            unreachable!()
        };
        let flat = flatten_claims(&c);
        assert_eq!(flat["exp"], "5");
        assert_eq!(flat["groups"], "[a b]");
        assert_eq!(flat["admin"], "true");
        assert_eq!(flat["sub"], "u");
    }
}
