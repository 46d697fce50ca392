//! A team's recipients, one item each right after the team's prefs item, and the per-team
//! daily allowances (quota items that expire on their own).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Duration, Utc};

use super::codec::{attr, kind, n, s, set, set_opt, t, Fields, Item};
use super::error::conditional;
use super::keys;
use super::table::LAYOUT;
use super::{key, names, values, DynamoStore};
use crate::domain::{
    EmailAddress, Invitation, Recipient, RecipientId, RecipientState, TeamId, UserId,
};
use crate::store::{StateChange, StoreError};

pub(super) fn recipient_sk(id: &RecipientId) -> String {
    format!("{}{id}", keys::RECIPIENT_PREFIX)
}

pub(super) fn recipient_item(r: &Recipient) -> Item {
    let mut item = Item::new();
    set(&mut item, LAYOUT.partition_key, s(keys::team_pk(&r.team)));
    set(&mut item, LAYOUT.sort_key, s(recipient_sk(&r.id)));
    set(&mut item, attr::KIND, s(kind::RECIPIENT));
    set(&mut item, "team", s(r.team.as_str()));
    set(&mut item, "recipient_id", s(r.id.as_str()));
    set(&mut item, "email", s(r.email.as_str()));
    set(&mut item, "name", s(&r.name));
    set(&mut item, attr::STATE, s(r.state.as_str()));
    set_opt(&mut item, "user_id", r.user_id.as_ref(), |u| s(u.as_str()));
    set(&mut item, "added_by", s(r.added_by.as_str()));
    set(&mut item, attr::CREATED_AT, t(r.added_at));
    set(&mut item, attr::UPDATED_AT, t(r.updated_at));
    if let Some(inv) = &r.invitation {
        set(&mut item, "nonce", s(&inv.nonce));
        set(&mut item, attr::EXPIRES_AT, t(inv.expires_at));
    }
    item
}

pub(super) fn recipient_from_item(item: &Item) -> Result<Recipient, StoreError> {
    let f = Fields::new(item);
    f.kind(kind::RECIPIENT)?;
    let team = f.team()?;
    let id = f.parsed("recipient_id", RecipientId::parse)?;
    f.key_is(&keys::team_pk(&team), &recipient_sk(&id))?;
    let email = f.parsed("email", |e| EmailAddress::parse(e).ok())?;
    if RecipientId::of(&email) != id {
        return Err(f.bad("the recipient id is not the address's"));
    }
    let invitation = match f.opt_s("nonce")? {
        None => None,
        Some(nonce) => Some(Invitation {
            nonce: nonce.to_owned(),
            expires_at: f.time(attr::EXPIRES_AT)?,
        }),
    };
    Ok(Recipient {
        team,
        id,
        email,
        name: f.s("name")?.to_owned(),
        state: f.parsed(attr::STATE, RecipientState::parse)?,
        user_id: f.opt_parsed("user_id", |u| UserId::parse(u).ok())?,
        added_by: f.parsed("added_by", |u| UserId::parse(u).ok())?,
        added_at: f.time(attr::CREATED_AT)?,
        updated_at: f.time(attr::UPDATED_AT)?,
        invitation,
    })
}

/// `from` as a condition: `#st IN (:s0, :s1, ...)`.
fn state_in(
    from: &[RecipientState],
    values: &mut HashMap<String, AttributeValue>,
) -> Option<String> {
    if from.is_empty() {
        return None;
    }
    let names: Vec<String> = from
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let name = format!(":s{i}");
            values.insert(name.clone(), s(st.as_str()));
            name
        })
        .collect();
    Some(format!("#st IN ({})", names.join(", ")))
}

impl DynamoStore {
    pub(super) async fn recipient_item_of(
        &self,
        team: &TeamId,
        id: &RecipientId,
    ) -> Result<Option<Recipient>, StoreError> {
        self.get_item(keys::team_pk(team), &recipient_sk(id))
            .await?
            .map(|item| recipient_from_item(&item))
            .transpose()
    }

    pub(super) async fn save_recipient_item(
        &self,
        r: &Recipient,
        expect: Option<RecipientState>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(recipient_item(r)));
        let request = match expect {
            None => request
                .condition_expression("attribute_not_exists(#pk)")
                .set_expression_attribute_names(names([("#pk", LAYOUT.partition_key)])),
            Some(state) => request
                .condition_expression("#st = :st")
                .set_expression_attribute_names(names([("#st", attr::STATE)]))
                .set_expression_attribute_values(values([(":st", s(state.as_str()))])),
        };
        match conditional(request.send().await)? {
            Some(_) => Ok(()),
            None => Err(StoreError::Conflict),
        }
    }

    pub(super) async fn set_recipient_state_item(
        &self,
        team: &TeamId,
        id: &RecipientId,
        change: StateChange<'_>,
    ) -> Result<bool, StoreError> {
        let mut values = HashMap::from([
            (":to".to_owned(), s(change.to.as_str())),
            (":now".to_owned(), t(change.now)),
        ]);
        let names = HashMap::from([
            ("#pk".to_owned(), LAYOUT.partition_key.to_owned()),
            ("#st".to_owned(), attr::STATE.to_owned()),
            ("#ua".to_owned(), attr::UPDATED_AT.to_owned()),
            ("#nonce".to_owned(), "nonce".to_owned()),
            ("#exp".to_owned(), attr::EXPIRES_AT.to_owned()),
        ]);
        let mut condition = vec!["attribute_exists(#pk)".to_owned()];
        condition.extend(state_in(change.from, &mut values));
        if let Some(nonce) = change.nonce {
            values.insert(":nonce".into(), s(nonce));
            condition.push("#nonce = :nonce AND #exp > :now".into());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::team_pk(team), &recipient_sk(id))))
            .update_expression("SET #st = :to, #ua = :now REMOVE #nonce, #exp")
            .condition_expression(condition.join(" AND "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    pub(super) async fn remove_recipient_item(
        &self,
        team: &TeamId,
        id: &RecipientId,
        from: &[RecipientState],
    ) -> Result<bool, StoreError> {
        let mut values = HashMap::new();
        let mut condition = vec!["attribute_exists(#pk)".to_owned()];
        condition.extend(state_in(from, &mut values));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::team_pk(team), &recipient_sk(id))))
            .condition_expression(condition.join(" AND "))
            .set_expression_attribute_names(names([
                ("#pk", LAYOUT.partition_key),
                ("#st", attr::STATE),
            ]))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    /// One counter item per team, allowance and UTC day, counted up under the cap and
    /// gone (TTL) two days later.
    pub(super) async fn take_quota_item(
        &self,
        team: &TeamId,
        what: &str,
        cap: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let day = now.format("%Y-%m-%d");
        let expires = (now + Duration::days(2)).timestamp();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::team_pk(team),
                &format!("{}{what}#{day}", keys::QUOTA_PREFIX),
            )))
            .update_expression("ADD #used :one SET #kind = :kind, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#used) OR #used < :cap")
            .set_expression_attribute_names(names([
                ("#used", "used"),
                ("#kind", attr::KIND),
                ("#ttl", LAYOUT.ttl_attribute),
            ]))
            .set_expression_attribute_values(values([
                (":one", n(1)),
                (":cap", n(cap)),
                (":kind", s(kind::QUOTA)),
                (":ttl", n(expires)),
            ]))
            .return_values(ReturnValue::None)
            .send()
            .await;
        Ok(conditional(result)?.is_some())
    }

    /// The prefs item and every recipient item of the team, in one strongly consistent
    /// Query (the recipient keys sort right after the prefs key).
    pub(super) async fn prefs_and_recipients(
        &self,
        team: &TeamId,
    ) -> Result<(Option<Item>, Vec<Recipient>), StoreError> {
        let mut prefs = None;
        let mut recipients = Vec::new();
        for item in self
            .query_prefix(team, keys::PREFS_SK, false, false)
            .await?
        {
            match item.get(LAYOUT.sort_key).and_then(|k| k.as_s().ok()) {
                Some(k) if k == keys::PREFS_SK => prefs = Some(item),
                Some(k) if k.starts_with(keys::RECIPIENT_PREFIX) => {
                    recipients.push(recipient_from_item(&item)?)
                }
                _ => {}
            }
        }
        recipients.sort_by(|a, b| a.added_at.cmp(&b.added_at).then(a.id.cmp(&b.id)));
        Ok((prefs, recipients))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_recipient_round_trips_with_and_without_an_invitation() {
        let email = EmailAddress::parse("ana@example.com").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let mut r = Recipient {
            team: TeamId::parse("t1").unwrap(),
            id: RecipientId::of(&email),
            email,
            name: "Ana".into(),
            state: RecipientState::Pending,
            user_id: None,
            added_by: UserId::parse("u1").unwrap(),
            added_at: at,
            updated_at: at,
            invitation: Some(Invitation {
                nonce: "abc".into(),
                expires_at: at + Duration::days(3),
            }),
        };
        assert_eq!(recipient_from_item(&recipient_item(&r)).unwrap(), r);
        r.invitation = None;
        r.state = RecipientState::Active;
        r.user_id = Some(UserId::parse("u2").unwrap());
        assert_eq!(recipient_from_item(&recipient_item(&r)).unwrap(), r);
        // An item whose id is not its address's is refused.
        let mut item = recipient_item(&r);
        item.insert("email".into(), s("bo@example.com"));
        assert!(recipient_from_item(&item).is_err());
    }
}
