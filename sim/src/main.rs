//! `sim`: a simulated Cloudlysis fleet (see docs/platform-contract.md).

use clap::Parser;
use sim::{Fleet, Topology};
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "sim", about = "Simulated Cloudlysis platform fleet")]
struct Args {
    /// Shards per worker kind (aggregate, projection, runner).
    #[arg(long, default_value_t = 4)]
    shards: usize,
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    #[arg(long, default_value_t = 1)]
    gateways: usize,
    #[arg(long, default_value_t = 500)]
    tenants: usize,
    #[arg(long, default_value = "1.0.0")]
    version: String,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// First instance port; 0 picks free ports.
    #[arg(long, default_value_t = 4100)]
    base_port: u16,
    /// Port of the fault-control API (`/sim/instances`).
    #[arg(long, default_value_t = 4099)]
    control_port: u16,
    /// Where the dev placement/routing files are written.
    #[arg(long, default_value = "config")]
    config_dir: PathBuf,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let topo = Topology {
        shards: a.shards,
        replicas: a.replicas,
        gateways: a.gateways,
        tenants: a.tenants,
        version: a.version,
        host: a.host,
        base_port: a.base_port,
        ..Topology::default()
    };
    let fleet = Fleet::start(&topo, &a.config_dir, a.control_port).await?;
    eprintln!(
        "sim: {} instances; control API http://{}/sim/instances; docs {} and {}",
        fleet.instances().len(),
        fleet.control_addr,
        fleet.placement_path.display(),
        fleet.routing_path.display()
    );
    eprintln!(
        "sim: gateway {} (JWKS {}/.well-known/jwks.json)",
        fleet.gateway_url(),
        fleet.gateway_url()
    );
    for u in &topo.iam.users {
        eprintln!(
            "sim: dev user {} / {} ({})",
            u.username,
            u.password,
            u.roles.join(", ")
        );
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
