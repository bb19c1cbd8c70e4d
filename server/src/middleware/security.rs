//! Security headers. Every response: nosniff and no-referrer. HTML responses
//! also get a CSP whose script nonce is the one this render used (handed over
//! by the app in an internal header that is removed here), and are refused
//! framing.

use axum::extract::Request;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
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

pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    let nonce = headers
        .remove(app::CSP_NONCE_HEADER)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .filter(|n| is_nonce(n));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
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
