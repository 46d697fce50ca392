//! Threads.
//!
//! Facts (checked 2026-12-02 against developers.facebook.com/documentation/threads/get-started/get-access-tokens-and-permissions
//! (updated 2026-08-12), …/threads/get-started/long-lived-tokens and …/threads/threads-profiles):
//! - the hosts moved to `threads.com`: authorize `https://threads.com/oauth/authorize`,
//!   Graph `https://graph.threads.com` (older pages still say `threads.net`);
//! - code exchange `POST /oauth/access_token` (form: client_id, client_secret, code,
//!   grant_type, redirect_uri); long-lived token `GET /access_token?grant_type=th_exchange_token`
//!   (60 days); refresh `GET /refresh_access_token?grant_type=th_refresh_token` once 24 hours
//!   old and unexpired; tokens not refreshed within 60 days expire for good;
//! - "permissions granted to apps by app users with private profiles are now valid for 90
//!   days", and long-lived tokens of private profiles can now be refreshed. The profile
//!   documents no field that says a profile is private (`id`, `username`, `name`,
//!   `threads_profile_picture_url`, `threads_biography`, `is_verified`), so tokenwarden
//!   cannot tell which accounts the 90 days bind and does not invent a clock for them:
//!   the refresh keeps every Threads connection alive, and a lapsed permission shows as
//!   `scopes_changed` at the next check;
//! - posting needs `threads_content_publish` (and `threads_basic`); no revocation endpoint.

use serde_json::Value;

use super::self_refreshing::SelfRefreshing;
use crate::providers::wire::{self, text};
use crate::providers::RemoteAccount;

pub(crate) static THREADS: SelfRefreshing = SelfRefreshing {
    authorize_url: "https://threads.com/oauth/authorize",
    token_url: "https://graph.threads.com/oauth/access_token",
    exchange_url: "https://graph.threads.com/access_token",
    exchange_grant: "th_exchange_token",
    refresh_url: "https://graph.threads.com/refresh_access_token",
    refresh_grant: "th_refresh_token",
    profile_url: "https://graph.threads.com/v1.0/me",
    profile_fields: "id,username,name,threads_profile_picture_url",
    profile,
};

fn profile(v: &Value) -> Result<RemoteAccount, &'static str> {
    wire::remote(
        text(v, "id"),
        text(v, "username").or_else(|| text(v, "name")),
        text(v, "threads_profile_picture_url"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_hosts_are_threads_com() {
        for url in [
            THREADS.authorize_url,
            THREADS.token_url,
            THREADS.profile_url,
        ] {
            let host = url::Url::parse(url).unwrap().host_str().unwrap().to_owned();
            assert!(
                host == "threads.com" || host == "graph.threads.com",
                "{url}"
            );
        }
    }
}
