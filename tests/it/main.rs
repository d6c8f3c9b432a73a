//! sitewright's integration tests: the real binary on real files, and real servers reading what it
//! writes. One test binary, one module per theme; the tests that run a real program besides
//! sitewright are under `real`, so `cargo test --test it -- --skip real::` runs the others alone.

// A test binary has no outside: its helpers are `pub` for its own modules, which the crate-wide
// unreachable_pub lint would flag.
#![allow(unreachable_pub)]

mod check;
mod corpus;
mod diff;
mod directives;
mod django;
mod explain;
mod export;
mod faults;
mod import;
mod injection;
mod real;
mod render;
mod rules;
mod schema;
mod secrets;
mod shapes;
mod stale;
mod support;
mod sysctl;
mod templates;
mod tools;
