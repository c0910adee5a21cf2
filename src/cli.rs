//! Command-line arguments (clap derive). These structs do no I/O; each subcommand module turns
//! them into a validated configuration.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "faultline",
    version,
    about = "Jepsen-style consistency verification: drive a store, inject faults, check the history"
)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); FAULTLINE_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check history files against consistency models.
    Check(crate::check_cmd::CheckArgs),
    /// Run a test: start a cluster, drive a workload with faults, check and report.
    Run(crate::run_cmd::RunArgs),
    /// Run one replica of the built-in reference store (started by `faultline run`).
    Node(crate::node_cmd::NodeArgs),
    /// Remove what runs killed with SIGKILL left behind (namespaces, rules, processes).
    Cleanup(crate::cleanup::CleanupArgs),
    /// Test helper: build and partition a run's network, then wait to be killed.
    #[command(name = "net-hold", hide = true)]
    NetHold(crate::cleanup::NetHoldArgs),
    /// Benchmark the checkers on generated histories.
    Bench(crate::bench::BenchArgs),
}
