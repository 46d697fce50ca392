//! Fakes of the nine networks' OAuth, token, introspection, profile and revocation
//! endpoints, speaking each network's documented wire format, with switches to inject
//! faults. Every network is served under `/{provider id}` + its documented path, so
//! `tokenwarden::domain::Endpoints::overridden(base_url)` points the real adapter here.
//!
//! Tests start it in-process on a random port:
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fakes = provider_fakes::start_local().await?;
//! let endpoints = fakes.endpoints();
//! let credentials = fakes.credentials();
//! # Ok(()) }
//! ```
//! Tokens are predictable canaries (`canary-{provider}-access-{n}`, `-refresh-`, `-code-`,
//! `-page-`; secrets `canary-{provider}-client-secret`), so a leak test can search any
//! output for `canary-`. See README.md for the routes and the control API.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use tokenwarden::domain::Secret;
use tokenwarden::domain::{Endpoints, Provider};
use tokenwarden::providers::{ClientCredentials, Credentials};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

mod consent;
pub mod control;
mod dialect;
mod documented;
pub mod model;
mod request;
mod routes;
mod server;
mod state;

pub use consent::{consent, ConsentError};
pub use control::{ControlError, FakeControl};
pub use model::{
    ClientAuthSeen, EndpointKind, FakeInstagramAccount, FakePage, FakeUser, Fault, FaultRule,
    Latency, RecordedRequest, SettingsPatch,
};

/// The client id each fake network accepts until changed.
pub fn default_client_id(provider: Provider) -> String {
    format!("fake-{}-client-id", provider.id())
}

/// The client secret each fake network accepts until changed (a canary).
pub fn default_client_secret(provider: Provider) -> String {
    format!("canary-{}-client-secret", provider.id())
}

/// The PKCE S256 challenge of a verifier: `BASE64URL(SHA256(verifier))`, no padding.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A running fake. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeHandle {
    /// `http://127.0.0.1:{port}/`.
    pub base_url: Url,
    pub control: FakeControl,
    task: JoinHandle<()>,
}

impl FakeHandle {
    /// Every network's endpoints moved here.
    pub fn endpoints(&self) -> Endpoints {
        Endpoints::overridden(self.base_url.clone())
    }

    /// The default app credentials of all nine fake networks.
    pub fn credentials(&self) -> Credentials {
        Credentials::from_map(
            Provider::ALL
                .into_iter()
                .map(|p| {
                    (
                        p,
                        ClientCredentials {
                            client_id: default_client_id(p),
                            client_secret: Secret::from(default_client_secret(p)),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        )
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves the fakes on `addr` (port 0: any free port) until the handle is dropped.
pub async fn start(addr: SocketAddr) -> io::Result<FakeHandle> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let base_url = Url::parse(&format!("http://{local}/"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let app = server::router(server::Shared::default());
    let task = tokio::spawn(async move {
        // The server only ends when aborted; an accept error ends it early.
        let _ = axum::serve(listener, app).await;
    });
    Ok(FakeHandle {
        control: FakeControl::new(base_url.clone()),
        base_url,
        task,
    })
}

/// [`start`] on `127.0.0.1:0`.
pub async fn start_local() -> io::Result<FakeHandle> {
    start(SocketAddr::from(([127, 0, 0, 1], 0))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_control_api_takes_the_new_settings_and_removes_pages() {
        let fakes = start_local().await.unwrap();
        let patch: SettingsPatch = serde_json::from_value(serde_json::json!({
            "decline": ["pages_manage_posts"],
            "data_access_expires_at": 1_900_000_000u64,
            "legacy_app": false,
        }))
        .unwrap();
        fakes
            .control
            .patch_settings(Provider::Facebook, &patch)
            .await
            .unwrap();
        fakes
            .control
            .remove_page(Provider::Facebook, "100000000000002")
            .await
            .unwrap();
        let again = fakes
            .control
            .remove_page(Provider::Facebook, "100000000000002")
            .await;
        assert!(
            matches!(again, Err(ControlError::Status { status: 404, .. })),
            "{again:?}"
        );

        let http = reqwest::Client::new();
        let stale = http
            .get(fakes.base_url.join("facebook/v20.0/me").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status().as_u16(), 400);
        let body: serde_json::Value = stale.json().await.unwrap();
        assert_eq!(body["error"]["code"], 2500);
        let log = fakes.control.requests().await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].kind, Some(EndpointKind::Profile));
        assert_eq!(log[0].status, 400);
    }

    #[test]
    fn s256_matches_the_rfc_7636_example() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
