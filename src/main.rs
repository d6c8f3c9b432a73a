//! The sitewright binary: parse the command line and hand it to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    sitewright::app::run(sitewright::cli::Cli::parse())
}
