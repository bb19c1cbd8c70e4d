//! `[auth]`: token validation, the Gateway, the session cookie, sign-in limits.

use super::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Token validation and the Gateway (docs/permissions.md).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The Gateway's base URL (login, logout, `/iam/me`, IAM pages).
    /// Required by `control serve`; `control dev` points it at the
    /// simulated Gateway.
    pub gateway_url: Option<String>,
    /// Defaults to `<gateway_url>/.well-known/jwks.json` when an
    /// asymmetric algorithm is allowed.
    pub jwks_url: Option<String>,
    /// PEM CA certificates to trust for an https Gateway/JWKS besides the
    /// system roots (an internal CA).
    pub gateway_ca_file: Option<PathBuf>,
    pub issuer: String,
    pub audience: String,
    /// Comma-separated allow-list: HS256, RS256, ES256, EdDSA.
    pub algorithms: String,
    /// Shared secret for HS256 (use `CONTROL_AUTH_HS256_SECRET_FILE`).
    pub hs256_secret: Option<Secret>,
    pub leeway_secs: u64,
    pub max_token_bytes: usize,
    /// A principal's rights are re-read from the Gateway after this long; a
    /// session revoked at the Gateway loses access within it.
    pub principal_cache_ms: u64,
    pub jwks_refresh_secs: u64,
    pub gateway_timeout_ms: u64,
    /// `Secure` + `__Host-` session cookie. Only plain-http localhost dev
    /// turns it off.
    pub cookie_secure: bool,
    /// Extra origins (comma-separated, `https://host[:port]`) accepted for
    /// state-changing browser requests besides the request's own host.
    pub public_origins: String,
    /// Sign-in attempts per minute for one username (also the burst). Strict:
    /// it stops password guessing against one account.
    pub login_per_user_per_minute: u32,
    /// Sign-in attempts per minute from one source address (also the
    /// burst). Generous: every operator behind one ingress shares it.
    pub login_per_source_per_minute: u32,
    /// The header holding the client address as set by a trusted ingress
    /// (e.g. `x-forwarded-for`, whose last entry is used). Empty: the peer
    /// address; the header is never trusted unless named here.
    pub client_ip_header: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            gateway_url: None,
            jwks_url: None,
            gateway_ca_file: None,
            issuer: "cloudlysis-gateway".into(),
            audience: "cloudlysis-control".into(),
            algorithms: "EdDSA".into(),
            hs256_secret: None,
            leeway_secs: 30,
            max_token_bytes: 8 * 1024,
            principal_cache_ms: 10_000,
            jwks_refresh_secs: 300,
            gateway_timeout_ms: 3_000,
            cookie_secure: true,
            public_origins: String::new(),
            login_per_user_per_minute: 5,
            login_per_source_per_minute: 120,
            client_ip_header: String::new(),
        }
    }
}

impl AuthConfig {
    pub fn algorithm_list(&self) -> Result<Vec<jsonwebtoken::Algorithm>, String> {
        use jsonwebtoken::Algorithm as A;
        let mut out = Vec::new();
        for name in self
            .algorithms
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let alg = match name {
                "HS256" => A::HS256,
                "RS256" => A::RS256,
                "ES256" => A::ES256,
                "EdDSA" => A::EdDSA,
                other => {
                    return Err(format!(
                        "unsupported algorithm {other:?}; one of HS256, RS256, ES256, EdDSA"
                    ))
                }
            };
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
        if out.is_empty() {
            return Err("at least one algorithm is required".into());
        }
        Ok(out)
    }

    pub fn origin_list(&self) -> Vec<String> {
        self.public_origins
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The JWKS URL in use, if any key comes from one.
    pub fn effective_jwks_url(&self) -> Option<String> {
        let asymmetric = self
            .algorithm_list()
            .is_ok_and(|a| a.iter().any(|a| *a != jsonwebtoken::Algorithm::HS256));
        if !asymmetric {
            return None;
        }
        self.jwks_url.clone().or_else(|| {
            self.gateway_url
                .as_ref()
                .map(|g| format!("{}/.well-known/jwks.json", g.trim_end_matches('/')))
        })
    }
}
