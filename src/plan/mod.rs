//! The plan stage: for each host, which files it gets and every value in them, decided here and
//! only here. Templates receive finished values; they lay text out and decide nothing.

mod derived;
pub mod django;
pub mod fact;
mod nginx;
pub mod postgres;
pub mod sysctl;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

pub use derived::Derived;
pub use fact::{Fact, FactId, Facts, Origin, OriginKind, Record};

use crate::spec::{Host, HostName, SecretRef, Site};

/// Everything sitewright will write for a site, host by host in spec order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub site: String,
    pub files: Vec<PlannedFile>,
}

/// One file on one host, before rendering.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    pub host: HostName,
    /// Absolute path on the host.
    pub path: String,
    /// The template that lays the file out; its extension picks the escaping.
    pub template: &'static str,
    /// The values the template needs, each leaf a [`Fact`] numbered in `facts`.
    pub context: minijinja::Value,
    pub meta: FileMeta,
    /// Secrets the template needs, by context key; filled in only when asked.
    pub secrets: Vec<SecretSlot>,
    /// Every fact the context holds: its key, where it comes from, what a change to it needs.
    pub facts: Vec<Record>,
}

impl PlannedFile {
    /// A file laid out by `template` from `context`, whose facts were recorded in `facts`.
    pub fn new(
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
    pub mode: Mode,
    pub owner: &'static str,
    pub group: &'static str,
    pub service: Service,
    pub on_change: OnChange,
    /// How to hide secret values when the file is shown.
    #[serde(skip)]
    pub mask: Mask,
    /// Set for a postgresql.conf: what a change needs then depends on which of its settings
    /// changed.
    #[serde(skip)]
    pub conf: Option<Arc<ConfSettings>>,
    /// The command that applies the file, for files no service reloads (sysctl, SQL).
    #[serde(skip)]
    pub apply: Option<String>,
}

impl FileMeta {
    pub fn new(mode: Mode, owner: &'static str, service: Service, on_change: OnChange) -> Self {
        Self {
            mode,
            owner,
            group: owner,
            service,
            on_change,
            mask: Mask::None,
            conf: None,
            apply: None,
        }
    }
}

/// The settings a postgresql.conf sets, as PostgreSQL reads them, and its major's rules for what a
/// change needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfSettings {
    pub major: u32,
    /// Each setting's value as PostgreSQL reads it (unquoted), and what a change to it needs.
    pub written: BTreeMap<String, (String, OnChange)>,
}

impl ConfSettings {
    /// What a change to the setting `name` needs: a restart unless its major's table says a reload
    /// will do (a setting the table does not know is taken to need a restart).
    pub fn effect(major: u32, name: &str) -> OnChange {
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
    pub fn changed_from(&self, live: &str) -> Vec<(String, bool)> {
        let live = crate::pg_settings::read_conf(live);
        let mut names: Vec<&String> = live.keys().chain(self.written.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter(|name| live.get(*name) != self.written.get(*name).map(|(text, _)| text))
            .map(|name| {
                let effect = self
                    .written
                    .get(name)
                    .map_or_else(|| Self::effect(self.major, name), |(_, effect)| *effect);
                (name.clone(), effect == OnChange::Restart)
            })
            .collect()
    }
}

/// A context key that receives a secret's value, or a placeholder naming where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSlot {
    pub key: &'static str,
    pub secret: SecretRef,
}

/// Unix permission bits, shown in octal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Mode {
    /// Readable by everyone: the default for configuration.
    pub const PUBLIC: Mode = Mode(0o644);
    /// Readable by the owner's group too: pg_hba.conf.
    pub const GROUP: Mode = Mode(0o640);
    /// Owner only: passfiles and anything else that holds a secret.
    pub const PRIVATE: Mode = Mode(0o600);
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
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Postgresql => "postgresql",
            Self::Nginx => "nginx",
            Self::Sysctl => "sysctl",
            Self::Django => "django",
        })
    }
}

/// What a change to the file needs before it takes effect, from least to most disruptive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnChange {
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
pub enum Mask {
    /// The file holds no secret.
    #[default]
    None,
    /// A libpq passfile: the fifth field of every entry is a password.
    PassfilePassword,
}

/// A value and the reason it has that value, shown as a comment beside it.
#[derive(Debug, Clone, Serialize)]
pub struct Setting {
    pub name: String,
    pub value: Value,
    pub why: Option<String>,
    /// The JSON pointer of the spec value it was written from, when it was written as given.
    #[serde(skip)]
    pub from_spec: Option<String>,
    /// The JSON pointer of the spec value it was worked out from, when it was derived.
    #[serde(skip)]
    pub basis: Option<String>,
    /// A version rule or a named default, when it is one.
    #[serde(skip)]
    pub kind: Option<OriginKind>,
}

impl Setting {
    pub fn new(name: &str, value: impl Into<Value>) -> Self {
        Self {
            name: name.to_owned(),
            value: value.into(),
            why: None,
            from_spec: None,
            basis: None,
            kind: None,
        }
    }

    pub fn because(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    pub fn from_spec(mut self, pointer: impl Into<String>) -> Self {
        self.from_spec = Some(pointer.into());
        self
    }

    /// Worked out from the spec value at `pointer`.
    pub fn derived_from(mut self, pointer: impl Into<String>) -> Self {
        self.basis = Some(pointer.into());
        self
    }

    /// What the version at `pointer` requires.
    pub fn version_rule(mut self, pointer: impl Into<String>) -> Self {
        self.basis = Some(pointer.into());
        self.kind = Some(OriginKind::VersionRule);
        self
    }

    /// sitewright's own choice for every site, for the reason `because` gives.
    pub fn named_default(mut self) -> Self {
        self.kind = Some(OriginKind::Default);
        self
    }

    /// Where the value comes from: the spec value as given, derived from it or from other facts,
    /// a version rule or a named default.
    pub fn origin(&self) -> Origin {
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
pub struct SettingLine {
    pub name: String,
    pub value: Fact<Value>,
    pub why: Option<String>,
}

impl SettingLine {
    /// The lines of `settings`, each value recorded in `facts`; with `effect`, what a change to
    /// each needs.
    pub fn record(
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
pub fn plan_with(site: &Site, derived: &Derived) -> Plan {
    Plan {
        site: site.site.clone(),
        files: crate::parallel::map(&site.hosts, |host| host_files(site, derived, host))
            .into_iter()
            .flatten()
            .collect(),
    }
}

/// Plans the files of one host: what a stage that works host by host holds at a time.
pub fn host_files(site: &Site, derived: &Derived, host: &Host) -> Vec<PlannedFile> {
    let mut files = postgres::files(site, derived, host);
    files.extend(nginx::files(site, host));
    files.extend(sysctl::files(site, derived, host));
    files.extend(django::files(site, host));
    files
}

impl Mask {
    /// `text` with every secret value replaced by `********`.
    pub fn apply(self, text: &str) -> String {
        match self {
            Mask::None => text.to_owned(),
            Mask::PassfilePassword => text.split_inclusive('\n').map(mask_passfile_line).collect(),
        }
    }
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
}
