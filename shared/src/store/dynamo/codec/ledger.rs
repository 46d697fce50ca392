//! The ledger entry item (the notification milestones of an account).

use super::*;

pub(in crate::store::dynamo) fn mail_state_str(state: MailState) -> &'static str {
    match state {
        MailState::Pending => "pending",
        MailState::Sent => "sent",
        MailState::Failed => "failed",
    }
}

fn parse_mail_state(raw: &str) -> Option<MailState> {
    [MailState::Pending, MailState::Sent, MailState::Failed]
        .into_iter()
        .find(|s| mail_state_str(*s) == raw)
}

/// A ledger entry as written by `record_pending`: pending, in the `pending` index.
pub(in crate::store::dynamo) fn ledger_item(entry: &LedgerEntry, shards: u16) -> Item {
    let mut item = Item::new();
    set(
        &mut item,
        LAYOUT.partition_key,
        s(keys::team_pk(&entry.team)),
    );
    set(
        &mut item,
        LAYOUT.sort_key,
        s(keys::ledger_sk(&entry.account, entry.milestone)),
    );
    set(&mut item, attr::KIND, s(kind::LEDGER));
    set(&mut item, "team", s(entry.team.as_str()));
    set(&mut item, attr::ACCOUNT_ID, s(entry.account.as_str()));
    set(&mut item, "milestone", s(entry.milestone.key()));
    set(
        &mut item,
        attr::STATE,
        s(mail_state_str(MailState::Pending)),
    );
    set(&mut item, attr::CREATED_AT, t(entry.created_at));
    set(&mut item, attr::UPDATED_AT, t(entry.updated_at));
    set_opt(&mut item, attr::DETAIL, entry.detail.as_deref(), s);
    if !entry.sent_to.is_empty() {
        set(
            &mut item,
            attr::SENT_TO,
            AttributeValue::Ss(entry.sent_to.iter().map(|u| u.to_string()).collect()),
        );
    }
    if let Some(people) = &entry.audience {
        // A list, not a set: DynamoDB refuses an empty set, and "nobody" is a real audience.
        set(
            &mut item,
            "audience",
            AttributeValue::L(people.iter().map(|r| s(r.as_str())).collect()),
        );
    }
    let shard = keys::shard_of(entry.team.as_str(), shards);
    set(
        &mut item,
        PENDING.partition_key,
        s(keys::pending_shard_key(shard)),
    );
    set(&mut item, PENDING.sort_key, t(entry.created_at));
    item
}

pub(in crate::store::dynamo) fn ledger_from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::LEDGER)?;
    let team = f.team()?;
    let account = f.account_id()?;
    let milestone = f.parsed("milestone", Milestone::parse)?;
    f.key_is(&keys::team_pk(&team), &keys::ledger_sk(&account, milestone))?;
    Ok(LedgerEntry {
        state: f.parsed(attr::STATE, parse_mail_state)?,
        created_at: f.time(attr::CREATED_AT)?,
        updated_at: f.time(attr::UPDATED_AT)?,
        detail: f.opt_s(attr::DETAIL)?.map(str::to_owned),
        // An entry from before recipients had ids holds user ids here: they name nobody now.
        sent_to: match item.get(attr::SENT_TO) {
            None => Vec::new(),
            Some(AttributeValue::Ss(people)) => {
                let mut people: Vec<RecipientId> = people
                    .iter()
                    .filter_map(|r| RecipientId::parse(r))
                    .collect();
                people.sort();
                people
            }
            Some(_) => return Err(f.bad("sent_to is not a string set")),
        },
        audience: match f.get("audience") {
            None => None,
            Some(AttributeValue::L(people)) => Some(
                people
                    .iter()
                    .map(|r| {
                        r.as_s()
                            .ok()
                            .and_then(|r| RecipientId::parse(r))
                            .ok_or_else(|| f.bad("audience holds a bad recipient id"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(f.bad("audience is not a list")),
        },
        team,
        account,
        milestone,
    })
}
