//! The simulated Gateway's identity and IAM API over real HTTP.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use model::iam::{IamRole, IamSession, IamUser, LoginResponse, SessionRights};
use serde_json::Value;
use sim::{Fleet, Iam, IamConfig, Topology};
use std::net::SocketAddr;
use std::time::Duration;

/// One HTTP/1.1 request; answers the status and the body.
async fn http(
    method: &str,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    test_support::request(method, addr, path, token, body)
        .await
        .expect("the gateway answers")
}

/// The `error` text of a Gateway error body.
fn error_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["error"].as_str().unwrap().to_owned()
}

async fn start(cfg: IamConfig) -> (Iam, SocketAddr) {
    let iam = Iam::new(cfg);
    let (addr, _task) = iam.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (iam, addr)
}

async fn login(addr: SocketAddr, user: &str) -> LoginResponse {
    let body = format!(r#"{{"username":"{user}","password":"{user}-dev-password"}}"#);
    let (st, body) = http("POST", addr, "/auth/login", None, &body).await;
    assert_eq!(st, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

async fn me(addr: SocketAddr, token: &str) -> (u16, String) {
    http("GET", addr, "/iam/me", Some(token), "").await
}

async fn rights(addr: SocketAddr, token: &str) -> SessionRights {
    let (st, body) = me(addr, token).await;
    assert_eq!(st, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Verifies a token the way the control plane does: key by kid from the
/// JWKS, EdDSA only, issuer and audience checked.
fn verify_with_jwks(jwks: &str, token: &str) -> Value {
    let set: JwkSet = serde_json::from_str(jwks).unwrap();
    let kid = decode_header(token).unwrap().kid.unwrap();
    let jwk = set.find(&kid).unwrap();
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&["cloudlysis-gateway"]);
    v.set_audience(&["cloudlysis-control"]);
    decode::<Value>(token, &key, &v).unwrap().claims
}

#[tokio::test]
async fn login_answers_a_bearer_token_or_401_or_400() {
    let (_iam, addr) = start(IamConfig::default()).await;
    let ok = login(addr, "admin").await;
    assert_eq!(ok.token_type, "Bearer");
    assert_eq!(ok.expires_in, 3600);
    assert_eq!(ok.sub, "u-admin");
    assert!(ok.session_id.starts_with("s-"));
    assert_eq!(ok.session_id.len(), 26);
    assert!(ok.session_id[2..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));

    let wrong = http(
        "POST",
        addr,
        "/auth/login",
        None,
        r#"{"username":"admin","password":"nope"}"#,
    )
    .await;
    let unknown = http(
        "POST",
        addr,
        "/auth/login",
        None,
        r#"{"username":"nobody","password":"admin-dev-password"}"#,
    )
    .await;
    for (st, body) in [wrong, unknown] {
        assert_eq!(st, 401);
        assert_eq!(error_of(&body), "invalid credentials");
    }
    let (st, body) = http("GET", addr, "/auth/login", None, "").await;
    assert_eq!((st, error_of(&body).as_str()), (405, "method not allowed"));
    for bad in [
        "",
        "{",
        r#"{"username":"admin"}"#,
        r#"{"username":1,"password":"x"}"#,
    ] {
        let (st, body) = http("POST", addr, "/auth/login", None, bad).await;
        assert_eq!(st, 400, "{bad}: {body}");
        assert!(!error_of(&body).is_empty());
    }
}

#[tokio::test]
async fn me_answers_each_roles_rights() {
    let (_iam, addr) = start(IamConfig::default()).await;
    let admin = rights(addr, &login(addr, "admin").await.access_token).await;
    assert_eq!(admin.sub, "u-admin");
    assert_eq!(admin.username, "admin");
    assert_eq!(admin.display_name, "Ada Admin");
    assert_eq!(admin.roles, ["platform-admin"]);
    assert_eq!(admin.rights, ["*"]);

    let op = rights(addr, &login(addr, "operator").await.access_token).await;
    assert_eq!(op.roles, ["operator"]);
    assert!(op.rights.contains(&"control.tenants.*".to_owned()));
    assert!(op.rights.contains(&"control.iam.read".to_owned()));
    assert!(!op.rights.contains(&"control.iam.write".to_owned()));

    let viewer = rights(addr, &login(addr, "viewer").await.access_token).await;
    assert_eq!(viewer.roles, ["read-only"]);
    assert_eq!(viewer.rights.len(), 6);
    assert!(!viewer.rights.iter().any(|r| r.contains("iam")));

    let (st, body) = http("GET", addr, "/iam/me", None, "").await;
    assert_eq!(
        (st, error_of(&body).as_str()),
        (401, "missing bearer token")
    );
    let (st, body) = me(addr, "not-a-token").await;
    assert_eq!((st, error_of(&body).as_str()), (401, "invalid token"));
}

#[tokio::test]
async fn revoked_and_logged_out_sessions_are_refused() {
    let (_iam, addr) = start(IamConfig::default()).await;
    let admin = login(addr, "admin").await.access_token;
    let viewer = login(addr, "viewer").await;
    assert_eq!(me(addr, &viewer.access_token).await.0, 200);

    let (st, body) = http("GET", addr, "/iam/sessions?user=u-viewer", Some(&admin), "").await;
    assert_eq!(st, 200, "{body}");
    let listed: Vec<IamSession> = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, viewer.session_id);
    assert_eq!(listed[0].username, "viewer");
    assert!(!listed[0].revoked);

    let path = format!("/iam/sessions/{}", viewer.session_id);
    assert_eq!(http("DELETE", addr, &path, Some(&admin), "").await.0, 204);
    let (st, body) = me(addr, &viewer.access_token).await;
    assert_eq!((st, error_of(&body).as_str()), (401, "session revoked"));
    let (st, body) = http("DELETE", addr, "/iam/sessions/s-000", Some(&admin), "").await;
    assert_eq!((st, error_of(&body).as_str()), (404, "no such session"));

    // Revoked sessions stay listed, newest first.
    let (_, body) = http("GET", addr, "/iam/sessions", Some(&admin), "").await;
    let all: Vec<IamSession> = serde_json::from_str(&body).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].created_ms >= all[1].created_ms);
    assert!(all.iter().any(|s| s.id == viewer.session_id && s.revoked));

    let op = login(addr, "operator").await.access_token;
    assert_eq!(
        http("POST", addr, "/auth/logout", Some(&op), "").await.0,
        204
    );
    assert_eq!(me(addr, &op).await.0, 401);
    assert_eq!(
        http("POST", addr, "/auth/logout", Some(&op), "").await.0,
        401
    );
    assert_eq!(http("POST", addr, "/auth/logout", None, "").await.0, 401);
}

#[tokio::test]
async fn iam_calls_need_their_rights() {
    let (_iam, addr) = start(IamConfig::default()).await;
    let viewer = login(addr, "viewer").await.access_token;
    let op = login(addr, "operator").await;
    let admin = login(addr, "admin").await.access_token;

    for path in ["/iam/users", "/iam/sessions", "/iam/roles"] {
        let (st, body) = http("GET", addr, path, Some(&viewer), "").await;
        assert_eq!(
            (st, error_of(&body).as_str()),
            (403, "missing right control.iam.read"),
            "{path}"
        );
    }
    let (st, body) = http("GET", addr, "/iam/users", Some(&op.access_token), "").await;
    assert_eq!(st, 200, "{body}");
    let users: Vec<IamUser> = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["admin", "operator", "viewer"]);

    let (st, body) = http("GET", addr, "/iam/roles", Some(&op.access_token), "").await;
    assert_eq!(st, 200, "{body}");
    let roles: Vec<IamRole> = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["iam-admin", "operator", "platform-admin", "read-only"]
    );
    assert!(roles.iter().all(|r| !r.description.is_empty()));

    let path = format!("/iam/sessions/{}", op.session_id);
    let (st, body) = http("DELETE", addr, &path, Some(&op.access_token), "").await;
    assert_eq!(
        (st, error_of(&body).as_str()),
        (403, "missing right control.iam.write")
    );
    let role_path = "/iam/users/u-viewer/roles/iam-admin";
    let (st, _) = http("PUT", addr, role_path, Some(&op.access_token), "").await;
    assert_eq!(st, 403);

    // Assignment takes effect on the viewer's next call, same token.
    for _ in 0..2 {
        assert_eq!(http("PUT", addr, role_path, Some(&admin), "").await.0, 204);
    }
    let now = rights(addr, &viewer).await;
    assert_eq!(now.roles, ["iam-admin", "read-only"]);
    assert!(now.rights.contains(&"control.iam.write".to_owned()));
    assert_eq!(
        http("GET", addr, "/iam/users", Some(&viewer), "").await.0,
        200
    );
    for _ in 0..2 {
        assert_eq!(
            http("DELETE", addr, role_path, Some(&admin), "").await.0,
            204
        );
    }
    assert_eq!(rights(addr, &viewer).await.roles, ["read-only"]);

    for (path, want) in [
        ("/iam/users/u-nobody/roles/iam-admin", "no such user"),
        ("/iam/users/u-viewer/roles/no-role", "no such role"),
    ] {
        for method in ["PUT", "DELETE"] {
            let (st, body) = http(method, addr, path, Some(&admin), "").await;
            assert_eq!(
                (st, error_of(&body).as_str()),
                (404, want),
                "{method} {path}"
            );
        }
    }
    let (st, body) = http("PUT", addr, "/iam/users/a%20b/roles/x", Some(&admin), "").await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = http("GET", addr, "/iam/sessions?user=a%2Fb", Some(&admin), "").await;
    assert_eq!(st, 400, "{body}");
}

#[tokio::test]
async fn tokens_verify_against_the_jwks_across_a_rotation() {
    let (iam, addr) = start(IamConfig::default()).await;
    let old = login(addr, "operator").await.access_token;
    let (st, jwks) = http("GET", addr, "/.well-known/jwks.json", None, "").await;
    assert_eq!(st, 200);
    assert_eq!(jwks, iam.jwks_json());
    let v: Value = serde_json::from_str(&jwks).unwrap();
    let k = &v["keys"][0];
    assert_eq!(
        (k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    assert_eq!(k["use"], "sig");
    assert_eq!(k["kid"], "sim-ed-1");

    let head = decode_header(&old).unwrap();
    assert_eq!(head.alg, Algorithm::EdDSA);
    assert_eq!(head.typ.as_deref(), Some("JWT"));
    let claims = verify_with_jwks(&jwks, &old);
    assert_eq!(claims["sub"], "u-operator");
    for c in ["iat", "nbf", "exp", "session_id"] {
        assert!(!claims[c].is_null(), "{c}");
    }
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );

    let kid = iam.rotate_key();
    assert_eq!(kid, "sim-ed-2");
    let new = login(addr, "operator").await.access_token;
    assert_eq!(
        decode_header(&new).unwrap().kid.as_deref(),
        Some("sim-ed-2")
    );
    let jwks = iam.jwks_json();
    verify_with_jwks(&jwks, &old);
    verify_with_jwks(&jwks, &new);
    assert_eq!(me(addr, &old).await.0, 200);
    assert_eq!(me(addr, &new).await.0, 200);

    // Only the current and previous keys are kept.
    iam.rotate_key();
    let set: JwkSet = serde_json::from_str(&iam.jwks_json()).unwrap();
    assert_eq!(set.keys.len(), 2);
    assert!(set.find("sim-ed-1").is_none());
    let (st, body) = me(addr, &old).await;
    assert_eq!((st, error_of(&body).as_str()), (401, "invalid token"));
    assert_eq!(me(addr, &new).await.0, 200);
}

#[tokio::test]
async fn forged_and_expired_tokens_are_refused() {
    let (_iam, addr) = start(IamConfig::default()).await;
    // Another Gateway: same kid, issuer and audience, different key.
    let (_other, other_addr) = start(IamConfig::default()).await;
    let real = login(addr, "admin").await.access_token;
    let forged = login(other_addr, "admin").await.access_token;
    let (st, body) = me(addr, &forged).await;
    assert_eq!((st, error_of(&body).as_str()), (401, "invalid token"));

    // The real header and payload with the forged signature.
    let (signed, _) = real.rsplit_once('.').unwrap();
    let (_, sig) = forged.rsplit_once('.').unwrap();
    let (st, _) = me(addr, &format!("{signed}.{sig}")).await;
    assert_eq!(st, 401);
    assert_eq!(me(addr, &real).await.0, 200);

    let (_iam, short) = start(IamConfig {
        token_ttl_secs: 1,
        ..IamConfig::default()
    })
    .await;
    let t = login(short, "viewer").await.access_token;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (st, body) = me(short, &t).await;
    assert_eq!((st, error_of(&body).as_str()), (401, "session expired"));
}

#[tokio::test]
async fn fleet_gateways_serve_iam_and_rotate_on_the_control_api() {
    let dir = tempfile::tempdir().unwrap();
    let topo = Topology {
        shards: 1,
        replicas: 1,
        gateways: 2,
        tenants: 2,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, dir.path(), 0).await.unwrap();
    let gateways: Vec<SocketAddr> = fleet
        .instances()
        .into_iter()
        .filter(|i| i.kind == model::fleet::ServiceKind::Gateway)
        .map(|i| i.addr)
        .collect();
    assert_eq!(fleet.gateway_url(), format!("http://{}", gateways[0]));
    // One identity provider behind every gateway: a session opened on one
    // is known to the other.
    let token = login(gateways[0], "viewer").await.access_token;
    assert_eq!(rights(gateways[1], &token).await.username, "viewer");
    assert_eq!(
        http("GET", gateways[1], "/health", None, "").await.0,
        200,
        "the gateway's own routes stay"
    );
    let (st, body) = http("GET", gateways[0], "/no/such/path", None, "").await;
    assert_eq!((st, error_of(&body).as_str()), (404, "not found"));

    let (st, body) = http(
        "POST",
        fleet.control_addr,
        "/sim/gateway/rotate-key",
        None,
        "",
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let kid: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(kid["kid"], "sim-ed-2");
    assert!(fleet.iam().jwks_json().contains("sim-ed-2"));
    assert_eq!(me(gateways[0], &token).await.0, 200);
}
