//! The rules of scimgate: accounts, tokens, SCIM users and groups, and the storage traits
//! they need. No HTTP and no SQL types appear here.

pub mod access;
pub mod access_service;
pub mod account_service;
pub mod audit;
pub mod audit_service;
pub mod auth_service;
pub mod clock;
pub mod entities;
pub mod error;
pub mod event_service;
pub mod events;
pub mod ids;
pub mod jwt_trust;
pub mod netguard;
pub mod poll;
pub mod request_log;
pub mod scim_service;
pub mod settings;
pub mod settings_service;
pub mod store;
pub mod token;
pub mod use_case;
pub mod webhook_service;
pub mod webhooks;

#[cfg(test)]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::DomainError;
pub use ids::AccountId;
