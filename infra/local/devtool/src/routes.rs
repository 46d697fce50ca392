//! The HTTP API as `infra/template.yaml` deploys it: its routes (method, path template, the
//! function behind it, JWT-authorized or public) and its CORS settings. Read from the
//! template itself, so the local gateway cannot route differently from the deployed API.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use serde_norway::Value as Yaml;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    /// `/accounts/{id}`.
    pub path: String,
    /// The cargo-lambda function (binary) name.
    pub function: String,
    /// Public (`security: [{NONE: []}]`): no JWT authorizer.
    pub public: bool,
}

impl Route {
    /// `GET /accounts/{id}`: the route key of payload 2.0 events.
    pub fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// The HTTP API's CORS configuration (`x-amazon-apigateway-cors`; the origins come from
/// the FrontendOrigins parameter).
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub max_age: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Api {
    pub routes: Vec<Route>,
    pub cors: Cors,
}

/// A tagged value (`!Sub x`) as its inner value, for reading strings through tags.
fn untag(value: &Yaml) -> &Yaml {
    match value {
        Yaml::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

fn strings(value: Option<&Yaml>) -> Vec<String> {
    match value.map(untag) {
        Some(Yaml::Sequence(items)) => items
            .iter()
            .filter_map(|i| untag(i).as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub fn load(template: &Path) -> anyhow::Result<Api> {
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("reading {}", template.display()))?;
    parse(&text).with_context(|| format!("reading the HTTP API of {}", template.display()))
}

pub fn parse(text: &str) -> anyhow::Result<Api> {
    let doc: Yaml = serde_norway::from_str(text)?;
    let resources = doc
        .get("Resources")
        .and_then(Yaml::as_mapping)
        .ok_or_else(|| anyhow!("no Resources"))?;
    let mut apis = resources
        .values()
        .filter(|r| r.get("Type").and_then(Yaml::as_str) == Some("AWS::Serverless::HttpApi"));
    let api = apis
        .next()
        .ok_or_else(|| anyhow!("no AWS::Serverless::HttpApi"))?;
    if apis.next().is_some() {
        bail!("more than one HTTP API");
    }
    let properties = api
        .get("Properties")
        .ok_or_else(|| anyhow!("no Properties"))?;
    let paths = properties
        .get("DefinitionBody")
        .and_then(|b| b.get("paths"))
        .and_then(Yaml::as_mapping)
        .ok_or_else(|| anyhow!("no DefinitionBody.paths"))?;

    let mut routes = Vec::new();
    for (path, item) in paths {
        let path = path
            .as_str()
            .ok_or_else(|| anyhow!("a path is not a string"))?;
        let item = item
            .as_mapping()
            .ok_or_else(|| anyhow!("{path}: not a mapping"))?;
        for (method, op) in item {
            let method = method.as_str().unwrap_or_default().to_uppercase();
            let uri = op
                .get("x-amazon-apigateway-integration")
                .and_then(|i| i.get("uri"))
                .map(untag)
                .and_then(Yaml::as_str)
                .ok_or_else(|| anyhow!("{method} {path}: no integration uri"))?;
            let function = uri
                .split_once(":function:${AWS::StackName}-")
                .and_then(|(_, rest)| rest.strip_suffix("/invocations"))
                .ok_or_else(|| anyhow!("{method} {path}: no function name in {uri}"))?;
            let public = match op.get("security").and_then(Yaml::as_sequence) {
                None => false,
                Some(list) => list.iter().any(|req| req.get("NONE").is_some()),
            };
            routes.push(Route {
                method,
                path: path.to_owned(),
                function: function.to_owned(),
                public,
            });
        }
    }
    let cors = properties
        .get("DefinitionBody")
        .and_then(|b| b.get("x-amazon-apigateway-cors"))
        .map(|c| Cors {
            allow_methods: strings(c.get("allowMethods")),
            allow_headers: strings(c.get("allowHeaders")),
            max_age: c.get("maxAge").map(untag).and_then(Yaml::as_u64),
        })
        .unwrap_or_default();
    Ok(Api { routes, cors })
}

/// A matched route and its path parameters.
#[derive(Debug, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub params: Vec<(String, String)>,
}

/// What a request path is, as API Gateway would see it.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Route(Matched<'a>),
    /// Some route has this path, none this method.
    WrongMethod,
    NoRoute,
}

impl Api {
    /// The route for `method` and `path` (already percent-decoded segments are not
    /// assumed: parameters are decoded here). Literal segments win over parameters.
    pub fn find(&self, method: &str, path: &str) -> Lookup<'_> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<(usize, Matched<'_>)> = None;
        let mut path_known = false;
        for route in &self.routes {
            let template: Vec<&str> = route.path.trim_start_matches('/').split('/').collect();
            if template.len() != segments.len() {
                continue;
            }
            let mut literals = 0;
            let mut params = Vec::new();
            let fits = template.iter().zip(&segments).all(|(t, s)| {
                match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) => {
                        params.push((name.to_owned(), percent_decode(s)));
                        !s.is_empty()
                    }
                    None => {
                        literals += 1;
                        t == s
                    }
                }
            });
            if !fits {
                continue;
            }
            path_known = true;
            if route.method != method {
                continue;
            }
            if best.as_ref().is_none_or(|(l, _)| literals > *l) {
                best = Some((literals, Matched { route, params }));
            }
        }
        match best {
            Some((_, matched)) => Lookup::Route(matched),
            None if path_known => Lookup::WrongMethod,
            None => Lookup::NoRoute,
        }
    }
}

/// `%XX` decoded (a path segment; `+` stays `+`). Invalid escapes are kept as they are.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api() -> Api {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        load(&path).expect("infra/template.yaml")
    }

    #[test]
    fn the_template_routes_every_path_to_its_function_and_only_the_callback_and_mail_links_are_public(
    ) {
        let api = api();
        let public: Vec<String> = api
            .routes
            .iter()
            .filter(|r| r.public)
            .map(Route::key)
            .collect();
        assert_eq!(
            public,
            [
                "GET /oauth/{provider}/callback",
                "GET /mail/confirm",
                "POST /mail/confirm",
                "GET /mail/unsubscribe",
                "POST /mail/unsubscribe"
            ]
        );
        let Lookup::Route(m) = api.find("POST", "/mail/unsubscribe") else {
            panic!("the unsubscribe link is routed")
        };
        assert_eq!(
            (m.route.function.as_str(), m.route.public),
            ("mail-links", true)
        );
        let Lookup::Route(m) = api.find("DELETE", "/notification-preferences/recipients/r1") else {
            panic!("a recipient's removal is routed")
        };
        assert_eq!(
            (m.route.function.as_str(), m.route.public),
            ("notification-prefs", false)
        );
        let Lookup::Route(m) = api.find("DELETE", "/accounts/acc-1") else {
            panic!("DELETE /accounts/acc-1 is routed")
        };
        assert_eq!(m.route.function, "accounts");
        assert_eq!(m.params, [("id".to_owned(), "acc-1".to_owned())]);
        let Lookup::Route(m) = api.find("POST", "/accounts/acc-1/reconnect") else {
            panic!("reconnect is routed")
        };
        assert_eq!(m.route.function, "oauth-start");
        let Lookup::Route(m) = api.find("GET", "/oauth/instagram_login/callback") else {
            panic!("the callback is routed")
        };
        assert_eq!(
            (m.route.function.as_str(), m.route.public),
            ("oauth-callback", true)
        );
        assert_eq!(api.find("PATCH", "/accounts"), Lookup::WrongMethod);
        assert_eq!(api.find("GET", "/nothing/here"), Lookup::NoRoute);
        assert!(api.cors.allow_headers.contains(&"authorization".to_owned()));
        assert!(api.cors.allow_methods.contains(&"DELETE".to_owned()));
        assert_eq!(api.cors.max_age, Some(600));
    }
}
