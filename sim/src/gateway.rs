//! The simulated Gateway's identity provider and IAM API
//! (docs/platform-contract.md, "Identity and IAM (Gateway)"): password login
//! for configured users, Ed25519-signed JWTs with a rotating key published
//! as a JWKS, server-side sessions that can be revoked, and role assignment.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::SigningKey;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use model::iam::{
    check_iam_id, GatewayError, IamRole, IamSession, IamUser, LoginRequest, LoginResponse,
    SessionRights,
};
use model::rights::{Grants, Right};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A user the Gateway is started with.
#[derive(Clone, PartialEq, Eq)]
pub struct DevUser {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub roles: Vec<String>,
}

impl std::fmt::Debug for DevUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevUser")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("password", &"[redacted]")
            .field("roles", &self.roles)
            .finish()
    }
}

/// The dev seed: one user per everyday role (`control dev` prints them).
pub fn dev_users() -> Vec<DevUser> {
    let user = |id: &str, username: &str, name: &str, role: &str| DevUser {
        id: id.into(),
        username: username.into(),
        display_name: name.into(),
        password: format!("{username}-dev-password"),
        roles: vec![role.into()],
    };
    vec![
        user("u-admin", "admin", "Ada Admin", "platform-admin"),
        user("u-operator", "operator", "Oscar Operator", "operator"),
        user("u-viewer", "viewer", "Vera Viewer", "read-only"),
    ]
}

/// The dev roles. `iam-admin` is assigned to nobody, so assigning and
/// unassigning a role can be tried on the seed.
pub fn dev_roles() -> Vec<IamRole> {
    let role = |name: &str, description: &str, rights: &[&str]| IamRole {
        name: name.into(),
        description: description.into(),
        rights: rights.iter().map(|r| (*r).to_owned()).collect(),
    };
    vec![
        role("platform-admin", "Everything, IAM included.", &["*"]),
        role(
            "operator",
            "Runs the fleet: tenants, routing, config and deploys; reads IAM.",
            &[
                "control.fleet.read",
                "control.tenants.*",
                "control.placement.*",
                "control.routing.reload",
                "control.config.*",
                "control.deploy.*",
                "control.audit.read",
                "control.iam.read",
            ],
        ),
        role(
            "read-only",
            "Sees fleet, tenants, placement, config, deploys and audit; changes nothing.",
            &[
                "control.fleet.read",
                "control.tenants.read",
                "control.placement.read",
                "control.config.read",
                "control.deploy.read",
                "control.audit.read",
            ],
        ),
        role(
            "iam-admin",
            "Manages users' roles and sessions.",
            &["control.iam.read", "control.iam.write"],
        ),
    ]
}

#[derive(Debug, Clone)]
pub struct IamConfig {
    pub issuer: String,
    pub audience: String,
    pub token_ttl_secs: u64,
    pub users: Vec<DevUser>,
    pub roles: Vec<IamRole>,
    /// Sign with HS256 and this shared secret instead of the EdDSA keys of
    /// the JWKS (a Gateway configured for a shared secret).
    pub hs256_secret: Option<SharedSecret>,
}

/// An HS256 secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(pub Vec<u8>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

impl Default for IamConfig {
    fn default() -> Self {
        Self {
            issuer: "cloudlysis-gateway".into(),
            audience: "cloudlysis-control".into(),
            token_ttl_secs: 3600,
            users: dev_users(),
            roles: dev_roles(),
            hs256_secret: None,
        }
    }
}

/// Keys kept in the JWKS: the current one and the one before it, so tokens
/// issued just before a rotation still verify.
const MAX_KEYS: usize = 2;
/// Longer tokens are refused before parsing.
const MAX_TOKEN_LEN: usize = 8192;
const INVALID_CREDENTIALS: &str = "invalid credentials";
const INVALID_TOKEN: &str = "invalid token";

struct Key {
    kid: String,
    public: [u8; 32],
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Key {
    fn generate(n: u64) -> Key {
        let signing = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        // jsonwebtoken's rust_crypto signer reads Ed25519 keys as PKCS#8 DER.
        let der = signing
            .to_pkcs8_der()
            .expect("PKCS#8 encoding of an Ed25519 key does not fail");
        let public = signing.verifying_key().to_bytes();
        Key {
            kid: format!("sim-ed-{n}"),
            public,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(&public),
        }
    }
}

struct User {
    id: String,
    username: String,
    display_name: String,
    password: String,
    roles: BTreeSet<String>,
}

struct Session {
    id: String,
    sub: String,
    created_ms: u64,
    expires_ms: u64,
    last_seen_ms: u64,
    revoked: bool,
}

struct IamState {
    /// Oldest first; the last one signs.
    keys: Vec<Key>,
    keys_minted: u64,
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, IamRole>,
    sessions: HashMap<String, Session>,
}

impl IamState {
    fn prune_expired(&mut self, now: u64) {
        self.sessions.retain(|_, s| s.expires_ms > now);
    }

    /// The user's roles (sorted) and the union of their rights strings.
    fn grants(&self, user: &User) -> (Vec<String>, Vec<String>) {
        let rights: BTreeSet<&String> = user
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| &r.rights)
            .collect();
        (
            user.roles.iter().cloned().collect(),
            rights.into_iter().cloned().collect(),
        )
    }
}

struct Inner {
    issuer: String,
    audience: String,
    ttl_secs: u64,
    hs256: Option<SharedSecret>,
    state: Mutex<IamState>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    session_id: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// An error answer: status and `{"error": "..."}`.
struct Fail(StatusCode, String);

impl Fail {
    fn new(status: StatusCode, text: impl Into<String>) -> Self {
        Fail(status, text.into())
    }

    fn unauthorized(text: &str) -> Self {
        Fail::new(StatusCode::UNAUTHORIZED, text)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, Json(GatewayError { error: self.1 })).into_response()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn new_session_id() -> String {
    let bytes: [u8; 12] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("s-{hex}")
}

/// The Gateway's identity provider; clones share one state.
#[derive(Clone)]
pub struct Iam {
    inner: Arc<Inner>,
}

impl Iam {
    pub fn new(cfg: IamConfig) -> Self {
        let users = cfg
            .users
            .into_iter()
            .map(|u| {
                let user = User {
                    id: u.id,
                    username: u.username,
                    display_name: u.display_name,
                    password: u.password,
                    roles: u.roles.into_iter().collect(),
                };
                (user.id.clone(), user)
            })
            .collect();
        let roles = cfg.roles.into_iter().map(|r| (r.name.clone(), r)).collect();
        Self {
            inner: Arc::new(Inner {
                issuer: cfg.issuer,
                audience: cfg.audience,
                ttl_secs: cfg.token_ttl_secs,
                hs256: cfg.hs256_secret,
                state: Mutex::new(IamState {
                    keys: vec![Key::generate(1)],
                    keys_minted: 1,
                    users,
                    roles,
                    sessions: HashMap::new(),
                }),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, IamState> {
        // No invariant spans a panic point, so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The IAM API as a stateless router, to merge next to a gateway
    /// instance's routes. It answers unknown paths and methods with JSON
    /// errors, so merge it into a router without a fallback of its own.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/auth/login", post(login))
            .route("/auth/logout", post(logout))
            .route("/iam/me", get(me))
            .route("/iam/users", get(users))
            .route("/iam/sessions", get(sessions))
            .route("/iam/sessions/{id}", delete(delete_session))
            .route("/iam/roles", get(roles))
            .route(
                "/iam/users/{id}/roles/{role}",
                put(assign_role).delete(unassign_role),
            )
            .method_not_allowed_fallback(|| async {
                Fail::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            })
            .fallback(|| async { Fail::new(StatusCode::NOT_FOUND, "not found") })
            .with_state(self.clone())
    }

    /// Serves the IAM API alone on `addr` (port 0 picks one).
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok((local, task))
    }

    /// Makes a new signing key current and answers its kid. The previous key
    /// stays in the JWKS (older ones are dropped, and so are their tokens).
    pub fn rotate_key(&self) -> String {
        let mut st = self.state();
        st.keys_minted += 1;
        let key = Key::generate(st.keys_minted);
        let kid = key.kid.clone();
        st.keys.push(key);
        let excess = st.keys.len().saturating_sub(MAX_KEYS);
        st.keys.drain(..excess);
        kid
    }

    pub fn jwks_json(&self) -> String {
        let st = self.state();
        let keys: Vec<serde_json::Value> = st
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k.public),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// Checks the password and opens a session. Unknown users and wrong
    /// passwords fail alike, so the answer does not reveal which users exist.
    pub fn login(&self, username: &str, password: &str) -> Result<LoginResponse, String> {
        self.open_session(username, password).map_err(|f| f.1)
    }

    fn open_session(&self, username: &str, password: &str) -> Result<LoginResponse, Fail> {
        let now = now_ms();
        let mut st = self.state();
        st.prune_expired(now);
        let user = st.users.values().find(|u| u.username == username);
        // Compared in constant time so response timing does not leak the password.
        let stored = user.map_or("", |u| u.password.as_str());
        let matches = bool::from(stored.as_bytes().ct_eq(password.as_bytes()));
        let sub = match user {
            Some(u) if matches => u.id.clone(),
            _ => return Err(Fail::unauthorized(INVALID_CREDENTIALS)),
        };
        let iat = now / 1000;
        let exp = iat + self.inner.ttl_secs;
        let session_id = new_session_id();
        let claims = Claims {
            iss: self.inner.issuer.clone(),
            aud: self.inner.audience.clone(),
            sub: sub.clone(),
            session_id: session_id.clone(),
            iat,
            nbf: iat,
            exp,
        };
        let key = st
            .keys
            .last()
            .ok_or_else(|| Fail::new(StatusCode::INTERNAL_SERVER_ERROR, "no signing key"))?;
        let signed = match &self.inner.hs256 {
            Some(secret) => EncodingKey::from_secret(&secret.0)
                .and_then(|k| encode(&Header::new(Algorithm::HS256), &claims, &k)),
            None => {
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(key.kid.clone());
                encode(&header, &claims, &key.encoding)
            }
        };
        let token = signed.map_err(|e| {
            Fail::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot sign: {e}"),
            )
        })?;
        st.sessions.insert(
            session_id.clone(),
            Session {
                id: session_id.clone(),
                sub: sub.clone(),
                created_ms: now,
                // The token's own expiry, so both agree.
                expires_ms: exp * 1000,
                last_seen_ms: now,
                revoked: false,
            },
        );
        Ok(LoginResponse {
            access_token: token,
            token_type: "Bearer".into(),
            expires_in: self.inner.ttl_secs,
            sub,
            session_id,
        })
    }

    /// Revokes a session; false when it is not known.
    pub fn revoke_session(&self, id: &str) -> bool {
        match self.state().sessions.get_mut(id) {
            Some(s) => {
                s.revoked = true;
                true
            }
            None => false,
        }
    }

    /// Verifies the bearer token (signature by its kid, exp, nbf, iss, aud)
    /// and its session (known, not revoked), marks the session seen, and
    /// answers the caller's session rights.
    fn authenticate(&self, headers: &HeaderMap) -> Result<SessionRights, Fail> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .ok_or_else(|| Fail::unauthorized("missing bearer token"))?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(Fail::unauthorized(INVALID_TOKEN));
        }
        let head = decode_header(token).map_err(|_| Fail::unauthorized(INVALID_TOKEN))?;
        let now = now_ms();
        let mut st = self.state();
        // The configured algorithm only: a shared secret, or a key by kid.
        let (alg, key) = match &self.inner.hs256 {
            Some(secret) if head.alg == Algorithm::HS256 => (
                Algorithm::HS256,
                DecodingKey::from_secret(&secret.0)
                    .map_err(|_| Fail::unauthorized(INVALID_TOKEN))?,
            ),
            None if head.alg == Algorithm::EdDSA => {
                let kid = head.kid.ok_or_else(|| Fail::unauthorized(INVALID_TOKEN))?;
                let key = st
                    .keys
                    .iter()
                    .find(|k| k.kid == kid)
                    .ok_or_else(|| Fail::unauthorized(INVALID_TOKEN))?;
                (Algorithm::EdDSA, key.decoding.clone())
            }
            _ => return Err(Fail::unauthorized(INVALID_TOKEN)),
        };
        let mut v = Validation::new(alg);
        // Issuer and verifier share one clock.
        v.leeway = 0;
        v.validate_nbf = true;
        v.set_issuer(&[&self.inner.issuer]);
        v.set_audience(&[&self.inner.audience]);
        v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let claims = decode::<Claims>(token, &key, &v)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Fail::unauthorized("session expired"),
                _ => Fail::unauthorized(INVALID_TOKEN),
            })?
            .claims;
        let session = st
            .sessions
            .get_mut(&claims.session_id)
            .filter(|s| s.sub == claims.sub)
            .ok_or_else(|| Fail::unauthorized("unknown session"))?;
        if session.revoked {
            return Err(Fail::unauthorized("session revoked"));
        }
        if session.expires_ms <= now {
            return Err(Fail::unauthorized("session expired"));
        }
        session.last_seen_ms = now;
        let user = st
            .users
            .get(&claims.sub)
            .ok_or_else(|| Fail::unauthorized("unknown user"))?;
        let (roles, rights) = st.grants(user);
        Ok(SessionRights {
            sub: claims.sub,
            session_id: claims.session_id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            roles,
            rights,
        })
    }

    /// Authenticates and checks the caller's grants cover `right`.
    fn authorize(&self, headers: &HeaderMap, right: Right) -> Result<SessionRights, Fail> {
        let caller = self.authenticate(headers)?;
        if Grants(caller.rights.clone()).allows(right) {
            Ok(caller)
        } else {
            Err(Fail::new(
                StatusCode::FORBIDDEN,
                format!("missing right {right}"),
            ))
        }
    }

    fn set_role(&self, user: &str, role: &str, assigned: bool) -> Result<(), Fail> {
        let mut guard = self.state();
        let st = &mut *guard;
        let u = st
            .users
            .get_mut(user)
            .ok_or_else(|| Fail::new(StatusCode::NOT_FOUND, "no such user"))?;
        if !st.roles.contains_key(role) {
            return Err(Fail::new(StatusCode::NOT_FOUND, "no such role"));
        }
        if assigned {
            u.roles.insert(role.to_owned());
        } else {
            u.roles.remove(role);
        }
        Ok(())
    }
}

fn path_id(kind: &str, id: &str) -> Result<(), Fail> {
    check_iam_id(kind, id).map_err(|e| Fail::new(StatusCode::BAD_REQUEST, e))
}

fn path_rejected(r: PathRejection) -> Fail {
    Fail::new(r.status(), r.body_text())
}

async fn jwks(State(iam): State<Iam>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        iam.jwks_json(),
    )
        .into_response()
}

async fn login(
    State(iam): State<Iam>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<LoginResponse>, Fail> {
    let body = body.map_err(|r| Fail::new(r.status(), r.body_text()))?;
    let req: LoginRequest = serde_json::from_slice(&body)
        .map_err(|e| Fail::new(StatusCode::BAD_REQUEST, format!("invalid body: {e}")))?;
    iam.open_session(&req.username, &req.password).map(Json)
}

async fn logout(State(iam): State<Iam>, headers: HeaderMap) -> Result<StatusCode, Fail> {
    let caller = iam.authenticate(&headers)?;
    iam.revoke_session(&caller.session_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(iam): State<Iam>, headers: HeaderMap) -> Result<Json<SessionRights>, Fail> {
    iam.authenticate(&headers).map(Json)
}

async fn users(State(iam): State<Iam>, headers: HeaderMap) -> Result<Json<Vec<IamUser>>, Fail> {
    iam.authorize(&headers, Right::IamRead)?;
    let st = iam.state();
    let mut out: Vec<IamUser> = st
        .users
        .values()
        .map(|u| IamUser {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            roles: u.roles.iter().cloned().collect(),
            disabled: false,
        })
        .collect();
    out.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(Json(out))
}

#[derive(Deserialize)]
struct SessionFilter {
    user: Option<String>,
}

async fn sessions(
    State(iam): State<Iam>,
    headers: HeaderMap,
    query: Result<Query<SessionFilter>, QueryRejection>,
) -> Result<Json<Vec<IamSession>>, Fail> {
    iam.authorize(&headers, Right::IamRead)?;
    let Query(filter) = query.map_err(|r| Fail::new(r.status(), r.body_text()))?;
    if let Some(u) = &filter.user {
        path_id("user", u)?;
    }
    let mut st = iam.state();
    st.prune_expired(now_ms());
    let mut out: Vec<IamSession> = st
        .sessions
        .values()
        .filter(|s| filter.user.as_ref().is_none_or(|u| *u == s.sub))
        .map(|s| IamSession {
            id: s.id.clone(),
            sub: s.sub.clone(),
            username: st
                .users
                .get(&s.sub)
                .map(|u| u.username.clone())
                .unwrap_or_default(),
            created_ms: s.created_ms,
            expires_ms: s.expires_ms,
            last_seen_ms: s.last_seen_ms,
            revoked: s.revoked,
        })
        .collect();
    out.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(a.id.cmp(&b.id)));
    Ok(Json(out))
}

async fn delete_session(
    State(iam): State<Iam>,
    headers: HeaderMap,
    id: Result<UrlPath<String>, PathRejection>,
) -> Result<StatusCode, Fail> {
    iam.authorize(&headers, Right::IamWrite)?;
    let UrlPath(id) = id.map_err(path_rejected)?;
    path_id("session", &id)?;
    if iam.revoke_session(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Fail::new(StatusCode::NOT_FOUND, "no such session"))
    }
}

async fn roles(State(iam): State<Iam>, headers: HeaderMap) -> Result<Json<Vec<IamRole>>, Fail> {
    iam.authorize(&headers, Right::IamRead)?;
    // The map is keyed by name, so its order is the sorted order.
    Ok(Json(iam.state().roles.values().cloned().collect()))
}

fn change_role(
    iam: &Iam,
    headers: &HeaderMap,
    path: Result<UrlPath<(String, String)>, PathRejection>,
    assigned: bool,
) -> Result<StatusCode, Fail> {
    iam.authorize(headers, Right::IamWrite)?;
    let UrlPath((user, role)) = path.map_err(path_rejected)?;
    path_id("user", &user)?;
    path_id("role", &role)?;
    iam.set_role(&user, &role, assigned)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn assign_role(
    State(iam): State<Iam>,
    headers: HeaderMap,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<StatusCode, Fail> {
    change_role(&iam, &headers, path, true)
}

async fn unassign_role(
    State(iam): State<Iam>,
    headers: HeaderMap,
    path: Result<UrlPath<(String, String)>, PathRejection>,
) -> Result<StatusCode, Fail> {
    change_role(&iam, &headers, path, false)
}
