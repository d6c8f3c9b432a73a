//! The Django part of `import`: a settings module of plain literals read back into `django`,
//! and the nightly pg_dump of the primary's cron and the role defaults Django expects into
//! `postgres.backup` and `django.database.user`.

mod backup;
mod python;

use std::collections::BTreeMap;

use super::{HostTree, Known, Map, Node, Note, Part};
use crate::plan::django::{Refused, written};
use python::{Line, Statement, Value};

/// What the rendered module's docstring starts with, before the site's name.
const DOCSTRING: &str = "Production settings of site ";

pub(super) fn import(hosts: &[HostTree], known: &Known, notes: &mut Vec<Note>) -> Part {
    let mut part = Part::default();
    let user = settings(hosts, known, notes, &mut part);
    backup::import(hosts, known, user.as_deref(), notes, &mut part);
    part
}

/// A settings module found on a host.
struct Module<'a> {
    host: &'a HostTree,
    path: &'a str,
    lines: Vec<Line>,
}

/// Whether `host` is one of the PostgreSQL replicas: Django there is a read-only instance.
fn is_replica(known: &Known, host: &str) -> bool {
    known.addresses.contains_key(host) && known.primary.as_deref() != Some(host)
}

/// Finds the settings modules, imports one into `django`, and gives the database user the
/// role defaults are written for.
fn settings(
    hosts: &[HostTree],
    known: &Known,
    notes: &mut Vec<Note>,
    part: &mut Part,
) -> Option<String> {
    let mut modules: Vec<Module<'_>> = Vec::new();
    for host in hosts {
        for (path, text) in &host.files {
            if !path.ends_with(".py") {
                continue;
            }
            let lines = python::statements(text);
            let settings = lines.iter().any(|l| {
                matches!(&l.statement, Statement::Assign(name, _) if name == "DATABASES" || name == "SECRET_KEY")
            });
            if settings {
                modules.push(Module { host, path, lines });
            }
        }
    }
    // Secrets written in a module are never copied, and the round-trip diff masks them.
    for m in &modules {
        for l in &m.lines {
            if let Statement::Assign(name, Ok(value)) = &l.statement {
                literal_secrets(name, value, &mut part.secret_values);
            }
        }
    }
    // The spec has one django section: a read-write instance says it best, since a read-only
    // one's settings are partly derived from its host being a replica.
    let chosen = modules
        .iter()
        .position(|m| !is_replica(known, &m.host.name))
        .or(if modules.is_empty() { None } else { Some(0) })?;
    let source = &modules[chosen];
    let mut section = Map::new();
    let user = module(source, known, notes, &mut section);
    // A host whose server name is the HTTPS server's own hides that name among the allowed
    // hosts (the spec allows it anyway); a mirror with a name of its own shows it: the list
    // with the most names is the spec's, the others' names after it.
    let mut allowed: Vec<String> = Vec::new();
    let mut lists: Vec<Vec<String>> = modules.iter().filter_map(allowed_hosts).collect();
    lists.sort_by_key(|l| std::cmp::Reverse(l.len()));
    for name in lists.into_iter().flatten() {
        if !allowed.contains(&name) {
            allowed.push(name);
        }
    }
    let have = match section.get("allowed_hosts") {
        Some(Node::Seq(names)) => names.len(),
        _ => 0,
    };
    if allowed.len() > have {
        section.replace(
            "allowed_hosts",
            Node::Seq(allowed.into_iter().map(Node::Text).collect()),
        );
    }
    for (i, other) in modules.iter().enumerate() {
        let at = format!("{}{}", other.host.name, other.path);
        if i == chosen {
            part.read
                .insert((other.host.name.clone(), other.path.to_owned()));
        } else if other.path == source.path && is_replica(known, &other.host.name) {
            part.read
                .insert((other.host.name.clone(), other.path.to_owned()));
            notes.push(Note {
                at,
                text: format!(
                    "a read-only instance: the spec writes it from the django section imported from {}{} and this host's roles (web on a replica); it was not compared",
                    source.host.name, source.path
                ),
            });
        } else {
            notes.push(Note {
                at,
                text: format!(
                    "another settings module: the spec has one django section, imported from {}{}",
                    source.host.name, source.path
                ),
            });
            continue;
        }
        // The spec writes the module only on a web host; the nginx part says web where it
        // finds nginx, and a host's roles are listed once.
        if !other
            .host
            .files
            .keys()
            .any(|p| p.starts_with("/etc/nginx/"))
        {
            part.roles.insert(other.host.name.clone(), vec!["web"]);
            notes.push(Note {
                at: other.host.name.clone(),
                text: "Django without nginx: the spec writes the settings module on a web host, and a web host needs nginx.https in front of the application, which no file here says; add it".to_owned(),
            });
        }
    }
    part.values.push((vec!["django"], Node::Map(section)));
    if let Some(ca) = root_certificate(source) {
        part.values
            .push((vec!["postgres", "ssl", "ca"], Node::text(ca)));
    }
    user
}

/// A module's ALLOWED_HOSTS without its own server name (the first of CSRF_TRUSTED_ORIGINS),
/// each a name the spec takes; none when it has no such list.
fn allowed_hosts(m: &Module<'_>) -> Option<Vec<String>> {
    let assigned = |wanted: &str| {
        m.lines.iter().rev().find_map(|l| match &l.statement {
            Statement::Assign(name, Ok(value)) if name == wanted => texts(value),
            _ => None,
        })
    };
    let own = assigned("CSRF_TRUSTED_ORIGINS").and_then(|origins| {
        let first = origins.first()?.strip_prefix("https://")?;
        Some(first.split(':').next().unwrap_or(first).to_owned())
    });
    Some(
        assigned("ALLOWED_HOSTS")?
            .into_iter()
            .filter(|n| Some(n) != own.as_ref() && allowed_host(n))
            .collect(),
    )
}

/// The secrets a module's assignment `name = value` writes as literals: SECRET_KEY, a
/// database's PASSWORD, EMAIL_HOST_PASSWORD.
fn literal_secrets(name: &str, value: &Value, out: &mut Vec<String>) {
    match name {
        "SECRET_KEY" | "EMAIL_HOST_PASSWORD" => out.extend(value.as_str().map(str::to_owned)),
        "DATABASES" => {
            if let Value::Dict(items) = value {
                for (_, db) in items {
                    out.extend(
                        db.get("PASSWORD")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    );
                }
            }
        }
        _ => {}
    }
}

/// The CA the default database's certificate is verified against (`OPTIONS` `sslmode`
/// verify-full and `sslrootcert`), which the spec writes from `postgres.ssl.ca`: the server's
/// own files do not name it, so a site without replicas says it here only.
fn root_certificate(m: &Module<'_>) -> Option<String> {
    m.lines.iter().rev().find_map(|l| match &l.statement {
        Statement::Assign(name, Ok(dbs)) if name == "DATABASES" => {
            let options = dbs.get("default")?.get("OPTIONS")?;
            (options.get("sslmode")?.as_str()? == "verify-full")
                .then(|| options.get("sslrootcert")?.as_str().map(str::to_owned))?
        }
        _ => None,
    })
}

/// The environment variable a secret of `site` is read from, as the PostgreSQL part names its.
fn env_name(site: &str, what: &str) -> String {
    let site: String = site
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{site}_{what}")
}

/// A secret's reference: the variable or file the module reads it from, or, when the module
/// holds the secret itself or reads it some other way, the variable `fallback` as a guess.
fn secret(
    value: Option<&Value>,
    what: &str,
    fallback: &str,
    mut note: impl FnMut(String),
) -> (Node, Option<String>) {
    let reference = |key: &str, text: &str| {
        let mut map = Map::new();
        map.set(key, Node::text(text));
        Node::Map(map)
    };
    match value {
        Some(Value::Env(name)) => (reference("env", name), None),
        Some(Value::File(path)) => (reference("file", path), None),
        Some(Value::Str(_)) => {
            note(format!(
                "{what} is written in the file itself: the spec reads it from the environment variable {fallback}, which must be set to it (its value is not copied)"
            ));
            (
                reference("env", fallback),
                Some(format!(
                    "{what} was written in the file: set {fallback} to it"
                )),
            )
        }
        Some(Value::Unknown(why)) => {
            note(format!(
                "{what} is not a plain literal ({why}): the spec reads it from {fallback}"
            ));
            (
                reference("env", fallback),
                Some(format!("a guess: the file computes {what}")),
            )
        }
        _ => {
            note(format!(
                "{what} is not read from the environment or a file as sitewright writes it: the spec reads it from {fallback}"
            ));
            (
                reference("env", fallback),
                Some(format!(
                    "a guess: the file does not say where {what} comes from"
                )),
            )
        }
    }
}

/// The spec's form of a literal for `extra`, or why it has none.
fn node(value: &Value) -> Result<Node, String> {
    Ok(match value {
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(n) => Node::Int(*n),
        Value::Str(s) => Node::text(s.clone()),
        Value::List(items) => Node::Seq(items.iter().map(node).collect::<Result<_, _>>()?),
        Value::Tuple(items) => {
            let mut map = Map::new();
            map.set(
                "tuple",
                Node::Seq(items.iter().map(node).collect::<Result<_, _>>()?),
            );
            Node::Map(map)
        }
        Value::Dict(items) => {
            let mut map = Map::new();
            let mut seen = BTreeMap::new();
            for (key, value) in items {
                let Some(key) = key.as_str() else {
                    return Err("a dict with a key that is not a str".to_owned());
                };
                if key == crate::escape::TUPLE_MARK {
                    return Err(format!(
                        "a dict key `{key}`, which sitewright keeps for tuples"
                    ));
                }
                seen.insert(key.to_owned(), node(value)?);
            }
            if seen.len() == 1 && matches!(seen.get("tuple"), Some(Node::Seq(_))) {
                return Err(
                    "a dict whose one key is `tuple`, which the spec reads as a tuple".to_owned(),
                );
            }
            for (key, value) in seen {
                map.set(&key, value);
            }
            Node::Map(map)
        }
        Value::None => {
            return Err(
                "None, which the import's YAML writer cannot write yet (it has no null)".to_owned(),
            );
        }
        Value::Float(f) if f.is_finite() => Node::Float(*f),
        Value::Float(_) => {
            return Err(
                "an infinite or not-a-number float, which YAML's spec cannot hold".to_owned(),
            );
        }
        Value::Env(_) | Value::File(_) => {
            return Err("a read of the environment or a file at run time".to_owned());
        }
        Value::Extend(name, _) => return Err(format!("a list that extends {name}")),
        Value::Unknown(why) => return Err(why.clone()),
    })
}

/// The texts of a list or tuple of strings.
fn texts(value: &Value) -> Option<Vec<String>> {
    value
        .items()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// What the file says of the Django version: 4.1 or later (CONN_HEALTH_CHECKS, PyMemcacheCache),
/// or before it, and why.
#[derive(Default)]
struct VersionHints {
    from_4_1: Option<(bool, &'static str)>,
    redis: bool,
}

/// The settings the spec writes the same on every site served over nginx's TLS.
fn fixed_tls(name: &str) -> Option<Value> {
    let s = |t: &str| Value::Str(t.to_owned());
    Some(match name {
        "SECURE_SSL_REDIRECT"
        | "SESSION_COOKIE_SECURE"
        | "CSRF_COOKIE_SECURE"
        | "SECURE_CONTENT_TYPE_NOSNIFF" => Value::Bool(true),
        "SECURE_REFERRER_POLICY" => s("same-origin"),
        "X_FRAME_OPTIONS" => s("DENY"),
        "SECURE_PROXY_SSL_HEADER" => {
            let (header, scheme) = crate::plan::django::PROXY_SSL_HEADER;
            Value::Tuple(vec![s(header), s(scheme)])
        }
        _ => return None,
    })
}

/// The LOGGING sitewright writes.
fn sitewright_logging() -> Value {
    let s = |t: &str| Value::Str(t.to_owned());
    Value::Dict(vec![
        (s("disable_existing_loggers"), Value::Bool(false)),
        (
            s("handlers"),
            Value::Dict(vec![(
                s("stderr"),
                Value::Dict(vec![(s("class"), s("logging.StreamHandler"))]),
            )]),
        ),
        (
            s("root"),
            Value::Dict(vec![
                (s("handlers"), Value::List(vec![s("stderr")])),
                (s("level"), s("WARNING")),
            ]),
        ),
        (s("version"), Value::Int(1)),
    ])
}

/// Reads one settings module into `section`; gives the database user.
fn module(
    m: &Module<'_>,
    known: &Known,
    notes: &mut Vec<Note>,
    section: &mut Map,
) -> Option<String> {
    let at = format!("{}{}", m.host.name, m.path);
    let mut said = Vec::new();
    let mut say = |line: usize, text: String| said.push((line, text));
    let says_read_only = m.lines.first().is_some_and(
        |l| matches!(&l.statement, Statement::Docstring(t) if t.contains("a read-only instance")),
    );
    if is_replica(known, &m.host.name) && !says_read_only {
        say(1, "Django on a PostgreSQL replica: the spec writes a read-only instance here (its own replica as the database, sessions in the cache, no mail, the nolastlogin app)".to_owned());
    }
    let mut site = None;
    let mut base = None;
    let mut values: BTreeMap<String, (usize, Value)> = BTreeMap::new();
    for (i, l) in m.lines.iter().enumerate() {
        match &l.statement {
            Statement::Docstring(text) if i == 0 => {
                site = text
                    .strip_prefix(DOCSTRING)
                    .and_then(|rest| rest.split([' ', ',', '.', '\n']).next())
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
            }
            Statement::Docstring(_) => {}
            Statement::StarImport(module) if module.starts_with('.') => say(
                l.line,
                format!(
                    "`{}`: a relative import, and the spec's base_module is a module's full name: not imported",
                    l.text
                ),
            ),
            Statement::StarImport(module) if base.is_none() => base = Some(module.clone()),
            Statement::StarImport(_) => say(
                l.line,
                format!(
                    "`{}`: the spec starts from one base module; not imported",
                    l.text
                ),
            ),
            Statement::Import if matches!(l.text.as_str(), "import os" | "import pathlib") => {}
            Statement::Import => say(
                l.line,
                format!(
                    "`{}`: an import the spec does not write (the base module is the place for it)",
                    l.text
                ),
            ),
            // sitewright's own helper, which reads a secret from a file.
            Statement::Other if l.text == "def _secret_file(path):" => {}
            Statement::Other => say(
                l.line,
                format!("`{}` is not a plain assignment: not imported", l.text),
            ),
            Statement::Assign(name, Err(why)) => {
                // Python takes the last assignment: an earlier literal is not what runs.
                values.remove(name);
                say(
                    l.line,
                    format!("{name} is not a plain literal ({why}): not imported"),
                );
            }
            Statement::Assign(name, Ok(value)) => {
                values.insert(name.clone(), (l.line, value.clone()));
            }
        }
    }
    let take = |values: &mut BTreeMap<String, (usize, Value)>, name: &str| values.remove(name);
    let csrf = take(&mut values, "CSRF_TRUSTED_ORIGINS");
    // The HTTPS server's name, which the spec always allows: nginx's part says it.
    let server_name = csrf
        .as_ref()
        .and_then(|(_, v)| texts(v))
        .and_then(|origins| {
            let first = origins.first()?.strip_prefix("https://")?;
            Some(first.split(':').next().unwrap_or(first).to_owned())
        });
    let allowed: Vec<String> = match take(&mut values, "ALLOWED_HOSTS") {
        Some((line, v)) => match texts(&v) {
            Some(names) => names
                .into_iter()
                .filter(|n| Some(n) != server_name.as_ref())
                .filter(|n| {
                    let ok = allowed_host(n);
                    if !ok {
                        say(line, format!("ALLOWED_HOSTS {n:?} is not a host name (or .domain) the spec's allowed_hosts takes: not imported"));
                    }
                    ok
                })
                .collect(),
            None => {
                say(
                    line,
                    "ALLOWED_HOSTS is not a list of strings: not imported".to_owned(),
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let mut hints = VersionHints::default();
    let mut database = Map::new();
    let mut user = None;
    let db_site = site.clone();
    match take(&mut values, "DATABASES") {
        Some((line, dbs)) => {
            user = databases(
                &dbs,
                line,
                m,
                known,
                db_site.as_deref(),
                &mut hints,
                &mut database,
                &mut say,
            );
        }
        None => say(
            1,
            "no DATABASES: the spec's django.database is a placeholder".to_owned(),
        ),
    }
    let secret_key = take(&mut values, "SECRET_KEY");
    let key_line = secret_key.as_ref().map_or(1, |(l, _)| *l);
    let (secret_key, key_why) = secret(
        secret_key.as_ref().map(|(_, v)| v),
        "SECRET_KEY",
        "DJANGO_SECRET_KEY",
        |t| say(key_line, t),
    );
    let cache =
        take(&mut values, "CACHES").and_then(|(line, v)| caches(&v, line, &mut hints, &mut say));
    let session_engine = take(&mut values, "SESSION_ENGINE").and_then(|(line, v)| {
        let engine = v.as_str().and_then(|e| e.strip_prefix("django.contrib.sessions.backends."));
        match engine {
            Some(e @ ("db" | "cache" | "cached_db" | "file" | "signed_cookies")) => Some(e.to_owned()),
            _ => {
                say(line, "SESSION_ENGINE is not one of Django's own engines the spec names: not imported".to_owned());
                None
            }
        }
    });
    let email = email(&mut values, &mut say);
    let mut extra = Map::new();
    let read_only = is_replica(known, &m.host.name);
    for (name, (line, value)) in values {
        if name == "DEBUG" {
            if value != Value::Bool(false) {
                say(
                    line,
                    "DEBUG is not False: the spec always writes False on a production site"
                        .to_owned(),
                );
            }
            continue;
        }
        if let Some(fixed) = fixed_tls(&name) {
            if value != fixed {
                say(
                    line,
                    format!(
                        "{name}: the spec writes it as every site served over nginx's TLS has it, not as here"
                    ),
                );
            }
            continue;
        }
        if matches!(
            name.as_str(),
            "SECURE_HSTS_SECONDS" | "SECURE_HSTS_INCLUDE_SUBDOMAINS" | "SECURE_HSTS_PRELOAD"
        ) {
            // nginx's Strict-Transport-Security header says these: the nginx part reads it.
            continue;
        }
        match (name.as_str(), &value) {
            ("SILENCED_SYSTEM_CHECKS", Value::Extend(of, _)) if of == "SILENCED_SYSTEM_CHECKS" => {
                continue;
            }
            ("INSTALLED_APPS", Value::Extend(of, apps))
                if of == "INSTALLED_APPS" && apps == &[Value::Str("nolastlogin".to_owned())] =>
            {
                if !read_only {
                    say(line, "INSTALLED_APPS adds nolastlogin, which the spec does only on a read-only instance (web on a replica)".to_owned());
                }
                continue;
            }
            ("NO_UPDATE_LAST_LOGIN", Value::Bool(true)) if read_only => continue,
            ("LOGGING", v) if *v == sitewright_logging() => continue,
            _ => {}
        }
        if let Some(w) = written(&name)
            && w.refused != Refused::No
        {
            say(
                line,
                format!(
                    "{name}: sitewright writes it itself (see `sitewright explain`), so the live value is not kept"
                ),
            );
            continue;
        }
        match node(&value) {
            Ok(node) => {
                if name == "LOGGING" {
                    say(line, "LOGGING is not sitewright's: kept in extra, which the module writes after its own".to_owned());
                }
                extra.set(&name, node);
            }
            Err(why) => say(
                line,
                format!("{name} is not a plain literal the spec can hold ({why}): not imported"),
            ),
        }
    }

    let (version, version_why) = match (hints.from_4_1, hints.redis) {
        (Some((true, why)), _) => (
            "5.2",
            format!("the file does not say it; {why}, so 4.1 or later: 5.2, the LTS, is a guess"),
        ),
        (Some((false, why)), true) => (
            "4.0",
            format!(
                "the file does not say it; {why}, so before 4.1, and RedisCache, so 4.0 or later: a guess"
            ),
        ),
        (Some((false, why)), false) => (
            "3.2",
            format!("the file does not say it; {why}, so before 4.1: 3.2, the LTS, is a guess"),
        ),
        (None, _) => (
            "5.2",
            "the file does not say it and nothing in it depends on it: 5.2, the LTS, is a guess"
                .to_owned(),
        ),
    };
    section.guess("version", Node::text(version), version_why);
    section.set("settings_file", Node::text(m.path));
    if let Some(base) = base {
        section.set("base_module", Node::text(base));
    }
    if !allowed.is_empty() {
        section.set(
            "allowed_hosts",
            Node::Seq(allowed.into_iter().map(Node::text).collect()),
        );
    }
    match key_why {
        Some(why) => section.guess("secret_key", secret_key, why),
        None => section.set("secret_key", secret_key),
    };
    section.set("database", Node::Map(database));
    if let Some(cache) = cache {
        section.set("cache", Node::Map(cache));
    }
    if let Some(engine) = session_engine {
        section.set("session_engine", Node::text(engine));
    }
    if let Some(email) = email {
        section.set("email", email);
    }
    if !extra.is_empty() {
        section.set("extra", Node::Map(extra));
    }
    said.sort();
    notes.extend(said.into_iter().map(|(line, text)| Note {
        at: at.clone(),
        text: format!("line {line}: {text}"),
    }));
    user
}

/// DATABASES into `database`: the default connection's name, user, password and host, and the
/// replicas; gives the user.
#[allow(clippy::too_many_arguments)]
fn databases(
    dbs: &Value,
    line: usize,
    m: &Module<'_>,
    known: &Known,
    site: Option<&str>,
    hints: &mut VersionHints,
    database: &mut Map,
    say: &mut impl FnMut(usize, String),
) -> Option<String> {
    let Value::Dict(aliases) = dbs else {
        say(
            line,
            "DATABASES is not a dict: django.database is a placeholder".to_owned(),
        );
        placeholder(database, site);
        return None;
    };
    let Some(default) = dbs.get("default") else {
        say(
            line,
            "DATABASES has no default: django.database is a placeholder".to_owned(),
        );
        placeholder(database, site);
        return None;
    };
    let text = |key: &str| default.get(key).and_then(Value::as_str);
    match text("ENGINE") {
        Some("django.db.backends.postgresql") => {}
        other => say(
            line,
            format!(
                "the default database's ENGINE is {}: the spec writes django.db.backends.postgresql",
                other.unwrap_or("not a string")
            ),
        ),
    }
    let name = text("NAME");
    let user = text("USER").map(str::to_owned);
    for (key, value) in [("NAME", name), ("USER", user.as_deref())] {
        if let Some(value) = value.filter(|v| !identifier(v)) {
            say(
                line,
                format!(
                    "the default database's {key} {value:?} is not a name of lower-case letters, digits and _, which the spec takes: `sitewright check` will refuse it"
                ),
            );
        }
    }
    let site = site.or(name).unwrap_or("django");
    match name {
        Some(n) => database.set("name", Node::text(n)),
        None => {
            say(
                line,
                "the default database's NAME is not a string: a placeholder".to_owned(),
            );
            database.guess(
                "name",
                Node::text(site),
                "a placeholder: NAME is not a string",
            )
        }
    };
    match &user {
        Some(u) => database.set("user", Node::text(u.clone())),
        None => {
            say(
                line,
                "the default database's USER is not a string: a placeholder".to_owned(),
            );
            database.guess(
                "user",
                Node::text(site),
                "a placeholder: USER is not a string",
            )
        }
    };
    let (password, why) = secret(
        default.get("PASSWORD"),
        "the database password",
        &env_name(site, "DB_PASSWORD"),
        |t| say(line, t),
    );
    match why {
        Some(why) => database.guess("password", password, why),
        None => database.set("password", password),
    };
    let address = text("HOST");
    let local = matches!(address, None | Some("127.0.0.1" | "localhost" | "::1" | ""));
    if matches!(address, None | Some("")) {
        say(line, "the default database has no HOST (Django then connects over the Unix socket): the spec writes 127.0.0.1 for this host's own server".to_owned());
    }
    let target = if local {
        if !known.addresses.contains_key(&m.host.name) {
            say(line, "HOST is this host, where no PostgreSQL server was found: the spec writes the primary's address".to_owned());
        }
        Some(m.host.name.clone())
    } else {
        match address.and_then(|a| known.addresses.iter().find(|(_, x)| x.as_str() == a)) {
            Some((host, address)) => {
                database.guess(
                    "host",
                    Node::text(host.clone()),
                    format!("HOST {address} is {host}'s address"),
                );
                Some(host.clone())
            }
            None => {
                say(
                    line,
                    format!(
                        "HOST {} is not the address of a PostgreSQL server found: the spec writes the primary's",
                        address.unwrap_or("(not a string)")
                    ),
                );
                None
            }
        }
    };
    // The primary's port may be nginx's forward to it (replication.public_port), which the
    // stream part reads; any other server is reached on postgres.port.
    if let (Some(target), Some(Value::Int(port))) = (&target, default.get("PORT"))
        && (known.primary.as_ref() != Some(target) || local)
        && Some(*port) != known.postgres_port
    {
        say(
            line,
            format!("PORT {port} is not postgres.port, which the spec writes for {target}"),
        );
    }
    let mut age = None;
    match default.get("CONN_MAX_AGE") {
        Some(Value::Int(secs)) if *secs >= 0 => {
            age = Some(*secs);
            database.set("conn_max_age", Node::text(format!("{secs}s")));
        }
        None => {}
        Some(_) => say(line, "CONN_MAX_AGE is not a whole number of seconds (None keeps connections forever, which the spec cannot say): not imported".to_owned()),
    }
    match default.get("CONN_HEALTH_CHECKS") {
        Some(Value::Bool(true)) if age.is_some_and(|a| a > 0) => {
            hints.from_4_1 = Some((true, "CONN_HEALTH_CHECKS is written"));
        }
        Some(_) => say(line, "CONN_HEALTH_CHECKS: the spec writes it (True) only from Django 4.1 with a CONN_MAX_AGE above 0".to_owned()),
        None if age.is_some_and(|a| a > 0) => {
            hints.from_4_1 = Some((false, "CONN_HEALTH_CHECKS is not written with a CONN_MAX_AGE"));
        }
        None => {}
    }
    if let Some(Value::Dict(options)) = default.get("OPTIONS") {
        // sslmode and sslrootcert come from postgres.ssl, which the PostgreSQL part reads.
        for (key, _) in options {
            if !matches!(key.as_str(), Some("sslmode" | "sslrootcert")) {
                say(
                    line,
                    format!(
                        "the default database's OPTIONS {key:?}: the spec writes only sslmode and sslrootcert, from postgres.ssl"
                    ),
                );
            }
        }
    }
    if let Value::Dict(entries) = default {
        for (key, _) in entries {
            let known_key = matches!(
                key.as_str(),
                Some(
                    "ENGINE"
                        | "NAME"
                        | "USER"
                        | "PASSWORD"
                        | "HOST"
                        | "PORT"
                        | "CONN_MAX_AGE"
                        | "CONN_HEALTH_CHECKS"
                        | "OPTIONS"
                )
            );
            if !known_key {
                say(
                    line,
                    format!("the default database's {key:?} is not in the spec: not imported"),
                );
            }
        }
    }
    let mut replicas = Vec::new();
    for (alias, value) in aliases {
        let Some(alias) = alias.as_str() else {
            continue;
        };
        if alias == "default" {
            continue;
        }
        let host = value.get("HOST").and_then(Value::as_str);
        // The spec writes this host's own replica over loopback, another's at its address.
        let named = if alias == m.host.name {
            known.addresses.contains_key(alias) && host == Some("127.0.0.1")
        } else {
            known
                .addresses
                .get(alias)
                .is_some_and(|a| Some(a.as_str()) == host)
        };
        if named && is_replica(known, alias) {
            replicas.push(Node::text(alias));
        } else {
            say(
                line,
                format!(
                    "the database {alias:?}: the spec adds only replicas, each under its host's name; not imported"
                ),
            );
        }
    }
    if !replicas.is_empty() {
        database.set("replicas", Node::Seq(replicas));
    }
    user
}

/// A database section that loads, each value said to be a placeholder.
fn placeholder(database: &mut Map, site: Option<&str>) {
    let site = site.unwrap_or("django");
    let mut env = Map::new();
    env.set("env", Node::text(env_name(site, "DB_PASSWORD")));
    database
        .guess(
            "name",
            Node::text(site),
            "a placeholder: DATABASES was not read",
        )
        .guess(
            "user",
            Node::text(site),
            "a placeholder: DATABASES was not read",
        )
        .guess(
            "password",
            Node::Map(env),
            "a placeholder: DATABASES was not read",
        );
}

/// CACHES into the spec's `cache`, when its default cache is one the spec names.
fn caches(
    caches: &Value,
    line: usize,
    hints: &mut VersionHints,
    say: &mut impl FnMut(usize, String),
) -> Option<Map> {
    let Value::Dict(entries) = caches else {
        say(line, "CACHES is not a dict: not imported".to_owned());
        return None;
    };
    for (name, _) in entries {
        if name.as_str() != Some("default") {
            say(
                line,
                format!("the cache {name:?}: the spec has only the default cache; not imported"),
            );
        }
    }
    let default = caches.get("default")?;
    let backend = default
        .get("BACKEND")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = match backend.strip_prefix("django.core.cache.backends.") {
        Some("memcached.PyMemcacheCache") => {
            hints.from_4_1 = Some((true, "CACHES uses PyMemcacheCache"));
            "memcached"
        }
        Some("memcached.MemcachedCache") => {
            hints.from_4_1 = Some((false, "CACHES uses MemcachedCache"));
            "memcached"
        }
        Some("redis.RedisCache") => {
            hints.redis = true;
            "redis"
        }
        Some("locmem.LocMemCache") => "locmem",
        _ => {
            say(
                line,
                format!("the cache backend {backend:?} is not one the spec names: not imported"),
            );
            return None;
        }
    };
    let mut cache = Map::new();
    cache.set("backend", Node::text(kind));
    match (kind, default.get("LOCATION").and_then(Value::as_str)) {
        ("locmem", Some(_)) => say(
            line,
            "a LocMemCache's LOCATION is not in the spec: not imported".to_owned(),
        ),
        (_, Some(location)) => {
            let address = match kind {
                "redis" => location.strip_prefix("redis://"),
                _ => Some(location),
            };
            match address.filter(|a| socket_addr(a)) {
                Some(address) => {
                    cache.set("location", Node::text(address));
                }
                None => say(
                    line,
                    format!(
                        "the cache LOCATION {location:?} is not an address and port (redis://ADDRESS:PORT for redis), as the spec's cache.location is: not imported"
                    ),
                ),
            }
        }
        (_, None) => {}
    }
    if let Some(Value::Dict(options)) = default.get("OPTIONS") {
        for (key, value) in options {
            match (key.as_str(), value) {
                (Some("server_max_value_length"), Value::Int(n))
                    if *n > 0 && backend.ends_with("MemcachedCache") =>
                {
                    let size = crate::units::ByteSize::from_bytes(n.unsigned_abs()).to_postgres();
                    cache.set("max_value_length", Node::text(size));
                }
                _ => say(
                    line,
                    format!("the cache OPTIONS {key:?} is not in the spec: not imported"),
                ),
            }
        }
    }
    if let Value::Dict(keys) = default {
        for (key, _) in keys {
            if !matches!(key.as_str(), Some("BACKEND" | "LOCATION" | "OPTIONS")) {
                say(
                    line,
                    format!("the cache's {key:?} is not in the spec: not imported"),
                );
            }
        }
    }
    Some(cache)
}

/// Whether `text` is a name the spec's `allowed_hosts` takes: a DNS name, `.` before it for its
/// subdomains too.
fn allowed_host(text: &str) -> bool {
    let name = text.strip_prefix('.').unwrap_or(text);
    name.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

/// Whether `text` is an identifier as the spec's database names and users are.
fn identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && text.len() <= 63
}

/// Whether `text` is an address the spec's socket addresses take: an IP address and a port.
fn socket_addr(text: &str) -> bool {
    text.parse::<std::net::SocketAddr>()
        .is_ok_and(|a| a.port() != 0)
}

/// EMAIL_BACKEND, EMAIL_HOST and EMAIL_PORT into the spec's `email`.
fn email(
    values: &mut BTreeMap<String, (usize, Value)>,
    say: &mut impl FnMut(usize, String),
) -> Option<Node> {
    let (line, backend) = values.remove("EMAIL_BACKEND")?;
    let host = values.remove("EMAIL_HOST");
    let port = values.remove("EMAIL_PORT");
    match backend.as_str() {
        Some("django.core.mail.backends.dummy.EmailBackend") => {
            for (line, _) in host.iter().chain(&port) {
                say(
                    *line,
                    "EMAIL_HOST and EMAIL_PORT mean nothing to the dummy backend: not imported"
                        .to_owned(),
                );
            }
            Some(Node::text("dummy"))
        }
        Some("django.core.mail.backends.smtp.EmailBackend") => {
            // Django's own defaults, when the module leaves them out.
            let host = match &host {
                Some((_, Value::Str(h))) => h.clone(),
                None => "localhost".to_owned(),
                Some((line, _)) => {
                    say(*line, "EMAIL_HOST is not a string: not imported".to_owned());
                    return None;
                }
            };
            let port = match &port {
                Some((_, Value::Int(p))) => *p,
                None => 25,
                Some((line, _)) => {
                    say(*line, "EMAIL_PORT is not an int: not imported".to_owned());
                    return None;
                }
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            let address = format!("{host}:{port}");
            if !socket_addr(&address) {
                say(
                    line,
                    format!(
                        "the SMTP server {address} is not an IP address and port, as the spec's email.smtp is: not imported"
                    ),
                );
                return None;
            }
            let mut smtp = Map::new();
            smtp.set("smtp", Node::text(address));
            Some(Node::Map(smtp))
        }
        _ => {
            say(
                line,
                "EMAIL_BACKEND is neither SMTP nor dummy: not imported".to_owned(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests;
