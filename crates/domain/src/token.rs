//! API tokens: `<pat|sat>.<accountIdentifier>.<tokenId>.<secret>` (docs/contract.md §3).
//!
//! The secret is 256 random bits; only its SHA-256 is stored. A fast hash is right for a
//! high-entropy random secret (no dictionary to guess from); comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::DomainError;
use crate::ids::AccountId;

/// Who a token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Personal access token of a user (`pat.`).
    User,
    /// Service account token (`sat.`).
    ServiceAccount,
}

impl TokenKind {
    /// The token prefix.
    pub fn prefix(self) -> &'static str {
        match self {
            TokenKind::User => "pat",
            TokenKind::ServiceAccount => "sat",
        }
    }
}

/// A token as presented by a client, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    /// pat or sat.
    pub kind: TokenKind,
    /// The account the token claims.
    pub account: String,
    /// The token's id (its database key).
    pub token_id: String,
    /// The secret part.
    pub secret: String,
}

impl PresentedToken {
    /// Splits a token string; `None` when it does not have the token shape.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split('.');
        let kind = match parts.next()? {
            "pat" => TokenKind::User,
            "sat" => TokenKind::ServiceAccount,
            _ => return None,
        };
        let account = parts.next()?;
        let token_id = parts.next()?;
        let secret = parts.next()?;
        if parts.next().is_some() || account.is_empty() || token_id.is_empty() || secret.is_empty() {
            return None;
        }
        if s.len() > 512 {
            return None;
        }
        Some(Self { kind, account: account.into(), token_id: token_id.into(), secret: secret.into() })
    }
}

/// A token just made: the full string (shown once) and what is stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token id.
    pub token_id: String,
    /// The full token, to show once.
    pub token: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
}

/// Makes a new token for an account.
pub fn generate(kind: TokenKind, account: &AccountId) -> Result<NewToken, DomainError> {
    let mut id = [0u8; 12];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(|e| DomainError::Internal(format!("getrandom: {e}")))?;
    getrandom::fill(&mut secret).map_err(|e| DomainError::Internal(format!("getrandom: {e}")))?;
    // Token ids and secrets are base64url without padding: no '.', safe in headers and URLs.
    let token_id = URL_SAFE_NO_PAD.encode(id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let token = format!("{}.{}.{}.{}", kind.prefix(), account, token_id, secret);
    Ok(NewToken { secret_hash: hash_secret(&secret), token_id, token })
}

/// SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A stored token record.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// Token id.
    pub token_id: String,
    /// Owning account.
    pub account: AccountId,
    /// pat or sat.
    pub kind: TokenKind,
    /// The user or service account id the token acts for.
    pub principal_id: String,
    /// SHA-256 of the secret.
    pub secret_hash: Vec<u8>,
    /// Not valid before.
    pub valid_from: Option<OffsetDateTime>,
    /// Expiry, if any.
    pub valid_to: Option<OffsetDateTime>,
    /// After a rotation with a grace period: the previous secret's hash…
    pub previous_secret_hash: Option<Vec<u8>>,
    /// …and until when it still works.
    pub previous_valid_to: Option<OffsetDateTime>,
}

impl StoredToken {
    /// Checks a presented token against this record: account, kind, secret (constant time)
    /// and expiry.
    pub fn verify(&self, presented: &PresentedToken, now: OffsetDateTime) -> Result<(), DomainError> {
        let hash = hash_secret(&presented.secret);
        let current: bool = hash.ct_eq(&self.secret_hash).into();
        // A rotated-out secret keeps working until the rotation's grace period ends.
        let previous = match (&self.previous_secret_hash, self.previous_valid_to) {
            (Some(old), Some(until)) if now < until => bool::from(hash.ct_eq(old)),
            _ => false,
        };
        if !(current || previous) || self.account.as_str() != presented.account || self.kind != presented.kind
        {
            return Err(DomainError::Unauthenticated("invalid token"));
        }
        if self.valid_to.is_some_and(|t| t <= now) {
            return Err(DomainError::Unauthenticated("token expired"));
        }
        if self.valid_from.is_some_and(|t| t > now) {
            return Err(DomainError::Unauthenticated("token not yet valid"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_parse_verify() {
        let acct = AccountId::parse("acme").expect("valid");
        let t = generate(TokenKind::User, &acct).expect("random");
        assert!(t.token.starts_with("pat.acme."));
        let p = PresentedToken::parse(&t.token).expect("parses");
        assert_eq!(p.token_id, t.token_id);
        let stored = StoredToken {
            token_id: t.token_id.clone(),
            account: acct,
            kind: TokenKind::User,
            principal_id: "u".into(),
            secret_hash: t.secret_hash.clone(),
            valid_from: None,
            valid_to: None,
            previous_secret_hash: None,
            previous_valid_to: None,
        };
        let now = OffsetDateTime::UNIX_EPOCH;
        assert!(stored.verify(&p, now).is_ok());
        let mut bad = p.clone();
        bad.secret.push('x');
        assert!(stored.verify(&bad, now).is_err());
        assert!(PresentedToken::parse("pat.a.b").is_none());
        assert!(PresentedToken::parse("xyz.a.b.c").is_none());
        assert!(PresentedToken::parse("pat.a.b.c.d").is_none());
    }
}
