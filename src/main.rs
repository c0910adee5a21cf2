//! The `faultline` binary: a thin layer over the library crates. `main` parses arguments,
//! installs the tracing subscriber, runs a subcommand and maps the outcome to an exit code:
//! 0 valid, 1 invalid, 2 usage error, 3 unknown, 4 bad input or other error.

mod bench;
mod check_cmd;
mod cleanup;
mod cli;
mod exit;
mod junit;
mod node_cmd;
mod report;
mod run;
mod run_cmd;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(exit::USAGE),
            };
        }
    };
    if !matches!(cli.command, cli::Command::Run(_) | cli::Command::Node(_)) {
        // Like other Unix filters, `check`, `bench` and `cleanup` end quietly when their reader
        // goes away (`| head`) instead of panicking on the write. `run` and `node` keep Rust's
        // default (SIGPIPE ignored): a closed pipe must never kill a run before it heals.
        // SAFETY: setting a signal disposition before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    init_tracing(cli.verbose);
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<u8> {
    match cli.command {
        cli::Command::Check(args) => check_cmd::run(args),
        cli::Command::Run(args) => run_cmd::run(args),
        cli::Command::Node(args) => node_cmd::run(args),
        cli::Command::Cleanup(args) => cleanup::run(args),
        cli::Command::NetHold(args) => cleanup::net_hold(args),
        cli::Command::Bench(args) => bench::run(args),
    }
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter =
        EnvFilter::try_from_env("FAULTLINE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
