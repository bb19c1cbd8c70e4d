#![allow(dead_code)] // each test binary uses a different subset

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use engine::RunMode;
use http_body_util::BodyExt;
use server::config::Config;
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub state: server::state::AppState,
    /// The simulated Gateway this app trusts (real HTTP on loopback).
    pub iam: sim::Iam,
    /// A platform admin's token; `get` sends it.
    pub admin: String,
    pub _gateway: tokio::task::JoinHandle<()>,
    pub _dir: tempfile::TempDir,
}

pub async fn app() -> TestApp {
    app_with(|_| {}).await
}

/// The dev seed plus `nobody`, a user without any role.
pub fn iam_config() -> sim::IamConfig {
    let mut cfg = sim::IamConfig::default();
    cfg.users.push(sim::DevUser {
        id: "u-nobody".into(),
        username: "nobody".into(),
        display_name: "No Body".into(),
        password: "nobody-dev-password".into(),
        roles: vec![],
    });
    cfg
}

pub async fn app_with(f: impl FnOnce(&mut Config)) -> TestApp {
    app_with_iam(iam_config(), f).await
}

pub async fn app_with_iam(iam_cfg: sim::IamConfig, f: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let iam = sim::Iam::new(iam_cfg);
    let (addr, gateway) = iam.serve(([127, 0, 0, 1], 0).into()).await.unwrap();
    let mut config = Config::default();
    config.store.data_dir = dir.path().to_path_buf();
    config.auth.gateway_url = Some(format!("http://{addr}"));
    config.auth.cookie_secure = false;
    // No Docker Engine unless a suite asks for one (server/tests/deploy.rs).
    config.swarm.connect = server::config::SwarmConnectKind::None;
    f(&mut config);
    let state = server::build_state(config, RunMode::Dev).await.unwrap();
    let admin = iam
        .login("admin", "admin-dev-password")
        .unwrap()
        .access_token;
    TestApp {
        router: server::router(state.clone()),
        state,
        iam,
        admin,
        _gateway: gateway,
        _dir: dir,
    }
}

/// A simulated fleet and a control plane reading its dev files, with the
/// suite's own settings on top.
pub async fn with_fleet(
    topo: &sim::Topology,
    f: impl FnOnce(&mut Config),
) -> (TestApp, sim::Fleet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fleet = sim::Fleet::start(topo, &dir.path().join("config"), 0)
        .await
        .unwrap();
    let (p, r) = (fleet.placement_path.clone(), fleet.routing_path.clone());
    let app = app_with(move |c| {
        c.fleet.source = server::config::FleetSource::File;
        c.fleet.placement_file = p;
        c.fleet.routing_file = r;
        f(c);
    })
    .await;
    (app, fleet, dir)
}

impl TestApp {
    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(req).await.unwrap()
    }

    /// Sends as the platform admin.
    pub async fn send_admin(&self, mut req: Request<Body>) -> Response<Body> {
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.admin).parse().unwrap(),
        );
        self.send(req).await
    }

    /// `GET /admin/v1/tenants/{tenant}` as the admin, with `x-tenant-id`.
    pub async fn get_tenant(&self, tenant: &str, header: Option<&str>) -> Response<Body> {
        let mut req = Request::get(format!("/admin/v1/tenants/{tenant}"));
        if let Some(h) = header {
            req = req.header("x-tenant-id", h);
        }
        self.send_admin(req.body(Body::empty()).unwrap()).await
    }

    /// GET as the platform admin.
    pub async fn get(&self, uri: &str) -> Response<Body> {
        self.get_as(uri, &self.admin).await
    }

    pub async fn get_as(&self, uri: &str, token: &str) -> Response<Body> {
        self.send(
            Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// GET without credentials.
    pub async fn get_anon(&self, uri: &str) -> Response<Body> {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// A fresh session's token for a dev user (`admin`, `operator`,
    /// `viewer`, `nobody`).
    pub fn login(&self, username: &str) -> String {
        self.iam
            .login(username, &format!("{username}-dev-password"))
            .unwrap()
            .access_token
    }

    /// Every audit event so far, oldest first.
    pub async fn audit_events(&self) -> Vec<engine::audit::AuditEvent> {
        self.state
            .engine
            .audit
            .export(&Default::default())
            .await
            .unwrap()
    }
}

pub async fn body_string(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub async fn body_json(res: Response<Body>) -> serde_json::Value {
    let s = body_string(res).await;
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}
