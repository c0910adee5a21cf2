//! Placeholder until its issue lands.

#[derive(Debug, clap::Args)]
pub struct NodeArgs {}

pub fn run(_args: NodeArgs) -> anyhow::Result<u8> {
    anyhow::bail!("this subcommand is not available in this build yet")
}
