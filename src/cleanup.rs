//! Placeholder until its issue lands.

#[derive(Debug, clap::Args)]
pub struct CleanupArgs {}

pub fn run(_args: CleanupArgs) -> anyhow::Result<u8> {
    anyhow::bail!("this subcommand is not available in this build yet")
}
