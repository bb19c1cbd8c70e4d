//! `Authenticator` against a stub Gateway over loopback HTTP that counts its
//! calls: the principal cache, its expiry, forgetting a session, key
//! refetch on an unknown `kid` (throttled), and how Gateway answers map to
//! errors.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use engine::error::ClientError;
use engine::gateway::{Forward, GatewayClient};
use engine::identity::{AuthError, AuthSettings, Authenticator};
use engine::token::{KeySet, TokenConfig, TokenValidator};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIX}/{name}")).unwrap()
}

#[derive(Default)]
struct Stub {
    me_calls: AtomicUsize,
    jwks_calls: AtomicUsize,
    /// Status `/iam/me` answers (200 by default).
    me_status: AtomicU16,
    /// Answer for another subject than the token's.
    wrong_sub: std::sync::atomic::AtomicBool,
    /// Milliseconds `/iam/me` takes to answer.
    delay_ms: std::sync::atomic::AtomicU64,
}

async fn me(State(s): State<Arc<Stub>>) -> impl IntoResponse {
    s.me_calls.fetch_add(1, Ordering::SeqCst);
    let delay = s.delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    let status = match s.me_status.load(Ordering::SeqCst) {
        0 => 200,
        n => n,
    };
    let sub = if s.wrong_sub.load(Ordering::SeqCst) {
        "someone-else"
    } else {
        "u-1"
    };
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(serde_json::json!({
            "sub": sub, "session_id": "s-1", "username": "ann", "display_name": "Ann",
            "roles": ["read-only"], "rights": ["control.fleet.read"],
            "error": "session revoked"
        })),
    )
}

async fn jwks(State(s): State<Arc<Stub>>) -> String {
    s.jwks_calls.fetch_add(1, Ordering::SeqCst);
    String::from_utf8(fixture("jwks.json")).unwrap()
}

async fn stub() -> (String, Arc<Stub>) {
    let state = Arc::new(Stub::default());
    let app = axum::Router::new()
        .route("/iam/me", get(me))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn token(kid: &str, exp_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = serde_json::json!({"sub": "u-1", "session_id": "s-1", "iss": "gateway", "aud": "control", "exp": now + exp_in});
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(kid.to_owned());
    encode(
        &h,
        &claims,
        &EncodingKey::from_ed_pem(&fixture("ed1.pem")).unwrap(),
    )
    .unwrap()
}

fn authenticator(gw: &str, ttl: Duration, jwks: bool) -> Authenticator {
    authenticator_with(gw, jwks.then(|| format!("{gw}/.well-known/jwks.json")), ttl)
}

fn authenticator_with(gw: &str, jwks_url: Option<String>, ttl: Duration) -> Authenticator {
    let validator = TokenValidator::new(
        TokenConfig {
            issuer: "gateway".into(),
            audience: "control".into(),
            algorithms: vec![Algorithm::EdDSA],
            hs256_secret: None,
            leeway_secs: 0,
            max_len: 8192,
        },
        KeySet::default(),
    );
    Authenticator::new(
        validator,
        GatewayClient::new(gw, Duration::from_secs(2)).unwrap(),
        AuthSettings {
            jwks_url,
            jwks_refresh: Duration::from_secs(300),
            cache_ttl: ttl,
            cache_max: 100,
        },
    )
}

#[tokio::test]
async fn rights_are_cached_for_the_ttl_then_asked_again() {
    let (gw, s) = stub().await;
    let a = authenticator(&gw, Duration::from_millis(200), true);
    a.refresh_keys().await.unwrap();
    let t = token("ed-1", 600);
    let id = a.authenticate(&t, &Forward::default()).await.unwrap();
    assert_eq!(id.principal.sub, "u-1");
    assert!(id.allows(model::rights::Right::FleetRead));
    assert!(!id.allows(model::rights::Right::IamRead));
    for _ in 0..10 {
        a.authenticate(&t, &Forward::default()).await.unwrap();
    }
    assert_eq!(
        s.me_calls.load(Ordering::SeqCst),
        1,
        "cache hits ask nobody"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    a.authenticate(&t, &Forward::default()).await.unwrap();
    assert_eq!(
        s.me_calls.load(Ordering::SeqCst),
        2,
        "expired entry asks again"
    );
    // Revoked at the Gateway: refused once the entry has expired.
    s.me_status.store(401, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(matches!(
        a.authenticate(&t, &Forward::default()).await,
        Err(AuthError::Unauthenticated(_))
    ));
}

#[tokio::test]
async fn a_forgotten_session_is_asked_about_at_once() {
    let (gw, s) = stub().await;
    let a = authenticator(&gw, Duration::from_secs(600), true);
    a.refresh_keys().await.unwrap();
    let t = token("ed-1", 600);
    a.authenticate(&t, &Forward::default()).await.unwrap();
    a.forget_session("s-1");
    s.me_status.store(401, Ordering::SeqCst);
    assert!(matches!(
        a.authenticate(&t, &Forward::default()).await,
        Err(AuthError::Unauthenticated(_))
    ));
    assert_eq!(s.me_calls.load(Ordering::SeqCst), 2);
    // A refused token is remembered too: its holder cannot make us ask
    // the Gateway once per request.
    for _ in 0..10 {
        assert!(a.authenticate(&t, &Forward::default()).await.is_err());
    }
    assert_eq!(s.me_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_cache_never_outlives_the_token() {
    let (gw, s) = stub().await;
    let a = authenticator(&gw, Duration::from_secs(600), true);
    a.refresh_keys().await.unwrap();
    let t = token("ed-1", 1);
    a.authenticate(&t, &Forward::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(matches!(
        a.authenticate(&t, &Forward::default()).await,
        Err(AuthError::Unauthenticated(_))
    ));
    assert_eq!(s.me_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_keys_at_most_once_per_interval() {
    let (gw, s) = stub().await;
    let a = authenticator(&gw, Duration::from_secs(600), true);
    // No keys yet: the first token triggers a fetch and then verifies.
    a.authenticate(&token("ed-1", 600), &Forward::default())
        .await
        .unwrap();
    assert_eq!(s.jwks_calls.load(Ordering::SeqCst), 1);
    // Junk kids right after: refused without hammering the JWKS.
    for i in 0..20 {
        let r = a
            .authenticate(&token(&format!("junk-{i}"), 600), &Forward::default())
            .await;
        assert!(matches!(r, Err(AuthError::Unauthenticated(_))));
    }
    assert_eq!(s.jwks_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn gateway_answers_map_to_stable_errors() {
    let (gw, s) = stub().await;
    let a = authenticator(&gw, Duration::ZERO, true);
    a.refresh_keys().await.unwrap();
    let t = token("ed-1", 600);
    s.me_status.store(500, Ordering::SeqCst);
    assert!(matches!(
        a.authenticate(&t, &Forward::default()).await,
        Err(AuthError::Unavailable(_))
    ));
    s.me_status.store(403, Ordering::SeqCst);
    assert!(matches!(
        a.authenticate(&t, &Forward::default()).await,
        Err(AuthError::Unauthenticated(_))
    ));
    s.me_status.store(200, Ordering::SeqCst);
    s.wrong_sub.store(true, Ordering::SeqCst);
    assert!(matches!(
        a.authenticate(&t, &Forward::default()).await,
        Err(AuthError::Unauthenticated(_))
    ));
    // Keys known, but nobody answers at the Gateway's address.
    let dead = authenticator_with(
        "http://127.0.0.1:9",
        Some(format!("{gw}/.well-known/jwks.json")),
        Duration::ZERO,
    );
    dead.refresh_keys().await.unwrap();
    let r = dead.authenticate(&t, &Forward::default()).await;
    assert!(matches!(r, Err(AuthError::Unavailable(_))), "{r:?}");
    let v = AuthError::Unavailable("x".into()).client_view();
    assert_eq!((v.status(), v.code), (503, model::ErrorCode::Unavailable));
    let v = AuthError::Unauthenticated("why".into()).client_view();
    assert_eq!(v.message, "authentication required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_gateway_call() {
    let (gw, s) = stub().await;
    s.delay_ms.store(150, Ordering::SeqCst);
    let a = Arc::new(authenticator(&gw, Duration::from_secs(600), true));
    a.refresh_keys().await.unwrap();
    let t = token("ed-1", 600);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (a, t) = (a.clone(), t.clone());
            tokio::spawn(async move { a.authenticate(&t, &Forward::default()).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap().principal.sub, "u-1");
    }
    assert_eq!(s.me_calls.load(Ordering::SeqCst), 1);
    // The Gateway failing: every waiter gets the one failure, no queue of
    // timeouts.
    s.me_status.store(503, Ordering::SeqCst);
    let t2 = token("ed-1", 601);
    let started = std::time::Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (a, t) = (a.clone(), t2.clone());
            tokio::spawn(async move { a.authenticate(&t, &Forward::default()).await })
        })
        .collect();
    for c in calls {
        assert!(matches!(c.await.unwrap(), Err(AuthError::Unavailable(_))));
    }
    assert_eq!(s.me_calls.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < Duration::from_millis(1000));
}
