//! The sitewright binary: parse the command line and hand it to the library.

use clap::Parser;

// A large site's plan and render are many small allocations, which mimalloc serves faster than the
// system allocator (README, "Performance").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sitewright::app::run(sitewright::cli::Cli::parse())
}
