//! Security event tokens (RFC 9967 over RFC 8417; docs/events.md "Security event tokens"):
//! each account's signing key, its published key set, and an event as a signed SET.
//!
//! An account's key is an ES256 (P-256) key made on first use and kept among the database's
//! shared secrets (insert-if-absent, so every node of one database signs with the same key);
//! its `kid` is the key's RFC 7638 thumbprint.

use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use scimgate_domain::events::{Event, EventData, EventType};
use scimgate_domain::store::SecretStore;
use scimgate_domain::{AccountId, DomainError};
use scimgate_scim::schema::ResourceKind;
use scimgate_scim::set::{Change, membership_events, resource_events, sub_id};
use scimgate_scim::stored::{etag, to_representation};

/// The JOSE `typ` of a SET (RFC 8417 §2.3).
pub const TYP: &str = "secevent+jwt";
/// The media type of a pushed SET (RFC 8935 §2).
pub const CONTENT_TYPE: &str = "application/secevent+jwt";

/// One account's signing key.
pub struct AccountKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

/// The accounts' signing keys, loaded once per node.
pub struct SetKeys {
    store: Arc<dyn SecretStore>,
    cache: moka::sync::Cache<AccountId, Arc<AccountKey>>,
}

impl std::fmt::Debug for SetKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKeys").finish_non_exhaustive()
    }
}

fn secret_name(account: &AccountId) -> String {
    format!("set-signing-key/{}", account.as_str())
}

fn load(pem: &[u8]) -> Result<AccountKey, DomainError> {
    let encoding = crate::jwt::tools::load_key(Algorithm::ES256, pem).map_err(DomainError::Internal)?;
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
        .map_err(|e| DomainError::Internal(format!("the event signing key has no public part: {e}")))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| DomainError::Internal(format!("cannot take the key's thumbprint: {e}")))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let jwk = serde_json::to_value(&jwk).map_err(|e| DomainError::Internal(e.to_string()))?;
    Ok(AccountKey { kid, encoding, jwk })
}

impl SetKeys {
    /// Keys kept in `store`'s shared secrets.
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        Self { store, cache: moka::sync::Cache::new(10_000) }
    }

    /// The account's key, made on first use.
    pub async fn key(&self, account: &AccountId) -> Result<Arc<AccountKey>, DomainError> {
        if let Some(k) = self.cache.get(account) {
            return Ok(k);
        }
        let candidate =
            crate::jwt::tools::generate(Algorithm::ES256, "candidate").map_err(DomainError::Internal)?;
        let pem = self.store.shared_secret(&secret_name(account), candidate.private_pem.as_bytes()).await?;
        let key = Arc::new(load(&pem)?);
        self.cache.insert(account.clone(), key.clone());
        Ok(key)
    }

    /// The account's public key set, `{"keys": [...]}`.
    pub async fn jwks(&self, account: &AccountId) -> Result<Value, DomainError> {
        Ok(json!({"keys": [self.key(account).await?.jwk.clone()]}))
    }
}

/// The claims of `event` as a SET from `iss` (the account's SCIM base URL) to `aud`, made at
/// `now`: `jti` is the event id (the same on every delivery), `txn` the request that made the
/// change (else the event id), `toe` when it happened; `sub_id` and `events` per RFC 9967.
pub fn claims(event: &Event, iss: &str, aud: &str, now: OffsetDateTime) -> Map<String, Value> {
    let kind = event.event_type.kind();
    let (subject, events) = match &event.data {
        EventData::Resource(r) => {
            let change = match event.event_type {
                EventType::UserCreated | EventType::GroupCreated => Change::Created,
                EventType::UserDeactivated => Change::Deactivated,
                EventType::UserReactivated => Change::Reactivated,
                EventType::UserDeleted | EventType::GroupDeleted => Change::Deleted,
                _ => Change::Replaced,
            };
            let representation = Value::Object(to_representation(kind, &r.to_stored(), iss));
            let external = r.doc.get("externalId").and_then(Value::as_str);
            (sub_id(kind, &r.id, external), resource_events(change, &representation, &etag(r.version)))
        }
        EventData::Membership(m) => {
            let member_kind = if m.member_type == "Group" { ResourceKind::Group } else { ResourceKind::User };
            let member_ref = format!("{iss}/{}/{}", member_kind.endpoint(), m.member_id);
            let added = event.event_type == EventType::GroupUserAdded;
            (
                sub_id(ResourceKind::Group, &m.group_id, None),
                membership_events(added, &m.member_id, &m.member_type, &member_ref),
            )
        }
    };
    let mut c = Map::new();
    c.insert("iss".into(), json!(iss));
    c.insert("aud".into(), json!(aud));
    c.insert("iat".into(), json!(now.unix_timestamp()));
    c.insert("jti".into(), json!(event.id));
    c.insert("txn".into(), json!(event.request_id.as_deref().unwrap_or(&event.id)));
    c.insert("toe".into(), json!(event.occurred.unix_timestamp()));
    c.insert("sub_id".into(), subject);
    c.insert("events".into(), events);
    c
}

/// Signs claims as a SET: ES256, `typ` `secevent+jwt`, the key's `kid`.
pub fn sign(key: &AccountKey, claims: &Map<String, Value>) -> Result<String, DomainError> {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(TYP.into());
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding)
        .map_err(|e| DomainError::Internal(format!("signing a security event token failed: {e}")))
}
