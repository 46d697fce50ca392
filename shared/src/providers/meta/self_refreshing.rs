//! What Instagram Login and Threads share: a Meta login of their own whose long-lived
//! access token refreshes itself (`*_exchange_token`, then `*_refresh_token` on the token
//! itself once it is 24 hours old and until it expires), and one profile per login.

use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use super::classify;
use crate::domain::ExposeSecret;
use crate::domain::Secret;
use crate::domain::Verdict;
use crate::providers::wire;
use crate::providers::{AuthorizeRequest, Call, Network, ProviderError, RemoteAccount, TokenGrant};

/// One self-refreshing Meta login.
pub(crate) struct SelfRefreshing {
    pub(crate) authorize_url: &'static str,
    /// `POST` with the code, `client_id` and `client_secret` in the form.
    pub(crate) token_url: &'static str,
    /// `GET …?grant_type={exchange_grant}&client_secret=…&access_token=…`.
    pub(crate) exchange_url: &'static str,
    pub(crate) exchange_grant: &'static str,
    /// `GET …?grant_type={refresh_grant}&access_token=…`.
    pub(crate) refresh_url: &'static str,
    pub(crate) refresh_grant: &'static str,
    pub(crate) profile_url: &'static str,
    pub(crate) profile_fields: &'static str,
    /// Reads the profile answer into the account (`Err` names what is missing).
    pub(crate) profile: fn(&Value) -> Result<RemoteAccount, &'static str>,
}

#[async_trait]
impl Network for SelfRefreshing {
    async fn profile(&self, cx: &Call<'_>, access_token: &Secret) -> Result<Value, ProviderError> {
        let t = access_token.expose_secret();
        // Both hosts document the token as a parameter.
        let request = cx
            .transport
            .http
            .get(cx.url(self.profile_url)?)
            .query(&[("fields", self.profile_fields), ("access_token", t)]);
        cx.transport.send_json(cx.provider, request, &[t]).await
    }

    fn authorize_url(
        &self,
        cx: &Call<'_>,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Url, ProviderError> {
        let creds = cx.creds()?;
        let mut url = cx.url(self.authorize_url)?;
        url.query_pairs_mut()
            .append_pair("client_id", &creds.client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", &cx.provider.spec().default_scopes.join(","))
            .append_pair("state", request.state);
        Ok(url)
    }

    async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        _code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let creds = cx.creds()?;
        let request = cx.transport.http.post(cx.url(self.token_url)?).form(&[
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose_secret()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
            ("code", code.expose_secret()),
        ]);
        let sent = [code.expose_secret(), creds.client_secret.expose_secret()];
        cx.transport.send_grant(cx.provider, request, &sent).await
    }

    async fn long_lived(
        &self,
        cx: &Call<'_>,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        let creds = cx.creds()?;
        let t = grant.access_token.expose_secret();
        let secret = creds.client_secret.expose_secret();
        let request = cx.transport.http.get(cx.url(self.exchange_url)?).query(&[
            ("grant_type", self.exchange_grant),
            ("client_secret", secret),
            ("access_token", t),
        ]);
        let long = cx
            .transport
            .send_grant(cx.provider, request, &[t, secret])
            .await?;
        Ok(wire::merge_exchanged(grant, long))
    }

    async fn refresh(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
        _refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let t = access_token.expose_secret();
        let request = cx
            .transport
            .http
            .get(cx.url(self.refresh_url)?)
            .query(&[("grant_type", self.refresh_grant), ("access_token", t)]);
        cx.transport.send_grant(cx.provider, request, &[t]).await
    }

    fn read_accounts(&self, json: &Value) -> Result<Vec<RemoteAccount>, &'static str> {
        (self.profile)(json).map(|a| vec![a])
    }

    fn classify(&self, _status: u16, json: &Value) -> Option<Verdict> {
        classify(json)
    }
}
