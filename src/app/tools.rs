//! Commands around the pipeline: starter specs, and the texts clap writes about the command line
//! (shell completions, the manual page).

use super::Failure;
use super::exit::Outcome;
use super::options::Starter;

/// The starter specs, embedded like the templates.
const SINGLE: &str = include_str!("../../init/single.yaml");
const PRIMARY_REPLICA: &str = include_str!("../../init/primary-replica.yaml");
const CACHING_PROXY: &str = include_str!("../../init/caching-proxy.yaml");

pub(super) fn init(starter: Starter) -> Result<Outcome, Failure> {
    let spec = match starter {
        Starter::Single => SINGLE,
        Starter::PrimaryReplica => PRIMARY_REPLICA,
        Starter::CachingProxy => CACHING_PROXY,
    };
    print(spec)
}

pub(super) fn print(text: &str) -> Result<Outcome, Failure> {
    outln!("{}", text.trim_end())?;
    Ok(Outcome::Done)
}
