//! Placeholder until its issue lands.

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs) -> anyhow::Result<u8> {
    anyhow::bail!("this subcommand is not available in this build yet")
}
