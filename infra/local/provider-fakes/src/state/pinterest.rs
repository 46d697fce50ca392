//! Pinterest: access tokens of 30 days; continuous refresh (60 days, renewed with a new
//! refresh token by every refresh) for new apps or when asked, else a legacy refresh token
//! with a hard limit of 365 days.

use serde_json::{json, Value};

use super::{now, Form, Net};
use crate::model::FakeUser;
use crate::request::Incoming;

/// Pinterest: access 30 days.
const PINTEREST_ACCESS: u64 = 2_592_000;
/// Continuous refresh: 60 days, renewed (with a new refresh token) by every refresh.
const PINTEREST_REFRESH: u64 = 5_184_000;
/// A legacy Pinterest refresh token: 365 days, a hard limit.
const PINTEREST_LEGACY_REFRESH: u64 = 31_536_000;

impl Net {
    /// Pinterest's code exchange: a continuous or a legacy grant.
    pub(super) fn pinterest_code_exchange(
        &mut self,
        chain: usize,
        inc: &Incoming,
        scope: &str,
    ) -> Value {
        // A new app's grants, or one asked for with `continuous_refresh=true`,
        // are continuous; a legacy app's are legacy ones otherwise.
        let continuous =
            !self.settings.legacy_app || inc.param("continuous_refresh") == Some("true");
        let lifetime = if continuous {
            PINTEREST_REFRESH
        } else {
            PINTEREST_LEGACY_REFRESH
        };
        let access = self.issue_access(chain, Form::User, Some(PINTEREST_ACCESS));
        let refresh = self.issue_refresh(chain);
        let refresh_at = now() + lifetime;
        self.chains[chain].refresh_expires_at = Some(refresh_at);
        self.chains[chain].continuous = continuous;
        let mut body = json!({ "access_token": access, "refresh_token": refresh, "response_type": "authorization_code",
                "token_type": "bearer", "expires_in": PINTEREST_ACCESS,
                "refresh_token_expires_in": lifetime, "scope": scope });
        if continuous {
            body["refresh_token_expires_at"] = json!(refresh_at);
        }
        body
    }

    /// Pinterest's refresh: a new access token, and for a continuous grant a new refresh
    /// token.
    pub(super) fn pinterest_refresh(
        &mut self,
        chain: usize,
        new_refresh: Option<String>,
        at: u64,
        scope: &str,
    ) -> Value {
        let access = self.issue_access(chain, Form::User, Some(PINTEREST_ACCESS));
        let mut body = json!({ "access_token": access, "response_type": "refresh_token", "token_type": "bearer",
                "expires_in": PINTEREST_ACCESS, "scope": scope });
        // Continuous: a new refresh token good for 60 days from now. Legacy: none;
        // the first one keeps its 365-day hard limit.
        if let Some(new) = new_refresh {
            let refresh_at = at + PINTEREST_REFRESH;
            self.chains[chain].refresh_expires_at = Some(refresh_at);
            body["refresh_token"] = json!(new);
            body["refresh_token_expires_in"] = json!(PINTEREST_REFRESH);
            body["refresh_token_expires_at"] = json!(refresh_at);
        }
        body
    }
}

/// Pinterest's `/v5/user_account`.
pub(super) fn user_account(u: &FakeUser) -> Value {
    let picture = u.picture_url.clone();
    json!({
        "account_type": "BUSINESS",
        "id": u.external_id,
        "username": u.name.to_lowercase().replace(' ', "_"),
        "business_name": u.name,
        "profile_image": picture,
        "website_url": "",
    })
}
