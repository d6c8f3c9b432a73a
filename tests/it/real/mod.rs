//! The tests that run a real program besides sitewright: PostgreSQL, nginx, Django and Python,
//! procps' sysctl, pg_dump, Ansible, Nix, the outside judges (gixy, sslyze), pre-commit, OpenSSH's
//! sshd and ssh. The tests outside this module run only the sitewright binary, its library and the
//! system's basic tools (sh, chown, unshare), so `cargo test --test it -- --skip real::` is the
//! fast lane.

mod ansible;
mod baseline;
mod directive_cases;
mod directives;
mod django;
mod export;
mod export_pgbouncer;
mod generated;
mod import;
mod injection;
mod judges;
mod machine_harness;
mod nginx;
mod overrides;
mod pg_tls;
mod pgbouncer;
mod postgres;
mod pre_commit;
mod programs;
mod replication;
mod running;
mod scram;
mod ssh;
mod ssh_harness;
