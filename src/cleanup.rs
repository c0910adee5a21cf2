//! `faultline cleanup`: removes what runs killed with SIGKILL left behind (namespaces, links,
//! bridges, iptables chains, processes, faketime files), by reading the state file each run
//! keeps in its directory. Runs whose owning process is still alive are left alone.
//! Also holds the hidden `net-hold` helper the tests use to play a harness that gets killed.

use anyhow::Context;
use nemeses::state::{self, Outcome};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct CleanupArgs {
    /// The results store to scan: every `DIR/*/*/` run directory with a state file.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// Clean this run directory as well (may repeat).
    #[arg(long = "run")]
    pub runs: Vec<PathBuf>,
}

pub fn run(args: CleanupArgs) -> anyhow::Result<u8> {
    let mut files = state::find_state_files(&args.store);
    for r in &args.runs {
        let p = r.join(state::STATE_FILE);
        if !p.is_file() {
            anyhow::bail!("{}: no state file in this run directory", p.display());
        }
        files.push(p);
    }
    if files.is_empty() {
        println!(
            "nothing to clean: no run state files under {}",
            args.store.display()
        );
        return Ok(crate::exit::VALID);
    }
    let mut code = crate::exit::VALID;
    for file in files {
        let run_dir = file.parent().map(PathBuf::from).unwrap_or_default();
        let ledger = match state::read(&file) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                code = crate::exit::ERROR;
                continue;
            }
        };
        if ledger.outstanding.is_empty() {
            continue;
        }
        if ledger.owner_alive() {
            let pid = ledger.owner.map(|o| o.0).unwrap_or(0);
            println!(
                "{}: run still in progress (pid {pid}); left alone",
                run_dir.display()
            );
            continue;
        }
        let report =
            state::cleanup(&run_dir).with_context(|| format!("cleaning {}", run_dir.display()))?;
        for (r, outcome) in report {
            match outcome {
                Outcome::Removed => println!("{}: removed {r}", run_dir.display()),
                Outcome::AlreadyGone => println!("{}: already gone: {r}", run_dir.display()),
                Outcome::NotOurs => println!(
                    "{}: left alone: {r} (the pid now belongs to another program)",
                    run_dir.display()
                ),
                Outcome::Failed(e) => {
                    eprintln!("{}: FAILED to remove {r}: {e}", run_dir.display());
                    code = crate::exit::ERROR;
                }
            }
        }
    }
    Ok(code)
}

/// Hidden test helper: builds a run's network, partitions it, starts a sleeping process on
/// node 1's host, prints `ready` and waits to be killed (playing a harness killed mid-run).
#[derive(Debug, clap::Args)]
pub struct NetHoldArgs {
    /// The run directory (gets the state file).
    #[arg(long)]
    pub run_dir: PathBuf,
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// auto, netns or proxy.
    #[arg(long, default_value = "auto")]
    pub net: String,
    #[arg(long, default_value = "one")]
    pub partition: String,
}

pub fn net_hold(args: NetHoldArgs) -> anyhow::Result<u8> {
    let st = Arc::new(nemeses::StateFile::create(&args.run_dir)?);
    let cfg = nemeses::NetConfig {
        nodes: args.nodes,
        port: 7001,
        mode: args.net.parse()?,
        tag: nemeses::net::run_tag(&args.run_dir),
        seed: 1,
    };
    let net = nemeses::Net::setup(&cfg, st.clone())?;
    let pattern: nemeses::Pattern = args.partition.parse()?;
    let g = nemeses::grudge::grudge(
        &pattern,
        args.nodes,
        Some(1),
        &mut history::sim::SplitMix64::new(1),
    )?;
    net.partition(&g)?;
    let mut sleeper = net.wrap(1, std::process::Command::new("sleep").arg("3600"));
    let _child = nemeses::process::spawn(&mut sleeper, &st)?;
    println!("ready");
    use std::io::Write;
    std::io::stdout().flush()?;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
