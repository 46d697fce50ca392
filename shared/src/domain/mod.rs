//! The domain: no AWS, Lambda or DynamoDB types here.

mod account;
mod clock;
mod history;
mod ids;
mod prefs;
mod provider;
mod provider_error;
pub mod secret;

pub use account::{
    Account, Broken, Failures, Milestone, Profile, Reason, Renewal, Reported, SchedulePolicy,
    SealedTokens, Status, TokenColumn, Transition, EXPIRING_WITHIN,
    FAILURE_DAYS_BEFORE_REFRESH_FAILED, RETRY_AFTER,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use history::{Cause, HistoryEntry, HistoryKind, LastChange, StateAt, HISTORY_KEPT};
pub use ids::{AccountId, EmailAddress, InvalidValue, OriginAllowlist, ReturnUrl, TeamId, UserId};
pub use prefs::{
    Invitation, MailEvents, NotificationPrefs, Recipient, RecipientId, RecipientState,
};
pub use provider::{Disconnect, Endpoints, KeepAlive, Pkce, Provider, ProviderSpec};
pub use provider_error::{ProviderReply, Verdict};
pub use secret::{ExposeSecret, SealedToken, Secret};
