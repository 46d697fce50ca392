//! The digest a team member gets: one message a run listing every account that crossed a
//! milestone, each with what happened, what to do, and a reconnect link.

use chrono::{DateTime, Utc};
use url::Url;

use super::Email;
use crate::domain::{AccountId, Milestone, Provider, Reason, Recipient};

/// One line of the digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestEntry {
    pub account: AccountId,
    pub provider: Provider,
    pub display_name: String,
    pub milestone: Milestone,
    pub reason: Option<Reason>,
    pub reconnect_by: Option<DateTime<Utc>>,
}

/// The reconnect link for an account: the frontend's settings URL with `reconnect={id}`.
pub fn reconnect_link(frontend: &Url, account: &AccountId) -> Url {
    let mut url = frontend.clone();
    url.query_pairs_mut()
        .append_pair("reconnect", account.as_str());
    url
}

fn headline(entry: &DigestEntry) -> String {
    let network = entry.provider.spec().display_name;
    let name = &entry.display_name;
    match entry.milestone {
        Milestone::Expiring { days } => {
            let when = entry
                .reconnect_by
                .map(|t| format!(" (by {})", t.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default();
            format!("{name} ({network}) must be reconnected within {days} day(s){when}.")
        }
        Milestone::Expired => format!(
            "{name} ({network}) expired and is disconnected. Reconnect it to continue posting."
        ),
        Milestone::Disconnected => {
            let why = entry.reason.unwrap_or(Reason::Unknown).sentence(network);
            format!("{name} ({network}) was disconnected. {why}")
        }
        Milestone::Recovered => format!("{name} ({network}) is connected again. Nothing to do."),
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders the digest for one recipient. Entries are listed most urgent first.
pub fn render(recipient: &Recipient, entries: &[DigestEntry], frontend: &Url) -> Email {
    let mut entries: Vec<&DigestEntry> = entries.iter().collect();
    entries.sort_by_key(|e| {
        let rank = match e.milestone {
            Milestone::Disconnected => 0,
            Milestone::Expired => 1,
            Milestone::Expiring { days } => 2 + days,
            Milestone::Recovered => u32::MAX,
        };
        (rank, e.display_name.clone())
    });
    let needs_action = entries
        .iter()
        .filter(|e| e.milestone != Milestone::Recovered)
        .count();
    let subject = match needs_action {
        0 => "Your social accounts are connected again".to_owned(),
        1 => "1 social account needs your attention".to_owned(),
        n => format!("{n} social accounts need your attention"),
    };

    let mut text = format!("Hello {},\n\n", recipient.name);
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><p>Hello {},</p><ul>",
        escape(&recipient.name)
    );
    for entry in &entries {
        let line = headline(entry);
        text.push_str("- ");
        text.push_str(&line);
        html.push_str("<li><p>");
        html.push_str(&escape(&line));
        if entry.milestone != Milestone::Recovered {
            let link = reconnect_link(frontend, &entry.account);
            text.push_str(&format!("\n  Reconnect: {link}"));
            html.push_str(&format!(
                " <a href=\"{}\">Reconnect {}</a>",
                escape(link.as_str()),
                escape(&entry.display_name)
            ));
        }
        text.push('\n');
        html.push_str("</p></li>");
    }
    text.push_str(
        "\nYou get this because your team chose you for connection alerts. Change this in the notification settings.\n",
    );
    html.push_str(
        "</ul><p style=\"color:#666\">You get this because your team chose you for connection alerts. Change this in the notification settings.</p></body></html>",
    );
    Email {
        to: recipient.email.clone(),
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmailAddress, UserId};
    use chrono::TimeZone;

    fn recipient() -> Recipient {
        Recipient {
            user_id: UserId::parse("u1").unwrap(),
            email: EmailAddress::parse("ana@example.com").unwrap(),
            name: "Ana <admin>".into(),
        }
    }

    fn entry(id: &str, milestone: Milestone, reason: Option<Reason>) -> DigestEntry {
        DigestEntry {
            account: AccountId::parse(id).unwrap(),
            provider: Provider::Facebook,
            display_name: format!("Page {id}"),
            milestone,
            reason,
            reconnect_by: Some(Utc.with_ymd_and_hms(2026, 12, 30, 3, 0, 0).unwrap()),
        }
    }

    #[test]
    fn digest_lists_each_entry_with_cause_and_reconnect_link_in_text_and_html() {
        let frontend = Url::parse("https://app.example.com/settings/social").unwrap();
        let email = render(
            &recipient(),
            &[
                entry("a1", Milestone::Expiring { days: 7 }, None),
                entry("a2", Milestone::Disconnected, Some(Reason::PasswordChanged)),
                entry("a3", Milestone::Recovered, None),
            ],
            &frontend,
        );
        assert_eq!(email.subject, "2 social accounts need your attention");
        assert_eq!(email.to.as_str(), "ana@example.com");
        // Disconnected first, naming the cause.
        let a2 = email.text.find("Page a2").unwrap();
        let a1 = email.text.find("Page a1").unwrap();
        assert!(a2 < a1);
        assert!(email.text.contains("password"));
        assert!(email.text.contains("within 7 day(s)"));
        assert!(email
            .text
            .contains("https://app.example.com/settings/social?reconnect=a1"));
        assert!(!email.text.contains("reconnect=a3"));
        assert!(email
            .html
            .contains("href=\"https://app.example.com/settings/social?reconnect=a2\""));
        assert!(email.html.contains("Ana &lt;admin&gt;"));
        assert!(!email.html.contains("<admin>"));
    }
}
