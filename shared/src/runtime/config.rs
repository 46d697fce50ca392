//! Each function's configuration as one typed struct, read once at cold start from the
//! environment. A struct lists the variables it reads ([`FunctionConfig::VARIABLES`]);
//! `tests/template/` compares the template's environment with those lists, and the tests
//! below hold each list to what its struct really reads.
//!
//! Every problem is collected: a function missing two settings names both, then refuses
//! to start (before it takes any request).

use std::cell::RefCell;
use std::collections::BTreeMap;

use url::Url;

use crate::domain::{EmailAddress, Endpoints, OriginAllowlist, Provider, ReturnUrl};
use crate::http::{ClaimNames, HttpConfig, DEFAULT_BODY_LIMIT};
use crate::mail::recipients::MailSettings;
use crate::mail::Branding;
use crate::oauth::CallbackBase;
use crate::providers::{Credentials, GraphVersion, NetworkSettings};

/// The environment variables tokenwarden's functions read.
pub mod vars {
    /// The DynamoDB table.
    pub const TABLE_NAME: &str = "TOKENWARDEN_TABLE_NAME";
    /// Secret (name or ARN) holding the sealing keyring `{"active":..,"keys":{..}}`.
    pub const SEALING_KEYS_SECRET: &str = "TOKENWARDEN_SEALING_KEYS_SECRET";
    /// Secret (name or ARN) holding the networks' client credentials.
    pub const CLIENT_CREDENTIALS_SECRET: &str = "TOKENWARDEN_CLIENT_CREDENTIALS_SECRET";
    /// Optional: every provider endpoint moved under this base URL (the provider fakes).
    pub const PROVIDER_BASE_URL: &str = "TOKENWARDEN_PROVIDER_BASE_URL";
    /// The networks' public client ids, `provider=id` pairs separated by commas (oauth-start:
    /// it builds authorize URLs and reads no secret).
    pub const CLIENT_IDS: &str = "TOKENWARDEN_CLIENT_IDS";
    /// Optional: Meta's Graph API version, e.g. `v25.0` (default in `providers::GraphVersion`).
    pub const META_GRAPH_VERSION: &str = "TOKENWARDEN_META_GRAPH_VERSION";
    /// Optional: `true` when the Google app's consent screen is in "Testing" status (its
    /// refresh tokens die after 7 days); default `false`.
    pub const GOOGLE_APP_TESTING: &str = "TOKENWARDEN_GOOGLE_APP_TESTING";
    /// Comma-separated frontend origins (CORS, return URLs).
    pub const ALLOWED_ORIGINS: &str = "TOKENWARDEN_ALLOWED_ORIGINS";
    /// Optional: the JWT claim naming the team (default `team_id`).
    pub const TEAM_CLAIM: &str = "TOKENWARDEN_TEAM_CLAIM";
    /// Optional: the JWT claim naming the user (default `sub`).
    pub const USER_CLAIM: &str = "TOKENWARDEN_USER_CLAIM";
    /// Optional: the JWT claim with the user's own email address (default `email`): the
    /// address a team member adds themself with, without a confirmation mail.
    pub const EMAIL_CLAIM: &str = "TOKENWARDEN_EMAIL_CLAIM";
    /// Optional: the largest request body accepted, in bytes (default 65536).
    pub const MAX_BODY_BYTES: &str = "TOKENWARDEN_MAX_BODY_BYTES";
    /// The frontend page with the account list (reconnect links in mails and events point
    /// there; the OAuth flow goes back there when the start request names no `return_to`).
    pub const FRONTEND_URL: &str = "TOKENWARDEN_FRONTEND_URL";
    /// The API's public base URL: each network's one redirect URI is
    /// `{base}/oauth/{provider}/callback`; the links in mails are `{base}/mail/…`.
    pub const CALLBACK_BASE_URL: &str = "TOKENWARDEN_CALLBACK_BASE_URL";
    /// The verified SES sender of the digests.
    pub const MAIL_FROM: &str = "TOKENWARDEN_MAIL_FROM";
    /// Optional: the sender's display name (the platform's own, e.g. `Maybe* Alerts`).
    pub const MAIL_FROM_NAME: &str = "TOKENWARDEN_MAIL_FROM_NAME";
    /// The product name mails and link pages use (the platform's, e.g. `Maybe*`).
    pub const PRODUCT_NAME: &str = "TOKENWARDEN_PRODUCT_NAME";
    /// Optional: the platform's support page, linked from every mail.
    pub const SUPPORT_URL: &str = "TOKENWARDEN_SUPPORT_URL";
    /// Optional: an https logo shown on top of every mail.
    pub const LOGO_URL: &str = "TOKENWARDEN_LOGO_URL";
    /// The KMS HMAC key (id, ARN or alias) that signs the links in mails.
    pub const MAIL_LINK_KEY_ID: &str = "TOKENWARDEN_MAIL_LINK_KEY_ID";
    /// Optional: confirmation mails a team may send a day (default 20).
    pub const CONFIRMATIONS_PER_DAY: &str = "TOKENWARDEN_CONFIRMATIONS_PER_DAY";
    /// Optional: digests a team may be sent a day (default 500).
    pub const DIGESTS_PER_DAY: &str = "TOKENWARDEN_DIGESTS_PER_DAY";
    /// Optional: the SES configuration set the digests go through.
    pub const SES_CONFIGURATION_SET: &str = "TOKENWARDEN_SES_CONFIGURATION_SET";
    /// Optional: the SQS queue shard tasks go to (fan-out); unset runs every shard in one
    /// invocation.
    pub const SWEEP_QUEUE_URL: &str = "TOKENWARDEN_SWEEP_QUEUE_URL";
    /// Optional: accounts the sweep handles at once (default 16).
    pub const SWEEP_CONCURRENCY: &str = "TOKENWARDEN_SWEEP_CONCURRENCY";
    /// Optional: calls in flight per network, e.g. `x=4,tiktok=2`.
    pub const PROVIDER_CONCURRENCY: &str = "TOKENWARDEN_PROVIDER_CONCURRENCY";
    /// The EventBridge bus connection events go to.
    pub const EVENT_BUS_NAME: &str = "TOKENWARDEN_EVENT_BUS_NAME";
}

/// One variable a function reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Variable {
    pub name: &'static str,
    /// Without it the function does not start.
    pub required: bool,
}

const fn req(name: &'static str) -> Variable {
    Variable {
        name,
        required: true,
    }
}

const fn opt(name: &'static str) -> Variable {
    Variable {
        name,
        required: false,
    }
}

/// A function's settings that could not be read: every problem, each naming its variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the function's configuration is not usable: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// A variable's value by name.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Where variables come from (the process environment, or a map in tests), with a record
/// of what was read and of every problem found.
pub struct Env<'a> {
    lookup: Box<Lookup<'a>>,
    read: RefCell<BTreeMap<&'static str, bool>>,
    problems: RefCell<Vec<String>>,
}

impl Env<'static> {
    /// The process environment.
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }
}

impl<'a> Env<'a> {
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
            read: RefCell::default(),
            problems: RefCell::default(),
        }
    }

    /// The variables read so far, with whether each was required.
    pub fn variables(&self) -> Vec<Variable> {
        self.read
            .borrow()
            .iter()
            .map(|(&name, &required)| Variable { name, required })
            .collect()
    }

    fn problem(&self, problem: String) {
        self.problems.borrow_mut().push(problem);
    }

    /// The raw value; empty counts as unset.
    fn raw(&self, name: &'static str, required: bool) -> Option<String> {
        *self.read.borrow_mut().entry(name).or_insert(required) |= required;
        let value = (self.lookup)(name).filter(|v| !v.trim().is_empty());
        if value.is_none() && required {
            self.problem(format!("{name} is required"));
        }
        value
    }

    fn parse<T>(
        &self,
        name: &'static str,
        required: bool,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(name, required)?;
        parse(raw.trim())
            .map_err(|e| self.problem(format!("{name} {e}")))
            .ok()
    }

    /// A required variable, parsed; `None` (and a problem) when missing or malformed.
    pub fn required<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.parse(name, true, parse)
    }

    /// An optional variable, parsed; `None` when unset (a malformed one is a problem).
    pub fn optional<T>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.parse(name, false, parse)
    }

    /// The settings `build` makes from what was read, or every problem found.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ConfigError> {
        let problems = self.problems.into_inner();
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        build().ok_or_else(|| ConfigError {
            problems: vec!["a setting could not be read".into()],
        })
    }
}

/// A text setting as it is.
fn text(raw: &str) -> Result<String, String> {
    Ok(raw.to_owned())
}

/// An absolute URL setting (`https`, or `http` on localhost for local runs).
fn https_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("must be an absolute URL: {e}"))?;
    let local = matches!(url.host_str(), Some("localhost") | Some("127.0.0.1"));
    if url.scheme() != "https" && !(url.scheme() == "http" && local) {
        return Err("must be an https URL".into());
    }
    Ok(url)
}

/// A whole number above 0.
fn count<T: std::str::FromStr + Default + PartialOrd>(raw: &str) -> Result<T, String> {
    raw.parse::<T>()
        .ok()
        .filter(|n| *n > T::default())
        .ok_or_else(|| "must be a whole number above 0".into())
}

/// A `true`/`false` setting.
fn boolean(raw: &str) -> Result<bool, String> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

/// The HTTP settings of an API function: frontend origins (required), claim names and
/// body limit (optional).
fn http(env: &Env) -> Option<HttpConfig> {
    let origins = env.required(vars::ALLOWED_ORIGINS, |raw| {
        OriginAllowlist::parse(raw).map_err(|e| {
            format!("must be comma-separated https origins (http only for localhost): {e}")
        })
    });
    let defaults = ClaimNames::default();
    let claims = ClaimNames {
        team: env
            .optional(vars::TEAM_CLAIM, text)
            .unwrap_or(defaults.team),
        user: env
            .optional(vars::USER_CLAIM, text)
            .unwrap_or(defaults.user),
        email: env
            .optional(vars::EMAIL_CLAIM, text)
            .unwrap_or(defaults.email),
    };
    let body_limit = env
        .optional(vars::MAX_BODY_BYTES, count::<usize>)
        .unwrap_or(DEFAULT_BODY_LIMIT);
    Some(HttpConfig {
        claims,
        origins: origins?,
        body_limit,
    })
}

/// The two secrets a function that opens tokens or calls networks reads at cold start.
#[derive(Debug, Clone)]
pub struct SecretNames {
    /// The sealing keyring.
    pub keys: String,
    /// The networks' client credentials.
    pub credentials: String,
}

fn secret_names(env: &Env) -> Option<SecretNames> {
    let keys = env.required(vars::SEALING_KEYS_SECRET, text);
    let credentials = env.required(vars::CLIENT_CREDENTIALS_SECRET, text);
    Some(SecretNames {
        keys: keys?,
        credentials: credentials?,
    })
}

/// Where provider calls go and how the networks are set up.
#[derive(Debug, Clone)]
pub struct Networks {
    /// Under `TOKENWARDEN_PROVIDER_BASE_URL` when set (the provider fakes), else the
    /// networks' real endpoints.
    pub endpoints: Endpoints,
    pub settings: NetworkSettings,
}

fn networks(env: &Env) -> Networks {
    let endpoints = env
        .optional(vars::PROVIDER_BASE_URL, |raw| {
            Url::parse(raw).map_err(|e| format!("must be an absolute URL: {e}"))
        })
        .map_or_else(Endpoints::real, Endpoints::overridden);
    let graph_version = env
        .optional(vars::META_GRAPH_VERSION, |raw| {
            GraphVersion::parse(raw)
                .ok_or_else(|| "must be a Graph API version such as v25.0".into())
        })
        .unwrap_or_default();
    let google_testing = env
        .optional(vars::GOOGLE_APP_TESTING, boolean)
        .unwrap_or(false);
    Networks {
        endpoints,
        settings: NetworkSettings {
            graph_version,
            google_testing,
        },
    }
}

/// The SES sender of the mails.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from: EmailAddress,
    /// The display name (the platform's own).
    pub name: Option<String>,
    pub configuration_set: Option<String>,
}

/// Everything a function that sends mail or opens mail links needs.
#[derive(Debug, Clone)]
pub struct Mail {
    pub settings: MailSettings,
    pub sender: Sender,
    /// The KMS HMAC key that signs the links.
    pub link_key: String,
}

fn mail(env: &Env) -> Option<Mail> {
    let product = env.required(vars::PRODUCT_NAME, text);
    let support_url = env.optional(vars::SUPPORT_URL, https_url);
    let logo_url = env.optional(vars::LOGO_URL, https_url);
    let links = env.required(vars::CALLBACK_BASE_URL, https_url);
    let frontend = env.required(vars::FRONTEND_URL, https_url);
    let confirmations = env.optional(vars::CONFIRMATIONS_PER_DAY, count::<u32>);
    let digests = env.optional(vars::DIGESTS_PER_DAY, count::<u32>);
    let from = env.required(vars::MAIL_FROM, |raw| {
        EmailAddress::parse(raw).map_err(|e| format!("must be an email address: {e}"))
    });
    let name = env.optional(vars::MAIL_FROM_NAME, text);
    let configuration_set = env.optional(vars::SES_CONFIGURATION_SET, text);
    let link_key = env.required(vars::MAIL_LINK_KEY_ID, text);

    let branding = Branding {
        product: product?,
        support_url,
        logo_url,
    };
    let mut settings = MailSettings::new(branding, links?, frontend?);
    settings.confirmations_per_day = confirmations.unwrap_or(settings.confirmations_per_day);
    settings.digests_per_day = digests.unwrap_or(settings.digests_per_day);
    Some(Mail {
        settings,
        sender: Sender {
            from: from?,
            name,
            configuration_set,
        },
        link_key: link_key?,
    })
}

fn table(env: &Env) -> Option<String> {
    env.required(vars::TABLE_NAME, text)
}

/// A function's configuration: the variables it reads and how it reads them.
pub trait FunctionConfig: Sized {
    /// The function's binary (`functions/<binary>`).
    const BINARY: &'static str;
    /// Every variable it reads, required or optional.
    const VARIABLES: &'static [Variable];
    /// Reads every variable, noting problems in `env`; `None` only with problems noted.
    fn read(env: &Env) -> Option<Self>;

    /// The settings from `env`, or every problem found.
    fn from_vars(env: Env) -> Result<Self, ConfigError> {
        let read = Self::read(&env);
        env.finish(|| read)
    }

    /// The settings from the process environment, read once at cold start.
    fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(Env::process())
    }
}

const HTTP: [Variable; 5] = [
    req(vars::ALLOWED_ORIGINS),
    opt(vars::TEAM_CLAIM),
    opt(vars::USER_CLAIM),
    opt(vars::EMAIL_CLAIM),
    opt(vars::MAX_BODY_BYTES),
];
const SECRETS: [Variable; 2] = [
    req(vars::SEALING_KEYS_SECRET),
    req(vars::CLIENT_CREDENTIALS_SECRET),
];
const NETWORKS: [Variable; 3] = [
    opt(vars::PROVIDER_BASE_URL),
    opt(vars::META_GRAPH_VERSION),
    opt(vars::GOOGLE_APP_TESTING),
];
const MAIL: [Variable; 11] = [
    req(vars::PRODUCT_NAME),
    opt(vars::SUPPORT_URL),
    opt(vars::LOGO_URL),
    req(vars::CALLBACK_BASE_URL),
    req(vars::FRONTEND_URL),
    opt(vars::CONFIRMATIONS_PER_DAY),
    opt(vars::DIGESTS_PER_DAY),
    req(vars::MAIL_FROM),
    opt(vars::MAIL_FROM_NAME),
    opt(vars::SES_CONFIGURATION_SET),
    req(vars::MAIL_LINK_KEY_ID),
];

/// Joins variable groups into one list at compile time.
const fn join<const N: usize>(groups: &[&[Variable]]) -> [Variable; N] {
    let mut out = [req(""); N];
    let mut at = 0;
    let mut g = 0;
    while g < groups.len() {
        let mut i = 0;
        while i < groups[g].len() {
            out[at] = groups[g][i];
            at += 1;
            i += 1;
        }
        g += 1;
    }
    assert!(at == N, "the variable groups add up to N");
    out
}

/// `accounts`: the account list, one account, disconnect with revocation.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub table: String,
    pub secrets: SecretNames,
    pub networks: Networks,
    pub http: HttpConfig,
}

impl FunctionConfig for Accounts {
    const BINARY: &'static str = "accounts";
    const VARIABLES: &'static [Variable] =
        &join::<11>(&[&[req(vars::TABLE_NAME)], &SECRETS, &NETWORKS, &HTTP]);
    fn read(env: &Env) -> Option<Self> {
        let table = table(env);
        let secrets = secret_names(env);
        let networks = networks(env);
        let http = http(env);
        Some(Self {
            table: table?,
            secrets: secrets?,
            networks,
            http: http?,
        })
    }
}

/// `oauth-callback`: the networks' redirect back, the code exchange, the account written.
#[derive(Debug, Clone)]
pub struct OAuthCallback {
    pub table: String,
    pub secrets: SecretNames,
    pub networks: Networks,
    pub http: HttpConfig,
}

impl FunctionConfig for OAuthCallback {
    const BINARY: &'static str = "oauth-callback";
    const VARIABLES: &'static [Variable] = Accounts::VARIABLES;
    fn read(env: &Env) -> Option<Self> {
        let Accounts {
            table,
            secrets,
            networks,
            http,
        } = Accounts::read(env)?;
        Some(Self {
            table,
            secrets,
            networks,
            http,
        })
    }
}

/// The settings of a function that holds tokens: the table, the two secrets' names and
/// the networks ([`super::clients::token_keeping`] builds from them).
pub trait TokenSettings {
    fn table(&self) -> &str;
    fn secrets(&self) -> &SecretNames;
    fn networks(&self) -> &Networks;
}

macro_rules! token_settings {
    ($($function:ty),+) => {$(
        impl TokenSettings for $function {
            fn table(&self) -> &str {
                &self.table
            }
            fn secrets(&self) -> &SecretNames {
                &self.secrets
            }
            fn networks(&self) -> &Networks {
                &self.networks
            }
        }
    )+};
}

token_settings!(Accounts, OAuthCallback, CredentialsFunction, ExpirySweep);

/// `oauth-start`: authorize URLs from the public client ids (no secret read).
#[derive(Debug, Clone)]
pub struct OAuthStart {
    pub table: String,
    pub client_ids: Credentials,
    pub networks: Networks,
    pub http: HttpConfig,
    pub callback: CallbackBase,
    /// Where the browser goes back when the start request names no `return_to`:
    /// `TOKENWARDEN_FRONTEND_URL` (on an allowed origin), else the first allowed origin.
    pub default_return_to: ReturnUrl,
}

impl FunctionConfig for OAuthStart {
    const BINARY: &'static str = "oauth-start";
    const VARIABLES: &'static [Variable] = &join::<12>(&[
        &[
            req(vars::TABLE_NAME),
            req(vars::CLIENT_IDS),
            req(vars::CALLBACK_BASE_URL),
            opt(vars::FRONTEND_URL),
        ],
        &NETWORKS,
        &HTTP,
    ]);
    fn read(env: &Env) -> Option<Self> {
        let table = table(env);
        let client_ids = env.required(vars::CLIENT_IDS, |raw| {
            Credentials::from_client_ids(raw).map_err(|e| e.to_string())
        });
        let callback = env.required(vars::CALLBACK_BASE_URL, |raw| {
            CallbackBase::parse(raw).map_err(|e| e.to_string())
        });
        let frontend = env.optional(vars::FRONTEND_URL, text);
        let networks = networks(env);
        let http = http(env)?;
        let raw = frontend.or_else(|| http.origins.origins().first().map(|o| format!("{o}/")));
        let default_return_to = raw.and_then(|raw| {
            ReturnUrl::parse(&raw, &http.origins)
                .map_err(|e| {
                    env.problem(format!(
                        "{} must be a URL on one of {}: {e}",
                        vars::FRONTEND_URL,
                        vars::ALLOWED_ORIGINS
                    ))
                })
                .ok()
        });
        Some(Self {
            table: table?,
            client_ids: client_ids?,
            networks,
            http,
            callback: callback?,
            default_return_to: default_return_to?,
        })
    }
}

/// `credentials`: a working token for the platform's services, and their failure reports.
#[derive(Debug, Clone)]
pub struct CredentialsFunction {
    pub table: String,
    pub secrets: SecretNames,
    pub networks: Networks,
    /// The sweep's queue: a breakage found here is mailed by a task on it.
    pub queue_url: Option<String>,
}

impl FunctionConfig for CredentialsFunction {
    const BINARY: &'static str = "credentials";
    const VARIABLES: &'static [Variable] = &join::<7>(&[
        &[req(vars::TABLE_NAME), opt(vars::SWEEP_QUEUE_URL)],
        &SECRETS,
        &NETWORKS,
    ]);
    fn read(env: &Env) -> Option<Self> {
        let table = table(env);
        let queue_url = env.optional(vars::SWEEP_QUEUE_URL, text);
        let secrets = secret_names(env);
        let networks = networks(env);
        Some(Self {
            table: table?,
            secrets: secrets?,
            networks,
            queue_url,
        })
    }
}

/// `expiry-sweep`: the nightly sweep and its shard and mail tasks.
#[derive(Debug, Clone)]
pub struct ExpirySweep {
    pub table: String,
    pub secrets: SecretNames,
    pub networks: Networks,
    pub mail: Mail,
    /// The fan-out queue; unset runs every shard in one invocation.
    pub queue_url: Option<String>,
    /// Accounts handled at once, when not the default.
    pub concurrency: Option<usize>,
    /// Calls in flight per network.
    pub provider_concurrency: BTreeMap<Provider, usize>,
}

/// `x=4,tiktok=2`.
fn provider_limits(raw: &str) -> Result<BTreeMap<Provider, usize>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .and_then(|(p, n)| Some((p.trim().parse().ok()?, count(n.trim()).ok()?)))
                .ok_or_else(|| {
                    format!("must be provider=limit pairs, e.g. x=4,tiktok=2 (got '{pair}')")
                })
        })
        .collect()
}

impl FunctionConfig for ExpirySweep {
    const BINARY: &'static str = "expiry-sweep";
    const VARIABLES: &'static [Variable] = &join::<20>(&[
        &[
            req(vars::TABLE_NAME),
            opt(vars::SWEEP_QUEUE_URL),
            opt(vars::SWEEP_CONCURRENCY),
            opt(vars::PROVIDER_CONCURRENCY),
        ],
        &SECRETS,
        &NETWORKS,
        &MAIL,
    ]);
    fn read(env: &Env) -> Option<Self> {
        let table = table(env);
        let queue_url = env.optional(vars::SWEEP_QUEUE_URL, text);
        let concurrency = env.optional(vars::SWEEP_CONCURRENCY, count::<usize>);
        let provider_concurrency = env
            .optional(vars::PROVIDER_CONCURRENCY, provider_limits)
            .unwrap_or_default();
        let secrets = secret_names(env);
        let networks = networks(env);
        let mail = mail(env);
        Some(Self {
            table: table?,
            secrets: secrets?,
            networks,
            mail: mail?,
            queue_url,
            concurrency,
            provider_concurrency,
        })
    }
}

/// `notification-prefs`: a team's mail settings and recipients.
#[derive(Debug, Clone)]
pub struct NotificationPrefs {
    pub table: String,
    pub http: HttpConfig,
    pub mail: Mail,
}

impl FunctionConfig for NotificationPrefs {
    const BINARY: &'static str = "notification-prefs";
    const VARIABLES: &'static [Variable] = &join::<17>(&[&[req(vars::TABLE_NAME)], &HTTP, &MAIL]);
    fn read(env: &Env) -> Option<Self> {
        let table = table(env);
        let http = http(env);
        let mail = mail(env);
        Some(Self {
            table: table?,
            http: http?,
            mail: mail?,
        })
    }
}

/// `mail-links`: the public confirm and unsubscribe links.
#[derive(Debug, Clone)]
pub struct MailLinks {
    pub table: String,
    pub mail: Mail,
}

impl FunctionConfig for MailLinks {
    const BINARY: &'static str = "mail-links";
    const VARIABLES: &'static [Variable] = &join::<12>(&[&[req(vars::TABLE_NAME)], &MAIL]);
    fn read(env: &Env) -> Option<Self> {
        let table = table(env);
        let mail = mail(env);
        Some(Self {
            table: table?,
            mail: mail?,
        })
    }
}

/// `mail-feedback`: SES's sends, bounces and complaints.
#[derive(Debug, Clone)]
pub struct MailFeedback {
    pub table: String,
}

impl FunctionConfig for MailFeedback {
    const BINARY: &'static str = "mail-feedback";
    const VARIABLES: &'static [Variable] = &[req(vars::TABLE_NAME)];
    fn read(env: &Env) -> Option<Self> {
        Some(Self { table: table(env)? })
    }
}

/// `events-publisher`: history items from the table's stream as EventBridge events.
#[derive(Debug, Clone)]
pub struct EventsPublisher {
    pub bus: String,
    /// The account list page events link to.
    pub frontend_url: Url,
}

impl FunctionConfig for EventsPublisher {
    const BINARY: &'static str = "events-publisher";
    const VARIABLES: &'static [Variable] = &[req(vars::EVENT_BUS_NAME), req(vars::FRONTEND_URL)];
    fn read(env: &Env) -> Option<Self> {
        let bus = env.required(vars::EVENT_BUS_NAME, text);
        let frontend_url = env.required(vars::FRONTEND_URL, https_url);
        Some(Self {
            bus: bus?,
            frontend_url: frontend_url?,
        })
    }
}

/// Every function's binary with the variables it reads.
pub const FUNCTIONS: &[(&str, &[Variable])] = &[
    (Accounts::BINARY, Accounts::VARIABLES),
    (OAuthStart::BINARY, OAuthStart::VARIABLES),
    (OAuthCallback::BINARY, OAuthCallback::VARIABLES),
    (CredentialsFunction::BINARY, CredentialsFunction::VARIABLES),
    (ExpirySweep::BINARY, ExpirySweep::VARIABLES),
    (NotificationPrefs::BINARY, NotificationPrefs::VARIABLES),
    (MailLinks::BINARY, MailLinks::VARIABLES),
    (MailFeedback::BINARY, MailFeedback::VARIABLES),
    (EventsPublisher::BINARY, EventsPublisher::VARIABLES),
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::collections::BTreeSet;

    use super::*;

    /// A valid value for every variable.
    fn sample(name: &str) -> &'static str {
        match name {
            vars::ALLOWED_ORIGINS => "https://app.example.com",
            vars::CLIENT_IDS => "x=client-x,google=client-g",
            vars::CALLBACK_BASE_URL => "https://api.example.com",
            vars::FRONTEND_URL => "https://app.example.com/accounts",
            vars::SUPPORT_URL => "https://example.com/help",
            vars::LOGO_URL => "https://example.com/logo.png",
            vars::PROVIDER_BASE_URL => "http://127.0.0.1:9000",
            vars::META_GRAPH_VERSION => "v25.0",
            vars::GOOGLE_APP_TESTING => "true",
            vars::MAX_BODY_BYTES => "1024",
            vars::CONFIRMATIONS_PER_DAY | vars::DIGESTS_PER_DAY | vars::SWEEP_CONCURRENCY => "7",
            vars::PROVIDER_CONCURRENCY => "x=4,tiktok=2",
            vars::MAIL_FROM => "alerts@example.com",
            _ => "some-value",
        }
    }

    fn read<C: FunctionConfig>(unset: &[&str]) -> (Result<C, ConfigError>, Vec<Variable>) {
        let env = Env::from_fn(|name| (!unset.contains(&name)).then(|| sample(name).to_owned()));
        let config = C::read(&env);
        let variables = env.variables();
        (env.finish(|| config), variables)
    }

    fn holds_its_list<C: FunctionConfig>() {
        let declared: BTreeSet<Variable> = C::VARIABLES.iter().copied().collect();
        assert_eq!(
            declared.len(),
            C::VARIABLES.len(),
            "{}: no repeats",
            C::BINARY
        );
        let (config, seen) = read::<C>(&[]);
        assert!(config.is_ok(), "{}: {:?}", C::BINARY, config.err());
        assert_eq!(
            seen.into_iter().collect::<BTreeSet<_>>(),
            declared,
            "{}: what it reads is what it lists",
            C::BINARY
        );
        for variable in C::VARIABLES {
            let (config, _) = read::<C>(&[variable.name]);
            match config {
                Ok(_) => assert!(!variable.required, "{}: {} unset", C::BINARY, variable.name),
                Err(e) => {
                    assert!(
                        variable.required,
                        "{}: {} optional: {e}",
                        C::BINARY,
                        variable.name
                    );
                    assert_eq!(e.problems, [format!("{} is required", variable.name)]);
                }
            }
        }
    }

    #[test]
    fn every_function_reads_exactly_the_variables_it_lists_and_needs_exactly_the_required_ones() {
        holds_its_list::<Accounts>();
        holds_its_list::<OAuthStart>();
        holds_its_list::<OAuthCallback>();
        holds_its_list::<CredentialsFunction>();
        holds_its_list::<ExpirySweep>();
        holds_its_list::<NotificationPrefs>();
        holds_its_list::<MailLinks>();
        holds_its_list::<MailFeedback>();
        holds_its_list::<EventsPublisher>();
        assert_eq!(FUNCTIONS.len(), 9);
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let env = Env::from_fn(|name| match name {
            vars::ALLOWED_ORIGINS => Some("ftp://nope".into()),
            vars::MAX_BODY_BYTES => Some("lots".into()),
            _ => None,
        });
        let err = Accounts::from_vars(env).unwrap_err();
        let text = err.to_string();
        for name in [
            vars::TABLE_NAME,
            vars::SEALING_KEYS_SECRET,
            vars::CLIENT_CREDENTIALS_SECRET,
            vars::ALLOWED_ORIGINS,
            vars::MAX_BODY_BYTES,
        ] {
            assert!(text.contains(name), "{name} in {text}");
        }
        assert_eq!(err.problems.len(), 5, "{text}");
    }

    #[test]
    fn settings_are_read_as_given_and_defaults_fill_the_rest() {
        let (config, _) = read::<ExpirySweep>(&[]);
        let config = config.unwrap();
        assert_eq!(config.concurrency, Some(7));
        assert_eq!(config.provider_concurrency[&Provider::X], 4);
        assert_eq!(config.mail.settings.digests_per_day, 7);
        assert!(config.networks.settings.google_testing);

        let (config, _) = read::<ExpirySweep>(&[
            vars::SWEEP_CONCURRENCY,
            vars::PROVIDER_CONCURRENCY,
            vars::DIGESTS_PER_DAY,
            vars::GOOGLE_APP_TESTING,
        ]);
        let config = config.unwrap();
        assert_eq!(config.concurrency, None);
        assert!(config.provider_concurrency.is_empty());
        assert_eq!(config.mail.settings.digests_per_day, 500);
        assert!(!config.networks.settings.google_testing);

        let (start, _) = read::<OAuthStart>(&[vars::FRONTEND_URL]);
        assert_eq!(
            String::from(start.unwrap().default_return_to),
            "https://app.example.com/"
        );
    }

    #[test]
    fn malformed_settings_are_refused_with_their_name() {
        for (name, value) in [
            (vars::PROVIDER_CONCURRENCY, "x=0"),
            (vars::PROVIDER_CONCURRENCY, "myspace=2"),
            (vars::SWEEP_CONCURRENCY, "0"),
            (vars::GOOGLE_APP_TESTING, "yes"),
            (vars::META_GRAPH_VERSION, "25"),
            (vars::SUPPORT_URL, "http://example.com/help"),
            (vars::MAIL_FROM, "not an address"),
        ] {
            let env = Env::from_fn(|n| Some(if n == name { value } else { sample(n) }.to_owned()));
            let err = ExpirySweep::from_vars(env).unwrap_err();
            assert_eq!(err.problems.len(), 1, "{err}");
            assert!(err.problems[0].starts_with(name), "{err}");
        }
    }
}
