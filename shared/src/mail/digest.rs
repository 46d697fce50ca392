//! The digest a team member gets: one message a run listing every account that crossed a
//! milestone, grouped by what is asked of the reader (now, soon, nothing), each with what
//! happened in the team's own calendar and a reconnect link.
//!
//! The text and HTML parts are rendered from one [`Body`] by the templates in
//! `shared/templates/mail/` (the HTML one escapes every value), so both say the same.

use askama::Template;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use url::Url;

use super::dates::{calendar_days, date_and_time, long_date, short_date};
pub use super::names::clean_name;
use super::names::{NAME_CHARS, PERSON_CHARS};
use crate::domain::{AccountId, Milestone, Provider, Reason};

/// Who the mail comes from, as the reader knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    pub product: String,
    pub support_url: Option<Url>,
    pub logo_url: Option<Url>,
}

/// One line of the digest.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestEntry {
    pub account: AccountId,
    pub provider: Provider,
    pub display_name: String,
    pub milestone: Milestone,
    pub reason: Option<Reason>,
    pub reconnect_by: Option<DateTime<Utc>>,
    /// When the connection broke (`Broken::since`), for expired and disconnected accounts.
    pub broken_since: Option<DateTime<Utc>>,
}

/// The digest for one recipient of one team.
#[derive(Debug, Clone, Copy)]
pub struct Digest<'a> {
    pub branding: &'a Branding,
    pub team_name: &'a str,
    pub recipient_name: &'a str,
    /// The team's time zone: dates and days left are read on its calendar.
    pub time_zone: Tz,
    pub now: DateTime<Utc>,
    /// The frontend page with the account list; reconnect links point there
    /// ([`reconnect_link`]).
    pub frontend: &'a Url,
    /// Where the team changes its alerts.
    pub preferences: &'a Url,
    /// This recipient's one-click unsubscribe page.
    pub unsubscribe: &'a Url,
}

/// A mail's subject and its two parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The reconnect link for an account: the frontend's settings URL with `reconnect={id}`.
pub fn reconnect_link(frontend: &Url, account: &AccountId) -> Url {
    let mut url = frontend.clone();
    url.query_pairs_mut()
        .append_pair("reconnect", account.as_str());
    url
}

/// Renders the digest for one recipient: the most urgent group first, each entry with
/// what happened and (unless it is fixed) its reconnect link.
pub fn render(digest: &Digest, entries: &[DigestEntry]) -> Rendered {
    let tz = digest.time_zone;
    let product = clean_name(&digest.branding.product, NAME_CHARS);
    let team = team_or_default(digest.team_name);

    let mut groups: [Vec<(Sort, Line)>; 3] = Default::default();
    for entry in entries {
        let (group, line, sort) = entry_line(entry, digest);
        groups[group as usize].push((sort, line));
    }
    let broken = groups[Group::Now as usize].len();
    let soon = groups[Group::Soon as usize].len();
    let fixed = groups[Group::Fixed as usize].len();
    let earliest = entries
        .iter()
        .filter(|e| matches!(e.milestone, Milestone::Expiring { .. }))
        .filter_map(|e| e.reconnect_by)
        .filter(|by| *by > digest.now)
        .min();
    let summary = summary(broken, soon, fixed, earliest.map(|by| short_date(by, tz)));
    let subject = format!("{product}: {} of {team} {}", summary.count, summary.rest);

    let sections = [Group::Now, Group::Soon, Group::Fixed]
        .into_iter()
        .zip(groups)
        .filter(|(_, lines)| !lines.is_empty())
        .map(|(group, mut lines)| {
            lines.sort_by(|a, b| a.0.cmp(&b.0));
            Section::new(group, lines.into_iter().map(|(_, l)| l).collect())
        })
        .collect();

    let body = Body {
        product,
        team,
        greeting: clean_name(digest.recipient_name, PERSON_CHARS),
        summary,
        links_host: (broken + soon > 0)
            .then(|| digest.frontend.host_str().map(str::to_owned))
            .flatten(),
        sections,
        preferences: digest.preferences.to_string(),
        unsubscribe: digest.unsubscribe.to_string(),
        support: digest.branding.support_url.as_ref().map(Url::to_string),
    };
    let chrome = Chrome::new(digest.branding, &body.product, &subject);
    Rendered {
        text: or_logged(DigestText { body: &body }.render(), "digest text"),
        html: or_logged(
            DigestHtml {
                chrome,
                body: &body,
            }
            .render(),
            "digest html",
        ),
        subject,
    }
}

/// A team name fit to show, or "your team" when nothing of it is left.
pub(crate) fn team_or_default(raw: &str) -> String {
    let team = clean_name(raw, NAME_CHARS);
    if team.is_empty() {
        "your team".to_owned()
    } else {
        team
    }
}

/// A rendered part, or an empty one with the error logged. The templates print only
/// strings, whose formatting cannot fail, so this stays a fallback that never runs.
pub(crate) fn or_logged(part: askama::Result<String>, which: &'static str) -> String {
    part.unwrap_or_else(|e| {
        tracing::error!(error = %e, part = which, "a mail template did not render");
        String::new()
    })
}

/// The groups of the digest, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Disconnected and expired: posting has stopped.
    Now = 0,
    /// Expiring: a deadline is coming.
    Soon = 1,
    /// Recovered: nothing to do.
    Fixed = 2,
}

/// The order within a group: deadline (none last), then name.
type Sort = (bool, Option<DateTime<Utc>>, String, String);

/// One entry as both parts show it.
#[derive(Debug, Clone)]
struct Line {
    name: String,
    network: &'static str,
    /// What happened and what to do, in plain words.
    what: String,
    link: Option<String>,
}

#[derive(Debug, Clone)]
struct Section {
    heading: &'static str,
    /// The heading underlined in the text part.
    rule: String,
    /// The entries' left border, their background and the heading's colour.
    accent: &'static str,
    tint: &'static str,
    ink: &'static str,
    lines: Vec<Line>,
}

impl Section {
    fn new(group: Group, lines: Vec<Line>) -> Self {
        let (heading, accent, tint, ink) = match group {
            Group::Now => ("Needs action now", "#c81e1e", "#fdf0f0", "#9b1c1c"),
            Group::Soon => ("Coming up", "#c27803", "#fdf6e8", "#8a4b08"),
            Group::Fixed => ("Fixed", "#1f8a4c", "#edf7f0", "#1e6b3a"),
        };
        Self {
            heading,
            rule: "-".repeat(heading.chars().count()),
            accent,
            tint,
            ink,
            lines,
        }
    }
}

/// The count and the verb phrase the subject and the opening line are made of:
/// "2 accounts" of the team "need reconnecting by Dec 5".
#[derive(Debug, Clone)]
struct Summary {
    count: String,
    rest: String,
}

fn accounts(n: usize) -> String {
    match n {
        1 => "1 account".to_owned(),
        n => format!("{n} accounts"),
    }
}

fn summary(broken: usize, soon: usize, fixed: usize, earliest: Option<String>) -> Summary {
    let to_do = broken + soon;
    let need = if to_do == 1 { "needs" } else { "need" };
    let (count, rest) = match (broken, soon) {
        (0, 0) if fixed > 0 => (
            accounts(fixed),
            if fixed == 1 {
                "is connected again"
            } else {
                "are connected again"
            }
            .to_owned(),
        ),
        (0, 0) => ("No accounts".to_owned(), "need reconnecting".to_owned()),
        (0, _) => (
            accounts(soon),
            match earliest {
                Some(date) => format!("{need} reconnecting by {date}"),
                None => format!("{need} reconnecting soon"),
            },
        ),
        (_, 0) => (accounts(broken), format!("{need} reconnecting now")),
        (_, _) => (
            accounts(to_do),
            format!("{need} reconnecting, {broken} now"),
        ),
    };
    Summary { count, rest }
}

fn entry_line(entry: &DigestEntry, digest: &Digest) -> (Group, Line, Sort) {
    let network = entry.provider.spec().display_name;
    let tz = digest.time_zone;
    let now = digest.now;
    let (group, what, deadline) = match entry.milestone {
        Milestone::Disconnected => (
            Group::Now,
            entry.reason.unwrap_or(Reason::Unknown).sentence(network),
            entry.broken_since.or(entry.reconnect_by),
        ),
        Milestone::Expired => {
            let at = entry.broken_since.or(entry.reconnect_by);
            (Group::Now, expired(at, now, tz), at)
        }
        Milestone::Expiring { .. } => match entry.reconnect_by {
            // The deadline passed while the mail waited: it reads as expired.
            Some(by) if by <= now => (Group::Now, expired(Some(by), now, tz), Some(by)),
            Some(by) => (Group::Soon, expiring(by, network, now, tz), Some(by)),
            None => (
                Group::Soon,
                format!(
                    "{network} will end this connection soon. Reconnect the account before then."
                ),
                None,
            ),
        },
        Milestone::Recovered => (
            Group::Fixed,
            "Connected again. Nothing to do.".to_owned(),
            None,
        ),
    };
    let mut name = clean_name(&entry.display_name, NAME_CHARS);
    if name.is_empty() {
        name = "Unnamed account".to_owned();
    }
    let sort = (
        deadline.is_none(),
        deadline,
        name.to_lowercase(),
        entry.account.as_str().to_owned(),
    );
    let link = (group != Group::Fixed)
        .then(|| reconnect_link(digest.frontend, &entry.account).to_string());
    (
        group,
        Line {
            name,
            network,
            what,
            link,
        },
        sort,
    )
}

/// "Expired on Mon, Nov 30, 2026 (1 day ago). …"
fn expired(at: Option<DateTime<Utc>>, now: DateTime<Utc>, tz: Tz) -> String {
    const THEN: &str = "Reconnect the account to continue posting.";
    match at {
        Some(at) => {
            let ago = match calendar_days(at, now, tz) {
                ..=0 => "today".to_owned(),
                1 => "yesterday".to_owned(),
                n => format!("{n} days ago"),
            };
            format!("Expired on {} ({ago}). {THEN}", long_date(at, tz))
        }
        None => format!("The connection expired. {THEN}"),
    }
}

/// "5 days left: reconnect by Sat, Dec 5, 2026, 09:00 (Asia/Tokyo). …"
fn expiring(by: DateTime<Utc>, network: &str, now: DateTime<Utc>, tz: Tz) -> String {
    let left = match calendar_days(now, by, tz) {
        ..=0 => "Due today".to_owned(),
        1 => "Due tomorrow".to_owned(),
        n => format!("{n} days left"),
    };
    format!(
        "{left}: reconnect by {}. After that, {network} stops accepting the connection until someone reconnects it.",
        date_and_time(by, tz)
    )
}

/// What both parts of the digest say.
#[derive(Debug, Clone)]
struct Body {
    product: String,
    team: String,
    /// The recipient's cleaned name; empty greets without one.
    greeting: String,
    summary: Summary,
    /// The host the reconnect links open, said once so the reader can check them.
    links_host: Option<String>,
    sections: Vec<Section>,
    preferences: String,
    unsubscribe: String,
    support: Option<String>,
}

/// What the HTML layout around both mails shows: the title and the product's logo.
#[derive(Debug, Clone)]
pub(crate) struct Chrome {
    pub title: String,
    pub product: String,
    pub logo_url: Option<String>,
}

impl Chrome {
    pub(crate) fn new(branding: &Branding, product: &str, subject: &str) -> Self {
        Self {
            title: subject.to_owned(),
            product: product.to_owned(),
            logo_url: branding.logo_url.as_ref().map(Url::to_string),
        }
    }
}

#[derive(Template)]
#[template(path = "mail/digest.txt")]
struct DigestText<'a> {
    body: &'a Body,
}

#[derive(Template)]
#[template(path = "mail/digest.html")]
struct DigestHtml<'a> {
    chrome: Chrome,
    body: &'a Body,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::reading::{hrefs, html_text, select_text};
    use scraper::{Html, Selector};

    const FRONTEND: &str = "https://app.example.com/settings/social";

    struct Links {
        branding: Branding,
        frontend: Url,
        preferences: Url,
        unsubscribe: Url,
    }

    fn links() -> Links {
        Links {
            branding: Branding {
                product: "Maybe*".into(),
                support_url: Some(Url::parse("https://help.example.com/alerts").unwrap()),
                logo_url: None,
            },
            frontend: Url::parse(FRONTEND).unwrap(),
            preferences: Url::parse("https://app.example.com/settings/alerts").unwrap(),
            unsubscribe: Url::parse("https://app.example.com/unsubscribe?t=abc&u=1").unwrap(),
        }
    }

    fn digest<'a>(links: &'a Links, tz: Tz, now: &str) -> Digest<'a> {
        Digest {
            branding: &links.branding,
            team_name: "Acme",
            recipient_name: "Ana",
            time_zone: tz,
            now: at(now),
            frontend: &links.frontend,
            preferences: &links.preferences,
            unsubscribe: &links.unsubscribe,
        }
    }

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn entry(id: &str, name: &str, milestone: Milestone) -> DigestEntry {
        DigestEntry {
            account: AccountId::parse(id).unwrap(),
            provider: Provider::Facebook,
            display_name: name.into(),
            milestone,
            reason: None,
            reconnect_by: None,
            broken_since: None,
        }
    }

    fn expiring(id: &str, name: &str, by: &str) -> DigestEntry {
        DigestEntry {
            reconnect_by: Some(at(by)),
            ..entry(id, name, Milestone::Expiring { days: 7 })
        }
    }

    fn link(id: &str) -> String {
        format!("{FRONTEND}?reconnect={id}")
    }

    /// Where each needle first appears in the haystack, in the needles' order.
    fn positions(haystack: &str, needles: &[&str]) -> Vec<usize> {
        needles
            .iter()
            .map(|n| {
                haystack
                    .find(n)
                    .unwrap_or_else(|| panic!("{n:?} missing in {haystack}"))
            })
            .collect()
    }

    fn is_sorted(v: &[usize]) -> bool {
        v.windows(2).all(|w| w[0] < w[1])
    }

    fn mixed() -> Vec<DigestEntry> {
        vec![
            expiring("a1", "Fake Bakery", "2026-12-20T10:00:00Z"),
            DigestEntry {
                reason: Some(Reason::PasswordChanged),
                broken_since: Some(at("2026-11-30T08:00:00Z")),
                ..entry("a2", "Fake Shop", Milestone::Disconnected)
            },
            entry("a3", "Fake Café", Milestone::Recovered),
            DigestEntry {
                broken_since: Some(at("2026-11-29T10:00:00Z")),
                ..entry("a4", "Fake Studio", Milestone::Expired)
            },
        ]
    }

    #[test]
    fn every_entry_is_in_both_parts_with_its_link_and_the_groups_come_in_order() {
        let links = links();
        let digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");

        let mail = render(&digest, &mixed());

        let order = [
            "Needs action now",
            "Fake Studio",
            "Fake Shop",
            "Coming up",
            "Fake Bakery",
            "Fixed",
            "Fake Café",
        ];
        assert!(is_sorted(&positions(&mail.text, &order)), "{}", mail.text);
        let text = html_text(&mail.html);
        assert!(is_sorted(&positions(&text, &order)), "{text}");
        assert_eq!(
            select_text(&mail.html, "h2"),
            ["Needs action now", "Coming up", "Fixed"]
        );
        for id in ["a1", "a2", "a4"] {
            assert!(
                mail.text.contains(&format!("Reconnect: {}", link(id))),
                "{id}"
            );
        }
        let reconnects: Vec<String> = hrefs(&mail.html)
            .into_iter()
            .filter(|h| h.starts_with(FRONTEND))
            .collect();
        assert_eq!(reconnects, [link("a4"), link("a2"), link("a1")]);
        assert!(!mail.text.contains("reconnect=a3"));
        assert!(!mail.html.contains("reconnect=a3"));
        let password = "The password of the Facebook Pages account was changed";
        assert!(mail.text.contains(password));
        assert!(text.contains(password));
        assert!(mail
            .text
            .contains("Expired on Sun, Nov 29, 2026 (2 days ago)."));
        assert!(text.contains("Expired on Sun, Nov 29, 2026 (2 days ago)."));
    }

    #[test]
    fn the_footer_says_why_the_mail_came_and_links_preferences_unsubscribe_and_help() {
        let links = links();
        let digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");

        let mail = render(&digest, &mixed());

        let why = "You get this because you joined the connection alerts of Acme in Maybe*.";
        assert!(mail.text.contains(why));
        assert!(html_text(&mail.html).contains(why));
        let unsubscribe = links.unsubscribe.as_str();
        assert!(mail.text.contains(&format!("Unsubscribe: {unsubscribe}")));
        assert!(mail
            .text
            .contains("Change alerts: https://app.example.com/settings/alerts"));
        assert!(mail.text.contains("Help: https://help.example.com/alerts"));
        let hrefs = hrefs(&mail.html);
        for url in [
            unsubscribe,
            links.preferences.as_str(),
            "https://help.example.com/alerts",
        ] {
            assert!(hrefs.iter().any(|h| h == url), "{url} in {hrefs:?}");
        }
        assert!(select_text(&mail.html, "a").contains(&"Unsubscribe".to_owned()));
        assert!(mail.text.starts_with("Hello Ana,\n"));
    }

    #[test]
    fn a_tokyo_team_counts_days_and_dates_on_its_own_calendar() {
        let links = links();
        // 23:30 on Dec 1 in Tokyo, 14:30 in UTC.
        let digest = digest(&links, chrono_tz::Asia::Tokyo, "2026-12-01T14:30:00Z");
        let entries = [
            expiring("a1", "Later", "2026-12-09T03:00:00Z"),
            // 01:00 on Dec 6 in Tokyo; 16:00 on Dec 5 in UTC (4 days on the UTC calendar).
            expiring("a2", "Sooner", "2026-12-05T16:00:00Z"),
        ];

        let mail = render(&digest, &entries);

        assert_eq!(
            mail.subject,
            "Maybe*: 2 accounts of Acme need reconnecting by Dec 6"
        );
        let sooner = "5 days left: reconnect by Sun, Dec 6, 2026, 01:00 (Asia/Tokyo).";
        let later = "8 days left: reconnect by Wed, Dec 9, 2026, 12:00 (Asia/Tokyo).";
        let text = html_text(&mail.html);
        for part in [&mail.text, &text] {
            assert!(part.contains(sooner), "{part}");
            assert!(part.contains(later), "{part}");
            assert!(is_sorted(&positions(
                part,
                &["Coming up", "Sooner", "Later"]
            )));
            assert!(!part.contains("Needs action now"));
            assert!(!part.contains("Fixed"));
            assert!(!part.contains("4 days"));
            // The lead day that triggered the mail is not a deadline.
            assert!(!part.contains("7 day"));
            assert!(!part.contains("within"));
        }
    }

    #[test]
    fn a_deadline_today_or_tomorrow_says_so() {
        let links = links();
        let digest = digest(&links, chrono_tz::Asia::Tokyo, "2026-12-01T14:30:00Z");
        let entries = [
            // 23:45 on Dec 1 in Tokyo.
            expiring("a1", "Tonight", "2026-12-01T14:45:00Z"),
            // 00:30 on Dec 2 in Tokyo: an hour away, but tomorrow.
            expiring("a2", "After midnight", "2026-12-01T15:30:00Z"),
        ];

        let mail = render(&digest, &entries);

        assert!(mail
            .text
            .contains("Due today: reconnect by Tue, Dec 1, 2026, 23:45 (Asia/Tokyo)."));
        assert!(mail
            .text
            .contains("Due tomorrow: reconnect by Wed, Dec 2, 2026, 00:30 (Asia/Tokyo)."));
        assert_eq!(
            mail.subject,
            "Maybe*: 2 accounts of Acme need reconnecting by Dec 1"
        );
    }

    #[test]
    fn the_subject_counts_what_needs_doing_now_and_what_is_fixed() {
        let links = links();
        let digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");
        let broken = entry("a1", "Shop", Milestone::Disconnected);
        let soon = expiring("a2", "Bakery", "2026-12-05T16:00:00Z");
        let fixed = entry("a3", "Café", Milestone::Recovered);
        let subject = |entries: Vec<DigestEntry>| render(&digest, &entries).subject;

        assert_eq!(
            subject(vec![broken.clone()]),
            "Maybe*: 1 account of Acme needs reconnecting now"
        );
        assert_eq!(
            subject(vec![
                broken.clone(),
                soon.clone(),
                soon.clone(),
                fixed.clone()
            ]),
            "Maybe*: 3 accounts of Acme need reconnecting, 1 now"
        );
        assert_eq!(
            subject(vec![soon.clone()]),
            "Maybe*: 1 account of Acme needs reconnecting by Dec 5"
        );
        assert_eq!(
            subject(vec![fixed.clone(), fixed.clone()]),
            "Maybe*: 2 accounts of Acme are connected again"
        );
        assert_eq!(
            subject(vec![fixed]),
            "Maybe*: 1 account of Acme is connected again"
        );
    }

    #[test]
    fn a_digest_of_fixed_accounts_only_has_no_other_group_and_no_reconnect_link() {
        let links = links();
        let digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");

        let mail = render(&digest, &[entry("a3", "Fake Café", Milestone::Recovered)]);

        assert_eq!(select_text(&mail.html, "h2"), ["Fixed"]);
        assert!(!mail.text.contains("Needs action now"));
        assert!(!mail.text.contains("Coming up"));
        assert!(!mail.text.contains("Reconnect"));
        assert!(!hrefs(&mail.html).iter().any(|h| h.starts_with(FRONTEND)));
        assert!(mail.text.contains("Connected again. Nothing to do."));
    }

    #[test]
    fn hostile_names_are_escaped_stripped_and_cut_in_both_parts() {
        let links = links();
        let mut digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");
        digest.team_name = "Acme\u{202E} <b>\"Team\"</b>";
        digest.recipient_name = "Ana <img src=x onerror=alert(1)>";
        let raw = format!(
            "<script>alert(1)</script> \"Q\" & \u{202E}evil{}",
            "x".repeat(300)
        );
        let entries = [entry("a1", &raw, Milestone::Disconnected)];

        let mail = render(&digest, &entries);

        let name = clean_name(&raw, 80);
        assert!(name.starts_with("<script>alert(1)</script> \"Q\" & evilx"));
        assert!(name.ends_with('…'));
        assert!(name.chars().count() <= 81);
        assert!(mail.text.contains(&format!("- {name} (Facebook Pages)")));
        assert!(!mail.text.contains(&"x".repeat(81)));
        assert!(!mail.html.to_lowercase().contains("<script"));
        assert!(!mail.html.contains("<img"));
        assert!(!mail.html.contains("<b>"));
        assert!(mail
            .html
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        // The HTML shows the same name, isolated for right-to-left text.
        let isolated = select_text(&mail.html, "span[dir=auto]");
        assert!(isolated.contains(&name), "{isolated:?}");
        assert!(isolated.contains(&"Acme <b>\"Team\"</b>".to_owned()));
        assert!(isolated.contains(&"Ana <img src=x onerror=alert(1)>".to_owned()));
        let bidi = |c: char| matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
        assert!(!mail.text.contains(bidi));
        assert!(!mail.html.contains(bidi));
        assert!(!mail.subject.contains(bidi));
        assert!(mail.subject.contains("Acme <b>\"Team\"</b>"));
    }

    #[test]
    fn the_logo_is_shown_with_the_product_as_its_alt_text() {
        let mut links = links();
        links.branding.logo_url = Some(Url::parse("https://cdn.example.com/logo.png").unwrap());
        let digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");

        let mail = render(&digest, &mixed());

        let doc = Html::parse_document(&mail.html);
        let img = Selector::parse("img").unwrap();
        let logos: Vec<_> = doc
            .select(&img)
            .map(|i| (i.value().attr("src"), i.value().attr("alt")))
            .collect();
        assert_eq!(
            logos,
            [(Some("https://cdn.example.com/logo.png"), Some("Maybe*"))]
        );
    }

    #[test]
    fn the_html_is_one_self_contained_document() {
        let links = links();
        let digest = digest(&links, chrono_tz::UTC, "2026-12-01T14:30:00Z");

        let html = render(&digest, &mixed()).html;

        let doc = Html::parse_document(&html);
        let count = |s: &str| doc.select(&Selector::parse(s).unwrap()).count();
        assert_eq!(count("script, style, link"), 0);
        assert_eq!(count("meta[name=color-scheme][content='light dark']"), 1);
        // Every block paints its own background and text colour.
        for td in doc.select(&Selector::parse("td").unwrap()) {
            let style = td.value().attr("style").unwrap_or_default();
            assert!(
                style.contains("background-color:") && style.contains(";color:"),
                "{style}"
            );
        }
    }
}
