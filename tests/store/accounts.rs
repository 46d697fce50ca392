//! The table and its accounts: creating the table again, round trips, one connection per
//! team, versions, listing and cursors, the due index, and a damaged item reported by key.

use super::*;

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
