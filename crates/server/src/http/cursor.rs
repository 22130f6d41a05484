//! Sealed SCIM cursors (RFC 9865; security review item 10 in SECURITY.md).
//!
//! The list code speaks in plain positions ([`scimgate_scim::list::encode_cursor`]: a row's
//! sequence number or an offset). What goes over the wire is that position encrypted and
//! authenticated (AES-256-GCM, a random nonce per cursor) with the query it belongs to as the
//! associated data: the account, the endpoint, the filter and the sort. So a cursor reveals
//! nothing (the sequence numbers are shared by every account), and one that was altered,
//! forged, or taken from another account or another query is 400 `invalidCursor`.
//!
//! The key is shared by every node on one database (the store keeps it, see
//! [`scimgate_domain::store::SecretStore`]), so a cursor issued by one node works on another,
//! and across restarts.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scimgate_domain::DomainError;
use scimgate_domain::store::SecretStore;
use scimgate_scim::{ScimError, ScimType};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

/// The name of the cursor key in the store.
pub const CURSOR_KEY_NAME: &str = "scim_cursor_key_v1";

/// What a cursor is bound to.
#[derive(Debug, Clone, Copy)]
pub struct CursorScope<'a> {
    /// The account in the path.
    pub account: &'a str,
    /// The endpoint: `Users`, `Groups` or `.search`.
    pub endpoint: &'a str,
    /// The filter as sent (trimmed).
    pub filter: Option<&'a str>,
    /// `sortBy` and `sortOrder` as sent.
    pub sort_by: Option<&'a str>,
    /// `sortOrder`.
    pub sort_order: Option<&'a str>,
}

impl CursorScope<'_> {
    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [Some(self.account), Some(self.endpoint), self.filter, self.sort_by, self.sort_order] {
            match part.map(str::trim) {
                Some(p) => {
                    h.update([1]);
                    h.update((p.len() as u64).to_be_bytes());
                    h.update(p.as_bytes());
                }
                None => h.update([0]),
            }
        }
        h.finalize().into()
    }
}

/// Seals and opens cursors with the deployment's key.
pub struct CursorSeal {
    key: LessSafeKey,
}

impl std::fmt::Debug for CursorSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorSeal").finish_non_exhaustive()
    }
}

fn invalid(sealed: &str) -> ScimError {
    let shown: String = sealed.chars().take(64).collect();
    ScimError::bad_request(
        ScimType::InvalidCursor,
        format!(
            "cursor '{shown}' was not issued by this server for this query (same filter and sort); start \
             again without a cursor"
        ),
    )
}

impl CursorSeal {
    /// A seal with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Result<Self, String> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| "cannot make the cursor key".to_string())?;
        Ok(Self { key: LessSafeKey::new(key) })
    }

    /// The wire form of a plain cursor.
    pub fn seal(&self, scope: &CursorScope<'_>, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        if getrandom::fill(&mut nonce).is_err() {
            // No randomness: a cursor cannot be issued safely; the client starts over.
            return String::new();
        }
        let mut data = plain.as_bytes().to_vec();
        let aad = scope.digest();
        if self
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(&aad), &mut data)
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The plain cursor inside a wire cursor; an empty one stays empty (the first page).
    pub fn open(&self, scope: &CursorScope<'_>, sealed: &str) -> Result<String, ScimError> {
        let sealed = sealed.trim();
        if sealed.is_empty() {
            return Ok(String::new());
        }
        if sealed.len() > 256 {
            return Err(invalid(sealed));
        }
        let raw = URL_SAFE_NO_PAD.decode(sealed).map_err(|_| invalid(sealed))?;
        if raw.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(invalid(sealed));
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| invalid(sealed))?;
        let mut data = rest.to_vec();
        let aad = scope.digest();
        let plain = self.key.open_in_place(nonce, Aad::from(&aad), &mut data).map_err(|_| invalid(sealed))?;
        String::from_utf8(plain.to_vec()).map_err(|_| invalid(sealed))
    }
}

/// The node's cursor seal, made on first use from the key the store keeps (created by the
/// first node that needs one).
pub struct Cursors {
    store: Arc<dyn SecretStore>,
    seal: OnceCell<CursorSeal>,
}

impl std::fmt::Debug for Cursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursors").finish_non_exhaustive()
    }
}

impl Cursors {
    /// Cursors over a store's shared secrets.
    pub fn new(store: Arc<dyn SecretStore>) -> Self {
        Self { store, seal: OnceCell::new() }
    }

    /// The seal (reads or creates the key on first use).
    pub async fn seal(&self) -> Result<&CursorSeal, DomainError> {
        self.seal
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                getrandom::fill(&mut candidate)
                    .map_err(|e| DomainError::Internal(format!("no randomness for the cursor key: {e}")))?;
                let stored = self.store.shared_secret(CURSOR_KEY_NAME, &candidate).await?;
                let key: [u8; 32] = stored
                    .try_into()
                    .map_err(|_| DomainError::Internal("the stored cursor key is not 32 bytes".into()))?;
                CursorSeal::new(&key).map_err(DomainError::Internal)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope<'a>(account: &'a str, filter: Option<&'a str>) -> CursorScope<'a> {
        CursorScope { account, endpoint: "Users", filter, sort_by: None, sort_order: None }
    }

    #[test]
    fn sealed_cursors_open_only_for_their_query() {
        let seal = CursorSeal::new(&[7; 32]).expect("key");
        let plain = scimgate_scim::list::encode_cursor(scimgate_scim::list::CursorPosition::AfterSeq(12345));
        let a = scope("acme", Some("active eq true"));
        let sealed = seal.seal(&a, &plain);
        assert!(!sealed.contains(&plain), "opaque");
        assert_ne!(seal.seal(&a, &plain), sealed, "a fresh nonce each time");
        assert_eq!(seal.open(&a, &sealed).expect("opens"), plain);
        assert_eq!(seal.open(&a, "  ").expect("empty"), "");
        for (what, s) in [
            ("another account", scope("globex", Some("active eq true"))),
            ("another filter", scope("acme", Some("active eq false"))),
            ("no filter", scope("acme", None)),
        ] {
            assert!(seal.open(&s, &sealed).is_err(), "{what}");
        }
        let other_key = CursorSeal::new(&[8; 32]).expect("key");
        assert!(other_key.open(&a, &sealed).is_err(), "another deployment");
        // Tampering anywhere, plain positions and junk: invalidCursor, never a panic.
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).expect("b64");
        for i in 0..bytes.len() {
            bytes[i] ^= 1;
            assert!(seal.open(&a, &URL_SAFE_NO_PAD.encode(&bytes)).is_err(), "byte {i}");
            bytes[i] ^= 1;
        }
        for junk in [plain.as_str(), "bzE4NDQ2NzQ0MDczNzA5NTUxNjE1", "é€", "%%%", &"A".repeat(300)] {
            let e = seal.open(&a, junk).expect_err(junk);
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor));
        }
    }
}
