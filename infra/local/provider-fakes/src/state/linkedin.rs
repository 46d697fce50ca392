//! LinkedIn: access tokens of 60 days and a refresh token of 365 days that keeps its
//! first expiry, introspection that answers `active: false` for a dead token, and
//! revocation with the client's id and secret in the form.

use serde_json::{json, Value};

use super::{now, Form, Net, Reply};
use crate::dialect::{Dead, Failure};
use crate::request::Incoming;

const LINKEDIN_ACCESS: u64 = 5_184_000;
const LINKEDIN_REFRESH: u64 = 31_536_000;

impl Net {
    /// LinkedIn's code exchange: an access and a refresh token.
    pub(super) fn linkedin_code_exchange(&mut self, chain: usize, scope: &str) -> Value {
        let access = self.issue_access(chain, Form::User, Some(LINKEDIN_ACCESS));
        let refresh = self.issue_refresh(chain);
        self.chains[chain].refresh_expires_at = Some(now() + LINKEDIN_REFRESH);
        json!({ "access_token": access, "expires_in": LINKEDIN_ACCESS, "refresh_token": refresh,
                "refresh_token_expires_in": LINKEDIN_REFRESH, "scope": scope })
    }

    /// LinkedIn's refresh: a new access token, the same refresh token.
    pub(super) fn linkedin_refresh(
        &mut self,
        chain: usize,
        presented: &str,
        at: u64,
        scope: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(LINKEDIN_ACCESS));
        // The refresh token keeps its first expiry: answer the seconds left.
        let left = self.chains[chain]
            .refresh_expires_at
            .map_or(LINKEDIN_REFRESH, |e| e.saturating_sub(at));
        json!({ "access_token": access, "expires_in": LINKEDIN_ACCESS, "refresh_token": presented,
                "refresh_token_expires_in": left, "scope": scope })
    }

    /// LinkedIn's token introspection.
    pub(super) fn linkedin_introspect(&self, inc: &Incoming) -> Result<Reply, Failure> {
        let ok = inc.form_param("client_id") == Some(self.settings.client_id.as_str())
            && inc.form_param("client_secret") == Some(self.settings.client_secret.as_str());
        if !ok {
            return Err(Failure::InvalidClient);
        }
        let token = inc
            .form_param("token")
            .ok_or(Failure::InvalidRequest("The token parameter is required."))?;
        Ok(Reply::Json(
            200,
            match self.live(Some(token)) {
                Err(dead) => inactive(dead),
                Ok(record) => {
                    let chain = &self.chains[record.chain];
                    json!({
                        "active": true,
                        "client_id": self.settings.client_id,
                        "authorized_at": chain.authorized_at,
                        "created_at": record.issued_at,
                        "status": "active",
                        "expires_at": record.expires_at,
                        "scope": chain.scopes.join(","),
                        "auth_type": "3L",
                    })
                }
            },
        ))
    }

    /// LinkedIn's revocation: client_id, client_secret and token in the form.
    pub(super) fn linkedin_revoke(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        if !self.client_ok(inc) {
            return Err(Failure::InvalidClient);
        }
        let token = inc
            .form_param("token")
            .ok_or(Failure::InvalidRequest("The token parameter is required."))?
            .to_owned();
        if let Some(chain) = self.chain_of(&token) {
            self.kill(chain, Dead::Revoked);
        }
        Ok(Reply::Empty(200))
    }
}

pub(super) fn inactive(dead: Dead) -> Value {
    match dead {
        Dead::Unknown => json!({ "active": false }),
        Dead::Expired => json!({ "active": false, "status": "expired" }),
        Dead::Revoked | Dead::Meta(_) | Dead::AdminLost => {
            json!({ "active": false, "status": "revoked" })
        }
    }
}
