//! Rules of pg_hba.conf, on the records the plan writes: what can never match, what lets too much
//! in, whether every replica gets in over SSL, and whether the nightly pg_dump gets in at all.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use crate::diagnostic::{Diagnostic, Pos};
use crate::plan::postgres::hba::Record;
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{Postgres, Replication, Role, Site};

const PASSWORD_METHODS: &[&str] = &["scram-sha-256", "md5", "password"];

pub(super) fn check(
    site: &Site,
    doc: &Document,
    derived: &crate::plan::Derived,
    out: &mut Vec<Diagnostic>,
) {
    let Some(pg) = &site.postgres else { return };
    if site.hosts_with(Role::PostgresPrimary).count() != 1 {
        return;
    }
    let records = derived.hba(site);
    each_record(pg, records, doc, out);
    if let Some(replication) = &pg.replication {
        replicas_admitted(site, replication, records, doc, out);
    }
    if let Some(backup) = &pg.backup {
        backup_admitted(pg, backup.database.as_str(), records, doc, out);
    }
    pgbouncer_admitted(site, pg, records, doc, out);
}

/// Whether the first record that matches each server connection of PgBouncer (each database it
/// serves, as each of its users, from its host or loopback, over TLS or not as its
/// server_tls_sslmode says) lets it in with a password (PGB005).
fn pgbouncer_admitted(
    site: &Site,
    pg: &Postgres,
    records: &[Record],
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let (Some(pgb), Some(primary)) = (
        &site.pgbouncer,
        site.hosts_with(Role::PostgresPrimary).next(),
    ) else {
        return;
    };
    let mut users: Vec<&str> = pgb.users.iter().map(|u| u.name.as_str()).collect();
    if let Some(query) = &pgb.auth_query {
        users.push(query.user.as_str());
    }
    for host in pgb.hosts.iter().filter_map(|h| site.host(h.as_str())) {
        let upstream = crate::plan::pgbouncer::Upstream::of(site, pg, primary, host);
        let source = if upstream.loopback {
            IpAddr::from([127, 0, 0, 1])
        } else {
            host.address.ip()
        };
        let tls = !upstream.local && pg.ssl.is_some();
        for (i, db) in pgb.databases.iter().enumerate() {
            for user in &users {
                let first = records.iter().find(|r| {
                    let kind = match r.kind {
                        "host" | "hostnogssenc" => true,
                        "hostssl" => tls,
                        "hostnossl" => !tls,
                        _ => false,
                    };
                    kind && r.users.iter().any(|u| u == "all" || u == user)
                        && r.databases.iter().any(|d| {
                            d == "all"
                                || d == db.name.as_str()
                                || (d == "sameuser" && db.name.as_str() == *user)
                        })
                        && r.address.as_deref().is_some_and(|a| contains(a, source))
                });
                if first.is_some_and(|r| PASSWORD_METHODS.contains(&r.method)) {
                    continue;
                }
                let what = match first {
                    Some(r) => format!(
                        "the first record that matches is `{} … {}`",
                        r.kind, r.method
                    ),
                    None => "no record matches".to_owned(),
                };
                let mut d = Diagnostic::error(
                    doc.value_pos(&format!("/pgbouncer/databases/{i}/name")),
                    format!(
                        "PgBouncer on {} cannot log in to {} as {user} from {source}: {what}",
                        host.name, db.name
                    ),
                )
                .rule(Rule::PGB005)
                .on(host.name.as_str());
                if let Some(r) = first {
                    d = d.also(pos(doc, r));
                }
                out.push(d);
            }
        }
    }
}

/// Where a record is in the spec: its entry of `postgres.hba`, `postgres.hba` (or `hba_local`)
/// for the local records the plan keeps, or `postgres.replication` for the replication records
/// the plan adds.
fn pos(doc: &Document, record: &Record) -> Pos {
    match record.spec_index {
        Some(i) => doc.value_pos(&format!("/postgres/hba/{i}")),
        None if record.kind == "local" && doc.has("/postgres/hba_local") => {
            doc.key_pos("/postgres/hba_local")
        }
        None if record.kind == "local" => doc.key_pos("/postgres/hba"),
        None => doc.key_pos("/postgres/replication"),
    }
}

/// Each record against the ones before it (HBA001), and what it lets in (HBA002 to HBA004, PG016).
fn each_record(pg: &Postgres, records: &[Record], doc: &Document, out: &mut Vec<Diagnostic>) {
    let pos = |r: &Record| pos(doc, r);
    let mut earlier = Earlier::default();
    for (i, record) in records.iter().enumerate() {
        let shadowing = earlier.first_covering(records, record);
        earlier.insert(i, record);
        if let Some(earlier) = shadowing {
            let by = &records[earlier];
            let which = if by.spec_index.is_none() && by.kind == "local" {
                format!(
                    "`local all {} peer`, which sitewright keeps first, matches all its connections; \
                     to write the local records yourself, set `hba_local: replace`",
                    by.users.join(",")
                )
            } else {
                "an earlier one matches all its connections".to_owned()
            };
            out.push(
                Diagnostic::warning(
                    pos(record),
                    format!(
                        "this {} record for {} can never match: {which}",
                        record.kind,
                        record.users.join(",")
                    ),
                )
                .rule(Rule::HBA001)
                .also(pos(by)),
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
                .rule(Rule::HBA002),
            );
        }
        if record.method == "md5" {
            out.push(
                Diagnostic::warning(
                    pos(record),
                    "md5 where every supported PostgreSQL speaks scram-sha-256",
                )
                .rule(Rule::HBA003),
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
                .rule(Rule::HBA004),
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
                .rule(Rule::PG016),
            );
        }
    }
}

/// Whether the first record that matches each replica's replication connection (from its address,
/// and from loopback through nginx's forward) lets it in over SSL with a password (PG015).
fn replicas_admitted(
    site: &Site,
    replication: &Replication,
    records: &[Record],
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let pos = |r: &Record| pos(doc, r);
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
                .rule(Rule::PG015)
                .on(replica.name.as_str());
                if let Some(r) = first {
                    d = d.also(pos(r));
                }
                out.push(d);
            }
        }
    }
}

/// Whether the first record that matches the nightly pg_dump's connection (cron runs it as the
/// postgres OS user, over the Unix socket, as the postgres role, to the backup's database) lets it
/// in without a password, by peer or trust (HBA005). A `+group` record is taken not to match: a
/// superuser is a member of a group only if it was granted, as PostgreSQL reads `+` too.
fn backup_admitted(
    pg: &Postgres,
    database: &str,
    records: &[Record],
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let first = records.iter().find(|r| {
        r.kind == "local"
            && r.users.iter().any(|u| u == "all" || u == "postgres")
            && r.databases
                .iter()
                .any(|d| d == "all" || d == database || (d == "sameuser" && database == "postgres"))
    });
    if first.is_some_and(|r| matches!(r.method, "peer" | "trust")) {
        return;
    }
    let what = match first {
        Some(r) => format!(
            "the first record that matches is `local {} {} {}`",
            r.databases.join(","),
            r.users.join(","),
            r.method
        ),
        None => "no record matches".to_owned(),
    };
    let replaced = if pg.hba_local == crate::spec::HbaLocal::Replace {
        " (`hba_local: replace` leaves out sitewright's own)"
    } else {
        ""
    };
    let mut d = Diagnostic::error(
        doc.key_pos("/postgres/backup"),
        format!(
            "the nightly pg_dump cannot log in: cron runs it as postgres over the Unix socket, \
             and {what}{replaced}; add `{{ type: local, databases: [all], users: [postgres], method: peer }}` \
             to `hba` before any other local record"
        ),
    )
    .rule(Rule::HBA005);
    if let Some(r) = first {
        d = d.also(pos(doc, r));
    }
    out.push(d);
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

/// The records seen so far, indexed by address, so that finding the first one that covers a record
/// looks only at those whose address could contain its own: a site's web hosts each add a record,
/// and comparing every pair would grow with the square of the site.
#[derive(Default)]
struct Earlier {
    /// Records without an address (`local`), in order.
    local: Vec<usize>,
    /// Records whose address is `all`, or a keyword (samehost, samenet) matched only by itself.
    keyword: HashMap<String, Vec<usize>>,
    /// CIDR records by (IPv6, prefix length, network), each list in order.
    blocks: HashMap<(bool, u32, u128), Vec<usize>>,
    /// The prefix lengths in `blocks`, so that a lookup tries each once.
    lengths: BTreeSet<(bool, u32)>,
}

impl Earlier {
    fn insert(&mut self, index: usize, record: &Record) {
        match record.address.as_deref() {
            None => self.local.push(index),
            Some(address) => match block(address) {
                Some((v6, bits, net)) => {
                    self.lengths.insert((v6, bits));
                    self.blocks.entry((v6, bits, net)).or_default().push(index);
                }
                None => self
                    .keyword
                    .entry(address.to_owned())
                    .or_default()
                    .push(index),
            },
        }
    }

    /// The first record seen so far that matches every connection `later` matches.
    fn first_covering(&self, records: &[Record], later: &Record) -> Option<usize> {
        let first = |list: Option<&Vec<usize>>| {
            list.into_iter()
                .flatten()
                .copied()
                .find(|&e| covers(&records[e], later))
        };
        let mut found = Vec::new();
        match later.address.as_deref() {
            None => found.push(first(Some(&self.local))),
            Some(address) => {
                found.push(first(self.keyword.get("all")));
                found.push(first(self.keyword.get(address)));
                if let Some((v6, bits, net)) = block(address) {
                    for &(outer_v6, outer_bits) in &self.lengths {
                        if outer_v6 == v6 && outer_bits <= bits {
                            let key = (v6, outer_bits, net & mask(v6, outer_bits));
                            found.push(first(self.blocks.get(&key)));
                        }
                    }
                }
            }
        }
        found.into_iter().flatten().min()
    }
}

/// A CIDR block as (IPv6, prefix length, network with the host bits cleared).
fn block(cidr: &str) -> Option<(bool, u32, u128)> {
    let (net, bits) = cidr.split_once('/')?;
    let (net, bits) = (net.parse::<IpAddr>().ok()?, bits.parse::<u32>().ok()?);
    let (v6, net) = match net {
        IpAddr::V4(n) if bits <= 32 => (false, u128::from(u32::from(n))),
        IpAddr::V6(n) if bits <= 128 => (true, u128::from(n)),
        _ => return None,
    };
    Some((v6, bits, net & mask(v6, bits)))
}

/// The network mask of a prefix length, in the low 32 bits for IPv4.
fn mask(v6: bool, bits: u32) -> u128 {
    let width = if v6 { 128 } else { 32 };
    let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
    if bits == 0 {
        0
    } else {
        all & (all << (width - bits))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &'static str, database: &str, user: &str, address: Option<&str>) -> Record {
        Record {
            kind,
            databases: vec![database.to_owned()],
            users: vec![user.to_owned()],
            address: address.map(str::to_owned),
            method: "scram-sha-256",
            why: String::new(),
            spec_index: None,
        }
    }

    /// The index finds, for every record, the same first covering record as comparing every pair.
    #[test]
    fn the_index_agrees_with_comparing_every_pair() {
        let addresses = [
            None,
            Some("all"),
            Some("samehost"),
            Some("10.0.0.0/8"),
            Some("10.1.0.0/16"),
            Some("10.1.2.3/32"),
            Some("10.1.2.4/32"),
            Some("192.0.2.0/24"),
            Some("0.0.0.0/0"),
            Some("2001:db8::/32"),
            Some("2001:db8::1/128"),
            Some("::/0"),
        ];
        let mut records = Vec::new();
        for (i, address) in addresses.iter().cycle().take(60).enumerate() {
            let kind = ["host", "hostssl", "local"][i % 3];
            let kind = if address.is_none() {
                "local"
            } else if kind == "local" {
                "host"
            } else {
                kind
            };
            let database = ["all", "app", "replication"][i % 4 % 3];
            let user = ["all", "app_user"][i % 5 % 2];
            records.push(record(kind, database, user, *address));
        }
        records.reverse();
        let mut earlier = Earlier::default();
        let mut found = 0;
        for (i, r) in records.iter().enumerate() {
            let brute = records[..i].iter().position(|e| covers(e, r));
            assert_eq!(
                earlier.first_covering(&records, r),
                brute,
                "record {i}: {r:?}"
            );
            found += usize::from(brute.is_some());
            earlier.insert(i, r);
        }
        assert!(
            found > 10,
            "only {found} records were covered: the test proves little"
        );
    }
}
