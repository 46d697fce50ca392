//! tokenwarden: keeps social networks' OAuth connections alive.
//!
//! - [`domain`]: ids, the provider catalogue, accounts and their token column, what a
//!   provider's error means. No AWS types.
//! - [`seal`]: tokens at rest (AES-256-GCM envelopes bound to their row) and the redacting
//!   [`seal::Secret`].
//! - [`store`]: storage ports and the DynamoDB adapter.
//! - [`secrets`]: the secret source port and the Secrets Manager adapter.
//! - [`oauth`]: connecting and reconnecting accounts (state, PKCE, code exchange, storing).
//!
//! The request and sweep paths are panic-free by construction: release builds abort on a
//! panic, which would end a whole sweep run or lose an answer a network already gave. The
//! lints below refuse `unwrap`, `expect` and `panic!` outside tests; the few places that
//! may stop a function are cold-start configuration (`runtime`), each allowed where it is.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod credentials;
pub mod domain;
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
