//! `[swarm]`: how the control plane reaches the Docker Engine of a Swarm
//! manager (docs/deployments.md).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SwarmConnectKind {
    /// No Swarm: the deployment doors answer 503 `swarm_unavailable`.
    None,
    /// The local socket (`socket`), e.g. a bind-mounted `/var/run/docker.sock`.
    Socket,
    /// TCP with mutual TLS (`tls_addr` and the three PEM files).
    Tls,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SwarmConfig {
    pub connect: SwarmConnectKind,
    pub socket: PathBuf,
    /// `tcp://manager:2376`.
    pub tls_addr: Option<String>,
    pub tls_ca_file: Option<PathBuf>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// How long one Engine API call may take to answer.
    pub timeout_secs: u64,
    /// How often tasks are re-read (the daemon has no task events).
    pub poll_ms: u64,
    /// How long a rollback waits for the daemon to finish its update and
    /// for the tasks and instances to come up.
    pub update_timeout_secs: u64,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        Self {
            connect: SwarmConnectKind::Socket,
            socket: PathBuf::from("/var/run/docker.sock"),
            tls_addr: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            timeout_secs: 10,
            poll_ms: 2_000,
            update_timeout_secs: 300,
        }
    }
}

impl SwarmConfig {
    /// How to connect, or why the section is incomplete (`key`, reason).
    pub fn connect(&self) -> Result<Option<engine::swarm::SwarmConnect>, (&'static str, String)> {
        use engine::swarm::SwarmConnect;
        Ok(match self.connect {
            SwarmConnectKind::None => None,
            SwarmConnectKind::Socket => Some(SwarmConnect::Socket {
                path: self.socket.clone(),
            }),
            SwarmConnectKind::Tls => {
                let need = |key: &'static str, v: &Option<PathBuf>| {
                    v.clone()
                        .ok_or((key, "required when swarm.connect = \"tls\"".to_owned()))
                };
                Some(SwarmConnect::Tls {
                    addr: self.tls_addr.clone().ok_or((
                        "swarm.tls_addr",
                        "required when swarm.connect = \"tls\"".to_owned(),
                    ))?,
                    ca: need("swarm.tls_ca_file", &self.tls_ca_file)?,
                    cert: need("swarm.tls_cert_file", &self.tls_cert_file)?,
                    key: need("swarm.tls_key_file", &self.tls_key_file)?,
                })
            }
        })
    }
}
