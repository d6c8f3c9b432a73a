//! pg_hba.conf records: the spec's own, in order, then the replication and Django records that
//! follow from the site's hosts.

use std::collections::HashSet;

use serde::Serialize;

use crate::spec::{HbaMethod, HbaType, Postgres, Role, Site};

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
    let mut out: Vec<Record> = if pg.hba.is_empty() {
        let local = |user: &str, why: &str| Record {
            kind: "local",
            databases: vec!["all".into()],
            users: vec![user.into()],
            address: None,
            method: "peer",
            why: why.into(),
            spec_index: None,
        };
        vec![
            local("postgres", "the postgres superuser over the Unix socket"),
            local("all", "local roles over the Unix socket"),
        ]
    } else {
        pg.hba
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
            .collect()
    };
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
    dedup(out)
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
    let remote = site.hosts_with(Role::Web).any(|w| !is_local(w));
    // Django on the primary and the remote ones through nginx's forward all arrive from
    // loopback; one record of the forward's type serves both, where a `host` record first
    // would leave the forward's hostssl record unused and let the forward in without SSL.
    let local_kind = if remote && forwarded.is_some() {
        host_kind
    } else {
        "host"
    };
    for web in site.hosts_with(Role::Web) {
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

/// A later record identical to an earlier one in what it matches can never be used.
fn dedup(records: Vec<Record>) -> Vec<Record> {
    // Hashed, not searched: a site's web hosts each add a record, and there may be thousands.
    let mut seen = HashSet::with_capacity(records.len());
    records
        .into_iter()
        .filter(|r| {
            seen.insert((
                r.kind,
                r.databases.clone(),
                r.users.clone(),
                r.address.clone(),
            ))
        })
        .collect()
}
