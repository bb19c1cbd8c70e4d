//! `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_open_fds` and `process_max_fds`, the names every Prometheus
//! client library exports, for a prometheus-client registry: no crate offers
//! them for prometheus-client, and both the control plane and the simulated
//! platform services export them (docs/observability.md).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The standard process metrics, read from `/proc/self` on each scrape.
/// Where `/proc` is missing (not Linux), nothing is exported.
#[derive(Debug, Default)]
pub struct ProcessCollector;

/// Linux's fixed user-visible clock tick (`USER_HZ`), the unit of
/// `/proc/<pid>/stat`'s CPU times.
const USER_HZ: f64 = 100.0;

fn proc_stats() -> Option<(f64, f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name (which may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let cpu = (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / USER_HZ;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()?;
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let max = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()?;
    Some((cpu, rss_kb * 1024.0, open, max))
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some((cpu, rss, open, max)) = proc_stats() else {
            return Ok(());
        };
        let c = ConstCounter::new(cpu);
        c.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent, in seconds",
            None,
            c.metric_type(),
        )?)?;
        for (name, help, v) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes",
                rss,
            ),
            ("process_open_fds", "Open file descriptors", open),
            ("process_max_fds", "The limit of open file descriptors", max),
        ] {
            let g = ConstGauge::new(v);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {text}"))
            .parse()
            .unwrap()
    }

    fn render(r: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, r).unwrap();
        out
    }

    #[test]
    fn exports_the_four_process_metrics_with_live_values() {
        let mut r = Registry::default();
        r.register_collector(Box::new(ProcessCollector));
        let before = render(&r);
        assert!(value(&before, "process_cpu_seconds_total") >= 0.0);
        assert!(value(&before, "process_resident_memory_bytes") > 1024.0 * 1024.0);
        let _file = std::fs::File::open("/proc/self/stat").unwrap();
        let after = render(&r);
        assert!(
            value(&after, "process_open_fds") >= value(&before, "process_open_fds") + 1.0,
            "one more open file is counted"
        );
        assert!(value(&after, "process_max_fds") >= value(&after, "process_open_fds"));
    }
}
