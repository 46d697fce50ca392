//! What SES says back about our mails, through the configuration set's EventBridge event
//! destination (a rule on the default bus puts the events on a queue): a `Send` confirms a
//! digest's dispatch, a hard bounce marks the recipient `bounced`, a complaint marks it
//! `complained`. Either stops mail to that address for that team, and the team sees it in
//! its preferences. SES finds the recipient and dispatch again through the message tags.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{MailKind, MailTags};
use crate::domain::{Clock, RecipientState};
use crate::store::{Ledger, PrefsStore, StateChange, StoreError};

/// What one SES event says about one of our mails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEvent {
    pub what: Feedback,
    pub tags: MailTags,
    pub message_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// SES accepted the message (`Email Sent`).
    Sent,
    /// `Email Bounced`: `permanent` for a hard bounce (`bounceType: Permanent`).
    Bounced { permanent: bool },
    /// `Email Complaint Received`.
    Complained,
}

/// The EventBridge event SES publishes (only the fields read).
#[derive(Debug, Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Detail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    mail: MailPart,
    bounce: Option<BouncePart>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailPart {
    message_id: String,
    #[serde(default)]
    tags: HashMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncePart {
    bounce_type: String,
}

/// Why an event was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unread {
    #[error("not an SES event of a kind we read")]
    NotOurs,
    #[error("the event is not SES's shape: {0}")]
    Shape(String),
    #[error("the message carries no tags of ours")]
    Untagged,
}

/// Reads one EventBridge event body.
pub fn parse_event(body: &str) -> Result<MailEvent, Unread> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| {
        // serde's message names a field or a type, never a value of ours.
        Unread::Shape(format!("line {} column {}", e.line(), e.column()))
    })?;
    if envelope.source != "aws.ses" {
        return Err(Unread::NotOurs);
    }
    let what = match envelope.detail_type.as_str() {
        "Email Sent" => Feedback::Sent,
        "Email Bounced" => Feedback::Bounced {
            permanent: envelope
                .detail
                .bounce
                .as_ref()
                .is_some_and(|b| b.bounce_type == "Permanent"),
        },
        "Email Complaint Received" => Feedback::Complained,
        _ => return Err(Unread::NotOurs),
    };
    let tags = MailTags::from_event(&envelope.detail.mail.tags).ok_or(Unread::Untagged)?;
    Ok(MailEvent {
        what,
        tags,
        message_id: envelope.detail.mail.message_id,
    })
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A dispatch confirmed, its entries recorded as received by its recipient.
    Confirmed { entries: usize },
    /// The recipient's state changed.
    Marked(RecipientState),
    /// Nothing to change (a soft bounce, an already-marked recipient, a removed one).
    Nothing,
}

/// The `mail-feedback` function's work.
pub struct FeedbackService {
    pub prefs: Arc<dyn PrefsStore>,
    pub ledger: Arc<dyn Ledger>,
    pub clock: Arc<dyn Clock>,
}

/// The states a hard bounce moves a recipient from.
const BOUNCES_FROM: &[RecipientState] = &[RecipientState::Pending, RecipientState::Active];

/// The states a complaint moves a recipient from (every one but `complained`).
const COMPLAINS_FROM: &[RecipientState] = &[
    RecipientState::Pending,
    RecipientState::Active,
    RecipientState::Unsubscribed,
    RecipientState::Bounced,
];

impl FeedbackService {
    pub async fn apply(&self, event: &MailEvent) -> Result<Applied, StoreError> {
        let now = self.clock.now();
        match event.what {
            Feedback::Sent => self.confirm_sent(&event.tags, now).await,
            Feedback::Bounced { permanent: false } => Ok(Applied::Nothing),
            Feedback::Bounced { permanent: true } => {
                self.mark(event, RecipientState::Bounced, BOUNCES_FROM, now)
                    .await
            }
            Feedback::Complained => {
                self.mark(event, RecipientState::Complained, COMPLAINS_FROM, now)
                    .await
            }
        }
    }

    /// A digest SES accepted: its dispatch is confirmed and each of its entries recorded
    /// as received by its recipient. Any other mail's `Send` changes nothing.
    async fn confirm_sent(
        &self,
        tags: &MailTags,
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let (MailKind::Digest, Some(id)) = (tags.kind, &tags.dispatch) else {
            return Ok(Applied::Nothing);
        };
        let Some(dispatch) = self.ledger.confirm_dispatch(&tags.team, id, now).await? else {
            return Ok(Applied::Nothing);
        };
        for (account, milestone) in &dispatch.entries {
            match self
                .ledger
                .add_dispatched(
                    &tags.team,
                    account,
                    *milestone,
                    &dispatch.recipient,
                    dispatch.created_at,
                    now,
                )
                .await
            {
                // The entry went (a disconnect, a reconnect), or is a newer one of the
                // same milestone: nothing to record.
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Applied::Confirmed {
            entries: dispatch.entries.len(),
        })
    }

    /// Moves the event's recipient to `to` if it is in one of `from`.
    async fn mark(
        &self,
        event: &MailEvent,
        to: RecipientState,
        from: &'static [RecipientState],
        now: DateTime<Utc>,
    ) -> Result<Applied, StoreError> {
        let tags = &event.tags;
        let change = StateChange {
            to,
            from,
            nonce: None,
            now,
        };
        if self
            .prefs
            .set_recipient_state(&tags.team, &tags.recipient, change)
            .await?
        {
            tracing::warn!(team = %tags.team, recipient = %tags.recipient,
                state = change.to.as_str(), message_id = %event.message_id,
                "recipient marked; no more mail to it for this team");
            Ok(Applied::Marked(change.to))
        } else {
            Ok(Applied::Nothing)
        }
    }

    /// One SQS batch: each record's body is one EventBridge event. A record that is not an
    /// SES event of ours is dropped with a log line (retrying cannot help); a store fault
    /// is reported as a batch item failure, so SQS hands that record out again.
    pub async fn handle(&self, batch: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in batch.records {
            let id = record.message_id.clone().unwrap_or_default();
            let event = match parse_event(record.body.as_deref().unwrap_or("")) {
                Ok(event) => event,
                Err(why) => {
                    tracing::warn!(record = %id, why = %why, "mail event dropped");
                    continue;
                }
            };
            match self.apply(&event).await {
                Ok(applied) => {
                    tracing::info!(record = %id, team = %event.tags.team, ?applied, "mail event applied")
                }
                Err(e) => {
                    tracing::warn!(record = %id, error = %e, "mail event not applied; handed out again");
                    response.add_failure(id);
                }
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{RecipientId, TeamId};
    use serde_json::json;

    fn event(detail_type: &str, extra: serde_json::Value) -> String {
        let tags = MailTags {
            kind: MailKind::Digest,
            team: TeamId::parse("team:1").unwrap(),
            recipient: RecipientId::parse("r0123456789abcdef0123").unwrap(),
            dispatch: Some("00ff".into()),
        };
        let tags: serde_json::Map<String, serde_json::Value> = tags
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!([v])))
            .collect();
        let mut detail = json!({
            "eventType": "Bounce",
            "mail": {"timestamp": "2026-12-01T00:00:00.000Z", "source": "alerts@example.com",
                     "messageId": "m-1", "destination": ["ana@example.com"], "tags": tags},
        });
        for (k, v) in extra.as_object().unwrap() {
            detail[k] = v.clone();
        }
        json!({"version": "0", "id": "e-1", "detail-type": detail_type, "source": "aws.ses",
               "account": "123456789012", "time": "2026-12-01T00:00:01Z", "region": "eu-west-1",
               "resources": [], "detail": detail})
        .to_string()
    }

    #[test]
    fn ses_events_are_read_by_kind_with_their_tags() {
        let sent = parse_event(&event("Email Sent", json!({"send": {}}))).unwrap();
        assert_eq!(sent.what, Feedback::Sent);
        assert_eq!(sent.tags.team.as_str(), "team:1");
        assert_eq!(sent.tags.dispatch.as_deref(), Some("00ff"));
        let hard = event(
            "Email Bounced",
            json!({"bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                   "bouncedRecipients": [{"emailAddress": "ana@example.com"}]}}),
        );
        assert_eq!(
            parse_event(&hard).unwrap().what,
            Feedback::Bounced { permanent: true }
        );
        let soft = event(
            "Email Bounced",
            json!({"bounce": {"bounceType": "Transient", "bounceSubType": "MailboxFull"}}),
        );
        assert_eq!(
            parse_event(&soft).unwrap().what,
            Feedback::Bounced { permanent: false }
        );
        let complaint = event(
            "Email Complaint Received",
            json!({"complaint": {"complainedRecipients": [{"emailAddress": "ana@example.com"}]}}),
        );
        assert_eq!(parse_event(&complaint).unwrap().what, Feedback::Complained);
        assert_eq!(
            parse_event(&event("Email Opened", json!({}))),
            Err(Unread::NotOurs)
        );
        assert!(matches!(parse_event("{"), Err(Unread::Shape(_))));
        let untagged = event("Email Sent", json!({})).replace("tw_team", "other");
        assert_eq!(parse_event(&untagged), Err(Unread::Untagged));
    }
}
