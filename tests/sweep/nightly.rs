//! Night after night: 65 days over nine networks, where only tokens that cannot be renewed
//! are warned about and a reconnect stops the warnings; a team's own lead days, events and
//! switch decide what is mailed.

use super::*;

#[tokio::test]
async fn every_network_through_65_days_only_tokens_that_cannot_be_renewed_are_warned_about_and_a_reconnect_stops_the_warnings(
) {
    let rig = Rig::new().await;
    let team = rig.team("shop", &["ana"], LEADS).await;
    let ana = rig.member("shop", "ana");
    let mut accounts = BTreeMap::new();
    for provider in Provider::ALL {
        accounts.insert(provider, rig.connect(provider, &team).await);
    }
    let fb = id(&accounts[&Provider::Facebook]);
    let ig = id(&accounts[&Provider::Instagram]);
    let sweep = rig.sweep();

    let mut mails_by_day: BTreeMap<i64, Vec<(String, Milestone)>> = BTreeMap::new();
    let mut mails_seen = 0;
    for day in 1..=65 {
        if day == 54 {
            // Ana reconnects the Instagram account after its 7-day warning.
            rig.clock.set(at_day(54) - Duration::minutes(30));
            rig.reconnect(&accounts[&Provider::Instagram]).await;
        }
        let report = rig.run_day(&sweep, day).await;
        assert!(!report.duplicate_run, "day {day}");
        assert_eq!(
            (
                report.broken,
                report.transient_failures,
                report.skipped_poison
            ),
            (0, 0, 0),
            "day {day}: {report:?}"
        );
        let mails = rig.mails_to(&ana).await;
        assert!(mails.len() <= mails_seen + 1, "day {day}: one digest a run");
        for mail in &mails[mails_seen..] {
            mails_by_day.entry(day).or_default().extend(mail.entries());
        }
        mails_seen = mails.len();
    }

    let expected: BTreeMap<i64, Vec<(String, Milestone)>> = BTreeMap::from([
        (
            46,
            vec![(fb.clone(), expiring(14)), (ig.clone(), expiring(14))],
        ),
        (
            53,
            vec![(fb.clone(), expiring(7)), (ig.clone(), expiring(7))],
        ),
        (57, vec![(fb.clone(), expiring(3))]),
        (59, vec![(fb.clone(), expiring(1))]),
        (60, vec![(fb.clone(), Milestone::Expired)]),
    ])
    .into_iter()
    .map(|(day, mut entries)| {
        entries.sort();
        (day, entries)
    })
    .collect();
    assert_eq!(mails_by_day, expected);

    // The history lists every milestone in order, by the sweep, whatever was mailed.
    {
        use tokenwarden::domain::HistoryKind::{Expired, Expiring, Reconnected};
        use tokenwarden::store::HistoryStore;
        for (provider, account) in &accounts {
            let mut entries = rig
                .store
                .history(&team, &account.id, 100, None)
                .await
                .expect("history")
                .items;
            entries.reverse();
            let got: Vec<_> = entries.iter().map(|e| (e.kind, e.days_left)).collect();
            let want = match provider {
                Provider::Facebook => vec![
                    (Expiring, Some(14)),
                    (Expiring, Some(7)),
                    (Expiring, Some(3)),
                    (Expiring, Some(1)),
                    (Expired, None),
                ],
                Provider::Instagram => vec![
                    (Expiring, Some(14)),
                    (Expiring, Some(7)),
                    (Reconnected, None),
                ],
                _ => vec![],
            };
            assert_eq!(got, want, "{provider}");
            let at: Vec<_> = entries.iter().map(|e| e.at).collect();
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{provider}: in order");
        }
    }

    let now = rig.clock.now();
    for (provider, connected) in &accounts {
        let account = rig.account(&team, &connected.id).await;
        let column = account.token_column(now);
        match provider {
            Provider::Facebook => {
                assert_eq!(column.status, Status::Expired);
                assert_eq!(account.next_due_at, None, "out of the due index");
            }
            Provider::Instagram => {
                assert_eq!(column.status, Status::Active, "reconnected");
                assert!(account
                    .reconnect_by()
                    .is_some_and(|by| by > now + Duration::days(40)));
            }
            _ => {
                assert!(column.auto_refresh, "{provider}");
                assert_eq!(column.status, Status::Active, "{provider}");
                assert_eq!(account.failures, Failures::default(), "{provider}");
            }
        }
    }

    // Kept alive by each network's rules, and only when due: the refresh-grant networks
    // weekly (their check), Instagram Login and Threads once, a week before the 60 days.
    let log = rig.log().await;
    for provider in Provider::ALL {
        let refreshes: Vec<_> = log
            .iter()
            .filter(|r| r.provider == Some(provider) && r.kind == Some(EndpointKind::Refresh))
            .collect();
        let expected = match provider.spec().keep_alive {
            KeepAlive::None => 0,
            KeepAlive::Exchange { .. } => 1,
            KeepAlive::RefreshGrant | KeepAlive::RefreshGrantRotating => 9,
        };
        assert_eq!(refreshes.len(), expected, "{provider}: refresh calls");
        assert!(refreshes.iter().all(|r| r.status == 200), "{provider}");
        if provider.spec().keep_alive == KeepAlive::RefreshGrantRotating {
            let presented: BTreeSet<_> = refreshes.iter().map(|r| &r.refresh_token).collect();
            assert_eq!(presented.len(), refreshes.len(), "{provider}: no replay");
            let stored = rig.refresh_token_of(&rig.account(&team, &accounts[&provider].id).await);
            assert!(
                !presented.contains(&Some(stored)),
                "{provider}: the newest token is the one kept"
            );
        }
    }
}

#[tokio::test]
async fn a_teams_own_lead_days_events_and_switch_decide_what_is_mailed() {
    let rig = Rig::new().await;
    let picky = rig.team("picky", &["ana"], &[10, 2]).await;
    let off = rig.team("off", &["bob"], LEADS).await;
    let mut prefs = rig.store.get_prefs(&picky).await.unwrap().unwrap();
    prefs.events.expired = false;
    rig.store.put_prefs(&prefs).await.unwrap();
    let mut prefs = rig.store.get_prefs(&off).await.unwrap().unwrap();
    prefs.enabled = false;
    rig.store.put_prefs(&prefs).await.unwrap();
    let page = rig.connect(Provider::Facebook, &picky).await;
    rig.connect(Provider::Facebook, &off).await;
    let sweep = rig.sweep();
    let ana = rig.member("picky", "ana");

    let mut by_day = BTreeMap::new();
    for day in 40..=62 {
        rig.run_day(&sweep, day).await;
        let count = rig.mails_to(&ana).await.len();
        if by_day.values().sum::<usize>() < count {
            by_day.insert(day, count - by_day.values().sum::<usize>());
        }
    }

    assert_eq!(
        by_day,
        BTreeMap::from([(50, 1), (58, 1)]),
        "10 and 2 days ahead only"
    );
    let entries: Vec<_> = rig
        .mails_to(&ana)
        .await
        .iter()
        .flat_map(|m| m.entries())
        .collect();
    assert_eq!(
        entries,
        vec![(id(&page), expiring(10)), (id(&page), expiring(2))]
    );
    assert!(rig.mails_to(&rig.member("off", "bob")).await.is_empty());
    assert!(rig.pending(&picky).await.is_empty());
    assert!(rig.pending(&off).await.is_empty());
}
