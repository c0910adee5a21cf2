//! `faultline bench`: measured speed of the checkers and the harness. Speed is measured here,
//! never asserted in a test.

mod causal;
mod harness;
mod isolation;
mod linearizability;
mod porcupine_diff;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, clap::Subcommand)]
pub enum BenchWhat {
    /// Session + causal checking on generated list-append histories.
    Causal(causal::Args),
    /// Transactional isolation (strict-serializable) on generated list-append histories.
    Isolation(isolation::Args),
    /// Linearizability on the Porcupine corpus.
    Linearizability(linearizability::Args),
    /// Operations per second the harness drives against the built-in store.
    Harness(harness::Args),
    /// Differential run against Porcupine on generated register and kv histories.
    PorcupineDiff(porcupine_diff::Args),
}

pub fn run(args: BenchArgs) -> anyhow::Result<u8> {
    match args.what {
        BenchWhat::Causal(a) => causal::run(a),
        BenchWhat::Isolation(a) => isolation::run(a),
        BenchWhat::Linearizability(a) => linearizability::run(a),
        BenchWhat::Harness(a) => harness::run(a),
        BenchWhat::PorcupineDiff(a) => porcupine_diff::run(a),
    }
}
