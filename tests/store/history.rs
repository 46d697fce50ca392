//! History items: written with their account change or not at all, with a 400-day TTL and
//! no token.

use super::*;

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
