//! The HTTP API the hosted frontend calls. Each handler decodes and validates, calls one
//! operation on its ports, and maps the result; the conventions live in [`crate::http`].
//!
//! - [`accounts`]: `GET /providers`, `GET /accounts`, `GET /accounts/{id}`,
//!   `DELETE /accounts/{id}` (function `accounts`);
//! - [`prefs`]: `GET` and `PUT /notification-preferences` (function `notification-prefs`).
//!
//! The routes are also written down in `infra/openapi.yaml`; a test keeps the two equal.

pub mod accounts;
pub mod prefs;
