//! Deployments against a real dockerd in Swarm mode: listing 100 services
//! with their tasks through the control plane (a level-based read of
//! services, tasks and nodes, normalised, history compared; then one page)
//! against the raw Engine API calls it makes (list services with status,
//! list tasks), in the same run; and the time from a service update to the
//! observer's snapshot showing it (event-driven).
//!
//!   CONTROL_TEST_DOCKER_SOCKET=/var/run/docker.sock cargo bench -p engine --bench swarm

use bollard::models::{
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
};
use bollard::query_parameters::{ListServicesOptionsBuilder, ListTasksOptions};
use engine::action::{Actions, Timing};
use engine::audit::AuditLog;
use engine::store::embedded::EmbeddedStore;
use engine::store::Substrate;
use engine::swarm::{DeploySettings, Deployments, DockerSwarm, Swarm, SwarmConnect};
use futures::StreamExt;
use model::deploy::{ServiceName, ServiceQuery, STACK_LABEL};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICES: usize = 100;
const ROUNDS: usize = 30;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn spec(name: &str, stack: &str, env: &str) -> ServiceSpec {
    ServiceSpec {
        name: Some(name.into()),
        labels: Some([(STACK_LABEL.to_owned(), stack.to_owned())].into()),
        mode: Some(ServiceSpecMode {
            // No task needs an image: the listing is what is measured.
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(0) }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some("cltest/bench:1".into()),
                env: Some(vec![env.to_owned()]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let Ok(socket) = std::env::var("CONTROL_TEST_DOCKER_SOCKET") else {
        eprintln!("*** SKIPPED swarm bench: CONTROL_TEST_DOCKER_SOCKET not set ***");
        return;
    };
    let swarm = DockerSwarm::connect(
        &SwarmConnect::Socket {
            path: socket.into(),
        },
        60,
    )
    .await
    .expect("dockerd");
    let docker = swarm.docker().expect("connected").clone();
    let stack = format!("clbench{:06x}", rand::random::<u32>() & 0xffffff);
    let names: Vec<String> = (0..SERVICES).map(|i| format!("{stack}_s{i:03}")).collect();
    // Removed however the run ends (a panic included).
    let _cleanup = Cleanup(docker.clone(), names.clone());
    for n in &names {
        docker
            .create_service(spec(n, &stack, "V=1"), None)
            .await
            .expect("create");
    }
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Substrate> = Arc::new(EmbeddedStore::open(dir.path()).await.unwrap());
    let actions = Actions::new(
        Arc::new(AuditLog::lazy(
            store.clone(),
            b"bench-chain-key-0123456789abcdef",
        )),
        store.clone(),
        Timing {
            stale_after: Duration::from_secs(60),
            every: Duration::from_secs(60),
        },
    );
    let swarm: Arc<dyn Swarm> = Arc::new(swarm);
    let d = Deployments::new(
        swarm,
        store,
        actions,
        DeploySettings {
            poll: Duration::from_secs(3600),
            fingerprint_key: vec![1],
            grafana: None,
        },
    );
    // The first read records every spec; the rounds compare.
    d.refresh().await.unwrap();
    let q = ServiceQuery {
        stack: Some(stack.clone()),
        page_size: 200,
        ..ServiceQuery::default()
    };
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let s = docker
            .list_services(Some(
                ListServicesOptionsBuilder::default().status(true).build(),
            ))
            .await
            .unwrap();
        let _ = docker.list_tasks(None::<ListTasksOptions>).await.unwrap();
        raw.push(t.elapsed());
        assert!(s.len() >= SERVICES);
        let t = Instant::now();
        d.refresh().await.unwrap();
        let page = d.services(&q).await.unwrap();
        ours.push(t.elapsed());
        assert_eq!(page.total, SERVICES);
    }
    let (r50, o50) = (pct(&mut raw, 0.5), pct(&mut ours, 0.5));
    println!(
        "list {SERVICES} services with tasks: raw Engine API p50 {:.1} ms p99 {:.1} ms; control plane p50 {:.1} ms p99 {:.1} ms; ratio p50 {:.2}x",
        r50.as_secs_f64() * 1e3,
        pct(&mut raw, 0.99).as_secs_f64() * 1e3,
        o50.as_secs_f64() * 1e3,
        pct(&mut ours, 0.99).as_secs_f64() * 1e3,
        o50.as_secs_f64() / r50.as_secs_f64()
    );

    // Update → the observer's snapshot shows it, and → the change is
    // pushed (`changes()`, what `/admin/v1/deploy/events` streams and the
    // pages refetch on).
    let mut rx = d.subscribe();
    let mut changes = d.changes();
    let _observer = d.spawn();
    let _ = changes.next().await;
    let target = ServiceName::parse(&names[0]).unwrap();
    let (mut seen, mut pushed) = (Vec::new(), Vec::new());
    for v in 2..(2 + 20) {
        let cur = docker.inspect_service(&names[0], None).await.unwrap();
        let env = format!("V={v}");
        let t = Instant::now();
        docker
            .update_service(
                &names[0],
                spec(&names[0], &stack, &env),
                bollard::query_parameters::UpdateServiceOptions {
                    version: cur.version.unwrap().index.unwrap() as i32,
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        let want = model::deploy::EnvValue::Plain(v.to_string());
        let push = async {
            while let Some(p) = changes.next().await {
                if p.changed.contains(&target) {
                    return t.elapsed();
                }
            }
            panic!("the change stream ended");
        };
        let snap = async {
            rx.wait_for(|s| {
                s.services
                    .get(&target)
                    .is_some_and(|(_, sum)| sum.env.get("V") == Some(&want))
            })
            .await
            .unwrap();
            t.elapsed()
        };
        let (a, b) =
            tokio::time::timeout(Duration::from_secs(30), futures::future::join(snap, push))
                .await
                .expect("seen and pushed");
        seen.push(a);
        pushed.push(b);
    }
    println!(
        "service update to observed snapshot: p50 {:.0} ms p99 {:.0} ms; to the pushed change event: p50 {:.0} ms p99 {:.0} ms ({} updates)",
        pct(&mut seen, 0.5).as_secs_f64() * 1e3,
        pct(&mut seen, 0.99).as_secs_f64() * 1e3,
        pct(&mut pushed, 0.5).as_secs_f64() * 1e3,
        pct(&mut pushed, 0.99).as_secs_f64() * 1e3,
        seen.len()
    );
}

struct Cleanup(bollard::Docker, Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (d, names) = (self.0.clone(), std::mem::take(&mut self.1));
        let _ = std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    for n in names {
                        let _ = d.delete_service(&n).await;
                    }
                })
        })
        .join();
    }
}
