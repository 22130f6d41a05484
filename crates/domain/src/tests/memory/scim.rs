//! The SCIM and settings traits of the test store.

use crate::audit::AuditEntry;
use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use scimgate_scim::patch::{MemberChange, MemberRef};
use scimgate_scim::schema::ResourceKind;

use super::*;

fn to_members(refs: &[MemberRef]) -> Vec<Member> {
    refs.iter()
        .map(|m| Member {
            value: m.value.clone(),
            member_type: if m.member_type.as_deref() == Some("Group") {
                ResourceKind::Group
            } else {
                ResourceKind::User
            },
            display: m.display.clone(),
        })
        .collect()
}

#[async_trait]
impl ScimStore for MemoryStore {
    async fn create_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        members: &[MemberRef],
        now: OffsetDateTime,
        _audit: &AuditEntry,
    ) -> Result<StoredResource, DomainError> {
        let mut d = self.data();
        let a = account.as_str().to_string();
        if kind == ResourceKind::User {
            let name = doc.get("userName").and_then(Value::as_str).unwrap_or_default().to_lowercase();
            let taken = d.resources.iter().any(|((acc, k, _), (_, r))| {
                *acc == a
                    && *k == "User"
                    && r.doc.get("userName").and_then(Value::as_str).is_some_and(|n| n.to_lowercase() == name)
            });
            if taken {
                return Err(DomainError::Conflict(format!("userName '{name}' is already taken")));
            }
        }
        d.seq += 1;
        let seq = d.seq;
        let r = StoredResource {
            id: id.into(),
            doc: doc.clone(),
            created: now,
            last_modified: now,
            version: 1,
            members: (kind == ResourceKind::Group).then(|| to_members(members)),
            groups: None,
        };
        d.resources.insert((a, kind_name(kind), id.into()), (seq, r.clone()));
        Ok(r)
    }

    async fn get_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        include_related: bool,
    ) -> Result<StoredResource, DomainError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let d = self.data();
        let a = account.as_str().to_string();
        let (_, r) = d
            .resources
            .get(&(a.clone(), kind_name(kind), id.into()))
            .ok_or_else(|| DomainError::NotFound(format!("{} {id} not found", kind.name())))?;
        let mut r = r.clone();
        match (kind, include_related) {
            (ResourceKind::Group, false) => r.members = None,
            (ResourceKind::User, true) => {
                r.groups = Some(
                    d.resources
                        .iter()
                        .filter(|((acc, k, _), (_, g))| {
                            *acc == a
                                && *k == "Group"
                                && g.members.as_ref().is_some_and(|m| m.iter().any(|m| m.value == id))
                        })
                        .map(|((_, _, gid), (_, g))| crate::store::GroupRef {
                            value: gid.clone(),
                            display: g.doc.get("displayName").and_then(Value::as_str).map(str::to_string),
                        })
                        .collect(),
                )
            }
            _ => {}
        }
        Ok(r)
    }

    async fn group_members_page(
        &self,
        account: &AccountId,
        group_id: &str,
        version: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<crate::store::Member>>, DomainError> {
        let d = self.data();
        let Some((_, g)) = d.resources.get(&(account.as_str().to_string(), "Group", group_id.into())) else {
            return Ok(None);
        };
        if g.version != version {
            return Ok(None);
        }
        let mut all = g.members.clone().unwrap_or_default();
        all.sort_by(|a, b| a.value.cmp(&b.value));
        let after = after.unwrap_or("");
        Ok(Some(all.into_iter().filter(|m| m.value.as_str() > after).take(limit as usize).collect()))
    }

    async fn update_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        update: &ResourceUpdate<'_>,
        now: OffsetDateTime,
        _audit: &AuditEntry,
    ) -> Result<(i64, OffsetDateTime), DomainError> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        let mut d = self.data();
        let k = (account.as_str().to_string(), kind_name(kind), id.to_string());
        let (_, r) = d
            .resources
            .get_mut(&k)
            .ok_or_else(|| DomainError::NotFound(format!("{} {id} not found", kind.name())))?;
        if update.expected_version.is_some()
            && self.conflicts.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            // Another writer came first.
            r.version += 1;
            return Err(DomainError::VersionMismatch);
        }
        if update.expected_version.is_some_and(|v| v != r.version) {
            return Err(DomainError::VersionMismatch);
        }
        if let Some(doc) = update.doc {
            r.doc = doc.clone();
        }
        let members = r.members.get_or_insert_with(Vec::new);
        for change in update.members {
            match change {
                MemberChange::Add(refs) => {
                    for m in to_members(refs) {
                        if !members.iter().any(|x| x.value == m.value) {
                            members.push(m);
                        }
                    }
                }
                MemberChange::Remove(ids) => members.retain(|m| !ids.contains(&m.value)),
                MemberChange::RemoveAll => members.clear(),
                MemberChange::Replace(refs) => *members = to_members(refs),
            }
        }
        if kind == ResourceKind::User {
            r.members = None;
        }
        r.version += 1;
        r.last_modified = now;
        Ok((r.version, now))
    }

    async fn delete_resource(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        id: &str,
        expected_version: Option<i64>,
        _audit: &AuditEntry,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        let a = account.as_str().to_string();
        let k = (a.clone(), kind_name(kind), id.to_string());
        let (_, r) = d
            .resources
            .get(&k)
            .ok_or_else(|| DomainError::NotFound(format!("{} {id} not found", kind.name())))?;
        if expected_version.is_some_and(|v| v != r.version) {
            return Err(DomainError::VersionMismatch);
        }
        d.resources.remove(&k);
        for ((acc, _, _), (_, g)) in d.resources.iter_mut() {
            if *acc == a
                && let Some(m) = g.members.as_mut()
            {
                m.retain(|m| m.value != id);
            }
        }
        let pt = if kind == ResourceKind::User { PrincipalType::User } else { PrincipalType::UserGroup };
        d.assignments.retain(|(acc, _), role_assignment| {
            !(*acc == a && role_assignment.principal_type == pt && role_assignment.principal_identifier == id)
        });
        if kind == ResourceKind::User {
            d.tokens.retain(|_, (acc, t, _, _)| {
                !(acc == account && t.api_key_type == TokenKind::User && t.parent_identifier == id)
            });
            d.api_keys.retain(|(acc, k, p, _), _| !(*acc == a && *k == "pat" && p == id));
        }
        Ok(())
    }

    async fn list_resources(
        &self,
        account: &AccountId,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListPage, DomainError> {
        if query.filter.is_some() || query.sort.is_some() {
            return Err(DomainError::invalid("the test store lists without filters or sorting"));
        }
        let d = self.data();
        let a = account.as_str();
        let mut all: Vec<(i64, StoredResource)> = d
            .resources
            .iter()
            .filter(|((acc, k, _), _)| acc == a && *k == kind_name(kind))
            .map(|(_, v)| v.clone())
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        let total = all.len() as u64;
        let (start, count) = match query.page {
            Page::Index { start_index, count } => ((start_index.max(1) - 1) as usize, count as usize),
            Page::Cursor { .. } => return Err(DomainError::invalid("the test store has no cursors")),
        };
        let items = all.into_iter().skip(start).take(count).map(|(_, r)| r).collect();
        Ok(ListPage { total, items, next: None })
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn list_setting_rows(&self, account: &AccountId) -> Result<Vec<SettingRow>, DomainError> {
        Ok(self.data().settings.iter().filter(|(a, _)| a == account).map(|(_, r)| r.clone()).collect())
    }
    async fn put_setting(
        &self,
        account: &AccountId,
        row: &SettingRow,
        clear_children: bool,
        audit: &SettingAudit,
        _secret: bool,
    ) -> Result<(), DomainError> {
        let mut d = self.data();
        if !row.scope.org.is_empty() && !d.orgs.contains_key(&key(account, &row.scope.org)) {
            return Err(not_found("organization", &row.scope.org));
        }
        let same = |r: &SettingRow| r.identifier == row.identifier && r.scope == row.scope;
        let old = d.settings.iter().find(|(a, r)| a == account && same(r)).map(|(_, r)| r.value.clone());
        d.settings.retain(|(a, r)| !(a == account && same(r)));
        if clear_children {
            d.settings.retain(|(a, r)| {
                !(a == account
                    && r.identifier == row.identifier
                    && row.scope.covers(&r.scope)
                    && r.scope != row.scope)
            });
        }
        d.settings.push((account.clone(), row.clone()));
        d.audit.push((account.clone(), SettingAudit { old_value: old, ..audit.clone() }));
        Ok(())
    }
    async fn delete_setting(
        &self,
        account: &AccountId,
        scope: &Scope,
        identifier: &str,
        audit: &SettingAudit,
        _secret: bool,
    ) -> Result<bool, DomainError> {
        let mut d = self.data();
        let old = d
            .settings
            .iter()
            .find(|(a, r)| a == account && r.identifier == identifier && r.scope == *scope)
            .map(|(_, r)| r.value.clone());
        d.settings.retain(|(a, r)| !(a == account && r.identifier == identifier && r.scope == *scope));
        d.audit.push((account.clone(), SettingAudit { old_value: old.clone(), ..audit.clone() }));
        Ok(old.is_some())
    }
    async fn list_setting_audit(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> Result<Paged<SettingAudit>, DomainError> {
        let d = self.data();
        let items = d.audit.iter().rev().filter(|(a, _)| a == account).map(|(_, e)| e.clone()).collect();
        Ok(paged(items, page))
    }
}
