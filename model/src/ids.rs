//! Identifier newtypes. Each validates on construction and on deserialise,
//! so an id that exists in memory is always well-formed.
//!
//! Formats (documented in docs/architecture.md):
//! - request id: `req_` + 32 lowercase hex when we generate it; an incoming
//!   one is accepted if it is 1..=64 chars of `[A-Za-z0-9._:-]`.
//! - correlation id: `cor_` + 32 hex when generated, same acceptance rule.
//! - job id: `job_` + 32 lowercase hex.
//! - trace id: 32 lowercase hex, not all zero (W3C trace context).
//! - span id: 16 lowercase hex, not all zero.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} contains characters outside [A-Za-z0-9._:-]")]
    BadCharacters { kind: &'static str },
    #[error("{kind} must be {len} lowercase hex characters")]
    NotHex { kind: &'static str, len: usize },
    #[error("{kind} must not be all zeros")]
    AllZero { kind: &'static str },
    #[error("{kind} must start with `{prefix}`")]
    MissingPrefix {
        kind: &'static str,
        prefix: &'static str,
    },
    #[error("traceparent is not `00-<32 hex>-<16 hex>-<2 hex>`")]
    BadTraceParent,
}

pub const MAX_FLOW_ID_LEN: usize = 64;

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_flow_id(kind: &'static str, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > MAX_FLOW_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            max: MAX_FLOW_ID_LEN,
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err(IdError::BadCharacters { kind });
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const KIND: &'static str = $kind;

            pub fn parse(s: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> Result<(), IdError> = $check;
                check(s)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_id!(
    /// Identifies one HTTP request (`x-request-id`).
    RequestId,
    "request id",
    |s| check_flow_id("request id", s)
);
string_id!(
    /// Identifies one user-visible flow across requests (`x-correlation-id`).
    CorrelationId,
    "correlation id",
    |s| check_flow_id("correlation id", s)
);
string_id!(
    /// Identifies a job (multi-step operation).
    JobId,
    "job id",
    |s| match s.strip_prefix("job_") {
        None => Err(IdError::MissingPrefix {
            kind: "job id",
            prefix: "job_"
        }),
        Some(rest) if is_lower_hex(rest, 32) => Ok(()),
        Some(_) => Err(IdError::NotHex {
            kind: "job id",
            len: 32
        }),
    }
);
string_id!(
    /// W3C trace id: 32 lowercase hex, not all zero.
    TraceId,
    "trace id",
    |s| {
        if !is_lower_hex(s, 32) {
            Err(IdError::NotHex {
                kind: "trace id",
                len: 32,
            })
        } else if s.bytes().all(|b| b == b'0') {
            Err(IdError::AllZero { kind: "trace id" })
        } else {
            Ok(())
        }
    }
);
string_id!(
    /// W3C parent/span id: 16 lowercase hex, not all zero.
    SpanId,
    "span id",
    |s| {
        if !is_lower_hex(s, 16) {
            Err(IdError::NotHex {
                kind: "span id",
                len: 16,
            })
        } else if s.bytes().all(|b| b == b'0') {
            Err(IdError::AllZero { kind: "span id" })
        } else {
            Ok(())
        }
    }
);

impl RequestId {
    /// A new request id from 16 random bytes supplied by the caller (the
    /// model has no RNG so that it stays pure and wasm-friendly).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(format!("req_{}", hex(&bytes)))
    }
}

impl CorrelationId {
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(format!("cor_{}", hex(&bytes)))
    }
}

impl JobId {
    pub fn from_random(bytes: [u8; 16]) -> Self {
        Self(format!("job_{}", hex(&bytes)))
    }
}

impl TraceId {
    pub fn from_random(mut bytes: [u8; 16]) -> Self {
        if bytes.iter().all(|b| *b == 0) {
            bytes[15] = 1;
        }
        Self(hex(&bytes))
    }
}

impl SpanId {
    pub fn from_random(mut bytes: [u8; 8]) -> Self {
        if bytes.iter().all(|b| *b == 0) {
            bytes[7] = 1;
        }
        Self(hex(&bytes))
    }
}

/// W3C `traceparent` (version 00): trace id, parent span id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub flags: u8,
}

impl TraceParent {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let parts: Vec<&str> = s.trim().split('-').collect();
        let [version, trace, span, flags] = parts.as_slice() else {
            return Err(IdError::BadTraceParent);
        };
        // Version ff is forbidden; unknown future versions are not trusted here.
        if *version != "00" || !is_lower_hex(flags, 2) {
            return Err(IdError::BadTraceParent);
        }
        let trace_id = TraceId::parse(trace).map_err(|_| IdError::BadTraceParent)?;
        let parent_id = SpanId::parse(span).map_err(|_| IdError::BadTraceParent)?;
        let flags = u8::from_str_radix(flags, 16).map_err(|_| IdError::BadTraceParent)?;
        Ok(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The traceparent this hop sends onwards: same trace, our own span.
    pub fn child(&self, span: SpanId) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            parent_id: span,
            flags: self.flags,
        }
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_have_their_prefix_and_validate() {
        let r = RequestId::from_random([0xab; 16]);
        assert_eq!(r.as_str(), format!("req_{}", "ab".repeat(16)));
        assert!(RequestId::parse(r.as_str()).is_ok());
        let c = CorrelationId::from_random([1; 16]);
        assert!(c.as_str().starts_with("cor_"));
        let j = JobId::from_random([2; 16]);
        assert!(JobId::parse(j.as_str()).is_ok());
    }

    #[test]
    fn flow_ids_reject_bad_input() {
        assert_eq!(
            RequestId::parse(""),
            Err(IdError::Empty { kind: "request id" })
        );
        assert!(matches!(
            RequestId::parse(&"a".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            CorrelationId::parse("abc def"),
            Err(IdError::BadCharacters { .. })
        ));
        assert!(matches!(
            RequestId::parse("x\r\ninjected: 1"),
            Err(IdError::BadCharacters { .. })
        ));
        assert!(RequestId::parse("3f2c0a9e-1b1a-4c1e-9d7e-0a1b2c3d4e5f").is_ok());
    }

    #[test]
    fn trace_ids_are_32_lower_hex_not_zero() {
        assert!(TraceId::parse("4bf92f3577b34da6a3ce929d0e0e4736").is_ok());
        assert!(TraceId::parse("4BF92F3577B34DA6A3CE929D0E0E4736").is_err());
        assert_eq!(
            TraceId::parse(&"0".repeat(32)),
            Err(IdError::AllZero { kind: "trace id" })
        );
        assert!(TraceId::parse("4bf92f").is_err());
        assert_ne!(TraceId::from_random([0; 16]).as_str(), "0".repeat(32));
    }

    #[test]
    fn traceparent_round_trips_and_rejects_garbage() {
        let s = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(s).unwrap();
        assert_eq!(tp.to_string(), s);
        assert_eq!(tp.flags, 1);
        let child = tp.child(SpanId::from_random([9; 8]));
        assert_eq!(child.trace_id, tp.trace_id);
        assert_ne!(child.parent_id, tp.parent_id);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(
                TraceParent::parse(bad),
                Err(IdError::BadTraceParent),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_validate_on_deserialise() {
        let ok: Result<TraceId, _> = serde_json::from_str("\"4bf92f3577b34da6a3ce929d0e0e4736\"");
        assert!(ok.is_ok());
        let bad: Result<JobId, _> = serde_json::from_str("\"job_nothex\"");
        assert!(bad.is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_accepted_flow_id_is_header_safe(s in "\\PC{0,80}") {
            if let Ok(id) = RequestId::parse(&s) {
                proptest::prop_assert!(id.as_str().len() <= MAX_FLOW_ID_LEN);
                proptest::prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
