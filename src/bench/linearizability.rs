//! Placeholder until its issue lands.

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("this benchmark is not available in this build yet")
}
