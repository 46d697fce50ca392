//! Preferences and recipients: saved with optimistic versions, recipients whose state
//! changes only as their conditions allow, a daily allowance per team.

use super::*;

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
