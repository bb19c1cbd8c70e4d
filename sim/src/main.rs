//! `sim`: serve one simulated platform service instance.

use clap::Parser;
use sim::{router, Instance, Kind};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "sim", about = "Simulated Cloudlysis platform service")]
struct Args {
    #[arg(long, value_enum)]
    kind: Kind,
    #[arg(long, default_value = "127.0.0.1:4100")]
    listen: SocketAddr,
    #[arg(long, default_value = "0.1.0")]
    version: String,
    #[arg(long, default_value = "sim")]
    git_sha: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let a = Args::parse();
    let listener = tokio::net::TcpListener::bind(a.listen).await?;
    eprintln!(
        "sim: {} listening on {}",
        a.kind.as_str(),
        listener.local_addr()?
    );
    axum::serve(
        listener,
        router(Instance {
            kind: a.kind,
            version: a.version,
            git_sha: a.git_sha,
        }),
    )
    .await
}
