//! The plan stage: for each host, which files it gets and every value in them, decided here and
//! only here. Templates receive finished values; they lay text out and decide nothing.

pub mod django;
mod nginx;
pub mod postgres;
pub mod sysctl;

use std::fmt;

use serde::Serialize;
use serde_json::Value;

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
    /// The values the template needs.
    pub context: Value,
    pub meta: FileMeta,
    /// Secrets the template needs, by context key; filled in only when asked.
    pub secrets: Vec<SecretSlot>,
    /// Where the file's lines come from, for `explain`.
    pub origins: Vec<Origin>,
}

/// Where the lines of a file that start with `key` (a setting, directive or name) come from: the
/// spec value they were written from, and how they were derived from it or from other facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub key: String,
    pub spec: Option<String>,
    pub why: Option<String>,
}

impl Origin {
    pub fn new(key: &str, spec: Option<&str>, why: Option<&str>) -> Self {
        Self {
            key: key.to_owned(),
            spec: spec.map(str::to_owned),
            why: why.map(str::to_owned),
        }
    }

    /// The origin of each setting of a postgresql.conf or sysctl file.
    pub fn of_settings(settings: &[Setting]) -> Vec<Origin> {
        settings
            .iter()
            .map(|s| Origin {
                key: s.name.clone(),
                spec: s.from_spec.clone(),
                why: s.why.clone(),
            })
            .collect()
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
    /// Set for a postgresql.conf of this major: what a change needs then depends on which of its
    /// settings changed, by that major's settings table.
    #[serde(skip)]
    pub settings_of_major: Option<u32>,
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
            settings_of_major: None,
            apply: None,
        }
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
}

impl Setting {
    pub fn new(name: &str, value: impl Into<Value>) -> Self {
        Self {
            name: name.to_owned(),
            value: value.into(),
            why: None,
            from_spec: None,
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
}

/// Plans every file of the site. The spec has passed the check stage, so what it refers to exists.
pub fn plan(site: &Site) -> Plan {
    Plan {
        site: site.site.clone(),
        files: crate::parallel::map(&site.hosts, |host| host_files(site, host))
            .into_iter()
            .flatten()
            .collect(),
    }
}

/// Plans the files of one host: what a stage that works host by host holds at a time.
pub fn host_files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let mut files = postgres::files(site, host);
    files.extend(nginx::files(site, host));
    files.extend(sysctl::files(site, host));
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
