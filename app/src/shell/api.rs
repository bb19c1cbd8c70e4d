//! Sign-in and sign-out through the BFF: credentials go to the Gateway;
//! the access token it issues is kept only in an HttpOnly, SameSite=Strict
//! session cookie that scripts cannot read.

use crate::error::AppError;
use leptos::prelude::*;
use model::rights::WhoAmI;

/// Cookie settings (from `[auth]` in the server config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// `Secure` + `__Host-` name; off only for plain-http localhost dev.
    pub cookie_secure: bool,
}

impl SessionSettings {
    pub fn cookie_name(&self) -> &'static str {
        if self.cookie_secure {
            model::rights::SESSION_COOKIE
        } else {
            model::rights::SESSION_COOKIE_INSECURE_DEV
        }
    }

    /// The `Set-Cookie` value holding `token` for `max_age` seconds (0
    /// clears the cookie).
    pub fn set_cookie(&self, token: &str, max_age: u64) -> String {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        format!(
            "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            self.cookie_name()
        )
    }
}

/// Where to go after signing in: a local path only (no `//host`, no
/// scheme), else the overview.
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 512
        && !next.chars().any(|c| c.is_control());
    if ok && !next.starts_with("/login") {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The sign-in page's text for the error code the server put in
/// `/login?error=<code>` after a form sent without JavaScript. Only known
/// codes get their own text: nothing from the URL is shown.
pub fn login_error_message(code: &str) -> &'static str {
    match code {
        "unauthenticated" => "invalid username or password",
        "rate_limited" => "too many sign-in attempts; wait a minute and try again",
        "cross_site" => {
            "the sign-in form was not sent from this site; reload the page and try again"
        }
        "bad_request" => "enter a username and a password",
        "unavailable" | "upstream" | "timeout" => {
            "sign-in is unavailable right now; try again shortly"
        }
        _ => "sign-in failed; try again",
    }
}

#[cfg(feature = "ssr")]
fn set_cookie_header(value: &str) {
    use http::header::{HeaderValue, SET_COOKIE};
    if let (Some(res), Ok(v)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(value),
    ) {
        res.append_header(SET_COOKIE, v);
    }
}

/// Signs in at the Gateway and sets the session cookie.
#[server(client = crate::support::client::IdClient, endpoint = "auth/login")]
pub async fn login(username: String, password: String, next: String) -> Result<(), AppError> {
    use super::guard::{guard, service};
    let caller = guard(<Login as server_fn::ServerFn>::PATH).await?;
    let iam = crate::support::guard::engine()?.iam;
    let session = service::<SessionSettings>()?;
    let req = model::iam::LoginRequest {
        username: username.trim().to_owned(),
        password,
    };
    let ok = iam.login(&caller, &req).await?;
    set_cookie_header(&session.set_cookie(&ok.access_token, ok.expires_in));
    leptos_axum::redirect(&safe_next(&next));
    Ok(())
}

/// Ends the session at the Gateway and clears the cookie (also when the
/// Gateway call fails: the browser forgets the token either way).
#[server(client = crate::support::client::IdClient, endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    use super::guard::{guard, service};
    let caller = guard(<Logout as server_fn::ServerFn>::PATH).await?;
    let iam = crate::support::guard::engine()?.iam;
    let session = service::<SessionSettings>()?;
    set_cookie_header(&session.set_cookie("", 0));
    let res = iam.logout(&caller).await;
    leptos_axum::redirect("/login");
    match res {
        Ok(()) | Err(engine::iam::IamError::Gateway { status: 401, .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The signed-in operator, or `None` on the login page.
#[server(client = crate::support::client::IdClient, endpoint = "auth/whoami")]
pub async fn whoami() -> Result<Option<WhoAmI>, AppError> {
    let caller = super::guard::guard(<Whoami as server_fn::ServerFn>::PATH).await?;
    Ok(caller.identity.map(|i| i.who_am_i()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/tenants?q=a"), "/tenants?q=a");
        assert_eq!(safe_next("//evil.example/x"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil"), "/");
        assert_eq!(safe_next("/login?next=/x"), "/");
        assert_eq!(safe_next(""), "/");
    }

    #[test]
    fn login_errors_are_our_own_words() {
        assert_eq!(
            login_error_message("unauthenticated"),
            "invalid username or password"
        );
        assert!(login_error_message("rate_limited").contains("too many"));
        assert_eq!(
            login_error_message("<script>alert(1)</script>"),
            "sign-in failed; try again"
        );
    }

    #[test]
    fn cookies_are_host_only_http_only_strict() {
        let s = SessionSettings {
            cookie_secure: true,
        };
        let c = s.set_cookie("tok", 60);
        assert!(c.starts_with("__Host-control_session=tok; Path=/; HttpOnly; SameSite=Strict"));
        assert!(c.ends_with("; Secure"));
        assert!(!c.contains("Domain"));
        let dev = SessionSettings {
            cookie_secure: false,
        }
        .set_cookie("", 0);
        assert!(dev.starts_with("control_session=;"));
        assert!(dev.contains("Max-Age=0"));
        assert!(!dev.contains("Secure"));
    }
}
