//! Rules of pg_hba.conf, on the records the plan writes: what can never match, what lets too much
//! in, and whether every replica gets in over SSL.

use std::net::IpAddr;

use crate::diagnostic::Diagnostic;
use crate::plan::postgres::hba::{Record, records};
use crate::source::Document;
use crate::spec::{Role, Site};

const PASSWORD_METHODS: &[&str] = &["scram-sha-256", "md5", "password"];

pub(super) fn check(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(pg) = &site.postgres else { return };
    if site.hosts_with(Role::PostgresPrimary).count() != 1 {
        return;
    }
    let records = records(site, pg);
    let pos = |r: &Record| match r.spec_index {
        Some(i) => doc.value_pos(&format!("/postgres/hba/{i}")),
        None => doc.key_pos("/postgres/replication"),
    };
    for (i, record) in records.iter().enumerate() {
        if let Some(earlier) = records[..i].iter().find(|e| covers(e, record)) {
            out.push(
                Diagnostic::warning(
                    pos(record),
                    format!(
                        "this {} record for {} can never match: an earlier one matches all its connections",
                        record.kind,
                        record.users.join(",")
                    ),
                )
                .rule("HBA001")
                .also(pos(earlier)),
            );
        }
        if record.method == "trust" && record.kind != "local" {
            out.push(
                Diagnostic::error(
                    pos(record),
                    format!(
                        "trust over {}: anyone who reaches the port logs in without a password",
                        record.kind
                    ),
                )
                .rule("HBA002"),
            );
        }
        if record.method == "md5" {
            out.push(
                Diagnostic::warning(
                    pos(record),
                    "md5 where every supported PostgreSQL speaks scram-sha-256",
                )
                .rule("HBA003"),
            );
        }
        let anywhere = matches!(
            record.address.as_deref(),
            Some("0.0.0.0/0" | "::/0" | "all")
        );
        if anywhere && PASSWORD_METHODS.contains(&record.method) {
            out.push(
                Diagnostic::warning(
                    pos(record),
                    "password logins from any address: name the clients' networks",
                )
                .rule("HBA004"),
            );
        }
        if pg.ssl.is_some()
            && record.kind == "host"
            && record.databases.iter().any(|d| d == "replication")
        {
            out.push(
                Diagnostic::error(
                    pos(record),
                    "a replication record over plain host while SSL is on: use hostssl",
                )
                .rule("PG016"),
            );
        }
    }
    let Some(replication) = &pg.replication else {
        return;
    };
    let forwarded = replication.public_port.is_some();
    for (index, replica) in site
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.has(Role::PostgresReplica))
    {
        let mut sources = vec![replica.address.ip()];
        if forwarded {
            sources.push(IpAddr::from([127, 0, 0, 1]));
        }
        for source in sources {
            let first = records
                .iter()
                .find(|r| admits(r, replication.user.as_str(), source));
            let ok = first
                .is_some_and(|r| r.kind != "hostnossl" && PASSWORD_METHODS.contains(&r.method));
            if !ok {
                let what = match first {
                    Some(r) => format!(
                        "the first record that matches is `{} … {}`",
                        r.kind, r.method
                    ),
                    None => "no record matches".to_owned(),
                };
                let via = if source.is_loopback() && forwarded {
                    " through nginx's forward"
                } else {
                    ""
                };
                let mut d = Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{index}/address")),
                    format!(
                        "replica {} cannot log in for replication from {source}{via}: {what}",
                        replica.name
                    ),
                )
                .rule("PG015")
                .on(replica.name.as_str());
                if let Some(r) = first {
                    d = d.also(pos(r));
                }
                out.push(d);
            }
        }
    }
}

/// Whether `record` matches a replication connection of `user` from `source` over SSL.
fn admits(record: &Record, user: &str, source: IpAddr) -> bool {
    let kind = matches!(record.kind, "host" | "hostssl" | "hostnogssenc");
    let database = record.databases.iter().any(|d| d == "replication");
    let role = record.users.iter().any(|u| u == "all" || u == user);
    kind && database
        && role
        && record
            .address
            .as_deref()
            .is_some_and(|a| contains(a, source))
}

/// Whether the address column `cidr` matches `ip`; keywords that depend on the server's own
/// interfaces (samehost, samenet) are taken not to.
fn contains(cidr: &str, ip: IpAddr) -> bool {
    if cidr == "all" {
        return true;
    }
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether every connection `later` matches, `earlier` matches too.
fn covers(earlier: &Record, later: &Record) -> bool {
    let kind =
        earlier.kind == later.kind || (earlier.kind == "host" && later.kind.starts_with("host"));
    // `all` matches every database but replication, which only `replication` matches.
    let databases = later.databases.iter().all(|d| {
        earlier.databases.contains(d)
            || (d != "replication" && earlier.databases.iter().any(|e| e == "all"))
    });
    let users = later
        .users
        .iter()
        .all(|u| earlier.users.contains(u) || earlier.users.iter().any(|e| e == "all"));
    let address = match (&earlier.address, &later.address) {
        (None, None) => true,
        (Some(a), Some(b)) if a == b || a == "all" => true,
        (Some(a), Some(b)) => within(b, a),
        _ => false,
    };
    kind && databases && users && address
}

/// Whether the CIDR block `inner` lies within `outer`.
fn within(inner: &str, outer: &str) -> bool {
    let Some((net, bits)) = inner.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(inner_bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let outer_bits = outer
        .split_once('/')
        .and_then(|(_, b)| b.parse::<u32>().ok());
    outer_bits.is_some_and(|o| o <= inner_bits) && contains(outer, net)
}
