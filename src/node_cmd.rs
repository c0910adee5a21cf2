//! `faultline node`: run one replica of the built-in reference store until SIGTERM/SIGINT.
//! Argument parsing only; the replica itself lives in the `node` crate.

use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct NodeArgs {
    /// This replica's id (must appear in --peers).
    #[arg(long)]
    pub id: String,
    /// Replication mode: strong, causal, session or eventual.
    #[arg(long, default_value = "strong")]
    pub mode: String,
    /// Address to listen on, e.g. 127.0.0.11:7001.
    #[arg(long)]
    pub listen: SocketAddr,
    /// Every replica, itself included: id=host:port,... (peer traffic goes to these addresses).
    #[arg(long)]
    pub peers: String,
    /// Directory of this replica's durable log (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The fixed primary of strong and session modes (default: the lowest id).
    #[arg(long)]
    pub primary: Option<String>,
}

pub fn run(args: NodeArgs) -> anyhow::Result<u8> {
    let mode: node::Mode = args.mode.parse()?;
    let cfg = node::NodeConfig::new(
        &args.id,
        mode,
        args.listen,
        &args.peers,
        args.data_dir.clone(),
        args.primary.as_deref(),
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            tracing::info!("shutting down");
        };
        node::serve(cfg, shutdown).await
    })
    .with_context(|| {
        format!(
            "replica {} ({} mode, data dir {})",
            args.id,
            args.mode,
            args.data_dir.display()
        )
    })?;
    Ok(0)
}
