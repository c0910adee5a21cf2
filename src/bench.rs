//! Placeholder until its issue lands.

#[derive(Debug, clap::Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> anyhow::Result<u8> {
    anyhow::bail!("this subcommand is not available in this build yet")
}
