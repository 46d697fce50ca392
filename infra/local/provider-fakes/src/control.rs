//! A typed client of the control API, for tests and scripts.

use std::time::Duration;

use serde::Serialize;
use tokenwarden::domain::Provider;
use url::Url;

use crate::model::{
    EndpointKind, FakeUser, Fault, FaultRule, Latency, RecordedRequest, SettingsPatch,
};

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the provider fakes could not be reached")]
    Http(#[from] reqwest::Error),
    #[error("the provider fakes answered {status} to {what}")]
    Status { status: u16, what: &'static str },
}

/// Drives a running fake: users, deny switch, faults, latency, the request log.
#[derive(Debug, Clone)]
pub struct FakeControl {
    base: Url,
    http: reqwest::Client,
}

impl FakeControl {
    /// `base` is the fakes' root URL (e.g. `http://127.0.0.1:4610/`).
    pub fn new(base: Url) -> Self {
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}/_fake/{path}"));
        url
    }

    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ControlError> {
        let response = request.send().await?;
        if !response.status().is_success() {
            return Err(ControlError::Status {
                status: response.status().as_u16(),
                what,
            });
        }
        Ok(response)
    }

    async fn write(
        &self,
        what: &'static str,
        method: reqwest::Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<(), ControlError> {
        let request = self.http.request(method, self.url(path)).json(body);
        self.send(what, request).await.map(drop)
    }

    /// The person signed in at `provider` (and, for Facebook, their Pages).
    pub async fn set_user(&self, provider: Provider, user: &FakeUser) -> Result<(), ControlError> {
        let path = format!("{}/user", provider.id());
        self.write("set_user", reqwest::Method::PUT, &path, user)
            .await
    }

    /// Whether the user presses "Cancel" at authorize.
    pub async fn set_deny(&self, provider: Provider, deny: bool) -> Result<(), ControlError> {
        self.patch_settings(
            provider,
            &SettingsPatch {
                deny: Some(deny),
                ..SettingsPatch::default()
            },
        )
        .await
    }

    pub async fn patch_settings(
        &self,
        provider: Provider,
        patch: &SettingsPatch,
    ) -> Result<(), ControlError> {
        let path = format!("{}/settings", provider.id());
        self.write("patch_settings", reqwest::Method::PATCH, &path, patch)
            .await
    }

    /// The user loses their role on a Facebook Page: it leaves `/me/accounts`, and the
    /// Page tokens issued for it fail with Meta's "must be an administrator" error.
    pub async fn remove_page(&self, provider: Provider, page_id: &str) -> Result<(), ControlError> {
        let mut url = self.url(&format!("{}/pages", provider.id()));
        url.path_segments_mut()
            .map_err(|()| ControlError::Status {
                status: 0,
                what: "remove_page",
            })?
            .push(page_id);
        self.send("remove_page", self.http.delete(url))
            .await
            .map(drop)
    }

    /// Injects `fault` into the next `times` calls of `kind`.
    pub async fn set_fault(
        &self,
        provider: Provider,
        kind: EndpointKind,
        fault: Fault,
        times: u32,
    ) -> Result<(), ControlError> {
        self.add_rule(
            provider,
            FaultRule {
                kind,
                fault,
                times: Some(times),
            },
        )
        .await
    }

    /// Injects `fault` into every call of `kind` until cleared.
    pub async fn set_sticky_fault(
        &self,
        provider: Provider,
        kind: EndpointKind,
        fault: Fault,
    ) -> Result<(), ControlError> {
        self.add_rule(
            provider,
            FaultRule {
                kind,
                fault,
                times: None,
            },
        )
        .await
    }

    async fn add_rule(&self, provider: Provider, rule: FaultRule) -> Result<(), ControlError> {
        let path = format!("{}/faults", provider.id());
        self.write("set_fault", reqwest::Method::POST, &path, &rule)
            .await
    }

    pub async fn clear_faults(&self, provider: Provider) -> Result<(), ControlError> {
        let request = self
            .http
            .delete(self.url(&format!("{}/faults", provider.id())));
        self.send("clear_faults", request).await.map(drop)
    }

    /// A fixed delay before every provider answer (benchmarks).
    pub async fn set_latency(&self, latency: Duration) -> Result<(), ControlError> {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.write(
            "set_latency",
            reqwest::Method::PUT,
            "latency",
            &Latency { ms },
        )
        .await
    }

    /// Every provider call received since the start or the last reset.
    pub async fn requests(&self) -> Result<Vec<RecordedRequest>, ControlError> {
        let response = self
            .send("requests", self.http.get(self.url("requests")))
            .await?;
        Ok(response.json().await?)
    }

    /// Forgets codes, tokens, users, faults, latency and the log.
    pub async fn reset(&self) -> Result<(), ControlError> {
        self.send("reset", self.http.post(self.url("reset")))
            .await
            .map(drop)
    }
}
