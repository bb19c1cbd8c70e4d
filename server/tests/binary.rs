//! The real `control` binary: healthcheck exit codes, SIGTERM shutdown,
//! configuration errors at start.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_control");

use test_support::free_port;

fn control() -> Command {
    test_support::command_without_control_env(BIN)
}

/// `control serve` on the embedded store: what a production build runs.
/// The Gateway address leads nowhere; liveness and readiness do not need it.
fn start_serve(port: u16, dir: &std::path::Path) -> Child {
    control()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("CONTROL_STORE_DATA_DIR", dir)
        .env("CONTROL_AUTH_GATEWAY_URL", "http://127.0.0.1:9")
        .env("CONTROL_AUDIT_HMAC_KEY", "k".repeat(32))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn healthcheck(port: u16, ready: bool) -> bool {
    let mut c = control();
    c.args([
        "healthcheck",
        "--addr",
        &format!("127.0.0.1:{port}"),
        "--timeout-ms",
        "500",
    ]);
    if ready {
        c.arg("--ready");
    }
    c.stderr(Stdio::null()).status().unwrap().success()
}

fn wait_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn healthcheck_follows_the_server_and_sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    assert!(!healthcheck(port, false), "nothing listens yet");
    let mut child = start_serve(port, dir.path());
    assert!(
        wait_until(Duration::from_secs(20), || healthcheck(port, false)),
        "server did not come up"
    );
    assert!(healthcheck(port, true));

    let sent = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let mut status = None;
    assert!(wait_until(Duration::from_secs(12), || {
        status = child.try_wait().unwrap();
        status.is_some()
    }));
    assert!(status.unwrap().success(), "exit after SIGTERM: {status:?}");
    assert!(sent.elapsed() < Duration::from_secs(11));
    assert!(
        !healthcheck(port, false),
        "server still answering after exit"
    );
}

#[test]
fn bad_configuration_stops_the_start_and_names_the_key() {
    let out = control()
        .args(["serve"])
        .env("CONTROL_SERVER_LISTEN", "nowhere")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CONTROL_SERVER_LISTEN"), "{err}");

    let out = control()
        .args(["serve"])
        .env("CONTROL_LOG_LEVLE", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONTROL_LOG_LEVLE"));
}

#[test]
fn version_includes_the_git_sha() {
    let out = control().arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(
        v.contains(server::VERSION) && v.contains(server::GIT_SHA),
        "{v}"
    );
}

#[test]
fn a_missing_gateway_ca_file_stops_the_start_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = control()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CONTROL_STORE_DATA_DIR", dir.path())
        .env("CONTROL_AUTH_GATEWAY_URL", "https://gateway.internal:8443")
        .env("CONTROL_AUTH_GATEWAY_CA_FILE", "/nonexistent/ca.pem")
        .env("CONTROL_AUDIT_HMAC_KEY", "k".repeat(32))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.gateway_ca_file") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

#[test]
fn serve_needs_a_gateway_and_an_audit_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = control()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CONTROL_STORE_DATA_DIR", dir.path())
        .env("CONTROL_AUDIT_HMAC_KEY", "k".repeat(32))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.gateway_url"));
    let out = control()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("CONTROL_STORE_DATA_DIR", dir.path())
        .env("CONTROL_AUTH_GATEWAY_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("audit.hmac_key"), "{err}");
}

#[cfg(not(feature = "dev"))]
#[test]
fn dev_without_the_feature_exits_2_and_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = control()
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--features dev") && err.contains("make dev"),
        "{err}"
    );
    assert!(!err.contains("password"), "{err}");
    // Nothing was started or written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[cfg(feature = "dev")]
#[test]
fn dev_starts_the_simulated_fleet_and_names_the_dev_users() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = control()
        .args([
            "dev",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--sim-tenants",
            "5",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = wait_until(Duration::from_secs(20), || healthcheck(port, true));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(up, "control dev did not become ready");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("simulated fleet") && err.contains("admin-dev-password"),
        "{err}"
    );
}
