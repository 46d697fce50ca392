//! The mail that asks someone a team member added to the connection alerts to confirm
//! before any alert is sent to them.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::dates::date_and_time;
use super::digest::{or_logged, team_or_default, Branding, Chrome, Rendered};
use super::names::{clean_name, NAME_CHARS, PERSON_CHARS};

/// The confirmation mail for one address.
#[derive(Debug, Clone, Copy)]
pub struct Confirmation<'a> {
    pub branding: &'a Branding,
    pub team_name: &'a str,
    pub recipient_name: &'a str,
    /// The team member who added the address.
    pub invited_by: &'a str,
    /// The page that confirms the address (one use, until `expires_at`).
    pub confirm: &'a Url,
    pub expires_at: DateTime<Utc>,
    /// The team's time zone, for the expiry.
    pub time_zone: Tz,
}

/// Renders the confirmation mail: who added the reader, what they will get, the confirm
/// link and until when it works, and that ignoring the mail sends them nothing.
pub fn render_confirmation(c: &Confirmation) -> Rendered {
    let product = clean_name(&c.branding.product, NAME_CHARS);
    let team = team_or_default(c.team_name);
    let mut invited_by = clean_name(c.invited_by, PERSON_CHARS);
    if invited_by.is_empty() {
        invited_by = "A member of the team".to_owned();
    }
    let subject = format!("{product}: confirm connection alerts for {team}");
    let body = Body {
        greeting: clean_name(c.recipient_name, PERSON_CHARS),
        invited_by,
        team,
        confirm: c.confirm.to_string(),
        expires: date_and_time(c.expires_at, c.time_zone),
        support: c.branding.support_url.as_ref().map(Url::to_string),
        product,
    };
    let chrome = Chrome::new(c.branding, &body.product, &subject);
    Rendered {
        text: or_logged(
            ConfirmationText { body: &body }.render(),
            "confirmation text",
        ),
        html: or_logged(
            ConfirmationHtml {
                chrome,
                body: &body,
            }
            .render(),
            "confirmation html",
        ),
        subject,
    }
}

/// What both parts of the confirmation mail say.
#[derive(Debug, Clone)]
struct Body {
    product: String,
    team: String,
    greeting: String,
    invited_by: String,
    confirm: String,
    expires: String,
    support: Option<String>,
}

#[derive(Template)]
#[template(path = "mail/confirmation.txt")]
struct ConfirmationText<'a> {
    body: &'a Body,
}

#[derive(Template)]
#[template(path = "mail/confirmation.html")]
struct ConfirmationHtml<'a> {
    chrome: Chrome,
    body: &'a Body,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::reading::{hrefs, html_text};

    fn branding() -> Branding {
        Branding {
            product: "Maybe*".into(),
            support_url: Some(Url::parse("https://help.example.com/alerts").unwrap()),
            logo_url: None,
        }
    }

    #[test]
    fn the_confirmation_names_who_added_the_reader_links_the_confirmation_and_says_until_when() {
        let branding = branding();
        let confirm = Url::parse("https://app.example.com/alerts/confirm?code=k3y&x=1").unwrap();

        let mail = render_confirmation(&Confirmation {
            branding: &branding,
            team_name: "Acme",
            recipient_name: "Ana",
            invited_by: "Bob\u{202E} <b>",
            confirm: &confirm,
            expires_at: "2026-12-08T05:00:00Z".parse().unwrap(),
            time_zone: chrono_tz::Asia::Tokyo,
        });

        assert_eq!(mail.subject, "Maybe*: confirm connection alerts for Acme");
        assert!(mail.text.contains(&format!("Confirm: {confirm}")));
        assert!(hrefs(&mail.html).iter().any(|h| h == confirm.as_str()));
        let expiry = "Tue, Dec 8, 2026, 14:00 (Asia/Tokyo)";
        let text = html_text(&mail.html);
        for part in [&mail.text, &text] {
            assert!(part.contains(expiry), "{part}");
            assert!(
                part.contains("Bob <b> added you to the connection alerts of Acme in Maybe*."),
                "{part}"
            );
            assert!(part.contains("Ignore this mail"), "{part}");
            assert!(part.contains("nothing else"), "{part}");
        }
        assert!(!mail.html.contains("<b>"));
        assert!(!mail.text.contains('\u{202E}'));
    }
}
