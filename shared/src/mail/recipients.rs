//! Who receives a team's digests, and how they agreed: a team member adds themself (their
//! own address, from the JWT, needs no confirmation), or someone else's address waits,
//! `pending`, until its owner follows the one-time confirm link mailed to it (double
//! opt-in). Anyone can leave with the unsubscribe link in every mail. An address whose
//! owner said no (unsubscribed, complained) or that bounced stays on the list so that no
//! one else can sign it up again; only the person can, by adding themself.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use url::Url;

use super::links::{self, LinkClaims, LinkError, LinkPurpose, LinkSigner};
use super::{
    render_confirmation, Branding, Confirmation, Email, MailError, MailKind, MailTags, Mailer,
};
use crate::domain::{
    Clock, EmailAddress, Invitation, NotificationPrefs, Recipient, RecipientId, RecipientState,
    TeamId, UserId,
};
use crate::store::{PrefsStore, StateChange, StoreError};

/// The most recipients a team may list (in any state).
pub const MAX_RECIPIENTS: usize = 50;
/// The longest recipient name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The allowance names of `PrefsStore::take_quota`.
pub const QUOTA_CONFIRMATIONS: &str = "confirmations";
pub const QUOTA_DIGESTS: &str = "digests";

/// How mails look and where their links go, for every function that mails or opens links.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub branding: Branding,
    /// The API's public base URL: `{base}/mail/confirm?token=…`, `{base}/mail/unsubscribe?token=…`.
    pub links_base: Url,
    /// The frontend page with the account list (reconnect links, the alert settings).
    pub frontend_url: Url,
    /// Confirmation mails a team may send per UTC day.
    pub confirmations_per_day: u32,
    /// Digests a team may send per UTC day (every recipient's counts).
    pub digests_per_day: u32,
    /// How long a confirm link works.
    pub invitation_ttl: Duration,
}

impl MailSettings {
    pub fn new(branding: Branding, links_base: Url, frontend_url: Url) -> Self {
        Self {
            branding,
            links_base,
            frontend_url,
            confirmations_per_day: 20,
            digests_per_day: 500,
            invitation_ttl: Duration::days(7),
        }
    }

    fn link(&self, route: &str, token: &str) -> Url {
        let mut url = self.links_base.clone();
        let path = format!("{}/mail/{route}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.query_pairs_mut().clear().append_pair("token", token);
        url
    }

    pub fn confirm_url(&self, token: &str) -> Url {
        self.link("confirm", token)
    }

    pub fn unsubscribe_url(&self, token: &str) -> Url {
        self.link("unsubscribe", token)
    }
}

/// Why a recipient operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("no recipient by that id in this team")]
    NotFound,
    #[error("this team sent {0} confirmation mails today, the most a day; try again tomorrow")]
    QuotaUsed(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing the link failed")]
    Link(#[source] LinkError),
    #[error("the confirmation mail was not sent")]
    Mail(#[source] MailError),
}

/// Who asks: the team, the person, and their own address when the JWT carries one.
#[derive(Debug, Clone)]
pub struct Asker {
    pub team: TeamId,
    pub user: UserId,
    pub email: Option<EmailAddress>,
}

/// What a link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOutcome {
    pub team_name: String,
    /// The recipient's state after it (unchanged when the link had nothing to do).
    pub state: Option<RecipientState>,
}

/// The recipient rules, behind the preferences API and the public link routes.
pub struct Recipients {
    pub prefs: Arc<dyn PrefsStore>,
    pub mailer: Arc<dyn Mailer>,
    pub signer: Arc<dyn LinkSigner>,
    pub settings: Arc<MailSettings>,
    pub clock: Arc<dyn Clock>,
}

fn clean_name(raw: &str) -> Result<String, RecipientError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(super::names::hidden)
    {
        return Err(RecipientError::Invalid {
            field: "name",
            message: format!(
                "a name is 1 to {MAX_NAME_CHARS} characters without control or format characters"
            ),
        });
    }
    Ok(name.to_owned())
}

/// The address to add: the one given, or else the asker's own.
fn address_to_add(
    asker: &Asker,
    email: Option<EmailAddress>,
) -> Result<EmailAddress, RecipientError> {
    email
        .or_else(|| asker.email.clone())
        .ok_or_else(|| RecipientError::Invalid {
            field: "email",
            message: "your sign-in carries no verified email address; give the address to add"
                .into(),
        })
}

/// Whether two addresses are the same mailbox (compared without regard to ASCII case).
fn same_address(a: &EmailAddress, b: &EmailAddress) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

/// A new address needs room on the team's list; one already on it does not.
fn check_room(
    prefs: &NotificationPrefs,
    existing: Option<&Recipient>,
) -> Result<(), RecipientError> {
    if existing.is_none() && prefs.recipients.len() >= MAX_RECIPIENTS {
        return Err(RecipientError::Invalid {
            field: "email",
            message: format!("a team has at most {MAX_RECIPIENTS} recipients"),
        });
    }
    Ok(())
}

impl Recipients {
    async fn prefs_of(&self, team: &TeamId) -> Result<NotificationPrefs, StoreError> {
        Ok(self
            .prefs
            .get_prefs(team)
            .await?
            .unwrap_or_else(|| NotificationPrefs::defaults(team.clone())))
    }

    /// Adds `email` (the asker's own when `None`) as a recipient named `name`. The asker's
    /// own address is active at once, even if it had left; another address is pending and
    /// gets one confirmation mail (again, while it is still pending: a new link).
    pub async fn add(
        &self,
        asker: &Asker,
        email: Option<EmailAddress>,
        name: &str,
    ) -> Result<Recipient, RecipientError> {
        let name = clean_name(name)?;
        let email = address_to_add(asker, email)?;
        let is_self = asker
            .email
            .as_ref()
            .is_some_and(|own| same_address(own, &email));
        let id = RecipientId::of(&email);
        let now = self.clock.now();
        let prefs = self.prefs_of(&asker.team).await?;
        let existing = prefs.recipients.iter().find(|r| r.id == id);
        check_room(&prefs, existing)?;
        let recipient = Recipient {
            team: asker.team.clone(),
            id,
            email,
            name,
            state: if is_self {
                RecipientState::Active
            } else {
                RecipientState::Pending
            },
            user_id: is_self.then(|| asker.user.clone()),
            added_by: asker.user.clone(),
            added_at: existing.map(|r| r.added_at).unwrap_or(now),
            updated_at: now,
            invitation: None,
        };
        if is_self {
            return self.add_self(asker, recipient, existing).await;
        }
        self.check_invitable(existing, now)?;
        self.take_confirmation_quota(&asker.team, now).await?;
        self.invite(asker, &prefs, recipient, existing.map(|r| r.state), now)
            .await
    }

    /// The asker adds their own address: active at once, unless it already is.
    async fn add_self(
        &self,
        asker: &Asker,
        recipient: Recipient,
        existing: Option<&Recipient>,
    ) -> Result<Recipient, RecipientError> {
        if existing.is_some_and(|r| r.active()) {
            return Err(RecipientError::Conflict(
                "you are already a recipient".into(),
            ));
        }
        self.prefs
            .save_recipient(&recipient, existing.map(|r| r.state))
            .await?;
        tracing::info!(team = %asker.team, recipient = %recipient.id, "recipient added themself");
        Ok(recipient)
    }

    /// Whether someone else's address may be invited (again), as it stands now.
    fn check_invitable(
        &self,
        existing: Option<&Recipient>,
        now: DateTime<Utc>,
    ) -> Result<(), RecipientError> {
        match existing.map(|r| (r.state, r.invitation.as_ref())) {
            None => Ok(()),
            // Mailed again at most once a day: nobody is flooded with invitations.
            Some((RecipientState::Pending, Some(inv)))
                if now < inv.expires_at - self.settings.invitation_ttl + Duration::days(1) =>
            {
                Err(RecipientError::Conflict(format!(
                    "this address was sent a confirmation link less than a day ago; it works until {}",
                    inv.expires_at.format("%Y-%m-%d %H:%M UTC")
                )))
            }
            Some((RecipientState::Pending, _)) => Ok(()),
            Some((RecipientState::Active, _)) => Err(RecipientError::Conflict(
                "this address is already a recipient".into(),
            )),
            Some(_) => Err(RecipientError::Conflict(
                "this address left the alerts or does not take mail; only its owner can join again, by adding themself".into(),
            )),
        }
    }

    /// One of the team's confirmation mails of the day, or `QuotaUsed`.
    async fn take_confirmation_quota(
        &self,
        team: &TeamId,
        now: DateTime<Utc>,
    ) -> Result<(), RecipientError> {
        let cap = self.settings.confirmations_per_day;
        if !self
            .prefs
            .take_quota(team, QUOTA_CONFIRMATIONS, cap, now)
            .await?
        {
            return Err(RecipientError::QuotaUsed(cap));
        }
        Ok(())
    }

    /// Saves the pending recipient with a new invitation (replacing any older one, whose
    /// link stops working) and mails its confirm link.
    async fn invite(
        &self,
        asker: &Asker,
        prefs: &NotificationPrefs,
        recipient: Recipient,
        was: Option<RecipientState>,
        now: DateTime<Utc>,
    ) -> Result<Recipient, RecipientError> {
        let invitation = Invitation {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: now + self.settings.invitation_ttl,
        };
        let recipient = Recipient {
            invitation: Some(invitation.clone()),
            ..recipient
        };
        self.prefs.save_recipient(&recipient, was).await?;
        let token = links::mint(
            self.signer.as_ref(),
            &LinkClaims {
                purpose: LinkPurpose::Confirm,
                team: asker.team.clone(),
                recipient: recipient.id.clone(),
                nonce: Some(invitation.nonce.clone()),
                expires_at: Some(invitation.expires_at),
            },
        )
        .await
        .map_err(RecipientError::Link)?;
        let email = self.confirmation_email(asker, prefs, &recipient, &invitation, &token);
        self.mailer
            .send(&email)
            .await
            .map_err(RecipientError::Mail)?;
        tracing::info!(team = %asker.team, recipient = %recipient.id, by = %asker.user, "recipient invited; confirmation mailed");
        Ok(recipient)
    }

    /// The mail that asks `recipient` to confirm, with the confirm link of `token`, in the
    /// name of the asker as the team's list knows them.
    fn confirmation_email(
        &self,
        asker: &Asker,
        prefs: &NotificationPrefs,
        recipient: &Recipient,
        invitation: &Invitation,
        token: &str,
    ) -> Email {
        let inviter = prefs
            .recipients
            .iter()
            .find(|r| r.user_id.as_ref() == Some(&asker.user))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "A member of your team".to_owned());
        let confirm = self.settings.confirm_url(token);
        let rendered = render_confirmation(&Confirmation {
            branding: &self.settings.branding,
            team_name: prefs.display_team_name(),
            recipient_name: &recipient.name,
            invited_by: &inviter,
            confirm: &confirm,
            expires_at: invitation.expires_at,
            time_zone: prefs.time_zone,
        });
        Email {
            to: recipient.email.clone(),
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
            headers: Vec::new(),
            tags: MailTags {
                kind: MailKind::Confirmation,
                team: asker.team.clone(),
                recipient: recipient.id.clone(),
                dispatch: None,
            },
        }
    }

    /// Removes a recipient. One who said no (or bounced) stays, so nobody signs them up
    /// again; removing yourself is always allowed.
    pub async fn remove(&self, asker: &Asker, id: &RecipientId) -> Result<(), RecipientError> {
        let Some(found) = self.prefs.recipient(&asker.team, id).await? else {
            return Err(RecipientError::NotFound);
        };
        let own = found.user_id.as_ref() == Some(&asker.user)
            || asker
                .email
                .as_ref()
                .is_some_and(|e| e.as_str().eq_ignore_ascii_case(found.email.as_str()));
        if found.state.refused() && !own {
            return Err(RecipientError::Conflict(format!(
                "this recipient is {}: the entry stays so that the address is not signed up again without its owner",
                found.state.as_str()
            )));
        }
        if !self
            .prefs
            .remove_recipient(&asker.team, id, &[found.state])
            .await?
        {
            return Err(RecipientError::Conflict(
                "the recipient changed meanwhile; reload and try again".into(),
            ));
        }
        tracing::info!(team = %asker.team, recipient = %id, by = %asker.user, "recipient removed");
        Ok(())
    }

    /// Opens a link for `purpose` and moves the recipient it names to `to` if it is in one
    /// of `from` (a confirm link's nonce must match too). Returns the claims and whether it
    /// moved.
    async fn follow(
        &self,
        token: &str,
        purpose: LinkPurpose,
        to: RecipientState,
        from: &[RecipientState],
    ) -> Result<(LinkClaims, bool), LinkUse> {
        let now = self.clock.now();
        let claims = links::open(self.signer.as_ref(), token, purpose, now)
            .await
            .map_err(LinkUse::Link)?;
        let change = StateChange {
            to,
            from,
            nonce: claims.nonce.as_deref(),
            now,
        };
        let moved = self
            .prefs
            .set_recipient_state(&claims.team, &claims.recipient, change)
            .await
            .map_err(LinkUse::Store)?;
        if moved {
            tracing::info!(team = %claims.team, recipient = %claims.recipient,
                state = to.as_str(), "recipient followed a mail link");
        }
        Ok((claims, moved))
    }

    /// Follows a confirm link: the pending recipient it names becomes active, once.
    pub async fn confirm(&self, token: &str) -> Result<LinkOutcome, LinkUse> {
        let to = RecipientState::Active;
        let (claims, moved) = self
            .follow(token, LinkPurpose::Confirm, to, &[RecipientState::Pending])
            .await?;
        if !moved {
            // Used already, replaced by a newer invitation, or removed: the same answer as
            // a forged link, so a link says nothing more than "not valid".
            return Err(LinkUse::Link(LinkError::Invalid));
        }
        self.outcome(&claims.team, Some(to)).await
    }

    /// Follows an unsubscribe link (RFC 8058 one-click POST, or the page's button): the
    /// recipient gets no more mail from this team. Harmless to repeat.
    pub async fn unsubscribe(&self, token: &str) -> Result<LinkOutcome, LinkUse> {
        let from = [RecipientState::Pending, RecipientState::Active];
        let (claims, _) = self
            .follow(
                token,
                LinkPurpose::Unsubscribe,
                RecipientState::Unsubscribed,
                &from,
            )
            .await?;
        self.current(&claims).await
    }

    /// The state of the recipient a (valid) link names, and its team's name.
    async fn current(&self, claims: &LinkClaims) -> Result<LinkOutcome, LinkUse> {
        let state = self
            .prefs
            .recipient(&claims.team, &claims.recipient)
            .await
            .map_err(LinkUse::Store)?
            .map(|r| r.state);
        self.outcome(&claims.team, state).await
    }

    /// The team name a link's page shows (the link was valid, so it may).
    async fn outcome(
        &self,
        team: &TeamId,
        state: Option<RecipientState>,
    ) -> Result<LinkOutcome, LinkUse> {
        let prefs = self.prefs_of(team).await.map_err(LinkUse::Store)?;
        Ok(LinkOutcome {
            team_name: prefs.display_team_name().to_owned(),
            state,
        })
    }

    /// Checks a link without using it (the page a GET shows before its button).
    pub async fn peek(&self, token: &str, purpose: LinkPurpose) -> Result<LinkOutcome, LinkUse> {
        let claims = links::open(self.signer.as_ref(), token, purpose, self.clock.now())
            .await
            .map_err(LinkUse::Link)?;
        self.current(&claims).await
    }
}

/// Why following a link did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LinkUse {
    #[error(transparent)]
    Link(LinkError),
    #[error(transparent)]
    Store(StoreError),
}

/// The unsubscribe link of one recipient of one team (the sweep puts it in every digest).
pub async fn unsubscribe_url(
    signer: &dyn LinkSigner,
    settings: &MailSettings,
    team: &TeamId,
    recipient: &RecipientId,
) -> Result<Url, LinkError> {
    let token = links::mint(
        signer,
        &LinkClaims {
            purpose: LinkPurpose::Unsubscribe,
            team: team.clone(),
            recipient: recipient.clone(),
            nonce: None,
            expires_at: None,
        },
    )
    .await?;
    Ok(settings.unsubscribe_url(&token))
}

/// The RFC 8058 headers of a digest with this unsubscribe link.
pub fn unsubscribe_headers(unsubscribe: &Url) -> Vec<(String, String)> {
    vec![
        ("List-Unsubscribe".to_owned(), format!("<{unsubscribe}>")),
        (
            "List-Unsubscribe-Post".to_owned(),
            "List-Unsubscribe=One-Click".to_owned(),
        ),
    ]
}
