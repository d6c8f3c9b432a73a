//! Commands around the pipeline: starter specs, shell completions and the manual page.

use clap::CommandFactory;

use super::Failure;
use crate::cli::{Cli, CompletionsArgs, InitArgs, Shape};

/// The starter specs, embedded like the templates.
const SINGLE: &str = include_str!("../../init/single.yaml");
const PRIMARY_REPLICA: &str = include_str!("../../init/primary-replica.yaml");
const CACHING_PROXY: &str = include_str!("../../init/caching-proxy.yaml");

pub(super) fn init(args: &InitArgs) -> Result<u8, Failure> {
    let spec = match args.shape {
        Shape::Single => SINGLE,
        Shape::PrimaryReplica => PRIMARY_REPLICA,
        Shape::CachingProxy => CACHING_PROXY,
    };
    outln!("{}", spec.trim_end());
    Ok(0)
}

pub(super) fn completions(args: &CompletionsArgs) -> Result<u8, Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "sitewright", &mut script);
    outln!("{}", String::from_utf8_lossy(&script).trim_end());
    Ok(0)
}

pub(super) fn man() -> Result<u8, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(Failure::Output)?;
    outln!("{}", String::from_utf8_lossy(&page).trim_end());
    Ok(0)
}
