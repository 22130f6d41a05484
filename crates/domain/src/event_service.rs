//! Reading the change-event feed (docs/events.md): needs `core_webhook_view`. Events are
//! written by the SCIM writes themselves (the store's outbox), never through this service.

use std::sync::Arc;

use crate::access::Caller;
use crate::error::DomainError;
use crate::events::{EventPage, EventQuery};
use crate::ids::AccountId;
use crate::store::EventStore;
use crate::use_case::UseCase;

/// The largest page of the feed.
pub const MAX_PAGE: u32 = 1_000;

/// The feed's use cases.
#[derive(Clone)]
pub struct EventService {
    store: Arc<dyn EventStore>,
}

impl std::fmt::Debug for EventService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventService").finish_non_exhaustive()
    }
}

impl EventService {
    /// A service over a store.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    /// A page of the caller's account's events, in order; the account it is for.
    pub async fn list(
        &self,
        caller: &Caller,
        query: &EventQuery,
    ) -> Result<(AccountId, EventPage), DomainError> {
        let account = caller.authorize(UseCase::ListEvents)?;
        if query.limit == 0 || query.limit > MAX_PAGE {
            return Err(DomainError::invalid(format!("limit must be between 1 and {MAX_PAGE}")));
        }
        if query.after.is_some_and(|a| a < 0) {
            return Err(DomainError::invalid(
                "after must be the 'next' of a previous page (a number from 0)",
            ));
        }
        Ok((account.clone(), self.store.list_events(account, query).await?))
    }

    /// The caller's account's newest event number (0 before any), for a reader that wants to
    /// start near the end (the console).
    pub async fn latest(&self, caller: &Caller) -> Result<i64, DomainError> {
        let account = caller.authorize(UseCase::ListEvents)?;
        self.store.latest_event(account).await
    }
}
