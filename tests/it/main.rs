//! sitewright's integration tests: the real binary on real files, and real servers reading what it
//! writes. One test binary, one module per theme.

mod baseline;
mod check;
mod corpus;
mod diff;
mod django;
mod explain;
mod export;
mod faults;
mod generated;
mod injection;
mod judges;
mod nginx;
mod pg_tls;
mod postgres;
mod programs;
mod real;
mod render;
mod replication;
mod rules;
mod schema;
mod secrets;
mod shapes;
mod support;
mod tools;
