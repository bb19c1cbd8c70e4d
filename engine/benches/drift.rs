//! Drift for 5,000 services (synthetic, in memory): parsing a stack file
//! of 5,000 services, and computing the items from desired and observed
//! (one in ten services drifting: replicas, an env var, the image, missing,
//! crash-looping; 100 extra services; 300 instances, 30 behind).
//!
//!   cargo bench -p engine --bench drift

use engine::drift::{compute, stack, Observed};
use model::deploy::{
    EnvValue, ImageRef, ServiceMode, ServiceName, ServiceStatus, ServiceView, SpecSummary,
};
use model::views::InstanceHealth;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const SERVICES: usize = 5_000;
const ROUNDS: usize = 200;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn view(name: &ServiceName, image: &str, status: ServiceStatus) -> ServiceView {
    ServiceView {
        id: format!("id-{name}"),
        name: name.clone(),
        stack: Some("bench".into()),
        image: image.into(),
        image_ref: ImageRef::parse(image),
        version: None,
        git_sha: None,
        updated_at: Some("2026-12-01T10:00:00Z".into()),
        mode: ServiceMode::Replicated,
        replicas_desired: Some(2),
        replicas_running: 2,
        update: None,
        spec_version: 3,
        recent_failures: 0,
        status,
    }
}

fn main() {
    let mut yaml = String::from("version: \"3.8\"\nservices:\n");
    for i in 0..SERVICES {
        yaml.push_str(&format!(
            "  s{i}:\n    image: cloudlysis/svc{i}:1.0.{i}\n    environment: {{ MODE: fast, SHARD: \"{i}\", DB_PASSWORD: pw{i} }}\n    healthcheck: {{ test: [CMD, /bin/check] }}\n    deploy:\n      replicas: 2\n      labels: {{ cloudlysis.kind: aggregate }}\n      placement: {{ constraints: [node.labels.cloudlysis.role == worker] }}\n      resources: {{ limits: {{ cpus: \"1.0\", memory: 512M }} }}\n      update_config: {{ order: start-first, failure_action: rollback, monitor: 30s }}\n"
        ));
    }
    let fp = |k: &str, v: &str| engine::swarm::fingerprint(b"bench-key", k, v);
    let mut parse_times = Vec::new();
    let mut file = None;
    for _ in 0..10 {
        let t = Instant::now();
        file = Some(stack::parse("bench", "bench.yml", &yaml, &fp).unwrap());
        parse_times.push(t.elapsed());
    }
    let file = file.unwrap();

    let mut services = BTreeMap::new();
    for (i, d) in file.services.iter().enumerate() {
        let mut s: SpecSummary = d.spec.clone();
        s.labels
            .insert("com.docker.stack.namespace".into(), "bench".into());
        let mut status = ServiceStatus::Running;
        match i % 50 {
            0 => s.replicas = Some(3),
            10 => {
                s.env.insert("DEBUG".into(), EnvValue::Plain("1".into()));
            }
            20 => s.image = s.image.replace(":1.0.", ":1.1."),
            30 => continue, // missing
            40 => status = ServiceStatus::CrashLooping,
            _ => {}
        }
        services.insert(d.name.clone(), (view(&d.name, &s.image, status), s));
    }
    for i in 0..100 {
        let name = ServiceName::parse(&format!("bench_extra{i}")).unwrap();
        services.insert(
            name.clone(),
            (
                view(&name, "busybox:1", ServiceStatus::Running),
                SpecSummary::default(),
            ),
        );
    }
    let tasks = BTreeMap::new();
    let instances: Vec<InstanceHealth> = (0..300)
        .map(|i| {
            serde_json::from_value(serde_json::json!({
                "kind": "aggregate", "shard": format!("a-{}", i % 100), "endpoint": format!("http://10.0.0.{i}:8080"),
                "status": "healthy", "latency_ms": 3, "version": "1", "git_sha": null,
                "loaded_placement_revision": if i % 10 == 0 { 6 } else { 7 }, "loaded_routing_revision": 3,
                "current_placement_revision": 7, "current_routing_revision": 3,
                "not_reloaded": i % 10 == 0, "draining_tenants": [], "last_error": null, "checked_at_ms": 1
            }))
            .unwrap()
        })
        .collect();
    let observed = Observed {
        services: &services,
        tasks: &tasks,
        instances: &instances,
    };
    let stacks = [file];
    let mut times = Vec::with_capacity(ROUNDS);
    let mut items = 0;
    for _ in 0..ROUNDS {
        let t = Instant::now();
        items = compute(&stacks, &observed, 1).len();
        times.push(t.elapsed());
    }
    println!(
        "drift compute, {SERVICES} desired services, {} observed, {} instances: {items} items; p50 {:?}, p99 {:?} (target p99 <= 50 ms)",
        services.len(),
        instances.len(),
        pct(&mut times, 0.5),
        pct(&mut times, 0.99)
    );
    println!(
        "stack file parse, {SERVICES} services ({} KiB): p50 {:?}, max {:?}",
        yaml.len() / 1024,
        pct(&mut parse_times, 0.5),
        pct(&mut parse_times, 1.0)
    );
}
