//! Reading the networks' answers: token grants, validity checks, profiles and error
//! bodies. Pure functions over parsed JSON, so every shape is unit-tested without a
//! server. Nothing here copies a token into an error: failures name the missing field.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

use super::{RemoteAccount, TokenCheck, TokenGrant};
use crate::domain::Provider;
use crate::seal::Secret;

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
fn lifetime(v: &Value, key: &str) -> Option<Duration> {
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
fn instant(v: &Value, key: &str) -> Option<DateTime<Utc>> {
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
        Some(Value::String(s)) if !s.is_empty() => Secret::new(s.as_str()),
        _ => return Err("no access_token in the token answer"),
    };
    let refresh_token = match t.get("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(Secret::new(s.as_str())),
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

/// What Meta's `debug_token` said: a check, or the error object to classify.
#[derive(Debug, PartialEq)]
pub(crate) enum DebugToken {
    Check(TokenCheck),
    /// `is_valid: false` with `data.error`: a Graph-style error body rebuilt from it
    /// (`subcode` renamed `error_subcode`) so `classify` reads it like any Meta error.
    Invalid(Value),
}

pub(crate) fn debug_token(v: &Value) -> Result<DebugToken, &'static str> {
    let data = v.get("data").ok_or("no data in the debug_token answer")?;
    let valid = data
        .get("is_valid")
        .and_then(Value::as_bool)
        .ok_or("no is_valid in the debug_token answer")?;
    if !valid {
        if let Some(error) = data.get("error").filter(|e| e.is_object()) {
            let mut rebuilt = serde_json::Map::new();
            rebuilt.insert("type".into(), Value::from("OAuthException"));
            for (from, to) in [
                ("code", "code"),
                ("subcode", "error_subcode"),
                ("error_subcode", "error_subcode"),
                ("message", "message"),
            ] {
                if let Some(x) = error.get(from) {
                    rebuilt.insert(to.into(), x.clone());
                }
            }
            return Ok(DebugToken::Invalid(
                serde_json::json!({ "error": Value::Object(rebuilt) }),
            ));
        }
    }
    Ok(DebugToken::Check(TokenCheck {
        valid,
        expires_at: instant(data, "expires_at"),
        data_access_expires_at: instant(data, "data_access_expires_at"),
        scopes: scopes(data),
    }))
}

/// LinkedIn's introspection: `None` when the status says revoked/expired (the caller
/// classifies the body), else the check.
pub(crate) fn linkedin_introspection(v: &Value) -> Result<Option<TokenCheck>, &'static str> {
    if matches!(
        v.get("status").and_then(Value::as_str),
        Some("revoked" | "expired")
    ) {
        return Ok(None);
    }
    let active = v
        .get("active")
        .and_then(Value::as_bool)
        .ok_or("no active in the introspection answer")?;
    Ok(Some(TokenCheck {
        valid: active,
        expires_at: instant(v, "expires_at"),
        data_access_expires_at: None,
        scopes: scopes(v),
    }))
}

/// Google's tokeninfo: `exp` is a Unix time as a string; `expires_in` the seconds left.
pub(crate) fn google_tokeninfo(v: &Value, now: DateTime<Utc>) -> TokenCheck {
    let expires_at = instant(v, "exp")
        .or_else(|| lifetime(v, "expires_in").and_then(|d| now.checked_add_signed(d)));
    TokenCheck {
        valid: true,
        expires_at,
        data_access_expires_at: None,
        scopes: scopes(v),
    }
}

/// The single account a profile read describes.
pub(crate) fn profile_account(
    provider: Provider,
    v: &Value,
) -> Result<RemoteAccount, &'static str> {
    let (id, name, picture) = match provider {
        Provider::Linkedin | Provider::Google => (
            text(v, "sub"),
            text(v, "name").or_else(|| text(v, "email")),
            text(v, "picture"),
        ),
        Provider::X => {
            let d = v.get("data").unwrap_or(&Value::Null);
            (
                text(d, "id"),
                text(d, "name").or_else(|| text(d, "username")),
                text(d, "profile_image_url"),
            )
        }
        Provider::Tiktok => {
            let u = v
                .get("data")
                .and_then(|d| d.get("user"))
                .unwrap_or(&Value::Null);
            (
                text(u, "open_id"),
                text(u, "display_name"),
                text(u, "avatar_url"),
            )
        }
        // Pinterest's numeric `id` is stable; usernames can change (older API
        // versions had only `username`).
        Provider::Pinterest => (
            text(v, "id").or_else(|| text(v, "username")),
            text(v, "business_name").or_else(|| text(v, "username")),
            text(v, "profile_image"),
        ),
        // `user_id` is the Instagram professional account id; `id` the app-scoped one.
        Provider::InstagramLogin => (
            text(v, "user_id").or_else(|| text(v, "id")),
            text(v, "username").or_else(|| text(v, "name")),
            text(v, "profile_picture_url"),
        ),
        Provider::Threads => (
            text(v, "id"),
            text(v, "username").or_else(|| text(v, "name")),
            text(v, "threads_profile_picture_url"),
        ),
        Provider::Facebook | Provider::Instagram => (text(v, "id"), text(v, "name"), None),
    };
    let external_id = id.ok_or("no account id in the profile answer")?;
    Ok(RemoteAccount {
        display_name: name.unwrap_or_else(|| external_id.clone()),
        external_id,
        picture_url: picture,
        access_token: None,
    })
}

/// One page of `/me/accounts`: the accounts found and the cursor of the next page.
pub(crate) fn pages(
    provider: Provider,
    v: &Value,
) -> Result<(Vec<RemoteAccount>, Option<String>), &'static str> {
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no data in the /me/accounts answer")?;
    let mut found = Vec::new();
    for page in data {
        // A Page without a Page token is one the user cannot manage: nothing to store.
        let (Some(page_id), Some(token)) = (text(page, "id"), text(page, "access_token")) else {
            continue;
        };
        let page_name = text(page, "name");
        match provider {
            Provider::Instagram => {
                let Some(ig) = page.get("instagram_business_account") else {
                    continue;
                };
                let Some(ig_id) = text(ig, "id") else {
                    continue;
                };
                found.push(RemoteAccount {
                    display_name: text(ig, "username")
                        .or_else(|| text(ig, "name"))
                        .or(page_name)
                        .unwrap_or_else(|| ig_id.clone()),
                    external_id: ig_id,
                    picture_url: text(ig, "profile_picture_url"),
                    access_token: Some(Secret::new(token)),
                });
            }
            _ => found.push(RemoteAccount {
                display_name: page_name.unwrap_or_else(|| page_id.clone()),
                picture_url: page
                    .get("picture")
                    .and_then(|p| p.get("data"))
                    .and_then(|d| text(d, "url")),
                external_id: page_id,
                access_token: Some(Secret::new(token)),
            }),
        }
    }
    let next = v
        .get("paging")
        .filter(|p| p.get("next").is_some())
        .and_then(|p| p.get("cursors"))
        .and_then(|c| text(c, "after"));
    Ok((found, next))
}

/// The fields of an error body worth keeping: codes, types and messages. Tokens are
/// never among them, and any value the request itself sent (`sent`) is scrubbed, in case
/// the network echoes it in a message.
pub(crate) fn summary(body: &[u8], sent: &[&str]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return if body.is_empty() {
            "empty body".to_owned()
        } else {
            format!("a non-JSON body of {} bytes", body.len())
        };
    };
    const KEYS: [&str; 19] = [
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
    let mut parts = Vec::new();
    let mut visit = |obj: &Value, prefix: &str| {
        for key in KEYS {
            let value = match obj.get(key) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => continue,
            };
            // Scrub before clipping, so a cut never leaves part of a secret behind.
            parts.push(format!("{prefix}{key}={}", clip(&scrub(value, sent))));
        }
    };
    visit(&json, "");
    if let Some(e) = json.get("error").filter(|e| e.is_object()) {
        visit(e, "error.");
    }
    if let Some(e) = json
        .get("data")
        .and_then(|d| d.get("error"))
        .filter(|e| e.is_object())
    {
        visit(e, "data.error.");
    }
    if let Some(e) = json
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        visit(e, "errors.0.");
    }
    if parts.is_empty() {
        "no error details".to_owned()
    } else {
        parts.join(", ")
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
    use serde_json::json;

    #[test]
    fn instagram_login_short_lived_answer_is_read_flat_and_wrapped() {
        let flat = json!({"access_token":"IGQ-flat","user_id":17841400000001u64,"permissions":["instagram_business_basic","instagram_business_content_publish"]});
        let wrapped = json!({"data":[{"access_token":"IGQ-wrapped","user_id":"17841400000002","permissions":"instagram_business_basic,instagram_business_content_publish"}]});

        let a = grant(&flat).unwrap();
        let b = grant(&wrapped).unwrap();

        assert_eq!(a.access_token.expose(), "IGQ-flat");
        assert_eq!(a.user_id.as_deref(), Some("17841400000001"));
        assert_eq!(b.access_token.expose(), "IGQ-wrapped");
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
        assert_eq!(g.refresh_token.as_ref().map(Secret::expose), Some("rft.1"));
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

        assert_eq!(merged.access_token.expose(), "l");
        assert_eq!(merged.user_id.as_deref(), Some("7"));
        assert_eq!(merged.expires_in, Some(Duration::seconds(5184000)));
    }

    #[test]
    fn debug_token_valid_answer_reads_expiries_and_zero_means_never() {
        let v = json!({"data":{"app_id":"1","type":"USER","is_valid":true,"expires_at":0,"data_access_expires_at":1900000000,"scopes":["pages_show_list"]}});

        let DebugToken::Check(check) = debug_token(&v).unwrap() else {
            panic!("expected a check")
        };

        assert!(check.valid);
        assert_eq!(check.expires_at, None);
        assert_eq!(
            check.data_access_expires_at,
            Utc.timestamp_opt(1900000000, 0).single()
        );
        assert_eq!(check.scopes, Some(vec!["pages_show_list".to_owned()]));
    }

    #[test]
    fn debug_token_invalid_answer_is_rebuilt_as_a_graph_error() {
        let v = json!({"data":{"is_valid":false,"error":{"code":190,"message":"changed password","subcode":460},"scopes":[]}});

        let DebugToken::Invalid(body) = debug_token(&v).unwrap() else {
            panic!("expected an error")
        };

        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["error_subcode"], 460);
        assert_eq!(body["error"]["type"], "OAuthException");
    }

    #[test]
    fn linkedin_introspection_revoked_is_left_to_classify() {
        assert_eq!(
            linkedin_introspection(&json!({"active":false,"status":"revoked"})).unwrap(),
            None
        );
        let ok = linkedin_introspection(
            &json!({"active":true,"status":"active","expires_at":1900000000,"scope":"openid,profile"}),
        )
        .unwrap()
        .unwrap();
        assert!(ok.valid);
        assert_eq!(ok.expires_at, Utc.timestamp_opt(1900000000, 0).single());
    }

    #[test]
    fn profiles_name_the_documented_id_field_per_network() {
        let cases = [
            (
                Provider::Linkedin,
                json!({"sub":"li-1","name":"Ada"}),
                "li-1",
            ),
            (
                Provider::Google,
                json!({"sub":"g-1","email":"a@b.c"}),
                "g-1",
            ),
            (
                Provider::X,
                json!({"data":{"id":"x-1","name":"Ada","username":"ada"}}),
                "x-1",
            ),
            (
                Provider::Tiktok,
                json!({"data":{"user":{"open_id":"tt-1","display_name":"Ada"}},"error":{"code":"ok"}}),
                "tt-1",
            ),
            (Provider::Pinterest, json!({"username":"ada"}), "ada"),
            (
                Provider::Pinterest,
                json!({"id":"549755885175","username":"ada"}),
                "549755885175",
            ),
            (
                Provider::InstagramLogin,
                json!({"user_id":"1784","id":"999","username":"ada"}),
                "1784",
            ),
            (
                Provider::InstagramLogin,
                json!({"id":"999","username":"ada"}),
                "999",
            ),
            (
                Provider::Threads,
                json!({"id":"th-1","username":"ada"}),
                "th-1",
            ),
        ];
        for (provider, body, id) in cases {
            let account = profile_account(provider, &body).unwrap();
            assert_eq!(account.external_id, id, "{provider}");
            assert!(account.access_token.is_none());
        }
        assert!(profile_account(Provider::X, &json!({"data":{}})).is_err());
    }

    #[test]
    fn pages_give_page_tokens_and_instagram_keeps_only_linked_accounts() {
        let v = json!({"data":[
            {"id":"p1","name":"Bakery","access_token":"page-1","picture":{"data":{"url":"https://p/1"}},
             "instagram_business_account":{"id":"ig1","username":"bakery.ig"}},
            {"id":"p2","name":"Shop","access_token":"page-2"},
            {"id":"p3","name":"No token"}
        ],"paging":{"cursors":{"before":"a","after":"b"},"next":"https://graph/next"}});

        let (fb, next) = pages(Provider::Facebook, &v).unwrap();
        let (ig, _) = pages(Provider::Instagram, &v).unwrap();

        assert_eq!(next.as_deref(), Some("b"));
        assert_eq!(
            fb.iter()
                .map(|a| a.external_id.as_str())
                .collect::<Vec<_>>(),
            ["p1", "p2"]
        );
        assert_eq!(fb[0].picture_url.as_deref(), Some("https://p/1"));
        assert_eq!(
            fb[1].access_token.as_ref().map(Secret::expose),
            Some("page-2")
        );
        assert_eq!(ig.len(), 1);
        assert_eq!(ig[0].external_id, "ig1");
        assert_eq!(ig[0].display_name, "bakery.ig");
        assert_eq!(
            ig[0].access_token.as_ref().map(Secret::expose),
            Some("page-1")
        );
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
