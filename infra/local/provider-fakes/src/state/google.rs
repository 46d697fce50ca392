//! Google: access tokens of an hour, a refresh token only with `access_type=offline`
//! (at most 100 live ones per person and client), tokeninfo, and revocation of either
//! token.

use serde_json::{json, Value};

use super::{now, CodeGrant, Form, Net, Reply};
use crate::dialect::{Dead, Failure};
use crate::request::Incoming;

const GOOGLE_ACCESS: u64 = 3_599;
/// Google keeps at most this many live refresh tokens per account per client; the next
/// one silently invalidates the oldest.
const GOOGLE_MAX_REFRESH_TOKENS: usize = 100;

impl Net {
    /// Google's code exchange: an access token, and a refresh token when offline.
    pub(super) fn google_code_exchange(
        &mut self,
        chain: usize,
        grant: &CodeGrant,
        scope: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(GOOGLE_ACCESS));
        let mut body = json!({ "access_token": access, "expires_in": GOOGLE_ACCESS, "scope": scope, "token_type": "Bearer" });
        // A refresh token only with `access_type=offline`.
        if grant.offline {
            self.google_make_room(chain);
            body["refresh_token"] = json!(self.issue_refresh(chain));
        }
        body
    }

    /// Google's refresh: a new access token; the refresh token stays.
    pub(super) fn google_refresh(&mut self, chain: usize, scope: &str) -> Value {
        let access = self.issue_access(chain, Form::User, Some(GOOGLE_ACCESS));
        json!({ "access_token": access, "expires_in": GOOGLE_ACCESS, "scope": scope, "token_type": "Bearer" })
    }

    /// Google: before a new refresh token for this person and client, the oldest live
    /// ones beyond the limit are invalidated without a word.
    fn google_make_room(&mut self, new_chain: usize) {
        let (user, client) = {
            let c = &self.chains[new_chain];
            (c.user_id.clone(), c.client_id.clone())
        };
        let live: Vec<usize> = (0..self.chains.len())
            .filter(|i| *i != new_chain)
            .filter(|i| {
                let c = &self.chains[*i];
                c.has_refresh && c.dead.is_none() && c.user_id == user && c.client_id == client
            })
            .collect();
        let excess = (live.len() + 1).saturating_sub(GOOGLE_MAX_REFRESH_TOKENS);
        for oldest in live.into_iter().take(excess) {
            self.kill(oldest, Dead::Revoked);
        }
    }

    /// Google's tokeninfo.
    pub(super) fn google_tokeninfo(&self, inc: &Incoming) -> Result<Reply, Failure> {
        let record = self
            .live(inc.param("access_token"))
            .map_err(Failure::DeadToken)?;
        let chain = &self.chains[record.chain];
        let exp = record.expires_at.unwrap_or(0);
        Ok(Reply::Json(
            200,
            json!({
                "azp": self.settings.client_id,
                "aud": self.settings.client_id,
                "sub": self.user.external_id,
                "scope": chain.scopes.join(" "),
                "exp": exp.to_string(),
                "expires_in": exp.saturating_sub(now()).to_string(),
                "email": format!("{}@fake.invalid", self.user.external_id),
                "email_verified": "true",
                "access_type": "offline",
            }),
        ))
    }

    /// Google: `token` (access or refresh) in the form or the query; other fields are
    /// ignored. Revoking either kills the grant; an expired, dead or unknown token is a
    /// 400 `invalid_token`.
    pub(super) fn google_revoke(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        let token = inc.param("token").unwrap_or_default().to_owned();
        let chain = if self.access.contains_key(&token) {
            self.live(Some(&token)).ok().map(|a| a.chain)
        } else {
            self.refresh
                .get(&token)
                .map(|r| r.chain)
                .filter(|c| self.chains[*c].dead.is_none())
        };
        let chain = chain.ok_or(Failure::DeadToken(Dead::Unknown))?;
        self.kill(chain, Dead::Revoked);
        Ok(Reply::Json(200, json!({})))
    }
}
