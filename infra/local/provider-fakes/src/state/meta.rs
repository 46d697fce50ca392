//! Meta: Facebook Login and Instagram through it (the Graph API: short- and long-lived
//! user tokens, `fb_exchange_token`, Page tokens at `/me/accounts`, `debug_token`,
//! `DELETE /{user-id}/permissions`), Instagram Login and Threads (their own code
//! exchanges, `*_exchange_token` and `*_refresh_token`).

use serde_json::{json, Value};
use tokenwarden::domain::Provider;

use super::{CodeGrant, Form, Net, Reply};
use crate::dialect::{self, Dead, Failure};
use crate::model::{FakePage, FakeUser};
use crate::request::Incoming;
use crate::routes::Route;

const META_SHORT: u64 = 5_400;
const META_LONG: u64 = 5_184_000;
const META_DATA_ACCESS: u64 = 90 * 86_400;
const IG_SHORT: u64 = 3_600;

/// A user id as Meta sends it: a JSON number when it is one.
fn id_value(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

impl Net {
    /// Facebook's and Instagram's code exchange: a short-lived user token.
    pub(super) fn meta_code_exchange(&mut self, chain: usize) -> Value {
        let access = self.issue_access(chain, Form::ShortLived, Some(META_SHORT));
        json!({ "access_token": access, "token_type": "bearer", "expires_in": META_SHORT })
    }

    /// Instagram Login's code exchange: a short-lived token, in the `data` array unless
    /// the flat answer is switched on.
    pub(super) fn instagram_login_code_exchange(
        &mut self,
        chain: usize,
        grant: &CodeGrant,
        scope: &str,
        user_id: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::ShortLived, Some(IG_SHORT));
        if self.settings.flat_token_response {
            json!({ "access_token": access, "user_id": id_value(user_id), "permissions": grant.scopes })
        } else {
            json!({ "data": [{ "access_token": access, "user_id": user_id, "permissions": scope }] })
        }
    }

    /// Threads' code exchange: a short-lived token.
    pub(super) fn threads_code_exchange(&mut self, chain: usize, user_id: &str) -> Value {
        let access = self.issue_access(chain, Form::ShortLived, Some(IG_SHORT));
        json!({ "access_token": access, "user_id": id_value(user_id) })
    }

    /// Meta's `grant_type=fb_exchange_token` at the token URL.
    pub(super) fn fb_exchange(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        if !self.client_ok(inc) {
            return Err(Failure::InvalidClient);
        }
        let token = inc
            .param("fb_exchange_token")
            .ok_or(Failure::InvalidRequest(
                "(#100) Missing parameter fb_exchange_token",
            ))?;
        let record = self.live(Some(token)).map_err(Failure::DeadToken)?;
        if record.form == Form::Page {
            return Err(Failure::InvalidRequest(
                "(#100) A Page token cannot be exchanged",
            ));
        }
        let chain = record.chain;
        let access = self.issue_access(chain, Form::LongLived, Some(META_LONG));
        Ok(Reply::Json(
            200,
            json!({ "access_token": access, "token_type": "bearer", "expires_in": META_LONG }),
        ))
    }

    /// Instagram Login / Threads: `ig_exchange_token` / `th_exchange_token` (exchange),
    /// `ig_refresh_token` / `th_refresh_token` (refresh).
    pub(super) fn graph_exchange(
        &mut self,
        inc: &Incoming,
        refresh: bool,
    ) -> Result<Reply, Failure> {
        let prefix = if self.provider == Provider::Threads {
            "th"
        } else {
            "ig"
        };
        let expected = format!(
            "{prefix}_{}_token",
            if refresh { "refresh" } else { "exchange" }
        );
        if inc.param("grant_type") != Some(expected.as_str()) {
            return Err(Failure::InvalidRequest("Unsupported grant type"));
        }
        if !refresh && inc.param("client_secret") != Some(self.settings.client_secret.as_str()) {
            return Err(Failure::InvalidClient);
        }
        let record = self
            .live(inc.param("access_token"))
            .map_err(Failure::DeadToken)?;
        if refresh && record.form != Form::LongLived {
            return Err(Failure::InvalidRequest(
                "Only long-lived access tokens can be refreshed.",
            ));
        }
        let chain = record.chain;
        let access = self.issue_access(chain, Form::LongLived, Some(META_LONG));
        Ok(Reply::Json(
            200,
            json!({ "access_token": access, "token_type": "bearer", "expires_in": META_LONG }),
        ))
    }

    /// `debug_token`'s `granular_scopes`: the Page scopes name the user's Pages, the
    /// Instagram ones their Instagram business accounts, as `target_ids`.
    fn granular_scopes(&self, scopes: &[String]) -> Value {
        let pages: Vec<&str> = self.user.pages.iter().map(|p| p.id.as_str()).collect();
        let instagram: Vec<&str> = self
            .user
            .pages
            .iter()
            .filter_map(|p| p.instagram_business_account.as_ref())
            .map(|ig| ig.id.as_str())
            .collect();
        let items: Vec<Value> = scopes
            .iter()
            .map(|scope| {
                let targets = if scope.starts_with("pages_") {
                    Some(&pages)
                } else if scope.starts_with("instagram_") {
                    Some(&instagram)
                } else {
                    None
                };
                match targets {
                    Some(ids) => json!({ "scope": scope, "target_ids": ids }),
                    None => json!({ "scope": scope }),
                }
            })
            .collect();
        Value::Array(items)
    }

    pub(super) fn debug_token_invalid(&self, dead: Dead) -> Reply {
        let mut error =
            match dialect::failure(self.provider, Route::Profile, Failure::DeadToken(dead), 0).1 {
                Value::Object(mut o) => o.remove("error").unwrap_or(Value::Null),
                _ => Value::Null,
            };
        // debug_token names it `subcode`, not `error_subcode`.
        if let Some(obj) = error.as_object_mut() {
            if let Some(sub) = obj.remove("error_subcode") {
                obj.insert("subcode".into(), sub);
            }
            obj.remove("type");
            obj.remove("fbtrace_id");
        }
        Reply::Json(
            200,
            json!({ "data": { "app_id": self.settings.client_id, "is_valid": false, "error": error, "scopes": [] } }),
        )
    }

    /// Facebook's and Instagram's `debug_token`, asked with the app token.
    pub(super) fn debug_token(&self, inc: &Incoming) -> Result<Reply, Failure> {
        let app = format!(
            "{}|{}",
            self.settings.client_id, self.settings.client_secret
        );
        if inc.query_param("access_token") != Some(app.as_str()) {
            return Ok(dialect::meta_error(
                400,
                190,
                None,
                "Invalid OAuth access token signature.",
                0,
            )
            .into());
        }
        let input = inc.param("input_token").ok_or(Failure::InvalidRequest(
            "(#100) The parameter input_token is required",
        ))?;
        let record = match self.live(Some(input)) {
            Ok(r) => r.clone(),
            Err(dead) => return Ok(self.debug_token_invalid(dead)),
        };
        let chain = &self.chains[record.chain];
        let data_access = self
            .settings
            .data_access_expires_at
            .unwrap_or(chain.authorized_at + META_DATA_ACCESS);
        let mut data = json!({
            "app_id": self.settings.client_id,
            "type": if record.form == Form::Page { "PAGE" } else { "USER" },
            "application": "tokenwarden (fake)",
            "data_access_expires_at": data_access,
            "expires_at": record.expires_at.unwrap_or(0),
            "is_valid": true,
            "issued_at": record.issued_at,
            "scopes": chain.scopes,
            "granular_scopes": self.granular_scopes(&chain.scopes),
            // The person's id, also for a Page token (`profile_id` names the Page).
            "user_id": chain.user_id,
        });
        if let Some(page) = &record.page_id {
            data["profile_id"] = json!(page);
        }
        Ok(Reply::Json(200, json!({ "data": data })))
    }

    /// Facebook's `/me/accounts`: the user's Pages, paged, each with its Page token.
    pub(super) fn accounts(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        let record = self.live(inc.user_token()).map_err(Failure::DeadToken)?;
        if record.form == Form::Page {
            return Err(Failure::InvalidRequest(
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
            ));
        }
        let chain = record.chain;
        let fields = inc.param("fields").unwrap_or("id,name,access_token");
        let limit: usize = inc
            .param("limit")
            .and_then(|l| l.parse().ok())
            .filter(|l| *l > 0)
            .unwrap_or(25);
        let start: usize = inc
            .param("after")
            .and_then(|a| a.strip_prefix("cursor-"))
            .and_then(|n| n.parse::<usize>().ok())
            .map_or(0, |n| n + 1);
        let pages = self.user.pages.clone();
        let end = (start + limit).min(pages.len());
        let mut data = Vec::new();
        for page in pages.iter().take(end).skip(start) {
            let token = self.page_token(chain, page);
            let mut item = json!({ "id": page.id, "name": page.name, "category": "Local business",
                                   "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MANAGE"] });
            if fields.contains("access_token") {
                item["access_token"] = json!(token);
            }
            if fields.contains("picture") {
                item["picture"] = json!({ "data": { "url": format!("https://fake.invalid/pages/{}.png", page.id) } });
            }
            if fields.contains("instagram_business_account") {
                if let Some(ig) = &page.instagram_business_account {
                    item["instagram_business_account"] = json!({
                        "id": ig.id, "username": ig.username, "profile_picture_url": ig.profile_picture_url,
                    });
                }
            }
            data.push(item);
        }
        let mut body = json!({ "data": data });
        if end > start {
            body["paging"] = json!({ "cursors": {
                "before": format!("cursor-{start}"),
                "after": format!("cursor-{}", end - 1),
            }});
            if end < pages.len() {
                let host = inc.host.as_deref().unwrap_or("127.0.0.1");
                body["paging"]["next"] = json!(format!(
                    "http://{host}{}?limit={limit}&after=cursor-{}",
                    inc.path,
                    end - 1
                ));
            }
        }
        Ok(Reply::Json(200, body))
    }

    /// The chain's Page token for `page`, issued on first ask.
    fn page_token(&mut self, chain: usize, page: &FakePage) -> String {
        match self.page_tokens.get(&(chain, page.id.clone())) {
            Some(t) => t.clone(),
            None => {
                let t = self.issue_access(chain, Form::Page, None);
                if let Some(a) = self.access.get_mut(&t) {
                    a.page_id = Some(page.id.clone());
                }
                self.page_tokens.insert((chain, page.id.clone()), t.clone());
                t
            }
        }
    }

    /// Graph's `DELETE /me/permissions` (a user token) and `DELETE /{user-id}/permissions`
    /// (the app token `APP_ID|APP_SECRET`, or a user token of that person): the person
    /// removes the app, and every grant they made to it dies, Page tokens included.
    pub(super) fn graph_remove_app(
        &mut self,
        node: Option<&str>,
        inc: &Incoming,
        seq: u64,
    ) -> Reply {
        let presented = inc.user_token().unwrap_or_default().to_owned();
        if presented.contains('|') {
            return self.app_removes_app(node, &presented, seq);
        }
        let record = match self.live(Some(&presented)) {
            Ok(r) => r.clone(),
            Err(dead) => return self.fail(Route::Revoke, Failure::DeadToken(dead), seq),
        };
        let owner = self.chains[record.chain].user_id.clone();
        if record.form == Form::Page {
            // A Page token acts as the Page: it cannot remove a person's app.
            let id = node
                .or(record.page_id.as_deref())
                .unwrap_or("me")
                .to_owned();
            return unsupported_delete(&id, seq);
        }
        if node.is_some_and(|n| n != owner) {
            return unsupported_delete(node.unwrap_or_default(), seq);
        }
        self.remove_app_for(&owner);
        Reply::Json(200, json!({ "success": true }))
    }

    /// `DELETE /{user-id}/permissions` with the app token `APP_ID|APP_SECRET`: removes the
    /// app for that person.
    fn app_removes_app(&mut self, node: Option<&str>, presented: &str, seq: u64) -> Reply {
        let app = format!(
            "{}|{}",
            self.settings.client_id, self.settings.client_secret
        );
        if presented != app {
            return dialect::meta_error(
                400,
                190,
                None,
                "Invalid OAuth access token signature.",
                seq,
            )
            .into();
        }
        let Some(person) = node else {
            return dialect::meta_error(
                400,
                2500,
                None,
                "An active access token must be used to query information about the current user.",
                seq,
            )
            .into();
        };
        let known =
            self.user.external_id == person || self.chains.iter().any(|c| c.user_id == person);
        if !known {
            return unsupported_delete(person, seq);
        }
        self.remove_app_for(person);
        Reply::Json(200, json!({ "success": true }))
    }
}

/// Graph's answer to a delete of a node the token may not touch.
fn unsupported_delete(id: &str, seq: u64) -> Reply {
    let message = format!(
        "Unsupported delete request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
    );
    dialect::meta_error(400, 100, Some(33), &message, seq).into()
}

/// Facebook's and Instagram's `/me`: the person, or the Page for a Page token.
pub(super) fn graph_me(u: &FakeUser, page_id: Option<String>) -> Value {
    match page_id {
        // A Page token's `/me` is the Page.
        Some(id) => {
            let name = u.pages.iter().find(|p| p.id == id).map(|p| p.name.clone());
            json!({ "id": id, "name": name })
        }
        None => json!({ "id": u.external_id, "name": u.name }),
    }
}

/// Instagram Login's `/me`.
pub(super) fn instagram_login_me(u: &FakeUser) -> Value {
    let picture = u.picture_url.clone();
    json!({
        "user_id": u.external_id,
        "username": u.name,
        "id": format!("{}-app-scoped", u.external_id),
        "profile_picture_url": picture,
    })
}

/// Threads' `/me`.
pub(super) fn threads_me(u: &FakeUser) -> Value {
    let picture = u.picture_url.clone();
    json!({
        "id": u.external_id,
        "username": u.name,
        "threads_profile_picture_url": picture,
    })
}
