//! Property tests of the parsers that read what a caller, a browser, a stored item or a
//! network hands over: for any input at all they answer (a value or an error) and never
//! panic, and what they accept keeps its rule. Each property runs [`CASES`] generated
//! inputs (proptest runs the configured number in full when none fails) in the README's
//! test command; the listing cursor's property is beside its decoder in `api/accounts.rs`.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::domain::SealedToken;
use crate::domain::{OriginAllowlist, Provider, ProviderReply, ReturnUrl, TeamId};
use crate::providers::{classify, error_code};
use crate::seal::{Binding, Keyring, TokenSlot};

/// Inputs tried per property.
pub(crate) const CASES: u32 = 2_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, nested a few levels, with the keys the networks' answers use.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop::sample::select(vec![
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_token_expires_in",
        "refresh_expires_in",
        "scope",
        "scopes",
        "permissions",
        "user_id",
        "open_id",
        "data",
        "error",
        "code",
        "error_subcode",
        "message",
        "is_valid",
        "expires_at",
        "data_access_expires_at",
        "status",
        "active",
        "paging",
        "cursors",
        "after",
        "id",
        "name",
        "x",
        "user",
        "sub",
        "username",
        "display_name",
        "business_name",
        "instagram_business_account",
        "picture",
        "profile_image_url",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn token_answers_of_any_shape_are_read_or_refused(v in any_json()) {
        if let Ok(grant) = crate::providers::wire_grant_for_props(&v) {
            // Whatever a network states, the lifetimes are in range.
            for d in [grant.expires_in, grant.refresh_expires_in].into_iter().flatten() {
                prop_assert!(d.num_seconds() > 0);
                prop_assert!(d.num_seconds() <= crate::providers::MAX_LIFETIME_SECS_FOR_PROPS);
            }
        }
    }

    #[test]
    fn every_networks_profile_or_pages_answer_of_any_shape_is_read_or_refused(
        provider in prop::sample::select(Provider::ALL.to_vec()),
        v in any_json(),
    ) {
        if let Ok(accounts) = crate::providers::network(provider).read_accounts(&v) {
            for a in accounts {
                prop_assert!(!a.external_id.is_empty());
                prop_assert!(!a.display_name.is_empty());
            }
        }
    }

    /// The credentials function's requests: any payload is read or refused with a typed
    /// error whose message never repeats a token-looking value the caller sent.
    #[test]
    fn credentials_requests_of_any_shape_are_read_or_refused(
        v in any_json(),
        action in prop::sample::select(vec!["get_token", "report_failure", "x", ""]),
        bytes in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let _ = crate::credentials::wire::Request::from_bytes(&bytes);
        let mut request = v.clone();
        if let Some(object) = request.as_object_mut() {
            object.insert("action".into(), Value::from(action));
            object.insert("team_id".into(), Value::from("canary-tok-team"));
        }
        if let Err(e) = crate::credentials::wire::Request::from_value(request) {
            prop_assert!(!format!("{e:?}").contains("canary-tok"), "{:?}", e);
        }
    }

    #[test]
    fn debug_token_answers_of_any_shape_are_read_or_refused(v in any_json()) {
        let _ = crate::providers::meta_debug_token_for_props(&v);
    }

    #[test]
    fn failed_answers_of_any_bytes_get_a_verdict(
        provider in prop::sample::select(Provider::ALL.to_vec()),
        status in 100u16..600,
        body in prop::collection::vec(any::<u8>(), 0..300),
        v in any_json(),
    ) {
        let _ = classify(provider, ProviderReply::Http { status, body: &body });
        let json = v.to_string();
        let _ = classify(provider, ProviderReply::Http { status, body: json.as_bytes() });
        if let Some(code) = error_code(json.as_bytes()) {
            prop_assert!(code.len() <= 64);
        }
        let summary = crate::providers::summary_for_props(json.as_bytes(), &["s3cr3t-value"]);
        prop_assert!(!summary.contains("s3cr3t-value"));
    }

    #[test]
    fn sealed_envelopes_of_any_text_do_not_open(raw in ".{0,200}") {
        let keyring = Keyring::from_secret(&Keyring::generate_secret("k1")).unwrap();
        let team = TeamId::parse("t").unwrap();
        let account = crate::domain::AccountId::parse("a").unwrap();
        let binding = Binding { team: &team, provider: Provider::X, account: &account };
        prop_assert!(keyring.open(&SealedToken::from_stored(raw.clone()), binding, TokenSlot::Access).is_err());
        prop_assert!(keyring.open_in_flight(&SealedToken::from_stored(raw), "key").is_err());
    }

    #[test]
    fn return_urls_of_any_text_are_on_an_allowed_origin_or_refused(
        raw in prop_oneof![".{0,80}", "https://app\\.example\\.com[/?#@:.a-z0-9%]{0,40}", "[a-z]{1,8}://[a-z.@:]{0,30}/.{0,20}"],
    ) {
        let allow = OriginAllowlist::parse("https://app.example.com").unwrap();
        if let Ok(url) = ReturnUrl::parse(&raw, &allow) {
            let u = url.url();
            prop_assert_eq!(u.scheme(), "https");
            prop_assert_eq!(u.host_str(), Some("app.example.com"));
            prop_assert!(u.username().is_empty() && u.password().is_none());
        }
    }
}
