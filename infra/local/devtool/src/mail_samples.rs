//! `devtool mail-samples`: the mails tokenwarden sends, rendered for made-up teams into a
//! folder (`NAME.html`, and `NAME.txt` with the subject on top), so a reviewer sees every
//! shape a digest takes without running a sweep. `infra/local/mail-samples` turns the HTML
//! files into screenshots.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokenwarden::domain::{AccountId, Milestone, Provider, Reason};
use tokenwarden::mail::digest::{self, Branding, Digest, DigestEntry, Rendered};
use tokenwarden::mail::{render_confirmation, Confirmation};
use url::Url;

pub struct Options {
    pub out: PathBuf,
}

/// The moment every sample is rendered at: 23:30 in Tokyo, 14:30 in UTC.
const NOW: &str = "2026-12-01T14:30:00Z";

/// The links a digest carries, as one made-up product has them.
struct Site {
    branding: Branding,
    frontend: Url,
    preferences: Url,
    unsubscribe: Url,
}

/// One digest to render: its file name, team, reader, time zone and entries.
struct Sample {
    file: &'static str,
    team: String,
    recipient: String,
    time_zone: Tz,
    logo: bool,
    entries: Vec<DigestEntry>,
}

pub fn run(opts: Options) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let out = opts
        .out
        .canonicalize()
        .with_context(|| format!("resolving {}", opts.out.display()))?;
    let now: DateTime<Utc> = NOW.parse().context("the samples' moment")?;
    let logo = out.join("logo.svg");
    std::fs::write(&logo, LOGO).with_context(|| format!("writing {}", logo.display()))?;
    let logo_url = Url::from_file_path(&logo)
        .map_err(|()| anyhow::anyhow!("{} is not an absolute path", logo.display()))?;
    let site = Site {
        branding: Branding {
            product: "Maybe*".into(),
            support_url: Some(parse_url("https://help.maybe.example/connection-alerts")?),
            logo_url: None,
        },
        frontend: parse_url("https://app.maybe.example/settings/social")?,
        preferences: parse_url("https://app.maybe.example/settings/alerts")?,
        unsubscribe: parse_url("https://app.maybe.example/alerts/unsubscribe?token=sample-token")?,
    };
    let with_logo = Branding {
        logo_url: Some(logo_url),
        ..site.branding.clone()
    };

    let mut written = Vec::new();
    for sample in samples(now)? {
        let branding = if sample.logo {
            &with_logo
        } else {
            &site.branding
        };
        let digest = Digest {
            branding,
            team_name: &sample.team,
            recipient_name: &sample.recipient,
            time_zone: sample.time_zone,
            now,
            frontend: &site.frontend,
            preferences: &site.preferences,
            unsubscribe: &site.unsubscribe,
        };
        let mail = digest::render(&digest, &sample.entries);
        written.push(write(&out, sample.file, &mail)?);
    }

    let confirm = parse_url("https://app.maybe.example/alerts/confirm?code=sample-code")?;
    let mail = render_confirmation(&Confirmation {
        branding: &with_logo,
        team_name: "Acme",
        recipient_name: "Ana Lima",
        invited_by: "Bruno Costa",
        confirm: &confirm,
        expires_at: now + Duration::days(7),
        time_zone: chrono_tz::Europe::Lisbon,
    });
    written.push(write(&out, "confirmation", &mail)?);

    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

fn parse_url(raw: &str) -> anyhow::Result<Url> {
    Url::parse(raw).with_context(|| format!("{raw} is not a URL"))
}

/// Writes `NAME.html` and `NAME.txt`; returns the HTML file's path.
fn write(out: &Path, name: &str, mail: &Rendered) -> anyhow::Result<PathBuf> {
    let html = out.join(format!("{name}.html"));
    let text = out.join(format!("{name}.txt"));
    std::fs::write(&html, &mail.html).with_context(|| format!("writing {}", html.display()))?;
    std::fs::write(&text, format!("Subject: {}\n\n{}", mail.subject, mail.text))
        .with_context(|| format!("writing {}", text.display()))?;
    Ok(html)
}

fn samples(now: DateTime<Utc>) -> anyhow::Result<Vec<Sample>> {
    let tz = chrono_tz::Europe::Berlin;
    let team = || "Acme".to_owned();
    let ana = || "Ana Lima".to_owned();
    let mut ids = 0;
    let mut entry = |provider, name: &str, milestone| -> anyhow::Result<DigestEntry> {
        ids += 1;
        Ok(DigestEntry {
            account: AccountId::parse(&format!("sample-{ids:02}"))?,
            provider,
            display_name: name.to_owned(),
            milestone,
            reason: None,
            reconnect_by: None,
            broken_since: None,
        })
    };
    let hours = |h: i64| Some(now + Duration::hours(h));
    let soon = Milestone::Expiring { days: 7 };

    let needs_action = vec![
        DigestEntry {
            reason: Some(Reason::PasswordChanged),
            broken_since: hours(-20),
            ..entry(Provider::Facebook, "Fake Bakery", Milestone::Disconnected)?
        },
        DigestEntry {
            reason: Some(Reason::AdminLost),
            broken_since: hours(-50),
            ..entry(Provider::Instagram, "fake.bakery", Milestone::Disconnected)?
        },
        DigestEntry {
            broken_since: hours(-75),
            reconnect_by: hours(-75),
            ..entry(Provider::Threads, "Fake Threads User", Milestone::Expired)?
        },
    ];
    let coming_up = vec![
        DigestEntry {
            reconnect_by: hours(5 * 24 + 2),
            ..entry(Provider::Linkedin, "Fake LinkedIn User", soon)?
        },
        DigestEntry {
            reconnect_by: hours(3),
            ..entry(Provider::X, "Fake X User", Milestone::Expiring { days: 1 })?
        },
        DigestEntry {
            reconnect_by: hours(20),
            ..entry(
                Provider::Google,
                "Fake Bakery Channel",
                Milestone::Expiring { days: 1 },
            )?
        },
        DigestEntry {
            reconnect_by: hours(13 * 24),
            ..entry(
                Provider::Tiktok,
                "Fake TikTok User",
                Milestone::Expiring { days: 14 },
            )?
        },
    ];
    let fixed = vec![
        entry(
            Provider::Pinterest,
            "Fake Pinterest User",
            Milestone::Recovered,
        )?,
        entry(Provider::Facebook, "Fake Shop", Milestone::Recovered)?,
    ];
    let one = vec![DigestEntry {
        reconnect_by: hours(6 * 24),
        ..entry(Provider::InstagramLogin, "Fake Instagram User", soon)?
    }];

    let mut thirty = Vec::new();
    for i in 0..30_i64 {
        let provider = Provider::ALL[i as usize % Provider::ALL.len()];
        let name = format!("Acme Store {:02}", i + 1);
        let line = match i % 5 {
            0 => DigestEntry {
                reason: Some(Reason::TokenInvalid),
                broken_since: hours(-i),
                ..entry(provider, &name, Milestone::Disconnected)?
            },
            1 => DigestEntry {
                broken_since: hours(-24 * i),
                ..entry(provider, &name, Milestone::Expired)?
            },
            4 => entry(provider, &name, Milestone::Recovered)?,
            _ => DigestEntry {
                reconnect_by: hours(6 * i + 1),
                ..entry(provider, &name, soon)?
            },
        };
        thirty.push(line);
    }

    let long_spaced =
        "The Extraordinarily Long Name Of A Neighbourhood Bakery That Also Sells Coffee, "
            .repeat(4)
            .chars()
            .take(300)
            .collect::<String>();
    let long_arabic = "مخبز الحي الكبير للحلويات الشرقية والغربية "
        .repeat(8)
        .chars()
        .take(300)
        .collect::<String>();
    let long = vec![
        DigestEntry {
            reason: Some(Reason::ScopesChanged),
            broken_since: hours(-3),
            ..entry(Provider::Facebook, &long_spaced, Milestone::Disconnected)?
        },
        DigestEntry {
            reconnect_by: hours(4 * 24),
            ..entry(Provider::Linkedin, &"W".repeat(300), soon)?
        },
        entry(Provider::X, &long_arabic, Milestone::Recovered)?,
    ];

    let right_to_left = vec![
        DigestEntry {
            reason: Some(Reason::AccessRevoked),
            broken_since: hours(-30),
            ..entry(Provider::Facebook, "مخبز الشام", Milestone::Disconnected)?
        },
        DigestEntry {
            reconnect_by: hours(2 * 24),
            ..entry(Provider::Instagram, "מאפיית השכונה", soon)?
        },
        DigestEntry {
            reconnect_by: hours(9 * 24),
            ..entry(Provider::Linkedin, "Café بيروت 24/7", soon)?
        },
        // An override character that would show the name reversed is dropped.
        entry(Provider::X, "\u{202E}elgoog Shop", Milestone::Recovered)?,
    ];

    let tokyo = vec![
        DigestEntry {
            // 01:00 on Dec 6 in Tokyo, Dec 5 in UTC.
            reconnect_by: Some("2026-12-05T16:00:00Z".parse()?),
            ..entry(Provider::Linkedin, "Acme 東京", soon)?
        },
        DigestEntry {
            // 00:30 tomorrow in Tokyo: an hour away.
            reconnect_by: Some("2026-12-01T15:30:00Z".parse()?),
            ..entry(Provider::X, "Acme Japan", Milestone::Expiring { days: 1 })?
        },
        DigestEntry {
            reason: Some(Reason::Checkpoint),
            broken_since: Some("2026-11-30T16:00:00Z".parse()?),
            ..entry(Provider::Facebook, "Acme 大阪", Milestone::Disconnected)?
        },
    ];

    let sample = |file, entries, logo| Sample {
        file,
        team: team(),
        recipient: ana(),
        time_zone: tz,
        logo,
        entries,
    };
    Ok(vec![
        sample("needs-action", needs_action, true),
        sample("coming-up", coming_up, false),
        sample("fixed", fixed, false),
        sample("one-entry", one, false),
        sample("thirty-entries", thirty, true),
        Sample {
            team: "Acme Holdings International Marketing Department For Every Region Of The World And Beyond".into(),
            recipient: format!("Ana {}", "Maria ".repeat(20)),
            ..sample("long-names", long, false)
        },
        Sample {
            recipient: "سارة".into(),
            time_zone: chrono_tz::Asia::Jerusalem,
            ..sample("right-to-left", right_to_left, false)
        },
        Sample {
            recipient: "佐藤 花子".into(),
            time_zone: chrono_tz::Asia::Tokyo,
            ..sample("tokyo", tokyo, false)
        },
    ])
}

/// A stand-in logo (mail clients want a PNG; a sample only needs something to show).
const LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="140" height="36" viewBox="0 0 140 36"><rect width="140" height="36" rx="6" fill="#1d4ed8"/><text x="70" y="24" font-family="Helvetica, Arial, sans-serif" font-size="18" font-weight="bold" fill="#ffffff" text-anchor="middle">Maybe*</text></svg>"##;
