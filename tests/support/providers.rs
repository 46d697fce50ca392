//! The provider client port's decorator: any [`ProviderClient`] (the real HTTP adapter on
//! the provider fakes, as a rule), observed. The observer is told when each network call
//! starts and ends, sees every grant handed out and may rewrite what a check or an
//! account listing answers; the OAuth tests keep the grants, the sweep tests count calls
//! in flight and move the networks' clocks onto the simulated timeline, the bench counts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokenwarden::domain::{Provider, Secret};
use tokenwarden::providers::{
    AuthorizeRequest, HeldTokens, ProviderClient, ProviderError, RemoteAccount, TokenCheck,
    TokenGrant,
};

/// Which call handed a grant out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantCall {
    Exchange,
    LongLived,
    Refresh,
}

/// What a [`ObservedProviders`] tells its observer. Every method but `enter` has a default
/// that changes nothing.
pub trait ProviderObserver: Send + Sync {
    /// Held while one network call runs (dropped also when the call is cancelled).
    type Guard<'a>: Send
    where
        Self: 'a;

    fn enter(&self, provider: Provider) -> Self::Guard<'_>;

    fn granted(&self, _provider: Provider, _call: GrantCall, _grant: &TokenGrant) {}

    fn checked(&self, _token: &Secret, check: TokenCheck) -> TokenCheck {
        check
    }

    fn listed(&self, _token: &Secret, accounts: Vec<RemoteAccount>) -> Vec<RemoteAccount> {
        accounts
    }
}

/// `inner`, with every network call shown to `observer`.
pub struct ObservedProviders<O> {
    pub inner: Arc<dyn ProviderClient>,
    pub observer: O,
}

impl<O: ProviderObserver> ObservedProviders<O> {
    pub fn new(inner: Arc<dyn ProviderClient>, observer: O) -> Self {
        Self { inner, observer }
    }

    fn grant(
        &self,
        provider: Provider,
        call: GrantCall,
        answer: Result<TokenGrant, ProviderError>,
    ) -> Result<TokenGrant, ProviderError> {
        let grant = answer?;
        self.observer.granted(provider, call, &grant);
        Ok(grant)
    }
}

#[async_trait]
impl<O: ProviderObserver> ProviderClient for ObservedProviders<O> {
    fn offered(&self) -> Vec<Provider> {
        self.inner.offered()
    }

    fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<url::Url, ProviderError> {
        self.inner.authorize_url(request)
    }

    async fn exchange_code(
        &self,
        provider: Provider,
        code: &Secret,
        redirect_uri: &str,
        code_verifier: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let _in = self.observer.enter(provider);
        let answer = (self.inner)
            .exchange_code(provider, code, redirect_uri, code_verifier)
            .await;
        self.grant(provider, GrantCall::Exchange, answer)
    }

    async fn long_lived(
        &self,
        provider: Provider,
        grant: TokenGrant,
    ) -> Result<TokenGrant, ProviderError> {
        let _in = self.observer.enter(provider);
        let answer = self.inner.long_lived(provider, grant).await;
        self.grant(provider, GrantCall::LongLived, answer)
    }

    async fn refresh(
        &self,
        provider: Provider,
        access_token: &Secret,
        refresh_token: Option<&Secret>,
    ) -> Result<TokenGrant, ProviderError> {
        let _in = self.observer.enter(provider);
        let answer = (self.inner)
            .refresh(provider, access_token, refresh_token)
            .await;
        self.grant(provider, GrantCall::Refresh, answer)
    }

    async fn check(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<TokenCheck, ProviderError> {
        let _in = self.observer.enter(provider);
        let check = self.inner.check(provider, access_token).await?;
        Ok(self.observer.checked(access_token, check))
    }

    async fn accounts(
        &self,
        provider: Provider,
        access_token: &Secret,
    ) -> Result<Vec<RemoteAccount>, ProviderError> {
        let _in = self.observer.enter(provider);
        let accounts = self.inner.accounts(provider, access_token).await?;
        Ok(self.observer.listed(access_token, accounts))
    }

    async fn revoke(
        &self,
        provider: Provider,
        tokens: HeldTokens<'_>,
    ) -> Result<(), ProviderError> {
        let _in = self.observer.enter(provider);
        self.inner.revoke(provider, tokens).await
    }
}

/// An observer that keeps every grant handed out, in order.
#[derive(Default)]
pub struct GrantLog(Mutex<Vec<(Provider, GrantCall, TokenGrant)>>);

impl GrantLog {
    /// The last grant of `provider` that an exchange (or the long-lived exchange after it)
    /// handed out.
    pub fn last_connect_grant(&self, provider: Provider) -> Option<TokenGrant> {
        let grants = self.0.lock().unwrap_or_else(|e| e.into_inner());
        grants
            .iter()
            .rev()
            .find(|(p, call, _)| *p == provider && *call != GrantCall::Refresh)
            .map(|(_, _, grant)| grant.clone())
    }
}

impl ProviderObserver for GrantLog {
    type Guard<'a> = ();

    fn enter(&self, _provider: Provider) {}

    fn granted(&self, provider: Provider, call: GrantCall, grant: &TokenGrant) {
        let mut grants = self.0.lock().unwrap_or_else(|e| e.into_inner());
        grants.push((provider, call, grant.clone()));
    }
}

/// An observer that counts calls: in all, in flight at once (overall and per network).
#[derive(Default)]
pub struct InFlight {
    calls: AtomicU64,
    total: AtomicUsize,
    max_total: AtomicUsize,
    /// Per network: (in flight now, most at once).
    by_provider: Mutex<BTreeMap<Provider, (usize, usize)>>,
}

/// Leaves the in-flight counts when dropped.
pub struct InFlightGuard<'a> {
    counts: &'a InFlight,
    provider: Provider,
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::SeqCst);
        let mut map = (self.counts.by_provider)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(&self.provider) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

impl InFlight {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The most calls in flight at once, all networks together.
    pub fn max_total(&self) -> usize {
        self.max_total.load(Ordering::SeqCst)
    }

    /// The most calls to `provider` in flight at once.
    pub fn max(&self, provider: Provider) -> usize {
        self.max_by_provider().get(&provider).copied().unwrap_or(0)
    }

    pub fn max_by_provider(&self) -> BTreeMap<Provider, usize> {
        let map = self.by_provider.lock().unwrap_or_else(|e| e.into_inner());
        map.iter().map(|(p, (_, max))| (*p, *max)).collect()
    }

    /// Counts one call to `provider` until the guard is dropped.
    pub fn enter(&self, provider: Provider) -> InFlightGuard<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let total = self.total.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_total.fetch_max(total, Ordering::SeqCst);
        let mut map = self.by_provider.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.entry(provider).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
        InFlightGuard {
            counts: self,
            provider,
        }
    }
}

impl ProviderObserver for InFlight {
    type Guard<'a> = InFlightGuard<'a>;

    fn enter(&self, provider: Provider) -> InFlightGuard<'_> {
        InFlight::enter(self, provider)
    }
}
