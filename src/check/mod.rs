//! The check stage: rules that look across hosts and services, which a schema cannot express.
//!
//! Each rule has a stable id (see [`crate::rules`]) so that users can look it up and CI logs stay
//! searchable. One module per service; each reads the spec, and where a rule is about what the
//! files will say, the plan.

mod directives;
mod django;
mod hba;
mod locations;
mod nginx;
mod pgbouncer;
mod ports;
mod postgres;
mod sysctl;

use std::collections::{BTreeMap, HashSet};

use crate::diagnostic::{Diagnostic, Pos};
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{Role, Site};

/// Runs every rule; the result holds errors and warnings in no particular order.
pub(crate) fn check(
    site: &Site,
    doc: &Document,
    derived: &crate::plan::Derived,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    hosts(site, doc, &mut out);
    postgres::check(site, doc, derived, &mut out);
    hba::check(site, doc, derived, &mut out);
    nginx::check(site, doc, &mut out);
    locations::check(site, doc, &mut out);
    directives::check(site, doc, &mut out);
    django::check(site, doc, &mut out);
    sysctl::check(site, doc, derived, &mut out);
    pgbouncer::check(site, doc, derived, &mut out);
    ports::check(site, doc, &mut out);
    out
}

fn hosts(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    // By parsed address, so that two spellings of one IPv6 address are one. Loopback names no
    // machine (each has its own), and a site laid out on one machine for testing puts every
    // host there, so it is not compared.
    let mut addresses: BTreeMap<std::net::IpAddr, usize> = BTreeMap::new();
    for (i, host) in site.hosts.iter().enumerate() {
        if host.address.ip().is_loopback() {
            continue;
        }
        if let Some(first) = addresses.insert(host.address.ip(), i) {
            addresses.insert(host.address.ip(), first);
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{i}/address")),
                    format!(
                        "{} is already the address of host `{}` (line {}): each host has its own, since the allow lists, pg_hba.conf records and listen lines tell hosts apart by it",
                        host.address,
                        site.hosts[first].name,
                        doc.value_pos(&format!("/hosts/{first}/address")).line
                    ),
                )
                .rule(Rule::SITE003),
            );
        }
        if let Some(first) = seen.insert(host.name.as_str(), i) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{i}/name")),
                    format!(
                        "host `{}` is already defined at line {}",
                        host.name,
                        doc.value_pos(&format!("/hosts/{first}/name")).line
                    ),
                )
                .rule(Rule::SITE001),
            );
        }
        let mut roles = HashSet::new();
        for (r, role) in host.roles.iter().enumerate() {
            if !roles.insert(role) {
                out.push(
                    Diagnostic::error(
                        doc.value_pos(&format!("/hosts/{i}/roles/{r}")),
                        "this role is listed twice",
                    )
                    .rule(Rule::SITE002),
                );
            }
        }
        if host.has(Role::PostgresPrimary) && host.has(Role::PostgresReplica) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{i}/roles")),
                    "a host is either the PostgreSQL primary or a replica, not both",
                )
                .rule(Rule::PG001),
            );
        }
    }
}

pub(super) fn role_positions(site: &Site, doc: &Document, role: Role) -> Vec<Pos> {
    site.hosts
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let r = h.roles.iter().position(|r| *r == role)?;
            Some(doc.value_pos(&format!("/hosts/{i}/roles/{r}")))
        })
        .collect()
}
