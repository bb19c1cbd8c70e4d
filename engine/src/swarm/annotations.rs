//! Deploy markers in Grafana: every deploy event the observer sees is
//! written as an annotation through Grafana's HTTP API
//! (`POST /api/annotations` with a service-account token). Writing never
//! holds up observation or a deploy: each runs in its own task, is retried
//! with backoff, and is counted (`control_deploy_annotations_total`).

use crate::gateway::{Forward, GatewayClient};
use backon::{ExponentialBuilder, Retryable};
use serde::Serialize;
use std::time::Duration;

/// Where annotations go.
#[derive(Clone)]
pub struct Grafana {
    client: GatewayClient,
    token: String,
    /// One dashboard's annotation (all its panels); none: an organisation
    /// annotation, found on every dashboard by its tags.
    dashboard_uid: Option<String>,
}

impl std::fmt::Debug for Grafana {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grafana")
            .field("url", &self.client.base())
            .field("token", &"[redacted]")
            .field("dashboard_uid", &self.dashboard_uid)
            .finish()
    }
}

/// The body of `POST /api/annotations` (Grafana HTTP API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    /// Grafana spells it `dashboardUID` (not camel case).
    #[serde(rename = "dashboardUID", skip_serializing_if = "Option::is_none")]
    pub dashboard_uid: Option<String>,
    /// Epoch milliseconds.
    pub time: u64,
    pub tags: Vec<String>,
    pub text: String,
}

impl Grafana {
    pub fn new(
        url: &str,
        token: String,
        dashboard_uid: Option<String>,
    ) -> Result<Self, crate::gateway::GatewayError> {
        Ok(Self {
            client: GatewayClient::new(url, Duration::from_secs(5))?,
            token,
            dashboard_uid,
        })
    }

    pub fn annotation(&self, time: u64, tags: Vec<String>, text: String) -> Annotation {
        Annotation {
            dashboard_uid: self.dashboard_uid.clone(),
            time,
            tags,
            text,
        }
    }

    /// Writes one annotation, retried (5 attempts, 200 ms to 5 s apart);
    /// the error of the last attempt when none succeeded.
    pub async fn write(&self, a: &Annotation) -> Result<(), String> {
        let body = serde_json::to_vec(a).map_err(|e| e.to_string())?;
        let once = || async {
            let fwd = Forward {
                bearer: Some(self.token.clone()),
                ..Forward::default()
            };
            let reply = self
                .client
                .call(
                    http::Method::POST,
                    "/api/annotations",
                    &fwd,
                    Some(body.clone()),
                )
                .await
                .map_err(|e| e.to_string())?;
            if reply.is_success() {
                Ok(())
            } else {
                Err(format!("Grafana answered {}", reply.status))
            }
        };
        once.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(4)
                .with_jitter(),
        )
        .await
    }
}
