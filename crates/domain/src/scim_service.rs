//! SCIM use cases: validate, apply PATCH, and store, with optimistic concurrency.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use scimgate_scim::ScimError;
use scimgate_scim::patch::{self, MemberChange, MemberRef, OpKind, PatchOperation};
use scimgate_scim::resource;
use scimgate_scim::schema::{GROUP_URN, ResourceKind};
use scimgate_scim::stored::etag;

use crate::access::Caller;
use crate::access_service::ChangeHook;
use crate::audit::{AuditEntry, AuditResource, action, attribute_summary, changed_attributes};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::events::EventType;
use crate::ids::{AccountId, new_resource_id};
use crate::store::{ListPage, ListQuery, Member, ResourceUpdate, ScimStore, StoredResource};
use crate::use_case::UseCase;

/// How often a PATCH is retried when a concurrent write changed the resource in between.
const PATCH_RETRIES: usize = 8;

/// A resource id that cannot exist (longer than 256 bytes, or holding a NUL, which no
/// database stores) is 404 at once, before any statement is built with it.
fn plausible_id(kind: ResourceKind, id: &str) -> Result<(), DomainError> {
    if id.len() > 256 || id.contains('\0') {
        return Err(DomainError::NotFound(format!("{} not found", kind.name())));
    }
    Ok(())
}

/// A PATCH carrying more values than this (operations plus the elements of their values) is
/// applied on a blocking thread, not on an async worker, so that one large request cannot
/// hold a runtime thread (security review item 2).
pub const HEAVY_PATCH_VALUES: usize = 64;

/// How much a PATCH request has to apply: its operations plus the values they carry.
fn patch_weight(ops: &[PatchOperation]) -> usize {
    fn weight(v: &Value) -> usize {
        match v {
            Value::Array(items) => items.len().max(1),
            Value::Object(m) => m.values().map(weight).sum::<usize>().max(1),
            _ => 1,
        }
    }
    ops.iter().map(|o| 1 + o.value.as_ref().map_or(0, weight)).sum()
}

/// Applies PATCH operations to a document and validates the result; heavy requests run on a
/// blocking thread.
async fn apply_patch(
    kind: ResourceKind,
    mut doc: Map<String, Value>,
    ops: Arc<Vec<PatchOperation>>,
    heavy: bool,
) -> Result<(Map<String, Value>, Vec<MemberChange>), DomainError> {
    let work = move || -> Result<_, ScimError> {
        let changes = patch::apply(kind, &mut doc, &ops)?;
        Ok((resource::finish(kind, doc)?, changes))
    };
    if !heavy {
        return Ok(work()?);
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DomainError::Internal(format!("PATCH worker failed: {e}")))?
        .map_err(DomainError::from)
}

/// The SCIM use cases of one server.
#[derive(Clone)]
pub struct ScimService {
    store: Arc<dyn ScimStore>,
    clock: Arc<dyn Clock>,
    on_change: ChangeHook,
    on_event: Option<ChangeHook>,
}

impl std::fmt::Debug for ScimService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScimService").finish_non_exhaustive()
    }
}

/// A SCIM operation, for the use case (and so the permission) it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimOp {
    /// POST.
    Create,
    /// GET one.
    Get,
    /// GET a list, POST `/.search`.
    List,
    /// PUT.
    Replace,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl ScimOp {
    /// The use case of this operation on a resource type (docs/contract.md §3 "SCIM needs").
    pub fn use_case(self, kind: ResourceKind) -> UseCase {
        use ResourceKind::{Group, User};
        match (kind, self) {
            (User, ScimOp::Create) => UseCase::CreateUser,
            (User, ScimOp::Get) => UseCase::GetUser,
            (User, ScimOp::List) => UseCase::ListUsers,
            (User, ScimOp::Replace) => UseCase::ReplaceUser,
            (User, ScimOp::Patch) => UseCase::PatchUser,
            (User, ScimOp::Delete) => UseCase::DeleteUser,
            (Group, ScimOp::Create) => UseCase::CreateGroup,
            (Group, ScimOp::Get) => UseCase::GetGroup,
            (Group, ScimOp::List) => UseCase::ListGroups,
            (Group, ScimOp::Replace) => UseCase::ReplaceGroup,
            (Group, ScimOp::Patch) => UseCase::PatchGroup,
            (Group, ScimOp::Delete) => UseCase::DeleteGroup,
        }
    }
}

/// The result of a PATCH.
#[derive(Debug, Clone)]
pub struct PatchOutcome {
    /// The version after the patch.
    pub version: i64,
    /// The resource after the patch, when it was asked for.
    pub resource: Option<StoredResource>,
}

/// What a PATCH sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadBack {
    /// Only the new version (a Group PATCH answered 204).
    Nothing,
    /// The resource; `true` also loads members (groups) or groups (users).
    Resource(bool),
}

impl ScimService {
    /// A service over a store and a clock. `on_change` runs after writes that can change
    /// who holds which role (group membership, deleted users and groups).
    pub fn new(store: Arc<dyn ScimStore>, clock: Arc<dyn Clock>, on_change: ChangeHook) -> Self {
        Self { store, clock, on_change, on_event: None }
    }

    /// Runs `hook` after every committed write (each writes change events): the server wakes
    /// its event readers and deliverers with it.
    pub fn with_event_hook(mut self, hook: ChangeHook) -> Self {
        self.on_event = Some(hook);
        self
    }

    fn written(&self, account: &AccountId) {
        if let Some(hook) = &self.on_event {
            hook(account);
        }
    }

    fn authorize(caller: &Caller, kind: ResourceKind, op: ScimOp) -> Result<&AccountId, DomainError> {
        caller.authorize(op.use_case(kind))
    }

    /// Drops the account's cached grants and credentials after a write that can change
    /// them: any Group write (who inherits which roles), and a User written as inactive
    /// (its personal tokens stop working). Other user writes leave the caches alone, so bulk
    /// provisioning does not flush them on every request.
    fn changed(&self, account: &AccountId, kind: ResourceKind, doc: Option<&Map<String, Value>>) {
        let deactivated = doc.and_then(|d| d.get("active")) == Some(&Value::Bool(false));
        if kind == ResourceKind::Group || deactivated {
            (self.on_change)(account);
        }
    }

    /// POST: creates a resource (RFC 7644 §3.3).
    pub async fn create(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        body: &Value,
    ) -> Result<StoredResource, DomainError> {
        let account = Self::authorize(caller, kind, ScimOp::Create)?;
        let mut doc = resource::normalize(kind, body)?;
        let members = take_members(kind, &mut doc)?;
        let id = new_resource_id();
        let now = self.clock.now();
        let audit = AuditEntry::new(
            caller,
            now,
            action::CREATE,
            audit_kind(kind),
            &id,
            attribute_summary(doc.keys().cloned()),
        );
        let created = self.store.create_resource(account, kind, &id, &doc, &members, now, &audit).await?;
        self.written(account);
        // A new user has no tokens yet; only a new group can change grants.
        self.changed(account, kind, None);
        Ok(created)
    }

    /// GET one resource.
    pub async fn get(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        id: &str,
        include_related: bool,
    ) -> Result<StoredResource, DomainError> {
        let account = Self::authorize(caller, kind, ScimOp::Get)?;
        plausible_id(kind, id)?;
        self.store.get_resource(account, kind, id, include_related).await
    }

    /// A page of a group's members for an answer written out page by page (a large group's
    /// GET): the same permission as [`Self::get`]; `None` when the group is no longer at
    /// `version` (see `ScimStore::group_members_page`).
    pub async fn group_members_page(
        &self,
        caller: &Caller,
        group_id: &str,
        version: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<Member>>, DomainError> {
        let account = Self::authorize(caller, ResourceKind::Group, ScimOp::Get)?;
        self.store.group_members_page(account, group_id, version, after, limit).await
    }

    /// PUT: replaces every writable attribute (RFC 7644 §3.5.1). For Groups the member list
    /// in the body becomes the membership.
    pub async fn replace(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<StoredResource, DomainError> {
        let account = Self::authorize(caller, kind, ScimOp::Replace)?;
        plausible_id(kind, id)?;
        let mut doc = resource::normalize(kind, body)?;
        let members = take_members(kind, &mut doc)?;
        let changes = match kind {
            ResourceKind::Group => vec![MemberChange::Replace(members)],
            ResourceKind::User => vec![],
        };
        // The current document is read first so that the audit entry names the attributes
        // this PUT changed; the write is conditional on that version, and a concurrent write
        // in between starts it over (like PATCH).
        for _ in 0..PATCH_RETRIES {
            let current = self.store.get_resource(account, kind, id, false).await?;
            if let Some(v) = if_match
                && v != current.version
            {
                return Err(DomainError::PreconditionFailed(etag(v)));
            }
            let update = ResourceUpdate {
                doc: Some(&doc),
                expected_version: Some(current.version),
                members: &changes,
                event: EventType::updated(kind, &current.doc, &doc),
                created: Some(current.created),
            };
            let now = self.clock.now();
            let audit = AuditEntry::new(
                caller,
                now,
                action::UPDATE,
                audit_kind(kind),
                id,
                attribute_summary(changed_attributes(&current.doc, &doc)),
            );
            match self.store.update_resource(account, kind, id, &update, now, &audit).await {
                Ok(_) => {
                    self.written(account);
                    self.changed(account, kind, Some(&doc));
                    return self.store.get_resource(account, kind, id, true).await;
                }
                Err(DomainError::VersionMismatch) if if_match.is_none() => continue,
                Err(e) => return Err(precondition(e, if_match)),
            }
        }
        Err(DomainError::Internal(format!("PUT of {id} kept conflicting with concurrent writes")))
    }

    /// PATCH (RFC 7644 §3.5.2). A Group PATCH that only changes members never reads the
    /// group or its members. `read_back` says whether the answer carries the resource (read
    /// under the PATCH's own permission: the caller may see what it changed).
    pub async fn patch(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        read_back: ReadBack,
    ) -> Result<PatchOutcome, DomainError> {
        let account = Self::authorize(caller, kind, ScimOp::Patch)?;
        plausible_id(kind, id)?;
        let ops = Arc::new(patch::parse_request(body)?);
        let heavy = patch_weight(&ops) > HEAVY_PATCH_VALUES;
        if kind == ResourceKind::Group && ops.iter().all(is_member_op) {
            let changes = if heavy {
                let ops = ops.clone();
                tokio::task::spawn_blocking(move || patch::apply(kind, &mut Map::new(), &ops))
                    .await
                    .map_err(|e| DomainError::Internal(format!("PATCH worker failed: {e}")))??
            } else {
                patch::apply(kind, &mut Map::new(), &ops)?
            };
            let update = ResourceUpdate {
                doc: None,
                expected_version: if_match,
                members: &changes,
                event: None,
                created: None,
            };
            let now = self.clock.now();
            let audit = AuditEntry::new(
                caller,
                now,
                action::PATCH,
                audit_kind(kind),
                id,
                attribute_summary(["members".into()]),
            );
            let (version, _) = self
                .store
                .update_resource(account, kind, id, &update, now, &audit)
                .await
                .map_err(|e| precondition(e, if_match))?;
            self.written(account);
            self.changed(account, kind, None);
            return self.patched(account, kind, id, version, read_back).await;
        }
        // A User's PATCH cannot change its groups (readOnly), so the answer is the read this
        // PATCH starts from (with the groups, when they are asked for) plus what it wrote:
        // two statements, not a third read after the write.
        let user_answer = match (kind, read_back) {
            (ResourceKind::User, ReadBack::Resource(related)) => Some(related),
            _ => None,
        };
        for _ in 0..PATCH_RETRIES {
            let current = self.store.get_resource(account, kind, id, user_answer.unwrap_or(false)).await?;
            if let Some(v) = if_match
                && v != current.version
            {
                return Err(DomainError::PreconditionFailed(etag(v)));
            }
            let (doc, changes) = apply_patch(kind, current.doc.clone(), ops.clone(), heavy).await?;
            if doc == current.doc && changes.is_empty() {
                if user_answer.is_some() {
                    return Ok(PatchOutcome { version: current.version, resource: Some(current) });
                }
                return self.patched(account, kind, id, current.version, read_back).await;
            }
            let update = ResourceUpdate {
                doc: Some(&doc),
                expected_version: Some(current.version),
                members: &changes,
                event: EventType::updated(kind, &current.doc, &doc),
                created: Some(current.created),
            };
            let mut names = changed_attributes(&current.doc, &doc);
            if !changes.is_empty() {
                names.push("members".into());
            }
            let now = self.clock.now();
            let audit =
                AuditEntry::new(caller, now, action::PATCH, audit_kind(kind), id, attribute_summary(names));
            match self.store.update_resource(account, kind, id, &update, now, &audit).await {
                Ok((version, last_modified)) => {
                    self.written(account);
                    self.changed(account, kind, Some(&doc));
                    if user_answer.is_some() {
                        let resource = StoredResource { doc, version, last_modified, ..current };
                        return Ok(PatchOutcome { version, resource: Some(resource) });
                    }
                    return self.patched(account, kind, id, version, read_back).await;
                }
                Err(DomainError::VersionMismatch) if if_match.is_none() => continue,
                Err(e) => return Err(precondition(e, if_match)),
            }
        }
        Err(DomainError::Internal(format!("PATCH of {id} kept conflicting with concurrent writes")))
    }

    async fn patched(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        version: i64,
        read_back: ReadBack,
    ) -> Result<PatchOutcome, DomainError> {
        let resource = match read_back {
            ReadBack::Nothing => None,
            ReadBack::Resource(related) => Some(self.store.get_resource(account, kind, id, related).await?),
        };
        Ok(PatchOutcome { version, resource })
    }

    /// DELETE (RFC 7644 §3.6).
    pub async fn delete(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), DomainError> {
        let account = Self::authorize(caller, kind, ScimOp::Delete)?;
        plausible_id(kind, id)?;
        let audit =
            AuditEntry::new(caller, self.clock.now(), action::DELETE, audit_kind(kind), id, json!({}));
        self.store
            .delete_resource(account, kind, id, if_match, &audit)
            .await
            .map_err(|e| precondition(e, if_match))?;
        self.written(account);
        // A deleted user loses its tokens and assignments in the same transaction; drop the
        // cached grants too.
        (self.on_change)(account);
        Ok(())
    }

    /// Lists resources (RFC 7644 §3.4.2).
    pub async fn list(
        &self,
        caller: &Caller,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError> {
        let account = Self::authorize(caller, kind, ScimOp::List)?;
        self.store.list_resources(account, kind, query).await
    }
    /// POST `/.search` over one or more resource types (RFC 7644 §3.4.3; the root searches
    /// Users, then Groups): index pages continue from one type to the next. With several
    /// types, a filter one type cannot evaluate matches nothing there (`None`); when it fits
    /// none of them and nothing matched, its error is the answer.
    pub async fn search(
        &self,
        caller: &Caller,
        queries: Vec<(ResourceKind, ListQuery)>,
    ) -> Result<Vec<Option<ListPage>>, DomainError> {
        let several = queries.len() > 1;
        let mut out = Vec::with_capacity(queries.len());
        let (mut seen, mut taken) = (0u64, 0usize);
        let mut first_error = None;
        for (kind, mut query) in queries {
            query.page = query.page.after_earlier_types(seen, taken);
            match self.list(caller, kind, &query).await {
                Ok(page) => {
                    seen += page.total;
                    taken += page.items.len();
                    out.push(Some(page));
                }
                Err(DomainError::Invalid(e)) if several => {
                    first_error.get_or_insert(e);
                    out.push(None);
                }
                Err(e) => return Err(e),
            }
        }
        match first_error {
            Some(e) if seen == 0 && taken == 0 => Err(DomainError::Invalid(e)),
            _ => Ok(out),
        }
    }
}

/// The audit log's resource type of a SCIM resource type.
fn audit_kind(kind: ResourceKind) -> AuditResource {
    match kind {
        ResourceKind::User => AuditResource::User,
        ResourceKind::Group => AuditResource::Group,
    }
}

fn precondition(e: DomainError, if_match: Option<i64>) -> DomainError {
    match (e, if_match) {
        (DomainError::VersionMismatch, Some(v)) => DomainError::PreconditionFailed(etag(v)),
        (DomainError::VersionMismatch, None) => {
            DomainError::Internal("version mismatch without a precondition".into())
        }
        (e, _) => e,
    }
}

fn is_member_op(op: &PatchOperation) -> bool {
    op.path.as_ref().is_some_and(|p| {
        p.attr.name.eq_ignore_ascii_case("members")
            && p.attr.uri.as_deref().is_none_or(|u| u.eq_ignore_ascii_case(GROUP_URN))
    }) || (op.op == OpKind::Remove && op.path.is_none())
}

fn take_members(kind: ResourceKind, doc: &mut Map<String, Value>) -> Result<Vec<MemberRef>, ScimError> {
    match (kind, doc.remove("members")) {
        (ResourceKind::Group, Some(v)) => patch::member_refs(&v),
        _ => Ok(vec![]),
    }
}
