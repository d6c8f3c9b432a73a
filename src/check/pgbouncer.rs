//! Rules of PgBouncer against the rest of the site: its hosts, the primary's connection limit,
//! Django's connections through it, and TLS on both of its sides.

use crate::diagnostic::Diagnostic;
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{PoolMode, Role, Site};

pub(super) fn check(
    site: &Site,
    doc: &Document,
    derived: &crate::plan::Derived,
    out: &mut Vec<Diagnostic>,
) {
    django_without_pgbouncer(site, doc, out);
    let Some(pgb) = &site.pgbouncer else { return };
    for (i, name) in pgb.hosts.iter().enumerate() {
        if site.host(name.as_str()).is_none() {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/pgbouncer/hosts/{i}")),
                    format!("{name} is not a host of the site: name one of `hosts`"),
                )
                .rule(Rule::PGB001),
            );
        }
    }
    let primary = site.hosts_with(Role::PostgresPrimary).next();
    let (Some(pg), Some(primary)) = (&site.postgres, primary) else {
        out.push(
            Diagnostic::error(
                doc.key_pos("/pgbouncer"),
                "PgBouncer serves the primary's databases: the site needs a `postgres:` section and a host with the postgres-primary role",
            )
            .rule(Rule::PGB002),
        );
        return;
    };
    if pgb.auth_query.is_none() {
        for (i, user) in pgb.users.iter().enumerate() {
            if user.password.is_none() {
                out.push(
                    Diagnostic::error(
                        doc.value_pos(&format!("/pgbouncer/users/{i}")),
                        format!(
                            "{} has no password, and without `auth_query` userlist.txt must hold each user's SCRAM secret: give `password`, or set `auth_query`",
                            user.name
                        ),
                    )
                    .rule(Rule::PGB006),
                );
            }
        }
    }
    connections(site, pgb, primary, doc, derived, out);
    plain_text(site, pgb, pg, primary, doc, out);
    if let Some(django) = site.django.as_ref().filter(|d| d.database.pgbouncer) {
        let db = &django.database;
        if pgb.pool_mode != PoolMode::Session
            && let Some(age) = db.conn_max_age.and_then(|a| a.whole_secs())
            && age > 0
        {
            out.push(
                Diagnostic::error(
                    doc.value_pos("/django/database/conn_max_age"),
                    format!(
                        "Django keeps its connections ({age} s) and PgBouncer pools by {}: a kept connection's session state (SET, prepared statements, cursors) would meet other clients' server connections; use `conn_max_age: 0s` or `pool_mode: session`",
                        pgb.pool_mode.name()
                    ),
                )
                .rule(Rule::PGB004)
                .also(if doc.has("/pgbouncer/pool_mode") {
                    doc.value_pos("/pgbouncer/pool_mode")
                } else {
                    doc.key_pos("/pgbouncer")
                }),
            );
        }
        if !pgb.databases.iter().any(|d| d.name == db.name) {
            out.push(
                Diagnostic::error(
                    doc.value_pos("/django/database/name"),
                    format!("Django connects through PgBouncer to {}, which PgBouncer does not serve: add it to `pgbouncer.databases`", db.name),
                )
                .rule(Rule::PGB007),
            );
        }
        if !pgb.users.iter().any(|u| u.name == db.user) {
            out.push(
                Diagnostic::error(
                    doc.value_pos("/django/database/user"),
                    format!("Django logs in through PgBouncer as {}, whom PgBouncer does not let in: add it to `pgbouncer.users`", db.user),
                )
                .rule(Rule::PGB007),
            );
        }
    }
}

/// `django.database.pgbouncer` on a site without PgBouncer.
fn django_without_pgbouncer(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let through = site.django.as_ref().is_some_and(|d| d.database.pgbouncer);
    if through && site.pgbouncer.is_none() {
        out.push(
            Diagnostic::error(
                doc.value_pos("/django/database/pgbouncer"),
                "Django connects through PgBouncer, and the site has no `pgbouncer:` section",
            )
            .rule(Rule::PGB007),
        );
    }
}

/// The server connections every PgBouncer may open (each pool's size and reserve, a pool per
/// database and user on each host), with the nightly backup's, within what the primary lets
/// ordinary roles open (PGB003).
fn connections(
    site: &Site,
    pgb: &crate::spec::Pgbouncer,
    primary: &crate::spec::Host,
    doc: &Document,
    derived: &crate::plan::Derived,
    out: &mut Vec<Diagnostic>,
) {
    let Some(conf) = derived.conf(site, primary) else {
        return;
    };
    let number = |name: &str, default: u64| {
        conf.postgresql
            .iter()
            .rev()
            .find(|s| s.name == name)
            .and_then(|s| s.text().parse().ok())
            .unwrap_or(default)
    };
    let max = number("max_connections", 100);
    let reserved = number("superuser_reserved_connections", 3) + number("reserved_connections", 0);
    let users = pgb.users.len() as u64 + u64::from(pgb.auth_query.is_some());
    let per_host: u64 = pgb
        .databases
        .iter()
        .map(|d| {
            (u64::from(d.pool_size.unwrap_or(pgb.default_pool_size))
                + u64::from(pgb.reserve_pool_size))
                * users
        })
        .sum();
    let hosts = pgb
        .hosts
        .iter()
        .filter(|h| site.host(h.as_str()).is_some())
        .count() as u64;
    let backup = u64::from(site.postgres.as_ref().is_some_and(|p| p.backup.is_some()));
    let needed = per_host * hosts + backup;
    let room = max.saturating_sub(reserved);
    if needed > room {
        let backup_note = if backup > 0 {
            ", and 1 for the nightly pg_dump"
        } else {
            ""
        };
        out.push(
            Diagnostic::error(
                if doc.has("/pgbouncer/default_pool_size") {
                    doc.value_pos("/pgbouncer/default_pool_size")
                } else {
                    doc.key_pos("/pgbouncer")
                },
                format!(
                    "PgBouncer may open {needed} server connections ({} pools of {} databases and {users} users on {hosts} hosts, each its size plus reserve_pool_size {}{backup_note}), and the primary lets ordinary roles open {room} (max_connections {max} less {reserved} reserved): lower the pool sizes or raise max_connections",
                    pgb.databases.len() as u64 * users * hosts,
                    pgb.databases.len(),
                    pgb.reserve_pool_size,
                ),
            )
            .rule(Rule::PGB003),
        );
    }
}

/// Plain text on either side of PgBouncer, across hosts, without the site's word for it (PGB008).
fn plain_text(
    site: &Site,
    pgb: &crate::spec::Pgbouncer,
    pg: &crate::spec::Postgres,
    primary: &crate::spec::Host,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    if pg.plain_text.is_some() {
        return;
    }
    let remote = pgb
        .hosts
        .iter()
        .filter_map(|h| site.host(h.as_str()))
        .find(|h| h.name != primary.name);
    if let (Some(host), None) = (remote, &pg.ssl) {
        out.push(
            Diagnostic::error(
                doc.key_pos("/pgbouncer/hosts"),
                format!(
                    "PgBouncer on {} would reach the primary in plain text: give `postgres.ssl`, or set `postgres.plain_text: accepted`",
                    host.name
                ),
            )
            .rule(Rule::PGB008),
        );
    }
    let through = site.django.as_ref().is_some_and(|d| d.database.pgbouncer);
    if !through || pgb.tls.is_some() {
        return;
    }
    let web_remote = site
        .hosts_with(Role::Web)
        .find(|w| !pgb.hosts.contains(&w.name));
    if let Some(web) = web_remote {
        out.push(
            Diagnostic::error(
                doc.value_pos("/django/database/pgbouncer"),
                format!(
                    "Django on {} would reach PgBouncer in plain text: give `pgbouncer.tls`, or set `postgres.plain_text: accepted`",
                    web.name
                ),
            )
            .rule(Rule::PGB008),
        );
    }
}
