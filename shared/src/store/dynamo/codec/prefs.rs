//! The prefs item (the settings; recipients are `recipients.rs`'s).

use super::*;

/// The prefs item at `version` (the caller passes the next version): the settings only;
/// each recipient is an item of its own (`recipients.rs`).
pub(in crate::store::dynamo) fn prefs_item(prefs: &NotificationPrefs, version: u64) -> Item {
    let events = HashMap::from([
        (
            "expiring".to_owned(),
            AttributeValue::Bool(prefs.events.expiring),
        ),
        (
            "expired".to_owned(),
            AttributeValue::Bool(prefs.events.expired),
        ),
        (
            "disconnected".to_owned(),
            AttributeValue::Bool(prefs.events.disconnected),
        ),
        (
            "recovered".to_owned(),
            AttributeValue::Bool(prefs.events.recovered),
        ),
    ]);
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::team_pk(&prefs.team)),
    );
    set(&mut item, LAYOUT.sort_key, s(keys::PREFS_SK));
    set(&mut item, attr::KIND, s(kind::PREFS));
    set(&mut item, "team", s(prefs.team.as_str()));
    set_opt(&mut item, "team_name", prefs.team_name.as_deref(), s);
    set(&mut item, "time_zone", s(prefs.time_zone.name()));
    set(
        &mut item,
        "lead_days",
        AttributeValue::L(prefs.lead_days.iter().map(n).collect()),
    );
    set(&mut item, "events", AttributeValue::M(events));
    set(&mut item, "enabled", AttributeValue::Bool(prefs.enabled));
    set(&mut item, attr::VERSION, n(version));
    item
}

/// The settings of a prefs item (recipients empty: they are items of their own). An item
/// from before recipients had states carries a `recipients` list: it is not read, since
/// nobody on it agreed to be mailed.
pub(in crate::store::dynamo) fn prefs_from_item(
    item: &Item,
) -> Result<NotificationPrefs, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::PREFS)?;
    let team = f.team()?;
    f.key_is(&keys::team_pk(&team), keys::PREFS_SK)?;
    let lead_days = f
        .list("lead_days")?
        .iter()
        .map(|v| v.as_n().ok().and_then(|d| d.parse::<u32>().ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| f.bad("attribute lead_days holds a non-number"))?;
    let events = f.map("events")?;
    let event = |name: &str| match events.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        _ => Err(f.bad(format!("event {name} is missing or not a boolean"))),
    };
    Ok(NotificationPrefs {
        recipients: Vec::new(),
        team_name: f.opt_s("team_name")?.map(str::to_owned),
        time_zone: f
            .opt_parsed("time_zone", |z| z.parse::<chrono_tz::Tz>().ok())?
            .unwrap_or(chrono_tz::UTC),
        lead_days,
        events: MailEvents {
            expiring: event("expiring")?,
            expired: event("expired")?,
            disconnected: event("disconnected")?,
            recovered: event("recovered")?,
        },
        enabled: f.bool("enabled")?,
        version: f.u64(attr::VERSION)?,
        team,
    })
}
