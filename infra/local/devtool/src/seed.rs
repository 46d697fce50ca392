//! `devtool seed`: what a fresh local stack needs before the functions can start, and a
//! demo team with an account in every state of the token column.
//!
//! - the table, by `create_table` (exactly the deployed layout);
//! - the two secrets in the Secrets Manager stand-in: a sealing keyring (a new random key,
//!   or the one already there) and client credentials for all nine networks, the ones the
//!   provider fakes accept;
//! - the demo team's accounts, each connected through the real OAuth flow against the fakes
//!   (`oauth::Start` then `oauth::Callback`, the code the functions run), so every stored
//!   token is one the fakes know; then some are moved to the states a team sees over time
//!   (expiring, expired, revoked with a reason);
//! - notification preferences with one recipient;
//! - a different signed-in user at the fake Facebook, so connecting Facebook in the
//!   walkthrough adds a new Page instead of refreshing a seeded one.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use anyhow::{anyhow, bail, Context};
use aws_sdk_secretsmanager::Client as SecretsClient;
use chrono::{DateTime, Duration, Utc};
use provider_fakes::{default_client_id, default_client_secret, FakeControl, FakePage, FakeUser};
use serde_json::{json, Map, Value};
use tokenwarden::domain::EmailAddress;
use tokenwarden::domain::{
    Account, AccountId, Broken, Clock, Endpoints, MailEvents, NotificationPrefs, OriginAllowlist,
    Provider, Reason, Recipient, ReturnUrl, Status, SystemClock, TeamId, UserId,
};
use tokenwarden::domain::{ExposeSecret, Secret};
use tokenwarden::oauth::{Callback, CallbackBase, CallbackParams, Completion, Start, Target};
use tokenwarden::providers::{ClientCredentials, Credentials, HttpProviderClient};
use tokenwarden::seal::Keyring;
use tokenwarden::store::dynamo::{create_table, DynamoStore};
use tokenwarden::store::{AccountStore, PrefsStore};
use url::Url;

pub struct Options {
    pub table: String,
    pub sealing_secret: String,
    pub credentials_secret: String,
    pub fakes: Url,
    /// The gateway's base URL (what the functions get as TOKENWARDEN_CALLBACK_BASE_URL).
    pub callback_base: String,
    pub origins: String,
    pub frontend_url: String,
    pub team: String,
    pub user: String,
    pub recipient: String,
    /// The alias of the KMS HMAC key the links in mails are signed with (made when absent).
    pub mail_link_key: String,
}

/// What happened to one seeded account (printed for the person running the stack).
struct Seeded {
    id: AccountId,
    provider: Provider,
    name: String,
    state: String,
}

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let aws = tokenwarden::runtime::aws_config().await;
    ensure_local(&[
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    ])?;

    let dynamo = aws_sdk_dynamodb::Client::new(&aws);
    create_table(&dynamo, &opts.table)
        .await
        .with_context(|| format!("creating table {}", opts.table))?;
    println!(
        "seed: table {} ready (create_table: keys, indexes, TTL)",
        opts.table
    );

    let secrets = SecretsClient::new(&aws);
    let keyring_secret = match read_secret(&secrets, &opts.sealing_secret).await? {
        Some(existing) => {
            println!("seed: sealing keyring {} kept", opts.sealing_secret);
            existing
        }
        None => {
            let fresh = Keyring::generate_secret("local-1");
            write_secret(&secrets, &opts.sealing_secret, fresh.expose_secret()).await?;
            println!(
                "seed: sealing keyring {} created (key local-1)",
                opts.sealing_secret
            );
            fresh
        }
    };
    let keyring = Keyring::from_secret(&keyring_secret).context("the sealing keyring")?;
    let credentials: Map<String, Value> = Provider::ALL
        .into_iter()
        .map(|p| {
            (
                p.id().to_owned(),
                json!({"client_id": default_client_id(p), "client_secret": default_client_secret(p)}),
            )
        })
        .collect();
    write_secret(
        &secrets,
        &opts.credentials_secret,
        &Value::Object(credentials).to_string(),
    )
    .await?;
    println!(
        "seed: client credentials {} written for all {} networks (the fakes' app ids)",
        opts.credentials_secret,
        Provider::ALL.len()
    );

    let store = Arc::new(DynamoStore::new(dynamo, opts.table.clone()));
    let providers = Arc::new(HttpProviderClient::new(
        Credentials::from_map(
            Provider::ALL
                .into_iter()
                .map(|p| {
                    (
                        p,
                        ClientCredentials {
                            client_id: default_client_id(p),
                            client_secret: Secret::from(default_client_secret(p)),
                        },
                    )
                })
                .collect(),
        ),
        Endpoints::overridden(opts.fakes.clone()),
        StdDuration::from_secs(10),
    )?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let callback_base = CallbackBase::parse(&opts.callback_base)
        .map_err(|e| anyhow!("--callback-base {}: {e}", opts.callback_base))?;
    let start = Start {
        accounts: store.clone(),
        states: store.clone(),
        providers: providers.clone(),
        clock: clock.clone(),
        callback: callback_base,
    };
    let callback = Callback {
        team_account_limit: tokenwarden::oauth::MAX_ACCOUNTS_PER_TEAM,
        accounts: store.clone(),
        states: store.clone(),
        ledger: store.clone(),
        providers,
        keyring: Arc::new(keyring),
        clock: clock.clone(),
    };

    let team = TeamId::parse(&opts.team).map_err(|e| anyhow!("--team: {e}"))?;
    let user = UserId::parse(&opts.user).map_err(|e| anyhow!("--user: {e}"))?;
    let origins = OriginAllowlist::parse(&opts.origins).map_err(|e| anyhow!("--origins: {e}"))?;
    let return_to = ReturnUrl::parse(&opts.frontend_url, &origins)
        .map_err(|e| anyhow!("--frontend-url must be on --origins: {e}"))?;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(StdDuration::from_secs(10))
        .build()?;
    let fakes = FakeControl::new(opts.fakes.clone());

    let mut seeded = Vec::new();
    for provider in [
        Provider::Facebook,
        Provider::Instagram,
        Provider::InstagramLogin,
        Provider::Threads,
        Provider::Linkedin,
        Provider::X,
        Provider::Google,
        Provider::Tiktok,
        Provider::Pinterest,
    ] {
        let ids = connect(
            &start, &callback, &browser, &team, &user, provider, &return_to,
        )
        .await?;
        for id in ids {
            let account = store
                .get_account(&team, &id)
                .await?
                .ok_or_else(|| anyhow!("{provider} account {id} vanished"))?;
            let (account, state) = shape(account, clock.now());
            let saved = store.update_account(&account).await?;
            seeded.push(Seeded {
                id: saved.id.clone(),
                provider,
                name: saved.display_name.clone(),
                state,
            });
        }
    }

    // The demo user receives the digests: added themself, so active at once.
    let email = EmailAddress::parse(&opts.recipient).map_err(|e| anyhow!("--recipient: {e}"))?;
    let now = clock.now();
    let recipient = Recipient::own(team.clone(), user.clone(), email, "Ana (demo)", now);
    let prefs = store
        .get_prefs(&team)
        .await?
        .unwrap_or_else(|| NotificationPrefs::defaults(team.clone()));
    let expect = prefs
        .recipients
        .iter()
        .find(|r| r.id == recipient.id)
        .map(|r| r.state);
    store.save_recipient(&recipient, expect).await?;
    let prefs = NotificationPrefs {
        team_name: Some("Acme (demo)".into()),
        lead_days: vec![14, 7, 3, 1],
        events: MailEvents::default(),
        enabled: true,
        ..prefs
    };
    store.put_prefs(&prefs).await?;
    mail_link_key(&aws, &opts.mail_link_key).await?;

    // The walkthrough connects Facebook again: a new person with a Page of their own there.
    fakes
        .set_user(
            Provider::Facebook,
            &FakeUser {
                external_id: "facebook-user-2".into(),
                name: "Fake Café Owner".into(),
                picture_url: None,
                pages: vec![FakePage {
                    id: "100000000000003".into(),
                    name: "Fake Café".into(),
                    instagram_business_account: None,
                }],
            },
        )
        .await
        .map_err(|e| anyhow!("setting the fake Facebook user: {e}"))?;

    println!(
        "seed: demo team {team} (user {user}), mail to {}:",
        opts.recipient
    );
    for s in &seeded {
        println!(
            "  {:<38} {:<16} {:<28} {}",
            s.id.as_str(),
            s.provider.id(),
            truncate(&s.name, 28),
            s.state
        );
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// One connection through the real flow: start (state + PKCE), the fake network's authorize
/// page (approves at once, redirects with a code), the callback (parks the code) and the
/// completion (exchange, profile, store).
async fn connect(
    start: &Start,
    callback: &Callback,
    browser: &reqwest::Client,
    team: &TeamId,
    user: &UserId,
    provider: Provider,
    return_to: &ReturnUrl,
) -> anyhow::Result<Vec<AccountId>> {
    let authorize = start
        .begin(team, user, Target::New(provider), return_to.clone())
        .await
        .with_context(|| format!("starting the {provider} authorization"))?;
    let location = provider_fakes::consent(browser, &authorize)
        .await
        .with_context(|| format!("the fake {provider} authorize page ({authorize})"))?;
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let params = CallbackParams {
        state: param("state"),
        code: param("code").map(Secret::from),
        error: param("error"),
    };
    // The callback parks the code; the person who started completes it, as the frontend
    // does with their JWT.
    let handle = match callback.complete(provider, params).await? {
        Completion::Parked { handle, .. } => handle,
        other => bail!("the {provider} callback parked no code: {other:?}"),
    };
    let finished = callback
        .finish(team, user, handle.expose_secret())
        .await
        .with_context(|| format!("completing the {provider} authorization"))?;
    if finished.accounts.is_empty() {
        bail!(
            "connecting {provider} through the fakes did not store an account: {}",
            finished.result
        );
    }
    Ok(finished.accounts.into_iter().map(|a| a.id).collect())
}

/// Moves a freshly connected account to the state the demo shows for it.
fn shape(mut account: Account, now: DateTime<Utc>) -> (Account, String) {
    let broken = |status, reason| {
        Some(Broken {
            status,
            reason: Some(reason),
            since: now - Duration::days(2),
        })
    };
    let state = match (account.provider, account.display_name.as_str()) {
        // Page "Fake Shop": the person who connected it lost admin rights on it.
        (Provider::Facebook, name) if name.contains("Shop") => {
            account.broken = broken(Status::Revoked, Reason::AdminLost);
            "revoked (admin_lost)"
        }
        (Provider::Facebook, _) => "active (Page token, no expiry)",
        (Provider::Instagram, _) => "active",
        // Expired since the last sweep: the next sweep finds it and mails "expired".
        (Provider::InstagramLogin, _) => {
            account.access_expires_at = Some(now - Duration::hours(1));
            account.next_due_at = account.access_expires_at;
            return (account, "expired (due: the sweep mails it)".into());
        }
        (Provider::Threads, _) => {
            account.broken = broken(Status::Expired, Reason::TokenInvalid);
            "expired (token_invalid)"
        }
        // The refresh token's year is nearly over: a person must reconnect within 5 days.
        // Due now: the 7-day warning was crossed since the last sweep, which mails it.
        (Provider::Linkedin, _) => {
            account.refresh_expires_at = Some(now + Duration::days(5));
            account.next_due_at = Some(now - Duration::minutes(1));
            return (
                account,
                "expiring in 5 days (due: the sweep mails it)".into(),
            );
        }
        (Provider::X, _) => {
            account.broken = broken(Status::Revoked, Reason::AccessRevoked);
            "revoked (access_revoked)"
        }
        (Provider::Google, _) => {
            account.broken = broken(Status::Revoked, Reason::PasswordChanged);
            "revoked (password_changed)"
        }
        // Last renewed 8 days ago: the next sweep refreshes it (and meets any fault set at
        // the fake TikTok first).
        (Provider::Tiktok, _) => {
            account.access_issued_at = now - Duration::days(8);
            account.access_expires_at = Some(now - Duration::days(7));
            account.last_refreshed_at = None;
            account.next_due_at = Some(now - Duration::minutes(1));
            return (account, "active (due: the sweep refreshes it)".into());
        }
        (Provider::Pinterest, _) => "active (refreshed automatically)",
    };
    account.next_due_at = account.next_due(now, &tokenwarden::domain::SchedulePolicy::default());
    (account, state.into())
}

fn ensure_local(vars: &[&str]) -> anyhow::Result<()> {
    for var in vars {
        let value = std::env::var(var).unwrap_or_default();
        if !(value.starts_with("http://127.0.0.1") || value.starts_with("http://localhost")) {
            bail!("{var} must point at the local stack (eval \"$(infra/local/stack env)\"); got {value:?}");
        }
    }
    Ok(())
}

/// The KMS HMAC key behind `alias` (made with the alias when there is none yet).
async fn mail_link_key(aws: &aws_config::SdkConfig, alias: &str) -> anyhow::Result<()> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let kms = aws_sdk_kms::Client::new(aws);
    if kms.describe_key().key_id(alias).send().await.is_ok() {
        println!("seed: mail link key {alias} kept");
        return Ok(());
    }
    let key = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .description("tokenwarden local: signs the links in mails")
        .send()
        .await
        .context("creating the mail link key")?;
    let id = key
        .key_metadata()
        .map(|m| m.key_id().to_owned())
        .ok_or_else(|| anyhow!("KMS made a key without an id"))?;
    kms.create_alias()
        .alias_name(alias)
        .target_key_id(id)
        .send()
        .await
        .context("naming the mail link key")?;
    println!("seed: mail link key {alias} created (HMAC_256)");
    Ok(())
}

async fn read_secret(client: &SecretsClient, name: &str) -> anyhow::Result<Option<Secret>> {
    match client.get_secret_value().secret_id(name).send().await {
        Ok(out) => Ok(out.secret_string().map(Secret::from)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(anyhow!(e.into_service_error()).context(format!("reading secret {name}"))),
    }
}

async fn write_secret(client: &SecretsClient, name: &str, value: &str) -> anyhow::Result<()> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| anyhow!(e.into_service_error()))
                .with_context(|| format!("writing secret {name}"))?;
            Ok(())
        }
        Err(e) => Err(anyhow!(e.into_service_error()).context(format!("creating secret {name}"))),
    }
}
