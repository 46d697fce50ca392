//! TikTok: access tokens of 2 hours, rotating refresh tokens of 180 days, and a
//! revocation that removes the app for the person.

use serde_json::{json, Value};

use super::{now, Form, Net, Reply};
use crate::dialect::Failure;
use crate::model::FakeUser;
use crate::request::Incoming;

/// TikTok's current token page: access 2 hours, refresh 180 days, rotating.
const TIKTOK_ACCESS: u64 = 7_200;
const TIKTOK_REFRESH: u64 = 15_552_000;

impl Net {
    /// TikTok's code exchange: an access and a refresh token.
    pub(super) fn tiktok_code_exchange(
        &mut self,
        chain: usize,
        scope: &str,
        user_id: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(TIKTOK_ACCESS));
        let refresh = self.issue_refresh(chain);
        self.chains[chain].refresh_expires_at = Some(now() + TIKTOK_REFRESH);
        json!({ "access_token": access, "expires_in": TIKTOK_ACCESS, "open_id": user_id,
                "refresh_expires_in": TIKTOK_REFRESH, "refresh_token": refresh, "scope": scope,
                "token_type": "Bearer" })
    }

    /// TikTok's refresh: a new access token and the rotated refresh token, good for 180
    /// days from now.
    pub(super) fn tiktok_refresh(
        &mut self,
        chain: usize,
        new_refresh: Option<String>,
        at: u64,
        scope: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(TIKTOK_ACCESS));
        self.chains[chain].refresh_expires_at = Some(at + TIKTOK_REFRESH);
        json!({ "access_token": access, "expires_in": TIKTOK_ACCESS, "open_id": self.user.external_id,
                "refresh_expires_in": TIKTOK_REFRESH, "refresh_token": new_refresh, "scope": scope,
                "token_type": "Bearer" })
    }

    /// TikTok's revocation of a live user access token.
    pub(super) fn tiktok_revoke(&mut self, inc: &Incoming) -> Result<Reply, Failure> {
        if !self.client_ok(inc) {
            return Err(Failure::InvalidClient);
        }
        let token = inc
            .form_param("token")
            .ok_or(Failure::InvalidRequest("The token parameter is required."))?;
        // TikTok documents the user access token only; a live one removes the
        // app from the person's connected apps: every grant of theirs dies.
        let chain = self.live(Some(token)).map_err(Failure::DeadToken)?.chain;
        let user = self.chains[chain].user_id.clone();
        self.remove_app_for(&user);
        Ok(Reply::Json(200, json!({})))
    }
}

/// TikTok's `/v2/user/info/`.
pub(super) fn user_info(u: &FakeUser, seq: u64) -> Value {
    let picture = u.picture_url.clone();
    json!({
        "data": { "user": {
            "open_id": u.external_id,
            "union_id": format!("{}-union", u.external_id),
            "avatar_url": picture,
            "display_name": u.name,
        }},
        "error": { "code": "ok", "message": "", "log_id": format!("FAKE{seq:08}") },
    })
}
