//! Instagram API with Instagram Login (professional accounts without a Facebook Page).
//!
//! Facts (checked 2026-12-02 against developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/business-login
//! and …/reference/refresh_access_token):
//! - authorize `https://www.instagram.com/oauth/authorize`; code exchange
//!   `POST https://api.instagram.com/oauth/access_token` (form body; the answer may be
//!   wrapped in `{"data":[…]}` and carries `user_id` and `permissions`); no PKCE;
//! - the short-lived token (1 hour) is exchanged with `ig_exchange_token` at
//!   `graph.instagram.com/access_token` for 60 days, and refreshed with
//!   `GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token` once at
//!   least 24 hours old and unexpired (a new 60 days); an expired one cannot be refreshed;
//! - posting needs `instagram_business_content_publish`;
//! - no revocation endpoint: the person removes the app in Instagram's settings.

use serde_json::Value;

use super::self_refreshing::SelfRefreshing;
use crate::providers::wire::{self, text};
use crate::providers::RemoteAccount;

pub(crate) static INSTAGRAM_LOGIN: SelfRefreshing = SelfRefreshing {
    authorize_url: "https://www.instagram.com/oauth/authorize",
    token_url: "https://api.instagram.com/oauth/access_token",
    exchange_url: "https://graph.instagram.com/access_token",
    exchange_grant: "ig_exchange_token",
    refresh_url: "https://graph.instagram.com/refresh_access_token",
    refresh_grant: "ig_refresh_token",
    profile_url: "https://graph.instagram.com/me",
    profile_fields: "user_id,username,name,profile_picture_url",
    profile,
};

/// `user_id` is the Instagram professional account id; `id` the app-scoped one.
fn profile(v: &Value) -> Result<RemoteAccount, &'static str> {
    wire::remote(
        text(v, "user_id").or_else(|| text(v, "id")),
        text(v, "username").or_else(|| text(v, "name")),
        text(v, "profile_picture_url"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_professional_account_id_wins_over_the_app_scoped_one() {
        let id = |v| profile(&v).unwrap().external_id;
        assert_eq!(
            id(json!({"user_id":"1784","id":"999","username":"ada"})),
            "1784"
        );
        assert_eq!(id(json!({"id":"999","username":"ada"})), "999");
    }
}
