//! sitewright: one typed site spec rendered into every configuration file of a PostgreSQL, nginx,
//! sysctl and Django deployment, with diffs against the live files.
//!
//! The stages, in the order data flows: [`source`] (read) → [`validate`] → [`spec`] (typed) →
//! [`check`] → [`plan`] → [`render`] → [`write`] or [`diff`]. [`app`] and [`write`] are the edges that
//! touch the filesystem and the terminal; [`cli`] holds the command line's types and nothing else.

pub mod app;
pub(crate) mod check;
pub mod cli;
pub mod diagnostic;
pub(crate) mod diff;
pub(crate) mod escape;
pub(crate) mod explain;
pub(crate) mod export;
pub(crate) mod import;
pub(crate) mod live;
pub mod load;
pub(crate) mod manifest;
pub(crate) mod nginx_directives;
pub(crate) mod parallel;
pub mod pg_settings;
pub(crate) mod pgbouncer_settings;
pub mod plan;
pub mod render;
pub mod rules;
pub(crate) mod running;
pub mod schema;
pub(crate) mod scram;
pub(crate) mod secrets;
pub mod source;
pub mod spec;
pub(crate) mod suggest;
pub(crate) mod sysctl_keys;
pub mod templates;
pub(crate) mod units;
pub(crate) mod validate;
pub(crate) mod versions;
pub(crate) mod write;
pub(crate) mod yaml;
