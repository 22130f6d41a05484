//! `ChangeStore`: the change log other nodes poll for cache invalidations. Loaded once per
//! backend (see the crate documentation).

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

use scimgate_domain::store::{Change, ChangeKind, ChangeStore};
use scimgate_domain::{AccountId, DomainError};

use super::Store;
use super::common::write_tx;
use crate::{DbResultExt, micros};

#[async_trait]
impl ChangeStore for Store {
    async fn publish_changes(
        &self,
        changes: &[(AccountId, ChangeKind)],
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        if changes.is_empty() {
            return Ok(());
        }
        write_tx!(self, |tx| {
            for (account, kind) in changes {
                sqlx::query("INSERT INTO change_log (account_id, kind, at_us) VALUES ($1, $2, $3)")
                    .bind(account.as_str())
                    .bind(kind.as_str())
                    .bind(micros(now))
                    .execute(&mut **tx)
                    .await
                    .db()?;
            }
            if let Some(notify) = crate::dialect::notify_changes(super::DIALECT) {
                sqlx::query(notify).execute(&mut **tx).await.db()?;
            }
            Ok(())
        })
    }

    async fn changes_since(&self, after: i64, limit: i64) -> Result<Vec<Change>, DomainError> {
        let rows =
            sqlx::query("SELECT seq, account_id, kind FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(self.pool())
                .await
                .db()?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let account: String = r.try_get("account_id").db()?;
            let kind: String = r.try_get("kind").db()?;
            let (Ok(account), Some(kind)) = (AccountId::parse(&account), ChangeKind::parse(&kind)) else {
                continue;
            };
            out.push(Change { seq: r.try_get("seq").db()?, account, kind });
        }
        Ok(out)
    }

    async fn latest_change(&self) -> Result<i64, DomainError> {
        sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM change_log").fetch_one(self.pool()).await.db()
    }

    async fn prune_changes(&self, before: OffsetDateTime) -> Result<u64, DomainError> {
        let done = sqlx::query("DELETE FROM change_log WHERE at_us < $1")
            .bind(micros(before))
            .execute(self.pool())
            .await
            .db()?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    #[tokio::test]
    async fn publish_poll_prune() {
        let Some(store) = test_store().await else { return };
        assert_eq!(store.latest_change().await.expect("latest"), 0);
        let a = AccountId::parse("a").expect("id");
        let b = AccountId::parse("b").expect("id");
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(1);
        store
            .publish_changes(&[(a.clone(), ChangeKind::Access), (b.clone(), ChangeKind::Settings)], t0)
            .await
            .expect("publish");
        let all = store.changes_since(0, 10).await.expect("since");
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].account.as_str(), all[0].kind), ("a", ChangeKind::Access));
        let after_first = store.changes_since(all[0].seq, 10).await.expect("since");
        assert_eq!(after_first.len(), 1);
        assert_eq!(after_first[0].kind, ChangeKind::Settings);
        assert_eq!(store.changes_since(all[1].seq, 10).await.expect("since"), vec![]);
        assert_eq!(store.latest_change().await.expect("latest"), all[1].seq);
        assert_eq!(store.prune_changes(t0 + time::Duration::seconds(1)).await.expect("prune"), 2);
        assert_eq!(store.changes_since(0, 10).await.expect("since"), vec![]);
    }
}
