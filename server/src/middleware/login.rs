//! The sign-in door, `POST /api/auth/login`:
//! - a rate limit per username (strict: it stops guessing one account's
//!   password) and per source address (generous: every operator behind one
//!   ingress address shares it). A throttled attempt is audited and answered
//!   429 `rate_limited` with `Retry-After`; it never reaches the Gateway.
//! - the form without JavaScript (a form-encoded POST that accepts HTML, as
//!   a browser sends before or without hydration) gets 303 redirects: to
//!   `next` on success, back to `/login?error=<code>` on any failure. It
//!   never lands on a JSON body.

use crate::config::AuthConfig;
use crate::error::ApiError;
use crate::middleware::authz::caller_for;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::audit::AuditLog;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use model::audit::Outcome;
use model::{ErrorBody, ErrorCode};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub const LOGIN_PATH: &str = "/api/auth/login";
/// A sign-in form is three short fields.
const MAX_FORM: usize = 16 * 1024;
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Above this many remembered keys, keys back at a full bucket are dropped
/// (bounds memory when many usernames or addresses are tried).
const PRUNE_ABOVE: usize = 10_000;
const MAX_USER_KEY: usize = 64;

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

#[derive(Clone)]
pub struct LoginGuard {
    per_user: Arc<Keyed>,
    per_source: Arc<Keyed>,
    client_ip_header: Option<HeaderName>,
    audit: Arc<AuditLog>,
}

fn per_minute(n: u32) -> Quota {
    // Config validation refuses 0; 1 is the floor should it not run.
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl LoginGuard {
    pub fn new(cfg: &AuthConfig, audit: Arc<AuditLog>) -> Self {
        Self {
            per_user: Arc::new(RateLimiter::keyed(per_minute(
                cfg.login_per_user_per_minute,
            ))),
            per_source: Arc::new(RateLimiter::keyed(per_minute(
                cfg.login_per_source_per_minute,
            ))),
            client_ip_header: (!cfg.client_ip_header.is_empty())
                .then(|| HeaderName::try_from(cfg.client_ip_header.as_str()).ok())
                .flatten(),
            audit,
        }
    }

    /// The client address: the configured ingress header's last entry (the
    /// one the trusted ingress wrote) when configured and well-formed, else
    /// the TCP peer.
    fn source(&self, h: &HeaderMap, peer: Option<SocketAddr>) -> String {
        let forwarded = self.client_ip_header.as_ref().and_then(|name| {
            h.get_all(name)
                .iter()
                .next_back()?
                .to_str()
                .ok()?
                .rsplit(',')
                .next()?
                .trim()
                .parse::<IpAddr>()
                .ok()
        });
        match forwarded.or(peer.map(|p| p.ip())) {
            Some(ip) => ip.to_string(),
            None => "unknown".to_owned(),
        }
    }

    /// `Some(wait)` when this attempt is over a limit. The source bucket is
    /// asked first, so an attempt it refuses does not charge the user's.
    fn check(&self, source: &str, user: Option<&str>) -> Option<(Duration, &'static str)> {
        if let Err(n) = take(&self.per_source, source) {
            return Some((n, "too many sign-in attempts from this address"));
        }
        if let Some(u) = user {
            if let Err(n) = take(&self.per_user, u) {
                return Some((n, "too many sign-in attempts for this user"));
            }
        }
        None
    }
}

fn take(limiter: &Keyed, key: &str) -> Result<(), Duration> {
    let res = limiter
        .check_key(&key.to_owned())
        .map_err(|n| n.wait_time_from(limiter.clock().now()));
    if limiter.len() > PRUNE_ABOVE {
        limiter.retain_recent();
    }
    res
}

fn header(h: &HeaderMap, name: HeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// What a browser sends for a plain `<form>` submit: form-encoded, and
/// HTML accepted. The app's own client asks for JSON.
fn is_no_js_form(h: &HeaderMap) -> bool {
    header(h, CONTENT_TYPE).starts_with("application/x-www-form-urlencoded")
        && header(h, ACCEPT).contains("text/html")
}

struct LoginForm {
    /// Trimmed, lowercased, capped: one bucket per account however typed.
    user: Option<String>,
    next: String,
}

fn parse_form(body: &[u8]) -> LoginForm {
    let mut user = None;
    let mut next = String::new();
    for (k, v) in form_urlencoded::parse(body) {
        match &*k {
            "username" => {
                let u: String = v.trim().to_lowercase().chars().take(MAX_USER_KEY).collect();
                user = (!u.is_empty()).then_some(u);
            }
            "next" => next = v.into_owned(),
            _ => {}
        }
    }
    LoginForm {
        user,
        next: app::shell::api::safe_next(&next),
    }
}

fn redirect(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// Back to the sign-in page with the error's code (the page shows its own
/// text for it: nothing from the query string is rendered).
fn back_to_login(code: ErrorCode, next: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("error", code.as_str())
        .append_pair("next", next)
        .finish();
    redirect(&format!("/login?{q}"))
}

fn rate_limited(wait: Duration, message: &str) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut res = ApiError::new(
        ErrorCode::RateLimited,
        format!("{message}; try again in {} s", secs.max(1)),
    )
    .into_response();
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    res
}

pub async fn login_guard(State(g): State<LoginGuard>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || req.uri().path() != LOGIN_PATH {
        return next.run(req).await;
    }
    let no_js = is_no_js_form(req.headers());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let (mut parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return if no_js {
            back_to_login(ErrorCode::PayloadTooLarge, "/")
        } else {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body too large").into_response()
        };
    };
    let form = parse_form(&bytes);
    let source = g.source(&parts.headers, peer);
    if no_js {
        // The server function then answers as to its own client (status +
        // JSON error), which is turned into a redirect below.
        parts
            .headers
            .insert(ACCEPT, HeaderValue::from_static("application/json"));
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    if let Some((wait, why)) = g.check(&source, form.user.as_deref()) {
        let target = match form.user.as_deref() {
            Some(u) if model::iam::check_iam_id("user", u).is_ok() => format!("user/{u}"),
            _ => "user/(not an id)".to_owned(),
        };
        let rec = caller_for(&req, None, None).record(
            "auth.login",
            target,
            Some(format!("rate limited: {why}")),
            Outcome::Denied,
        );
        g.audit.append_or_log(rec).await;
        tracing::info!(source = %source, reason = why, "sign-in throttled");
        return if no_js {
            back_to_login(ErrorCode::RateLimited, &form.next)
        } else {
            rate_limited(wait, why)
        };
    }
    let res = next.run(req).await;
    if no_js {
        no_js_answer(res, &form.next).await
    } else {
        res
    }
}

/// Success: 303 to `next`, keeping the session cookie. Failure: 303 back to
/// the sign-in page with the error's code.
async fn no_js_answer(res: Response, next: &str) -> Response {
    let status = res.status();
    if status.is_success() || status.is_redirection() {
        let mut out = redirect(next);
        for c in res.headers().get_all(SET_COOKIE) {
            out.headers_mut().append(SET_COOKIE, c.clone());
        }
        return out;
    }
    let body = axum::body::to_bytes(res.into_body(), MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    let code = serde_json::from_slice::<ErrorBody>(&body)
        .map(|b| b.code)
        .unwrap_or_else(|_| crate::error::code_for_status(status));
    back_to_login(code, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_without_trusting_them() {
        let f = parse_form(b"username=%20Operator%20&password=x&next=%2F%2Fevil.example");
        assert_eq!(f.user.as_deref(), Some("operator"));
        assert_eq!(f.next, "/");
        let f = parse_form(b"password=x&next=%2Ftenants%3Fq%3Da");
        assert_eq!(f.user, None);
        assert_eq!(f.next, "/tenants?q=a");
        let long = format!("username={}", "a".repeat(1000));
        assert_eq!(
            parse_form(long.as_bytes()).user.unwrap().len(),
            MAX_USER_KEY
        );
    }

    #[test]
    fn only_plain_form_posts_are_no_js() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!is_no_js_form(&h));
        h.insert(
            ACCEPT,
            HeaderValue::from_static("text/html,application/xhtml+xml,*/*;q=0.8"),
        );
        assert!(is_no_js_form(&h));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_no_js_form(&h));
    }

    #[test]
    fn the_error_page_gets_the_code_never_a_message() {
        let r = back_to_login(ErrorCode::RateLimited, "/tenants?q=a b");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[LOCATION],
            "/login?error=rate_limited&next=%2Ftenants%3Fq%3Da+b"
        );
    }
}
