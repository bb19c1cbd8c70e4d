//! The control plane's own identity and health, shared by the REST status
//! route and the Settings page's server function.

use crate::readiness::Readiness;
use model::{BuildInfo, ReadyReport, ServerStatus};
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// `control dev`: embedded store, local data dir.
    Dev,
    /// `control serve`: every setting from config.
    Serve,
}

impl RunMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Serve => "serve",
        }
    }
}

pub struct ControlPlane {
    build: BuildInfo,
    mode: RunMode,
    store_backend: String,
    started: Instant,
    readiness: Readiness,
}

impl ControlPlane {
    pub fn new(
        build: BuildInfo,
        mode: RunMode,
        store_backend: impl Into<String>,
        readiness: Readiness,
    ) -> Self {
        Self {
            build,
            mode,
            store_backend: store_backend.into(),
            started: Instant::now(),
            readiness,
        }
    }

    pub fn build(&self) -> &BuildInfo {
        &self.build
    }

    pub async fn readiness(&self) -> ReadyReport {
        self.readiness.report().await
    }

    pub async fn status(&self) -> ServerStatus {
        ServerStatus {
            build: self.build.clone(),
            mode: self.mode.as_str().to_owned(),
            store_backend: self.store_backend.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            readiness: self.readiness().await,
        }
    }
}
