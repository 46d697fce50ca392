//! A full connect for each network (start, the fake's authorize page, callback, everything
//! the account holds), and the bounds on what one consent may bring: the profile's text,
//! hundreds of Pages, the team's account limit.

use super::*;

/// The lifetimes the account must store for `grant` (what the fake returned), connected
/// at `now`: the answer's `expires_in` / refresh expiry, the catalogue's default only where
/// the answer is silent; a Page token (`page`) has no expiry.
fn lifetimes_from(
    provider: Provider,
    grant: &TokenGrant,
    page: bool,
    now: chrono::DateTime<Utc>,
) -> (Option<chrono::DateTime<Utc>>, Option<chrono::DateTime<Utc>>) {
    if page {
        return (None, None);
    }
    let spec = provider.spec();
    let access = grant.expires_in.or(spec.default_access_lifetime);
    let refresh = match grant.refresh_token {
        Some(_) => grant.refresh_expires_in.or(spec.default_refresh_lifetime),
        None => None,
    };
    (access.map(|d| now + d), refresh.map(|d| now + d))
}

/// The Page tokens the fake hands out for a user token (stable per grant).
async fn page_tokens(h: &OAuth, provider: Provider, user_token: &str) -> HashMap<String, String> {
    let mut url = h.fakes.base_url.clone();
    url.set_path(&format!(
        "/{}/{}/me/accounts",
        provider.id(),
        GraphVersion::DEFAULT
    ));
    let body: serde_json::Value = h
        .browser
        .get(url)
        .query(&[
            ("fields", "id,access_token,instagram_business_account{id}"),
            ("limit", "100"),
        ])
        .bearer_auth(user_token)
        .send()
        .await
        .expect("/me/accounts")
        .json()
        .await
        .expect("JSON");
    let mut out = HashMap::new();
    for page in body["data"].as_array().expect("data") {
        let token = page["access_token"]
            .as_str()
            .expect("page token")
            .to_owned();
        out.insert(page["id"].as_str().expect("id").to_owned(), token.clone());
        if let Some(ig) = page["instagram_business_account"]["id"].as_str() {
            out.insert(ig.to_owned(), token);
        }
    }
    out
}

/// start → the fake's authorize page → callback, then everything the account holds.
async fn connects(provider: Provider) {
    let h = OAuth::new().await;
    let now = h.clock.now();

    let back = h.connect(provider).await;

    assert_eq!(back.result, "connected", "{}", back.url);
    let log = h.log().await;
    // PKCE: a challenge at authorize exactly where the network takes one, and the verifier
    // sent at the token endpoint is the challenge's.
    let authorize = kinds(&log, EndpointKind::Authorize);
    let token = kinds(&log, EndpointKind::Token);
    assert_eq!((authorize.len(), token.len()), (1, 1), "{log:#?}");
    let spec = provider.spec();
    match (&authorize[0].code_challenge, &token[0].code_verifier) {
        (Some(ch), Some(verifier)) => {
            assert!(spec.pkce.used(), "{provider}");
            assert_eq!(*ch, provider_fakes::s256_challenge(verifier));
            assert!(verifier.len() >= 43);
        }
        (None, None) => assert!(!spec.pkce.used(), "{provider} takes PKCE"),
        other => panic!("{provider}: challenge and verifier do not pair: {other:?}"),
    }
    // The exact redirect URI, at authorize and at the exchange.
    let redirect = format!("{CALLBACK_BASE}/oauth/{}/callback", provider.id());
    assert_eq!(
        authorize[0].redirect_uri.as_deref(),
        Some(redirect.as_str())
    );
    assert_eq!(token[0].redirect_uri.as_deref(), Some(redirect.as_str()));
    // Meta, Instagram Login and Threads: the short-lived token is exchanged.
    let exchanged = kinds(&log, EndpointKind::Exchange).len();
    assert_eq!(
        exchanged,
        usize::from(matches!(
            provider,
            Provider::Facebook | Provider::Instagram | Provider::InstagramLogin | Provider::Threads
        )),
        "{provider}"
    );

    let user = FakeUser::default_for(provider);
    let accounts = h.accounts().await;
    assert_eq!(
        accounts.len(),
        back.accounts.len(),
        "one account per id in the URL"
    );
    let grant = h.last_grant(provider);
    // The fake states the access lifetime everywhere (after the long-lived exchange).
    assert!(grant.expires_in.is_some(), "{provider}: {grant:?}");
    let expected: Vec<(String, String, Option<String>)> = match provider {
        Provider::Facebook => user
            .pages
            .iter()
            .map(|p| {
                let pic = format!("https://fake.invalid/pages/{}.png", p.id);
                (p.id.clone(), p.name.clone(), Some(pic))
            })
            .collect(),
        Provider::Instagram => user
            .pages
            .iter()
            .filter_map(|p| p.instagram_business_account.as_ref())
            .map(|ig| {
                (
                    ig.id.clone(),
                    ig.username.clone(),
                    ig.profile_picture_url.clone(),
                )
            })
            .collect(),
        _ => vec![(
            user.external_id.clone(),
            user.name.clone(),
            user.picture_url.clone(),
        )],
    };
    assert_eq!(accounts.len(), expected.len(), "{provider}");
    // The token the fake issued last is the one the profile or Pages read presented.
    let reads = match provider {
        Provider::Facebook | Provider::Instagram => kinds(&log, EndpointKind::Accounts),
        _ => kinds(&log, EndpointKind::Profile),
    };
    let user_token = grant.access_token.expose_secret().to_owned();
    assert_eq!(
        reads.last().and_then(|r| r.access_token.clone()),
        Some(user_token.clone())
    );
    let pages = match provider {
        Provider::Facebook | Provider::Instagram => page_tokens(&h, provider, &user_token).await,
        _ => HashMap::new(),
    };
    for (external_id, name, picture) in expected {
        let account = accounts
            .iter()
            .find(|a| a.external_id == external_id)
            .unwrap_or_else(|| panic!("{provider}: {external_id} not stored"));
        assert!(back.accounts.contains(&account.id));
        assert_eq!(account.provider, provider);
        assert_eq!(account.display_name, name);
        assert_eq!(account.picture_url, picture);
        assert!(!account.scopes.is_empty());
        assert_eq!(account.connected_by.as_str(), USER);
        assert_eq!(account.status(now), Status::Active);
        assert!(account.next_due_at.is_some_and(|d| d > now));
        assert_eq!(account.version, 1);
        let (access_at, refresh_at) =
            lifetimes_from(provider, &grant, pages.contains_key(&external_id), now);
        assert_eq!(
            account.access_expires_at, access_at,
            "{provider}: access lifetime"
        );
        assert_eq!(
            account.refresh_expires_at, refresh_at,
            "{provider}: refresh lifetime"
        );
        // Sealed at rest, and opening to exactly the token the fake issued.
        assert!(account.tokens.access.as_stored().starts_with("tw1.k1."));
        let access = h.open(account, TokenSlot::Access).expect("an access token");
        let issued = pages
            .get(&external_id)
            .cloned()
            .unwrap_or_else(|| user_token.clone());
        assert_eq!(access, issued, "{provider}");
        let refresh = h.open(account, TokenSlot::Refresh);
        let issued_refresh = grant
            .refresh_token
            .as_ref()
            .map(|r| r.expose_secret().to_owned());
        assert_eq!(refresh, issued_refresh, "{provider}: refresh token");
        assert_eq!(
            refresh.is_some(),
            spec.keep_alive.uses_refresh_token(),
            "{provider}: a refresh token where the network keeps alive with one"
        );
    }
}

#[tokio::test]
async fn connect_facebook_stores_one_account_per_page_with_page_tokens() {
    connects(Provider::Facebook).await;
}

#[tokio::test]
async fn connect_instagram_via_facebook_stores_the_business_accounts_of_the_pages() {
    connects(Provider::Instagram).await;
}

#[tokio::test]
async fn connect_instagram_login_exchanges_for_a_long_lived_token() {
    connects(Provider::InstagramLogin).await;
}

#[tokio::test]
async fn connect_threads_exchanges_for_a_long_lived_token() {
    connects(Provider::Threads).await;
}

#[tokio::test]
async fn connect_linkedin_stores_the_refresh_token_and_its_expiry() {
    connects(Provider::Linkedin).await;
}

#[tokio::test]
async fn connect_x_uses_pkce_and_basic_auth() {
    connects(Provider::X).await;
    // Basic auth is the fake's to check: a wrong form would have failed the exchange.
}

#[tokio::test]
async fn connect_google_asks_for_offline_access() {
    connects(Provider::Google).await;
}

#[tokio::test]
async fn connect_tiktok_reads_the_lifetimes_from_the_answer() {
    connects(Provider::Tiktok).await;
}

#[tokio::test]
async fn connect_pinterest_stores_the_refresh_token_and_its_expiry() {
    connects(Provider::Pinterest).await;
}

#[tokio::test]
async fn the_authorize_urls_carry_each_networks_parameters() {
    let h = OAuth::new().await;

    let x = h.start_connect(Provider::X).await;
    let google = h.start_connect(Provider::Google).await;
    let tiktok = h.start_connect(Provider::Tiktok).await;

    assert_eq!(param(&x, "code_challenge_method").as_deref(), Some("S256"));
    assert!(param(&x, "scope").is_some_and(|s| s.split(' ').any(|s| s == "offline.access")));
    assert_eq!(param(&google, "access_type").as_deref(), Some("offline"));
    assert_eq!(param(&google, "prompt").as_deref(), Some("consent"));
    assert!(param(&tiktok, "client_key").is_some() && param(&tiktok, "client_id").is_none());
    assert!(param(&tiktok, "code_challenge").is_none());
    for url in [&x, &google, &tiktok] {
        let state = param(url, "state").expect("a state");
        assert_eq!(state.len(), 43, "256 random bits, base64url");
        assert!(!url.as_str().contains("client-secret"), "{url}");
    }
    assert_ne!(param(&x, "state"), param(&google, "state"));
}

#[tokio::test]
async fn facebook_without_pages_goes_back_with_an_error_and_stores_nothing() {
    let h = OAuth::new().await;
    let mut user = FakeUser::default_for(Provider::Facebook);
    user.pages.clear();
    h.fakes
        .control
        .set_user(Provider::Facebook, &user)
        .await
        .unwrap();

    let back = h.connect(Provider::Facebook).await;

    assert_eq!(back.result, "error");
    assert_eq!(back.reason.as_deref(), Some("no_accounts"));
    assert!(
        h.items().await.is_empty(),
        "nothing stored, the state consumed"
    );
}

#[tokio::test]
async fn connecting_an_account_the_team_already_has_updates_it_in_place() {
    let h = OAuth::new().await;
    let first = h.connect(Provider::X).await;
    let before = h.stored(&first.accounts[0]).await;

    let second = h.connect(Provider::X).await;

    assert_eq!(second.result, "connected");
    assert_eq!(
        second.accounts, first.accounts,
        "the same account, not a second one"
    );
    assert_eq!(h.accounts().await.len(), 1);
    let after = h.stored(&first.accounts[0]).await;
    assert_eq!(after.version, before.version + 1);
    assert_ne!(
        h.open(&after, TokenSlot::Access),
        h.open(&before, TokenSlot::Access),
        "the new grant's tokens"
    );
    assert_eq!(after.connected_at, before.connected_at);
}

/// What a network says about an account reaches the token column, mails and events: a
/// hostile or careless profile cannot carry bidi overrides, zero-width characters or a
/// script URL into them.
#[tokio::test]
async fn a_hostile_profile_is_stored_without_bidi_characters_or_a_script_picture() {
    let h = OAuth::new().await;
    let mut user = FakeUser::default_for(Provider::X);
    user.name = "\u{202E}gnp.exe\u{200B}\u{2066} Ada \u{2069}".into();
    user.picture_url = Some("javascript:alert(1)".into());
    h.fakes.control.set_user(Provider::X, &user).await.unwrap();

    let back = h.connect(Provider::X).await;

    assert_eq!(back.result, "connected");
    let account = h.stored(&back.accounts[0]).await;
    assert_eq!(account.display_name, "gnp.exe Ada");
    assert_eq!(account.picture_url, None);
}

/// A consent that brings hundreds of Pages is handled within the function's time: they are
/// stored 16 at a time; one bringing more than 500 is refused as `too_many_accounts` with
/// nothing stored, after reading no more of `/me/accounts` than it takes to know.
#[tokio::test]
async fn a_consent_with_hundreds_of_pages_is_bounded() {
    let pages = |n: usize| {
        let mut user = FakeUser::default_for(Provider::Facebook);
        user.pages = (0..n)
            .map(|i| provider_fakes::FakePage {
                id: format!("{}", 200_000_000_000_000u64 + i as u64),
                name: format!("Page {i}"),
                instagram_business_account: None,
            })
            .collect();
        user
    };
    let h = OAuth::new().await;
    h.fakes
        .control
        .set_user(Provider::Facebook, &pages(300))
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let many = h.connect(Provider::Facebook).await;
    let took = started.elapsed();

    assert_eq!(many.result, "connected");
    assert_eq!(many.accounts.len(), 300);
    let mut stored = 0;
    let mut cursor = None;
    loop {
        let page = h
            .store
            .list_accounts(&team(TEAM), 100, cursor.as_ref())
            .await
            .unwrap();
        stored += page.items.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(stored, 300);
    eprintln!("300 Pages connected in {took:?}");
    assert!(
        many.url.as_str().len() < 200,
        "the redirect carries a handle, not ids"
    );

    let too_many = OAuth::new().await;
    too_many
        .fakes
        .control
        .set_user(Provider::Facebook, &pages(1_200))
        .await
        .unwrap();
    let refused = too_many.connect(Provider::Facebook).await;
    assert_eq!(refused.result, "error");
    assert_eq!(refused.reason.as_deref(), Some("too_many_accounts"));
    assert!(too_many.accounts().await.is_empty());
    let reads = kinds(&too_many.log().await, EndpointKind::Accounts).len();
    assert!(reads <= 7, "{reads} /me/accounts reads");
}

/// A team's accounts are capped: a consent that would take it past the limit is refused
/// as `team_account_limit`, nothing stored (here with a limit of 3; the functions use
/// `MAX_ACCOUNTS_PER_TEAM`).
#[tokio::test]
async fn a_consent_past_the_teams_account_limit_is_refused() {
    let mut h = OAuth::new().await;
    h.callback_api.callback.team_account_limit = 3;
    assert_eq!(h.connect(Provider::X).await.result, "connected");
    assert_eq!(h.connect(Provider::Linkedin).await.result, "connected");

    // Facebook brings two Pages: 2 + 2 is past 3.
    let refused = h.connect(Provider::Facebook).await;

    assert_eq!(refused.result, "error");
    assert_eq!(refused.reason.as_deref(), Some("team_account_limit"));
    assert_eq!(h.accounts().await.len(), 2);
    // One more fits.
    assert_eq!(h.connect(Provider::Google).await.result, "connected");
    assert_eq!(h.accounts().await.len(), 3);
}
