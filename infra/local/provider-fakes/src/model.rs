//! The control API's types, shared by the server and the typed client.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tokenwarden::domain::Provider;

/// Which kind of provider call a fault or a log line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// The browser-facing authorize page.
    Authorize,
    /// The token endpoint's `authorization_code` grant.
    Token,
    /// A `refresh_token` grant, or Instagram Login's / Threads' `refresh_access_token`.
    Refresh,
    /// The short-lived to long-lived exchange (`fb_exchange_token`, `ig_exchange_token`,
    /// `th_exchange_token`).
    Exchange,
    /// `debug_token`, `introspectToken`, `tokeninfo`.
    Introspect,
    /// The user's own profile read.
    Profile,
    /// Facebook's `/me/accounts` (Pages and their Instagram business accounts).
    Accounts,
    /// Token revocation (`DELETE /me/permissions` or `/{user-id}/permissions` at Meta).
    Revoke,
}

impl EndpointKind {
    pub const ALL: [EndpointKind; 8] = [
        EndpointKind::Authorize,
        EndpointKind::Token,
        EndpointKind::Refresh,
        EndpointKind::Exchange,
        EndpointKind::Introspect,
        EndpointKind::Profile,
        EndpointKind::Accounts,
        EndpointKind::Revoke,
    ];
}

/// A failure to inject, answered in the network's own format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Fault {
    /// A 5xx (default 503) with the network's server-error body.
    Status5xx {
        #[serde(default)]
        status: Option<u16>,
    },
    /// Answers only after `seconds` (default and maximum 30): longer than a client's
    /// timeout.
    Timeout {
        #[serde(default)]
        seconds: Option<u64>,
    },
    /// 429 with the network's rate-limit body.
    RateLimited,
    /// The network's "this grant / token is no good" answer (`invalid_grant` at OAuth 2
    /// token endpoints, Meta code 190, TikTok `access_token_invalid`, Pinterest 401...).
    InvalidGrant,
    /// Meta's `{"error":{"type":"OAuthException","code":190,"error_subcode":N}}` (at
    /// `debug_token`: `is_valid:false` with the error inside `data`).
    Meta190 {
        #[serde(default)]
        subcode: Option<u32>,
    },
    /// A 302 to `location` (default: the fake's own `/_fake/trap`, which logs any visit).
    Redirect {
        #[serde(default)]
        location: Option<String>,
    },
    /// Meta's code 190 without subcode, "The user must be an administrator of the page
    /// in order to impersonate it." (at `debug_token`: `is_valid:false`, inside `data`):
    /// the Page token's user lost their role on the Page.
    AdminLost,
    /// Marks the presented token (and its grant chain) revoked, then answers as the
    /// network does for a revoked token; later calls with it say so too.
    Revoked,
    /// A careless network: a 400 in the network's format whose message quotes every
    /// parameter and credential of the request (leak tests of the client's scrubbing).
    EchoRequest,
    /// A hostile or broken network: the call is served as usual (a rotating network
    /// retires the presented refresh token), but a successful answer states
    /// `expires_in` (and any refresh lifetime) as `seconds` (default `i64::MAX`).
    AbsurdLifetime {
        #[serde(default)]
        seconds: Option<i64>,
    },
}

impl Fault {
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Status5xx { .. } => "status_5xx",
            Fault::Timeout { .. } => "timeout",
            Fault::RateLimited => "rate_limited",
            Fault::InvalidGrant => "invalid_grant",
            Fault::Meta190 { .. } => "meta_190",
            Fault::AdminLost => "admin_lost",
            Fault::Redirect { .. } => "redirect",
            Fault::Revoked => "revoked",
            Fault::EchoRequest => "echo_request",
            Fault::AbsurdLifetime { .. } => "absurd_lifetime",
        }
    }
}

/// `POST /_fake/{provider}/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub kind: EndpointKind,
    pub fault: Fault,
    /// Applies to the next `times` calls of that kind; `None`: every call until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

/// The person signed in at the fake network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeUser {
    pub external_id: String,
    pub name: String,
    #[serde(default)]
    pub picture_url: Option<String>,
    /// Facebook / Instagram via Facebook: the Pages the user manages.
    #[serde(default)]
    pub pages: Vec<FakePage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakePage {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub instagram_business_account: Option<FakeInstagramAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeInstagramAccount {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub profile_picture_url: Option<String>,
}

impl FakeUser {
    /// The user each network starts with.
    pub fn default_for(provider: Provider) -> Self {
        let id = provider.id();
        let pages = match provider {
            Provider::Facebook | Provider::Instagram => vec![
                FakePage {
                    id: "100000000000001".into(),
                    name: "Fake Bakery".into(),
                    instagram_business_account: Some(FakeInstagramAccount {
                        id: "17841400000000001".into(),
                        username: "fake.bakery".into(),
                        profile_picture_url: Some(format!("https://fake.invalid/{id}/ig-1.png")),
                    }),
                },
                FakePage {
                    id: "100000000000002".into(),
                    name: "Fake Shop".into(),
                    instagram_business_account: None,
                },
            ],
            _ => Vec::new(),
        };
        FakeUser {
            external_id: format!("{id}-user-1"),
            name: format!("Fake {} User", crate::documented::of(provider).display_name),
            picture_url: Some(format!("https://fake.invalid/{id}/avatar.png")),
            pages,
        }
    }
}

/// `PATCH /_fake/{provider}/settings`: fields left out keep their value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// The user presses "Cancel" at authorize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<bool>,
    /// Instagram Login: answer the code exchange flat
    /// (`{"access_token","user_id","permissions"}`) instead of wrapped in `{"data":[...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flat_token_response: Option<bool>,
    /// The app credentials the fake accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Scopes the person unticks on the consent screen: left out of every grant from
    /// then on (`[]`: none). LinkedIn ignores it: its consent is all or nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Vec<String>>,
    /// Facebook / Instagram via Facebook: the `data_access_expires_at` (unix seconds)
    /// `debug_token` answers for every token; `0`: back to authorization time + 90 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_access_expires_at: Option<u64>,
    /// Pinterest: an app created before 2025-09-25 (default `true`), whose grants are
    /// legacy ones (no new refresh token on refresh) unless the code exchange sends
    /// `continuous_refresh=true` or a refresh sends `refresh_on=true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_app: Option<bool>,
}

/// How the client authenticated itself, as the fake saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthSeen {
    /// `Authorization: Basic`.
    Basic,
    /// `client_id` + `client_secret` in a form body.
    Form,
    /// `client_id` + `client_secret` (or `client_secret` alone) in the query string.
    Query,
    /// TikTok's `client_key` + `client_secret`.
    ClientKey,
    /// Meta's `access_token=APP_ID|APP_SECRET`.
    AppToken,
    /// Only a `client_id` (public client), or a bare `client_secret` in a form.
    Partial,
    None,
}

/// One call the fake received (canary tokens shown as-is: they are fake).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub seq: u64,
    /// `None` for `/_fake/trap` and unknown paths.
    pub provider: Option<Provider>,
    pub kind: Option<EndpointKind>,
    pub method: String,
    pub path: String,
    pub client_auth: ClientAuthSeen,
    pub client_id: Option<String>,
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub code_challenge: Option<String>,
    pub code_verifier: Option<String>,
    pub redirect_uri: Option<String>,
    pub refresh_token: Option<String>,
    /// The token the call presented (Bearer, `access_token`, `input_token`,
    /// `fb_exchange_token` or `token`).
    pub access_token: Option<String>,
    /// Meta's authorize `auth_type` (`reauthorize`, `rerequest`, `reauthenticate`).
    #[serde(default)]
    pub auth_type: Option<String>,
    /// Pinterest's `continuous_refresh` at the code exchange, as sent.
    #[serde(default)]
    pub continuous_refresh: Option<String>,
    /// Every query and form parameter of the call except `client_secret` (and an app
    /// token `APP_ID|APP_SECRET`); a form value wins over a query value of the same name.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The status the fake answered with.
    pub status: u16,
    /// The injected fault, when one answered.
    pub fault: Option<String>,
}

/// `PUT /_fake/latency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub ms: u64,
}
