//! The files the spec writes on the primary for Django's database: the nightly pg_dump's cron
//! entry, read back into `postgres.backup`, and the role defaults Django expects, which the spec
//! writes from `django.database.user` alone and so are only checked against it.

use super::{HostTree, Known, Map, Node, Note, Part};

/// The defaults sitewright sets on Django's role (the plan's DJANGO_ROLE_DEFAULTS): what Django
/// expects of its connections.
const ROLE_DEFAULTS: [(&str, &str); 3] = [
    ("client_encoding", "UTF8"),
    ("default_transaction_isolation", "read committed"),
    ("timezone", "UTC"),
];

pub(super) fn import(
    hosts: &[HostTree],
    known: &Known,
    user: Option<&str>,
    notes: &mut Vec<Note>,
    part: &mut Part,
) {
    cron(hosts, known, notes, part);
    role_defaults(hosts, known, user, notes, part);
}

/// The hosts in the order their files are looked at: the primary's first, where the spec
/// writes both files.
fn primary_first<'a>(hosts: &'a [HostTree], known: &Known) -> Vec<&'a HostTree> {
    let mut ordered: Vec<&HostTree> = hosts.iter().collect();
    ordered.sort_by_key(|h| known.primary.as_deref() != Some(h.name.as_str()));
    ordered
}

/// Splits a command line as sh does for plain words and quotes: `\%` (cron's escaped `%`) is
/// kept as written, since the spec's file name holds it so.
fn words(command: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a quote left open".to_owned()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('$' | '`' | '"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a quote left open".to_owned()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a quote left open".to_owned()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('%') => word.push_str("\\%"),
                    Some(c) => word.push(c),
                    None => {}
                }
            }
            '|' | '&' | ';' | '>' | '<' | '`' => {
                return Err(format!("`{c}`: more than one pg_dump"));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        out.push(word);
    }
    Ok(out)
}

/// The first whitespace-separated word of `text`, and the rest after it.
fn word(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    (end > 0).then(|| (&text[..end], &text[end..]))
}

/// A cron.d line as (its schedule in five fields, the user, the command); a nickname such as
/// @daily as the five fields it stands for, since the spec takes only those.
fn cron_entry(line: &str) -> Option<(String, &str, &str)> {
    let (first, mut rest) = word(line)?;
    let schedule = match first.strip_prefix('@') {
        Some(nickname) => match nickname {
            "daily" | "midnight" => "0 0 * * *",
            "hourly" => "0 * * * *",
            "weekly" => "0 0 * * 0",
            "monthly" => "0 0 1 * *",
            "yearly" | "annually" => "0 0 1 1 *",
            _ => return None,
        }
        .to_owned(),
        None => {
            let mut fields = vec![first];
            for _ in 0..4 {
                let (field, after) = word(rest)?;
                fields.push(field);
                rest = after;
            }
            fields.join(" ")
        }
    };
    let (user, command) = word(rest)?;
    Some((schedule, user, command.trim()))
}

/// What a pg_dump command line says.
#[derive(Debug, Default, PartialEq)]
struct Dump {
    port: Option<String>,
    clean: bool,
    exclude: Vec<String>,
    database: Option<String>,
    file: Option<String>,
    /// Options the spec does not write.
    other: Vec<String>,
}

fn dump(args: &[String]) -> Dump {
    let mut out = Dump::default();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        let next = args.get(i + 1).cloned();
        // An option's value: joined (`-p5432`, `--port=5432`) or the next word.
        let mut value = |short: &str, long: &str| -> Option<Option<String>> {
            if arg == short || arg == long {
                i += 1;
                return Some(next.clone());
            }
            if let Some(v) = arg.strip_prefix(&format!("{long}=")) {
                return Some(Some(v.to_owned()));
            }
            arg.strip_prefix(short)
                .filter(|v| !v.is_empty() && !short.is_empty() && !arg.starts_with("--"))
                .map(|v| Some(v.to_owned()))
        };
        if arg == "--clean" || arg == "-c" {
            out.clean = true;
        } else if let Some(v) = value("-p", "--port") {
            out.port = v;
        } else if let Some(v) = value("-T", "--exclude-table") {
            out.exclude.extend(v);
        } else if let Some(v) = value("-f", "--file") {
            out.file = v;
        } else if let Some(v) = value("-d", "--dbname") {
            out.database = v;
        } else if !arg.starts_with('-') && out.database.is_none() {
            out.database = Some(arg.to_owned());
        } else {
            out.other.push(arg.to_owned());
        }
        i += 1;
    }
    out
}

/// The first cron entry that runs pg_dump, into `postgres.backup`.
fn cron(hosts: &[HostTree], known: &Known, notes: &mut Vec<Note>, part: &mut Part) {
    let mut imported = false;
    for host in primary_first(hosts, known) {
        for (path, text) in host
            .files
            .iter()
            .filter(|(p, _)| p.starts_with("/etc/cron.d/"))
        {
            if !text.contains("pg_dump") {
                continue;
            }
            let at = format!("{}{path}", host.name);
            let mut say = |line: usize, text: String| {
                notes.push(Note {
                    at: at.clone(),
                    text: format!("line {line}: {text}"),
                })
            };
            if imported {
                say(1, "another pg_dump entry: the spec has one backup, imported already; not imported".to_owned());
                continue;
            }
            let mut backup = None;
            for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                if let Some((name, value)) = line.split_once('=')
                    && !name.contains(' ')
                {
                    if !(name == "SHELL" && value == "/bin/sh") {
                        say(
                            n,
                            format!(
                                "`{line}`: the spec writes SHELL=/bin/sh and no other variable"
                            ),
                        );
                    }
                    continue;
                }
                let entry = cron_entry(line)
                    .filter(|(_, _, command)| backup.is_none() && command.starts_with("pg_dump "));
                let Some((schedule, user, command)) = entry else {
                    say(
                        n,
                        format!(
                            "`{line}` is not the one pg_dump entry the spec writes: not imported"
                        ),
                    );
                    continue;
                };
                if schedule
                    .split(' ')
                    .any(|f| !f.chars().all(|c| c.is_ascii_digit() || "*/,-".contains(c)))
                {
                    say(
                        n,
                        format!(
                            "the schedule `{schedule}` has names, which the spec's five fields of numbers do not take: not imported"
                        ),
                    );
                    continue;
                }
                if line.starts_with('@') {
                    say(
                        n,
                        format!(
                            "the schedule is written as the five fields it stands for, {schedule}"
                        ),
                    );
                }
                if user != "postgres" {
                    say(
                        n,
                        format!("the entry runs as {user}; the spec's runs as postgres"),
                    );
                }
                let args = match words(command) {
                    Ok(words) => words,
                    Err(why) => {
                        say(
                            n,
                            format!("the command is not one pg_dump ({why}): not imported"),
                        );
                        continue;
                    }
                };
                let d = dump(args.get(1..).unwrap_or_default());
                let Some(database) = d.database.clone() else {
                    say(n, "pg_dump names no database: not imported".to_owned());
                    continue;
                };
                match (&d.port, known.postgres_port) {
                    (Some(p), Some(k)) if p.parse::<i64>().ok() == Some(k) => {}
                    (None, Some(5432) | None) => {}
                    (p, _) => say(
                        n,
                        format!(
                            "pg_dump's port is {}; the spec writes postgres.port",
                            p.as_deref().unwrap_or("5432, its default")
                        ),
                    ),
                }
                if !d.clean {
                    say(n, "the spec's pg_dump adds --clean (the dump drops each object before it creates it)".to_owned());
                }
                for option in &d.other {
                    say(
                        n,
                        format!("pg_dump's `{option}` is not in the spec: not kept"),
                    );
                }
                // The spec names each dump DATABASE_YYYYMMDDHHMM.sql in the directory.
                let stamp = format!("/{database}_$(date +\\%Y\\%m\\%d\\%H\\%M).sql");
                let directory = match &d.file {
                    Some(file) => match file.strip_suffix(&stamp) {
                        Some(dir) => Some(dir.to_owned()),
                        None => {
                            say(
                                n,
                                format!(
                                    "the dump's file {file} is not named DATABASE_YYYYMMDDHHMM.sql as the spec names it; its folder is kept"
                                ),
                            );
                            file.rsplit_once('/').map(|(dir, _)| dir.to_owned())
                        }
                    },
                    None => None,
                };
                let Some(directory) = directory.filter(|d| d.starts_with('/')) else {
                    say(
                        n,
                        "the dump goes to no absolute folder (-f): not imported".to_owned(),
                    );
                    continue;
                };
                let mut map = Map::new();
                map.set("database", Node::text(database))
                    .set("directory", Node::text(directory))
                    .set("schedule", Node::text(schedule));
                if !d.exclude.is_empty() {
                    map.set(
                        "exclude_tables",
                        Node::Seq(d.exclude.iter().map(Node::text).collect()),
                    );
                }
                backup = Some(map);
            }
            let Some(backup) = backup else {
                continue;
            };
            if known.primary.as_deref() != Some(host.name.as_str()) {
                say(
                    1,
                    "the spec writes the pg_dump entry on the primary, not here".to_owned(),
                );
            }
            if !path.starts_with("/etc/cron.d/sitewright-") || !path.ends_with("-pg-dump") {
                say(
                    1,
                    "the spec writes the entry as /etc/cron.d/sitewright-SITE-pg-dump".to_owned(),
                );
            }
            part.values
                .push((vec!["postgres", "backup"], Node::Map(backup)));
            part.read.insert((host.name.clone(), path.clone()));
            imported = true;
        }
    }
}

/// An SQL identifier or literal at the start of `text`: its value and the rest.
fn sql_token(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let quote = text.chars().next()?;
    if quote == '"' || quote == '\'' {
        let mut value = String::new();
        let mut chars = text.char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                if chars.peek().map(|(_, n)| *n) == Some(quote) {
                    chars.next();
                    value.push(quote);
                } else {
                    return Some((value, &text[i + 1..]));
                }
            } else {
                value.push(c);
            }
        }
        return None;
    }
    let end = text
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(text.len());
    Some((text[..end].to_owned(), &text[end..]))
}

/// `ALTER ROLE role SET name TO value;` as (role, name, value).
fn alter_role(line: &str) -> Option<(String, String, String)> {
    let mut rest = line.trim();
    for word in ["ALTER", "ROLE"] {
        let (w, after) = sql_token(rest)?;
        if !w.eq_ignore_ascii_case(word) {
            return None;
        }
        rest = after;
    }
    let (role, after) = sql_token(rest)?;
    let (set, after) = sql_token(after)?;
    let (name, after) = sql_token(after)?;
    let (to, after) = sql_token(after)?;
    let (value, after) = sql_token(after)?;
    let ok = set.eq_ignore_ascii_case("SET")
        && (to.eq_ignore_ascii_case("TO") || to == "=")
        && after.trim() == ";";
    ok.then_some((role, name.to_ascii_lowercase(), value))
}

/// The role defaults file: the spec writes it from `django.database.user`, so it is read when
/// it sets sitewright's defaults on that role.
fn role_defaults(
    hosts: &[HostTree],
    known: &Known,
    user: Option<&str>,
    notes: &mut Vec<Note>,
    part: &mut Part,
) {
    for host in primary_first(hosts, known) {
        for (path, text) in host
            .files
            .iter()
            .filter(|(p, _)| p.ends_with("/sitewright-role-defaults.sql"))
        {
            let at = format!("{}{path}", host.name);
            let mut said = Vec::new();
            let Some(user) = user else {
                notes.push(Note {
                    at,
                    text: "the spec writes these role defaults only with a django section, and no Django settings module was found: not imported".to_owned(),
                });
                continue;
            };
            let mut set = Vec::new();
            for (n, line) in text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())) {
                if line.is_empty() || line.starts_with("--") {
                    continue;
                }
                match alter_role(line) {
                    Some((role, name, value)) if role == user => set.push((name, value, n)),
                    Some((role, _, _)) => said.push(format!(
                        "line {n}: sets a default on {role}; the spec sets them on django.database.user ({user})"
                    )),
                    None => said.push(format!("line {n}: `{line}` is not one of the spec's role defaults: not kept")),
                }
            }
            for (name, value, n) in &set {
                let expected = ROLE_DEFAULTS.iter().find(|(k, _)| k == name);
                match expected {
                    Some((_, v)) if v == value => {}
                    Some((_, v)) => {
                        said.push(format!("line {n}: {name} is {value}; the spec sets {v}"))
                    }
                    None => said.push(format!(
                        "line {n}: {name} is not one of the defaults the spec sets: not kept"
                    )),
                }
            }
            for (name, value) in ROLE_DEFAULTS {
                if !set.iter().any(|(k, _, _)| k == name) {
                    said.push(format!("the spec adds {name} = {value} on {user}"));
                }
            }
            if known.primary.as_deref() != Some(host.name.as_str()) {
                said.push("the spec writes the role defaults on the primary, not here".to_owned());
            }
            notes.extend(said.into_iter().map(|text| Note {
                at: at.clone(),
                text,
            }));
            part.read.insert((host.name.clone(), path.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cron_command_is_split_as_sh_splits_it() {
        let w =
            words(r#"pg_dump -p 5432 --clean -T a catmaid -f "/opt/b/catmaid_$(date +\%Y).sql""#)
                .unwrap();
        let d = dump(&w[1..]);
        assert_eq!(d.port.as_deref(), Some("5432"));
        assert!(d.clean);
        assert_eq!(d.exclude, vec!["a"]);
        assert_eq!(d.database.as_deref(), Some("catmaid"));
        assert_eq!(d.file.as_deref(), Some("/opt/b/catmaid_$(date +\\%Y).sql"));
        let d = dump(&words("pg_dump --port=5433 -Tb --exclude-table=c -Fc db").unwrap()[1..]);
        assert_eq!(d.port.as_deref(), Some("5433"));
        assert_eq!(d.exclude, vec!["b", "c"]);
        assert_eq!(d.other, vec!["-Fc"]);
        assert!(words("pg_dump db | gzip").is_err());
        assert!(words("pg_dump \"db").is_err());
        let _ = dump(&words("pg_dump -p").unwrap()[1..]);
        assert_eq!(
            cron_entry("0  3 * *\t* postgres pg_dump db"),
            Some(("0 3 * * *".to_owned(), "postgres", "pg_dump db"))
        );
        assert_eq!(
            cron_entry("@daily postgres pg_dump db"),
            Some(("0 0 * * *".to_owned(), "postgres", "pg_dump db"))
        );
        assert_eq!(cron_entry("@reboot postgres pg_dump db"), None);
        assert_eq!(cron_entry("0 3 * *"), None);
    }

    #[test]
    fn role_defaults_are_read_as_sql() {
        assert_eq!(
            alter_role(r#"ALTER ROLE "a""b" SET "timezone" TO 'UTC';"#),
            Some(("a\"b".to_owned(), "timezone".to_owned(), "UTC".to_owned()))
        );
        assert_eq!(
            alter_role("alter role app set default_transaction_isolation to 'read committed' ;"),
            Some((
                "app".to_owned(),
                "default_transaction_isolation".to_owned(),
                "read committed".to_owned()
            ))
        );
        assert_eq!(alter_role("ALTER ROLE app SET x TO 'y"), None);
        assert_eq!(alter_role("GRANT ALL ON x TO app;"), None);
    }
}
