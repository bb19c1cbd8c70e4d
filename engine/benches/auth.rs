//! Token verification cost per algorithm (HS256, RS256, ES256, EdDSA):
//! 1. the signature and claims check alone (`TokenValidator::verify`);
//! 2. `Authenticator::authenticate` with the principal cache warm (what a
//!    request pays on a hit: digest + lookup);
//! 3. the same with the cache off: verify + `GET /iam/me` to a local stub
//!    Gateway over loopback HTTP each time.
//!
//!   cargo bench -p engine --bench auth

use axum::routing::get;
use engine::gateway::{Forward, GatewayClient};
use engine::identity::{AuthSettings, Authenticator};
use engine::token::{KeySet, TokenConfig, TokenValidator};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use std::time::{Duration, Instant};

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
const SECRET: &[u8] = b"hs256-shared-secret-for-tests-only";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIX}/{name}")).unwrap()
}

fn token(alg: Algorithm) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"sub": "u-bench", "session_id": "s-bench", "iss": "gateway", "aud": "control", "exp": now + 3600, "iat": now});
    let (key, kid) = match alg {
        Algorithm::HS256 => (EncodingKey::from_secret(SECRET).unwrap(), None),
        Algorithm::RS256 => (
            EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).unwrap(),
            Some("rsa-1"),
        ),
        Algorithm::ES256 => (
            EncodingKey::from_ec_pem(&fixture("ec1.pk8.pem")).unwrap(),
            Some("ec-1"),
        ),
        Algorithm::EdDSA => (
            EncodingKey::from_ed_pem(&fixture("ed1.pem")).unwrap(),
            Some("ed-1"),
        ),
        other => panic!("{other:?}"),
    };
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    encode(&h, &claims, &key).unwrap()
}

fn validator() -> TokenValidator {
    TokenValidator::new(
        TokenConfig {
            issuer: "gateway".into(),
            audience: "control".into(),
            algorithms: vec![
                Algorithm::HS256,
                Algorithm::RS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
            ],
            hs256_secret: Some(SECRET.to_vec()),
            leeway_secs: 30,
            max_len: 8192,
        },
        KeySet::from_jwks(&String::from_utf8(fixture("jwks.json")).unwrap()).unwrap(),
    )
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    let total: Duration = samples.iter().sum();
    let ops = samples.len() as f64 / total.as_secs_f64();
    let p50 = pct(&mut samples, 0.5);
    let p99 = pct(&mut samples, 0.99);
    println!("{what:<44} p50 {p50:>10.1?}  p99 {p99:>10.1?}  {ops:>10.0} ops/s");
}

/// A Gateway that answers `/iam/me` for any bearer: the bench measures the
/// control plane's side of the call.
async fn stub_gateway() -> String {
    let app = axum::Router::new().route(
        "/iam/me",
        get(|| async {
            axum::Json(serde_json::json!({"sub": "u-bench", "session_id": "s-bench", "username": "bench", "display_name": "Bench", "roles": ["read-only"], "rights": ["control.fleet.read"]}))
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let gw = stub_gateway().await;
    let algs = [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ];
    let v = validator();
    for alg in algs {
        let t = token(alg);
        for _ in 0..200 {
            v.verify(&t).unwrap();
        }
        let n = if alg == Algorithm::HS256 {
            20_000
        } else {
            5_000
        };
        let samples = (0..n)
            .map(|_| {
                let s = Instant::now();
                v.verify(&t).unwrap();
                s.elapsed()
            })
            .collect();
        report(&format!("{alg:?} verify (no cache)"), samples);
    }
    for (label, ttl, n) in [
        ("authenticate, cache hit", Duration::from_secs(600), 20_000),
        (
            "authenticate, cache off (+ GET /iam/me)",
            Duration::ZERO,
            2_000,
        ),
    ] {
        for alg in algs {
            let auth = Authenticator::new(
                validator(),
                GatewayClient::new(&gw, Duration::from_secs(2)).unwrap(),
                AuthSettings {
                    jwks_url: None,
                    jwks_refresh: Duration::from_secs(300),
                    cache_ttl: ttl,
                    cache_max: 10_000,
                },
            );
            let t = token(alg);
            let fwd = Forward::default();
            for _ in 0..50 {
                auth.authenticate(&t, &fwd).await.unwrap();
            }
            let mut samples = Vec::with_capacity(n);
            for _ in 0..n {
                let s = Instant::now();
                auth.authenticate(&t, &fwd).await.unwrap();
                samples.push(s.elapsed());
            }
            report(&format!("{alg:?} {label}"), samples);
        }
    }
}
