//! pg_hba.conf records: the local records a server needs (unless the spec's `hba_local: replace`
//! says its own replace them), the spec's own in order, then the replication and Django records
//! that follow from the site's hosts.

use std::collections::HashSet;

use serde::Serialize;

use crate::spec::{HbaLocal, HbaMethod, HbaType, Postgres, Role, Site};

/// Hosts connecting through nginx's stream forward arrive from loopback, not their own address.
pub(crate) const LOOPBACK_CIDR: &str = "127.0.0.1/32";

/// One record, ready to lay out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Record {
    pub(crate) kind: &'static str,
    pub(crate) databases: Vec<String>,
    pub(crate) users: Vec<String>,
    pub(crate) address: Option<String>,
    pub(crate) method: &'static str,
    pub(crate) why: String,
    /// The index of the spec's `postgres.hba` record it was written from.
    #[serde(skip)]
    pub(crate) spec_index: Option<usize>,
}

pub(crate) fn kind_name(kind: HbaType) -> &'static str {
    match kind {
        HbaType::Local => "local",
        HbaType::Host => "host",
        HbaType::Hostssl => "hostssl",
        HbaType::Hostnossl => "hostnossl",
        HbaType::Hostgssenc => "hostgssenc",
        HbaType::Hostnogssenc => "hostnogssenc",
    }
}

pub(crate) fn method_name(method: HbaMethod) -> &'static str {
    match method {
        HbaMethod::ScramSha256 => "scram-sha-256",
        HbaMethod::Md5 => "md5",
        HbaMethod::Peer => "peer",
        HbaMethod::Cert => "cert",
        HbaMethod::Reject => "reject",
        HbaMethod::Trust => "trust",
    }
}

fn derived(kind: &'static str, database: &str, user: &str, address: String, why: String) -> Record {
    Record {
        kind,
        databases: vec![database.to_owned()],
        users: vec![user.to_owned()],
        address: Some(address),
        method: "scram-sha-256",
        why,
        spec_index: None,
    }
}

pub(crate) fn records(site: &Site, pg: &Postgres) -> Vec<Record> {
    let spec: Vec<Record> = pg
        .hba
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            kind: kind_name(r.kind),
            databases: r.databases.iter().map(|d| d.0.clone()).collect(),
            users: r.users.iter().map(|u| u.0.clone()).collect(),
            address: r.address.as_ref().map(|a| a.0.clone()),
            method: method_name(r.method),
            why: r
                .comment
                .clone()
                .unwrap_or_else(|| "from the spec".to_owned()),
            spec_index: Some(i),
        })
        .collect();
    let mut out = Vec::with_capacity(spec.len() + 2);
    match pg.hba_local {
        HbaLocal::Replace => out.extend(spec),
        HbaLocal::Keep => {
            let local = |user: &str, why: &str| Record {
                kind: "local",
                databases: vec!["all".into()],
                users: vec![user.into()],
                address: None,
                method: "peer",
                why: why.into(),
                spec_index: None,
            };
            if !lets_postgres_in(&spec) {
                out.push(local(
                    "postgres",
                    "the postgres superuser over the Unix socket",
                ));
            }
            let all_local = spec.iter().any(|r| {
                r.kind == "local"
                    && r.databases.iter().any(|d| d == "all")
                    && r.users.iter().any(|u| u == "all")
            });
            out.extend(spec);
            if !all_local {
                out.push(local("all", "local roles over the Unix socket"));
            }
        }
    }
    let host_kind = if pg.ssl.is_some() { "hostssl" } else { "host" };
    let forwarded = pg.replication.as_ref().and_then(|r| r.public_port);
    if let Some(replication) = &pg.replication {
        let user = replication.user.as_str();
        for replica in site.hosts_with(Role::PostgresReplica) {
            out.push(derived(
                host_kind,
                "replication",
                user,
                replica.address.host_cidr(),
                format!("replica {}", replica.name),
            ));
        }
        if let Some(public) = forwarded {
            out.push(derived(
                host_kind,
                "replication",
                user,
                LOOPBACK_CIDR.into(),
                format!("replicas through nginx's stream forward on port {public}"),
            ));
        }
    }
    if let Some(django) = &site.django {
        out.extend(django_records(site, django, host_kind, forwarded));
    }
    out.extend(pgbouncer_records(site, pg, host_kind));
    dedup(out)
}

/// The records of PgBouncer's server connections: each database it serves, as each role it lets
/// in (and its auth_user), from each host that runs it; from loopback when that is the primary or
/// it comes through nginx's stream forward.
pub(crate) fn pgbouncer_records(
    site: &Site,
    pg: &Postgres,
    host_kind: &'static str,
) -> Vec<Record> {
    let Some(pgb) = &site.pgbouncer else {
        return Vec::new();
    };
    let Some(primary) = site.hosts_with(Role::PostgresPrimary).next() else {
        return Vec::new();
    };
    let mut users: Vec<String> = pgb.users.iter().map(|u| u.name.to_string()).collect();
    if let Some(query) = &pgb.auth_query {
        users.push(query.user.to_string());
    }
    let databases: Vec<String> = pgb.databases.iter().map(|d| d.name.to_string()).collect();
    let mut out = Vec::new();
    for host in pgb.hosts.iter().filter_map(|name| site.host(name.as_str())) {
        let upstream = crate::plan::pgbouncer::Upstream::of(site, pg, primary, host);
        let (kind, address, why) = if upstream.local {
            (
                "host",
                LOOPBACK_CIDR.to_owned(),
                format!("PgBouncer on {} itself", host.name),
            )
        } else if upstream.loopback {
            (
                host_kind,
                LOOPBACK_CIDR.to_owned(),
                format!("PgBouncer on {} through nginx's stream forward", host.name),
            )
        } else {
            (
                host_kind,
                host.address.host_cidr(),
                format!("PgBouncer on {}", host.name),
            )
        };
        out.push(Record {
            kind,
            databases: databases.clone(),
            users: users.clone(),
            address: Some(address),
            method: "scram-sha-256",
            why,
            spec_index: None,
        });
    }
    out
}

/// Whether the first of `spec`'s records that can match the postgres superuser over the Unix
/// socket lets it in to every database by peer or trust, so that `local all postgres peer` would
/// add nothing. A `+group` record counts as one that can match, since postgres may be a member.
fn lets_postgres_in(spec: &[Record]) -> bool {
    let first = spec.iter().find(|r| {
        r.kind == "local"
            && r.users
                .iter()
                .any(|u| u == "all" || u == "postgres" || u.starts_with('+'))
    });
    first.is_some_and(|r| {
        r.databases.iter().any(|d| d == "all")
            && r.users.iter().any(|u| u == "all" || u == "postgres")
            && matches!(r.method, "peer" | "trust")
    })
}

/// The records of Django's connections: each web host from its own address, or from loopback when
/// it is the primary itself or comes through nginx's stream forward.
fn django_records(
    site: &Site,
    django: &crate::spec::Django,
    host_kind: &'static str,
    forwarded: Option<crate::spec::Port>,
) -> Vec<Record> {
    let mut out = Vec::new();
    let db = &django.database;
    let primary = site.hosts_with(Role::PostgresPrimary).next();
    let is_local = |web: &crate::spec::Host| primary.is_some_and(|p| p.name == web.name);
    // Through PgBouncer, Django reaches the primary as PgBouncer does, whose records say so; a
    // read-only instance still reads its own replica.
    let pooled = db.pgbouncer && site.pgbouncer.is_some();
    let webs = || {
        site.hosts_with(Role::Web)
            .filter(move |w| !pooled || crate::plan::django::read_only(w))
    };
    let remote = webs().any(|w| !is_local(w));
    // Django on the primary and the remote ones through nginx's forward all arrive from
    // loopback; one record of the forward's type serves both, where a `host` record first
    // would leave the forward's hostssl record unused and let the forward in without SSL.
    let local_kind = if remote && forwarded.is_some() {
        host_kind
    } else {
        "host"
    };
    for web in webs() {
        let local = is_local(web);
        out.push(if local {
            derived(
                local_kind,
                db.name.as_str(),
                db.user.as_str(),
                LOOPBACK_CIDR.into(),
                format!("Django on {} itself", web.name),
            )
        } else {
            derived(
                host_kind,
                db.name.as_str(),
                db.user.as_str(),
                web.address.host_cidr(),
                format!("Django on {}", web.name),
            )
        });
    }
    if let (true, Some(public)) = (remote, forwarded) {
        out.push(derived(
            host_kind,
            db.name.as_str(),
            db.user.as_str(),
            LOOPBACK_CIDR.into(),
            format!("Django through nginx's stream forward on port {public}"),
        ));
    }
    out
}

/// A later record identical to an earlier one in what it matches can never be used: one that
/// sitewright adds is left out, one of the spec's is written as given, so that `check` says that
/// it can never match (HBA001) instead of it going unseen.
fn dedup(records: Vec<Record>) -> Vec<Record> {
    // Hashed, not searched: a site's web hosts each add a record, and there may be thousands.
    let mut seen = HashSet::with_capacity(records.len());
    records
        .into_iter()
        .filter(|r| {
            let new = seen.insert((
                r.kind,
                r.databases.clone(),
                r.users.clone(),
                r.address.clone(),
            ));
            new || r.spec_index.is_some()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::source::Source;

    /// The records written for a one-host site whose `postgres:` section ends with `extra`, as
    /// pg_hba.conf lines.
    fn lines(extra: &str) -> Vec<String> {
        let spec = format!(
            "site: s\nhosts:\n  - {{ name: a, address: 192.0.2.1, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }}\npostgres:\n  version: 16\n  data_directory: /d\n{extra}"
        );
        let source = Source::from_bytes("site.yaml", spec.into_bytes()).unwrap();
        let doc = source.parse().unwrap();
        let site = Site::deserialize(&doc.value).unwrap();
        let pg = site.postgres.as_ref().unwrap();
        records(&site, pg)
            .iter()
            .map(|r| {
                let mut fields = vec![r.kind.to_owned(), r.databases.join(","), r.users.join(",")];
                fields.extend(r.address.clone());
                fields.push(r.method.to_owned());
                fields.join(" ")
            })
            .collect()
    }

    const PEER_POSTGRES: &str = "local all postgres peer";
    const PEER_ALL: &str = "local all all peer";

    #[test]
    fn without_hba_records_both_local_records_are_written() {
        assert_eq!(lines(""), [PEER_POSTGRES, PEER_ALL]);
    }

    #[test]
    fn one_hba_record_goes_between_the_local_records() {
        assert_eq!(
            lines(
                "  hba:\n    - { type: host, databases: [app], users: [app], address: 192.0.2.0/24, method: scram-sha-256 }\n"
            ),
            [
                PEER_POSTGRES,
                "host app app 192.0.2.0/24 scram-sha-256",
                PEER_ALL
            ]
        );
    }

    /// pg_hba.conf is first-match: a `local all all reject` first in the spec refuses the other
    /// local roles, but postgres is let in before it, and no `local all all peer` follows it.
    #[test]
    fn a_reject_for_all_local_roles_still_lets_postgres_in() {
        assert_eq!(
            lines(
                "  hba:\n    - { type: local, databases: [all], users: [all], method: reject }\n"
            ),
            [PEER_POSTGRES, "local all all reject"]
        );
    }

    /// A spec whose first local record already lets postgres in (the idr fixture's) gets no second
    /// one, so its pg_hba.conf is what it was.
    #[test]
    fn a_spec_that_lets_postgres_in_itself_is_written_as_it_is() {
        assert_eq!(
            lines("  hba:\n    - { type: local, databases: [all], users: [all], method: peer }\n"),
            [PEER_ALL]
        );
        assert_eq!(
            lines(
                "  hba:\n    - { type: local, databases: [all], users: [postgres], method: trust }\n"
            ),
            ["local all postgres trust", PEER_ALL]
        );
    }

    /// A record that may match postgres before the one that lets it in (a group it may belong to,
    /// or one database only) keeps the record for postgres first.
    #[test]
    fn a_narrower_record_first_keeps_the_record_for_postgres() {
        for first in [
            "{ type: local, databases: [all], users: [+admins], method: reject }",
            "{ type: local, databases: [app], users: [all], method: scram-sha-256 }",
        ] {
            let hba = lines(&format!(
                "  hba:\n    - {first}\n    - {{ type: local, databases: [all], users: [all], method: peer }}\n"
            ));
            assert_eq!(hba[0], PEER_POSTGRES, "{first}");
        }
    }

    /// The spec's own record for postgres is written after the kept one, not dropped as a
    /// duplicate, so that `check` can say it never matches.
    #[test]
    fn a_spec_record_the_kept_one_shadows_is_still_written() {
        assert_eq!(
            lines(
                "  hba:\n    - { type: local, databases: [all], users: [postgres], method: scram-sha-256 }\n"
            ),
            [PEER_POSTGRES, "local all postgres scram-sha-256", PEER_ALL]
        );
    }

    #[test]
    fn replace_writes_the_spec_records_alone() {
        assert_eq!(
            lines(
                "  hba_local: replace\n  hba:\n    - { type: host, databases: [app], users: [app], address: 192.0.2.0/24, method: scram-sha-256 }\n"
            ),
            ["host app app 192.0.2.0/24 scram-sha-256"]
        );
        assert_eq!(lines("  hba_local: replace\n"), Vec::<String>::new());
    }
}
