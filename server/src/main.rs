//! `control`: the Cloudlysis control plane. Parses the command line, loads
//! config, and starts; everything else lives in the `server` library.

use clap::{Parser, Subcommand};
use engine::RunMode;
use server::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "control", version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("CONTROL_GIT_SHA"), ")"), about = "Cloudlysis control plane")]
struct Cli {
    /// TOML config file (also CONTROL_CONFIG). Environment CONTROL_* overrides it.
    #[arg(long, global = true, env = "CONTROL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Production: every setting from config and environment.
    Serve {
        /// Overrides server.listen.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Development: embedded store under ./.control-data, a simulated fleet,
    /// listening on 127.0.0.1:3000. Only in builds with the `dev` feature.
    Dev(DevArgs),
    /// Exit 0 when the local server answers /health (or /ready with --ready), 1 otherwise.
    Healthcheck {
        /// Address to probe; defaults to server.listen from config.
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// Probe readiness instead of liveness.
        #[arg(long)]
        ready: bool,
        #[arg(long, default_value_t = 3000)]
        timeout_ms: u64,
    },
}

#[derive(clap::Args)]
struct DevArgs {
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    #[arg(long, default_value = ".control-data")]
    data_dir: PathBuf,
    /// Do not start the simulated fleet.
    #[arg(long)]
    no_sim: bool,
    /// Tenants in the simulated fleet's placement.
    #[arg(long, default_value_t = 500)]
    sim_tenants: usize,
    /// Port of the simulated fleet's fault-control API (0: any free port).
    #[arg(long, default_value_t = 0)]
    sim_control_port: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("control: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("control: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Healthcheck {
            addr,
            ready,
            timeout_ms,
        } => {
            let addr = server::healthcheck::probe_addr(addr.unwrap_or(config.server.listen));
            let path = if ready { "/ready" } else { "/health" };
            match rt.block_on(server::healthcheck::probe(
                addr,
                path,
                Duration::from_millis(timeout_ms),
            )) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("control healthcheck: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { listen } => {
            if let Some(l) = listen {
                config.server.listen = l;
            }
            run(&rt, config, RunMode::Serve)
        }
        Command::Dev(args) => dev::run(&rt, config, cli.config.is_some(), args),
    }
}

fn run(rt: &tokio::runtime::Runtime, config: Config, mode: RunMode) -> ExitCode {
    // Held until the process ends: dropping it exports the last spans.
    let _telemetry = match server::logging::init(&config.log, &config.traces) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("control: {e}");
            return ExitCode::from(2);
        }
    };
    let state = match rt.block_on(server::build_state(config, mode)) {
        Ok(s) => s,
        Err(e @ server::StartError::Config(_)) => {
            eprintln!("control: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            eprintln!("control: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(server::serve(state)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            eprintln!("control: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `control dev`: the simulated fleet and Gateway, compiled in only with the
/// `dev` feature so that a production build holds no example passwords.
#[cfg(feature = "dev")]
mod dev {
    use super::*;
    use server::config::{FleetSource, LogFormat, StoreBackend};

    pub fn run(
        rt: &tokio::runtime::Runtime,
        mut config: Config,
        has_config_file: bool,
        args: DevArgs,
    ) -> ExitCode {
        let DevArgs {
            listen,
            data_dir,
            no_sim,
            sim_tenants,
            sim_control_port,
        } = args;
        config.server.listen = listen;
        config.store.backend = StoreBackend::Embedded;
        config.fleet.source = FleetSource::File;
        config.fleet.placement_file = data_dir.join("config/placement/dev.json");
        config.fleet.routing_file = data_dir.join("config/routing/dev.json");
        config.fleet.poll_interval_ms = config.fleet.poll_interval_ms.min(2_000);
        config.store.data_dir = data_dir;
        if std::env::var_os("CONTROL_LOG_FORMAT").is_none() && !has_config_file {
            config.log.format = LogFormat::Pretty;
        }
        if let Err(e) = std::fs::create_dir_all(&config.store.data_dir) {
            eprintln!(
                "control: cannot create data dir {}: {e}",
                config.store.data_dir.display()
            );
            return ExitCode::FAILURE;
        }
        // Plain-http localhost: a `Secure` cookie would be dropped.
        config.auth.cookie_secure = false;
        let own_gateway = config.auth.gateway_url.is_none();
        // The simulated fleet (or Gateway alone) lives as long as the server.
        let mut _gateway = None;
        let _fleet = if no_sim {
            if config.auth.gateway_url.is_none() {
                let iam = sim::Iam::new(sim::IamConfig::default());
                match rt.block_on(iam.serve(([127, 0, 0, 1], 0).into())) {
                    Ok((addr, task)) => {
                        config.auth.gateway_url = Some(format!("http://{addr}"));
                        _gateway = Some(task);
                    }
                    Err(e) => {
                        eprintln!("control: cannot start the simulated gateway: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            None
        } else {
            let topo = sim::Topology {
                tenants: sim_tenants,
                ..sim::Topology::default()
            };
            match rt.block_on(sim::Fleet::start(
                &topo,
                &config.store.data_dir.join("config"),
                sim_control_port,
            )) {
                Ok(f) => {
                    if config.auth.gateway_url.is_none() {
                        config.auth.gateway_url = Some(f.gateway_url());
                    }
                    eprintln!(
                        "control dev: simulated fleet of {} instances ({} tenants); fault knobs: http://{}/sim/instances",
                        f.instances().len(),
                        sim_tenants,
                        f.control_addr
                    );
                    Some(f)
                }
                Err(e) => {
                    eprintln!("control: cannot start the simulated fleet: {e}");
                    return ExitCode::FAILURE;
                }
            }
        };
        if own_gateway {
            print_dev_users(config.auth.gateway_url.as_deref().unwrap_or("-"));
        }
        super::run(rt, config, RunMode::Dev)
    }

    /// Dev only: the simulated Gateway's example operators, one per role.
    fn print_dev_users(gateway: &str) {
        eprintln!(
            "control dev: simulated gateway {gateway}; sign in at /login as (dev passwords):"
        );
        for u in sim::dev_users() {
            eprintln!(
                "    {:<10} {:<24} {}",
                u.username,
                u.password,
                u.roles.join(", ")
            );
        }
    }
}

#[cfg(not(feature = "dev"))]
mod dev {
    use super::*;

    pub fn run(
        _rt: &tokio::runtime::Runtime,
        _config: Config,
        _has_config_file: bool,
        _args: DevArgs,
    ) -> ExitCode {
        eprintln!(
            "control: this build has no `dev` command (it holds no simulated fleet); \
             build with `cargo build -p server --features dev`, or run `make dev`"
        );
        ExitCode::from(2)
    }
}
