//! X: access tokens of 2 hours, a refresh token only with `offline.access` (rotating:
//! a replay kills the chain), RFC 7009 revocation with the client authenticated.

use serde_json::{json, Value};

use super::{CodeGrant, Form, Net, Reply};
use crate::dialect::{Dead, Failure};
use crate::model::FakeUser;
use crate::request::Incoming;

const X_ACCESS: u64 = 7_200;

impl Net {
    /// X's code exchange: an access token, and a refresh token with `offline.access`.
    pub(super) fn x_code_exchange(
        &mut self,
        chain: usize,
        grant: &CodeGrant,
        scope: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(X_ACCESS));
        let mut body = json!({ "token_type": "bearer", "expires_in": X_ACCESS, "access_token": access, "scope": scope });
        // A refresh token only with `offline.access`.
        if grant.scopes.iter().any(|s| s == "offline.access") {
            body["refresh_token"] = json!(self.issue_refresh(chain));
        }
        body
    }

    /// X's refresh: a new access token and the rotated refresh token.
    pub(super) fn x_refresh(
        &mut self,
        chain: usize,
        new_refresh: Option<String>,
        scope: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(X_ACCESS));
        json!({ "token_type": "bearer", "expires_in": X_ACCESS, "access_token": access,
                "scope": scope, "refresh_token": new_refresh })
    }

    /// X's revocation of an access or a refresh token.
    pub(super) fn x_revoke(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        if !self.client_ok(inc) {
            return Err(Failure::InvalidClient);
        }
        let token = inc
            .form_param("token")
            .ok_or(Failure::InvalidRequest("The token parameter is required."))?
            .to_owned();
        // `token_type_hint` is accepted and not needed: both tables are searched.
        // RFC 7009: an unknown, expired or already dead token answers 200 too.
        let chain = match (self.access.get(&token), self.refresh.get(&token)) {
            (Some(_), _) => self.live(Some(&token)).ok().map(|a| a.chain),
            (None, Some(r)) if !r.rotated_out => Some(r.chain),
            _ => None,
        };
        if let Some(chain) = chain {
            self.kill(chain, Dead::Revoked);
        }
        Ok(Reply::Json(200, json!({ "revoked": true })))
    }
}

/// X's `/2/users/me`.
pub(super) fn users_me(u: &FakeUser) -> Value {
    let picture = u.picture_url.clone();
    json!({ "data": {
        "id": u.external_id, "name": u.name,
        "username": u.name.to_lowercase().replace(' ', "_"),
        "profile_image_url": picture,
    }})
}
