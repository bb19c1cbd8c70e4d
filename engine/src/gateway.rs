//! HTTP client for the Gateway's identity and IAM API
//! (docs/platform-contract.md, "Identity and IAM"): http or https (system
//! roots), one deadline per call, request ids forwarded on every hop.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;
use tracing::Instrument;

/// Largest Gateway answer read (IAM lists, JWKS); more is an error.
const MAX_REPLY: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("gateway unreachable: {0}")]
    Unreachable(String),
    #[error("gateway did not answer within {0} ms")]
    Timeout(u64),
    #[error("bad gateway URL: {0}")]
    BadUrl(String),
}

/// A Gateway answer: the status and body exactly as sent (pass-through
/// routes preserve both).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The Gateway's `{"error": ...}` text, or a short excerpt of the body.
    pub fn error_text(&self) -> String {
        serde_json::from_slice::<model::iam::GatewayError>(&self.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect()
            })
    }
}

/// Headers forwarded to the Gateway on one call: the caller's ids (so the
/// hop is traceable) and, for calls on a user's behalf, their token.
#[derive(Clone, Default)]
pub struct Forward {
    pub bearer: Option<String>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    pub traceparent: Option<String>,
    /// A job step's marker (`<job>/<step>`): the target deduplicates on it.
    pub job_step: Option<String>,
    /// The job's lease epoch: the target refuses one older than it has seen.
    pub fencing_token: Option<u64>,
}

impl std::fmt::Debug for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forward")
            .field("bearer", &self.bearer.as_ref().map(|_| "[redacted]"))
            .field("request_id", &self.request_id)
            .field("correlation_id", &self.correlation_id)
            .field("job_step", &self.job_step)
            .field("fencing_token", &self.fencing_token)
            .finish()
    }
}

/// System roots plus the CAs of `ca_file`; at least one root is needed.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, GatewayError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, not fatal.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let bad = |e: String| GatewayError::BadUrl(format!("CA file {}: {e}", path.display()));
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(bad("no certificate in it".into()));
        }
    }
    if roots.is_empty() {
        return Err(GatewayError::BadUrl(
            "no TLS roots: no system certificates and no CA file".into(),
        ));
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    .map_err(|e| GatewayError::BadUrl(format!("TLS setup: {e}")))
}

#[derive(Clone)]
pub struct GatewayClient {
    base: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl GatewayClient {
    /// `base` is `http(s)://host[:port]` (a trailing `/` is dropped);
    /// https is verified against the system roots.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, GatewayError> {
        Self::with_ca(base, timeout, None)
    }

    /// Like `new`, also trusting the CA certificates in `ca_file` (PEM): a
    /// Gateway behind an internal CA.
    pub fn with_ca(
        base: &str,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Self, GatewayError> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: Uri = base
            .parse()
            .map_err(|e| GatewayError::BadUrl(format!("{base}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(GatewayError::BadUrl(format!(
                "{base}: expected http(s)://host[:port]"
            )));
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(ca_file)?)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base,
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Calls `path` (with query) on the Gateway.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        fwd: &Forward,
        json: Option<Vec<u8>>,
    ) -> Result<Reply, GatewayError> {
        self.call_url(method, &format!("{}{path}", self.base), fwd, json)
            .await
    }

    /// Calls an absolute URL (the JWKS may live elsewhere).
    pub async fn call_url(
        &self,
        method: Method,
        url: &str,
        fwd: &Forward,
        json: Option<Vec<u8>>,
    ) -> Result<Reply, GatewayError> {
        let req_method = method.clone();
        let mut req = Request::builder().method(method).uri(url);
        let headers = req
            .headers_mut()
            .ok_or_else(|| GatewayError::BadUrl(url.chars().take(200).collect()))?;
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let mut put = |name: &'static str, v: &Option<String>| {
            if let Some(v) = v.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                headers.insert(name, v);
            }
        };
        let span = crate::telemetry::outbound(req_method.as_str(), url);
        put("x-request-id", &fwd.request_id);
        put("x-correlation-id", &fwd.correlation_id);
        put(
            "traceparent",
            &crate::telemetry::downstream(&span, fwd.traceparent.as_deref()),
        );
        put("x-job-step", &fwd.job_step);
        put("x-fencing-token", &fwd.fencing_token.map(|t| t.to_string()));
        if let Some(b) = &fwd.bearer {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {b}")) {
                headers.insert(http::header::AUTHORIZATION, v);
            }
        }
        let body = match json {
            Some(b) => {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                Full::new(Bytes::from(b))
            }
            None => Full::new(Bytes::new()),
        };
        let req = req
            .body(body)
            .map_err(|e| GatewayError::BadUrl(e.to_string()))?;
        let ms = self.timeout.as_millis() as u64;
        let work = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| GatewayError::Unreachable(e.to_string()))?;
            let status = res.status().as_u16();
            span.record("http.response.status_code", status);
            let limited = http_body_util::Limited::new(res.into_body(), MAX_REPLY);
            let body = limited
                .collect()
                .await
                .map_err(|e| GatewayError::Unreachable(format!("reading the answer: {e}")))?
                .to_bytes();
            Ok(Reply { status, body })
        };
        tokio::time::timeout(self.timeout, work.instrument(span.clone()))
            .await
            .map_err(|_| GatewayError::Timeout(ms))?
    }
}
