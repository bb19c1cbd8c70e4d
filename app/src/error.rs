//! The error type of every server function: the same `ErrorBody` the REST
//! API returns, so the browser sees one shape with a stable code.

use model::{ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{}: {}", .0.code.as_str(), .0.message)]
pub struct AppError(pub ErrorBody);

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self(ErrorBody::new(code, message))
    }

    pub fn code(&self) -> ErrorCode {
        self.0.code
    }
}

/// Every engine error, through the one client view both doors use (the
/// REST door's `ApiError` converts the same way).
#[cfg(feature = "ssr")]
impl<E: engine::error::ClientError> From<E> for AppError {
    fn from(e: E) -> Self {
        let v = e.client_view();
        if v.status() >= 500 {
            tracing::warn!(error = %e, code = v.code.as_str(), "engine call failed");
        }
        Self::new(v.code, v.message)
    }
}

/// Longest framework detail passed through; the rest is cut so that an
/// echoed payload cannot flood a toast or a log line.
const MAX_DETAIL: usize = 200;

fn detail(s: &str) -> String {
    s.chars().take(MAX_DETAIL).collect()
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) => Self::new(
                ErrorCode::BadRequest,
                format!("invalid arguments: {}", model::error::safe_serde_detail(&m)),
            ),
            ServerFnErrorErr::Deserialization(m) => Self::new(
                ErrorCode::MalformedJson,
                format!("could not decode: {}", model::error::safe_serde_detail(&m)),
            ),
            ServerFnErrorErr::Request(_) => {
                Self::new(ErrorCode::Network, "the server could not be reached")
            }
            ServerFnErrorErr::Response(_) => {
                Self::new(ErrorCode::Network, "the server's answer could not be read")
            }
            ServerFnErrorErr::UnsupportedRequestMethod(_) => {
                Self::new(ErrorCode::MethodNotAllowed, "method not allowed")
            }
            ServerFnErrorErr::MissingArg(m) => Self::new(
                ErrorCode::BadRequest,
                format!("missing argument: {}", detail(&m)),
            ),
            // Registration, serialization and server-side failures carry
            // internal detail; clients get the stable code only.
            _ => Self::new(ErrorCode::Internal, "internal error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_errors_map_to_stable_codes() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args("missing field `x`".into()));
        assert_eq!(e.code(), ErrorCode::BadRequest);
        let e = AppError::from_server_fn_error(ServerFnErrorErr::ServerError(
            "db password=hunter2".into(),
        ));
        assert_eq!(e.code(), ErrorCode::Internal);
        assert!(!e.0.message.contains("hunter2"));
        // serde quotes the value it refused; the client view does not.
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args(
            "unknown variant `zq9canary`, expected `tenant` or `shard`".into(),
        ));
        assert_eq!(
            e.0.message,
            "invalid arguments: expected `tenant` or `shard`"
        );
        let long = "a".repeat(10_000);
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Deserialization(long));
        assert!(e.0.message.len() < 300);
    }

    #[test]
    fn wire_shape_equals_the_rest_error_body() {
        let e = AppError::new(ErrorCode::NotFound, "nope");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            serde_json::to_string(&ErrorBody::new(ErrorCode::NotFound, "nope")).unwrap()
        );
    }
}
