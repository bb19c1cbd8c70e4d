//! What the test suites share, so each suite does not carry its own copy:
//! the gate for real components (a loud SKIPPED line, a failure under
//! `CI=true`), a raw HTTP/1.1 client for talking to simulators exactly as
//! written, `eventually`, and busy cores for concurrency tests.

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether this run must not skip a suite for a missing component.
pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// The value of `var` naming a real component (e.g. `CONTROL_TEST_NATS_URL`,
/// which scripts/test.sh sets after starting nats-server). Missing: a loud
/// SKIPPED line on the real stderr (the harness does not swallow it), or a
/// panic under `CI=true`.
pub fn component(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                !under_ci(),
                "{test}: {var} is not set under CI=true; this suite must run"
            );
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED {test}: {var} not set (scripts/test.sh provides it) ***\n"
            );
            None
        }
    }
}

/// A real component's binary on `PATH` (e.g. `victoria-metrics`, installed
/// by scripts/tools.sh from Debian): missing, the same loud SKIPPED line or
/// failure under `CI=true` as [`component`].
pub fn binary(name: &str, test: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            !under_ci(),
            "{test}: `{name}` is not on PATH under CI=true; this suite must run"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: `{name}` not on PATH (scripts/tools.sh test installs it) ***\n"
        );
    }
    found
}

/// A child process killed (and reaped) when the guard drops, so a failing
/// test leaves no server behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Docker Engine (a Swarm manager) for suites that need one: a socket
/// path (`/var/run/docker.sock`), set by scripts/test.sh after it started
/// dockerd and `docker swarm init`.
pub fn docker_socket(test: &str) -> Option<String> {
    component("CONTROL_TEST_DOCKER_SOCKET", test)
}

/// The NATS server for suites that need one.
pub fn nats_url(test: &str) -> Option<String> {
    component("CONTROL_TEST_NATS_URL", test)
}

/// Polls `f` every 25 ms until it gives a value; panics naming `what` after
/// `deadline`.
pub async fn eventually<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One HTTP/1.1 exchange written by hand (`Connection: close`), with a
/// 5 s limit: the status and the body, or why there was none.
pub async fn http(
    method: &str,
    addr: SocketAddr,
    path: &str,
    body: &str,
) -> Result<(u16, String), String> {
    request(method, addr, path, None, body).await
}

/// `http` with an optional bearer token.
pub async fn request(
    method: &str,
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> Result<(u16, String), String> {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    request_with(method, addr, path, &headers, body).await
}

/// `http` with extra request headers.
pub async fn request_with(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), String> {
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let run = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or("no status")?;
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .map_err(|_| "timeout".to_owned())?
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command for a binary under test that does not see the harness's own
/// `CONTROL_*` settings (scripts/test.sh sets some).
pub fn command_without_control_env(bin: &str) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("CONTROL_") {
            c.env_remove(k);
        }
    }
    c
}

/// Keeps every core busy while it lives (one spinning process per core,
/// outside the test's runtime): races an idle machine hides show up.
pub struct BusyCores(Vec<std::process::Child>);

impl BusyCores {
    pub fn start() -> Self {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self(
            (0..n)
                .filter_map(|_| {
                    std::process::Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .stdout(std::process::Stdio::null())
                        .spawn()
                        .ok()
                })
                .collect(),
        )
    }
}

impl Drop for BusyCores {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
