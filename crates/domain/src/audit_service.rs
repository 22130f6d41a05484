//! Reading the audit log and the SCIM request log (docs/audit.md): both need
//! `core_audit_view`. Writing them is not a use case: audit entries are written by every
//! write, request log entries by the server.

use std::sync::Arc;

use crate::access::Caller;
use crate::audit::{AuditQuery, AuditRecord};
use crate::error::DomainError;
use crate::request_log::{ScimRequest, ScimRequestQuery};
use crate::use_case::UseCase;

/// The largest page either log answers.
pub const MAX_PAGE: u32 = 1_000;

pub use crate::store::AuditStores;

/// The audit log and request log use cases.
#[derive(Clone)]
pub struct AuditService {
    store: Arc<dyn AuditStores>,
}

impl std::fmt::Debug for AuditService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditService").finish_non_exhaustive()
    }
}

fn check_limit(limit: u32) -> Result<(), DomainError> {
    if limit == 0 || limit > MAX_PAGE {
        return Err(DomainError::invalid(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    Ok(())
}

impl AuditService {
    /// A service over a store.
    pub fn new(store: Arc<dyn AuditStores>) -> Self {
        Self { store }
    }

    /// Audit entries matching `query`, newest first.
    pub async fn list(&self, caller: &Caller, query: &AuditQuery) -> Result<Vec<AuditRecord>, DomainError> {
        let account = caller.authorize(UseCase::ListAudit)?;
        check_limit(query.limit)?;
        self.store.list_audit(account, query).await
    }

    /// Logged SCIM requests matching `query`, newest first.
    pub async fn requests(
        &self,
        caller: &Caller,
        query: &ScimRequestQuery,
    ) -> Result<Vec<ScimRequest>, DomainError> {
        let account = caller.authorize(UseCase::ListScimRequests)?;
        check_limit(query.limit)?;
        self.store.list_scim_requests(account, query).await
    }
}
