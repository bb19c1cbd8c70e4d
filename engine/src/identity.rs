//! Who is calling: a Gateway token checked by `auth::TokenValidator`, then
//! the principal's rights from the Gateway's IAM state (`GET /iam/me`),
//! cached for a short time keyed by the token's digest. A revoked session
//! loses access when its cache entry expires (`cache_ttl`), or at once when
//! it was revoked through this control plane.

use crate::gateway::{Forward, GatewayClient, GatewayError};
use crate::token::{KeySet, Principal, TokenError, TokenValidator};
use model::audit::{AuditRecord, Outcome};
use model::iam::SessionRights;
use model::rights::{Grants, Right, WhoAmI};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// An access token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// An authenticated principal with its rights.
#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Principal,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub grants: Grants,
    /// Forwarded to the Gateway for IAM calls on this principal's behalf.
    pub token: AccessToken,
}

impl Identity {
    pub fn allows(&self, right: Right) -> bool {
        self.grants.allows(right)
    }

    pub fn who_am_i(&self) -> WhoAmI {
        WhoAmI {
            sub: self.principal.sub.clone(),
            session_id: self.principal.session_id.clone(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            roles: self.roles.clone(),
            rights: self.grants.effective(),
        }
    }
}

/// One request's caller: who (when known) and the request's ids, which
/// every audit event and every Gateway hop carries.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Option<Arc<Identity>>,
    pub request_id: String,
    pub correlation_id: String,
    pub traceparent: String,
    pub trace_id: String,
    pub tenant: Option<String>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Caller {
    /// Headers for a Gateway call on this caller's behalf.
    pub fn forward(&self) -> Forward {
        Forward {
            bearer: self.identity.as_ref().map(|i| i.token.expose().to_owned()),
            request_id: Some(self.request_id.clone()),
            correlation_id: Some(self.correlation_id.clone()),
            traceparent: Some(self.traceparent.clone()),
            ..Forward::default()
        }
    }

    /// An audit record for an action by this caller (anonymous callers are
    /// recorded as `-`).
    pub fn record(
        &self,
        action: &str,
        target: impl Into<String>,
        reason: Option<String>,
        outcome: Outcome,
    ) -> AuditRecord {
        let (sub, session) = match &self.identity {
            Some(i) => (i.principal.sub.clone(), i.principal.session_id.clone()),
            None => ("-".to_owned(), "-".to_owned()),
        };
        AuditRecord {
            time_ms: now_ms(),
            principal_sub: sub,
            principal_session: session,
            action: action.to_owned(),
            target: target.into(),
            tenant: self.tenant.clone(),
            reason,
            outcome,
            request_id: self.request_id.clone(),
            correlation_id: self.correlation_id.clone(),
            trace_id: self.trace_id.clone(),
            before_digest: None,
            after_digest: None,
            intent_id: None,
            idempotency_key: None,
            job_id: None,
            detail: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, expired, revoked... The reason is for the log
    /// only; clients see one message whatever failed.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The Gateway could not be asked (down, slow, 5xx).
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        AuthError::Unauthenticated(e.to_string())
    }
}

pub struct AuthSettings {
    /// Where keys come from for RS256/ES256/EdDSA; `None` when only HS256
    /// is configured.
    pub jwks_url: Option<String>,
    pub jwks_refresh: Duration,
    /// How long a principal's rights are trusted before asking again.
    pub cache_ttl: Duration,
    pub cache_max: usize,
}

/// One Gateway call for a token, awaited by every request that missed.
type Pending = OnceCell<Result<Arc<Identity>, AuthError>>;

struct CacheEntry {
    /// `None`: the Gateway refused this token; asking again before `until`
    /// would let a holder of a revoked token make us call it per request.
    identity: Option<Arc<Identity>>,
    until: Instant,
}

pub struct Authenticator {
    validator: TokenValidator,
    gateway: GatewayClient,
    settings: AuthSettings,
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
    inflight: Mutex<HashMap<[u8; 32], Arc<Pending>>>,
    last_kid_refetch: Mutex<Option<Instant>>,
}

/// An unknown `kid` triggers a key refresh at most this often, so junk
/// tokens cannot make us hammer the JWKS endpoint (scheduled refreshes do
/// not count: a rotation right after one is still picked up).
const MIN_KEY_REFETCH: Duration = Duration::from_secs(2);

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    pub fn new(validator: TokenValidator, gateway: GatewayClient, settings: AuthSettings) -> Self {
        Self {
            validator,
            gateway,
            settings,
            cache: Mutex::new(HashMap::new()),
            inflight: Mutex::new(HashMap::new()),
            last_kid_refetch: Mutex::new(None),
        }
    }

    pub fn gateway(&self) -> &GatewayClient {
        &self.gateway
    }

    pub fn validator(&self) -> &TokenValidator {
        &self.validator
    }

    /// Fetches the JWKS and swaps the key set in whole.
    pub async fn refresh_keys(&self) -> Result<usize, String> {
        let Some(url) = &self.settings.jwks_url else {
            return Ok(0);
        };
        let reply = self
            .gateway
            .call_url(http::Method::GET, url, &Forward::default(), None)
            .await
            .map_err(|e| e.to_string())?;
        if !reply.is_success() {
            return Err(format!("JWKS answered {}", reply.status));
        }
        let keys = KeySet::from_jwks(&String::from_utf8_lossy(&reply.body))?;
        let n = keys.len();
        self.validator.set_keys(keys);
        Ok(n)
    }

    /// Refreshes the keys every `jwks_refresh` (and retries sooner after a
    /// failure) for as long as the authenticator lives.
    pub fn spawn_key_refresh(self: &Arc<Self>) {
        if self.settings.jwks_url.is_none() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            loop {
                let Some(me) = weak.upgrade() else { return };
                let wait = match me.refresh_keys().await {
                    Ok(n) => {
                        tracing::debug!(keys = n, "JWKS refreshed");
                        backoff = Duration::from_millis(500);
                        me.settings.jwks_refresh
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "JWKS refresh failed; tokens signed with new keys are refused until it works");
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        backoff
                    }
                };
                drop(me);
                tokio::time::sleep(wait).await;
            }
        });
    }

    fn verify(&self, token: &str) -> Result<crate::token::Verified, TokenError> {
        self.validator.verify(token)
    }

    /// Checks the token (refreshing keys once when its `kid` is unknown),
    /// then the principal's rights (cached).
    pub async fn authenticate(
        &self,
        token: &str,
        fwd: &Forward,
    ) -> Result<Arc<Identity>, AuthError> {
        let key = digest(token);
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = cache.get(&key) {
                if e.until > Instant::now() {
                    return e.identity.clone().ok_or_else(|| {
                        AuthError::Unauthenticated("refused by the gateway (cached)".into())
                    });
                }
            }
        }
        let verified = match self.verify(token) {
            Err(TokenError::UnknownKey) if self.claim_kid_refetch() => {
                if let Err(e) = self.refresh_keys().await {
                    tracing::warn!(error = %e, "JWKS refresh after an unknown kid failed");
                }
                self.verify(token)?
            }
            other => other?,
        };
        // Concurrent misses for one token share one Gateway call (a page
        // load fires several requests at once when an entry expires).
        let cell = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let result = cell
            .get_or_init(|| self.ask_gateway(token, key, &verified, fwd))
            .await
            .clone();
        let mut inflight = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(&key);
        }
        result
    }

    /// `GET /iam/me` for a verified token, and the answer remembered.
    async fn ask_gateway(
        &self,
        token: &str,
        key: [u8; 32],
        verified: &crate::token::Verified,
        fwd: &Forward,
    ) -> Result<Arc<Identity>, AuthError> {
        let fwd = Forward {
            bearer: Some(token.to_owned()),
            ..fwd.clone()
        };
        let reply = self
            .gateway
            .call(http::Method::GET, "/iam/me", &fwd, None)
            .await
            .map_err(|e: GatewayError| AuthError::Unavailable(e.to_string()))?;
        let rights: SessionRights = match reply.status {
            200 => serde_json::from_slice(&reply.body)
                .map_err(|e| AuthError::Unavailable(format!("/iam/me answer: {e}")))?,
            401 | 403 | 404 => {
                self.remember(key, None, verified.expires_at);
                return Err(AuthError::Unauthenticated(format!(
                    "gateway: {}",
                    reply.error_text()
                )));
            }
            s => return Err(AuthError::Unavailable(format!("/iam/me answered {s}"))),
        };
        if rights.sub != verified.principal.sub
            || rights.session_id != verified.principal.session_id
        {
            return Err(AuthError::Unauthenticated(
                "gateway session does not match the token".into(),
            ));
        }
        let identity = Arc::new(Identity {
            principal: verified.principal.clone(),
            username: rights.username,
            display_name: rights.display_name,
            roles: rights.roles,
            grants: Grants(rights.rights),
            token: AccessToken::new(token),
        });
        self.remember(key, Some(identity.clone()), verified.expires_at);
        Ok(identity)
    }

    /// Caches the Gateway's answer for this token for the TTL, never past
    /// the token's `exp`.
    fn remember(&self, key: [u8; 32], identity: Option<Arc<Identity>>, expires_at: u64) {
        let secs_left = expires_at.saturating_sub(now_ms() / 1000).max(1);
        let until = Instant::now() + self.settings.cache_ttl.min(Duration::from_secs(secs_left));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= self.settings.cache_max {
            let now = Instant::now();
            cache.retain(|_, e| e.until > now);
            if cache.len() >= self.settings.cache_max {
                cache.clear();
            }
        }
        cache.insert(key, CacheEntry { identity, until });
    }

    /// Whether this unknown `kid` may trigger a refetch (and, if so, takes
    /// the slot, so concurrent requests fetch once).
    fn claim_kid_refetch(&self) -> bool {
        if self.settings.jwks_url.is_none() {
            return false;
        }
        let mut last = self
            .last_kid_refetch
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|t| t.elapsed() < MIN_KEY_REFETCH) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Drops every cached identity of a session (revoked or logged out
    /// through this control plane: no need to wait for the cache).
    pub fn forget_session(&self, session_id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| {
                e.identity
                    .as_ref()
                    .is_none_or(|i| i.principal.session_id != session_id)
            });
    }
}
