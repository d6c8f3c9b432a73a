//! An Ansible project for the rendered tree, laid out as Ansible users expect: `inventory.yml`
//! (each host at its address, in a group per role and per service), a role per service
//! (postgresql, pgbouncer, nginx, sysctl, django, backup) with `defaults/` for every name a site
//! may change,
//! `host_vars/` holding what sitewright rendered for each host, and `site.yml`, which applies
//! them in the order a site comes up. The roles are plain files under `ansible/roles/` here,
//! the same for every site; only the inventory, the host variables and the files differ. Files
//! that hold a secret are templates whose secret is an Ansible variable (`sitewright_secrets`,
//! vault-ready), never a value; PgBouncer's userlist.txt holds SCRAM verifiers of the passwords,
//! which its template computes with the project's filter (`filter_plugins/`, loaded for every
//! play) as sitewright does; the postgresql role gives each role PgBouncer logs in as that very
//! secret, computed by the same filter, so that the server's and userlist.txt's are identical.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{ExportError, Exported};
use crate::manifest::{HOST_MANIFEST, Manifest};
use crate::plan::postgres::conf::primary_conninfo_words;
use crate::plan::{Mask, NginxLevel, OnChange, SecretForm, Service, WrittenSecret};
use crate::render::{RenderedFile, Tree};
use crate::spec::{Host, Role, SecretRef, Site};
use crate::yaml::{Map, Node, document};

/// Where each secret stands in the rendered text, and the variable that holds it.
#[derive(Debug, Clone)]
pub(crate) struct SecretVar {
    /// A marker that the render wrote where the secret goes.
    pub(crate) marker: String,
    /// The key under `sitewright_secrets`.
    pub(crate) name: String,
}

/// A YAML string, JSON-quoted (valid YAML), so that no value is read as anything but a string.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// The files of the project that are the same for every site, with their modes.
const STATIC: &[(&str, &str, u32)] = &[
    ("ansible.cfg", include_str!("ansible.cfg"), 0o644),
    ("site.yml", include_str!("site.yml"), 0o644),
    (
        "roles/postgresql/defaults/main.yml",
        include_str!("roles/postgresql/defaults/main.yml"),
        0o644,
    ),
    (
        "roles/postgresql/vars/main.yml",
        include_str!("roles/postgresql/vars/main.yml"),
        0o644,
    ),
    (
        "roles/postgresql/tasks/main.yml",
        include_str!("roles/postgresql/tasks/main.yml"),
        0o644,
    ),
    (
        "roles/postgresql/tasks/cluster.yml",
        include_str!("roles/postgresql/tasks/cluster.yml"),
        0o644,
    ),
    (
        "roles/postgresql/tasks/recovery.yml",
        include_str!("roles/postgresql/tasks/recovery.yml"),
        0o644,
    ),
    (
        "roles/postgresql/tasks/start.yml",
        include_str!("roles/postgresql/tasks/start.yml"),
        0o644,
    ),
    (
        "roles/postgresql/tasks/roles.yml",
        include_str!("roles/postgresql/tasks/roles.yml"),
        0o644,
    ),
    (
        "roles/postgresql/handlers/main.yml",
        include_str!("roles/postgresql/handlers/main.yml"),
        0o644,
    ),
    (
        "roles/postgresql/library/sitewright_postgresql_role.py",
        include_str!("roles/postgresql/library/sitewright_postgresql_role.py"),
        0o644,
    ),
    (
        "roles/postgresql/library/sitewright_postgresql_database.py",
        include_str!("roles/postgresql/library/sitewright_postgresql_database.py"),
        0o644,
    ),
    (
        "roles/postgresql/templates/copy.pgpass.j2",
        include_str!("roles/postgresql/templates/copy.pgpass.j2"),
        0o644,
    ),
    (
        "roles/nginx/defaults/main.yml",
        include_str!("roles/nginx/defaults/main.yml"),
        0o644,
    ),
    (
        "roles/nginx/tasks/main.yml",
        include_str!("roles/nginx/tasks/main.yml"),
        0o644,
    ),
    (
        "roles/nginx/handlers/main.yml",
        include_str!("roles/nginx/handlers/main.yml"),
        0o644,
    ),
    (
        "roles/nginx/files/nginx-check",
        include_str!("roles/nginx/files/nginx-check"),
        0o755,
    ),
    (
        "roles/sysctl/defaults/main.yml",
        include_str!("roles/sysctl/defaults/main.yml"),
        0o644,
    ),
    (
        "roles/sysctl/tasks/main.yml",
        include_str!("roles/sysctl/tasks/main.yml"),
        0o644,
    ),
    (
        "roles/sysctl/handlers/main.yml",
        include_str!("roles/sysctl/handlers/main.yml"),
        0o644,
    ),
    (
        "roles/django/defaults/main.yml",
        include_str!("roles/django/defaults/main.yml"),
        0o644,
    ),
    (
        "roles/django/tasks/main.yml",
        include_str!("roles/django/tasks/main.yml"),
        0o644,
    ),
    (
        "roles/django/handlers/main.yml",
        include_str!("roles/django/handlers/main.yml"),
        0o644,
    ),
    (
        "roles/pgbouncer/defaults/main.yml",
        include_str!("roles/pgbouncer/defaults/main.yml"),
        0o644,
    ),
    (
        "roles/pgbouncer/vars/main.yml",
        include_str!("roles/pgbouncer/vars/main.yml"),
        0o644,
    ),
    (
        "roles/pgbouncer/tasks/main.yml",
        include_str!("roles/pgbouncer/tasks/main.yml"),
        0o644,
    ),
    (
        "roles/pgbouncer/handlers/main.yml",
        include_str!("roles/pgbouncer/handlers/main.yml"),
        0o644,
    ),
    (
        "filter_plugins/sitewright_scram.py",
        include_str!("filter_plugins/sitewright_scram.py"),
        0o644,
    ),
    (
        "roles/backup/defaults/main.yml",
        include_str!("roles/backup/defaults/main.yml"),
        0o644,
    ),
    (
        "roles/backup/tasks/main.yml",
        include_str!("roles/backup/tasks/main.yml"),
        0o644,
    ),
];

/// The postgresql role's module as the project ships it: its SASLprep is the filter's, put in
/// where its source marks the place, so that both prepare a password the same way.
fn role_module(source: &str) -> String {
    let filter = include_str!("filter_plugins/sitewright_scram.py");
    let begin = filter
        .find("# --- begin saslprep")
        .expect("the filter marks its SASLprep");
    let end = filter[begin..]
        .find("# --- end saslprep ---\n")
        .map(|at| begin + at + "# --- end saslprep ---\n".len())
        .expect("the filter marks its SASLprep's end");
    source.replacen("# --- saslprep ---\n", &filter[begin..end], 1)
}

/// The group of each host role, as `site.yml` names them.
const ROLE_GROUPS: &[(Role, &str)] = &[
    (Role::PostgresPrimary, "postgres_primary"),
    (Role::PostgresReplica, "postgres_replica"),
    (Role::Web, "web"),
    (Role::Proxy, "proxy"),
];

/// The Ansible roles of the export, each also the group `sitewright_<role>` of the hosts it
/// places files on.
const ROLES: &[&str] = &[
    "postgresql",
    "pgbouncer",
    "backup",
    "nginx",
    "sysctl",
    "django",
];

/// PgBouncer's settings table (data/pgbouncer/settings.tsv: key, default, whether a RELOAD
/// applies a change), for the settings a change to which needs a restart.
const PGBOUNCER_SETTINGS: &str = include_str!("../../../data/pgbouncer/settings.tsv");

/// The settings of PgBouncer's table that only a restart applies: those `written` (a
/// pgbouncer.ini's settings) sets, each with its value, and the names of those it does not set,
/// which PgBouncer then takes at their defaults. The role compares both with the host's file to
/// choose a restart or a reload, as `diff` does.
fn pgbouncer_restart_settings(
    written: &std::collections::BTreeMap<String, (String, OnChange)>,
) -> Result<(Map, Vec<Node>), ExportError> {
    let mut names: BTreeSet<&str> = PGBOUNCER_SETTINGS
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?;
            (fields.nth(1) == Some("no")).then_some(name)
        })
        .collect();
    names.extend(
        written
            .iter()
            .filter(|(name, (_, effect))| *effect == OnChange::Restart && !name.starts_with('['))
            .map(|(name, _)| name.as_str()),
    );
    let mut set = Map::new();
    let mut unset = Vec::new();
    for name in names {
        match written.get(name) {
            Some((value, _)) => {
                set.set(name, text(value, &format!("PgBouncer's {name}"))?);
            }
            None => unset.push(Node::text(name)),
        }
    }
    Ok((set, unset))
}

/// The key under `sitewright_secrets` of a secret: its environment variable's name, or its file's,
/// in lower case.
pub(crate) fn variable(secret: &SecretRef) -> String {
    let name = match secret {
        SecretRef::Env(name) => name.clone(),
        SecretRef::File(path) => path
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or("secret")
            .to_owned(),
    };
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A string of the site for the host variables: Ansible would evaluate a Jinja expression in it,
/// so text that holds one is refused rather than written.
fn text(value: &str, what: &str) -> Result<Node, ExportError> {
    if ["{{", "{%", "{#"].iter().any(|m| value.contains(m)) {
        return Err(ExportError::new(format!(
            "{what} `{value}` holds a Jinja delimiter, which Ansible would evaluate: the Ansible export cannot carry it"
        )));
    }
    Ok(Node::text(value))
}

/// The task of a role that places a file, by what the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Placed and then reloaded (or restarted, for a Django settings module).
    Config,
    /// Holds a secret: a template, never shown.
    Secret,
    /// SQL run with psql once placed.
    Sql,
    /// The standby marker, which no server out of recovery gets.
    Standby,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Secret => "secret",
            Self::Sql => "sql",
            Self::Standby => "standby",
        }
    }
}

/// The role and task that place `file`, or why none can.
fn slot(file: &RenderedFile, holds_secret: bool) -> Result<(&'static str, Slot), ExportError> {
    let meta = &file.meta;
    let unplaced = || {
        ExportError::new(format!(
            "{}:{}: no task of the Ansible export places a {} file that holds {} and needs `{}` when it changes",
            file.host,
            file.path,
            meta.service,
            if holds_secret {
                "a secret"
            } else {
                "no secret"
            },
            meta.on_change
        ))
    };
    Ok(match (meta.service, meta.on_change, holds_secret) {
        (Service::Sysctl, OnChange::Apply, false) => ("sysctl", Slot::Config),
        (Service::Nginx, OnChange::Reload, false) => ("nginx", Slot::Config),
        (Service::Django, OnChange::Restart, false) => ("django", Slot::Config),
        (Service::Django, OnChange::Restart, true) => ("django", Slot::Secret),
        (Service::Postgresql, OnChange::Nothing, false)
            if file.path.starts_with("/etc/cron.d/") =>
        {
            ("backup", Slot::Config)
        }
        (Service::Postgresql, OnChange::Nothing, true) => ("postgresql", Slot::Secret),
        (Service::Postgresql, OnChange::Apply, false) => ("postgresql", Slot::Sql),
        (Service::Postgresql, OnChange::Reload, false) => ("postgresql", Slot::Config),
        (Service::Postgresql, OnChange::Restart, false) if meta.conf.is_some() => {
            ("postgresql", Slot::Config)
        }
        (Service::Postgresql, OnChange::Restart, false) => ("postgresql", Slot::Standby),
        // pgbouncer.ini, and a userlist.txt that lists no user's secret.
        (Service::Pgbouncer, OnChange::Reload, false) => ("pgbouncer", Slot::Config),
        (Service::Pgbouncer, OnChange::Reload, true) if meta.mask == Mask::UserlistSecret => {
            ("pgbouncer", Slot::Secret)
        }
        _ => return Err(unplaced()),
    })
}

/// One file in a role's list: where it comes from in the project, where it goes, and how.
fn file_entry(
    file: &RenderedFile,
    src: &str,
    slot: Slot,
    nginx_before: &[String],
) -> Result<Node, ExportError> {
    let mut entry = Map::new();
    entry
        .set("dest", text(&file.path, "the path")?)
        .set("src", text(src, "the path")?)
        .set("owner", Node::text(file.meta.owner))
        .set("group", Node::text(file.meta.group))
        .set("mode", Node::text(file.meta.mode.to_string()))
        .set("slot", Node::text(slot.name()))
        // A backup beside a file in a folder that is read whole would be read too (Debian's
        // sites-enabled/*), and one in a data directory would be copied by pg_basebackup.
        .set(
            "backup",
            Node::Bool(!file.path.contains("/sites-enabled/") && slot != Slot::Standby),
        );
    if let Some(level) = file.meta.nginx_level {
        let (name, with) = match level {
            NginxLevel::Module => ("module", Vec::new()),
            NginxLevel::Main => (
                "main",
                nginx_before.iter().map(|p| format!("main:{p}")).collect(),
            ),
            NginxLevel::Http => (
                "http",
                nginx_before.iter().map(|p| format!("http:{p}")).collect(),
            ),
        };
        entry.set("level", Node::text(name));
        entry.set(
            "with",
            Node::Seq(
                with.iter()
                    .map(|w| text(w, "the path"))
                    .collect::<Result<_, _>>()?,
            ),
        );
    }
    Ok(Node::Map(entry))
}

/// How the host's PostgreSQL is named and reached where the site does not say: Debian's layout
/// when the configuration is in /etc/postgresql/MAJOR/CLUSTER, the PostgreSQL packages' elsewhere.
fn postgres_layout(version: u32, config_directory: &str) -> (String, String, &'static str) {
    let debian = format!("/etc/postgresql/{version}/");
    match config_directory.strip_prefix(&debian) {
        Some(cluster) if !cluster.is_empty() && !cluster.contains('/') => (
            format!("postgresql@{version}-{cluster}"),
            format!("/usr/lib/postgresql/{version}/bin"),
            "/var/run/postgresql",
        ),
        _ => (
            format!("postgresql-{version}"),
            format!("/usr/pgsql-{version}/bin"),
            "/run/postgresql",
        ),
    }
}

/// What the postgresql role needs to know of `host` besides its files.
fn postgres_vars(
    site: &Site,
    host: &Host,
    files: &[&RenderedFile],
    mut secrets: BTreeSet<String>,
    entries: Vec<Node>,
) -> Result<Map, ExportError> {
    let pg = site
        .postgres
        .as_ref()
        .expect("a host with PostgreSQL files");
    let replica = host.has(Role::PostgresReplica) && !host.has(Role::PostgresPrimary);
    let config_directory = pg.config_directory().to_string();
    let (service, bin_dir, mut socket_dir) = postgres_layout(pg.version, &config_directory);
    let written = files.iter().find_map(|f| f.meta.conf.as_ref());
    if let Some(dirs) = written.and_then(|c| c.written.get("unix_socket_directories")) {
        socket_dir = dirs.0.split(',').next().unwrap_or(socket_dir).trim();
        if socket_dir.is_empty() {
            socket_dir = "/var/run/postgresql";
        }
    }
    let mut vars = Map::new();
    vars.set("version", Node::Int(i64::from(pg.version)))
        .set("replica", Node::Bool(replica))
        .set(
            "data_directory",
            text(pg.data_directory.as_str(), "the data directory")?,
        )
        .set(
            "config_directory",
            text(&config_directory, "the config directory")?,
        )
        .set(
            "config_file",
            text(
                &format!("{config_directory}/postgresql.conf"),
                "the config directory",
            )?,
        )
        .set("port", Node::Int(i64::from(pg.port.0)))
        .set("service", Node::text(service))
        .set("bin_dir", Node::text(bin_dir))
        .set("socket_dir", text(socket_dir, "unix_socket_directories")?);
    let mut roles = Vec::new();
    let mut databases = Vec::new();
    if replica {
        if let Some(replication) = &pg.replication {
            let password = variable(&replication.password);
            secrets.insert(password.clone());
            // Its `key=value` words, each a line: the role joins them.
            let conninfo = primary_conninfo_words(site, pg, host)
                .iter()
                .map(|word| text(word, "the replica's primary_conninfo"))
                .collect::<Result<_, _>>()?;
            vars.set("conninfo", Node::Seq(conninfo))
                .set(
                    "replication_user",
                    text(replication.user.as_str(), "the role")?,
                )
                .set("replication_password", Node::text(password));
        }
        if let Some(standby) = files
            .iter()
            .find(|f| slot(f, false).is_ok_and(|(_, s)| s == Slot::Standby))
        {
            vars.set("standby_file", text(&standby.path, "the path")?);
        }
    } else {
        if let Some(replication) = &pg.replication {
            let password = variable(&replication.password);
            secrets.insert(password.clone());
            let mut role = Map::new();
            role.set("name", text(replication.user.as_str(), "the role")?)
                .set("replication", Node::Bool(true))
                .set("password", Node::text(password));
            roles.push(Node::Map(role));
        }
        let primary_name = host.name.as_str();
        if let Some(db) = site
            .django
            .as_ref()
            .map(|d| &d.database)
            .filter(|db| db.host.as_ref().is_none_or(|h| h.as_str() == primary_name))
        {
            let password = variable(&db.password);
            secrets.insert(password.clone());
            let mut role = Map::new();
            role.set("name", text(db.user.as_str(), "the role")?)
                .set("replication", Node::Bool(false))
                .set("password", Node::text(password));
            roles.push(Node::Map(role));
            let mut database = Map::new();
            database
                .set("name", text(db.name.as_str(), "the database")?)
                .set("owner", text(db.user.as_str(), "the role")?);
            databases.push(Node::Map(database));
        }
        pgbouncer_roles(site, &mut roles, &mut databases, &mut secrets)?;
    }
    vars.set("roles", Node::Seq(roles))
        .set("databases", Node::Seq(databases))
        .set(
            "secrets",
            Node::Seq(secrets.into_iter().map(Node::Text).collect()),
        )
        .set("files", Node::Seq(entries));
    Ok(vars)
}

/// The roles PgBouncer logs in as with a secret of its userlist.txt (each user with a password in
/// auth_file mode, or the auth_user with auth_query), each with `scram_context` (the site, which
/// the salt is derived from), so that the postgresql role gives the server the very secret that
/// userlist.txt holds; and the databases PgBouncer serves, those no other entry makes with the
/// superuser as owner.
fn pgbouncer_roles(
    site: &Site,
    roles: &mut Vec<Node>,
    databases: &mut Vec<Node>,
    secrets: &mut BTreeSet<String>,
) -> Result<(), ExportError> {
    let Some(pgb) = &site.pgbouncer else {
        return Ok(());
    };
    let served: Vec<(&str, &SecretRef)> = match &pgb.auth_query {
        Some(query) => vec![(query.user.as_str(), &query.password)],
        None => pgb
            .users
            .iter()
            .filter_map(|u| u.password.as_ref().map(|p| (u.name.as_str(), p)))
            .collect(),
    };
    let named = |node: &Node, name: &str| matches!(node, Node::Map(m) if matches!(m.get("name"), Some(Node::Text(n)) if n == name));
    for (name, secret) in served {
        let password = variable(secret);
        secrets.insert(password.clone());
        let context = text(&site.site, "the site")?;
        if let Some(Node::Map(role)) = roles.iter_mut().find(|r| named(r, name)) {
            if !matches!(role.get("password"), Some(Node::Text(p)) if *p == password) {
                return Err(ExportError::new(format!(
                    "role {name} has two passwords, PgBouncer's `{password}` and another: the Ansible export cannot give the server both"
                )));
            }
            role.set("scram_context", context);
        } else {
            let mut role = Map::new();
            role.set("name", text(name, "the role")?)
                .set("replication", Node::Bool(false))
                .set("password", Node::text(password))
                .set("scram_context", context);
            roles.push(Node::Map(role));
        }
    }
    for db in &pgb.databases {
        if !databases.iter().any(|d| named(d, db.name.as_str())) {
            let mut database = Map::new();
            database.set("name", text(db.name.as_str(), "the database")?);
            databases.push(Node::Map(database));
        }
    }
    Ok(())
}

/// A secret as a file's rendered text holds it: what the render wrote for its marker, the Jinja
/// expression that writes the same from the secret's variable, and the variable's name.
struct Held {
    text: String,
    expression: String,
    name: String,
}

/// The secrets `file` holds. One written as it is stands in the text as its marker; one written
/// as a SCRAM verifier (PgBouncer's userlist.txt) stands as the verifier of its marker, which is
/// computed again here to find it: its template computes the password's with the pgbouncer role's
/// filter, which derives the salt as sitewright does.
fn held(file: &RenderedFile, secrets: &[SecretVar]) -> Vec<Held> {
    // The variable's name as a Jinja string.
    let name_literal = |name: &str| quoted(name).replace('"', "'");
    let mut out: Vec<Held> = secrets
        .iter()
        .filter(|s| file.content.contains(&s.marker))
        .map(|secret| {
            let filters = match file.meta.mask {
                Mask::PassfilePassword => " | replace('\\\\', '\\\\\\\\') | replace(':', '\\\\:')",
                Mask::None | Mask::UserlistSecret => "",
            };
            Held {
                text: secret.marker.clone(),
                expression: format!(
                    "sitewright_secrets[{}]{filters}",
                    name_literal(&secret.name)
                ),
                name: secret.name.clone(),
            }
        })
        .collect();
    for written in &file.meta.secrets {
        let SecretForm::ScramVerifier { user, context } = &written.form else {
            continue;
        };
        let name = variable(&written.secret);
        for secret in secrets.iter().filter(|s| s.name == name) {
            let text = WrittenSecret::write(written, &secret.marker);
            if file.content.contains(&text) && !out.iter().any(|h| h.text == text) {
                out.push(Held {
                    text,
                    // JSON strings are Jinja strings: the same escapes, read back as written.
                    expression: format!(
                        "sitewright_secrets[{}] | sitewright_scram_verifier({}, {})",
                        name_literal(&secret.name),
                        quoted(user),
                        quoted(context)
                    ),
                    name: secret.name.clone(),
                });
            }
        }
    }
    out
}

/// A Jinja template holding `content` as it is, with each secret it holds replaced by the
/// expression that writes it from its variable, in the file's format.
fn template(file: &RenderedFile, held: &[Held]) -> String {
    // Literal text goes in raw blocks; a `{%` inside it could end the block, so it is written apart.
    let raw = |text: &str| -> String {
        if text.is_empty() {
            return String::new();
        }
        format!(
            "{{% raw %}}{}{{% endraw %}}",
            text.replace("{%", "{% endraw %}{{ '{%' }}{% raw %}")
        )
    };
    let mut out = String::new();
    let mut rest = file.content.as_str();
    while let Some((at, secret)) = held
        .iter()
        .filter_map(|s| rest.find(&s.text).map(|at| (at, s)))
        .min_by_key(|(at, _)| *at)
    {
        out.push_str(&raw(&rest[..at]));
        let _ = write!(out, "{{{{ {} }}}}", secret.expression);
        rest = &rest[at + secret.text.len()..];
    }
    out.push_str(&raw(rest));
    out
}

/// The project: its static files, the inventory, each host's variables and files.
pub(crate) fn export(
    site: &Site,
    tree: &Tree,
    secrets: &[SecretVar],
) -> Result<Vec<Exported>, ExportError> {
    let mut exported: Vec<Exported> = STATIC
        .iter()
        .map(|(path, content, mode)| Exported {
            path: (*path).to_owned(),
            content: if path.ends_with("/sitewright_postgresql_role.py") {
                role_module(content)
            } else {
                (*content).to_owned()
            },
            mode: *mode,
        })
        .collect();
    let mut hosts: Vec<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
    hosts.dedup();
    let manifests = Manifest::per_host(tree);
    // Each role's group: the hosts it places files on.
    let mut groups: Vec<(String, Vec<&str>)> = ROLE_GROUPS
        .iter()
        .map(|(role, group)| {
            let members = hosts
                .iter()
                .copied()
                .filter(|h| site.host(h).is_some_and(|host| host.has(*role)))
                .collect();
            ((*group).to_owned(), members)
        })
        .collect();
    let mut role_hosts: Vec<(String, Vec<&str>)> = ROLES
        .iter()
        .map(|r| (format!("sitewright_{r}"), Vec::new()))
        .collect();
    let mut all_secrets: BTreeSet<String> = BTreeSet::new();
    for host_name in &hosts {
        let host = site
            .host(host_name)
            .expect("a rendered host is in the spec");
        let files: Vec<&RenderedFile> = tree
            .files
            .iter()
            .filter(|f| f.host.as_str() == *host_name)
            .collect();
        let mut lists: Vec<(&str, Vec<Node>, BTreeSet<String>)> = ROLES
            .iter()
            .map(|r| (*r, Vec::new(), BTreeSet::new()))
            .collect();
        let mut nginx_main: Vec<String> = Vec::new();
        let mut nginx_http: Vec<String> = Vec::new();
        let mut folders: BTreeSet<String> = BTreeSet::new();
        for file in &files {
            let held = held(file, secrets);
            let (role, slot) = slot(file, !held.is_empty())?;
            let src = if held.is_empty() {
                let src = format!("{host_name}{}", file.path);
                exported.push(Exported {
                    path: format!("files/{src}"),
                    content: file.content.clone(),
                    mode: 0o644,
                });
                src
            } else {
                let src = format!("{host_name}{}.j2", file.path);
                exported.push(Exported {
                    path: format!("templates/{src}"),
                    content: template(file, &held),
                    mode: 0o644,
                });
                src
            };
            let before = match file.meta.nginx_level {
                Some(NginxLevel::Main) => nginx_main.clone(),
                Some(NginxLevel::Http) => nginx_http.clone(),
                _ => Vec::new(),
            };
            let entry = file_entry(file, &src, slot, &before)?;
            match file.meta.nginx_level {
                Some(NginxLevel::Module) => nginx_main.push(file.path.clone()),
                Some(NginxLevel::Http) => nginx_http.push(file.path.clone()),
                _ => {}
            }
            if let Some((dir, _)) = file.path.rsplit_once('/') {
                folders.insert(dir.to_owned());
            }
            let list = lists
                .iter_mut()
                .find(|(r, _, _)| *r == role)
                .expect("a role of ROLES");
            list.1.push(entry);
            list.2.extend(held.iter().map(|s| s.name.clone()));
        }
        // The roles make these with the owner and mode their program requires; the staging
        // play making them too, at 0755, would change them back and forth on every run.
        if let Some(pg) = &site.postgres {
            folders.remove(pg.data_directory.as_str());
            folders.remove(&pg.config_directory().to_string());
            if let Some(backup) = &pg.backup {
                folders.remove(backup.directory.as_str());
            }
        }
        let mut vars = Map::new();
        let manifest_src = format!("{host_name}{HOST_MANIFEST}");
        if let Some((_, manifest)) = manifests.iter().find(|(h, _)| h == host_name) {
            exported.push(Exported {
                path: format!("files/{manifest_src}"),
                content: manifest.to_json(),
                mode: 0o644,
            });
        }
        vars.set("sitewright_manifest", Node::text(&manifest_src));
        vars.set(
            "sitewright_folders",
            Node::Seq(
                folders
                    .iter()
                    .map(|f| text(f, "the path"))
                    .collect::<Result<_, _>>()?,
            ),
        );
        for (role, entries, held) in lists {
            if entries.is_empty() {
                continue;
            }
            all_secrets.extend(held.iter().cloned());
            role_hosts
                .iter_mut()
                .find(|(g, _)| *g == format!("sitewright_{role}"))
                .expect("a group of ROLES")
                .1
                .push(host_name);
            let section = match role {
                "postgresql" => {
                    let vars = postgres_vars(site, host, &files, held, entries)?;
                    if let Some(Node::Seq(names)) = vars.get("secrets") {
                        all_secrets.extend(names.iter().filter_map(|n| match n {
                            Node::Text(t) => Some(t.clone()),
                            _ => None,
                        }));
                    }
                    vars
                }
                "backup" => {
                    let mut vars = Map::new();
                    let directory = site
                        .postgres
                        .as_ref()
                        .and_then(|pg| pg.backup.as_ref())
                        .expect("a backup job comes from postgres.backup")
                        .directory
                        .to_string();
                    vars.set("directory", text(&directory, "the backup folder")?)
                        .set("files", Node::Seq(entries));
                    vars
                }
                "pgbouncer" => {
                    let ini = files
                        .iter()
                        .find_map(|f| f.meta.pgbouncer.as_ref().map(|written| (f, written)));
                    let Some((ini, written)) = ini else {
                        return Err(ExportError::new(format!(
                            "{host_name}: PgBouncer's files without its pgbouncer.ini: the Ansible export cannot tell what a change to them needs"
                        )));
                    };
                    let (restart, unset) = pgbouncer_restart_settings(written)?;
                    let mut vars = Map::new();
                    vars.set(
                        "secrets",
                        Node::Seq(held.into_iter().map(Node::Text).collect()),
                    )
                    .set("ini", text(&ini.path, "the path")?)
                    .set("restart_settings", Node::Map(restart))
                    .set("restart_unset", Node::Seq(unset))
                    .set("files", Node::Seq(entries));
                    vars
                }
                _ => {
                    let mut vars = Map::new();
                    if role == "django" {
                        vars.set(
                            "secrets",
                            Node::Seq(held.into_iter().map(Node::Text).collect()),
                        );
                    }
                    vars.set("files", Node::Seq(entries));
                    vars
                }
            };
            vars.set(&format!("sitewright_{role}"), Node::Map(section));
        }
        exported.push(Exported {
            path: format!("host_vars/{host_name}.yml"),
            content: format!(
                "---\n# What sitewright rendered for {host_name} of site {}: the roles read it. Export again after\n# changing the spec, rather than editing this.\n{}",
                site.site,
                document(&vars)
            ),
            mode: 0o644,
        });
    }
    groups.extend(role_hosts);
    exported.push(Exported {
        path: "inventory.yml".into(),
        content: inventory(site, &groups)?,
        mode: 0o644,
    });
    exported.push(Exported {
        path: "group_vars/all/sitewright.yml".into(),
        content: "---\n# A folder to place every file under instead of /, with no service touched (a staging tree,\n# an image being built); empty on a real host.\nsitewright_root: \"\"\n".into(),
        mode: 0o644,
    });
    let mut example = String::from(
        "---\n# The secrets the roles read, by name. Put them in a vault file Ansible loads for every host:\n#   cp secrets.example.yml group_vars/all/vault.yml\n#   ansible-vault encrypt group_vars/all/vault.yml\n",
    );
    if all_secrets.is_empty() {
        example.push_str("sitewright_secrets: {}\n");
    } else {
        example.push_str("sitewright_secrets:\n");
        for name in &all_secrets {
            example.push_str(&format!("  {name}: \"\"\n"));
        }
    }
    exported.push(Exported {
        path: "secrets.example.yml".into(),
        content: example,
        mode: 0o644,
    });
    Ok(exported)
}

/// The inventory: every host at its address under `all`, and each group with its hosts.
fn inventory(site: &Site, groups: &[(String, Vec<&str>)]) -> Result<String, ExportError> {
    let mut hosts = Map::new();
    for host in &site.hosts {
        if groups
            .iter()
            .any(|(_, members)| members.contains(&host.name.as_str()))
        {
            let mut vars = Map::new();
            vars.set(
                "ansible_host",
                text(&host.address.to_string(), "the address")?,
            );
            hosts.set(host.name.as_str(), Node::Map(vars));
        }
    }
    let mut children = Map::new();
    for (group, members) in groups {
        let mut members_map = Map::new();
        for member in members {
            members_map.set(member, Node::Map(Map::new()));
        }
        let mut entry = Map::new();
        entry.set("hosts", Node::Map(members_map));
        children.set(group, Node::Map(entry));
    }
    let mut all = Map::new();
    all.set("hosts", Node::Map(hosts))
        .set("children", Node::Map(children));
    let mut top = Map::new();
    top.set("all", Node::Map(all));
    Ok(format!(
        "---\n# The hosts of site {}, by role and by the roles of this project that place files on them.\n{}",
        site.site,
        document(&top)
    ))
}
