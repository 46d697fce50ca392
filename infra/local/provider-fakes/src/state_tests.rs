//! The fakes' rules, driven through [`World`] as the server does, without a socket.

use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tokenwarden::domain::Provider;
use url::form_urlencoded::Serializer;

use super::*;
use crate::documented::GRAPH_VERSIONS;
use crate::model::FakeUser;
use crate::routes::route_of;

const REDIRECT: &str = "https://app.example/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

enum Auth<'a> {
    None,
    Basic(&'a str),
    Bearer(&'a str),
}

struct Answer {
    status: u16,
    body: Value,
    location: Option<String>,
}

impl Answer {
    fn at(&self, pointer: &str) -> &Value {
        self.body.pointer(pointer).unwrap_or(&Value::Null)
    }

    fn str(&self, pointer: &str) -> String {
        self.at(pointer).as_str().unwrap_or_default().to_owned()
    }
}

struct Rig {
    world: World,
}

fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn id(p: Provider) -> String {
    default_client_id(p)
}

fn secret(p: Provider) -> String {
    default_client_secret(p)
}

/// One value form-urlencoded.
fn urlencoded(value: &str) -> String {
    encode(&[("", value)])[1..].to_owned()
}

/// `id:secret` for a Basic header, as the oauth2 crate sends it (each part urlencoded).
fn basic_of(p: Provider) -> String {
    format!("{}:{}", urlencoded(&id(p)), urlencoded(&secret(p)))
}

impl Rig {
    fn new() -> Self {
        Self {
            world: World::default(),
        }
    }

    fn call(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        form: &[(&str, &str)],
        auth: Auth<'_>,
    ) -> Answer {
        let mut uri = path.to_owned();
        if !query.is_empty() {
            uri = format!("{uri}?{}", encode(query));
        }
        let uri: Uri = uri.parse().expect("a request URI");
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:1"));
        let body = if form.is_empty() {
            String::new()
        } else {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
            encode(form)
        };
        match auth {
            Auth::None => {}
            Auth::Basic(pair) => {
                let value = format!("Basic {}", STANDARD.encode(pair));
                headers.insert(
                    header::AUTHORIZATION,
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            Auth::Bearer(token) => {
                let value = format!("Bearer {token}");
                headers.insert(
                    header::AUTHORIZATION,
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
        }
        let inc = Incoming::new(method, &uri, &headers, body.as_bytes());
        let reply = match route_of(uri.path()) {
            Some(routed) => self.world.handle(&routed, &inc).reply,
            None => Reply::Json(404, json!({ "error": "not_found" })),
        };
        match reply {
            Reply::Json(status, body) => Answer {
                status,
                body,
                location: None,
            },
            Reply::Redirect(location) => Answer {
                status: 302,
                body: Value::Null,
                location: Some(location),
            },
            Reply::Page(status, _) | Reply::Empty(status) => Answer {
                status,
                body: Value::Null,
                location: None,
            },
        }
    }

    fn get(&mut self, path: &str, query: &[(&str, &str)]) -> Answer {
        self.call(Method::GET, path, query, &[], Auth::None)
    }

    fn patch(&mut self, p: Provider, patch: SettingsPatch) {
        self.world.patch_settings(p, patch);
    }

    /// The authorize redirect's code (the scopes given, the rest as each network wants).
    fn authorize_at(
        &mut self,
        p: Provider,
        path: &str,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let d = documented::of(p);
        let client = id(p);
        let challenge = s256_challenge(VERIFIER);
        let mut query = vec![
            (d.client_id_param, client.as_str()),
            ("redirect_uri", REDIRECT),
            ("state", "st"),
            ("response_type", "code"),
            ("scope", scope),
        ];
        if d.pkce.used() {
            query.push(("code_challenge", challenge.as_str()));
            query.push(("code_challenge_method", "S256"));
        }
        query.extend_from_slice(extra);
        let answer = self.get(path, &query);
        assert_eq!(answer.status, 302, "{p}: {path}");
        let location = url::Url::parse(&answer.location.unwrap()).unwrap();
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned());
        code.unwrap_or_else(|| panic!("{p}: no code in {location}"))
    }

    fn authorize(&mut self, p: Provider, scope: &str, extra: &[(&str, &str)]) -> String {
        let path = format!(
            "/{}{}",
            p.id(),
            documented::of(p).authorize.replace("{ver}", "v24.0")
        );
        self.authorize_at(p, &path, scope, extra)
    }

    fn token_path(p: Provider) -> String {
        format!(
            "/{}{}",
            p.id(),
            documented::of(p).token.replace("{ver}", "v24.0")
        )
    }

    /// A token-endpoint call with the network's documented client authentication.
    fn token_call(&mut self, p: Provider, params: &[(&str, &str)]) -> Answer {
        let path = Self::token_path(p);
        let (client, secret) = (id(p), secret(p));
        match p {
            Provider::Facebook | Provider::Instagram => {
                let mut query = vec![
                    ("client_id", client.as_str()),
                    ("client_secret", secret.as_str()),
                ];
                query.extend_from_slice(params);
                self.call(Method::GET, &path, &query, &[], Auth::None)
            }
            Provider::X | Provider::Pinterest => {
                let pair = basic_of(p);
                self.call(Method::POST, &path, &[], params, Auth::Basic(&pair))
            }
            Provider::Tiktok => {
                let mut form = vec![
                    ("client_key", client.as_str()),
                    ("client_secret", secret.as_str()),
                ];
                form.extend_from_slice(params);
                self.call(Method::POST, &path, &[], &form, Auth::None)
            }
            _ => {
                let mut form = vec![
                    ("client_id", client.as_str()),
                    ("client_secret", secret.as_str()),
                ];
                form.extend_from_slice(params);
                self.call(Method::POST, &path, &[], &form, Auth::None)
            }
        }
    }

    fn exchange(&mut self, p: Provider, code: &str, extra: &[(&str, &str)]) -> Answer {
        let mut params = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ];
        if documented::of(p).pkce.used() {
            params.push(("code_verifier", VERIFIER));
        }
        params.extend_from_slice(extra);
        let answer = self.token_call(p, &params);
        assert_eq!(answer.status, 200, "{p}: {}", answer.body);
        answer
    }

    fn connect(&mut self, p: Provider, scope: &str, extra: &[(&str, &str)]) -> Answer {
        let code = self.authorize(p, scope, &[]);
        self.exchange(p, &code, extra)
    }

    fn refresh(&mut self, p: Provider, refresh_token: &str, extra: &[(&str, &str)]) -> Answer {
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        params.extend_from_slice(extra);
        self.token_call(p, &params)
    }

    fn graph(&mut self, p: Provider, tail: &str) -> String {
        format!("/{}/v24.0/{tail}", p.id())
    }

    fn debug_token(&mut self, p: Provider, token: &str) -> Answer {
        let app = format!("{}|{}", id(p), secret(p));
        let path = self.graph(p, "debug_token");
        self.get(&path, &[("input_token", token), ("access_token", &app)])
    }

    fn page_tokens(&mut self, p: Provider, user_token: &str) -> Vec<(String, String)> {
        let path = self.graph(p, "me/accounts");
        let answer = self.get(&path, &[("access_token", user_token)]);
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|page| {
                (
                    page["id"].as_str().unwrap().to_owned(),
                    page["access_token"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn net(&mut self, p: Provider) -> &mut Net {
        self.world.net(p)
    }

    fn expire(&mut self, p: Provider, access_token: &str) {
        let record = self.net(p).access.get_mut(access_token).expect("a token");
        record.expires_at = Some(1);
    }
}

const FB_SCOPES: &str = "pages_show_list,pages_manage_posts,business_management";

// ----- Graph versions -----

#[test]
fn meta_routes_answer_at_every_served_graph_version() {
    let mut rig = Rig::new();
    for version in GRAPH_VERSIONS {
        for p in [Provider::Facebook, Provider::Instagram] {
            let code = rig.authorize_at(
                p,
                &format!("/{}/{version}/dialog/oauth", p.id()),
                FB_SCOPES,
                &[],
            );
            let query = [
                ("client_id", id(p)),
                ("client_secret", secret(p)),
                ("code", code),
                ("redirect_uri", REDIRECT.to_owned()),
                ("code_verifier", VERIFIER.to_owned()),
            ];
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let path = format!("/{}/{version}/oauth/access_token", p.id());
            let token = rig.get(&path, &query);
            assert_eq!(token.status, 200, "{version}: {}", token.body);
            let access = token.str("/access_token");
            let me = rig.get(
                &format!("/{}/{version}/me", p.id()),
                &[("access_token", &access)],
            );
            assert_eq!(me.status, 200, "{version}");
            let app = format!("{}|{}", id(p), secret(p));
            let debug = rig.get(
                &format!("/{}/{version}/debug_token", p.id()),
                &[("input_token", &access), ("access_token", &app)],
            );
            assert_eq!(debug.at("/data/is_valid"), &json!(true), "{version}");
            let accounts = rig.get(
                &format!("/{}/{version}/me/accounts", p.id()),
                &[("access_token", &access)],
            );
            assert_eq!(accounts.status, 200, "{version}");
        }
    }
}

#[test]
fn an_unserved_graph_version_answers_unknown_path_components_and_takes_no_fault() {
    let mut rig = Rig::new();
    let answer = rig.connect(Provider::Facebook, FB_SCOPES, &[]);
    let access = answer.str("/access_token");
    rig.world.add_fault(
        Provider::Facebook,
        FaultRule {
            kind: EndpointKind::Profile,
            fault: Fault::RateLimited,
            times: Some(1),
        },
    );
    for version in ["v20.0", "v19.0", "v28.0"] {
        let me = rig.get(
            &format!("/facebook/{version}/me"),
            &[("access_token", &access)],
        );
        assert_eq!(me.status, 400, "{version}");
        assert_eq!(me.at("/error/code"), &json!(2500));
        assert_eq!(me.str("/error/type"), "OAuthException");
        assert_eq!(
            me.str("/error/message"),
            format!("Unknown path components: /{version}/me")
        );
    }
    let served = rig.get("/facebook/v27.0/me", &[("access_token", &access)]);
    assert_eq!(
        served.status, 429,
        "the fault is still there for a served path"
    );
}

// ----- Meta revocation -----

#[test]
fn a_page_token_is_refused_at_delete_permissions_and_changes_nothing() {
    let mut rig = Rig::new();
    let user = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    let (_, page) = rig.page_tokens(Provider::Facebook, &user)[0].clone();
    let person = FakeUser::default_for(Provider::Facebook).external_id;

    for path in [
        rig.graph(Provider::Facebook, &format!("{person}/permissions")),
        rig.graph(Provider::Facebook, "me/permissions"),
    ] {
        let refused = rig.call(Method::DELETE, &path, &[], &[], Auth::Bearer(&page));
        assert_eq!(refused.status, 400, "{path}");
        assert_eq!(refused.at("/error/code"), &json!(100), "{}", refused.body);
    }

    assert_eq!(
        rig.debug_token(Provider::Facebook, &page)
            .at("/data/is_valid"),
        &json!(true)
    );
    assert_eq!(
        rig.debug_token(Provider::Facebook, &user)
            .at("/data/is_valid"),
        &json!(true)
    );
}

#[test]
fn the_app_token_at_delete_user_permissions_removes_the_app_for_that_person() {
    let mut rig = Rig::new();
    let first = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    let second = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    let (_, page) = rig.page_tokens(Provider::Facebook, &first)[0].clone();
    let person = FakeUser::default_for(Provider::Facebook).external_id;
    let app = format!("{}|{}", id(Provider::Facebook), secret(Provider::Facebook));

    let stranger = rig.graph(Provider::Facebook, "someone-else/permissions");
    let unknown = rig.call(
        Method::DELETE,
        &stranger,
        &[("access_token", &app)],
        &[],
        Auth::None,
    );
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.at("/error/code"), &json!(100));

    let path = rig.graph(Provider::Facebook, &format!("{person}/permissions"));
    let removed = rig.call(
        Method::DELETE,
        &path,
        &[("access_token", &app)],
        &[],
        Auth::None,
    );
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(removed.body, json!({ "success": true }));

    for token in [&first, &second, &page] {
        let debug = rig.debug_token(Provider::Facebook, token);
        assert_eq!(debug.at("/data/is_valid"), &json!(false));
        assert_eq!(debug.at("/data/error/code"), &json!(190));
        assert_eq!(debug.at("/data/error/subcode"), &json!(458));
    }
}

#[test]
fn a_user_token_removes_the_app_at_its_own_node_and_at_me() {
    for tail in ["{person}/permissions", "me/permissions"] {
        let mut rig = Rig::new();
        let user = rig
            .connect(Provider::Instagram, FB_SCOPES, &[])
            .str("/access_token");
        let (_, page) = rig.page_tokens(Provider::Instagram, &user)[0].clone();
        let person = FakeUser::default_for(Provider::Instagram).external_id;
        let path = rig.graph(Provider::Instagram, &tail.replace("{person}", &person));
        let answer = rig.call(Method::DELETE, &path, &[], &[], Auth::Bearer(&user));
        assert_eq!(answer.status, 200, "{tail}: {}", answer.body);
        let debug = rig.debug_token(Provider::Instagram, &page);
        assert_eq!(debug.at("/data/error/subcode"), &json!(458), "{tail}");
    }
}

#[test]
fn a_user_token_cannot_remove_the_app_for_someone_else() {
    let mut rig = Rig::new();
    let user = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    let path = rig.graph(Provider::Facebook, "someone-else/permissions");
    let answer = rig.call(Method::DELETE, &path, &[], &[], Auth::Bearer(&user));
    assert_eq!(answer.status, 400);
    assert_eq!(
        rig.debug_token(Provider::Facebook, &user)
            .at("/data/is_valid"),
        &json!(true)
    );
}

// ----- debug_token -----

#[test]
fn debug_token_names_the_person_the_type_and_data_access_expiry() {
    let mut rig = Rig::new();
    let before = now();
    let user = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    let (page_id, page) = rig.page_tokens(Provider::Facebook, &user)[0].clone();
    let person = FakeUser::default_for(Provider::Facebook).external_id;

    let debug = rig.debug_token(Provider::Facebook, &user);
    assert_eq!(debug.str("/data/user_id"), person);
    assert_eq!(debug.str("/data/type"), "USER");
    let data_access = debug.at("/data/data_access_expires_at").as_u64().unwrap();
    assert!((before + 90 * 86_400..=now() + 90 * 86_400).contains(&data_access));
    assert!(debug.at("/data/expires_at").as_u64().unwrap() > now());
    assert_eq!(
        debug.at("/data/scopes"),
        &json!([
            "pages_show_list",
            "pages_manage_posts",
            "business_management"
        ])
    );
    let granular = debug
        .at("/data/granular_scopes")
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(granular[0]["scope"], json!("pages_show_list"));
    assert_eq!(
        granular[0]["target_ids"],
        json!(["100000000000001", "100000000000002"])
    );
    assert_eq!(granular[2], json!({ "scope": "business_management" }));

    let page_debug = rig.debug_token(Provider::Facebook, &page);
    assert_eq!(page_debug.str("/data/type"), "PAGE");
    assert_eq!(page_debug.str("/data/user_id"), person);
    assert_eq!(page_debug.str("/data/profile_id"), page_id);
    assert_eq!(page_debug.at("/data/expires_at"), &json!(0));

    rig.patch(
        Provider::Facebook,
        SettingsPatch {
            data_access_expires_at: Some(1_900_000_000),
            ..SettingsPatch::default()
        },
    );
    let set = rig.debug_token(Provider::Facebook, &user);
    assert_eq!(
        set.at("/data/data_access_expires_at"),
        &json!(1_900_000_000)
    );
    rig.patch(
        Provider::Facebook,
        SettingsPatch {
            data_access_expires_at: Some(0),
            ..SettingsPatch::default()
        },
    );
    let back = rig.debug_token(Provider::Facebook, &user);
    assert_eq!(back.at("/data/data_access_expires_at"), &json!(data_access));
}

// ----- declined permissions -----

#[test]
fn declined_scopes_are_left_out_of_the_grant() {
    let mut rig = Rig::new();
    for p in Provider::ALL {
        rig.patch(
            p,
            SettingsPatch {
                decline: Some(vec!["pages_manage_posts".into(), "tweet.write".into()]),
                ..SettingsPatch::default()
            },
        );
    }
    let fb = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    assert_eq!(
        rig.debug_token(Provider::Facebook, &fb).at("/data/scopes"),
        &json!(["pages_show_list", "business_management"])
    );

    let x = rig.connect(Provider::X, "tweet.read tweet.write offline.access", &[]);
    assert_eq!(x.str("/scope"), "tweet.read offline.access");
    let refreshed = rig.refresh(Provider::X, &x.str("/refresh_token"), &[]);
    assert_eq!(refreshed.str("/scope"), "tweet.read offline.access");

    rig.patch(
        Provider::InstagramLogin,
        SettingsPatch {
            decline: Some(vec!["instagram_business_content_publish".into()]),
            ..SettingsPatch::default()
        },
    );
    let ig = rig.connect(
        Provider::InstagramLogin,
        "instagram_business_basic,instagram_business_content_publish",
        &[],
    );
    assert_eq!(ig.str("/data/0/permissions"), "instagram_business_basic");

    // LinkedIn's consent is all or nothing.
    rig.patch(
        Provider::Linkedin,
        SettingsPatch {
            decline: Some(vec!["w_member_social".into()]),
            ..SettingsPatch::default()
        },
    );
    let li = rig.connect(Provider::Linkedin, "openid w_member_social", &[]);
    assert_eq!(li.str("/scope"), "openid,w_member_social");

    // An empty list ticks everything again.
    rig.patch(
        Provider::X,
        SettingsPatch {
            decline: Some(Vec::new()),
            ..SettingsPatch::default()
        },
    );
    let all = rig.connect(Provider::X, "tweet.read tweet.write", &[]);
    assert_eq!(all.str("/scope"), "tweet.read tweet.write");
}

// ----- lost Page role -----

#[test]
fn a_removed_page_leaves_accounts_and_its_token_fails_as_admin_lost() {
    let mut rig = Rig::new();
    let user = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    let pages = rig.page_tokens(Provider::Facebook, &user);
    let (lost_id, lost) = pages[0].clone();
    let (kept_id, kept) = pages[1].clone();

    assert!(rig.world.remove_page(Provider::Facebook, &lost_id));
    assert!(!rig.world.remove_page(Provider::Facebook, &lost_id), "gone");

    let now_pages = rig.page_tokens(Provider::Facebook, &user);
    assert_eq!(now_pages, vec![(kept_id, kept.clone())]);

    let debug = rig.debug_token(Provider::Facebook, &lost);
    assert_eq!(debug.at("/data/is_valid"), &json!(false));
    assert_eq!(
        debug.at("/data/error"),
        &json!({ "code": 190, "message": "The user must be an administrator of the page in order to impersonate it." })
    );
    let path = rig.graph(Provider::Facebook, "me");
    let me = rig.get(&path, &[("access_token", &lost)]);
    assert_eq!(me.status, 400);
    assert_eq!(me.at("/error/code"), &json!(190));
    assert_eq!(me.at("/error/error_subcode"), &Value::Null);
    assert_eq!(
        me.str("/error/message"),
        "The user must be an administrator of the page in order to impersonate it."
    );

    assert_eq!(
        rig.debug_token(Provider::Facebook, &kept)
            .at("/data/is_valid"),
        &json!(true)
    );
    assert_eq!(
        rig.debug_token(Provider::Facebook, &user)
            .at("/data/is_valid"),
        &json!(true),
        "the user token still works"
    );
}

#[test]
fn the_admin_lost_fault_and_meta_subcode_493() {
    let mut rig = Rig::new();
    let user = rig
        .connect(Provider::Facebook, FB_SCOPES, &[])
        .str("/access_token");
    for (kind, fault) in [
        (EndpointKind::Introspect, Fault::AdminLost),
        (EndpointKind::Profile, Fault::AdminLost),
        (EndpointKind::Profile, Fault::Meta190 { subcode: Some(493) }),
    ] {
        rig.world.add_fault(
            Provider::Facebook,
            FaultRule {
                kind,
                fault,
                times: Some(1),
            },
        );
    }
    let debug = rig.debug_token(Provider::Facebook, &user);
    assert_eq!(debug.at("/data/is_valid"), &json!(false));
    assert_eq!(debug.at("/data/error/code"), &json!(190));
    assert_eq!(debug.at("/data/error/subcode"), &Value::Null);
    let path = rig.graph(Provider::Facebook, "me");
    let me = rig.get(&path, &[("access_token", &user)]);
    assert_eq!(me.status, 400);
    assert_eq!(me.str("/error/message"), dialect::ADMIN_LOST);
    let engaged = rig.get(&path, &[("access_token", &user)]);
    assert_eq!(engaged.at("/error/error_subcode"), &json!(493));
    assert!(
        engaged.str("/error/message").contains("90 days"),
        "{}",
        engaged.body
    );
}

// ----- the request log -----

#[test]
fn authorize_auth_type_and_other_parameters_are_in_the_log() {
    let mut rig = Rig::new();
    rig.authorize(
        Provider::Facebook,
        FB_SCOPES,
        &[("auth_type", "reauthorize"), ("display", "page")],
    );
    let log = rig.world.log();
    let entry = log.last().unwrap();
    assert_eq!(entry.kind, Some(EndpointKind::Authorize));
    assert_eq!(entry.auth_type.as_deref(), Some("reauthorize"));
    assert_eq!(
        entry.params.get("display").map(String::as_str),
        Some("page")
    );
    assert_eq!(
        entry.params.get("scope").map(String::as_str),
        Some(FB_SCOPES)
    );

    rig.connect(Provider::Google, "openid", &[]);
    let log = rig.world.log();
    let exchange = log.last().unwrap();
    assert_eq!(exchange.kind, Some(EndpointKind::Token));
    assert!(!exchange.params.contains_key("client_secret"));
    assert_eq!(
        exchange.params.get("client_id").map(String::as_str),
        Some(id(Provider::Google).as_str())
    );
}

// ----- Pinterest continuous refresh -----

#[test]
fn pinterest_legacy_grant_keeps_its_refresh_token() {
    let mut rig = Rig::new();
    let grant = rig.connect(Provider::Pinterest, "pins:read", &[]);
    assert_eq!(grant.at("/expires_in"), &json!(2_592_000));
    assert_eq!(grant.at("/refresh_token_expires_in"), &json!(31_536_000));
    let refresh = grant.str("/refresh_token");
    for _ in 0..2 {
        let refreshed = rig.refresh(Provider::Pinterest, &refresh, &[]);
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
        assert_eq!(refreshed.at("/refresh_token"), &Value::Null);
        assert_eq!(refreshed.at("/expires_in"), &json!(2_592_000));
    }
}

#[test]
fn pinterest_continuous_refresh_rotates_and_retires_the_old_token() {
    let mut rig = Rig::new();
    let grant = rig.connect(
        Provider::Pinterest,
        "pins:read",
        &[("continuous_refresh", "true")],
    );
    let log = rig.world.log();
    assert_eq!(
        log.last().unwrap().continuous_refresh.as_deref(),
        Some("true")
    );
    assert_eq!(grant.at("/refresh_token_expires_in"), &json!(5_184_000));
    let first = grant.str("/refresh_token");

    let refreshed = rig.refresh(Provider::Pinterest, &first, &[("scope", "pins:read")]);
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let second = refreshed.str("/refresh_token");
    assert!(!second.is_empty() && second != first);
    assert_eq!(refreshed.at("/refresh_token_expires_in"), &json!(5_184_000));
    assert_eq!(refreshed.at("/expires_in"), &json!(2_592_000));
    let at = refreshed.at("/refresh_token_expires_at").as_u64().unwrap();
    assert!((now() + 5_184_000 - 5..=now() + 5_184_000).contains(&at));

    let third = rig.refresh(Provider::Pinterest, &second, &[]);
    assert_eq!(third.status, 200);
    let replay = rig.refresh(Provider::Pinterest, &first, &[]);
    assert_eq!(replay.status, 401, "{}", replay.body);
    assert_eq!(replay.at("/code"), &json!(283));
}

#[test]
fn pinterest_new_apps_and_refresh_on_are_continuous_too() {
    let mut rig = Rig::new();
    rig.patch(
        Provider::Pinterest,
        SettingsPatch {
            legacy_app: Some(false),
            ..SettingsPatch::default()
        },
    );
    let grant = rig.connect(Provider::Pinterest, "pins:read", &[]);
    assert_eq!(grant.at("/refresh_token_expires_in"), &json!(5_184_000));
    let refreshed = rig.refresh(Provider::Pinterest, &grant.str("/refresh_token"), &[]);
    assert!(refreshed.at("/refresh_token").is_string());

    let mut rig = Rig::new();
    let legacy = rig.connect(Provider::Pinterest, "pins:read", &[]);
    let old = legacy.str("/refresh_token");
    let converted = rig.refresh(Provider::Pinterest, &old, &[("refresh_on", "true")]);
    assert_eq!(converted.at("/refresh_token_expires_in"), &json!(5_184_000));
    let new = converted.str("/refresh_token");
    assert!(!new.is_empty() && new != old);
    assert_eq!(rig.refresh(Provider::Pinterest, &new, &[]).status, 200);
}

// ----- TikTok -----

#[test]
fn tiktok_answers_two_hour_access_and_180_day_rotating_refresh() {
    let mut rig = Rig::new();
    let grant = rig.connect(Provider::Tiktok, "user.info.basic,video.publish", &[]);
    assert_eq!(grant.at("/expires_in"), &json!(7_200));
    assert_eq!(grant.at("/refresh_expires_in"), &json!(15_552_000));
    assert_eq!(grant.str("/scope"), "user.info.basic,video.publish");
    let first = grant.str("/refresh_token");
    let refreshed = rig.refresh(Provider::Tiktok, &first, &[]);
    assert_eq!(refreshed.at("/expires_in"), &json!(7_200));
    assert_eq!(refreshed.at("/refresh_expires_in"), &json!(15_552_000));
    assert_ne!(refreshed.str("/refresh_token"), first);
}

#[test]
fn tiktok_revokes_a_live_access_token_only() {
    let mut rig = Rig::new();
    let grant = rig.connect(Provider::Tiktok, "user.info.basic", &[]);
    let (access, refresh) = (grant.str("/access_token"), grant.str("/refresh_token"));
    let (client, secret) = (id(Provider::Tiktok), secret(Provider::Tiktok));
    let revoke = |rig: &mut Rig, token: &str| {
        rig.call(
            Method::POST,
            "/tiktok/v2/oauth/revoke/",
            &[],
            &[
                ("client_key", &client),
                ("client_secret", &secret),
                ("token", token),
            ],
            Auth::None,
        )
    };

    let with_refresh = revoke(&mut rig, &refresh);
    assert_eq!(with_refresh.status, 400, "{}", with_refresh.body);
    assert!(with_refresh.at("/error").is_string());
    let profile = rig.call(
        Method::GET,
        "/tiktok/v2/user/info/",
        &[],
        &[],
        Auth::Bearer(&access),
    );
    assert_eq!(profile.status, 200, "a refused revoke changes nothing");

    let ok = revoke(&mut rig, &access);
    assert_eq!((ok.status, ok.body), (200, json!({})));
    let after = rig.refresh(Provider::Tiktok, &refresh, &[]);
    assert_eq!(after.status, 400, "the grant is gone");
    let again = revoke(&mut rig, &access);
    assert_eq!(again.status, 400, "a dead token cannot be revoked");
}

// ----- Google -----

#[test]
fn google_revoke_takes_access_or_refresh_tokens_and_refuses_expired_ones() {
    let mut rig = Rig::new();
    let offline = [("access_type", "offline")];
    let code = rig.authorize(Provider::Google, "openid", &offline);
    let grant = rig.exchange(Provider::Google, &code, &[]);
    let refresh = grant.str("/refresh_token");
    let answer = rig.call(
        Method::POST,
        "/google/revoke",
        &[],
        &[
            ("token", &refresh),
            ("token_type_hint", "refresh_token"),
            ("client_id", &id(Provider::Google)),
            ("client_secret", &secret(Provider::Google)),
        ],
        Auth::None,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(rig.refresh(Provider::Google, &refresh, &[]).status, 400);
    let tokeninfo = rig.get(
        "/google/tokeninfo",
        &[("access_token", &grant.str("/access_token"))],
    );
    assert_eq!(tokeninfo.status, 400, "the chain's access token died too");

    let code = rig.authorize(Provider::Google, "openid", &offline);
    let grant = rig.exchange(Provider::Google, &code, &[]);
    let access = grant.str("/access_token");
    rig.expire(Provider::Google, &access);
    let expired = rig.call(
        Method::POST,
        "/google/revoke",
        &[("token", &access)],
        &[],
        Auth::None,
    );
    assert_eq!(expired.status, 400);
    assert_eq!(
        expired.body,
        json!({ "error": "invalid_token", "error_description": "Token expired or revoked" })
    );
    let refreshed = rig.refresh(Provider::Google, &grant.str("/refresh_token"), &[]);
    assert_eq!(
        refreshed.status, 200,
        "an expired token's revoke kills nothing"
    );

    let unknown = rig.call(
        Method::POST,
        "/google/revoke",
        &[],
        &[("token", "canary-google-access-999")],
        Auth::None,
    );
    assert_eq!(unknown.status, 400);
}

#[test]
fn google_keeps_at_most_100_refresh_tokens_per_person_and_client() {
    let mut rig = Rig::new();
    let offline = [("access_type", "offline")];
    let mut refresh_tokens = Vec::new();
    for _ in 0..101 {
        let code = rig.authorize(Provider::Google, "openid", &offline);
        refresh_tokens.push(
            rig.exchange(Provider::Google, &code, &[])
                .str("/refresh_token"),
        );
    }
    let oldest = rig.refresh(Provider::Google, &refresh_tokens[0], &[]);
    assert_eq!(oldest.status, 400, "the 101st invalidated the oldest");
    assert_eq!(oldest.str("/error"), "invalid_grant");
    for token in &refresh_tokens[1..] {
        assert_eq!(rig.refresh(Provider::Google, token, &[]).status, 200);
    }

    // Another person's tokens do not count.
    let other = FakeUser {
        external_id: "google-user-2".into(),
        ..FakeUser::default_for(Provider::Google)
    };
    rig.world.set_user(Provider::Google, other);
    let code = rig.authorize(Provider::Google, "openid", &offline);
    rig.exchange(Provider::Google, &code, &[]);
    assert_eq!(
        rig.refresh(Provider::Google, &refresh_tokens[1], &[])
            .status,
        200
    );
}

// ----- X -----

#[test]
fn x_accepts_urlencoded_basic_and_extra_standard_parameters() {
    let mut rig = Rig::new();
    rig.patch(
        Provider::X,
        SettingsPatch {
            client_id: Some("x id:1".into()),
            client_secret: Some("s/e+c=r%t".into()),
            ..SettingsPatch::default()
        },
    );
    let code = {
        let challenge = s256_challenge(VERIFIER);
        let answer = rig.get(
            "/x/i/oauth2/authorize",
            &[
                ("client_id", "x id:1"),
                ("redirect_uri", REDIRECT),
                ("state", "st"),
                ("response_type", "code"),
                ("scope", "tweet.read offline.access"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        );
        let location = url::Url::parse(&answer.location.unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let encoded = format!("{}:{}", urlencoded("x id:1"), urlencoded("s/e+c=r%t"));
    assert_eq!(encoded, "x+id%3A1:s%2Fe%2Bc%3Dr%25t");
    let grant = rig.call(
        Method::POST,
        "/x/2/oauth2/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Auth::Basic(&encoded),
    );
    assert_eq!(grant.status, 200, "{}", grant.body);
    let refreshed = rig.call(
        Method::POST,
        "/x/2/oauth2/token",
        &[],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &grant.str("/refresh_token")),
            ("client_id", "x id:1"),
            ("scope", "tweet.read offline.access"),
        ],
        Auth::Basic("x id:1:s/e+c=r%t"),
    );
    // A plain pair whose id holds a colon cannot be split right: only the encoded form
    // carries it.
    assert_eq!(refreshed.status, 401);
    let refreshed = rig.call(
        Method::POST,
        "/x/2/oauth2/token",
        &[],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &grant.str("/refresh_token")),
            ("client_id", "x id:1"),
            ("scope", "tweet.read offline.access"),
        ],
        Auth::Basic(&encoded),
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
}

#[test]
fn x_revoke_kills_a_refresh_tokens_chain_and_ignores_an_expired_access_token() {
    let mut rig = Rig::new();
    let pair = basic_of(Provider::X);
    let grant = rig.connect(Provider::X, "tweet.read offline.access", &[]);
    let (access, refresh) = (grant.str("/access_token"), grant.str("/refresh_token"));

    rig.expire(Provider::X, &access);
    let expired = rig.call(
        Method::POST,
        "/x/2/oauth2/revoke",
        &[],
        &[("token", &access), ("token_type_hint", "access_token")],
        Auth::Basic(&pair),
    );
    assert_eq!(
        (expired.status, expired.body),
        (200, json!({ "revoked": true }))
    );
    let refreshed = rig.refresh(Provider::X, &refresh, &[]);
    assert_eq!(refreshed.status, 200, "nothing was killed");
    let refresh = refreshed.str("/refresh_token");
    let access = refreshed.str("/access_token");

    let unauthenticated = rig.call(
        Method::POST,
        "/x/2/oauth2/revoke",
        &[],
        &[("token", &refresh), ("client_id", &id(Provider::X))],
        Auth::None,
    );
    assert_eq!(unauthenticated.status, 401);

    let revoked = rig.call(
        Method::POST,
        "/x/2/oauth2/revoke",
        &[],
        &[("token", &refresh), ("token_type_hint", "refresh_token")],
        Auth::Basic(&pair),
    );
    assert_eq!(revoked.status, 200);
    assert_eq!(rig.refresh(Provider::X, &refresh, &[]).status, 400);
    let me = rig.call(
        Method::GET,
        "/x/2/users/me",
        &[],
        &[],
        Auth::Bearer(&access),
    );
    assert_eq!(me.status, 401, "the chain's access token died with it");
}

// ----- LinkedIn -----

#[test]
fn linkedin_revoke_takes_the_form_with_a_type_hint() {
    let mut rig = Rig::new();
    let grant = rig.connect(Provider::Linkedin, "openid profile", &[]);
    let access = grant.str("/access_token");
    let answer = rig.call(
        Method::POST,
        "/linkedin/oauth/v2/revoke",
        &[],
        &[
            ("client_id", &id(Provider::Linkedin)),
            ("client_secret", &secret(Provider::Linkedin)),
            ("token", &access),
            ("token_type_hint", "access_token"),
        ],
        Auth::None,
    );
    assert_eq!(answer.status, 200);
    let introspect = rig.call(
        Method::POST,
        "/linkedin/oauth/v2/introspectToken",
        &[],
        &[
            ("client_id", &id(Provider::Linkedin)),
            ("client_secret", &secret(Provider::Linkedin)),
            ("token", &access),
        ],
        Auth::None,
    );
    assert_eq!(introspect.body["active"], json!(false));
    assert_eq!(introspect.body["status"], json!("revoked"));
}

// ----- PKCE -----

#[test]
fn plain_pkce_where_documented_and_s256_only_elsewhere() {
    let mut rig = Rig::new();
    let plain = [
        ("client_id", default_client_id(Provider::X)),
        ("redirect_uri", REDIRECT.to_owned()),
        ("state", "st".to_owned()),
        ("response_type", "code".to_owned()),
        ("scope", "tweet.read".to_owned()),
        ("code_challenge", VERIFIER.to_owned()),
        ("code_challenge_method", "plain".to_owned()),
    ];
    let query: Vec<(&str, &str)> = plain.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = rig.get("/x/i/oauth2/authorize", &query);
    let location = url::Url::parse(&answer.location.unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .expect("a code")
        .1
        .into_owned();
    let pair = basic_of(Provider::X);
    let wrong = rig.call(
        Method::POST,
        "/x/2/oauth2/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "not-the-verifier"),
        ],
        Auth::Basic(&pair),
    );
    assert_eq!(wrong.status, 400);
    let right = rig.call(
        Method::POST,
        "/x/2/oauth2/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Auth::Basic(&pair),
    );
    assert_eq!(right.status, 200, "{}", right.body);

    let facebook = [
        ("client_id", default_client_id(Provider::Facebook)),
        ("redirect_uri", REDIRECT.to_owned()),
        ("state", "st".to_owned()),
        ("response_type", "code".to_owned()),
        ("scope", FB_SCOPES.to_owned()),
        ("code_challenge", VERIFIER.to_owned()),
        ("code_challenge_method", "plain".to_owned()),
    ];
    let query: Vec<(&str, &str)> = facebook.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let answer = rig.get("/facebook/v24.0/dialog/oauth", &query);
    let location = answer.location.expect("an error redirect");
    assert!(location.contains("error=invalid_request"), "{location}");
}

// ----- client authentication follows the fakes' table -----

#[test]
fn each_network_refuses_a_client_authentication_it_does_not_document() {
    let mut rig = Rig::new();
    // Pinterest documents HTTP Basic: the same credentials in the form are refused.
    let code = rig.authorize(Provider::Pinterest, "pins:read", &[]);
    let (client, secret_) = (id(Provider::Pinterest), secret(Provider::Pinterest));
    let form = rig.call(
        Method::POST,
        "/pinterest/v5/oauth/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client),
            ("client_secret", &secret_),
        ],
        Auth::None,
    );
    assert_eq!(form.status, 401, "{}", form.body);
    // Google takes the form and (as its discovery document lists) Basic.
    let code = rig.authorize(Provider::Google, "openid", &[]);
    let pair = basic_of(Provider::Google);
    let basic = rig.call(
        Method::POST,
        "/google/token",
        &[],
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
        Auth::Basic(&pair),
    );
    assert_eq!(basic.status, 200, "{}", basic.body);
}
