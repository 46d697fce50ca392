//! The DynamoDB adapter against DynamoDB Local, over the wire. Every test makes its own
//! table, so they run in parallel.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_dynamodb::types::TimeToLiveStatus;
use chrono::{DateTime, Duration, Utc};
use futures::{stream, StreamExt, TryStreamExt};
use tokenwarden::domain::{
    Account, EmailAddress, Failures, Invitation, Milestone, NotificationPrefs, OriginAllowlist,
    Provider, Reason, Recipient, RecipientId, RecipientState, ReturnUrl, Status, TeamId, UserId,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::store::dynamo::{create_table, DynamoStore, LAYOUT};
use tokenwarden::store::{
    AccountStore, Consumed, Cursor, Dispatch, DueIndex, DueItem, LeaseKey, Leases, Ledger,
    LedgerEntry, MailState, OAuthState, Page, PrefsStore, StateChange, StateStore, StoreError,
};
use tokenwarden_integration::{account_id, dynamo, dynamo_store, t0, team, AccountBuilder};

fn ids(accounts: &[Account]) -> Vec<String> {
    accounts.iter().map(|a| a.id.to_string()).collect()
}

/// Every page of a team's listing, in order.
async fn list_all(store: &DynamoStore, team: &TeamId, limit: u32) -> Vec<Page<Account>> {
    let mut pages = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .list_accounts(team, limit, cursor.as_ref())
            .await
            .unwrap();
        cursor = page.next.clone();
        pages.push(page);
        if cursor.is_none() {
            return pages;
        }
        assert!(pages.len() < 100, "listing does not end");
    }
}

/// Every due account of one shard, page by page; with what the pages read.
async fn due_in_shard(
    store: &DynamoStore,
    shard: u16,
    before: DateTime<Utc>,
    limit: u32,
) -> (Vec<Account>, u64) {
    let mut found = Vec::new();
    let mut read = 0;
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = store
            .due_accounts(shard, before, limit, cursor.as_ref())
            .await
            .unwrap();
        read += page.items_read;
        for item in page.items {
            match item {
                DueItem::Account(a) => found.push(*a),
                DueItem::Malformed { key, what } => panic!("malformed due item {key}: {what}"),
            }
        }
        cursor = page.next;
        if cursor.is_none() {
            return (found, read);
        }
    }
}

/// Every due account over all shards (ids), and the items read to find them.
async fn due_everywhere(store: &DynamoStore, before: DateTime<Utc>) -> (BTreeSet<String>, u64) {
    let mut all = BTreeSet::new();
    let mut read = 0;
    for shard in 0..store.shards() {
        let (found, r) = due_in_shard(store, shard, before, 7).await;
        read += r;
        for a in found {
            assert!(a.next_due_at.is_some_and(|d| d <= before), "{}", a.id);
            assert!(all.insert(a.id.to_string()), "{} listed twice", a.id);
        }
    }
    (all, read)
}

// ---------------------------------------------------------------- table

#[tokio::test]
async fn creating_the_table_again_changes_nothing_and_ttl_is_on() {
    let (client, table) = dynamo().await;

    create_table(&client, &table).await.unwrap();

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some(LAYOUT.ttl_attribute));
    assert!(matches!(
        ttl.time_to_live_status(),
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ));
    let described = client.describe_table().table_name(&table).send().await;
    let described = described.unwrap();
    let described = described.table().unwrap();
    let mut index_names: Vec<&str> = described
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .chain(
            described
                .local_secondary_indexes()
                .iter()
                .filter_map(|i| i.index_name()),
        )
        .collect();
    index_names.sort();
    assert_eq!(index_names, ["by_grant", "by_urgency", "due", "pending"]);
}

// ---------------------------------------------------------------- accounts

#[tokio::test]
async fn an_account_round_trips_through_create_get_update_and_delete() {
    let store = dynamo_store().await;
    let account = AccountBuilder::new("team-a", "acc-1")
        .provider(Provider::Linkedin)
        .refresh_token("tw1.k1.bm9uY2U.refresh", Some(t0() + Duration::days(365)))
        .broken(Status::Revoked, Some(Reason::AdminLost))
        .failures(Failures {
            days: 3,
            first_at: Some(t0()),
            last_counted_on: Some(t0().date_naive()),
        })
        .next_due(Some(t0() + Duration::days(2)))
        .build();

    let created = store.create_account(&account).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(
        created,
        Account {
            version: 1,
            ..account.clone()
        }
    );
    let read = store.get_account(&account.team, &account.id).await.unwrap();
    assert_eq!(read.as_ref(), Some(&created));
    let found = store
        .find_by_external_id(&account.team, Provider::Linkedin, &account.external_id)
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&created));

    let mut change = created.clone();
    change.display_name = "Renamed".into();
    change.broken = None;
    change.next_due_at = None;
    let updated = store.update_account(&change).await.unwrap();
    assert_eq!(updated.version, 2);
    let read = store.get_account(&account.team, &account.id).await.unwrap();
    assert_eq!(read.as_ref(), Some(&updated));
    assert_eq!(read.unwrap().display_name, "Renamed");

    assert!(matches!(
        store.update_account(&created).await,
        Err(StoreError::Conflict)
    ));

    assert!(store
        .delete_account(&account.team, &account.id)
        .await
        .unwrap());
    assert_eq!(
        store.get_account(&account.team, &account.id).await.unwrap(),
        None
    );
    let found = store
        .find_by_external_id(&account.team, Provider::Linkedin, &account.external_id)
        .await
        .unwrap();
    assert_eq!(found, None);
    assert!(!store
        .delete_account(&account.team, &account.id)
        .await
        .unwrap());
    assert!(matches!(
        store.update_account(&updated).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn an_id_or_external_account_is_connected_once_per_team() {
    let store = dynamo_store().await;
    let first = AccountBuilder::new("team-a", "acc-1")
        .external_id("page-42")
        .build();
    store.create_account(&first).await.unwrap();

    let same_id = AccountBuilder::new("team-a", "acc-1")
        .external_id("page-43")
        .build();
    assert!(matches!(
        store.create_account(&same_id).await,
        Err(StoreError::AlreadyExists)
    ));
    let same_page = AccountBuilder::new("team-a", "acc-2")
        .external_id("page-42")
        .build();
    assert!(matches!(
        store.create_account(&same_page).await,
        Err(StoreError::AlreadyExists)
    ));
    // Nothing of the refused creates was written.
    assert_eq!(
        store
            .get_account(&team("team-a"), &account_id("acc-2"))
            .await
            .unwrap(),
        None
    );
    let found = store
        .find_by_external_id(&team("team-a"), Provider::Facebook, "page-43")
        .await
        .unwrap();
    assert_eq!(found, None);

    let other_network = AccountBuilder::new("team-a", "acc-3")
        .provider(Provider::Instagram)
        .external_id("page-42")
        .build();
    store.create_account(&other_network).await.unwrap();
    let other_team = AccountBuilder::new("team-b", "acc-2")
        .external_id("page-42")
        .build();
    store.create_account(&other_team).await.unwrap();
    let found = store
        .find_by_external_id(&team("team-b"), Provider::Facebook, "page-42")
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.team), Some(team("team-b")));
}

#[tokio::test]
async fn changing_the_external_id_moves_its_uniqueness() {
    let store = dynamo_store().await;
    let a = store
        .create_account(&AccountBuilder::new("t", "a").external_id("old").build())
        .await
        .unwrap();
    let b = store
        .create_account(&AccountBuilder::new("t", "b").external_id("taken").build())
        .await
        .unwrap();

    let moved = store
        .update_account(&Account {
            external_id: "new".into(),
            ..a.clone()
        })
        .await
        .unwrap();
    assert_eq!(moved.version, 2);
    let by = |ext: &'static str| {
        let store = store.clone();
        async move {
            store
                .find_by_external_id(&team("t"), Provider::Facebook, ext)
                .await
                .unwrap()
                .map(|a| a.id.to_string())
        }
    };
    assert_eq!(by("old").await, None);
    assert_eq!(by("new").await.as_deref(), Some("a"));

    let onto_taken = Account {
        external_id: "taken".into(),
        ..moved.clone()
    };
    assert!(matches!(
        store.update_account(&onto_taken).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(by("taken").await.as_deref(), Some("b"));
    assert_eq!(
        store.get_account(&team("t"), &a.id).await.unwrap(),
        Some(moved)
    );
    // The freed external id can be connected again.
    store
        .create_account(&AccountBuilder::new("t", "c").external_id("old").build())
        .await
        .unwrap();
    assert_eq!(b.version, 1);
}

#[tokio::test]
async fn of_two_writers_with_the_same_version_exactly_one_wins() {
    let store = dynamo_store().await;
    let stored = store
        .create_account(&AccountBuilder::new("t", "a").build())
        .await
        .unwrap();
    let mut left = stored.clone();
    left.display_name = "left".into();
    let mut right = stored.clone();
    right.display_name = "right".into();

    let (l, r) = tokio::join!(store.update_account(&left), store.update_account(&right));

    let (winner, loser) = match (l, r) {
        (Ok(w), Err(e)) | (Err(e), Ok(w)) => (w, e),
        (l, r) => panic!("expected one winner and one loser, got {l:?} and {r:?}"),
    };
    assert!(matches!(loser, StoreError::Conflict), "{loser:?}");
    assert_eq!(winner.version, 2);
    let read = store.get_account(&team("t"), &stored.id).await.unwrap();
    assert_eq!(read, Some(winner));
}

#[tokio::test]
async fn accounts_are_listed_broken_first_then_by_reconnect_deadline_then_without_one() {
    let store = dynamo_store().await;
    let day = |n: i64| Some(t0() + Duration::days(n));
    let accounts = [
        AccountBuilder::new("t", "no-deadline")
            .reconnect_by(None)
            .build(),
        AccountBuilder::new("t", "in-30-days")
            .reconnect_by(day(30))
            .build(),
        AccountBuilder::new("t", "revoked")
            .broken(Status::Revoked, Some(Reason::PasswordChanged))
            .build(),
        // Expired: its deadline is past, so it sorts before every future deadline.
        AccountBuilder::new("t", "expired")
            .reconnect_by(day(-3))
            .build(),
        AccountBuilder::new("t", "in-5-days")
            .reconnect_by(day(5))
            .build(),
        AccountBuilder::new("other-team", "elsewhere").build(),
    ];
    for a in &accounts {
        store.create_account(a).await.unwrap();
    }

    let page = store.list_accounts(&team("t"), 50, None).await.unwrap();

    assert_eq!(
        ids(&page.items),
        [
            "revoked",
            "expired",
            "in-5-days",
            "in-30-days",
            "no-deadline"
        ]
    );
    assert!(page.next.is_none());
    assert_eq!(page.items_read, 5);
    assert_eq!(page.items[1].status(t0()), Status::Expired);

    // An update re-ranks the account.
    let mut fixed = page.items[0].clone();
    fixed.broken = None;
    fixed.access_expires_at = day(1);
    store.update_account(&fixed).await.unwrap();
    let page = store.list_accounts(&team("t"), 50, None).await.unwrap();
    assert_eq!(
        ids(&page.items),
        [
            "expired",
            "revoked",
            "in-5-days",
            "in-30-days",
            "no-deadline"
        ]
    );
}

#[tokio::test]
async fn pages_cover_every_account_once_in_order() {
    let store = dynamo_store().await;
    for i in 0..23 {
        let deadline = (i % 4 != 0).then(|| t0() + Duration::days(i64::from(i % 7)));
        let mut builder = AccountBuilder::new("t", &format!("acc-{i:02}")).reconnect_by(deadline);
        if i % 5 == 0 {
            builder = builder.broken(Status::Revoked, None);
        }
        store.create_account(&builder.build()).await.unwrap();
    }
    let whole = store.list_accounts(&team("t"), 100, None).await.unwrap();
    assert_eq!(whole.items.len(), 23);

    let pages = list_all(&store, &team("t"), 5).await;

    assert!(pages.len() >= 5, "{} pages", pages.len());
    assert!(pages.iter().all(|p| p.items.len() <= 5));
    let paged: Vec<String> = pages.iter().flat_map(|p| ids(&p.items)).collect();
    assert_eq!(paged, ids(&whole.items), "no gap, no duplicate, same order");
}

/// The listing asks for one item more than the page and hands out a cursor only when there
/// is more: 500 accounts at 50 a page are exactly 10 requests, the last without a cursor.
#[tokio::test]
async fn listing_500_accounts_at_50_a_page_takes_exactly_10_requests() {
    let store = dynamo_store().await;
    stream::iter(0..500)
        .map(|i| {
            let store = &store;
            async move {
                store
                    .create_account(&AccountBuilder::new("t", &format!("acc-{i:03}")).build())
                    .await
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    let pages = list_all(&store, &team("t"), 50).await;
    assert_eq!(pages.len(), 10);
    assert!(pages.iter().all(|p| p.items.len() == 50));
    let ids: BTreeSet<String> = pages.iter().flat_map(|p| ids(&p.items)).collect();
    assert_eq!(ids.len(), 500, "every account once");
    // An exact multiple of the page: the last page still says there is no more.
    assert!(pages[9].next.is_none());
    let short = store.list_accounts(&team("t"), 499, None).await.unwrap();
    assert_eq!(short.items.len(), 499);
    assert!(short.next.is_some(), "one more is there");
}

#[tokio::test]
async fn a_cursor_of_one_team_reaches_nothing_of_that_team_from_another() {
    let store = dynamo_store().await;
    for i in 0..6 {
        store
            .create_account(&AccountBuilder::new("team-a", &format!("a-{i}")).build())
            .await
            .unwrap();
    }
    for i in 0..3 {
        store
            .create_account(&AccountBuilder::new("team-b", &format!("b-{i}")).build())
            .await
            .unwrap();
    }
    let first = store.list_accounts(&team("team-a"), 2, None).await.unwrap();
    let cursor = first.next.expect("team A has more than one page");

    let as_b = store
        .list_accounts(&team("team-b"), 50, Some(&cursor))
        .await;

    match as_b {
        Err(StoreError::BadCursor) => {}
        Ok(page) => {
            assert!(page.items.iter().all(|a| a.team == team("team-b")));
            assert!(ids(&page.items).iter().all(|id| id.starts_with("b-")));
        }
        Err(e) => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn a_cursor_the_store_did_not_issue_is_refused() {
    let store = dynamo_store().await;
    store
        .create_account(&AccountBuilder::new("t", "a").build())
        .await
        .unwrap();

    for garbage in ["garbage!", "eyJ1IjoiMCNhIn0", "", "e30"] {
        let cursor = Cursor::from_client(garbage);
        assert!(
            matches!(
                store.list_accounts(&team("t"), 10, Some(&cursor)).await,
                Err(StoreError::BadCursor)
            ),
            "{garbage}"
        );
        assert!(
            matches!(
                store.due_accounts(0, t0(), 10, Some(&cursor)).await,
                Err(StoreError::BadCursor)
            ),
            "{garbage}"
        );
    }
}

// ---------------------------------------------------------------- due index

#[tokio::test]
async fn the_due_index_reads_only_the_due_accounts_across_all_shards() {
    let store = dynamo_store().await;
    let now = t0() + Duration::days(10);
    let accounts: Vec<Account> = (0..600)
        .map(|i| {
            let due = match i % 30 {
                0 => Some(now - Duration::minutes(i64::from(i))),
                1..=19 => Some(now + Duration::hours(1 + i64::from(i))),
                _ => None,
            };
            AccountBuilder::new(&format!("team-{}", i % 7), &format!("acc-{i:03}"))
                .next_due(due)
                .build()
        })
        .collect();
    let due: BTreeSet<String> = accounts
        .iter()
        .filter(|a| a.next_due_at.is_some_and(|d| d <= now))
        .map(|a| a.id.to_string())
        .collect();
    assert_eq!(due.len(), 20);
    stream::iter(&accounts)
        .map(|a| store.create_account(a))
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();

    let (found, items_read) = due_everywhere(&store, now).await;

    assert_eq!(found, due);
    assert!(items_read <= due.len() as u64 + 2, "read {items_read}");
    let mut shards_used = HashSet::new();
    for shard in 0..store.shards() {
        let (in_shard, _) = due_in_shard(&store, shard, now, 100).await;
        if !in_shard.is_empty() {
            shards_used.insert(shard);
        }
    }
    assert!(shards_used.len() > 4, "due accounts sit in {shards_used:?}");

    // Clearing next_due_at takes an account out of the index; setting it puts one in.
    let team_of = |id: &str| accounts.iter().find(|a| a.id.as_str() == id).unwrap();
    let leaving = store
        .get_account(&team_of("acc-030").team, &account_id("acc-030"))
        .await
        .unwrap()
        .unwrap();
    store
        .update_account(&Account {
            next_due_at: None,
            ..leaving
        })
        .await
        .unwrap();
    let joining = store
        .get_account(&team_of("acc-025").team, &account_id("acc-025"))
        .await
        .unwrap()
        .unwrap();
    store
        .update_account(&Account {
            next_due_at: Some(now - Duration::days(1)),
            ..joining
        })
        .await
        .unwrap();
    let (found, _) = due_everywhere(&store, now).await;
    let mut expected = due.clone();
    expected.remove("acc-030");
    expected.insert("acc-025".into());
    assert_eq!(found, expected);
}

#[tokio::test]
async fn due_accounts_come_soonest_first_within_a_shard() {
    let (client, table) = dynamo().await;
    let store = DynamoStore::new(client, table).with_shards(1);
    for (id, hours) in [("c", 3), ("a", 1), ("d", 30), ("b", 2)] {
        store
            .create_account(
                &AccountBuilder::new("t", id)
                    .next_due(Some(t0() + Duration::hours(hours)))
                    .build(),
            )
            .await
            .unwrap();
    }

    let (found, read) = due_in_shard(&store, 0, t0() + Duration::hours(24), 2).await;

    assert_eq!(ids(&found), ["a", "b", "c"]);
    assert_eq!(read, 3);
}

// ---------------------------------------------------------------- OAuth states

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

// ---------------------------------------------------------------- prefs

#[tokio::test]
async fn prefs_are_saved_with_optimistic_versions() {
    let store = dynamo_store().await;
    let t = team("t");
    assert_eq!(store.get_prefs(&t).await.unwrap(), None);

    let mut prefs = NotificationPrefs::defaults(t.clone());
    prefs.lead_days = vec![21, 3];
    prefs.time_zone = chrono_tz::Asia::Tokyo;
    prefs.team_name = Some("Acme".into());
    let saved = store.put_prefs(&prefs).await.unwrap();
    assert_eq!(saved.version, 1);
    assert_eq!(store.get_prefs(&t).await.unwrap(), Some(saved.clone()));

    // A second first-save and a save from a stale read both lose.
    assert!(matches!(
        store.put_prefs(&prefs).await,
        Err(StoreError::Conflict)
    ));
    let saved2 = store
        .put_prefs(&NotificationPrefs {
            enabled: false,
            ..saved.clone()
        })
        .await
        .unwrap();
    assert_eq!(saved2.version, 2);
    assert!(matches!(
        store.put_prefs(&saved).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.get_prefs(&t).await.unwrap(), Some(saved2));
}

// ---------------------------------------------------------------- ledger

fn entry(team_id: &str, account: &str, milestone: Milestone) -> LedgerEntry {
    LedgerEntry {
        team: team(team_id),
        account: account_id(account),
        milestone,
        state: MailState::Pending,
        created_at: t0(),
        updated_at: t0(),
        detail: None,
        sent_to: Vec::new(),
        audience: None,
    }
}

/// Teams with pending entries over every shard.
async fn teams_with_pending(store: &DynamoStore) -> Vec<TeamId> {
    let mut teams = Vec::new();
    for shard in 0..store.shards() {
        teams.extend(store.teams_with_pending(shard).await.unwrap());
    }
    teams.sort();
    teams
}

#[tokio::test]
async fn a_milestone_is_recorded_pending_only_once() {
    let store = dynamo_store().await;
    let e = entry("t", "a", Milestone::Expiring { days: 7 });

    assert!(store.record_pending(&e).await.unwrap());
    assert!(!store.record_pending(&e).await.unwrap());

    assert_eq!(store.pending_for_team(&team("t")).await.unwrap(), [e]);
    assert_eq!(teams_with_pending(&store).await, [team("t")]);
}

#[tokio::test]
async fn a_sent_or_failed_entry_is_pending_nowhere() {
    let store = dynamo_store().await;
    let sent = entry("t1", "a", Milestone::Expired);
    let failed = entry("t2", "b", Milestone::Disconnected);
    let still = entry("t3", "c", Milestone::Recovered);
    for e in [&sent, &failed, &still] {
        store.record_pending(e).await.unwrap();
    }
    let mut all = teams_with_pending(&store).await;
    all.sort();
    assert_eq!(all, [team("t1"), team("t2"), team("t3")]);

    let later = t0() + Duration::hours(1);
    store
        .mark(
            &team("t1"),
            &sent.account,
            sent.milestone,
            MailState::Sent,
            None,
            later,
        )
        .await
        .unwrap();
    store
        .mark(
            &team("t2"),
            &failed.account,
            failed.milestone,
            MailState::Failed,
            Some("MessageRejected"),
            later,
        )
        .await
        .unwrap();

    assert!(store
        .pending_for_team(&team("t1"))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .pending_for_team(&team("t2"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.pending_for_team(&team("t3")).await.unwrap(), [still]);
    assert_eq!(teams_with_pending(&store).await, [team("t3")]);
    // The entry stays (a milestone is mailed once), so it is not recorded again.
    assert!(!store.record_pending(&sent).await.unwrap());
    assert!(matches!(
        store
            .mark(
                &team("t1"),
                &account_id("zzz"),
                Milestone::Expired,
                MailState::Sent,
                None,
                later
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn clearing_an_account_removes_only_its_entries() {
    let store = dynamo_store().await;
    let milestones = [
        Milestone::Expiring { days: 14 },
        Milestone::Expiring { days: 7 },
        Milestone::Expired,
    ];
    for m in milestones {
        store.record_pending(&entry("t", "acc", m)).await.unwrap();
        store.record_pending(&entry("t", "acc-2", m)).await.unwrap();
        store.record_pending(&entry("u", "acc", m)).await.unwrap();
    }
    store
        .mark(
            &team("t"),
            &account_id("acc"),
            Milestone::Expired,
            MailState::Sent,
            None,
            t0(),
        )
        .await
        .unwrap();

    let cleared = store
        .clear_account(&team("t"), &account_id("acc"))
        .await
        .unwrap();

    assert_eq!(cleared, 3);
    let left: Vec<String> = store
        .pending_for_team(&team("t"))
        .await
        .unwrap()
        .iter()
        .map(|e| e.account.to_string())
        .collect();
    assert_eq!(left, ["acc-2", "acc-2", "acc-2"]);
    assert_eq!(store.pending_for_team(&team("u")).await.unwrap().len(), 3);
    // Cleared milestones can be recorded afresh.
    assert!(store
        .record_pending(&entry("t", "acc", Milestone::Expired))
        .await
        .unwrap());
    assert_eq!(
        store
            .clear_account(&team("t"), &account_id("nobody"))
            .await
            .unwrap(),
        0
    );
}

// ---------------------------------------------------------------- leases

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

// ---------------------------------------------------------------- malformed items

#[tokio::test]
async fn a_damaged_item_is_reported_by_key_without_its_secrets() {
    let (client, table) = dynamo().await;
    let store = DynamoStore::new(client.clone(), table.clone());
    let account = store
        .create_account(&AccountBuilder::new("t", "a").build())
        .await
        .unwrap();
    client
        .update_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("TEAM#t".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ACCOUNT#a".into()),
        )
        .update_expression("SET #v = :bad")
        .expression_attribute_names("#v", "version")
        .expression_attribute_values(
            ":bad",
            aws_sdk_dynamodb::types::AttributeValue::S("x".into()),
        )
        .send()
        .await
        .unwrap();

    let err = store
        .get_account(&team("t"), &account.id)
        .await
        .unwrap_err();

    let StoreError::Malformed { key, what } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(key, "TEAM#t/ACCOUNT#a");
    assert!(what.contains("version"), "{what}");
    assert!(!format!("{err:?}").contains(account.tokens.access.as_stored()));
    // Even a damaged account can be deleted.
    assert!(store.delete_account(&team("t"), &account.id).await.unwrap());
}

#[tokio::test]
async fn recipients_who_had_an_entry_are_remembered_on_it() {
    let store = dynamo_store().await;
    let e = entry("t", "a", Milestone::Disconnected);
    store.record_pending(&e).await.unwrap();
    let later = t0() + Duration::minutes(1);
    let r =
        |who: &str| RecipientId::of(&EmailAddress::parse(&format!("{who}@example.com")).unwrap());
    for who in ["u2", "u1", "u2"] {
        store
            .add_recipient(&team("t"), &e.account, e.milestone, &r(who), later)
            .await
            .unwrap();
    }
    let pending = store.pending_for_team(&team("t")).await.unwrap();
    assert_eq!(pending.len(), 1);
    let mut want = vec![r("u1"), r("u2")];
    want.sort();
    assert_eq!(pending[0].sent_to, want);
    assert_eq!(pending[0].state, MailState::Pending);
    assert!(matches!(
        store
            .add_recipient(
                &team("t"),
                &account_id("other"),
                e.milestone,
                &r("u1"),
                later
            )
            .await,
        Err(StoreError::NotFound)
    ));
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

// ---- history --------------------------------------------------------------------------------

fn history_entry(
    account: &tokenwarden::domain::Account,
    kind: tokenwarden::domain::HistoryKind,
    at: DateTime<Utc>,
) -> tokenwarden::domain::HistoryEntry {
    tokenwarden::domain::HistoryEntry::of(
        kind,
        Some(tokenwarden::domain::StateAt::of(account, at)),
        account,
        at,
        &tokenwarden::domain::Cause::Sweep {
            run: "run-1".into(),
        },
    )
}

async fn history_of(store: &DynamoStore, id: &str) -> Vec<tokenwarden::domain::HistoryEntry> {
    use tokenwarden::store::HistoryStore;
    store
        .history(&team("t"), &account_id(id), 100, None)
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn a_history_item_is_written_with_its_account_change_or_not_at_all() {
    use tokenwarden::domain::HistoryKind;
    let store = dynamo_store().await;
    let account = store
        .create_account(&AccountBuilder::new("t", "acc").build())
        .await
        .unwrap();
    let now = t0() + Duration::days(1);

    // A stale version: neither the change nor its record.
    let mut stale = account.clone();
    stale.version = 0;
    stale.display_name = "stale".into();
    let lost = store
        .update_account_with(&stale, &[history_entry(&stale, HistoryKind::Failing, now)])
        .await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "{lost:?}");
    assert!(
        history_of(&store, "acc").await.is_empty(),
        "no record without its change"
    );

    // The change and its record together.
    let entry = history_entry(&account, HistoryKind::Failing, now);
    let mut changed = account.clone();
    changed.display_name = "changed".into();
    let saved = store
        .update_account_with(&changed, std::slice::from_ref(&entry))
        .await
        .unwrap();
    assert_eq!(saved.version, account.version + 1);
    assert_eq!(
        saved.last_change.map(|l| (l.kind, l.at)),
        Some((HistoryKind::Failing, now))
    );
    let stored = store
        .get_account(&team("t"), &account_id("acc"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, saved, "last_change is stored with the account");
    assert_eq!(history_of(&store, "acc").await, vec![entry.clone()]);

    // The reverse: a record that cannot be written (its id is taken) cancels the change.
    let mut again = saved.clone();
    again.display_name = "again".into();
    let refused = store
        .update_account_with(&again, std::slice::from_ref(&entry))
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    let stored = store
        .get_account(&team("t"), &account_id("acc"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.display_name, "changed",
        "no change without its record"
    );
    assert_eq!(stored.version, saved.version);

    // A deleted account: NotFound, and nothing recorded.
    assert!(store
        .delete_account(&team("t"), &account_id("acc"))
        .await
        .unwrap());
    let gone = store
        .update_account_with(
            &saved,
            &[history_entry(&saved, HistoryKind::Recovered, now)],
        )
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound)), "{gone:?}");
    assert_eq!(history_of(&store, "acc").await.len(), 1);
}

#[tokio::test]
async fn history_items_carry_a_400_day_ttl_and_no_token() {
    use tokenwarden::domain::HistoryKind;
    let (client, table) = dynamo().await;
    let store = DynamoStore::new(client.clone(), table.clone());
    let account = store
        .create_account(&AccountBuilder::new("t", "acc").build())
        .await
        .unwrap();
    let entry = history_entry(&account, HistoryKind::Failing, t0());
    store
        .update_account_with(&account, std::slice::from_ref(&entry))
        .await
        .unwrap();

    let items = client
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let history: Vec<_> = items
        .iter()
        .filter(|i| {
            i.get("kind")
                .and_then(|k| k.as_s().ok())
                .map(String::as_str)
                == Some("history")
        })
        .collect();
    assert_eq!(history.len(), 1);
    let ttl: i64 = history[0][LAYOUT.ttl_attribute]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ttl, (t0() + Duration::days(400)).timestamp());
    let text = format!("{:?}", history[0]);
    assert!(
        !text.contains("tw1."),
        "no sealed token in a history item: {text}"
    );
}

// ---------------------------------------------------------------- recipients, dispatches

fn invited(t: &TeamId, email: &str, nonce: &str) -> Recipient {
    let email = EmailAddress::parse(email).unwrap();
    Recipient {
        team: t.clone(),
        id: RecipientId::of(&email),
        email,
        name: "Bo".into(),
        state: RecipientState::Pending,
        user_id: None,
        added_by: UserId::parse("ana").unwrap(),
        added_at: t0(),
        updated_at: t0(),
        invitation: Some(Invitation {
            nonce: nonce.into(),
            expires_at: t0() + Duration::days(7),
        }),
    }
}

#[tokio::test]
async fn recipients_are_read_with_the_prefs_and_change_state_only_as_their_conditions_allow() {
    let store = dynamo_store().await;
    let t = team("t");
    let bo = invited(&t, "bo@example.com", "n1");
    store.save_recipient(&bo, None).await.unwrap();
    // A second add of the same address loses; a replace must name the state it read.
    assert!(matches!(
        store.save_recipient(&bo, None).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .save_recipient(&bo, Some(RecipientState::Active))
            .await,
        Err(StoreError::Conflict)
    ));
    // Prefs never saved: the defaults, with the recipient.
    let prefs = store
        .get_prefs(&t)
        .await
        .unwrap()
        .expect("prefs with a recipient");
    assert_eq!(prefs.version, 0);
    assert_eq!(prefs.recipients, vec![bo.clone()]);
    // Saving the settings keeps the recipient (it is an item of its own).
    store
        .put_prefs(&NotificationPrefs::defaults(t.clone()))
        .await
        .unwrap();
    assert_eq!(
        store.get_prefs(&t).await.unwrap().unwrap().recipients,
        vec![bo.clone()]
    );

    let confirm = |nonce: &'static str, now| StateChange {
        to: RecipientState::Active,
        from: &[RecipientState::Pending],
        nonce: Some(nonce),
        now,
    };
    // A wrong nonce, or the right one after the invitation expired: nothing moves.
    assert!(!store
        .set_recipient_state(&t, &bo.id, confirm("n2", t0()))
        .await
        .unwrap());
    assert!(!store
        .set_recipient_state(&t, &bo.id, confirm("n1", t0() + Duration::days(8)))
        .await
        .unwrap());
    assert_eq!(store.recipient(&t, &bo.id).await.unwrap().unwrap(), bo);
    // The right one in time: active, and the invitation is gone (a second use fails).
    assert!(store
        .set_recipient_state(&t, &bo.id, confirm("n1", t0()))
        .await
        .unwrap());
    let active = store.recipient(&t, &bo.id).await.unwrap().unwrap();
    assert_eq!(
        (active.state, active.invitation),
        (RecipientState::Active, None)
    );
    assert!(!store
        .set_recipient_state(&t, &bo.id, confirm("n1", t0()))
        .await
        .unwrap());
    // Another team's recipient of the same id is not this one.
    assert!(store
        .recipient(&team("other"), &bo.id)
        .await
        .unwrap()
        .is_none());

    // Removal only from the states named.
    assert!(!store
        .remove_recipient(&t, &bo.id, &[RecipientState::Pending])
        .await
        .unwrap());
    assert!(store
        .remove_recipient(&t, &bo.id, &[RecipientState::Active])
        .await
        .unwrap());
    assert_eq!(
        store.get_prefs(&t).await.unwrap().unwrap().recipients,
        vec![]
    );
}

#[tokio::test]
async fn a_daily_allowance_counts_up_to_its_cap_per_team_and_day() {
    let store = dynamo_store().await;
    let (a, b) = (team("a"), team("b"));
    for _ in 0..3 {
        assert!(store
            .take_quota(&a, "confirmations", 3, t0())
            .await
            .unwrap());
    }
    assert!(!store
        .take_quota(&a, "confirmations", 3, t0())
        .await
        .unwrap());
    assert!(store.take_quota(&a, "digests", 3, t0()).await.unwrap());
    assert!(store
        .take_quota(&b, "confirmations", 3, t0())
        .await
        .unwrap());
    assert!(store
        .take_quota(&a, "confirmations", 3, t0() + Duration::days(1))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_dispatch_is_confirmed_once_and_who_was_told_of_a_breakage_is_read_from_the_ledger() {
    let store = dynamo_store().await;
    let t = team("t");
    let ana = RecipientId::of(&EmailAddress::parse("ana@example.com").unwrap());
    let d = Dispatch {
        team: t.clone(),
        id: "00aa".into(),
        recipient: ana.clone(),
        entries: vec![(account_id("a"), Milestone::Disconnected)],
        created_at: t0(),
        confirmed_at: None,
    };
    store.open_dispatch(&d).await.unwrap();
    assert!(matches!(
        store.open_dispatch(&d).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.dispatches(&t).await.unwrap(), vec![d.clone()]);
    let first = t0() + Duration::seconds(2);
    let confirmed = store
        .confirm_dispatch(&t, "00aa", first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(confirmed.confirmed_at, Some(first));
    // A redelivered event keeps the first time.
    let again = store
        .confirm_dispatch(&t, "00aa", first + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.confirmed_at, Some(first));
    assert_eq!(
        store.confirm_dispatch(&t, "ffff", first).await.unwrap(),
        None
    );

    // Told: the recipients on the disconnected and expired entries only.
    let bo = RecipientId::of(&EmailAddress::parse("bo@example.com").unwrap());
    for (milestone, who) in [
        (Milestone::Disconnected, &ana),
        (Milestone::Expiring { days: 7 }, &bo),
    ] {
        let e = entry("t", "a", milestone);
        store.record_pending(&e).await.unwrap();
        store
            .add_recipient(&t, &e.account, milestone, who, t0())
            .await
            .unwrap();
    }
    assert_eq!(
        store.told_broken(&t, &account_id("a")).await.unwrap(),
        vec![ana]
    );
    assert_eq!(
        store.told_broken(&t, &account_id("b")).await.unwrap(),
        vec![]
    );
}

#[tokio::test]
async fn a_reconnect_keeps_only_the_once_a_day_entries_that_went_out_today() {
    let store = dynamo_store().await;
    let t = team("t");
    let now = t0() + Duration::hours(12);
    let entry_at = |account: &str, milestone, at| LedgerEntry {
        created_at: at,
        updated_at: at,
        ..entry("t", account, milestone)
    };
    // Account a: today's disconnected went out; account b: today's is still pending
    // (nobody was told); both: an expiring entry and yesterday's recovered.
    for account in ["a", "b"] {
        for e in [
            entry_at(account, Milestone::Disconnected, now - Duration::hours(1)),
            entry_at(
                account,
                Milestone::Expiring { days: 7 },
                now - Duration::days(3),
            ),
            entry_at(account, Milestone::Recovered, now - Duration::days(1)),
        ] {
            store.record_pending(&e).await.unwrap();
        }
    }
    store
        .mark(
            &t,
            &account_id("a"),
            Milestone::Disconnected,
            MailState::Sent,
            None,
            now,
        )
        .await
        .unwrap();

    assert_eq!(
        store
            .clear_for_reconnect(&t, &account_id("a"), now)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .clear_for_reconnect(&t, &account_id("b"), now)
            .await
            .unwrap(),
        3
    );
    let left = store.told_broken(&t, &account_id("a")).await.unwrap();
    assert!(left.is_empty(), "nobody was recorded on it");
    assert!(
        store.pending_for_team(&t).await.unwrap().is_empty(),
        "b's pending breakage went: nobody hears of a breakage already fixed"
    );
    // a's sent disconnected stays (one disconnected mail a day at most).
    assert!(!store
        .record_pending(&entry_at("a", Milestone::Disconnected, now))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_send_event_records_its_recipient_only_on_entries_no_newer_than_its_dispatch() {
    let store = dynamo_store().await;
    let t = team("t");
    let ana = RecipientId::of(&EmailAddress::parse("ana@example.com").unwrap());
    let today = t0() + Duration::days(1);
    store
        .record_pending(&LedgerEntry {
            created_at: today,
            updated_at: today,
            ..entry("t", "a", Milestone::Disconnected)
        })
        .await
        .unwrap();
    // Yesterday's dispatch of the same milestone, its event redriven today: not this entry.
    assert!(matches!(
        store
            .add_dispatched(
                &t,
                &account_id("a"),
                Milestone::Disconnected,
                &ana,
                t0(),
                today
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(store.pending_for_team(&t).await.unwrap()[0]
        .sent_to
        .is_empty());
    store
        .add_dispatched(
            &t,
            &account_id("a"),
            Milestone::Disconnected,
            &ana,
            today,
            today,
        )
        .await
        .unwrap();
    assert_eq!(
        store.pending_for_team(&t).await.unwrap()[0].sent_to,
        vec![ana]
    );
}
