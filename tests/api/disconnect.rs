//! Disconnect: revoked at the network where it can be, everything of the account removed
//! (ledger entries, lease), a grant another team's Page stands on kept.

use super::*;

async fn pending(h: &Harness, team_id: &str, account: &str) -> usize {
    h.store
        .pending_for_team(&team(team_id))
        .await
        .unwrap()
        .iter()
        .filter(|e| e.account.as_str() == account)
        .count()
}

async fn add_pending(h: &Harness, team_id: &str, account: &str, milestone: Milestone) {
    let now = h.clock.now();
    assert!(h
        .store
        .record_pending(&LedgerEntry {
            team: team(team_id),
            account: account_id(account),
            milestone,
            state: MailState::Pending,
            created_at: now,
            updated_at: now,
            detail: None,
            sent_to: Vec::new(),
            audience: None,
        })
        .await
        .unwrap());
}

#[tokio::test]
async fn disconnect_revokes_at_the_network_and_removes_everything_of_the_account() {
    let (h, rec) = Harness::with_recorder().await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-demo-1")
            .external_id("page-77")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-other")
            .grant_owner("facebook_login:person-2")
            .build(),
    )
    .await;
    add_pending(
        &h,
        "team-demo",
        "acc-demo-1",
        Milestone::Expiring { days: 7 },
    )
    .await;
    add_pending(&h, "team-demo", "acc-demo-1", Milestone::Disconnected).await;
    add_pending(&h, "team-demo", "acc-other", Milestone::Expired).await;

    let resp = h.accounts(&Event::load("accounts/delete.json")).await;
    let again = h.accounts(&Event::load("accounts/delete.json")).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    assert_eq!(resp.json["revocation"], "revoked", "{}", resp.text);
    assert_eq!(resp.json["removed"], true);
    assert_eq!(
        rec.revoked(),
        [(Provider::Facebook, canary("acc-demo-1", "access"))],
        "revoked at Facebook with the account's own access token"
    );
    let t = team("team-demo");
    assert!(h
        .store
        .get_account(&t, &account_id("acc-demo-1"))
        .await
        .unwrap()
        .is_none());
    assert!(h
        .store
        .find_by_external_id(&t, Provider::Facebook, "page-77")
        .await
        .unwrap()
        .is_none());
    assert_eq!(pending(&h, "team-demo", "acc-demo-1").await, 0);
    assert_eq!(
        pending(&h, "team-demo", "acc-other").await,
        1,
        "other accounts keep theirs"
    );
    assert!(h
        .store
        .get_account(&t, &account_id("acc-other"))
        .await
        .unwrap()
        .is_some());
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn disconnect_calls_the_fake_networks_revoke_endpoint_where_the_network_has_one() {
    let fakes = provider_fakes::start_local()
        .await
        .expect("provider fakes start");
    let client = tokenwarden::providers::HttpProviderClient::new(
        fakes.credentials(),
        fakes.endpoints(),
        std::time::Duration::from_secs(5),
    )
    .expect("provider client");
    let h = Harness::new(Arc::new(client)).await;
    // The Facebook Page was connected before its grant's owner was recorded: nothing can
    // tell whether other accounts need the person's grant, so it is not revoked.
    let cases = [
        ("acc-fb", Provider::Facebook, false),
        ("acc-x", Provider::X, true),
        ("acc-google", Provider::Google, true),
        ("acc-linkedin", Provider::Linkedin, true),
        ("acc-threads", Provider::Threads, false),
        ("acc-pinterest", Provider::Pinterest, false),
    ];
    for (id, provider, _) in cases {
        h.seed(AccountBuilder::new("team-a", id).provider(provider).build())
            .await;
    }

    let mut statuses = Vec::new();
    for (id, _, _) in cases {
        statuses.push(
            h.accounts(&account_event("accounts/delete.json", "team-a", id))
                .await
                .status,
        );
    }

    assert_eq!(statuses, [200; 6]);
    let revokes: Vec<_> = fakes
        .control
        .requests()
        .await
        .expect("the fakes' request log")
        .into_iter()
        .filter(|r| r.kind == Some(provider_fakes::EndpointKind::Revoke))
        .collect();
    for (id, provider, revocable) in cases {
        let called = revokes.iter().any(|r| {
            r.provider == Some(provider) && r.access_token.as_deref() == Some(&canary(id, "access"))
        });
        assert_eq!(
            called, revocable,
            "{provider}: revoke endpoint called with {id}'s token"
        );
    }
    assert_eq!(revokes.len(), 3);
    assert_eq!(
        ids(&h.accounts(&list("team-a")).await),
        Vec::<String>::new()
    );
}

/// The store's `delete_account` is to remove the account's refresh lease with it (so a
/// disconnected account leaves nothing behind, not even until the lease's TTL).
#[tokio::test]
async fn disconnect_removes_the_account_lease() {
    let (h, _) = Harness::with_recorder().await;
    h.seed(
        AccountBuilder::new("team-demo", "acc-demo-1")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    let lease = LeaseKey::Account(team("team-demo"), account_id("acc-demo-1"));
    let now = h.clock.now();
    assert!(h
        .store
        .acquire(&lease, "sweep-1", now, Duration::minutes(5))
        .await
        .unwrap());

    let resp = h.accounts(&Event::load("accounts/delete.json")).await;

    assert_eq!(resp.status, 200, "{}", resp.text);
    assert!(
        h.store
            .acquire(&lease, "sweep-2", now, Duration::minutes(5))
            .await
            .unwrap(),
        "the lease held by sweep-1 is gone with the account"
    );
}

/// Meta's revocation removes the app for the person everywhere: a Page another team
/// connected through the same person keeps the grant, and the answer says so.
#[tokio::test]
async fn a_meta_disconnect_keeps_the_grant_another_teams_page_stands_on() {
    let (h, rec) = Harness::with_recorder().await;
    for (t, id, owner) in [
        ("team-a", "acc-fb", "facebook_login:person-1"),
        ("team-b", "acc-ig", "facebook_login:person-1"),
        ("team-b", "acc-alone", "facebook_login:person-9"),
    ] {
        let provider = if id == "acc-ig" {
            Provider::Instagram
        } else {
            Provider::Facebook
        };
        h.seed(
            AccountBuilder::new(t, id)
                .provider(provider)
                .grant_owner(owner)
                .build(),
        )
        .await;
    }

    let shared = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-fb"))
        .await;
    let alone = h
        .accounts(&account_event(
            "accounts/delete.json",
            "team-b",
            "acc-alone",
        ))
        .await;

    assert_eq!(shared.status, 200, "{}", shared.text);
    assert_eq!(shared.json["revocation"], "kept_for_other_connections");
    assert!(
        shared.json["message"]
            .as_str()
            .is_some_and(|m| m.contains("other connected accounts")),
        "{}",
        shared.text
    );
    assert_eq!(alone.json["revocation"], "revoked", "{}", alone.text);
    assert_eq!(
        rec.revoked(),
        [(Provider::Facebook, canary("acc-alone", "access"))],
        "only the grant nothing else stands on is revoked"
    );
    // Google's revocation ends the person's grant too: the same rule holds.
    for (t, id) in [("team-a", "acc-g1"), ("team-b", "acc-g2")] {
        h.seed(
            AccountBuilder::new(t, id)
                .provider(Provider::Google)
                .grant_owner("google:person-g")
                .build(),
        )
        .await;
    }
    let google = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-g1"))
        .await;
    assert_eq!(
        google.json["revocation"], "kept_for_other_connections",
        "{}",
        google.text
    );
    // Once the other team's account is gone too, the last one out revokes.
    let last = h
        .accounts(&account_event("accounts/delete.json", "team-b", "acc-ig"))
        .await;
    assert_eq!(last.json["revocation"], "revoked", "{}", last.text);
}

#[tokio::test]
async fn disconnect_goes_ahead_when_revocation_fails_or_the_network_has_none() {
    let failing = Arc::new(RecordingProviders {
        fail_revoke: true,
        ..RecordingProviders::default()
    });
    let h = Harness::new(failing.clone()).await;
    h.seed(
        AccountBuilder::new("team-a", "acc-fb")
            .grant_owner("facebook_login:person-1")
            .build(),
    )
    .await;
    h.seed(
        AccountBuilder::new("team-a", "acc-threads")
            .provider(Provider::Threads)
            .build(),
    )
    .await;

    let fb = h
        .accounts(&account_event("accounts/delete.json", "team-a", "acc-fb"))
        .await;
    let threads = h
        .accounts(&account_event(
            "accounts/delete.json",
            "team-a",
            "acc-threads",
        ))
        .await;

    assert_eq!(fb.status, 200);
    assert_eq!(fb.json["revocation"], "failed", "{}", fb.text);
    assert_eq!(threads.status, 200);
    assert_eq!(
        threads.json["revocation"], "not_offered",
        "{}",
        threads.text
    );
    assert_eq!(
        failing.revoked(),
        [(Provider::Facebook, canary("acc-fb", "access"))],
        "Threads offers no revocation: not called"
    );
    let listed = h.accounts(&list("team-a")).await;
    assert_eq!(ids(&listed), Vec::<String>::new());
}
