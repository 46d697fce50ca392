//! The HTTP API the hosted frontend calls. Each handler decodes and validates, calls one
//! operation on its ports, and maps the result; the conventions live in [`crate::http`].
//!
//! - [`accounts`]: `GET /providers`, `GET /accounts`, `GET /accounts/{id}`,
//!   `DELETE /accounts/{id}` (function `accounts`);
//! - [`prefs`]: `GET` and `PUT /notification-preferences`, `POST` and `DELETE` of its
//!   recipients (function `notification-prefs`);
//! - [`mail_links`]: the public `GET`/`POST /mail/confirm` and `/mail/unsubscribe` that
//!   links in mails open (function `mail-links`);
//! - [`oauth_start`]: `POST /connections/{provider}/start`, `POST /accounts/{id}/reconnect`
//!   (function `oauth-start`);
//! - [`oauth_callback`]: the public `GET /oauth/{provider}/callback` (function
//!   `oauth-callback`).
//!
//! The routes are also written down in `infra/openapi.yaml`; a test keeps the two equal.

pub mod accounts;
pub mod mail_links;
pub mod oauth_callback;
pub mod oauth_start;
pub mod prefs;
