//! A provider call as the fakes read it: query, form body, Basic and Bearer credentials.

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
    pub id: Option<String>,
    pub secret: Option<String>,
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
                id: Some(id.clone()),
                secret: Some(secret.clone()),
            };
        }
        if self.form_param("client_key").is_some() {
            return ClientSeen {
                how: ClientAuthSeen::ClientKey,
                id: own(self.form_param("client_key")),
                secret: own(self.form_param("client_secret")),
            };
        }
        if self.form_param("client_secret").is_some() && self.form_param("client_id").is_some() {
            return ClientSeen {
                how: ClientAuthSeen::Form,
                id: own(self.form_param("client_id")),
                secret: own(self.form_param("client_secret")),
            };
        }
        if self.query_param("client_secret").is_some() {
            return ClientSeen {
                how: ClientAuthSeen::Query,
                id: own(self.query_param("client_id")),
                secret: own(self.query_param("client_secret")),
            };
        }
        if let Some(app) = self.query_param("access_token").filter(|t| t.contains('|')) {
            let (id, secret) = app.split_once('|').unwrap_or_default();
            return ClientSeen {
                how: ClientAuthSeen::AppToken,
                id: Some(id.to_owned()),
                secret: Some(secret.to_owned()),
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
}

fn find<'a>(list: &'a [(String, String)], key: &str) -> Option<&'a str> {
    list.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}
