//! Taken by one: an OAuth state consumed exactly once, a lease held by one holder until
//! released, expired or freed with its account.

use super::*;

fn state(id: &str, expires_at: DateTime<Utc>) -> OAuthState {
    let allow = OriginAllowlist::parse("https://app.example.com").unwrap();
    OAuthState {
        id: id.into(),
        team: team("t"),
        user: UserId::parse("user-1").unwrap(),
        provider: Provider::X,
        return_to: ReturnUrl::parse("https://app.example.com/settings?tab=social", &allow).unwrap(),
        account: Some(account_id("acc-1")),
        pkce_verifier: Some(Secret::from("verifier-0123456789")),
        redirect_uri: "https://api.example.com/oauth/x/callback".into(),
        created_at: expires_at - Duration::minutes(10),
        expires_at,
    }
}

/// A state read back is the one issued, but for its id (read back, the hash it is stored
/// under); the verifier, redacted in Debug, is compared by its text.
fn assert_same_state(got: &OAuthState, issued: &OAuthState) {
    let expected = OAuthState {
        id: got.id.clone(),
        ..issued.clone()
    };
    assert_eq!(format!("{got:?}"), format!("{expected:?}"));
    assert_eq!(
        got.pkce_verifier.as_ref().map(ExposeSecret::expose_secret),
        issued
            .pkce_verifier
            .as_ref()
            .map(ExposeSecret::expose_secret)
    );
}

#[tokio::test]
async fn of_two_parallel_consumers_of_a_state_exactly_one_gets_it() {
    let store = dynamo_store().await;
    let now = Utc::now();
    let issued = state("st-parallel", now + Duration::minutes(10));
    store.put_state(&issued).await.unwrap();

    let (a, b) = tokio::join!(
        store.consume_state("st-parallel", now),
        store.consume_state("st-parallel", now)
    );

    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|c| matches!(c, Consumed::Missing));
    // Read back, a state carries the hash it is stored under, never its raw id.
    let Consumed::Fresh(got) = &outcomes[0] else {
        panic!("one consumer gets it: {outcomes:?}")
    };
    assert!(got.id.len() == 64 && got.id != issued.id, "{}", got.id);
    assert_same_state(got, &issued);
    assert!(matches!(outcomes[1], Consumed::Missing), "{outcomes:?}");
}

#[tokio::test]
async fn an_expired_state_is_refused_once_then_gone() {
    let store = dynamo_store().await;
    // Unexpired for DynamoDB's TTL (wall clock), expired for the caller's clock.
    let expires_at = Utc::now() + Duration::minutes(10);
    let issued = state("st-old", expires_at);
    store.put_state(&issued).await.unwrap();

    let later = expires_at + Duration::seconds(1);
    let Consumed::Expired(got) = store.consume_state("st-old", later).await.unwrap() else {
        panic!("an expired state is refused as expired")
    };
    assert_same_state(&got, &issued);
    let again = store.consume_state("st-old", later).await.unwrap();
    assert!(matches!(again, Consumed::Missing), "{again:?}");
}

#[tokio::test]
async fn an_unknown_or_impossible_state_is_missing() {
    let store = dynamo_store().await;
    store
        .put_state(&state("st-real", Utc::now() + Duration::minutes(10)))
        .await
        .unwrap();

    for id in ["st-never-issued", "", &"x".repeat(5000)] {
        let consumed = store.consume_state(id, Utc::now()).await.unwrap();
        assert!(matches!(consumed, Consumed::Missing), "{consumed:?}");
    }
    assert!(matches!(
        store
            .put_state(&state("st-real", Utc::now() + Duration::minutes(10)))
            .await,
        Err(StoreError::AlreadyExists)
    ));
}

fn refresh_lease() -> LeaseKey {
    LeaseKey::Account(team("t"), account_id("acc-1"))
}

#[tokio::test]
async fn a_held_lease_cannot_be_taken_until_released() {
    let store = dynamo_store().await;
    let now = Utc::now();
    let ttl = Duration::minutes(5);

    assert!(store
        .acquire(&refresh_lease(), "run-1", now, ttl)
        .await
        .unwrap());
    assert!(!store
        .acquire(&refresh_lease(), "run-2", now, ttl)
        .await
        .unwrap());
    assert!(!store
        .acquire(&refresh_lease(), "run-2", now + Duration::minutes(4), ttl)
        .await
        .unwrap());
    // Another account's lease is independent.
    let other = LeaseKey::Account(team("t"), account_id("acc-2"));
    assert!(store.acquire(&other, "run-2", now, ttl).await.unwrap());

    store.release(&refresh_lease(), "run-1").await.unwrap();
    assert!(store
        .acquire(&refresh_lease(), "run-2", now, ttl)
        .await
        .unwrap());
}

#[tokio::test]
async fn a_crashed_holders_lease_is_taken_over_after_it_expires() {
    let store = dynamo_store().await;
    let now = Utc::now();
    let ttl = Duration::minutes(5);
    assert!(store
        .acquire(&refresh_lease(), "crashed", now, ttl)
        .await
        .unwrap());

    let after = now + ttl + Duration::seconds(1);
    assert!(store
        .acquire(&refresh_lease(), "rescuer", after, ttl)
        .await
        .unwrap());

    // The crashed holder waking up can neither release nor complete the rescuer's lease.
    store.release(&refresh_lease(), "crashed").await.unwrap();
    assert!(!store
        .acquire(&refresh_lease(), "third", after + Duration::minutes(1), ttl)
        .await
        .unwrap());
    assert!(matches!(
        store.complete(&refresh_lease(), "crashed").await,
        Err(StoreError::Conflict)
    ));
}

#[tokio::test]
async fn a_completed_run_is_never_taken_again() {
    let store = dynamo_store().await;
    let run = LeaseKey::Run("2026-11-26T03:00:00Z".into());
    let now = Utc::now();
    let ttl = Duration::minutes(15);
    assert!(store.acquire(&run, "delivery-1", now, ttl).await.unwrap());

    store.complete(&run, "delivery-1").await.unwrap();

    for later in [
        now,
        now + ttl + Duration::seconds(1),
        now + Duration::days(3),
    ] {
        assert!(!store.acquire(&run, "delivery-2", later, ttl).await.unwrap());
    }
    // Even its own holder cannot give it back.
    store.release(&run, "delivery-1").await.unwrap();
    assert!(!store
        .acquire(&run, "delivery-2", now + Duration::days(1), ttl)
        .await
        .unwrap());
    // Completing a lease nobody took is refused.
    assert!(matches!(
        store
            .complete(&LeaseKey::Run("never-taken".into()), "delivery-1")
            .await,
        Err(StoreError::Conflict)
    ));
}

#[tokio::test]
async fn a_release_by_someone_else_keeps_the_lease() {
    let store = dynamo_store().await;
    let now = Utc::now();
    let ttl = Duration::minutes(5);
    assert!(store
        .acquire(&refresh_lease(), "holder", now, ttl)
        .await
        .unwrap());

    store.release(&refresh_lease(), "intruder").await.unwrap();

    assert!(!store
        .acquire(&refresh_lease(), "intruder", now, ttl)
        .await
        .unwrap());
    store.release(&refresh_lease(), "holder").await.unwrap();
    assert!(store
        .acquire(&refresh_lease(), "intruder", now, ttl)
        .await
        .unwrap());
}

#[tokio::test]
async fn deleting_an_account_frees_its_lease() {
    let store = dynamo_store().await;
    let account = AccountBuilder::new("t", "a").build();
    store.create_account(&account).await.unwrap();
    let lease = LeaseKey::Account(team("t"), account.id.clone());
    assert!(store
        .acquire(&lease, "sweep-1", t0(), Duration::minutes(5))
        .await
        .unwrap());

    assert!(store.delete_account(&team("t"), &account.id).await.unwrap());

    // The lease item went with the account: a new holder takes it at once.
    assert!(store
        .acquire(&lease, "sweep-2", t0(), Duration::minutes(5))
        .await
        .unwrap());
}
