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

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Args, Parser, Subcommand};
use serde_json::json;

/// The local run's own tooling (see infra/LOCAL.md).
#[derive(Debug, Parser)]
#[command(name = "devtool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// API Gateway's stand-in: the template's routes, the JWT authorizer, payload 2.0.
    Gateway(GatewayArgs),
    /// A demo JWT signed with the local key.
    Token(TokenArgs),
    /// The table, secrets, KMS key and demo data of the local run.
    Seed(SeedArgs),
    /// The table's stream to events-publisher, as Lambda's event source mapping.
    Events(EventsArgs),
    /// Sample renderings of the mails into a folder.
    MailSamples(MailSamplesArgs),
}

#[derive(Debug, Args)]
struct GatewayArgs {
    #[arg(long, default_value = "infra/template.yaml")]
    template: PathBuf,
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    #[arg(long, default_value = "http://[::1]:9000/")]
    invoke_url: url::Url,
    #[arg(long)]
    key_file: String,
    #[arg(long)]
    issuer: String,
    /// Accepted audiences, comma-separated.
    #[arg(long, value_delimiter = ',')]
    audience: Vec<String>,
    /// Frontend origins, comma-separated.
    #[arg(long, value_delimiter = ',')]
    origins: Vec<String>,
    #[arg(long)]
    demo_token: Option<String>,
}

#[derive(Debug, Args)]
struct TokenArgs {
    #[arg(long)]
    key_file: String,
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    audience: String,
    #[arg(long, default_value = "team-demo")]
    team: String,
    #[arg(long, default_value = "user-demo")]
    user: String,
    /// The user's own address (sent as verified).
    #[arg(long, default_value = "ana@example.com")]
    email: String,
    #[arg(long, default_value_t = 12)]
    hours: i64,
}

#[derive(Debug, Args)]
struct SeedArgs {
    #[arg(long)]
    table: String,
    #[arg(long)]
    sealing_secret: String,
    #[arg(long)]
    credentials_secret: String,
    #[arg(long)]
    fakes_url: url::Url,
    #[arg(long)]
    callback_base: String,
    #[arg(long)]
    origins: String,
    #[arg(long)]
    frontend_url: String,
    #[arg(long, default_value = "team-demo")]
    team: String,
    #[arg(long, default_value = "user-demo")]
    user: String,
    #[arg(long, default_value = "ana@example.com")]
    recipient: String,
    #[arg(long, default_value = "alias/tokenwarden-local-mail-links")]
    mail_link_key: String,
}

#[derive(Debug, Args)]
struct EventsArgs {
    #[arg(long)]
    table: String,
    #[arg(long)]
    bus: String,
    #[arg(long, default_value = "http://[::1]:9000")]
    invoke_url: String,
    #[arg(long, default_value = "events-publisher")]
    function: String,
    #[arg(long, default_value_t = 500)]
    interval_ms: u64,
}

#[derive(Debug, Args)]
struct MailSamplesArgs {
    #[arg(long)]
    out: PathBuf,
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

async fn gateway(a: GatewayArgs) -> anyhow::Result<()> {
    let config = gateway::Config {
        listen: a.listen,
        api: routes::load(&a.template)?,
        invoke: a.invoke_url,
        key: read_key(&a.key_file)?,
        expect: jwt::Expect {
            issuer: a.issuer,
            audiences: a.audience.iter().map(|x| x.trim().to_owned()).collect(),
        },
        origins: a
            .origins
            .iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect(),
        demo_token: a.demo_token,
    };
    gateway::run(config).await
}

fn token(a: TokenArgs) -> anyhow::Result<()> {
    let key = read_key(&a.key_file)?;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": a.issuer,
        "aud": a.audience,
        "sub": a.user,
        "team_id": a.team,
        "email": a.email,
        "email_verified": true,
        "iat": now,
        "nbf": now - 5,
        "exp": now + a.hours * 3600,
    });
    println!("{}", jwt::sign(&key, &claims)?);
    Ok(())
}

async fn seed(a: SeedArgs) -> anyhow::Result<()> {
    seed::run(seed::Options {
        table: a.table,
        sealing_secret: a.sealing_secret,
        credentials_secret: a.credentials_secret,
        fakes: a.fakes_url,
        callback_base: a.callback_base,
        origins: a.origins,
        frontend_url: a.frontend_url,
        team: a.team,
        user: a.user,
        recipient: a.recipient,
        mail_link_key: a.mail_link_key,
    })
    .await
}

async fn events(a: EventsArgs) -> anyhow::Result<()> {
    events::run(events::Options {
        table: a.table,
        bus: a.bus,
        invoke_url: a.invoke_url,
        function: a.function,
        interval: std::time::Duration::from_millis(a.interval_ms),
    })
    .await
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let name = format!("{:?}", cli.command)
        .split(['(', ' '])
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let result = match cli.command {
        Command::Gateway(a) => gateway(a).await,
        Command::Token(a) => token(a),
        Command::Seed(a) => seed(a).await,
        Command::Events(a) => events(a).await,
        Command::MailSamples(a) => mail_samples::run(mail_samples::Options { out: a.out }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devtool {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
