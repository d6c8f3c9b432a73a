//! The check stage: rules that look across hosts and services, which a schema cannot express.
//!
//! Each rule has a stable id so that users can look it up and CI logs stay searchable.

use std::collections::{BTreeMap, HashSet};

use crate::diagnostic::Diagnostic;
use crate::plan::postgres::major::{Major, PromoteFile};
use crate::source::{Document, pointer_token};
use crate::spec::{HbaMethod, HbaType, Role, Site};

/// Settings that sitewright writes from typed fields; setting them by hand would contradict those.
const MANAGED_POSTGRES_SETTINGS: &[(&str, &str)] = &[
    ("port", "postgres.port"),
    ("data_directory", "postgres.data_directory"),
    ("hba_file", "postgres.config_directory"),
    ("ssl", "postgres.ssl"),
    ("ssl_cert_file", "postgres.ssl.cert"),
    ("ssl_key_file", "postgres.ssl.key"),
    ("listen_addresses", "postgres.replication.public_port"),
    ("primary_conninfo", "postgres.replication"),
    ("hot_standby", "the postgres-replica role"),
    ("wal_keep_size", "postgres.replication.wal_keep"),
    ("wal_keep_segments", "postgres.replication.wal_keep"),
    ("archive_mode", "postgres.archive"),
    ("archive_command", "postgres.archive.command"),
    ("restore_command", "postgres.archive.restore_command"),
];

/// Words pg_hba.conf reads as keywords in its database and user columns, not as names.
const HBA_KEYWORDS: &[&str] = &["all", "sameuser", "samerole", "samegroup", "replication"];

/// Runs every rule; the result holds errors and warnings in no particular order.
pub fn check(site: &Site, doc: &Document) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    hosts(site, doc, &mut out);
    postgres(site, doc, &mut out);
    web(site, doc, &mut out);
    sysctl(site, doc, &mut out);
    names(site, doc, &mut out);
    versions(site, doc, &mut out);
    out
}

fn django_rules(
    site: &Site,
    django: &crate::spec::Django,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let mirrors = site
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| crate::plan::django::read_only(h));
    for (i, host) in mirrors {
        if django.base_module.is_none() {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{i}/roles")),
                    format!("{} runs a read-only instance, which adds the nolastlogin app to the base module's INSTALLED_APPS: set django.base_module", host.name),
                )
                .rule("DJ003"),
            );
        }
    }
    for (i, name) in django.database.replicas.iter().enumerate() {
        let pos = doc.value_pos(&format!("/django/database/replicas/{i}"));
        if !site
            .host(name.as_str())
            .is_some_and(|h| h.has(Role::PostgresReplica))
        {
            out.push(
                Diagnostic::error(
                    pos,
                    format!("`{name}` is not a host with the postgres-replica role"),
                )
                .rule("DJ004"),
            );
        }
    }
    fn marked(value: &crate::spec::PythonValue) -> bool {
        use crate::spec::PythonValue as V;
        match value {
            V::Dict(map) => map.contains_key(crate::escape::TUPLE_MARK) || map.values().any(marked),
            V::List(items) => items.iter().any(marked),
            V::Tuple(t) => t.tuple.iter().any(marked),
            _ => false,
        }
    }
    for (name, value) in &django.extra {
        if marked(value) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/django/extra/{name}")),
                    format!(
                        "a dict key `{}` is reserved: sitewright writes tuples with it",
                        crate::escape::TUPLE_MARK
                    ),
                )
                .rule("DJ005"),
            );
        }
    }
}

/// What the spec's PostgreSQL major cannot do, and pg_hba.conf records that cannot work.
fn versions(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(pg) = &site.postgres else { return };
    let major = Major(pg.version);
    if let Some(replication) = &pg.replication
        && replication.promote_trigger_file.is_some()
        && major.promote_file() == PromoteFile::Removed
    {
        out.push(
            Diagnostic::error(
                doc.key_pos("/postgres/replication/promote_trigger_file"),
                format!("PostgreSQL {major} has no promote_trigger_file (removed in 16): promote with `pg_ctl promote` or `SELECT pg_promote()`, and remove this key"),
            )
            .rule("PG008"),
        );
    }
    if let Some(timeout) = pg.replica_statement_timeout
        && (timeout.whole_millis().is_none() || timeout.whole_millis() == Some(0))
    {
        out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/replica_statement_timeout"),
                "statement_timeout counts whole milliseconds, and 0 turns it off: give 1ms or more",
            )
            .rule("PG011"),
        );
    }
    for (i, record) in pg.hba.iter().enumerate() {
        let at = |key: &str| doc.value_pos(&format!("/postgres/hba/{i}/{key}"));
        let gss = matches!(record.kind, HbaType::Hostgssenc | HbaType::Hostnogssenc);
        if gss && !major.has_gssenc_records() {
            out.push(
                Diagnostic::error(
                    at("type"),
                    format!("PostgreSQL {major} has no GSSAPI-encrypted records (from 12)"),
                )
                .rule("PG009"),
            );
        }
        let local = record.kind == HbaType::Local;
        match (&record.address, local) {
            (Some(_), true) => out.push(
                Diagnostic::error(
                    at("address"),
                    "a local record has no address: it matches Unix-socket connections",
                )
                .rule("PG010"),
            ),
            (None, false) => out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/postgres/hba/{i}")),
                    "this record needs an address: a CIDR block such as 192.0.2.0/24, or all",
                )
                .rule("PG010"),
            ),
            _ => {}
        }
        if record.method == HbaMethod::Cert && record.kind != HbaType::Hostssl {
            out.push(
                Diagnostic::error(at("method"), "cert authentication needs a hostssl record")
                    .rule("PG010"),
            );
        }
        if record.method == HbaMethod::Peer && !local {
            out.push(
                Diagnostic::error(
                    at("method"),
                    "peer authentication works only on local records; use scram-sha-256 over TCP",
                )
                .rule("PG010"),
            );
        }
    }
}

/// Role and database names that pg_hba.conf would read as keywords.
fn names(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let replication = site
        .postgres
        .as_ref()
        .and_then(|p| p.replication.as_ref())
        .map(|r| ("/postgres/replication/user", r.user.as_str()));
    let django = site.django.as_ref().map(|d| &d.database);
    let named = replication
        .into_iter()
        .chain(django.map(|d| ("/django/database/user", d.user.as_str())))
        .chain(django.map(|d| ("/django/database/name", d.name.as_str())));
    for (pointer, name) in named {
        if HBA_KEYWORDS.contains(&name) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(pointer),
                    format!("`{name}` is a pg_hba.conf keyword, so it cannot name a role or database there; choose another name"),
                )
                .rule("PG007"),
            );
        }
    }
    if let Some(app) = &site.django {
        django_rules(site, app, doc, out);
    }
    if let Some(django) = django
        && let Some(age) = django.conn_max_age
        && age.whole_secs().is_none()
    {
        out.push(
            Diagnostic::error(
                doc.value_pos("/django/database/conn_max_age"),
                "CONN_MAX_AGE is a whole number of seconds",
            )
            .rule("DJ002"),
        );
    }
}

fn hosts(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, host) in site.hosts.iter().enumerate() {
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
                .rule("SITE001"),
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
                    .rule("SITE002"),
                );
            }
        }
        if host.has(Role::PostgresPrimary) && host.has(Role::PostgresReplica) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{i}/roles")),
                    "a host is either the PostgreSQL primary or a replica, not both",
                )
                .rule("PG001"),
            );
        }
    }
}

fn role_positions(site: &Site, doc: &Document, role: Role) -> Vec<crate::diagnostic::Pos> {
    site.hosts
        .iter()
        .enumerate()
        .filter_map(|(i, h)| {
            let r = h.roles.iter().position(|r| *r == role)?;
            Some(doc.value_pos(&format!("/hosts/{i}/roles/{r}")))
        })
        .collect()
}

fn postgres(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let primaries = role_positions(site, doc, Role::PostgresPrimary);
    let replicas = role_positions(site, doc, Role::PostgresReplica);
    let Some(pg) = &site.postgres else {
        for pos in primaries.iter().chain(&replicas) {
            out.push(
                Diagnostic::error(
                    *pos,
                    "this host has a PostgreSQL role but the spec has no `postgres:` section",
                )
                .rule("PG002"),
            );
        }
        return;
    };
    match primaries.as_slice() {
        [] => out.push(
            Diagnostic::error(
                doc.key_pos("/postgres"),
                "`postgres:` needs exactly one host with the postgres-primary role; none has it",
            )
            .rule("PG003"),
        ),
        [_] => {}
        [_, rest @ ..] => {
            for pos in rest {
                out.push(
                    Diagnostic::error(*pos, "a second postgres-primary: a site has exactly one")
                        .rule("PG003"),
                );
            }
        }
    }
    if !replicas.is_empty() && pg.replication.is_none() {
        out.push(
            Diagnostic::error(
                doc.key_pos("/postgres"),
                "the site has replicas but `postgres.replication` is missing: add the replication user and its password",
            )
            .rule("PG004"),
        );
    }
    if let Some(public) = pg.replication.as_ref().and_then(|r| r.public_port)
        && public == pg.port
    {
        out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/replication/public_port"),
                format!("nginx cannot forward port {public} to PostgreSQL listening on the same port; pick another public port"),
            )
            .rule("PG005"),
        );
    }
    settings_table(pg, doc, out);
    for name in pg.settings.keys() {
        if let Some((_, field)) = MANAGED_POSTGRES_SETTINGS.iter().find(|(n, _)| n == name) {
            out.push(
                Diagnostic::error(
                    doc.key_pos(&format!("/postgres/settings/{name}")),
                    format!("`{name}` is written from {field}: set it there, not in settings"),
                )
                .rule("PG006"),
            );
        }
    }
    if let Some(django) = &site.django
        && let Some(host) = &django.database.host
    {
        let pos = doc.value_pos("/django/database/host");
        match site.host(host.as_str()) {
            None => {
                out.push(Diagnostic::error(pos, format!("no host is named `{host}`")).rule("DJ001"))
            }
            Some(h) if !h.has(Role::PostgresPrimary) && !h.has(Role::PostgresReplica) => out.push(
                Diagnostic::error(pos, format!("host `{host}` runs no PostgreSQL")).rule("DJ001"),
            ),
            Some(_) => {}
        }
    }
    if let (Some(nginx), Some(public)) = (
        &site.nginx,
        pg.replication.as_ref().and_then(|r| r.public_port),
    ) {
        for (i, forward) in nginx.stream.iter().enumerate() {
            if forward.listen == public {
                out.push(
                    Diagnostic::error(
                        doc.value_pos(&format!("/nginx/stream/{i}/listen")),
                        format!("port {public} is already postgres.replication.public_port"),
                    )
                    .rule("NGX001"),
                );
            }
        }
    }
}

/// The spec's own settings against the settings table of its major: the name, then the value.
fn settings_table(pg: &crate::spec::Postgres, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(table) = crate::pg_settings::table(pg.version) else {
        return;
    };
    for (name, value) in &pg.settings {
        if name.contains('.') || MANAGED_POSTGRES_SETTINGS.iter().any(|(n, _)| n == name) {
            // Extension settings are the extension's to check; managed ones get PG006.
            continue;
        }
        let pointer = format!("/postgres/settings/{name}");
        match table.get(name) {
            None => out
                .push(Diagnostic::error(doc.key_pos(&pointer), table.unknown(name)).rule("PG012")),
            Some(def) => {
                if let Err(message) = def.check(value, pg.version) {
                    out.push(Diagnostic::error(doc.value_pos(&pointer), message).rule("PG013"));
                }
            }
        }
    }
}

fn web(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    for pos in role_positions(site, doc, Role::Web) {
        if site.nginx.as_ref().is_none_or(|n| n.https.is_none()) {
            out.push(
                Diagnostic::error(
                    pos,
                    "a web host needs `nginx.https`: the server in front of the application",
                )
                .rule("WEB001"),
            );
        }
        if site.django.is_none() {
            out.push(Diagnostic::error(pos, "a web host needs a `django:` section").rule("WEB002"));
        }
    }
    let public_port = site
        .postgres
        .as_ref()
        .and_then(|p| p.replication.as_ref())
        .and_then(|r| r.public_port);
    let primary_needs_nginx =
        public_port.is_some() && site.hosts_with(Role::PostgresPrimary).next().is_some();
    for pos in role_positions(site, doc, Role::Proxy) {
        if site.nginx.as_ref().is_none_or(|n| n.cache_proxy.is_none()) {
            out.push(
                Diagnostic::error(
                    pos,
                    "a proxy host needs `nginx.cache_proxy`: the caching proxy it runs",
                )
                .rule("WEB003"),
            );
        }
    }
    let nginx_needed = site.hosts_with(Role::Web).next().is_some()
        || site.hosts_with(Role::Proxy).next().is_some()
        || primary_needs_nginx;
    if primary_needs_nginx && site.nginx.is_none() {
        out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/replication/public_port"),
                "nginx forwards this port, but the spec has no `nginx:` section for its version",
            )
            .rule("NGX002"),
        );
    }
    if !nginx_needed && site.nginx.is_some() {
        out.push(
            Diagnostic::warning(
                doc.key_pos("/nginx"),
                "no host runs nginx: it needs a web or proxy host, or a forwarded PostgreSQL port",
            )
            .rule("NGX003"),
        );
    }
    if let Some(nginx) = &site.nginx {
        nginx_versions(site, nginx, doc, out);
    }
}

/// What the spec's nginx and OpenSSL can serve, and what the TLS and buffer settings imply.
fn nginx_versions(
    site: &Site,
    nginx: &crate::spec::Nginx,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    if !nginx.version.at_least(1, 18, 0) {
        out.push(
            Diagnostic::error(
                doc.value_pos("/nginx/version"),
                format!(
                    "sitewright writes for nginx 1.18 and later, not {}",
                    nginx.version
                ),
            )
            .rule("NGX008"),
        );
    }
    let servers = [
        ("https", nginx.https.as_ref().map(|h| &h.tls)),
        ("cache_proxy", nginx.cache_proxy.as_ref().map(|p| &p.tls)),
    ];
    for (section, tls) in servers {
        let Some(tls) = tls else { continue };
        let at = |key: &str| doc.value_pos(&format!("/nginx/{section}/tls/{key}"));
        if tls.profile == crate::spec::TlsProfile::Old {
            out.push(
                Diagnostic::error(
                    at("profile"),
                    "Mozilla's server-side TLS guidelines 6.0 removed the old profile: it needs TLS 1.0 and 1.1, which current browsers and OpenSSL 3 refuse; use intermediate (TLS 1.2 and 1.3)",
                )
                .rule("NGX004"),
            );
        }
        if !nginx.openssl.at_least(1, 1, 1) {
            out.push(
                Diagnostic::error(
                    doc.value_pos("/nginx/openssl"),
                    format!("both TLS profiles offer TLS 1.3, which needs OpenSSL 1.1.1 or later, not {}", nginx.openssl),
                )
                .rule("NGX005"),
            );
        }
        if tls.ocsp_stapling && tls.trusted_certificate.is_none() {
            out.push(
                Diagnostic::error(
                    at("ocsp_stapling"),
                    "OCSP stapling verifies responses with `trusted_certificate`, the issuer's chain: add it",
                )
                .rule("NGX006"),
            );
        }
    }
    if let Some(https) = &nginx.https {
        let need = https.proxy_buffers.total() * u64::from(https.expected_connections);
        for host in site.hosts_with(Role::Web) {
            if need > host.memory.bytes() / 10 {
                out.push(
                    Diagnostic::warning(
                        doc.key_pos("/nginx/https/proxy_buffers"),
                        format!(
                            "proxy buffers of {} per connection for {} connections take {}, more than a tenth of {}'s {}",
                            crate::units::ByteSize::from_bytes(https.proxy_buffers.total()),
                            https.expected_connections,
                            crate::units::ByteSize::from_bytes(need),
                            host.name,
                            host.memory
                        ),
                    )
                    .rule("NGX007"),
                );
            }
        }
    }
}

fn sysctl(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(sysctl) = &site.sysctl else { return };
    let names: Vec<String> = sysctl
        .settings
        .keys()
        .map(|k| crate::sysctl_keys::canonical(k))
        .collect();
    for (bytes, ratio) in crate::plan::sysctl::EXCLUSIVE {
        if names.iter().any(|n| n == bytes) && names.iter().any(|n| n == ratio) {
            let key = sysctl
                .settings
                .keys()
                .find(|k| crate::sysctl_keys::canonical(k) == *ratio)
                .expect("found above");
            out.push(
                Diagnostic::error(
                    doc.key_pos(&format!("/sysctl/settings/{}", pointer_token(key))),
                    format!("`{bytes}` and `{ratio}` exclude each other (writing one zeroes the other); keep one"),
                )
                .rule("SYS001"),
            );
        }
    }
    for (name, value) in &sysctl.settings {
        let pointer = format!("/sysctl/settings/{}", pointer_token(name));
        match crate::sysctl_keys::kind(name) {
            Err(message) => {
                out.push(Diagnostic::error(doc.key_pos(&pointer), message).rule("SYS002"))
            }
            Ok(_) => {
                if let Err(message) = crate::sysctl_keys::convert(name, value) {
                    out.push(Diagnostic::error(doc.value_pos(&pointer), message).rule("SYS003"));
                }
            }
        }
    }
}
