//! Facebook Pages and Instagram professional accounts through Facebook Login: one account
//! per Page the person granted (Instagram: per Page with a linked Instagram business
//! account), each with its own Page token.
//!
//! Facts (checked 2026-12-02 against developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow,
//! …/pages-api/posts, …/graph-api/reference/user/permissions):
//! - dialog `https://www.facebook.com/{version}/dialog/oauth`; code exchange
//!   `GET https://graph.facebook.com/{version}/oauth/access_token` with `client_id` and
//!   `client_secret` in the query; PKCE accepted; scopes separated by commas;
//! - the short-lived user token (hours) is exchanged with `grant_type=fb_exchange_token`
//!   for a long-lived one (about 60 days); Page tokens from `/me/accounts` of a long-lived
//!   user token carry no expiry; nothing refreshes them: a person reconnects;
//! - the data access clock (90 days, `debug_token`'s `data_access_expires_at`) binds Page
//!   tokens too: it is read at connect and at every check;
//! - posting needs `pages_manage_posts` (Facebook) and `instagram_content_publish`
//!   (Instagram via Facebook);
//! - `DELETE /{user-id}/permissions` with the app token removes the app for that person
//!   (every Page they connected, in any team); Meta refuses a Page token there.

use async_trait::async_trait;
use serde_json::Value;
use url::Url;

use super::{classify, debug_token, DebugToken};
use crate::domain::Verdict;
use crate::domain::{ExposeSecret, Secret};
use crate::providers::standard::pkce_challenge;
use crate::providers::transport::{parse_json, rejected, unreadable};
use crate::providers::wire::{self, text};
use crate::providers::{
    AuthorizeRequest, Call, Consent, HeldTokens, Network, ProviderError, RemoteAccount, TokenCheck,
    TokenGrant, MAX_ACCOUNTS_PER_GRANT,
};

/// `/me/accounts` pages read at most (100 Pages each): enough to see one account past
/// [`MAX_ACCOUNTS_PER_GRANT`].
const MAX_PAGE_REQUESTS: usize = MAX_ACCOUNTS_PER_GRANT / 100 + 2;

/// The longest the whole `/me/accounts` read may take (API Gateway ends a request at 30 s).
const PAGES_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// Facebook Pages or Instagram via Facebook: the same Graph calls, different accounts.
pub(crate) struct Graph {
    instagram: bool,
}

pub(crate) static FACEBOOK: Graph = Graph { instagram: false };
pub(crate) static INSTAGRAM: Graph = Graph { instagram: true };

fn graph(cx: &Call<'_>, path: &str) -> Result<Url, ProviderError> {
    let version = cx.settings.graph_version.as_str();
    cx.url(&format!("https://graph.facebook.com/{version}{path}"))
}

impl Graph {
    /// The app token `APP_ID|APP_SECRET`.
    fn app_token(cx: &Call<'_>) -> Result<(String, Secret), ProviderError> {
        let creds = cx.creds()?;
        Ok((
            format!(
                "{}|{}",
                creds.client_id,
                creds.client_secret.expose_secret()
            ),
            creds.client_secret.clone(),
        ))
    }

    /// `debug_token` for `token`, with the app token.
    async fn debug(
        &self,
        cx: &Call<'_>,
        token: &Secret,
    ) -> Result<(TokenCheck, Option<String>), ProviderError> {
        let (app_token, secret) = Self::app_token(cx)?;
        let t = token.expose_secret();
        let request = cx
            .transport
            .http
            .get(graph(cx, "/debug_token")?)
            .query(&[("input_token", t), ("access_token", app_token.as_str())]);
        let sent = [t, secret.expose_secret()];
        let answer = cx
            .transport
            .send(cx.provider, request, &sent)
            .await
            .map_err(not_about_the_user_token)?;
        let json = parse_json(cx.provider, &answer.body)?;
        match debug_token(&json).map_err(|what| unreadable(cx.provider, what))? {
            DebugToken::Check(check, user) => Ok((check, user)),
            DebugToken::Invalid(error) => {
                let body = error.to_string();
                Err(rejected(cx.provider, answer.status, body.as_bytes(), &sent))
            }
        }
    }

    /// Every Page of `/me/accounts`, following the `after` cursor: at most one past
    /// [`MAX_ACCOUNTS_PER_GRANT`], within [`PAGES_TIME_LIMIT`].
    async fn pages(
        &self,
        cx: &Call<'_>,
        token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        tokio::time::timeout(PAGES_TIME_LIMIT, self.read_pages(cx, token))
            .await
            .map_err(|_| ProviderError::Timeout {
                provider: cx.provider,
            })?
    }

    async fn read_pages(
        &self,
        cx: &Call<'_>,
        token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let url = graph(cx, "/me/accounts")?;
        let fields = if self.instagram {
            "id,name,access_token,instagram_business_account{id,username,name,profile_picture_url}"
        } else {
            "id,name,access_token,picture{url}"
        };
        let t = token.expose_secret();
        let mut found = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGE_REQUESTS {
            let mut request = cx
                .transport
                .http
                .get(url.clone())
                .query(&[("fields", fields), ("limit", "100")])
                .bearer_auth(t);
            if let Some(cursor) = &after {
                request = request.query(&[("after", cursor.as_str())]);
            }
            let json = cx.transport.send_json(cx.provider, request, &[t]).await?;
            let (accounts, next) =
                pages(self.instagram, &json).map_err(|what| unreadable(cx.provider, what))?;
            found.extend(accounts);
            if found.len() > MAX_ACCOUNTS_PER_GRANT {
                return Ok(found);
            }
            match next {
                Some(cursor) if Some(&cursor) != after.as_ref() => after = Some(cursor),
                _ => return Ok(found),
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Network for Graph {
    fn authorize_url(
        &self,
        cx: &Call<'_>,
        request: &AuthorizeRequest<'_>,
    ) -> Result<Url, ProviderError> {
        let creds = cx.creds()?;
        let challenge = pkce_challenge(cx, request)?;
        let version = cx.settings.graph_version.as_str();
        let mut url = cx.url(&format!("https://www.facebook.com/{version}/dialog/oauth"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &creds.client_id)
                .append_pair("redirect_uri", request.redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", &cx.provider.spec().default_scopes.join(","))
                .append_pair("state", request.state);
            if let Some(c) = challenge {
                q.append_pair("code_challenge", c.as_str())
                    .append_pair("code_challenge_method", c.method().as_str());
            }
            match request.consent {
                Consent::Connect => {}
                // Renews the 90-day data access.
                Consent::Reconnect => {
                    q.append_pair("auth_type", "reauthorize");
                }
                // Declined permissions are asked again only with `rerequest`.
                Consent::ReconnectMissingScopes => {
                    q.append_pair("auth_type", "rerequest");
                }
            }
        }
        Ok(url)
    }

    async fn exchange_code(
        &self,
        cx: &Call<'_>,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let creds = cx.creds()?;
        let mut query = vec![
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.expose_secret()),
            ("redirect_uri", redirect_uri),
            ("code", code.expose_secret()),
        ];
        if let Some(v) = code_verifier {
            query.push(("code_verifier", v.expose_secret()));
        }
        let request = cx
            .transport
            .http
            .get(graph(cx, "/oauth/access_token")?)
            .query(&query);
        let sent = [
            code.expose_secret(),
            creds.client_secret.expose_secret(),
            code_verifier.map_or("", ExposeSecret::expose_secret),
        ];
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
        let request = cx
            .transport
            .http
            .get(graph(cx, "/oauth/access_token")?)
            .query(&[
                ("grant_type", "fb_exchange_token"),
                ("client_id", creds.client_id.as_str()),
                ("client_secret", secret),
                ("fb_exchange_token", t),
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
        _access_token: &Secret,
        _refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        Err(cx.unsupported("refresh"))
    }

    async fn check(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        let (mut check, person) = self.debug(cx, access_token).await?;
        check.grant_owner = person.map(|p| owner(&p));
        Ok(check)
    }

    /// The Pages, each with the person's data access clock and granted scopes (one
    /// `debug_token` of the user token).
    async fn accounts(
        &self,
        cx: &Call<'_>,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let (check, person) = self.debug(cx, access_token).await?;
        let mut pages = self.pages(cx, access_token).await?;
        let owner = person.map(|p| owner(&p));
        for page in &mut pages {
            page.scopes = check.scopes.clone();
            page.data_access_expires_at = check.data_access_expires_at;
            page.grant_owner = owner.clone();
        }
        Ok(pages)
    }

    /// Removes the app for the person whose grant the token stands on.
    async fn revoke(&self, cx: &Call<'_>, tokens: HeldTokens<'_>) -> Result<(), ProviderError> {
        let (_, Some(person)) = self.debug(cx, tokens.access).await? else {
            return Err(unreadable(cx.provider, "debug_token named no user_id"));
        };
        let (app_token, secret) = Self::app_token(cx)?;
        let mut url = graph(cx, "/")?;
        url.path_segments_mut()
            .map_err(|()| unreadable(cx.provider, "the Graph URL cannot take a path"))?
            .pop_if_empty()
            .push(&person)
            .push("permissions");
        let request = cx
            .transport
            .http
            .delete(url)
            .query(&[("access_token", app_token.as_str())]);
        cx.transport
            .send_json(cx.provider, request, &[secret.expose_secret()])
            .await
            .map(|_| ())
    }

    /// One page of `/me/accounts`.
    fn read_accounts(&self, json: &Value) -> Result<Vec<RemoteAccount>, &'static str> {
        pages(self.instagram, json).map(|(found, _)| found)
    }

    fn classify(&self, _status: u16, json: &Value) -> Option<Verdict> {
        classify(json)
    }
}

/// The grant owner of a person's Facebook Login grant: Facebook Pages and Instagram via
/// Facebook share it.
fn owner(person: &str) -> String {
    format!("facebook_login:{person}")
}

/// `debug_token` reports problems with the checked token inside `data` (200); an error
/// object at the top level is about the call itself, i.e. the app token
/// `APP_ID|APP_SECRET` (Meta answers code 190 for a wrong app secret too). That must not
/// break the person's connection: it is our configuration.
fn not_about_the_user_token(error: ProviderError) -> ProviderError {
    match error {
        ProviderError::Rejected {
            provider,
            status,
            verdict: Verdict::Broken { .. },
            summary,
            code,
        } => ProviderError::Rejected {
            provider,
            status,
            verdict: Verdict::Unrecognised,
            summary,
            code,
        },
        other => other,
    }
}

/// One page of `/me/accounts`: the accounts found and the cursor of the next page.
fn pages(instagram: bool, v: &Value) -> Result<(Vec<RemoteAccount>, Option<String>), &'static str> {
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no data in the /me/accounts answer")?;
    let mut found = Vec::new();
    for page in data {
        // A Page without a Page token is one the person cannot manage: nothing to store.
        let (Some(page_id), Some(token)) = (text(page, "id"), text(page, "access_token")) else {
            continue;
        };
        let page_name = text(page, "name");
        if instagram {
            let Some(ig) = page.get("instagram_business_account") else {
                continue;
            };
            let Some(ig_id) = text(ig, "id") else {
                continue;
            };
            found.push(RemoteAccount {
                display_name: text(ig, "username")
                    .or_else(|| text(ig, "name"))
                    .or(page_name)
                    .unwrap_or_else(|| ig_id.clone()),
                external_id: ig_id,
                picture_url: text(ig, "profile_picture_url"),
                access_token: Some(Secret::from(token)),
                ..RemoteAccount::default()
            });
        } else {
            found.push(RemoteAccount {
                display_name: page_name.unwrap_or_else(|| page_id.clone()),
                picture_url: page
                    .get("picture")
                    .and_then(|p| p.get("data"))
                    .and_then(|d| text(d, "url")),
                external_id: page_id,
                access_token: Some(Secret::from(token)),
                ..RemoteAccount::default()
            });
        }
    }
    let next = v
        .get("paging")
        .filter(|p| p.get("next").is_some())
        .and_then(|p| p.get("cursors"))
        .and_then(|c| text(c, "after"));
    Ok((found, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_give_page_tokens_and_instagram_keeps_only_linked_accounts() {
        let v = json!({"data":[
            {"id":"p1","name":"Bakery","access_token":"page-1","picture":{"data":{"url":"https://p/1"}},
             "instagram_business_account":{"id":"ig1","username":"bakery.ig"}},
            {"id":"p2","name":"Shop","access_token":"page-2"},
            {"id":"p3","name":"No token"}
        ],"paging":{"cursors":{"before":"a","after":"b"},"next":"https://graph/next"}});

        let (fb, next) = pages(false, &v).unwrap();
        let (ig, _) = pages(true, &v).unwrap();

        assert_eq!(next.as_deref(), Some("b"));
        assert_eq!(
            fb.iter()
                .map(|a| a.external_id.as_str())
                .collect::<Vec<_>>(),
            ["p1", "p2"]
        );
        assert_eq!(fb[0].picture_url.as_deref(), Some("https://p/1"));
        assert_eq!(
            fb[1].access_token.as_ref().map(ExposeSecret::expose_secret),
            Some("page-2")
        );
        assert_eq!(ig.len(), 1);
        assert_eq!(ig[0].external_id, "ig1");
        assert_eq!(ig[0].display_name, "bakery.ig");
        assert_eq!(
            ig[0].access_token.as_ref().map(ExposeSecret::expose_secret),
            Some("page-1")
        );
    }
}
