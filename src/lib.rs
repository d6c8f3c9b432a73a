//! sitewright: one typed site spec rendered into every configuration file of a PostgreSQL, nginx,
//! sysctl and Django deployment, with diffs against the live files.
//!
//! The stages, in the order data flows: [`source`] (read) → [`validate`] → [`spec`] (typed) →
//! [`check`] → [`plan`] → [`render`] → [`write`] or [`diff`]. [`app`] and [`write`] are the edges that
//! touch the filesystem and the terminal; [`cli`] holds the command line's types and nothing else.

pub mod app;
pub mod check;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod escape;
pub mod explain;
pub mod export;
pub mod load;
pub mod manifest;
pub mod parallel;
pub mod pg_settings;
pub mod plan;
pub mod render;
pub mod rules;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod spec;
pub mod suggest;
pub mod sysctl_keys;
pub mod templates;
pub mod units;
pub mod validate;
pub mod versions;
pub mod write;
