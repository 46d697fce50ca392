//! Notification preferences: defaults and optimistic versions, recipients added, invited,
//! listed and removed, and a team's daily allowance of confirmation mails.

use super::*;

#[tokio::test]
async fn preferences_default_then_round_trip() {
    let (h, _) = Harness::with_recorder().await;
    let get = Event::load("notification-prefs/get.json").caller("team-a", "u1");
    let put = Event::load("notification-prefs/put.json").caller("team-a", "u1");

    let defaults = h.prefs(&get).await;
    let mut body = put.body_json();
    body["lead_days"] = json!([3, 14, 7, 14, 1, 3]);
    body["time_zone"] = "Asia/Tokyo".into();
    let saved = h.prefs(&put.clone().body(&body)).await;
    let read_back = h.prefs(&get).await;
    body["version"] = 1.into();
    body["enabled"] = false.into();
    let second = h.prefs(&put.clone().body(&body)).await;

    assert_eq!(defaults.status, 200);
    assert_eq!(
        defaults.json,
        json!({"team_name": null, "time_zone": "UTC", "recipients": [], "lead_days": [14, 7, 3, 1],
               "events": {"expiring": true, "expired": true, "disconnected": true, "recovered": true},
               "enabled": true, "version": 0})
    );
    assert_eq!(saved.status, 200, "{}", saved.text);
    assert_eq!(saved.json["version"], 1);
    assert_eq!(
        saved.json["lead_days"],
        json!([14, 7, 3, 1]),
        "sorted, deduplicated"
    );
    assert_eq!(saved.json["time_zone"], "Asia/Tokyo");
    assert_eq!(saved.json["team_name"], "Acme");
    assert_eq!(saved.json["events"]["recovered"], false);
    assert_eq!(read_back.json, saved.json);
    assert_eq!(second.status, 200);
    assert_eq!(second.json["version"], 2);
    assert_eq!(second.json["enabled"], false);
}

#[tokio::test]
async fn concurrent_puts_of_one_version_give_one_success_and_one_409() {
    let (h, _) = Harness::with_recorder().await;
    let put = Event::load("notification-prefs/put.json").caller("team-a", "u1");
    let mut other = put.body_json();
    other["enabled"] = false.into();
    let put_other = put.clone().body(&other);

    let (a, b) = futures::join!(h.prefs(&put), h.prefs(&put_other));
    let stale_file = h
        .prefs(&Event::load("notification-prefs/put-stale.json").caller("team-a", "u1"))
        .await;
    let replay = h.prefs(&put).await;

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let loser = if a.status == 409 { &a } else { &b };
    assert_eq!(loser.error_code(), "conflict");
    assert!(loser.error_message().contains("reload"));
    assert_eq!(stale_file.status, 409);
    assert_eq!(replay.status, 409, "version 0 is stale once saved");
    let stored = h.store.get_prefs(&team("team-a")).await.unwrap().unwrap();
    assert_eq!(stored.version, 1, "exactly one write landed");
}

#[tokio::test]
async fn recipients_are_added_invited_listed_and_removed_through_the_preferences_api() {
    let (h, _) = Harness::with_recorder().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let ana = format!("ana.{tag}@example.com");
    let bo = format!("bo.{tag}@example.com");
    let add = |who: &str, body: Value| {
        Event::load("notification-prefs/add-recipient.json")
            .caller("team-r", who)
            .email(&ana)
            .body(&body)
    };
    let list = || {
        Event::load("notification-prefs/get.json")
            .caller("team-r", "user-ana")
            .email(&ana)
    };

    // An address the identity provider did not verify is not the caller's own.
    let unverified = h
        .prefs(&add("user-ana", json!({"name": "Ana"})).without_claim("email_verified"))
        .await;
    assert_eq!(unverified.status, 422, "{}", unverified.text);
    assert_eq!(unverified.json["error"]["field"], "email");

    // Ana adds herself: active at once, no mail.
    let me = h.prefs(&add("user-ana", json!({"name": "Ana"}))).await;
    assert_eq!(me.status, 201, "{}", me.text);
    assert_eq!(
        (me.json["state"].as_str(), me.json["you"].as_bool()),
        (Some("active"), Some(true))
    );
    let again = h.prefs(&add("user-ana", json!({"name": "Ana"}))).await;
    assert_eq!(again.status, 409);

    // She invites Bo: pending, one confirmation mail.
    let invited = h
        .prefs(&add("user-ana", json!({"email": bo, "name": "Bo"})))
        .await;
    assert_eq!(invited.status, 201, "{}", invited.text);
    assert_eq!(invited.json["state"], "pending");
    assert!(invited.json["invitation_expires_at"].is_string());
    // Invited again within a day: refused, no second mail.
    let soon = h
        .prefs(&add("user-ana", json!({"email": bo, "name": "Bo"})))
        .await;
    assert_eq!(soon.status, 409, "{}", soon.text);
    // Invalid input: a clear 422, nothing written.
    for (body, field) in [
        (json!({"email": "no-at-sign", "name": "X"}), "email"),
        (json!({"email": "x@example.com", "name": " "}), "name"),
        (
            json!({"email": "x@example.com", "name": "X\u{202e}"}),
            "name",
        ),
    ] {
        let refused = h.prefs(&add("user-ana", body)).await;
        assert_eq!(refused.status, 422, "{}", refused.text);
        assert_eq!(refused.json["error"]["field"], field);
    }
    let unknown = h
        .prefs(&add("user-ana", json!({"name": "X", "team_id": "t"})))
        .await;
    assert_eq!(unknown.status, 400);

    let listed = h.prefs(&list()).await;
    assert_eq!(listed.status, 200);
    let mut states: Vec<(&str, &str)> = listed.json["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    states.sort();
    assert_eq!(states, [(ana.as_str(), "active"), (bo.as_str(), "pending")]);
    // Another team sees none of them.
    let other = h
        .prefs(&Event::load("notification-prefs/get.json").caller("team-other", "u"))
        .await;
    assert_eq!(other.json["recipients"], json!([]));

    // Removed by id; a second removal is a 404.
    let id = invited.json["id"].as_str().unwrap().to_owned();
    let remove = Event::load("notification-prefs/remove-recipient.json")
        .caller("team-r", "user-ana")
        .path(&format!("/notification-preferences/recipients/{id}"));
    let removed = h.prefs(&remove).await;
    assert_eq!(removed.status, 200, "{}", removed.text);
    assert_eq!(removed.json, json!({"id": id, "removed": true}));
    assert_eq!(h.prefs(&remove).await.status, 404);
    let other_team = h
        .prefs(
            &Event::load("notification-prefs/remove-recipient.json")
                .caller("team-other", "u")
                .path(&format!(
                    "/notification-preferences/recipients/{}",
                    me.json["id"].as_str().unwrap()
                )),
        )
        .await;
    assert_eq!(
        other_team.status, 404,
        "a team cannot remove another team's recipient"
    );
}

#[tokio::test]
async fn a_team_sends_at_most_its_daily_allowance_of_confirmation_mails() {
    let (h, _) = Harness::with_recorder().await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let cap = h.prefs_api.recipients.settings.confirmations_per_day;
    let add = |n: u32| {
        Event::load("notification-prefs/add-recipient.json")
            .caller("team-q", "user-ana")
            .body(&json!({"email": format!("p{n}.{tag}@example.com"), "name": "P"}))
    };
    for n in 0..cap {
        assert_eq!(h.prefs(&add(n)).await.status, 201);
    }
    let over = h.prefs(&add(cap)).await;
    assert_eq!(over.status, 429, "{}", over.text);
    assert_eq!(over.error_code(), "too_many_requests");
    let prefs = h.store.get_prefs(&team("team-q")).await.unwrap().unwrap();
    assert_eq!(
        prefs.recipients.len(),
        cap as usize,
        "the refused one was not written"
    );
    // The next day the allowance is back.
    h.clock.advance(Duration::days(1));
    assert_eq!(h.prefs(&add(cap)).await.status, 201);
}
