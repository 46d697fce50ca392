//! tokenwarden: keeps social networks' OAuth connections alive. One line per module:
//!
//! - [`api`]: the HTTP handlers (decode, call one operation, map the answer).
//! - [`credentials`]: the credentials function (get_token, report_failure) for the platform's services.
//! - [`disconnect`]: disconnecting an account (revocation at the network, removal).
//! - [`domain`]: ids, the provider catalogue, accounts and their token column, preferences, secrets as values (`secrecy`) and sealed envelopes; no AWS types, no sealing.
//! - [`error_chain`]: an error's cause chain as one log field, for every layer.
//! - [`events`]: history items from the table's stream to EventBridge.
//! - [`grant`]: a token grant turned into sealed tokens and lifetimes.
//! - [`http`]: HTTP conventions (routing, errors, CORS, tenancy, bodies).
//! - [`mail`]: mails (digest, confirmation), recipients and consent, signed links, SES and its feedback.
//! - [`oauth`]: connecting and reconnecting accounts (state, PKCE, code exchange, storing).
//! - [`providers`]: the provider client port and one module per network.
//! - [`refresh`]: refreshing one account and storing the answer first.
//! - [`runtime`]: cold start: one typed configuration per function, the clients built from it.
//! - [`seal`]: sealing and opening tokens at rest (AES-256-GCM envelopes bound to their row).
//! - [`secrets`]: the secret source port and the Secrets Manager adapter.
//! - [`store`]: storage ports and the DynamoDB adapter.
//! - [`sweep`]: the expiry sweep (accounts phase, mail phase, fan-out, mail tasks, re-seal).
//!
//! The request and sweep paths are panic-free by construction: release builds abort on a
//! panic, which would end a whole sweep run or lose an answer a network already gave. The
//! lints below refuse `unwrap`, `expect` and `panic!` outside tests. Cold start does not
//! panic either: a function's configuration ([`runtime::config`]) names every problem and
//! its init fails.
//!
//! No library function is longer than 60 lines (`clippy.toml` sets the limit, the lint
//! below holds it): a longer one is split into its steps, each named for what it decides.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg_attr(not(test), warn(clippy::too_many_lines))]

pub mod api;
pub mod credentials;
pub mod disconnect;
pub mod domain;
pub mod error_chain;
pub mod events;
pub mod grant;
pub mod http;
pub mod mail;
pub mod oauth;
pub mod providers;
pub mod refresh;
pub mod runtime;
pub mod seal;
pub mod secrets;
pub mod store;
pub mod sweep;

#[cfg(test)]
mod parser_props;
