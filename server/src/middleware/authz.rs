//! Authentication, rights, CSRF and tenant scope for every request, by the
//! policy table in `model::policy` (deny by default: a path without an
//! entry is refused). Passes a `Caller` to handlers and server functions.
//!
//! - Tokens come from `Authorization: Bearer` or the session cookie, never
//!   from the query string.
//! - 401 `unauthenticated` / 403 `forbidden` carry the same body whatever
//!   check failed; the reason is logged, not sent.
//! - A signed-in caller refused for a missing right is audited.
//! - State-changing requests must come from this site (Origin or
//!   Sec-Fetch-Site), and with the session cookie also carry `x-control-csrf`.

use crate::error::ApiError;
use crate::metrics::Refusal;
use crate::middleware::ids::RequestIds;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, LOCATION, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use engine::gateway::Forward;
use engine::identity::{AuthError, Caller, Identity};
use model::audit::Outcome;
use model::fleet::TenantId;
use model::policy::{self, Access, Policy, Scope};
use model::rights::CSRF_HEADER;
use model::ErrorCode;
use std::sync::Arc;

pub const TENANT_HEADER: &str = "x-tenant-id";

/// Who a request was made by, handed to the request log line on the
/// response (empty when nobody signed in).
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub principal: String,
    pub tenant: String,
}

/// Where a token came from: the cookie is ambient (the browser sends it
/// by itself), so only cookie requests need the CSRF header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Bearer,
    Cookie,
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn token<'a>(h: &'a HeaderMap, cookie_name: &str) -> Option<(&'a str, Source)> {
    bearer(h)
        .map(|t| (t, Source::Bearer))
        .or_else(|| cookie(h, cookie_name).map(|t| (t, Source::Cookie)))
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a state-changing request may come from where it says it comes
/// from. Non-browser clients send neither header and pass; browsers always
/// send one of them on a POST. An `Origin` must equal, in scheme, host and
/// port, one of `allowed` (`auth.public_origins`) or this request's own
/// origin: the `Host` header with `own_scheme`, which comes from config
/// (`https` when the cookie is `Secure`), not from a proxy header.
/// `Origin: null` (opaque: a sandboxed frame, a `data:` page, a
/// `no-referrer` form) never passes.
fn same_site(h: &HeaderMap, allowed: &[String], own_scheme: &str) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(origin) = h.get(ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else {
        return false;
    };
    if allowed
        .iter()
        .filter_map(|a| Origin::parse(a))
        .any(|a| a == origin)
    {
        return true;
    }
    let own = h
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|host| Origin::parse(&format!("{own_scheme}://{host}")));
    own.is_some_and(|own| own == origin)
}

/// A web origin, compared by scheme, host and port (the scheme's default
/// port filled in, so `https://h` equals `https://h:443`).
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn parse(s: &str) -> Option<Self> {
        let uri: axum::http::Uri = s.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        // An origin is scheme://host[:port]: no user info, path or query.
        let authority = uri.authority()?;
        if authority.as_str().contains('@')
            || uri.path_and_query().is_some_and(|p| p.as_str() != "/")
            || s.ends_with('/')
        {
            return None;
        }
        Some(Self {
            scheme,
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(default_port),
        })
    }
}

fn unauthenticated() -> Response {
    ApiError::new(ErrorCode::Unauthenticated, "authentication required").into_response()
}

fn forbidden() -> Response {
    ApiError::new(ErrorCode::Forbidden, "not allowed").into_response()
}

fn is_page(path: &str) -> bool {
    !(path.starts_with("/admin/") || path == "/admin" || path.starts_with("/api/"))
}

/// Browsers asking for a page are sent to the login page instead of a 401.
fn login_redirect(path_and_query: &str) -> Response {
    let next: String = path_and_query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/login?next={next}")) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

pub(crate) fn caller_for(
    req: &Request,
    identity: Option<Arc<Identity>>,
    tenant: Option<String>,
) -> Caller {
    let ids = req.extensions().get::<RequestIds>();
    Caller {
        identity,
        request_id: ids.map(|i| i.request_id.to_string()).unwrap_or_default(),
        correlation_id: ids
            .map(|i| i.correlation_id.to_string())
            .unwrap_or_default(),
        traceparent: ids.map(|i| i.trace.to_string()).unwrap_or_default(),
        trace_id: ids
            .map(|i| i.trace.trace_id.to_string())
            .unwrap_or_default(),
        tenant,
    }
}

/// `x-tenant-id` for a tenant-scoped policy: required, well-formed, and
/// equal to the `{tenant}` path segment when there is one.
fn tenant_scope(p: &Policy, path: &str, h: &HeaderMap) -> Result<Option<String>, ApiError> {
    if p.scope != Scope::Tenant {
        return Ok(None);
    }
    let raw = h
        .get(TENANT_HEADER)
        .ok_or_else(|| ApiError::new(ErrorCode::TenantRequired, "x-tenant-id is required"))?
        .to_str()
        .map_err(|_| ApiError::new(ErrorCode::BadTenantId, "x-tenant-id is not a tenant id"))?;
    let t = TenantId::parse(raw).map_err(|e| ApiError::new(ErrorCode::BadTenantId, e.message))?;
    let rel = path.strip_prefix(policy::REST_PREFIX).unwrap_or(path);
    if let Some(in_path) = policy::path_param(p.path, rel, "tenant") {
        if in_path != t.as_str() {
            return Err(ApiError::new(
                ErrorCode::TenantMismatch,
                "x-tenant-id does not match the tenant in the path",
            ));
        }
    }
    Ok(Some(t.as_str().to_owned()))
}

pub async fn authorize(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let found = policy::lookup(method.as_str(), &path);
    // Probes and static files: no credential is looked at.
    if found.is_some_and(|p| policy::PUBLIC.contains(p)) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let own_scheme = if state.session.cookie_secure {
        "https"
    } else {
        "http"
    };
    if is_unsafe(&method) && !same_site(headers, &state.auth_origins, own_scheme) {
        tracing::info!(path = %path, "cross-site state-changing request refused");
        state.metrics.refused(Refusal::CrossSite);
        return ApiError::new(ErrorCode::CrossSite, "cross-site request refused").into_response();
    }
    let cookie_name = state.session.cookie_name();
    let presented = token(headers, cookie_name).map(|(t, s)| (t.to_owned(), s));
    if presented
        .as_ref()
        .is_some_and(|(_, s)| *s == Source::Cookie)
        && is_unsafe(&method)
        && headers.get(CSRF_HEADER).is_none()
        && found.is_some_and(|p| p.access != Access::Public)
    {
        tracing::info!(path = %path, "cookie request without the CSRF header refused");
        state.metrics.refused(Refusal::CrossSite);
        return ApiError::new(ErrorCode::CrossSite, "cross-site request refused").into_response();
    }
    let fwd = {
        let c = caller_for(&req, None, None);
        Forward {
            bearer: None,
            ..c.forward()
        }
    };
    let identity = match &presented {
        Some((t, _)) => match state.engine.auth.authenticate(t, &fwd).await {
            Ok(i) => Some(i),
            Err(AuthError::Unauthenticated(why)) => {
                tracing::info!(path = %path, reason = %why, "credentials refused");
                state.metrics.refused(Refusal::BadCredentials);
                None
            }
            Err(e @ AuthError::Unavailable(_)) => {
                tracing::warn!(path = %path, error = %e, "cannot check credentials");
                state.metrics.refused(Refusal::IdentityUnavailable);
                // A public page (the login page) still renders, anonymously.
                if !found.is_some_and(|p| p.access == Access::Public) {
                    return ApiError::from(e).into_response();
                }
                None
            }
        },
        None => None,
    };
    let Some(p) = found else {
        // Deny by default: unknown API paths are 404 only for a signed-in
        // caller; unknown pages render the not-found page for one.
        return match (&identity, is_page(&path)) {
            (None, true) => login_redirect(&path_and_query(&req)),
            (None, false) => unauthenticated(),
            (Some(_), true) => {
                // The not-found page still shows who is signed in.
                let caller = caller_for(&req, identity.clone(), None);
                req.extensions_mut().insert(caller);
                next.run(req).await
            }
            (Some(_), false) if policy::path_known(&path) => ApiError::new(
                ErrorCode::MethodNotAllowed,
                "method not allowed on this route",
            )
            .into_response(),
            (Some(_), false) => ApiError::new(ErrorCode::NotFound, "no such route").into_response(),
        };
    };
    let needed = match p.access {
        Access::Public => None,
        Access::Authenticated | Access::Need(_) if identity.is_none() => {
            if presented.is_none() {
                state.metrics.refused(Refusal::NoCredentials);
            }
            return if is_page(&path) && method == Method::GET {
                login_redirect(&path_and_query(&req))
            } else {
                unauthenticated()
            };
        }
        Access::Authenticated => None,
        Access::Need(r) => Some(r),
    };
    // Rights before tenant scope: a caller without the right learns
    // nothing about what else the route would check.
    if let (Some(right), Some(id)) = (needed, &identity) {
        if !id.allows(right) {
            let caller = caller_for(&req, identity.clone(), None);
            let rec = caller.record(&p.action(), path.clone(), None, Outcome::Denied);
            state.engine.audit.append_or_log(rec).await;
            tracing::info!(path = %path, right = %right, sub = %id.principal.sub, "right missing");
            state.metrics.refused(Refusal::Forbidden);
            let mut res = forbidden();
            res.extensions_mut().insert(Who {
                principal: id.principal.sub.clone(),
                tenant: String::new(),
            });
            return res;
        }
    }
    let tenant = match tenant_scope(p, &path, req.headers()) {
        Ok(t) => t,
        Err(e) => {
            state.metrics.refused(Refusal::TenantScope);
            return e.into_response();
        }
    };
    let caller = caller_for(&req, identity.clone(), tenant);
    let who = Who {
        principal: identity
            .as_ref()
            .map(|i| i.principal.sub.clone())
            .unwrap_or_default(),
        tenant: caller.tenant.clone().unwrap_or_default(),
    };
    req.extensions_mut().insert(caller);
    let mut res = next.run(req).await;
    res.extensions_mut().insert(who);
    res
}

fn path_and_query(req: &Request) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        assert_eq!(
            token(&h(&[("authorization", "Bearer abc")]), "c"),
            Some(("abc", Source::Bearer))
        );
        assert_eq!(
            token(&h(&[("authorization", "bearer  abc ")]), "c"),
            Some(("abc", Source::Bearer))
        );
        assert_eq!(token(&h(&[("authorization", "Basic abc")]), "c"), None);
        assert_eq!(token(&h(&[("authorization", "Bearer ")]), "c"), None);
        assert_eq!(
            token(&h(&[("cookie", "a=1; c=tok; d=2")]), "c"),
            Some(("tok", Source::Cookie))
        );
        assert_eq!(token(&h(&[("cookie", "cc=tok")]), "c"), None);
    }

    #[test]
    fn only_this_site_may_change_state() {
        let allowed = vec!["https://control.example".to_owned()];
        let ok = |pairs: &[(&'static str, &str)], scheme| same_site(&h(pairs), &allowed, scheme);
        assert!(ok(&[], "https"));
        assert!(ok(
            &[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000")
            ],
            "http"
        ));
        assert!(ok(&[("origin", "https://control.example")], "http"));
        assert!(ok(&[("origin", "https://control.example:443")], "http"));
        assert!(ok(
            &[("origin", "https://ops.example"), ("host", "ops.example")],
            "https"
        ));
        assert!(ok(
            &[("origin", "http://ops.example"), ("host", "ops.example:80")],
            "http"
        ));
        assert!(!ok(
            &[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:3000")
            ],
            "http"
        ));
        // Scheme and port count, not only the host.
        assert!(!ok(
            &[("origin", "https://ops.example"), ("host", "ops.example")],
            "http"
        ));
        assert!(!ok(
            &[("origin", "http://ops.example"), ("host", "ops.example")],
            "https"
        ));
        assert!(!ok(
            &[
                ("origin", "http://ops.example:8080"),
                ("host", "ops.example")
            ],
            "http"
        ));
        assert!(!ok(&[("origin", "http://control.example")], "http"));
        assert!(!ok(&[("origin", "https://control.example:8443")], "https"));
        assert!(!ok(
            &[("origin", "http://a@ops.example"), ("host", "ops.example")],
            "http"
        ));
        assert!(!ok(&[("origin", "null"), ("host", "ops.example")], "http"));
        assert!(!ok(&[("sec-fetch-site", "cross-site")], "http"));
        assert!(!ok(&[("sec-fetch-site", "same-site")], "http"));
        assert!(ok(&[("sec-fetch-site", "same-origin")], "http"));
    }

    #[test]
    fn redirects_keep_the_page_encoded() {
        let r = login_redirect("/tenants?q=a b&x=//evil");
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[LOCATION],
            "/login?next=/tenants%3Fq%3Da%20b%26x%3D//evil"
        );
    }
}
