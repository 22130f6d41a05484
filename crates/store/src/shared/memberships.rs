//! SCIM group memberships (their own table, `scim_group_members`): the members of a group, the
//! groups of users, and the membership changes of a create or PATCH. Loaded once per backend
//! (see the crate documentation).

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Row, Transaction};

use scimgate_domain::events::{Membership, NewEvent};
use scimgate_domain::store::{GroupRef, Member, StoredResource};
use scimgate_domain::{AccountId, DomainError};
use scimgate_scim::ScimError;
use scimgate_scim::patch::{MemberChange, MemberRef};
use scimgate_scim::schema::ResourceKind;

use super::common::bind_all;
use super::{Db, DbRow, Store};
use crate::DbResultExt;
use crate::query::{Param, SqlBuf};

fn row_to_member(r: &DbRow) -> Result<Member, DomainError> {
    let t: String = r.try_get("member_type").db()?;
    Ok(Member {
        value: r.try_get("member_id").db()?,
        member_type: if t == "Group" { ResourceKind::Group } else { ResourceKind::User },
        display: r.try_get("display").db()?,
    })
}

impl Store {
    /// The members of a group, by member id.
    pub(super) async fn members_of(&self, group_id: &str) -> Result<Vec<Member>, DomainError> {
        let rows = sqlx::query(
            "SELECT member_id, member_type, display FROM scim_group_members WHERE group_id = $1 \
             ORDER BY member_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .db()?;
        rows.iter().map(row_to_member).collect()
    }

    /// A page of a group's members by member id (the primary key's order), checked against
    /// the group's version after it is read: every membership change raises the version in
    /// its own transaction, so the same version before and after the page means the page
    /// belongs to it (see `ScimStore::group_members_page`).
    pub(super) async fn members_page(
        &self,
        account: &AccountId,
        group_id: &str,
        version: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<Member>>, DomainError> {
        let rows = sqlx::query(
            "SELECT member_id, member_type, display FROM scim_group_members WHERE group_id = $1 \
             AND member_id > $2 ORDER BY member_id LIMIT $3",
        )
        .bind(group_id)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .db()?;
        let now: Option<i64> =
            sqlx::query_scalar("SELECT version FROM scim_groups WHERE account_id = $1 AND id = $2")
                .bind(account.as_str())
                .bind(group_id)
                .fetch_optional(&self.pool)
                .await
                .db()?;
        if now != Some(version) {
            return Ok(None);
        }
        rows.iter().map(row_to_member).collect::<Result<Vec<_>, _>>().map(Some)
    }

    /// The groups each of `user_ids` is a direct member of: (user id, group), by user id.
    async fn groups_of(&self, user_ids: &[String]) -> Result<Vec<(String, GroupRef)>, DomainError> {
        if user_ids.is_empty() {
            return Ok(vec![]);
        }
        let mut sql = SqlBuf::default();
        sql.push(
            "SELECT gm.member_id, g.id, g.display_name FROM scim_group_members gm \
             JOIN scim_groups g ON g.id = gm.group_id WHERE gm.member_id IN (",
        );
        for (i, id) in user_ids.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Param::Text(id.clone()));
        }
        sql.push(") ORDER BY gm.member_id, gm.group_id");
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.sql)), &sql.params)
            .fetch_all(&self.pool)
            .await
            .db()?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("member_id").db()?,
                    GroupRef { value: r.try_get("id").db()?, display: r.try_get("display_name").db()? },
                ))
            })
            .collect()
    }

    /// Loads the members of groups, or the groups of users, into `items`.
    pub(super) async fn attach_related(
        &self,
        kind: ResourceKind,
        items: &mut [StoredResource],
    ) -> Result<(), DomainError> {
        match kind {
            ResourceKind::Group => {
                for g in items.iter_mut() {
                    g.members = Some(self.members_of(&g.id).await?);
                }
            }
            ResourceKind::User => {
                let ids: Vec<String> = items.iter().map(|u| u.id.clone()).collect();
                let pairs = self.groups_of(&ids).await?;
                for u in items.iter_mut() {
                    u.groups =
                        Some(pairs.iter().filter(|(uid, _)| *uid == u.id).map(|(_, g)| g.clone()).collect());
                }
            }
        }
        Ok(())
    }
}

/// What a write did to a group's membership, member by member: the ids that were not members
/// before and are now, and the reverse, in the order they were first touched. A member removed
/// and added back in the same write (a replace that keeps it) is in neither.
#[derive(Debug, Default)]
pub(super) struct MemberDelta {
    /// Member id → (was a member before the write, is one after, its type).
    state: HashMap<String, (bool, bool, String)>,
    order: Vec<String>,
}

impl MemberDelta {
    fn touch(&mut self, id: &str, before: bool, after: bool, member_type: &str) {
        match self.state.get_mut(id) {
            Some(s) => {
                s.1 = after;
                if !member_type.is_empty() {
                    s.2 = member_type.to_string();
                }
            }
            None => {
                self.state.insert(id.to_string(), (before, after, member_type.to_string()));
                self.order.push(id.to_string());
            }
        }
    }
    fn pick(&self, want: (bool, bool)) -> impl Iterator<Item = (&String, &str)> {
        self.order.iter().filter_map(move |id| match self.state.get(id) {
            Some((b, a, t)) if (*b, *a) == want => Some((id, t.as_str())),
            _ => None,
        })
    }
    /// The ids added and the ids removed.
    pub(super) fn added_removed(&self) -> (Vec<String>, Vec<String>) {
        (
            self.pick((false, true)).map(|(id, _)| id.clone()).collect(),
            self.pick((true, false)).map(|(id, _)| id.clone()).collect(),
        )
    }
    /// One `group.user_added` per member added and one `group.user_removed` per member
    /// removed (docs/events.md), in the order the write touched them: removals first.
    pub(super) fn events(&self, group_id: &str) -> Vec<NewEvent> {
        let event = |added: bool, (id, t): (&String, &str)| {
            NewEvent::membership(
                added,
                Membership {
                    group_id: group_id.to_string(),
                    member_id: id.clone(),
                    member_type: t.to_string(),
                },
            )
        };
        let removed = self.pick((true, false)).map(|m| event(false, m));
        removed.chain(self.pick((false, true)).map(|m| event(true, m))).collect()
    }
}

/// Removes every member of `group_id`, recording each in `delta`.
async fn remove_all(
    tx: &mut Transaction<'static, Db>,
    group_id: &str,
    delta: &mut MemberDelta,
) -> Result<(), DomainError> {
    let gone: Vec<(String, String)> =
        sqlx::query_as("DELETE FROM scim_group_members WHERE group_id = $1 RETURNING member_id, member_type")
            .bind(group_id)
            .fetch_all(&mut **tx)
            .await
            .db()?;
    for (id, t) in gone {
        delta.touch(&id, true, false, &t);
    }
    Ok(())
}

/// Applies the membership changes of a PATCH to group `group_id`, in order, and records in
/// `delta` which members each one really added or removed.
pub(super) async fn apply_member_changes(
    tx: &mut Transaction<'static, Db>,
    account: &AccountId,
    group_id: &str,
    changes: &[MemberChange],
    delta: &mut MemberDelta,
) -> Result<(), DomainError> {
    for change in changes {
        match change {
            MemberChange::RemoveAll => remove_all(tx, group_id, delta).await?,
            MemberChange::Remove(ids) => {
                for id in ids {
                    let gone: Option<String> = sqlx::query_scalar(
                        "DELETE FROM scim_group_members WHERE group_id = $1 AND member_id = $2 RETURNING member_type",
                    )
                    .bind(group_id)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await
                    .db()?;
                    delta.touch(id, gone.is_some(), false, gone.as_deref().unwrap_or_default());
                }
            }
            MemberChange::Add(refs) => add_members(tx, account, group_id, refs, delta).await?,
            MemberChange::Replace(refs) => {
                remove_all(tx, group_id, delta).await?;
                add_members(tx, account, group_id, refs, delta).await?;
            }
        }
    }
    Ok(())
}

/// How many members one statement of [`add_members`] looks up or inserts.
const MEMBER_CHUNK: usize = 400;

/// Adds (or updates the `display` of) members of group `group_id`: each must be a User or
/// Group of the account, not the group itself, and of the type given, if any; the first
/// member (in the request's order) that is not is the error. Members are looked up and
/// inserted [`MEMBER_CHUNK`] at a time (one statement each, not two per member: a PATCH that
/// replaced 100,000 members took 200,000 statements).
pub(super) async fn add_members(
    tx: &mut Transaction<'static, Db>,
    account: &AccountId,
    group_id: &str,
    refs: &[MemberRef],
    delta: &mut MemberDelta,
) -> Result<(), DomainError> {
    let mut types: HashMap<String, &'static str> = HashMap::with_capacity(refs.len());
    for chunk in refs.chunks(MEMBER_CHUNK) {
        // By id alone (ids are unique across accounts; the account is checked below): with
        // `account_id = ?` too, SQLite chose the (account_id, seq) index and read every row
        // of the account for each chunk.
        let mut q = QueryBuilder::<Db>::new("SELECT id, account_id, 'User' FROM scim_users WHERE id IN (");
        let mut ids = q.separated(", ");
        for m in chunk {
            ids.push_bind(m.value.as_str());
        }
        q.push(") UNION ALL SELECT id, account_id, 'Group' FROM scim_groups WHERE id IN (");
        let mut ids = q.separated(", ");
        for m in chunk {
            ids.push_bind(m.value.as_str());
        }
        q.push(")");
        let found: Vec<(String, String, String)> = q.build_query_as().fetch_all(&mut **tx).await.db()?;
        for (id, owner, kind) in found {
            if owner == account.as_str() {
                types.insert(id, if kind == "Group" { "Group" } else { "User" });
            }
        }
    }
    for m in refs {
        if m.value == group_id {
            return Err(ScimError::invalid_value("a group cannot be a member of itself").into());
        }
        let Some(member_type) = types.get(&m.value) else {
            return Err(ScimError::invalid_value(format!(
                "member '{}' is not the id of a User or Group in this account",
                m.value
            ))
            .into());
        };
        if let Some(t) = &m.member_type
            && !t.eq_ignore_ascii_case(member_type)
        {
            return Err(ScimError::invalid_value(format!(
                "member '{}' is a {member_type}, not a {t}",
                m.value
            ))
            .into());
        }
    }
    let mut inserted: HashSet<String> = HashSet::with_capacity(refs.len());
    for chunk in refs.chunks(MEMBER_CHUNK) {
        let mut q = QueryBuilder::<Db>::new(
            "INSERT INTO scim_group_members (group_id, member_id, member_type, display) ",
        );
        q.push_values(chunk, |mut b, m| {
            b.push_bind(group_id)
                .push_bind(m.value.as_str())
                .push_bind(types.get(&m.value).copied().unwrap_or("User"))
                .push_bind(m.display.as_deref());
        });
        q.push(" ON CONFLICT (group_id, member_id) DO NOTHING RETURNING member_id");
        let ids: Vec<String> = q.build_query_scalar().fetch_all(&mut **tx).await.db()?;
        inserted.extend(ids);
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(refs.len());
    for m in refs {
        // Only a member's first mention can have been inserted; a later one with a display
        // updates it, as a member that was already there.
        let new = seen.insert(m.value.as_str()) && inserted.contains(&m.value);
        if !new && m.display.is_some() {
            sqlx::query("UPDATE scim_group_members SET display = $1 WHERE group_id = $2 AND member_id = $3")
                .bind(&m.display)
                .bind(group_id)
                .bind(&m.value)
                .execute(&mut **tx)
                .await
                .db()?;
        }
        delta.touch(&m.value, !new, true, types.get(&m.value).copied().unwrap_or("User"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::scim::*;
    use super::*;
    use scimgate_domain::store::{ListQuery, Page, ResourceUpdate, ScimStore};

    /// Pages of members follow member ids from `after`, and a page is refused (`None`) once
    /// the group is at another version or gone: what a streamed `GET /Groups/{id}` relies on.
    #[tokio::test]
    async fn member_pages_follow_ids_and_stop_at_another_version() {
        let Some((store, account)) = setup().await else { return };
        let (user_kind, group_kind) = (ResourceKind::User, ResourceKind::Group);
        for i in 1..=5 {
            store
                .create_resource(&account, user_kind, &format!("u{i}"), &user(i), &[], t(i), &test_audit())
                .await
                .expect("user");
        }
        let members: Vec<MemberRef> =
            [4, 1, 5, 3, 2].iter().map(|i| member(&format!("u{i}"), None, None)).collect();
        let g = store
            .create_resource(&account, group_kind, "g", &group("Paged"), &members, t(6), &test_audit())
            .await
            .expect("group");
        let values = |page: Option<Vec<Member>>| -> Option<Vec<String>> {
            page.map(|p| p.into_iter().map(|m| m.value).collect())
        };
        let page = |after: Option<&'static str>, version: i64| {
            let store = &store;
            let account = &account;
            async move { store.group_members_page(account, "g", version, after, 2).await.expect("page") }
        };
        assert_eq!(values(page(None, g.version).await), Some(vec!["u1".into(), "u2".into()]));
        assert_eq!(values(page(Some("u2"), g.version).await), Some(vec!["u3".into(), "u4".into()]));
        assert_eq!(values(page(Some("u4"), g.version).await), Some(vec!["u5".into()]));
        assert_eq!(values(page(Some("u5"), g.version).await), Some(vec![]));
        assert_eq!(page(None, g.version + 1).await, None, "not the version asked for");
        let other = AccountId::parse("other").expect("id");
        assert_eq!(
            store.group_members_page(&other, "g", g.version, None, 2).await.expect("page"),
            None,
            "another account's group"
        );
        let remove = [MemberChange::Remove(vec!["u3".into()])];
        let update = ResourceUpdate {
            doc: None,
            expected_version: None,
            members: &remove,
            event: None,
            created: None,
        };
        store.update_resource(&account, group_kind, "g", &update, t(7), &test_audit()).await.expect("patch");
        assert_eq!(page(Some("u2"), g.version).await, None, "a membership change raises the version");
        assert_eq!(values(page(Some("u2"), g.version + 1).await), Some(vec!["u4".into(), "u5".into()]));
        store.delete_resource(&account, group_kind, "g", None, &test_audit()).await.expect("delete");
        assert_eq!(page(None, g.version + 1).await, None, "a deleted group");
    }

    #[tokio::test]
    async fn group_members_and_user_groups() {
        let Some((store, account)) = setup().await else { return };
        let (user_kind, group_kind) = (ResourceKind::User, ResourceKind::Group);
        for i in [1, 2] {
            store
                .create_resource(&account, user_kind, &format!("u{i}"), &user(i), &[], t(i), &test_audit())
                .await
                .expect("user");
        }
        let g1 = store
            .create_resource(
                &account,
                group_kind,
                "g1",
                &group("Group 1"),
                &[member("u1", Some("User"), Some("One"))],
                t(3),
                &test_audit(),
            )
            .await
            .expect("group");
        let one = Member { value: "u1".into(), member_type: ResourceKind::User, display: Some("One".into()) };
        assert_eq!(g1.members, Some(vec![one.clone()]));
        store
            .create_resource(
                &account,
                group_kind,
                "g2",
                &group("Group 2"),
                &[member("g1", None, None)],
                t(4),
                &test_audit(),
            )
            .await
            .expect("nested group");
        let g2 = store.get_resource(&account, group_kind, "g2", true).await.expect("get");
        assert_eq!(
            g2.members,
            Some(vec![Member { value: "g1".into(), member_type: ResourceKind::Group, display: None }])
        );

        let detail = invalid_detail(
            store
                .create_resource(
                    &account,
                    group_kind,
                    "g3",
                    &group("G3"),
                    &[member("nope", None, None)],
                    t(5),
                    &test_audit(),
                )
                .await,
        );
        assert_eq!(detail, "member 'nope' is not the id of a User or Group in this account");
        assert!(matches!(
            store.get_resource(&account, group_kind, "g3", false).await,
            Err(DomainError::NotFound(_))
        ));
        let self_add = [MemberChange::Add(vec![member("g1", None, None)])];
        let update = ResourceUpdate {
            doc: None,
            expected_version: None,
            members: &self_add,
            event: None,
            created: None,
        };
        let detail = invalid_detail(
            store.update_resource(&account, group_kind, "g1", &update, t(5), &test_audit()).await,
        );
        assert_eq!(detail, "a group cannot be a member of itself");
        let wrong_type = [MemberChange::Add(vec![member("u2", Some("Group"), None)])];
        let update = ResourceUpdate {
            doc: None,
            expected_version: None,
            members: &wrong_type,
            event: None,
            created: None,
        };
        let detail = invalid_detail(
            store.update_resource(&account, group_kind, "g1", &update, t(5), &test_audit()).await,
        );
        assert_eq!(detail, "member 'u2' is a User, not a Group");

        let changes = [
            MemberChange::Add(vec![member("u2", None, Some("Two"))]),
            MemberChange::Remove(vec!["u1".into(), "absent".into()]),
            // Again, without display: the one stored stays.
            MemberChange::Add(vec![member("u2", Some("user"), None)]),
        ];
        let update = ResourceUpdate {
            doc: None,
            expected_version: Some(1),
            members: &changes,
            event: None,
            created: None,
        };
        assert_eq!(
            store
                .update_resource(&account, group_kind, "g1", &update, t(6), &test_audit())
                .await
                .expect("patch"),
            (2, t(6))
        );
        let two = Member { value: "u2".into(), member_type: ResourceKind::User, display: Some("Two".into()) };
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        assert_eq!(g1.members, Some(vec![two.clone()]));
        assert_eq!(g1.version, 2);

        let u2 = store.get_resource(&account, user_kind, "u2", true).await.expect("get");
        assert_eq!(u2.groups, Some(vec![GroupRef { value: "g1".into(), display: Some("Group 1".into()) }]));
        let all = ListQuery {
            filter: None,
            sort: None,
            page: Page::Index { start_index: 1, count: 10 },
            include_related: true,
            count_total: true,
        };
        let page = store.list_resources(&account, user_kind, &all).await.expect("list");
        let groups: Vec<usize> = page.items.iter().map(|u| u.groups.as_ref().map_or(99, Vec::len)).collect();
        assert_eq!((ids(&page), groups), (vec![ADMIN, "u1", "u2"], vec![0, 0, 1]));

        let replace =
            [MemberChange::Replace(vec![member("u1", None, Some("One")), member("u2", None, None)])];
        let update = ResourceUpdate {
            doc: None,
            expected_version: None,
            members: &replace,
            event: None,
            created: None,
        };
        store
            .update_resource(&account, group_kind, "g1", &update, t(7), &test_audit())
            .await
            .expect("replace");
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        let two_bare = Member { display: None, ..two };
        assert_eq!(g1.members, Some(vec![one.clone(), two_bare]));

        // Deleting a user removes its memberships.
        store.delete_resource(&account, user_kind, "u2", None, &test_audit()).await.expect("delete");
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        assert_eq!(g1.members, Some(vec![one]));
        let clear = [MemberChange::RemoveAll];
        let update = ResourceUpdate {
            doc: Some(&group("Renamed")),
            expected_version: None,
            members: &clear,
            event: None,
            created: None,
        };
        store.update_resource(&account, group_kind, "g1", &update, t(8), &test_audit()).await.expect("clear");
        let g1 = store.get_resource(&account, group_kind, "g1", true).await.expect("get");
        assert_eq!((g1.members, g1.doc), (Some(vec![]), group("Renamed")));
        // Deleting a group removes it from the groups it was a member of.
        store.delete_resource(&account, group_kind, "g1", None, &test_audit()).await.expect("delete");
        let g2 = store.get_resource(&account, group_kind, "g2", true).await.expect("get");
        assert_eq!(g2.members, Some(vec![]));
    }
}
