//! A provider call as the fakes read it: query, form body, Basic and Bearer credentials.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap, Method, Uri};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::model::ClientAuthSeen;

#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub form: Vec<(String, String)>,
    pub basic: Option<(String, String)>,
    pub bearer: Option<String>,
    pub host: Option<String>,
}

/// The app credentials a call presented, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientSeen {
    pub how: ClientAuthSeen,
    /// For Basic: form-urlencoding undone (RFC 6749 §2.3.1).
    pub id: Option<String>,
    pub secret: Option<String>,
    /// For Basic: the id and secret as they stood in the header, before decoding.
    pub raw: Option<(String, String)>,
}

impl ClientSeen {
    /// Whether these are the app credentials `id` / `secret`. Inside Basic both the
    /// RFC 6749 form (each part form-urlencoded) and the plain one are accepted.
    pub fn is(&self, id: &str, secret: &str) -> bool {
        let decoded = self.id.as_deref() == Some(id) && self.secret.as_deref() == Some(secret);
        let raw = self
            .raw
            .as_ref()
            .is_some_and(|(i, s)| i == id && s == secret);
        decoded || raw
    }
}

/// Undoes `application/x-www-form-urlencoded` escaping: `+` is a space, `%XX` a byte.
pub(crate) fn form_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

impl Incoming {
    pub fn new(method: Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Self {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let (scheme, value) = authorization.split_once(' ').unwrap_or(("", ""));
        let basic = (scheme.eq_ignore_ascii_case("basic"))
            .then(|| STANDARD.decode(value.trim()).ok())
            .flatten()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
            });
        let bearer = (scheme.eq_ignore_ascii_case("bearer")
            || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| value.trim().to_owned())
        .filter(|v| !v.is_empty());
        Self {
            method,
            path: uri.path().to_owned(),
            query: pairs(uri.query().unwrap_or_default().as_bytes()),
            form: if is_form { pairs(body) } else { Vec::new() },
            basic,
            bearer,
            host: headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    pub fn query_param(&self, key: &str) -> Option<&str> {
        find(&self.query, key)
    }

    pub fn form_param(&self, key: &str) -> Option<&str> {
        find(&self.form, key)
    }

    /// A parameter from the form body, else the query string.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.form_param(key).or_else(|| self.query_param(key))
    }

    /// The user token a Graph-style or Bearer call presented.
    pub fn user_token(&self) -> Option<&str> {
        self.bearer
            .as_deref()
            .or_else(|| self.param("access_token"))
    }

    pub fn client(&self) -> ClientSeen {
        let own = |s: Option<&str>| s.map(str::to_owned);
        if let Some((id, secret)) = &self.basic {
            return ClientSeen {
                how: ClientAuthSeen::Basic,
                id: Some(form_decode(id)),
                secret: Some(form_decode(secret)),
                raw: Some((id.clone(), secret.clone())),
            };
        }
        if self.form_param("client_key").is_some() {
            return ClientSeen {
                how: ClientAuthSeen::ClientKey,
                id: own(self.form_param("client_key")),
                secret: own(self.form_param("client_secret")),
                raw: None,
            };
        }
        if self.form_param("client_secret").is_some() && self.form_param("client_id").is_some() {
            return ClientSeen {
                how: ClientAuthSeen::Form,
                id: own(self.form_param("client_id")),
                secret: own(self.form_param("client_secret")),
                raw: None,
            };
        }
        if self.query_param("client_secret").is_some() {
            return ClientSeen {
                how: ClientAuthSeen::Query,
                id: own(self.query_param("client_id")),
                secret: own(self.query_param("client_secret")),
                raw: None,
            };
        }
        if let Some(app) = self.query_param("access_token").filter(|t| t.contains('|')) {
            let (id, secret) = app.split_once('|').unwrap_or_default();
            return ClientSeen {
                how: ClientAuthSeen::AppToken,
                id: Some(id.to_owned()),
                secret: Some(secret.to_owned()),
                raw: None,
            };
        }
        let id = own(self.param("client_id"));
        let secret = own(self.form_param("client_secret"));
        ClientSeen {
            how: if id.is_some() || secret.is_some() {
                ClientAuthSeen::Partial
            } else {
                ClientAuthSeen::None
            },
            id,
            secret,
            raw: None,
        }
    }

    /// The token this call carries for the log: Bearer, or the documented parameter.
    pub fn presented_token(&self) -> Option<&str> {
        self.bearer.as_deref().or_else(|| {
            ["input_token", "fb_exchange_token", "token", "access_token"]
                .into_iter()
                .filter_map(|k| self.param(k))
                .find(|t| !t.contains('|'))
        })
    }
    /// Every query and form parameter but the client secret (and an app token, which
    /// carries it), for the request log. The form's value wins over the query's.
    pub fn visible_params(&self) -> BTreeMap<String, String> {
        self.query
            .iter()
            .chain(self.form.iter())
            .filter(|(k, v)| k != "client_secret" && !(k == "access_token" && v.contains('|')))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn find<'a>(list: &'a [(String, String)], key: &str) -> Option<&'a str> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_basic(user_pass: &str) -> Incoming {
        let mut headers = HeaderMap::new();
        let value = format!("Basic {}", STANDARD.encode(user_pass));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&value).unwrap(),
        );
        Incoming::new(
            Method::POST,
            &Uri::from_static("/x/2/oauth2/token"),
            &headers,
            &[],
        )
    }

    #[test]
    fn basic_credentials_match_urlencoded_or_plain() {
        let plain = with_basic("my id:s3cr+t/=");
        assert!(plain.client().is("my id", "s3cr+t/="), "as sent");
        let encoded = with_basic("my+id:s3cr%2Bt%2F%3D");
        let seen = encoded.client();
        assert_eq!(seen.how, ClientAuthSeen::Basic);
        assert_eq!(seen.id.as_deref(), Some("my id"));
        assert!(seen.is("my id", "s3cr+t/="), "RFC 6749 form decoded");
        assert!(!seen.is("my id", "other"));
    }

    #[test]
    fn form_decoding() {
        assert_eq!(form_decode("a+b%20c%2Fd"), "a b c/d");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz"), "%zz");
        assert_eq!(form_decode("%e2%82%ac"), "\u{20ac}");
    }

    #[test]
    fn visible_params_leave_out_secrets() {
        let uri = Uri::from_static(
            "/facebook/v24.0/dialog/oauth?auth_type=rerequest&client_id=app&client_secret=s",
        );
        let inc = Incoming::new(Method::GET, &uri, &HeaderMap::new(), &[]);
        let params = inc.visible_params();
        assert_eq!(
            params.get("auth_type").map(String::as_str),
            Some("rerequest")
        );
        assert_eq!(params.get("client_id").map(String::as_str), Some("app"));
        assert!(!params.contains_key("client_secret"));
        let uri = Uri::from_static("/facebook/v24.0/debug_token?input_token=t&access_token=app|s");
        let inc = Incoming::new(Method::GET, &uri, &HeaderMap::new(), &[]);
        assert!(!inc.visible_params().contains_key("access_token"));
    }
}
