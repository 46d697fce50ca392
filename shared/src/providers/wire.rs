//! Reading the networks' answers: token grants, validity checks, profiles and error
//! bodies. Pure functions over parsed JSON, so every shape is unit-tested without a
//! server. Nothing here copies a token into an error: failures name the missing field.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

use super::{RemoteAccount, TokenGrant};
use crate::domain::Secret;

/// The longest piece of a network's message kept in a summary.
const MAX_FIELD_CHARS: usize = 200;

/// A string field, also accepting a number (Instagram's and Threads' `user_id` are JSON
/// numbers in some answers and strings in others).
pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A count of seconds, as a number or a numeric string (Google's tokeninfo sends strings).
pub(crate) fn seconds(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The longest lifetime believed from a network: ten years. No network documents more
/// than a year or two; a larger `expires_in` is a bug or a hostile answer, and taken at
/// its word it would overflow the clock (a panic after a rotating network already
/// retired the old refresh token). It is clamped, so the new tokens are still stored.
pub(crate) const MAX_LIFETIME_SECS: i64 = 10 * 366 * 86_400;

/// The latest moment believed from a network: the end of year 9999 (the stored time
/// format has four year digits). A later `expires_at` is treated as not stated.
pub(crate) const MAX_UNIX_TIME: i64 = 253_402_300_799;

/// A lifetime; absent, zero or negative means "not stated" (Meta uses 0 for "never");
/// longer than [`MAX_LIFETIME_SECS`] is clamped to it.
pub(crate) fn lifetime(v: &Value, key: &str) -> Option<Duration> {
    let secs = seconds(v, key).filter(|s| *s > 0)?;
    if secs > MAX_LIFETIME_SECS {
        tracing::warn!(
            field = key,
            seconds = secs,
            clamped_to = MAX_LIFETIME_SECS,
            "a network stated an absurd lifetime; clamped"
        );
    }
    Duration::try_seconds(secs.min(MAX_LIFETIME_SECS))
}

/// A Unix time; 0 means "never" at Meta; past year 9999 is not believed.
pub(crate) fn instant(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    seconds(v, key)
        .filter(|s| *s > 0 && *s <= MAX_UNIX_TIME)
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// Granted scopes: a string separated by commas or spaces (networks differ, and none
/// has either character inside a scope), or an array of strings.
pub(crate) fn scopes(v: &Value) -> Option<Vec<String>> {
    let raw = ["scope", "scopes", "permissions"]
        .iter()
        .find_map(|k| v.get(*k))?;
    let list: Vec<String> = match raw {
        Value::String(s) => s
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => return None,
    };
    Some(list)
}

/// Instagram Login's code exchange may wrap its answer as `{"data":[{...}]}`; a few
/// networks' older versions used `{"data":{...}}`. Returns the object holding the token.
fn token_object(v: &Value) -> &Value {
    if v.get("access_token").is_some() {
        return v;
    }
    match v.get("data") {
        Some(Value::Array(items)) => items
            .iter()
            .find(|i| i.get("access_token").is_some())
            .unwrap_or(v),
        Some(data @ Value::Object(_)) if data.get("access_token").is_some() => data,
        _ => v,
    }
}

/// Whether a success-status body is really an error (TikTok and Meta can answer 200 with
/// an error object; a token answer without a token but with `error` is one).
pub(crate) fn embedded_error(v: &Value) -> bool {
    match v.get("error") {
        Some(Value::String(_)) => true,
        // TikTok's API envelope carries `"error":{"code":"ok"}` on success.
        Some(Value::Object(e)) => e.get("code").and_then(Value::as_str) != Some("ok"),
        _ => false,
    }
}

/// Reads a token endpoint's answer. `Err` names what is missing.
pub(crate) fn grant(v: &Value) -> Result<TokenGrant, &'static str> {
    let t = token_object(v);
    let access_token = match t.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => Secret::from(s.as_str()),
        _ => return Err("no access_token in the token answer"),
    };
    let refresh_token = match t.get("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(Secret::from(s.as_str())),
        _ => None,
    };
    Ok(TokenGrant {
        access_token,
        refresh_token,
        expires_in: lifetime(t, "expires_in"),
        refresh_expires_in: lifetime(t, "refresh_token_expires_in")
            .or_else(|| lifetime(t, "refresh_expires_in")),
        scopes: scopes(t),
        user_id: text(t, "user_id").or_else(|| text(t, "open_id")),
    })
}

/// A long-lived exchange answer keeps what the short-lived grant knew and the new one
/// does not repeat (the user id, the scopes).
pub(crate) fn merge_exchanged(old: TokenGrant, new: TokenGrant) -> TokenGrant {
    TokenGrant {
        refresh_token: new.refresh_token.or(old.refresh_token),
        scopes: new.scopes.or(old.scopes),
        user_id: new.user_id.or(old.user_id),
        ..new
    }
}

/// The single account a profile read describes; `Err` when it names no id.
pub(crate) fn remote(
    id: Option<String>,
    name: Option<String>,
    picture: Option<String>,
) -> Result<RemoteAccount, &'static str> {
    let external_id = id.ok_or("no account id in the profile answer")?;
    Ok(RemoteAccount {
        display_name: name.unwrap_or_else(|| external_id.clone()),
        external_id,
        picture_url: picture,
        ..RemoteAccount::default()
    })
}

/// The fields of an error object kept in a summary: codes, types and messages.
const SUMMARY_KEYS: [&str; 19] = [
    "error",
    "error_type",
    "type",
    "code",
    "error_code",
    "error_subcode",
    "subcode",
    "serviceErrorCode",
    "status",
    "title",
    "active",
    "error_reason",
    "error_description",
    "error_message",
    "message",
    "detail",
    "error_user_msg",
    "fbtrace_id",
    "log_id",
];

/// The fields of an error body worth keeping: codes, types and messages. Tokens are
/// never among them, and any value the request itself sent (`sent`) is scrubbed, in case
/// the network echoes it in a message.
pub(crate) fn summary(body: &[u8], sent: &[&str]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return unreadable_summary(body);
    };
    let mut parts = Vec::new();
    for (obj, prefix) in error_objects(&json) {
        kept_fields(obj, prefix, sent, &mut parts);
    }
    if parts.is_empty() {
        "no error details".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A body that is not JSON is told only by its size.
fn unreadable_summary(body: &[u8]) -> String {
    if body.is_empty() {
        "empty body".to_owned()
    } else {
        format!("a non-JSON body of {} bytes", body.len())
    }
}

/// Where the networks put their error fields, with the prefix each is summarised under:
/// the body itself, an `error` object (Meta, TikTok), `data.error`, and the first of
/// `errors` (X).
fn error_objects(json: &Value) -> Vec<(&Value, &'static str)> {
    let mut found = vec![(json, "")];
    if let Some(e) = json.get("error").filter(|e| e.is_object()) {
        found.push((e, "error."));
    }
    if let Some(e) = json
        .get("data")
        .and_then(|d| d.get("error"))
        .filter(|e| e.is_object())
    {
        found.push((e, "data.error."));
    }
    if let Some(e) = json
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        found.push((e, "errors.0."));
    }
    found
}

/// Appends `obj`'s [`SUMMARY_KEYS`] that hold a text, number or boolean to `parts`, as
/// `{prefix}{key}={value}`, scrubbed of `sent` and clipped.
fn kept_fields(obj: &Value, prefix: &str, sent: &[&str], parts: &mut Vec<String>) {
    for key in SUMMARY_KEYS {
        let value = match obj.get(key) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => continue,
        };
        // Scrub before clipping, so a cut never leaves part of a secret behind.
        parts.push(format!("{prefix}{key}={}", clip(&scrub(value, sent))));
    }
}

fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD_CHARS)
        .collect();
    if s.chars().count() > MAX_FIELD_CHARS {
        out.push('…');
    }
    out
}

/// Removes every value the request sent, raw and URL-encoded, from a summary. Very short
/// values (under 6 characters) are not secrets worth the false positives.
pub(crate) fn scrub(mut text: String, sent: &[&str]) -> String {
    for secret in sent.iter().filter(|s| s.len() >= 6) {
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for form in [secret.to_string(), encoded] {
            if text.contains(&form) {
                text = text.replace(&form, "[redacted]");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ExposeSecret;
    use serde_json::json;

    #[test]
    fn instagram_login_short_lived_answer_is_read_flat_and_wrapped() {
        let flat = json!({"access_token":"IGQ-flat","user_id":17841400000001u64,"permissions":["instagram_business_basic","instagram_business_content_publish"]});
        let wrapped = json!({"data":[{"access_token":"IGQ-wrapped","user_id":"17841400000002","permissions":"instagram_business_basic,instagram_business_content_publish"}]});

        let a = grant(&flat).unwrap();
        let b = grant(&wrapped).unwrap();

        assert_eq!(a.access_token.expose_secret(), "IGQ-flat");
        assert_eq!(a.user_id.as_deref(), Some("17841400000001"));
        assert_eq!(b.access_token.expose_secret(), "IGQ-wrapped");
        assert_eq!(b.user_id.as_deref(), Some("17841400000002"));
        for g in [&a, &b] {
            assert_eq!(
                g.scopes.as_deref(),
                Some(
                    &[
                        "instagram_business_basic".to_owned(),
                        "instagram_business_content_publish".to_owned()
                    ][..]
                )
            );
            assert_eq!(
                g.expires_in, None,
                "the short-lived answer states no lifetime"
            );
            assert!(g.refresh_token.is_none());
        }
    }

    #[test]
    fn absurd_lifetimes_are_clamped_and_absurd_instants_ignored() {
        let v = json!({"access_token":"a","refresh_token":"r","expires_in":i64::MAX,
            "refresh_token_expires_in":"99999999999999999","scope":"tweet.write"});
        let g = grant(&v).unwrap();
        assert_eq!(g.expires_in, Some(Duration::seconds(MAX_LIFETIME_SECS)));
        assert_eq!(
            g.refresh_expires_in,
            Some(Duration::seconds(MAX_LIFETIME_SECS))
        );
        let v = json!({"access_token":"a","expires_in":-5,"refresh_expires_in":1e300});
        let g = grant(&v).unwrap();
        assert_eq!((g.expires_in, g.refresh_expires_in), (None, None));
        let far = json!({"expires_at": MAX_UNIX_TIME + 1, "ok": 1});
        assert_eq!(instant(&far, "expires_at"), None);
        let edge = json!({"expires_at": MAX_UNIX_TIME});
        assert!(instant(&edge, "expires_at").is_some());
    }

    #[test]
    fn tiktok_answer_gives_open_id_and_refresh_expires_in() {
        let v = json!({"access_token":"act.1","expires_in":86400,"open_id":"open-1","refresh_expires_in":31536000,"refresh_token":"rft.1","scope":"user.info.basic,video.publish","token_type":"Bearer"});

        let g = grant(&v).unwrap();

        assert_eq!(g.expires_in, Some(Duration::seconds(86400)));
        assert_eq!(g.refresh_expires_in, Some(Duration::seconds(31536000)));
        assert_eq!(
            g.refresh_token.as_ref().map(ExposeSecret::expose_secret),
            Some("rft.1")
        );
        assert_eq!(g.user_id.as_deref(), Some("open-1"));
        assert_eq!(g.scopes.unwrap().len(), 2);
    }

    #[test]
    fn linkedin_and_pinterest_refresh_expiry_field_is_read_and_absent_is_none() {
        let li = json!({"access_token":"a","expires_in":5184000,"refresh_token":"r","refresh_token_expires_in":31535000,"scope":"openid,profile"});
        let google = json!({"access_token":"a","expires_in":"3599","scope":"openid email","token_type":"Bearer"});

        let li = grant(&li).unwrap();
        let google = grant(&google).unwrap();

        assert_eq!(li.refresh_expires_in, Some(Duration::seconds(31535000)));
        assert_eq!(google.expires_in, Some(Duration::seconds(3599)));
        assert_eq!(google.refresh_expires_in, None);
        assert!(google.refresh_token.is_none());
        assert_eq!(
            google.scopes,
            Some(vec!["openid".to_owned(), "email".to_owned()])
        );
    }

    #[test]
    fn a_token_answer_without_a_token_is_an_error_that_names_no_value() {
        let err = grant(&json!({"token_type":"bearer","refresh_token":"secret-r"})).unwrap_err();
        assert!(!err.contains("secret-r"));
        assert!(embedded_error(&json!({"error":"invalid_grant"})));
        assert!(embedded_error(
            &json!({"data":{},"error":{"code":"access_token_invalid"}})
        ));
        assert!(!embedded_error(&json!({"data":{},"error":{"code":"ok"}})));
    }

    #[test]
    fn exchanged_grant_keeps_the_user_id_of_the_short_lived_one() {
        let short = grant(&json!({"access_token":"s","user_id":7})).unwrap();
        let long =
            grant(&json!({"access_token":"l","token_type":"bearer","expires_in":5184000})).unwrap();

        let merged = merge_exchanged(short, long);

        assert_eq!(merged.access_token.expose_secret(), "l");
        assert_eq!(merged.user_id.as_deref(), Some("7"));
        assert_eq!(merged.expires_in, Some(Duration::seconds(5184000)));
    }

    #[test]
    fn a_profile_without_an_id_is_unreadable_and_the_name_falls_back_to_it() {
        assert!(remote(None, Some("Ada".into()), None).is_err());
        let a = remote(Some("x-1".into()), None, None).unwrap();
        assert_eq!(a.display_name, "x-1");
        assert!(a.access_token.is_none());
    }

    #[test]
    fn summary_keeps_codes_and_messages_and_scrubs_what_was_sent() {
        let meta = br#"{"error":{"message":"Invalid token tok-123456 for app","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"Ab1"}}"#;
        let s = summary(meta, &["tok-123456"]);
        assert!(s.contains("error.code=190"), "{s}");
        assert!(s.contains("error.error_subcode=460"), "{s}");
        assert!(s.contains("OAuthException"), "{s}");
        assert!(!s.contains("tok-123456"), "{s}");

        let oauth = br#"{"error":"invalid_grant","error_description":"code a%2Fb%2Bsecret was used","access_token":"zzz-leak"}"#;
        let s = summary(oauth, &["a/b+secret"]);
        assert!(s.contains("error=invalid_grant"), "{s}");
        assert!(!s.contains("a%2Fb%2Bsecret"), "{s}");
        assert!(
            !s.contains("zzz-leak"),
            "fields outside the list are dropped: {s}"
        );

        assert_eq!(
            summary(b"<html>oops token</html>", &[]),
            "a non-JSON body of 23 bytes"
        );
        assert_eq!(summary(b"", &[]), "empty body");
    }

    #[test]
    fn a_long_message_is_scrubbed_before_it_is_clipped() {
        let secret = "s3cr3t-value-that-is-long";
        let message = format!("{}{secret}", "x".repeat(190));
        let body = serde_json::json!({ "error": "invalid_request", "error_description": message });

        let s = summary(body.to_string().as_bytes(), &[secret]);

        assert!(!s.contains("s3cr3t"), "{s}");
    }

    #[test]
    fn summary_reads_tiktok_pinterest_and_x_shapes() {
        let tiktok = br#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid","log_id":"L1"}}"#;
        assert!(summary(tiktok, &[]).contains("error.code=access_token_invalid"));
        let pinterest = br#"{"code":2,"message":"Authentication failed."}"#;
        assert_eq!(
            summary(pinterest, &[]),
            "code=2, message=Authentication failed."
        );
        let x = br#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#;
        assert!(summary(x, &[]).contains("title=Unauthorized"));
    }
}
