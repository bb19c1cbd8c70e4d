//! Prometheus text metrics for the control plane's own HTTP traffic.
//! Labels are the route *template* (bounded), never the raw path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

#[derive(Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
    refusals: Mutex<BTreeMap<Refusal, u64>>,
}

/// Why the authorisation middleware refused a request (a bounded label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A protected route called without any credentials.
    NoCredentials,
    /// Credentials presented and refused (bad, expired, revoked token).
    BadCredentials,
    /// The Gateway could not be asked.
    IdentityUnavailable,
    Forbidden,
    CrossSite,
    TenantScope,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Refusal::NoCredentials => "no_credentials",
            Refusal::BadCredentials => "bad_credentials",
            Refusal::IdentityUnavailable => "identity_unavailable",
            Refusal::Forbidden => "forbidden",
            Refusal::CrossSite => "cross_site",
            Refusal::TenantScope => "tenant_scope",
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let secs = latency.as_secs_f64();
        let mut map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = map
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        s.count += 1;
        s.sum += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    pub fn refused(&self, why: Refusal) {
        *self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(why)
            .or_default() += 1;
    }

    pub fn render(&self, build: &model::BuildInfo) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP control_build_info Build identity of this control plane."
        );
        let _ = writeln!(out, "# TYPE control_build_info gauge");
        let _ = writeln!(
            out,
            "control_build_info{{service=\"{}\",version=\"{}\",git_sha=\"{}\"}} 1",
            escape(&build.service),
            escape(&build.version),
            escape(&build.git_sha)
        );
        let map = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP control_http_requests_total HTTP requests by method, route template and status.");
        let _ = writeln!(out, "# TYPE control_http_requests_total counter");
        for ((m, r, st), s) in map.iter() {
            let _ = writeln!(
                out,
                "control_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                escape(m),
                escape(r),
                st,
                s.count
            );
        }
        let _ = writeln!(out, "# HELP control_http_request_duration_seconds HTTP request latency by method, route template and status.");
        let _ = writeln!(
            out,
            "# TYPE control_http_request_duration_seconds histogram"
        );
        for ((m, r, st), s) in map.iter() {
            let labels = format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                escape(m),
                escape(r),
                st
            );
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "control_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "control_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "control_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "control_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        drop(map);
        let _ = writeln!(out, "# HELP control_auth_refusals_total Requests the authorisation middleware refused, by reason.");
        let _ = writeln!(out, "# TYPE control_auth_refusals_total counter");
        for (why, n) in self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "control_auth_refusals_total{{reason=\"{}\"}} {n}",
                why.label()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_build_info() {
        let m = HttpMetrics::default();
        m.observe("GET", "/admin/v1/status", 200, Duration::from_millis(3));
        m.observe("GET", "/admin/v1/status", 200, Duration::from_millis(300));
        let b = model::BuildInfo {
            service: "control".into(),
            version: "1.2.3".into(),
            git_sha: "abc\"def".into(),
        };
        let text = m.render(&b);
        assert!(text.contains(
            r#"control_build_info{service="control",version="1.2.3",git_sha="abc\"def"} 1"#
        ));
        assert!(text.contains(
            r#"control_http_requests_total{method="GET",route="/admin/v1/status",status="200"} 2"#
        ));
        assert!(text.contains(r#"le="0.005"} 1"#));
        assert!(text.contains(r#"le="0.5"} 2"#));
        assert!(text.contains(r#"le="+Inf"} 2"#));
        m.refused(Refusal::Forbidden);
        m.refused(Refusal::Forbidden);
        m.refused(Refusal::CrossSite);
        let text = m.render(&b);
        assert!(text.contains(r#"control_auth_refusals_total{reason="forbidden"} 2"#));
        assert!(text.contains(r#"control_auth_refusals_total{reason="cross_site"} 1"#));
    }
}
