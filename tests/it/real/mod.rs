//! The tests that run a real program besides sitewright: PostgreSQL, nginx, Django, Ansible, Nix,
//! the outside judges, pre-commit. Everything else runs only the sitewright binary, so
//! `cargo test --test it -- --skip real::` is the fast lane.

mod pre_commit;
