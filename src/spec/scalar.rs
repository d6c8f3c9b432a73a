//! Small newtypes for the spec's scalar values, each checked where it is read.
//!
//! The schema carries each type's pattern or format, so a bad value is reported with every other
//! schema error at its line; the checks here are the same rules, kept for values built in code.

use std::fmt;
use std::net::IpAddr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string newtype whose schema is `{"type": "string", <constraint>}`.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $ty:ident, $description:literal, $example:literal, {$($constraint:tt)*}, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            // Every newtype's text can be read; not every one's is, yet.
            #[allow(dead_code)]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub(crate) fn new(text: impl Into<String>) -> Result<Self, String> {
                let text = text.into();
                let check: fn(&str) -> Result<(), String> = $check;
                check(&text).map(|()| Self(text))
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Self::new(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "description": $description,
                    "examples": [$example],
                    $($constraint)*
                })
            }
        }
    };
}

pub(crate) const HOST_NAME_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
pub(crate) const IDENTIFIER_PATTERN: &str = r"^[a-z_][a-z0-9_]{0,62}$";
pub(crate) const DOTTED_NAME_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$";
pub(crate) const VERSION_PATTERN: &str = r"^[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?$";
/// Absolute paths of plain characters: nothing that any target format would have to quote.
pub(crate) const ABS_PATH_PATTERN: &str = r"^(/[A-Za-z0-9._+@-]+)+/?$";
/// A path PostgreSQL's include directives take: absolute, or relative to the folder of
/// postgresql.conf, of the same plain characters and without a trailing `/`.
pub(crate) const CONF_PATH_PATTERN: &str = r"^/?[A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*$";
pub(crate) const SITE_NAME_PATTERN: &str = r"^[a-z][a-z0-9-]{0,62}$";
pub(crate) const DNS_NAME_PATTERN: &str =
    r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$";
pub(crate) const ALLOWED_HOST_PATTERN: &str =
    r"^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$";
pub(crate) const URL_PREFIX_PATTERN: &str = r"^/([A-Za-z0-9._-]+/)*$";
pub(crate) const COOKIE_PATTERN: &str = r"^[A-Za-z0-9_]+$";
pub(crate) const HBA_NAME_PATTERN: &str = r"^\+?[a-z_][a-z0-9_]{0,62}$";
pub(crate) const CRON_SCHEDULE_PATTERN: &str = r"^[0-9*/,-]+( [0-9*/,-]+){4}$";
/// Text of one line: no control characters, so a comment stays a comment.
pub(crate) const ONE_LINE_PATTERN: &str = r"^[^\x00-\x1f\x7f]*$";
/// Any text but NUL, which no configuration format can hold.
pub(crate) const NO_NUL_PATTERN: &str = r"^[^\x00]*$";
pub(crate) const ENV_NAME_PATTERN: &str = r"^[A-Za-z_][A-Za-z0-9_]*$";

/// A `.` or `..` segment, which an absolute path must not have.
pub(crate) const DOT_SEGMENT_PATTERN: &str = r"(^|/)\.\.?(/|$)";

fn matches(pattern: &'static str) -> impl Fn(&str) -> bool {
    move |text| pattern_matches(pattern, text)
}

/// The few patterns above are simple enough to check by hand; this keeps the regex crate out.
fn pattern_matches(pattern: &str, text: &str) -> bool {
    match pattern {
        HOST_NAME_PATTERN => {
            let bytes = text.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        }
        IDENTIFIER_PATTERN => {
            let bytes = text.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= 63
                && !bytes[0].is_ascii_digit()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        }
        DOTTED_NAME_PATTERN => text.split('.').all(|part| {
            let bytes = part.as_bytes();
            !bytes.is_empty()
                && !bytes[0].is_ascii_digit()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        }),
        VERSION_PATTERN => {
            let parts: Vec<&str> = text.split('.').collect();
            (2..=3).contains(&parts.len())
                && parts
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        }
        ABS_PATH_PATTERN => {
            let trimmed = text.strip_suffix('/').unwrap_or(text);
            text.starts_with('/')
                && trimmed.len() > 1
                && trimmed[1..].split('/').all(|part| {
                    !part.is_empty()
                        && part != "."
                        && part != ".."
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._+@-".contains(&b))
                })
        }
        CONF_PATH_PATTERN => {
            let relative = text.strip_prefix('/').unwrap_or(text);
            !relative.is_empty()
                && relative.split('/').all(|part| {
                    !part.is_empty()
                        && part != "."
                        && part != ".."
                        && part
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._+@-".contains(&b))
                })
        }
        _ => unreachable!("pattern_matches knows every pattern of this module"),
    }
}

fn require(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("expected {what}"))
    }
}

string_newtype!(
    /// A host name: the folder of the host's files in the rendered tree, so it can never hold `/` or `..`.
    HostName,
    "A short host name: lower-case letters, digits and `-`, at most 63 characters.",
    "db1",
    {"pattern": HOST_NAME_PATTERN},
    |text| require(matches(HOST_NAME_PATTERN)(text), "a host name such as db1")
);

string_newtype!(
    /// A PostgreSQL role or database name, restricted so that it needs no quoting in any file.
    Identifier,
    "A PostgreSQL name: lower-case letters, digits and `_`, not starting with a digit, at most 63 characters.",
    "replication_user",
    {"pattern": IDENTIFIER_PATTERN},
    |text| require(matches(IDENTIFIER_PATTERN)(text), "a name of lower-case letters, digits and _")
);

string_newtype!(
    /// A Python dotted module name.
    DottedName,
    "A Python module path such as `mysite.settings_base`.",
    "mysite.settings_base",
    {"pattern": DOTTED_NAME_PATTERN},
    |text| require(matches(DOTTED_NAME_PATTERN)(text), "a Python module path")
);

string_newtype!(
    /// A program version, `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`; a string so that `1.20` keeps its zero.
    Version,
    "A version, MAJOR.MINOR or MAJOR.MINOR.PATCH, quoted so that YAML keeps it a string (\"1.20\", not 1.2).",
    "1.22",
    {"pattern": VERSION_PATTERN},
    |text| require(matches(VERSION_PATTERN)(text), "a version such as \"1.22\"")
);

string_newtype!(
    /// An absolute path of plain characters.
    AbsPath,
    "An absolute path of letters, digits and `._+@-` separated by `/`.",
    "/etc/ssl/private/server.key",
    {"pattern": ABS_PATH_PATTERN, "not": {"pattern": DOT_SEGMENT_PATTERN}},
    |text| require(matches(ABS_PATH_PATTERN)(text), "an absolute path of letters, digits and ._+@-")
);

string_newtype!(
    /// A file or folder that postgresql.conf includes: absolute, or relative to the folder of
    /// postgresql.conf (the config directory), as PostgreSQL resolves it.
    ConfPath,
    "A path of letters, digits and `._+@-` separated by `/`: absolute, or relative to the config directory, the folder of postgresql.conf.",
    "conf.d",
    {"pattern": CONF_PATH_PATTERN, "not": {"pattern": DOT_SEGMENT_PATTERN}},
    |text| require(matches(CONF_PATH_PATTERN)(text), "a path of letters, digits and ._+@-, absolute or relative to the config directory, without . or .. segments")
);

impl ConfPath {
    /// The absolute path on the host: a relative path is resolved against `config_directory`,
    /// the folder of the postgresql.conf that names it.
    pub(crate) fn resolved(&self, config_directory: &AbsPath) -> String {
        if self.0.starts_with('/') {
            self.0.clone()
        } else {
            format!(
                "{}/{}",
                config_directory.as_str().trim_end_matches('/'),
                self.0
            )
        }
    }
}

string_newtype!(
    /// An IPv4 or IPv6 address.
    Address,
    "An IPv4 or IPv6 address, without a prefix length.",
    "192.0.2.11",
    {"format": "ip-address"},
    |text| require(text.parse::<IpAddr>().is_ok(), "an IPv4 or IPv6 address such as 192.0.2.11")
);

string_newtype!(
    /// An address and port, `127.0.0.1:8000` or `[::1]:8000`.
    SocketAddr,
    "An address and a port: `127.0.0.1:8000` or `[::1]:8000`.",
    "127.0.0.1:8000",
    {"format": "socket-address"},
    |text| require(text.parse::<std::net::SocketAddr>().is_ok_and(|a| a.port() != 0), "an address and port such as 127.0.0.1:8000")
);

impl Address {
    pub(crate) fn ip(&self) -> IpAddr {
        self.0
            .parse()
            .expect("an Address is checked when it is made")
    }

    /// The address as a single-host CIDR block, as pg_hba.conf wants it.
    pub(crate) fn host_cidr(&self) -> String {
        match self.ip() {
            IpAddr::V4(_) => format!("{}/32", self.0),
            IpAddr::V6(_) => format!("{}/128", self.0),
        }
    }
}

impl Version {
    pub(crate) fn parts(&self) -> (u32, u32, u32) {
        let mut parts = self
            .0
            .split('.')
            .map(|p| p.parse().expect("checked digits"));
        (
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
            parts.next().unwrap_or(0),
        )
    }

    pub(crate) fn at_least(&self, major: u32, minor: u32, patch: u32) -> bool {
        self.parts() >= (major, minor, patch)
    }
}

/// A check of a custom schema format.
pub(crate) type FormatCheck = fn(&str) -> bool;

/// Custom formats of the schema: the validator checks them with these functions.
pub(crate) const FORMATS: &[(&str, FormatCheck)] = &[
    ("ip-address", |text| text.parse::<IpAddr>().is_ok()),
    ("socket-address", |text| {
        text.parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.port() != 0)
    }),
    ("hba-address", is_hba_address),
];

/// Whether `text` is a pg_hba.conf address column sitewright writes: a keyword, or a CIDR block
/// whose host bits are zero, since a block such as 192.0.2.7/24 usually means a typo.
fn is_hba_address(text: &str) -> bool {
    if matches!(text, "all" | "samehost" | "samenet") {
        return true;
    }
    let Some((net, bits)) = text.split_once('/') else {
        return false;
    };
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(bits) = bits.parse::<u32>() else {
        return false;
    };
    match net.parse::<IpAddr>() {
        Ok(IpAddr::V4(n)) if bits <= 32 => u32::from(n).checked_shl(bits).unwrap_or(0) == 0,
        Ok(IpAddr::V6(n)) if bits <= 128 => u128::from(n).checked_shl(bits).unwrap_or(0) == 0,
        _ => false,
    }
}

/// A TCP port, 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl JsonSchema for Port {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Port".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
            "description": "A TCP port, 1 to 65535.",
            "examples": [5432],
        })
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_cannot_leave_their_folder() {
        for bad in ["..", "a/b", "", "-a", "a-", "A1", "a.b", "a b"] {
            assert!(HostName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(HostName::new("db-1").is_ok());
    }

    #[test]
    fn paths_are_absolute_and_plain() {
        for bad in [
            "relative", "/a/../b", "/a//b", "/a b", "/a'b", "/", "/a/./b", "/..",
        ] {
            assert!(AbsPath::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(AbsPath::new("/etc/nginx/ssl/server.crt").is_ok());
    }

    #[test]
    fn hba_addresses_are_keywords_or_exact_blocks() {
        for good in [
            "all",
            "samenet",
            "192.0.2.0/24",
            "192.0.2.7/32",
            "0.0.0.0/0",
            "::1/128",
            "2001:db8::/32",
        ] {
            assert!(is_hba_address(good), "{good:?} refused");
        }
        for bad in [
            "192.0.2.7/24",
            "192.0.2.0",
            "192.0.2.0/33",
            "::1/129",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "10.0.0.0/008x",
            "db2",
            "all ",
            "::1/0",
        ] {
            assert!(!is_hba_address(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn versions_compare_numerically() {
        let version = Version::new("1.25.1").unwrap();
        assert!(version.at_least(1, 25, 1));
        assert!(!Version::new("1.22").unwrap().at_least(1, 25, 1));
        assert!(Version::new("1.2x").is_err());
    }
}
