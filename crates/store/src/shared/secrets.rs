//! `SecretStore`: secrets shared by the nodes of one database (the SCIM cursor key). Loaded
//! once per backend (see the crate documentation).

use async_trait::async_trait;
use sqlx::Row;

use scimgate_domain::DomainError;
use scimgate_domain::store::SecretStore;

use super::Store;
use crate::DbResultExt;

#[async_trait]
impl SecretStore for Store {
    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, DomainError> {
        // Insert-if-absent, then read: when several nodes start at once, one insert wins and
        // all of them read the winner.
        sqlx::query(
            "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .execute(self.pool())
        .await
        .db()?;
        let row = sqlx::query("SELECT secret FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await
            .db()?;
        row.try_get::<Vec<u8>, _>("secret").db()
    }
}
