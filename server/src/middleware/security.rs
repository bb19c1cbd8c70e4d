//! Security headers. Every response: nosniff, a same-origin referrer
//! policy, a same-origin opener policy, a Permissions-Policy that turns off
//! the powerful features no page uses, and HSTS when the session cookie is
//! `Secure` (the site is served over https). HTML responses also get a CSP
//! whose script nonce is the one this render used (handed over by the app in
//! an internal header that is removed here), and are refused framing.

use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub fn content_security_policy(nonce: Option<&str>) -> String {
    // Without a nonce no inline script may run at all.
    let script = match nonce {
        Some(n) => format!("script-src 'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
        None => "script-src 'self' 'wasm-unsafe-eval'".to_owned(),
    };
    format!(
        "default-src 'self'; {script}; style-src 'self'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn is_nonce(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `same-origin`, not `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` on a form POST (Fetch standard), so the sign-in form
/// without JavaScript would fail the same-origin check. `same-origin` sends
/// the origin (and a referrer) to this site only, and still nothing to
/// others; `Origin: null` stays refused.
pub const REFERRER: &str = "same-origin";

pub const PERMISSIONS_POLICY: &str =
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), \
     geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), \
     publickey-credentials-get=(), usb=(), browsing-topics=()";

/// A year; no `includeSubDomains`: the operator's other hosts under the
/// same domain are not this service's to pin to https.
pub const HSTS: &str = "max-age=31536000";

#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    /// `auth.cookie_secure`: the browser reaches this site over https.
    pub hsts: bool,
}

pub async fn security_headers(
    State(cfg): State<SecurityHeaders>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    let nonce = headers
        .remove(app::CSP_NONCE_HEADER)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .filter(|n| is_nonce(n));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static(REFERRER));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    if cfg.hsts {
        headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    let is_html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if is_html {
        if let Ok(v) = HeaderValue::from_str(&content_security_policy(nonce.as_deref())) {
            headers.insert(CONTENT_SECURITY_POLICY, v);
        }
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_has_nonce_and_no_unsafe_inline() {
        let p = content_security_policy(Some("abc123"));
        assert!(p.contains("'nonce-abc123'"));
        assert!(p.contains("'wasm-unsafe-eval'"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!p.contains("unsafe-inline"));
        assert!(!p.contains("'unsafe-eval'"));
        assert!(!content_security_policy(None).contains("nonce"));
    }

    #[test]
    fn only_plain_nonces_are_accepted() {
        assert!(is_nonce("AbC-_09"));
        assert!(!is_nonce("a'; script-src *"));
        assert!(!is_nonce(""));
    }
}
