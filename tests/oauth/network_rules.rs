//! Every network's true clock at connect (the networks' own rules): Meta's data access and
//! declined permissions, Google's testing status, Pinterest's continuous refresh, the Graph
//! version.

use super::*;

/// Meta's data access runs out 90 days after the person last used the app: the connect reads
/// it from `debug_token`, stores it with the person whose grant the Pages stand on, and the
/// token column's deadline is the earliest clock (the Page token itself never expires).
#[tokio::test]
async fn a_facebook_connect_keeps_the_persons_data_access_clock_as_the_deadline() {
    let h = OAuth::new().await;
    let deadline = (Utc::now() + Duration::days(20)).timestamp();
    h.fakes
        .control
        .patch_settings(
            Provider::Facebook,
            &SettingsPatch {
                data_access_expires_at: Some(deadline as u64),
                ..SettingsPatch::default()
            },
        )
        .await
        .unwrap();

    let back = h.connect(Provider::Facebook).await;

    assert_eq!(back.result, "connected");
    let user = FakeUser::default_for(Provider::Facebook);
    for id in &back.accounts {
        let account = h.stored(id).await;
        assert_eq!(
            account.data_access_expires_at.map(|t| t.timestamp()),
            Some(deadline)
        );
        assert_eq!(
            account.grant_owner.as_deref(),
            Some(format!("facebook_login:{}", user.external_id).as_str())
        );
        assert_eq!(
            account.access_expires_at, None,
            "a Page token never expires"
        );
        let column = account.token_column(h.clock.now());
        assert_eq!(column.reconnect_by.map(|t| t.timestamp()), Some(deadline));
        assert!(
            column.days_left.is_some_and(|d| (19..=20).contains(&d)),
            "{column:?}"
        );
        assert!(!column.auto_refresh);
    }
}

/// A consent that leaves out a permission needed to publish connects the account as
/// revoked, naming the permission; the reconnect asks for it again (`rerequest`), and once
/// granted a later reconnect only renews data access (`reauthorize`).
#[tokio::test]
async fn a_declined_posting_permission_connects_revoked_and_the_reconnect_asks_again() {
    let h = OAuth::new().await;
    let decline = |scopes: Vec<String>| SettingsPatch {
        decline: Some(scopes),
        ..SettingsPatch::default()
    };
    h.fakes
        .control
        .patch_settings(
            Provider::Facebook,
            &decline(vec!["pages_manage_posts".into()]),
        )
        .await
        .unwrap();

    let back = h.connect(Provider::Facebook).await;

    let id = back.accounts[0].clone();
    let column = h.stored(&id).await.token_column(h.clock.now());
    assert_eq!(column.status, Status::Revoked);
    assert_eq!(column.reason, Some(Reason::ScopesChanged));
    assert!(
        column.message.contains("pages_manage_posts"),
        "{}",
        column.message
    );

    let again = h.start_reconnect(&id).await;
    assert_eq!(param(&again, "auth_type").as_deref(), Some("rerequest"));
    h.fakes
        .control
        .patch_settings(Provider::Facebook, &decline(Vec::new()))
        .await
        .unwrap();
    let back = h.authorize(&again).await;
    let resp = h.callback(&callback_event(&back)).await;
    assert_eq!(h.land(&resp).await.result, "reconnected");
    let column = h.stored(&id).await.token_column(h.clock.now());
    assert_eq!(column.status, Status::Active, "{column:?}");

    let renew = h.start_reconnect(&id).await;
    assert_eq!(param(&renew, "auth_type").as_deref(), Some("reauthorize"));
    let log = h.log().await;
    let asked: Vec<_> = kinds(&log, EndpointKind::Authorize)
        .iter()
        .map(|r| r.auth_type.clone())
        .collect();
    assert_eq!(asked, [None, Some("rerequest".to_owned())]);
}

/// Apps in Google's "Testing" status get refresh tokens that die after 7 days: the column
/// shows that deadline. A reconnect revokes nothing: Google's revocation ends the person's
/// grant to the app, which would end the refresh token the reconnect just stored (the one
/// it replaced is the oldest of Google's 100 and goes first).
#[tokio::test]
async fn google_in_testing_status_shows_seven_days_and_a_reconnect_revokes_nothing() {
    let h = OAuth::with_settings(NetworkSettings {
        google_testing: true,
        ..NetworkSettings::default()
    })
    .await;
    let back = h.connect(Provider::Google).await;
    let id = back.accounts[0].clone();
    let first = h.stored(&id).await;
    let now = h.clock.now();
    assert_eq!(first.refresh_expires_at, Some(now + Duration::days(7)));
    let column = first.token_column(now);
    assert_eq!(column.status, Status::Expiring);
    assert_eq!(column.days_left, Some(7));
    assert_eq!(
        first.grant_owner,
        Some(format!("google:{}", first.external_id))
    );

    let again = h.start_reconnect(&id).await;
    let back = h.authorize(&again).await;
    assert_eq!(
        h.land(&h.callback(&callback_event(&back)).await)
            .await
            .result,
        "reconnected"
    );

    assert!(kinds(&h.log().await, EndpointKind::Revoke).is_empty());
    let after = h.stored(&id).await;
    let token = h.open(&after, TokenSlot::Refresh).expect("a refresh token");
    let refreshed = h
        .providers
        .refresh(
            Provider::Google,
            &tokenwarden::domain::Secret::from(h.open(&after, TokenSlot::Access).unwrap()),
            Some(&tokenwarden::domain::Secret::from(token)),
        )
        .await;
    assert!(refreshed.is_ok(), "the new grant works: {refreshed:?}");
}

/// Pinterest apps created before 2025-09-25 get the continuous refresh token only when the
/// code exchange asks for it; the fake is such an app.
#[tokio::test]
async fn pinterest_asks_for_continuous_refresh_and_gets_sixty_days() {
    let h = OAuth::new().await;

    let back = h.connect(Provider::Pinterest).await;

    let log = h.log().await;
    let exchange = kinds(&log, EndpointKind::Token);
    assert_eq!(exchange[0].continuous_refresh.as_deref(), Some("true"));
    let account = h.stored(&back.accounts[0]).await;
    assert_eq!(
        account.refresh_expires_at,
        Some(h.clock.now() + Duration::days(60))
    );
}

/// The Graph API version is a setting: every Facebook call goes to it, and a version Meta
/// does not serve fails the connect instead of storing anything.
#[tokio::test]
async fn the_graph_version_setting_moves_every_call_and_an_unserved_one_fails() {
    let version = |v: &str| NetworkSettings {
        graph_version: GraphVersion::parse(v).unwrap(),
        ..NetworkSettings::default()
    };
    let h = OAuth::with_settings(version("v27.0")).await;
    assert_eq!(h.connect(Provider::Facebook).await.result, "connected");
    let log = h.log().await;
    let graph: Vec<_> = log
        .iter()
        .filter(|r| r.provider == Some(Provider::Facebook))
        .collect();
    assert!(graph.len() >= 4, "{graph:?}");
    for r in graph {
        assert!(r.path.starts_with("/facebook/v27.0/"), "{}", r.path);
    }

    // v19.0 is past its end of life: Meta's dialog itself refuses it.
    let gone = OAuth::with_settings(version("v19.0")).await;
    let authorize = gone.start_connect(Provider::Facebook).await;
    assert!(
        authorize.path().starts_with("/facebook/v19.0/"),
        "{authorize}"
    );
    let answer = gone.browser.get(authorize).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    assert!(answer.text().await.unwrap().contains("2500"));
    assert!(gone.accounts().await.is_empty());
}
