//! Validation of Gateway-issued access tokens. The control plane never
//! mints tokens: it checks them with the Gateway's signing configuration.
//!
//! Rules: algorithms come from config only; `alg: none` and unknown
//! algorithms are refused; a token's algorithm must match the family of the
//! key that verifies it (no HS256 with an RSA public key); keys are chosen
//! by `kid` from the configured key set, never from `jku`/`x5u` (a token
//! that names either is refused); `exp`, `iss`, `aud`, `sub` and
//! `session_id` are required; a small leeway applies to time claims; an
//! oversized token is refused before parsing. As RFC 7515/8725 ask, a token
//! is also refused whatever its signature when its header has `crit` (no
//! extension is understood), a `typ` other than JWT or at+jwt, or `cty`
//! (nested tokens are not accepted), or when `iat` is in the future beyond
//! the leeway.

use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token too large")]
    TooLarge,
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    #[error("token names a key location (jku/x5u); refused")]
    UntrustedKeyLocation,
    #[error("token has critical header extensions; refused")]
    CriticalHeader,
    #[error("token type not allowed")]
    TypeNotAllowed,
    #[error("nested token (cty); refused")]
    NestedToken,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("missing claim {0}")]
    MissingClaim(String),
}

/// Who is calling: the Gateway user and the session the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub sub: String,
    pub session_id: String,
}

#[derive(Clone)]
pub struct TokenConfig {
    pub issuer: String,
    pub audience: String,
    pub algorithms: Vec<Algorithm>,
    /// HS256 shared secret, when HS256 is allowed.
    pub hs256_secret: Option<Vec<u8>>,
    pub leeway_secs: u64,
    pub max_len: usize,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("algorithms", &self.algorithms)
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("leeway_secs", &self.leeway_secs)
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// Public keys by `kid`, each bound to the one algorithm it verifies.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl KeySet {
    /// From a JWKS document; keys without `kid` or `alg`, or of a type that
    /// does not parse, are skipped (and counted in the error when none is left).
    pub fn from_jwks(json: &str) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| format!("JWKS does not parse: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), jwk.common.key_algorithm)
            else {
                continue;
            };
            let Ok(alg) = alg.to_string().parse::<Algorithm>() else {
                continue;
            };
            if let Ok(k) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (alg, k));
            }
        }
        if keys.is_empty() && !set.keys.is_empty() {
            return Err("no usable key in the JWKS (each needs kid and alg)".into());
        }
        Ok(Self { keys })
    }

    pub fn insert(&mut self, kid: impl Into<String>, alg: Algorithm, key: DecodingKey) {
        self.keys.insert(kid.into(), (alg, key));
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    session_id: Option<String>,
    exp: Option<u64>,
    iat: Option<u64>,
}

/// The `typ` values of an access token (RFC 7519 §5.1, RFC 9068 §2.1),
/// compared case-insensitively; `application/` may be left out (RFC 7515
/// §4.1.9).
const ALLOWED_TYPES: [&str; 2] = ["jwt", "at+jwt"];

/// Header checks on the JSON itself rather than on jsonwebtoken's `Header`,
/// so that a member's presence counts even with a `null` value.
fn check_header(token: &str) -> Result<(), TokenError> {
    let first = token.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .map_err(|_| TokenError::Malformed)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    if header.contains_key("crit") {
        return Err(TokenError::CriticalHeader);
    }
    if header.contains_key("cty") {
        return Err(TokenError::NestedToken);
    }
    match header.get("typ") {
        None => Ok(()),
        Some(serde_json::Value::String(t)) => {
            let t = t.to_ascii_lowercase();
            let t = t.strip_prefix("application/").unwrap_or(&t);
            if ALLOWED_TYPES.contains(&t) {
                Ok(())
            } else {
                Err(TokenError::TypeNotAllowed)
            }
        }
        Some(_) => Err(TokenError::TypeNotAllowed),
    }
}

/// A token that passed every check, and when it stops being valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub principal: Principal,
    /// `exp`, seconds since the Unix epoch.
    pub expires_at: u64,
}

pub struct TokenValidator {
    cfg: TokenConfig,
    keys: RwLock<KeySet>,
}

impl TokenValidator {
    pub fn new(cfg: TokenConfig, keys: KeySet) -> Self {
        Self {
            cfg,
            keys: RwLock::new(keys),
        }
    }

    /// Replaces the key set (JWKS refresh, key rotation).
    pub fn set_keys(&self, keys: KeySet) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }

    pub fn validate(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify(token).map(|v| v.principal)
    }

    pub fn config(&self) -> &TokenConfig {
        &self.cfg
    }

    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        if token.len() > self.cfg.max_len {
            return Err(TokenError::TooLarge);
        }
        check_header(token)?;
        let header = decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.jku.is_some() || header.x5u.is_some() {
            return Err(TokenError::UntrustedKeyLocation);
        }
        if !self.cfg.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let hs_key;
        let key = if header.alg == Algorithm::HS256 {
            let secret = self
                .cfg
                .hs256_secret
                .as_deref()
                .ok_or(TokenError::AlgorithmNotAllowed)?;
            // An empty secret is refused by config; never accept with one.
            hs_key =
                DecodingKey::from_secret(secret).map_err(|_| TokenError::AlgorithmNotAllowed)?;
            &hs_key
        } else {
            let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
            let (alg, key) = keys.keys.get(kid).ok_or(TokenError::UnknownKey)?;
            // The key decides the algorithm, not the token.
            if *alg != header.alg {
                return Err(TokenError::AlgorithmNotAllowed);
            }
            key
        };
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = self.cfg.leeway_secs;
        v.validate_nbf = true;
        v.set_issuer(&[&self.cfg.issuer]);
        v.set_audience(&[&self.cfg.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        use jsonwebtoken::errors::ErrorKind as K;
        let data = decode::<Claims>(token, key, &v).map_err(|e| match e.kind() {
            K::ExpiredSignature => TokenError::Expired,
            K::ImmatureSignature => TokenError::NotYetValid,
            K::InvalidIssuer => TokenError::WrongIssuer,
            K::InvalidAudience => TokenError::WrongAudience,
            K::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
            K::InvalidSignature => TokenError::BadSignature,
            K::InvalidAlgorithm => TokenError::AlgorithmNotAllowed,
            _ => TokenError::Malformed,
        })?;
        // jsonwebtoken does not check `iat`: a token minted "later" means a
        // clock or issuer fault, not a token to trust now.
        if data
            .claims
            .iat
            .is_some_and(|iat| iat > jsonwebtoken::get_current_timestamp() + self.cfg.leeway_secs)
        {
            return Err(TokenError::IssuedInFuture);
        }
        let sub = data
            .claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::MissingClaim("sub".into()))?;
        let session_id = data
            .claims
            .session_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::MissingClaim("session_id".into()))?;
        Ok(Verified {
            principal: Principal { sub, session_id },
            expires_at: data
                .claims
                .exp
                .ok_or_else(|| TokenError::MissingClaim("exp".into()))?,
        })
    }
}
