//! The settings each PostgreSQL major accepts, generated from the real server binaries
//! (`scripts/pg-settings-table` writes data/postgres/settings-NN.tsv): their types, units, ranges,
//! allowed values, and whether a change needs a restart or a reload; and the names a major's
//! table lacks that its server still accepts (data/postgres/other-names.tsv), so that a rename
//! that left an alias behind is not called a removal.

mod major;

use std::collections::HashMap;
use std::sync::OnceLock;

pub(crate) use major::{Major, NEWEST_MAJOR, PromoteFile, Standby, WAL_SEGMENT_BYTES, WalKeep};

use crate::spec::SettingValue;
use crate::suggest::nearest;

const TABLES: &[(u32, &str)] = &[
    (11, include_str!("../data/postgres/settings-11.tsv")),
    (12, include_str!("../data/postgres/settings-12.tsv")),
    (13, include_str!("../data/postgres/settings-13.tsv")),
    (14, include_str!("../data/postgres/settings-14.tsv")),
    (15, include_str!("../data/postgres/settings-15.tsv")),
    (16, include_str!("../data/postgres/settings-16.tsv")),
    (17, include_str!("../data/postgres/settings-17.tsv")),
    (18, include_str!("../data/postgres/settings-18.tsv")),
];

const OTHER_NAMES: &str = include_str!("../data/postgres/other-names.tsv");

/// A name another major's table has and this major's lacks, which this major's server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherName {
    pub major: u32,
    pub name: &'static str,
    /// The setting the name now sets, or `None` for a hidden setting kept so old files load.
    pub alias_of: Option<&'static str>,
    /// The values the server was seen to accept (a hidden setting may take no other).
    pub accepts: Vec<&'static str>,
}

/// Every name a major's server accepts beyond its table, as the real servers answered.
pub fn other_names() -> &'static [OtherName] {
    static PARSED: OnceLock<Vec<OtherName>> = OnceLock::new();
    PARSED.get_or_init(|| {
        OTHER_NAMES
            .lines()
            .skip(1)
            .map(|line| {
                let f: Vec<&'static str> = line.split('\t').collect();
                let [major, name, alias_of, accepts] = f[..] else {
                    panic!("data/postgres/other-names.tsv: a line without 4 fields: {line}");
                };
                OtherName {
                    major: major.parse().expect("a major"),
                    name,
                    alias_of: Some(alias_of).filter(|a| !a.is_empty()),
                    accepts: accepts.split(',').collect(),
                }
            })
            .collect()
    })
}

/// What `major`'s server makes of `name` when its table lacks it, if it accepts it at all.
pub(crate) fn other_name(major: u32, name: &str) -> Option<&'static OtherName> {
    other_names()
        .iter()
        .find(|o| o.major == major && o.name.eq_ignore_ascii_case(name))
}

/// The kind of value a setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Integer,
    Real,
    String,
    Enum,
}

/// When a changed value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Context {
    /// Only at server start.
    Restart,
    /// On a configuration reload (for new sessions, where the setting is per session).
    Reload,
    /// Fixed when the server was built or initialised: it cannot be set.
    Internal,
}

/// One setting of one major.
#[derive(Debug, Clone)]
pub struct Def {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// pg_settings' unit: `8kB`, `kB`, `MB`, `B`, `ms`, `s`, `min`, or empty.
    pub(crate) unit: &'static str,
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) enumvals: Vec<&'static str>,
    pub(crate) context: Context,
}

/// The settings of one major, by lower-case name (PostgreSQL's names are case-insensitive).
#[derive(Debug)]
pub struct Table {
    pub(crate) major: u32,
    settings: HashMap<String, Def>,
}

fn parse(major: u32, text: &'static str) -> Table {
    let mut settings = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&'static str> = line.split('\t').collect();
        let [name, vartype, unit, min, max, enumvals, context] = f[..] else {
            panic!("data/postgres/settings-{major}.tsv: a line without 7 fields: {line}");
        };
        let kind = match vartype {
            "bool" => Kind::Bool,
            "integer" => Kind::Integer,
            "real" => Kind::Real,
            "enum" => Kind::Enum,
            _ => Kind::String,
        };
        let context = match context {
            "postmaster" => Context::Restart,
            "internal" => Context::Internal,
            _ => Context::Reload,
        };
        let def = Def {
            name,
            kind,
            unit,
            min: min.parse().ok(),
            max: max.parse().ok(),
            enumvals: enumvals.split(',').filter(|v| !v.is_empty()).collect(),
            context,
        };
        settings.insert(name.to_ascii_lowercase(), def);
    }
    Table { major, settings }
}

/// The table of `major`, or `None` for a major sitewright has no table for.
pub fn table(major: u32) -> Option<&'static Table> {
    static PARSED: OnceLock<Vec<Table>> = OnceLock::new();
    PARSED
        .get_or_init(|| TABLES.iter().map(|(m, text)| parse(*m, text)).collect())
        .iter()
        .find(|t| t.major == major)
}

/// The majors whose table has `name`.
pub(crate) fn majors_with(name: &str) -> Vec<u32> {
    TABLES
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| table(*m).is_some_and(|t| t.get(name).is_some()))
        .collect()
}

impl Table {
    pub fn get(&self, name: &str) -> Option<&Def> {
        self.settings.get(&name.to_ascii_lowercase())
    }

    /// Every setting's name, as pg_settings spells it.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.settings.values().map(|d| d.name)
    }

    /// What to say about `name`, which this major's table lacks but its server accepts: an
    /// alias's new name, or that a hidden setting does nothing; `Err` when `value` is one the
    /// hidden setting refuses.
    pub(crate) fn accepted_elsewhere(
        &self,
        other: &OtherName,
        value: &SettingValue,
    ) -> Result<String, String> {
        let major = self.major;
        let name = other.name;
        if let Some(new) = other.alias_of {
            let since = majors_with(name).last().map_or(major, |m| m + 1);
            return Ok(format!(
                "`{name}` was renamed to {new} in PostgreSQL {since}; the old name is still an alias, so this works, but write {new}"
            ));
        }
        let text = match value {
            SettingValue::Bool(true) => "on".to_owned(),
            SettingValue::Bool(false) => "off".to_owned(),
            SettingValue::Int(i) => i.to_string(),
            SettingValue::Float(f) => f.to_string(),
            SettingValue::Text(t) => t.to_ascii_lowercase(),
        };
        let same = |accepted: &str| {
            accepted.eq_ignore_ascii_case(&text)
                || (accepted == "off" && matches!(text.as_str(), "false" | "no" | "0"))
                || (accepted == "on" && matches!(text.as_str(), "true" | "yes" | "1"))
        };
        let since = majors_with(name).last().map_or(major, |m| m + 1);
        let values = other.accepts.join(" or ");
        if other.accepts.iter().any(|a| same(a)) {
            Ok(format!(
                "`{name}` was removed in PostgreSQL {since}; {major} still accepts it as {values}, which does nothing: remove it"
            ))
        } else {
            Err(format!(
                "`{name}` was removed in PostgreSQL {since}; {major} accepts it only as {values}, so old files still load"
            ))
        }
    }

    /// Why `name` is not a setting of this major, with what to write instead when that is known.
    pub(crate) fn unknown(&self, name: &str) -> String {
        let elsewhere = majors_with(name);
        if let (Some(first), Some(last)) = (elsewhere.first(), elsewhere.last()) {
            let span = if first == last {
                format!("PostgreSQL {first}")
            } else {
                format!("PostgreSQL {first} to {last}")
            };
            let when = if *first > self.major {
                "arrived in"
            } else {
                "was removed in"
            };
            let release = if *first > self.major {
                *first
            } else {
                last + 1
            };
            let renamed = other_names()
                .iter()
                .find(|o| o.alias_of.is_some_and(|a| a.eq_ignore_ascii_case(name)))
                .map(|o| format!("; earlier majors call it {}", o.name));
            let instead = renamed
                .or_else(|| replacement(name).map(|r| format!("; {r}")))
                .unwrap_or_default();
            return format!(
                "`{name}` exists in {span} only: it {when} {release}, and this spec is for {}{instead}",
                self.major
            );
        }
        let names: Vec<String> = self.settings.values().map(|d| d.name.to_owned()).collect();
        let lowered: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        match nearest(&name.to_ascii_lowercase(), &lowered) {
            Some(near) => {
                let def = self.get(near).expect("a name from this table");
                format!(
                    "PostgreSQL {} has no setting `{name}`; did you mean `{}`?",
                    self.major, def.name
                )
            }
            None => format!("PostgreSQL {} has no setting `{name}`", self.major),
        }
    }
}

/// What replaced a setting that a major removed, where the spec has a way to say it.
fn replacement(name: &str) -> Option<&'static str> {
    Some(match name {
        "wal_keep_segments" | "wal_keep_size" => {
            "set postgres.replication.wal_keep, which is written in this version's form"
        }
        // 12 to 15 have a file setting under the other name, which the typed field writes.
        "promote_trigger_file" | "trigger_file" => {
            "set postgres.replication.promote_trigger_file, which is written in this version's form (11 to 15), or promote with `pg_ctl promote` or `SELECT pg_promote()`"
        }
        "force_parallel_mode" => "PostgreSQL 16 calls it debug_parallel_query",
        "stats_temp_directory" => "PostgreSQL 15 keeps statistics in shared memory",
        _ => return None,
    })
}

/// Memory units in bytes and time units in microseconds, as postgresql.conf spells them.
const MEMORY_UNITS: &[(&str, f64)] = &[
    ("B", 1.0),
    ("kB", 1024.0),
    ("MB", 1048576.0),
    ("GB", 1073741824.0),
    ("TB", 1099511627776.0),
];
const TIME_UNITS: &[(&str, f64)] = &[
    ("us", 1.0),
    ("ms", 1e3),
    ("s", 1e6),
    ("min", 6e7),
    ("h", 3.6e9),
    ("d", 8.64e10),
];

/// The units a setting's base unit belongs to, and the size of that base unit in them.
fn unit_family(unit: &str) -> Option<(&'static [(&'static str, f64)], f64)> {
    let digits = unit.bytes().take_while(u8::is_ascii_digit).count();
    let (count, name) = unit.split_at(digits);
    let count: f64 = if count.is_empty() {
        1.0
    } else {
        count.parse().ok()?
    };
    for family in [MEMORY_UNITS, TIME_UNITS] {
        if let Some((_, size)) = family.iter().find(|(n, _)| *n == name) {
            return Some((family, count * size));
        }
    }
    None
}

const BOOL_WORDS: &[&str] = &["on", "off", "true", "false", "yes", "no", "1", "0"];

impl Def {
    /// Checks a value the way the server would read it; the error says what would be right.
    pub(crate) fn check(&self, value: &SettingValue, major: u32) -> Result<(), String> {
        if self.context == Context::Internal {
            return Err(format!(
                "`{}` is fixed when PostgreSQL is built or initialised; it cannot be set",
                self.name
            ));
        }
        match self.kind {
            Kind::String => Ok(()),
            Kind::Bool => match value {
                SettingValue::Bool(_) => Ok(()),
                SettingValue::Int(0 | 1) => Ok(()),
                SettingValue::Text(t) if BOOL_WORDS.contains(&t.to_ascii_lowercase().as_str()) => {
                    Ok(())
                }
                _ => Err(format!("`{}` is on or off", self.name)),
            },
            Kind::Enum => {
                let text = match value {
                    SettingValue::Bool(true) => "on".to_owned(),
                    SettingValue::Bool(false) => "off".to_owned(),
                    SettingValue::Int(i) => i.to_string(),
                    SettingValue::Float(f) => f.to_string(),
                    SettingValue::Text(t) => t.to_ascii_lowercase(),
                };
                let boolean_alias =
                    self.enumvals.contains(&"on") && BOOL_WORDS.contains(&text.as_str());
                if self.enumvals.iter().any(|v| v.eq_ignore_ascii_case(&text)) || boolean_alias {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` is one of {}",
                        self.name,
                        self.enumvals.join(", ")
                    ))
                }
            }
            Kind::Integer | Kind::Real => self.check_number(value, major),
        }
    }

    fn check_number(&self, value: &SettingValue, major: u32) -> Result<(), String> {
        let integer = self.kind == Kind::Integer;
        let what = if integer {
            "a whole number"
        } else {
            "a number"
        };
        let family = unit_family(self.unit);
        let example = match family {
            Some((units, _)) if std::ptr::eq(units, MEMORY_UNITS) => {
                " or a size such as 128MB (B, kB, MB, GB, TB)"
            }
            Some(_) => " or a duration such as 30s (ms, s, min, h, d)",
            None => "",
        };
        let expected = || format!("`{}` is {what}{example}", self.name);
        // The value in the setting's base unit.
        let base = match value {
            SettingValue::Int(i) => *i as f64,
            SettingValue::Float(f) if !integer => *f,
            SettingValue::Text(text) => {
                let text = text.trim();
                let digits = text
                    .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
                    .unwrap_or(text.len());
                let (number, unit) = text.split_at(digits);
                let number: f64 = number.parse().map_err(|_| expected())?;
                let unit = unit.trim();
                if unit.is_empty() {
                    number
                } else {
                    let Some((units, base_size)) = family else {
                        return Err(format!("`{}` takes no unit", self.name));
                    };
                    let Some((_, size)) = units.iter().find(|(n, _)| *n == unit) else {
                        let valid: Vec<&str> = units.iter().map(|(n, _)| *n).collect();
                        let hint = units
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(unit))
                            .map(|(n, _)| format!(": units are case-sensitive, write {n}"))
                            .unwrap_or_else(|| format!(": use one of {}", valid.join(", ")));
                        return Err(format!("`{unit}` is not a unit of `{}`{hint}", self.name));
                    };
                    if unit == "us" && !Major(major).has_microseconds() {
                        return Err("the unit us arrived in PostgreSQL 12: use ms".to_owned());
                    }
                    if number.fract() != 0.0 && !Major(major).has_fractional_units() {
                        return Err(format!(
                            "PostgreSQL {major} takes whole numbers with units; fractions arrived in 12"
                        ));
                    }
                    number * size / base_size
                }
            }
            _ => return Err(expected()),
        };
        let (min, max) = (self.min.unwrap_or(f64::MIN), self.max.unwrap_or(f64::MAX));
        let rounded = if integer { base.round() } else { base };
        if rounded < min || rounded > max {
            let unit = if self.unit.is_empty() {
                String::new()
            } else {
                format!(" x {}", self.unit)
            };
            return Err(format!(
                "`{}` must be between {} and {}{unit}",
                self.name,
                trim_number(min),
                trim_number(max)
            ));
        }
        Ok(())
    }

    /// Whether a change to this setting needs a restart.
    pub(crate) fn needs_restart(&self) -> bool {
        self.context == Context::Restart
    }
}

/// The settings a postgresql.conf text sets, by lower-case name, as the server reads them:
/// `#` starts a comment outside quotes, `''` and backslash escapes inside, a later line wins.
pub fn read_conf(text: &str) -> std::collections::BTreeMap<String, String> {
    conf_lines(text)
        .into_iter()
        .map(|line| (line.name, line.value))
        .collect()
}

/// One `name = value` line of a postgresql.conf text, as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfLine {
    /// 1-based, as the server's messages and pg_file_settings count.
    pub(crate) line: usize,
    /// In lower case: names are case-insensitive.
    pub(crate) name: String,
    /// Unquoted, its escapes undone.
    pub(crate) value: String,
}

/// Every `name = value` line of a postgresql.conf text, in order (include directives among
/// them, by their names).
pub(crate) fn conf_lines(text: &str) -> Vec<ConfLine> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c.is_whitespace() || c == '=')
            .unwrap_or(line.len());
        let (name, rest) = line.split_at(name_end);
        let rest = rest.trim_start();
        let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
        let mut value = String::new();
        let mut chars = rest.chars().peekable();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        value.push('\'');
                    }
                    '\'' => break,
                    '\\' => match chars.next() {
                        Some(digit @ '0'..='7') => {
                            // Up to three octal digits, as PostgreSQL's lexer reads them.
                            let mut code = digit.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                match chars.peek().and_then(|c| c.to_digit(8)) {
                                    Some(d) => {
                                        code = code * 8 + d;
                                        chars.next();
                                    }
                                    None => break,
                                }
                            }
                            value.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        Some(next) => value.push(match next {
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => other,
                        }),
                        None => {}
                    },
                    c => value.push(c),
                }
            }
        } else {
            value = chars
                .take_while(|c| !c.is_whitespace() && *c != '#')
                .collect();
        }
        out.push(ConfLine {
            line: number + 1,
            name: name.to_ascii_lowercase(),
            value,
        });
    }
    out
}

fn trim_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(major: u32, name: &str, value: SettingValue) -> Result<(), String> {
        table(major)
            .unwrap()
            .get(name)
            .expect(name)
            .check(&value, major)
    }

    fn text(t: &str) -> SettingValue {
        SettingValue::Text(t.to_owned())
    }

    #[test]
    fn every_major_has_a_table() {
        for major in 11..=18 {
            assert!(table(major).unwrap().get("shared_buffers").is_some());
        }
        assert!(table(13).unwrap().get("TimeZone").is_some());
        assert!(
            table(13).unwrap().get("timezone").is_some(),
            "names are case-insensitive"
        );
    }

    #[test]
    fn renamed_and_removed_settings_say_when() {
        let t16 = table(16).unwrap();
        assert!(t16.get("wal_keep_segments").is_none());
        assert_eq!(
            t16.unknown("wal_keep_segments"),
            "`wal_keep_segments` exists in PostgreSQL 11 to 12 only: it was removed in 13, and this spec is for 16; set postgres.replication.wal_keep, which is written in this version's form"
        );
        assert_eq!(
            table(11).unwrap().unknown("wal_keep_size"),
            "`wal_keep_size` exists in PostgreSQL 13 to 18 only: it arrived in 13, and this spec is for 11; set postgres.replication.wal_keep, which is written in this version's form"
        );
        assert_eq!(
            t16.unknown("shared_bufers"),
            "PostgreSQL 16 has no setting `shared_bufers`; did you mean `shared_buffers`?"
        );
    }

    #[test]
    fn a_name_the_server_still_accepts_is_not_called_removed() {
        let t18 = table(18).unwrap();
        assert!(t18.get("ssl_ecdh_curve").is_none());
        let alias = other_name(18, "ssl_ecdh_curve").expect("18 accepts ssl_ecdh_curve");
        assert_eq!(alias.alias_of, Some("ssl_groups"));
        assert_eq!(
            t18.accepted_elsewhere(alias, &text("prime256v1")),
            Ok("`ssl_ecdh_curve` was renamed to ssl_groups in PostgreSQL 18; the old name is still an alias, so this works, but write ssl_groups".to_owned())
        );
        assert_eq!(
            table(17).unwrap().unknown("ssl_groups"),
            "`ssl_groups` exists in PostgreSQL 18 only: it arrived in 18, and this spec is for 17; earlier majors call it ssl_ecdh_curve"
        );
        let hidden = other_name(16, "default_with_oids").expect("16 accepts default_with_oids");
        let t16 = table(16).unwrap();
        assert!(
            t16.accepted_elsewhere(hidden, &SettingValue::Bool(false))
                .is_ok()
        );
        assert_eq!(
            t16.accepted_elsewhere(hidden, &SettingValue::Bool(true)),
            Err("`default_with_oids` was removed in PostgreSQL 12; 16 accepts it only as off, so old files still load".to_owned())
        );
        assert!(other_name(16, "wal_keep_segments").is_none());
    }

    #[test]
    fn values_are_read_as_the_server_reads_them() {
        assert!(check(16, "shared_buffers", text("16GB")).is_ok());
        assert_eq!(
            check(16, "shared_buffers", text("16gb")).unwrap_err(),
            "`gb` is not a unit of `shared_buffers`: units are case-sensitive, write GB"
        );
        assert!(
            check(16, "shared_buffers", text("64kB")).is_err(),
            "below 16 x 8kB"
        );
        assert!(check(16, "work_mem", SettingValue::Int(4096)).is_ok());
        assert!(check(16, "statement_timeout", text("30s")).is_ok());
        assert_eq!(
            check(11, "statement_timeout", text("500us")).unwrap_err(),
            "the unit us arrived in PostgreSQL 12: use ms"
        );
        assert!(check(16, "autovacuum", SettingValue::Bool(true)).is_ok());
        assert_eq!(
            check(16, "autovacuum", text("maybe")).unwrap_err(),
            "`autovacuum` is on or off"
        );
        assert!(check(16, "wal_level", text("Replica")).is_ok());
        assert_eq!(
            check(16, "wal_level", text("archive")).unwrap_err(),
            "`wal_level` is one of minimal, replica, logical"
        );
        assert!(check(16, "huge_pages", SettingValue::Bool(true)).is_ok());
        assert!(check(16, "max_connections", SettingValue::Int(0)).is_err());
        assert!(check(16, "max_connections", SettingValue::Float(1.5)).is_err());
        assert!(check(16, "random_page_cost", SettingValue::Float(1.1)).is_ok());
        assert!(
            check(16, "block_size", SettingValue::Int(8192)).is_err(),
            "internal"
        );
    }

    #[test]
    fn conf_is_read_as_the_server_reads_it() {
        let text = "# c\nport = 5432  # p\narchive_command = 'cp %p ''x'' \\\\y'\nPort=5433\n";
        let conf = read_conf(text);
        assert_eq!(
            conf["port"], "5433",
            "a later line wins, names case-insensitive"
        );
        assert_eq!(conf["archive_command"], "cp %p 'x' \\y");
    }

    #[test]
    fn contexts_say_restart_or_reload() {
        let t = table(16).unwrap();
        assert!(t.get("shared_buffers").unwrap().needs_restart());
        assert!(!t.get("work_mem").unwrap().needs_restart());
        assert!(
            table(12)
                .unwrap()
                .get("primary_conninfo")
                .unwrap()
                .needs_restart()
        );
        assert!(
            !table(13)
                .unwrap()
                .get("primary_conninfo")
                .unwrap()
                .needs_restart()
        );
    }
}
