//! The plan stage: for each host, which files it gets and every value in them, decided here and
//! only here. Templates receive finished values; they lay text out and decide nothing.

mod derived;
pub mod django;
pub(crate) mod fact;
mod nginx;
pub(crate) mod pgbouncer;
pub mod postgres;
pub(crate) mod sysctl;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub(crate) use derived::Derived;
pub(crate) use fact::{Fact, FactId, Facts, Origin, OriginKind, Record};
pub(crate) use nginx::{LocationKind, Place, written_at};

use crate::spec::{Host, HostName, SecretRef, Site};

/// Everything sitewright will write for a site, host by host in spec order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) site: String,
    pub(crate) files: Vec<PlannedFile>,
}

/// One file on one host, before rendering.
#[derive(Debug, Clone)]
pub(crate) struct PlannedFile {
    pub(crate) host: HostName,
    /// Absolute path on the host.
    pub(crate) path: String,
    /// The template that lays the file out; its extension picks the escaping.
    pub(crate) template: &'static str,
    /// The values the template needs, each leaf a [`Fact`] numbered in `facts`.
    pub(crate) context: minijinja::Value,
    pub(crate) meta: FileMeta,
    /// Secrets the template needs, by context key; filled in only when asked.
    pub(crate) secrets: Vec<SecretSlot>,
    /// Every fact the context holds: its key, where it comes from, what a change to it needs.
    pub(crate) facts: Vec<Record>,
}

impl PlannedFile {
    /// A file laid out by `template` from `context`, whose facts were recorded in `facts`.
    pub(crate) fn new(
        host: &HostName,
        path: impl Into<String>,
        template: &'static str,
        context: &impl Serialize,
        facts: Facts,
        meta: FileMeta,
    ) -> Self {
        Self {
            host: host.clone(),
            path: path.into(),
            template,
            context: minijinja::Value::from(minijinja::value::Serde(context)),
            meta,
            secrets: Vec::new(),
            facts: facts.into_records(),
        }
    }
}

/// What a deploy needs to know about a file besides its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileMeta {
    pub(crate) mode: Mode,
    pub(crate) owner: &'static str,
    pub(crate) group: &'static str,
    pub service: Service,
    pub(crate) on_change: OnChange,
    /// How to hide secret values when the file is shown.
    #[serde(skip)]
    pub(crate) mask: Mask,
    /// Set for a postgresql.conf: what a change needs then depends on which of its settings
    /// changed.
    #[serde(skip)]
    pub(crate) conf: Option<Arc<ConfSettings>>,
    /// The command that applies the file, for files no service reloads (sysctl, SQL).
    #[serde(skip)]
    pub(crate) apply: Option<String>,
    /// Set for a sysctl file: each kernel setting it writes and its value, which `diff
    /// --running` holds against the running kernel's.
    #[serde(skip)]
    pub(crate) kernel: Option<Arc<Vec<(String, String)>>>,
    /// The secrets the file holds, in the order it writes them: a diff compares their values
    /// without the plan, which is gone by then.
    #[serde(skip)]
    pub(crate) secrets: Vec<WrittenSecret>,
    /// Set for an nginx file: where nginx.conf includes it, which is what a check of the file on
    /// its own must wrap it in.
    #[serde(skip)]
    pub(crate) nginx_level: Option<NginxLevel>,
    /// Set for a pgbouncer.ini: each `[pgbouncer]` setting it writes, its value and what a
    /// change to it needs, for `diff` to say whether a reload will do.
    #[serde(skip)]
    pub(crate) pgbouncer: Option<Arc<BTreeMap<String, (String, OnChange)>>>,
}

/// Where nginx.conf includes a file of sitewright's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NginxLevel {
    /// A load_module line, at main level before everything else.
    Module,
    /// At main level, outside events {} and http {}: the stream {} block.
    Main,
    /// Inside http {}.
    Http,
}

impl FileMeta {
    pub(crate) fn new(
        mode: Mode,
        owner: &'static str,
        service: Service,
        on_change: OnChange,
    ) -> Self {
        Self {
            mode,
            owner,
            group: owner,
            service,
            on_change,
            mask: Mask::None,
            conf: None,
            apply: None,
            kernel: None,
            secrets: Vec::new(),
            nginx_level: None,
            pgbouncer: None,
        }
    }
}

/// The settings a postgresql.conf sets, as PostgreSQL reads them, and its major's rules for what a
/// change needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfSettings {
    pub(crate) major: u32,
    /// Each setting's value as PostgreSQL reads it (unquoted), and what a change to it needs.
    pub(crate) written: BTreeMap<String, (String, OnChange)>,
    /// The include directives at the end of the file, in order: each directive's name and the
    /// path as written (relative ones to the file's folder).
    pub(crate) includes: Vec<(String, String)>,
}

impl ConfSettings {
    /// What a change to the setting `name` needs: a restart unless its major's table says a reload
    /// will do (a setting the table does not know is taken to need a restart).
    pub(crate) fn effect(major: u32, name: &str) -> OnChange {
        let restart = crate::pg_settings::table(major)
            .and_then(|t| t.get(name))
            .is_none_or(crate::pg_settings::Def::needs_restart);
        if restart {
            OnChange::Restart
        } else {
            OnChange::Reload
        }
    }

    /// The settings whose value differs between `live`, a postgresql.conf on a host, and what
    /// sitewright writes, each with whether the change needs a restart.
    ///
    /// An include directive is compared as the list of them all, in order, and a change to it
    /// takes a reload: the server then reads the files it names, each of whose settings takes
    /// what it takes.
    pub(crate) fn changed_from(&self, live_text: &str) -> Vec<(String, bool)> {
        use crate::plan::postgres::conf::is_include;
        let live = crate::pg_settings::read_conf(live_text);
        let mut names: Vec<&String> = live
            .keys()
            .chain(self.written.keys())
            .filter(|name| !is_include(name))
            .collect();
        names.sort();
        names.dedup();
        let mut changed: Vec<(String, bool)> = names
            .into_iter()
            .filter(|name| live.get(*name) != self.written.get(*name).map(|(text, _)| text))
            .map(|name| {
                let effect = self
                    .written
                    .get(name)
                    .map_or_else(|| Self::effect(self.major, name), |(_, effect)| *effect);
                (name.clone(), effect == OnChange::Restart)
            })
            .collect();
        let live_includes: Vec<(String, String)> = crate::pg_settings::conf_lines(live_text)
            .into_iter()
            .filter(|line| is_include(&line.name))
            .map(|line| (line.name, line.value))
            .collect();
        if live_includes != self.includes {
            let mut directives: Vec<&String> = live_includes
                .iter()
                .chain(&self.includes)
                .map(|(name, _)| name)
                .collect();
            directives.sort();
            directives.dedup();
            for directive in directives {
                let of = |list: &[(String, String)]| -> Vec<String> {
                    list.iter()
                        .filter(|(name, _)| name == directive)
                        .map(|(_, path)| path.clone())
                        .collect()
                };
                if of(&live_includes) != of(&self.includes) {
                    changed.push((directive.clone(), false));
                }
            }
            changed.sort();
        }
        changed
    }
}

/// A context key that receives a secret's value, or a placeholder naming where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretSlot {
    pub(crate) key: String,
    pub(crate) secret: SecretRef,
    pub(crate) form: SecretForm,
}

/// How a secret is written: as it is, or as what a program stores in its place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum SecretForm {
    /// The value itself (a passfile's password).
    Plain,
    /// PostgreSQL's SCRAM-SHA-256 secret of the value as `user`'s password, its salt derived from
    /// `context`, the user and the value, so that the same password gives the same file.
    ScramVerifier { user: String, context: String },
}

/// A secret as a file holds it: where its value comes from, and in what form it is written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct WrittenSecret {
    pub(crate) secret: SecretRef,
    pub(crate) form: SecretForm,
}

impl WrittenSecret {
    /// What the file holds for `value`.
    pub(crate) fn write(&self, value: &str) -> String {
        match &self.form {
            SecretForm::Plain => value.to_owned(),
            SecretForm::ScramVerifier { user, context } => crate::scram::verifier(
                value,
                &crate::scram::deterministic_salt(context, user, value),
                crate::scram::ITERATIONS,
            ),
        }
    }
}

/// Unix permission bits, shown in octal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mode(pub(crate) u32);

impl Mode {
    /// Readable by everyone: the default for configuration.
    pub(crate) const PUBLIC: Mode = Mode(0o644);
    /// Readable by the owner's group too: pg_hba.conf.
    pub(crate) const GROUP: Mode = Mode(0o640);
    /// Owner only: passfiles and anything else that holds a secret.
    pub(crate) const PRIVATE: Mode = Mode(0o600);
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The service a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Postgresql,
    Nginx,
    Sysctl,
    Django,
    Pgbouncer,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgresql => "postgresql",
            Self::Nginx => "nginx",
            Self::Sysctl => "sysctl",
            Self::Django => "django",
            Self::Pgbouncer => "pgbouncer",
        })
    }
}

/// What a change to the file needs before it takes effect, from least to most disruptive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum OnChange {
    /// Read when it is next used (a passfile).
    Nothing,
    /// `sysctl -p FILE`.
    Apply,
    /// The service re-reads its configuration.
    Reload,
    /// The service must be restarted.
    Restart,
}

impl fmt::Display for OnChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Nothing => "nothing",
            Self::Apply => "apply",
            Self::Reload => "reload",
            Self::Restart => "restart",
        })
    }
}

/// How secret values are hidden when a file is shown (in a diff, or a tree without secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mask {
    /// The file holds no secret.
    #[default]
    None,
    /// A libpq passfile: the fifth field of every entry is a password.
    PassfilePassword,
    /// PgBouncer's userlist.txt: the second quoted field of every entry is a secret.
    UserlistSecret,
}

/// A value and the reason it has that value, shown as a comment beside it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Setting {
    pub(crate) name: String,
    pub(crate) value: Value,
    pub(crate) why: Option<String>,
    /// The JSON pointer of the spec value it was written from, when it was written as given.
    #[serde(skip)]
    pub(crate) from_spec: Option<String>,
    /// The JSON pointer of the spec value it was worked out from, when it was derived.
    #[serde(skip)]
    pub(crate) basis: Option<String>,
    /// A version rule or a named default, when it is one.
    #[serde(skip)]
    pub(crate) kind: Option<OriginKind>,
}

impl Setting {
    pub(crate) fn new(name: &str, value: impl Into<Value>) -> Self {
        Self {
            name: name.to_owned(),
            value: value.into(),
            why: None,
            from_spec: None,
            basis: None,
            kind: None,
        }
    }

    pub(crate) fn because(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    pub(crate) fn given_at(mut self, pointer: impl Into<String>) -> Self {
        self.from_spec = Some(pointer.into());
        self
    }

    /// The value as PostgreSQL reads it back from postgresql.conf: a string unquoted, a boolean
    /// as `on` or `off`, a number as written.
    pub(crate) fn text(&self) -> String {
        match &self.value {
            Value::String(text) => text.clone(),
            Value::Bool(on) => if *on { "on" } else { "off" }.to_owned(),
            other => other.to_string(),
        }
    }

    /// Worked out from the spec value at `pointer`.
    pub(crate) fn derived_from(mut self, pointer: impl Into<String>) -> Self {
        self.basis = Some(pointer.into());
        self
    }

    /// What the version at `pointer` requires.
    pub(crate) fn version_rule(mut self, pointer: impl Into<String>) -> Self {
        self.basis = Some(pointer.into());
        self.kind = Some(OriginKind::VersionRule);
        self
    }

    /// sitewright's own choice for every site, for the reason `because` gives.
    pub(crate) fn named_default(mut self) -> Self {
        self.kind = Some(OriginKind::Default);
        self
    }

    /// Where the value comes from: the spec value as given, derived from it or from other facts,
    /// a version rule or a named default.
    pub(crate) fn origin(&self) -> Origin {
        let why = self.why.clone().unwrap_or_default();
        match (self.kind, &self.basis) {
            (Some(OriginKind::VersionRule), Some(pointer)) => return Origin::version(pointer, why),
            (Some(OriginKind::Default), _) => return Origin::default(why),
            (_, Some(pointer)) if self.from_spec.is_none() => {
                return Origin::derived(Some(pointer), why);
            }
            _ => {}
        }
        match (&self.from_spec, &self.why) {
            (Some(pointer), None) => Origin::spec(pointer),
            (pointer, Some(why)) => Origin::derived(pointer.as_deref(), why),
            (None, None) => Origin {
                kind: OriginKind::Default,
                spec: None,
                why: None,
                unless_written: None,
            },
        }
    }
}

/// A `name = value` line of a postgresql.conf, recovery.conf or sysctl file, its value a fact.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SettingLine {
    pub(crate) name: String,
    pub(crate) value: Fact<Value>,
    pub(crate) why: Option<String>,
}

impl SettingLine {
    /// The lines of `settings`, each value recorded in `facts`; with `effect`, what a change to
    /// each needs.
    pub(crate) fn record(
        settings: &[Setting],
        facts: &mut Facts,
        effect: impl Fn(&str) -> Option<OnChange>,
    ) -> Vec<SettingLine> {
        settings
            .iter()
            .map(|s| SettingLine {
                name: s.name.clone(),
                value: facts.add_record(
                    s.value.clone(),
                    Record {
                        key: s.name.clone(),
                        origin: s.origin(),
                        effect: effect(&s.name),
                    },
                ),
                why: s.why.clone(),
            })
            .collect()
    }
}

/// Plans every file of the site. The spec has passed the check stage, so what it refers to exists.
pub fn plan(site: &Site) -> Plan {
    plan_with(site, &Derived::new(site))
}

/// Plans every file of the site from what `derived` has worked out already.
pub(crate) fn plan_with(site: &Site, derived: &Derived) -> Plan {
    Plan {
        site: site.site.clone(),
        files: crate::parallel::map(&site.hosts, |host| host_files(site, derived, host))
            .into_iter()
            .flatten()
            .collect(),
    }
}

/// Plans the files of one host: what a stage that works host by host holds at a time.
pub(crate) fn host_files(site: &Site, derived: &Derived, host: &Host) -> Vec<PlannedFile> {
    let mut files = postgres::files(site, derived, host);
    files.extend(nginx::files(site, host));
    files.extend(sysctl::files(site, derived, host));
    files.extend(django::files(site, host));
    files.extend(pgbouncer::files(site, host));
    for file in &mut files {
        file.meta.secrets = file
            .secrets
            .iter()
            .map(|s| WrittenSecret {
                secret: s.secret.clone(),
                form: s.form.clone(),
            })
            .collect();
    }
    files
}

impl Mask {
    /// `text` with every secret value replaced by `********`.
    pub(crate) fn apply(self, text: &str) -> String {
        match self {
            Mask::None => text.to_owned(),
            Mask::PassfilePassword => text.split_inclusive('\n').map(mask_passfile_line).collect(),
            Mask::UserlistSecret => text.split_inclusive('\n').map(mask_userlist_line).collect(),
        }
    }

    /// The secret values `text` holds, in order, as the program that reads the file takes them
    /// (a passfile's escapes undone), for comparing them without showing them.
    pub(crate) fn secrets(self, text: &str) -> Vec<String> {
        match self {
            Mask::None => Vec::new(),
            Mask::PassfilePassword => text.lines().filter_map(passfile_password).collect(),
            Mask::UserlistSecret => text
                .lines()
                .filter_map(|line| userlist_fields(line).and_then(|f| f.get(1).cloned()))
                .collect(),
        }
    }
}

/// The quoted fields of one userlist.txt entry, `""` read as `"`, as PgBouncer reads them; none
/// for a line that is not an entry (PgBouncer skips a line that does not start with `"`).
fn userlist_fields(line: &str) -> Option<Vec<String>> {
    let mut rest = line.trim_end_matches('\r');
    if !rest.starts_with('"') {
        return None;
    }
    let mut fields = Vec::new();
    while let Some(open) = rest.strip_prefix('"') {
        let mut field = String::new();
        let mut chars = open.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                if chars.peek().is_some_and(|(_, n)| *n == '"') {
                    chars.next();
                    field.push('"');
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                field.push(c);
            }
        }
        fields.push(field);
        rest = open[end?..].trim_start();
    }
    Some(fields)
}

/// Replaces the secret, the second quoted field, of one userlist.txt entry.
fn mask_userlist_line(line: &str) -> String {
    match userlist_fields(line) {
        Some(fields) if fields.len() >= 2 => {
            let end = if line.ends_with('\n') { "\n" } else { "" };
            format!("\"{}\" \"********\"{end}", fields[0].replace('"', "\"\""))
        }
        _ => line.to_owned(),
    }
}

/// The password of one passfile entry, its escapes undone: libpq's reading of the fifth field.
fn passfile_password(line: &str) -> Option<String> {
    if line.trim_start().starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let mut fields = 0;
    let mut escaped = false;
    let mut password = String::new();
    for c in line.trim_end_matches('\r').chars() {
        match c {
            '\\' if !escaped => escaped = true,
            ':' if !escaped && fields < 4 => fields += 1,
            _ => {
                escaped = false;
                if fields == 4 {
                    password.push(c);
                }
            }
        }
    }
    (fields == 4).then_some(password)
}

/// Replaces the password, the text after the fourth unescaped `:`, of one passfile entry.
fn mask_passfile_line(line: &str) -> String {
    if line.trim_start().starts_with('#') || line.trim().is_empty() {
        return line.to_owned();
    }
    let mut fields = 0;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ':' if !escaped => {
                fields += 1;
                if fields == 4 {
                    let end = if line.ends_with('\n') { "\n" } else { "" };
                    return format!("{}********{end}", &line[..=i]);
                }
            }
            _ => escaped = false,
        }
    }
    "********\n".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_conf_is_compared_with_what_the_plan_writes() {
        let written = [("port", "2"), ("work_mem", "8MB"), ("jit", "off")]
            .into_iter()
            .map(|(name, text)| {
                let effect = ConfSettings::effect(16, name);
                (name.to_owned(), (text.to_owned(), effect))
            })
            .collect();
        let conf = ConfSettings {
            major: 16,
            written,
            includes: Vec::new(),
        };
        // A setting only the live file has reverts to its default: shared_buffers needs a restart.
        let live = "port = 1\nwork_mem = '8MB'\njit = on\nshared_buffers = 1GB\n";
        assert_eq!(
            conf.changed_from(live),
            [
                ("jit".to_owned(), false),
                ("port".to_owned(), true),
                ("shared_buffers".to_owned(), true),
            ]
        );
    }

    #[test]
    fn include_directives_are_compared_as_a_list_and_take_a_reload() {
        let conf = ConfSettings {
            major: 16,
            written: BTreeMap::new(),
            includes: vec![
                ("include_dir".to_owned(), "conf.d".to_owned()),
                ("include".to_owned(), "a.conf".to_owned()),
                ("include".to_owned(), "b.conf".to_owned()),
            ],
        };
        let same = "include_dir = 'conf.d'\ninclude = 'a.conf'\ninclude = b.conf\n";
        assert_eq!(conf.changed_from(same), []);
        // Only the first `include` differs: the last one alone would not show it.
        let live = "include_dir = 'conf.d'\ninclude = 'x.conf'\ninclude = 'b.conf'\ninclude_if_exists = 'c.conf'\n";
        assert_eq!(
            conf.changed_from(live),
            [
                ("include".to_owned(), false),
                ("include_if_exists".to_owned(), false),
            ]
        );
    }

    #[test]
    fn passfile_masks_only_the_password() {
        let text = "# comment\n192.0.2.11:7432:replication:rep:s3cr\\:et\n";
        assert_eq!(
            Mask::PassfilePassword.apply(text),
            "# comment\n192.0.2.11:7432:replication:rep:********\n"
        );
        assert_eq!(
            Mask::PassfilePassword.apply("garbage-without-fields"),
            "********\n"
        );
    }

    #[test]
    fn passfile_passwords_are_read_as_libpq_reads_them() {
        let text = "# comment\n192.0.2.11:7432:replication:rep:s3cr\\:et\\\\x\nhost:1:db:user:pw:with:colons\nshort:line\n";
        assert_eq!(
            Mask::PassfilePassword.secrets(text),
            ["s3cr:et\\x", "pw:with:colons"]
        );
        assert!(Mask::None.secrets(text).is_empty());
    }
}
