//! `devtool`: the local run's own tooling (`infra/local/run` drives it; see infra/LOCAL.md).
//!
//! ```text
//! devtool gateway --template infra/template.yaml --listen 127.0.0.1:PORT
//!                 --invoke-url http://[::1]:9000 --key-file KEY --issuer ISS --audience AUD
//!                 --origins ORIGINS [--demo-token JWT]
//! devtool token   --key-file KEY --issuer ISS --audience AUD [--team T] [--user U]
//!                 [--email E] [--hours H]
//! devtool seed    --table T --sealing-secret S --credentials-secret C --fakes-url URL
//!                 --callback-base URL --origins ORIGINS --frontend-url URL
//!                 [--team T] [--user U] [--recipient EMAIL] [--mail-link-key ALIAS]
//! devtool events  --table T --bus B [--invoke-url http://[::1]:9000]
//!                 [--function events-publisher] [--interval-ms 500]
//! devtool mail-samples --out DIR
//! ```
//! The AWS SDK finds the local stack through its endpoint variables (`eval "$(infra/local/stack
//! env)"`); `seed` refuses to run against anything else.

mod events;
mod gateway;
mod jwt;
mod mail_samples;
mod routes;
mod seed;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;

const USAGE: &str =
    "usage: devtool gateway|token|seed|events|mail-samples [--flag value]... (see infra/LOCAL.md)";

/// `--name value` pairs.
struct Flags(BTreeMap<String, String>);

impl Flags {
    fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Self> {
        let mut map = BTreeMap::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let name = arg
                .strip_prefix("--")
                .ok_or_else(|| anyhow!("unexpected argument '{arg}' ({USAGE})"))?;
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), v.to_owned()),
                None => (
                    name.to_owned(),
                    args.next()
                        .ok_or_else(|| anyhow!("--{name} needs a value"))?,
                ),
            };
            map.insert(name, value);
        }
        Ok(Self(map))
    }

    fn get(&mut self, name: &str) -> anyhow::Result<String> {
        self.0
            .remove(name)
            .ok_or_else(|| anyhow!("--{name} is required ({USAGE})"))
    }

    fn or(&mut self, name: &str, default: &str) -> String {
        self.0.remove(name).unwrap_or_else(|| default.to_owned())
    }

    fn done(self) -> anyhow::Result<()> {
        match self.0.keys().next() {
            Some(unknown) => bail!("unknown flag --{unknown} ({USAGE})"),
            None => Ok(()),
        }
    }
}

/// The HS256 key: the file holds it base64-encoded (what `infra/local/run` writes).
fn read_key(path: &str) -> anyhow::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the key {path}"))?;
    let key = STANDARD
        .decode(text.trim())
        .with_context(|| format!("{path} is not base64"))?;
    if key.len() < 32 {
        bail!("{path}: an HS256 key needs at least 32 bytes");
    }
    Ok(key)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stopped() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}

async fn gateway(mut flags: Flags) -> anyhow::Result<()> {
    let template = PathBuf::from(flags.or("template", "infra/template.yaml"));
    let config = gateway::Config {
        listen: flags
            .or("listen", "127.0.0.1:0")
            .parse()
            .context("--listen")?,
        api: routes::load(&template)?,
        invoke: flags
            .or("invoke-url", "http://[::1]:9000/")
            .parse()
            .context("--invoke-url")?,
        key: read_key(&flags.get("key-file")?)?,
        expect: jwt::Expect {
            issuer: flags.get("issuer")?,
            audiences: flags
                .get("audience")?
                .split(',')
                .map(|a| a.trim().to_owned())
                .collect(),
        },
        origins: flags
            .get("origins")?
            .split(',')
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        demo_token: flags.0.remove("demo-token"),
    };
    flags.done()?;
    gateway::run(config).await
}

fn token(mut flags: Flags) -> anyhow::Result<()> {
    let key = read_key(&flags.get("key-file")?)?;
    let hours: i64 = flags.or("hours", "12").parse().context("--hours")?;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": flags.get("issuer")?,
        "aud": flags.get("audience")?,
        "sub": flags.or("user", "user-demo"),
        "team_id": flags.or("team", "team-demo"),
        "email": flags.or("email", "ana@example.com"),
        "iat": now,
        "nbf": now - 5,
        "exp": now + hours * 3600,
    });
    flags.done()?;
    println!("{}", jwt::sign(&key, &claims)?);
    Ok(())
}

async fn seed(mut flags: Flags) -> anyhow::Result<()> {
    let opts = seed::Options {
        table: flags.get("table")?,
        sealing_secret: flags.get("sealing-secret")?,
        credentials_secret: flags.get("credentials-secret")?,
        fakes: flags.get("fakes-url")?.parse().context("--fakes-url")?,
        callback_base: flags.get("callback-base")?,
        origins: flags.get("origins")?,
        frontend_url: flags.get("frontend-url")?,
        team: flags.or("team", "team-demo"),
        user: flags.or("user", "user-demo"),
        recipient: flags.or("recipient", "ana@example.com"),
        mail_link_key: flags.or("mail-link-key", "alias/tokenwarden-local-mail-links"),
    };
    flags.done()?;
    seed::run(opts).await
}

async fn events(mut flags: Flags) -> anyhow::Result<()> {
    let opts = events::Options {
        table: flags.get("table")?,
        bus: flags.get("bus")?,
        invoke_url: flags.or("invoke-url", "http://[::1]:9000"),
        function: flags.or("function", "events-publisher"),
        interval: std::time::Duration::from_millis(
            flags
                .or("interval-ms", "500")
                .parse()
                .context("--interval-ms")?,
        ),
    };
    flags.done()?;
    events::run(opts).await
}

fn mail_samples(mut flags: Flags) -> anyhow::Result<()> {
    let opts = mail_samples::Options {
        out: PathBuf::from(flags.get("out")?),
    };
    flags.done()?;
    mail_samples::run(opts)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let result = match Flags::parse(args) {
        Err(e) => Err(e),
        Ok(flags) => match command.as_str() {
            "gateway" => gateway(flags).await,
            "token" => token(flags),
            "seed" => seed(flags).await,
            "events" => events(flags).await,
            "mail-samples" => mail_samples(flags),
            _ => Err(anyhow!("{USAGE}")),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devtool {command}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
