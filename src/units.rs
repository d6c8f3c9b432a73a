//! Typed byte sizes and durations, parsed once from the spec and formatted for each target syntax.
//!
//! PostgreSQL reads `kB`, `MB`, `GB` and `TB` as powers of 1024 and so does this module; the IEC names
//! (`KiB` … `TiB`) mean the same. General-purpose crates read `MB` as 10^6, which is why this is ours.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A whole number of bytes, written in the spec as `512kB`, `256MB`, `1GB` or `1GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ByteSize(u64);

const KIB: u64 = 1024;
const MIB: u64 = KIB * KIB;
const GIB: u64 = MIB * KIB;
const TIB: u64 = GIB * KIB;
const BYTE_UNITS: &[(&str, u64)] = &[
    ("TB", TIB),
    ("TiB", TIB),
    ("GB", GIB),
    ("GiB", GIB),
    ("MB", MIB),
    ("MiB", MIB),
    ("kB", KIB),
    ("KiB", KIB),
    ("B", 1),
];

impl ByteSize {
    /// The pattern the schema gives editors; [`ByteSize::parse`] accepts exactly these strings.
    pub(crate) const PATTERN: &'static str = r"^[0-9]+ ?(B|kB|MB|GB|TB|KiB|MiB|GiB|TiB)$";
    pub(crate) const EXPECTED: &'static str =
        "a byte size such as 512kB, 256MB, 1GB or 1GiB (kB, MB, GB and TB are powers of 1024)";

    pub(crate) const fn from_bytes(bytes: u64) -> Self {
        Self(bytes)
    }

    pub(crate) const fn bytes(self) -> u64 {
        self.0
    }

    pub(crate) fn parse(text: &str) -> Result<Self, UnitError> {
        parse_with_units(text, BYTE_UNITS, Self::EXPECTED).map(Self)
    }

    /// PostgreSQL's form: the largest unit that divides the size evenly (`16GB`, `512kB`, `100B`).
    pub(crate) fn to_postgres(self) -> String {
        largest_even_unit(
            self.0,
            &[("TB", TIB), ("GB", GIB), ("MB", MIB), ("kB", KIB)],
            "B",
        )
    }

    /// nginx's form of an offset (`max_size=`): `k`, `m` or `g` when the size divides evenly, else
    /// plain bytes.
    pub(crate) fn to_nginx(self) -> String {
        largest_even_unit(self.0, &[("g", GIB), ("m", MIB), ("k", KIB)], "")
    }

    /// nginx's form of a size directive (`proxy_buffer_size`, `client_body_buffer_size`): nginx
    /// reads those with ngx_parse_size, which knows `k` and `m` but refuses `1g`.
    pub(crate) fn to_nginx_size(self) -> String {
        largest_even_unit(self.0, &[("m", MIB), ("k", KIB)], "")
    }
}

/// `value` in the largest of `units` that divides it evenly, else (and for zero) with `fallback`.
fn largest_even_unit(value: u64, units: &[(&str, u64)], fallback: &str) -> String {
    units
        .iter()
        .find(|(_, factor)| value != 0 && value.is_multiple_of(*factor))
        .map_or_else(
            || format!("{value}{fallback}"),
            |(name, factor)| format!("{}{name}", value / factor),
        )
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_postgres())
    }
}

/// A span of time, written in the spec as `200ms`, `60s`, `5min`, `2h` or `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Duration {
    micros: u64,
}

const DURATION_UNITS: &[(&str, u64)] = &[
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
];

impl Duration {
    pub(crate) const PATTERN: &'static str = r"^[0-9]+ ?(us|ms|s|min|h|d)$";
    pub(crate) const EXPECTED: &'static str = "a duration such as 200ms, 60s, 5min, 2h or 1d";

    pub(crate) const fn from_secs(secs: u64) -> Self {
        Self {
            micros: secs * 1_000_000,
        }
    }

    pub(crate) fn parse(text: &str) -> Result<Self, UnitError> {
        parse_with_units(text, DURATION_UNITS, Self::EXPECTED).map(|micros| Self { micros })
    }

    /// Whole seconds, or `None` when the duration has a fraction of a second.
    pub(crate) fn whole_secs(self) -> Option<u64> {
        self.micros
            .is_multiple_of(1_000_000)
            .then_some(self.micros / 1_000_000)
    }

    /// Whole milliseconds, or `None` when the duration has a fraction of one.
    pub(crate) fn whole_millis(self) -> Option<u64> {
        self.micros
            .is_multiple_of(1_000)
            .then_some(self.micros / 1_000)
    }

    /// PostgreSQL's form: the largest unit that divides the duration evenly.
    pub(crate) fn to_postgres(self) -> String {
        largest_even_unit(self.micros, DURATION_UNITS, "")
    }

    /// nginx's form (`d`, `h`, `m`, `s`, `ms`); nginx has no microseconds, so those round up.
    pub(crate) fn to_nginx(self) -> String {
        let millis = self.micros.div_ceil(1_000);
        let units = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ];
        largest_even_unit(millis, &units, "ms")
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_postgres())
    }
}

/// A number and one of `units`, as a count of the smallest unit.
fn parse_with_units(
    text: &str,
    units: &[(&str, u64)],
    expected: &'static str,
) -> Result<u64, UnitError> {
    let (number, unit) = split_number(text).ok_or(UnitError::Syntax(expected))?;
    let factor = units
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, factor)| *factor)
        .ok_or(UnitError::Syntax(expected))?;
    number.checked_mul(factor).ok_or(UnitError::TooLarge)
}

/// Splits `"512 kB"` into `(512, "kB")`; `None` when there is no leading number or no unit.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let number = text[..digits].parse().ok()?;
    let rest = &text[digits..];
    let unit = rest.strip_prefix(' ').unwrap_or(rest);
    (!unit.is_empty()).then_some((number, unit))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UnitError {
    Syntax(&'static str),
    TooLarge,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(expected) => write!(f, "expected {expected}"),
            Self::TooLarge => f.write_str("too large: at most 2^64 - 1 bytes or microseconds"),
        }
    }
}

impl std::error::Error for UnitError {}

macro_rules! string_unit_serde {
    ($ty:ident, $name:literal, $description:literal, $example:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $ty::parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $ty::PATTERN,
                    "description": $description,
                    "examples": [$example],
                })
            }
        }
    };
}

string_unit_serde!(
    ByteSize,
    "ByteSize",
    "A byte size: a whole number and a unit, B, kB, MB, GB, TB (powers of 1024, as in PostgreSQL) or KiB, MiB, GiB, TiB.",
    "256MB"
);
string_unit_serde!(
    Duration,
    "Duration",
    "A duration: a whole number and a unit, us, ms, s, min, h or d.",
    "60s"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_units_are_powers_of_1024() {
        assert_eq!(ByteSize::parse("1GB").unwrap().bytes(), 1_073_741_824);
        assert_eq!(ByteSize::parse("1GiB").unwrap().bytes(), 1_073_741_824);
        assert_eq!(ByteSize::parse("256MB").unwrap().bytes(), 268_435_456);
        assert_eq!(ByteSize::parse("512kB").unwrap().bytes(), 524_288);
        assert_eq!(ByteSize::parse("512 KiB").unwrap().bytes(), 524_288);
        assert_eq!(ByteSize::parse("7B").unwrap().bytes(), 7);
    }

    #[test]
    fn byte_sizes_refuse_what_postgres_would_misread() {
        for bad in [
            "1gb", "1 GB ", "GB", "1", "1.5GB", "-1GB", "1KB", " 1GB", "1  GB",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert_eq!(ByteSize::parse("99999999999TB"), Err(UnitError::TooLarge));
    }

    #[test]
    fn byte_sizes_format_per_target() {
        let size = ByteSize::parse("1024MB").unwrap();
        assert_eq!(size.to_postgres(), "1GB");
        assert_eq!(size.to_nginx(), "1g");
        assert_eq!(
            size.to_nginx_size(),
            "1024m",
            "nginx's size directives refuse `g`"
        );
        assert_eq!(ByteSize::from_bytes(1536).to_postgres(), "1536B");
        assert_eq!(ByteSize::from_bytes(0).to_postgres(), "0B");
        assert_eq!(ByteSize::parse("64kB").unwrap().to_nginx(), "64k");
    }

    #[test]
    fn durations_parse_and_format() {
        assert_eq!(Duration::parse("5min").unwrap().whole_secs(), Some(300));
        assert_eq!(Duration::parse("1d").unwrap().to_postgres(), "1d");
        assert_eq!(Duration::parse("90s").unwrap().to_postgres(), "90s");
        assert_eq!(Duration::parse("200ms").unwrap().whole_secs(), None);
        assert_eq!(Duration::parse("120s").unwrap().to_nginx(), "2m");
        assert_eq!(Duration::parse("1500us").unwrap().to_nginx(), "2ms");
        assert!(
            Duration::parse("5m").is_err(),
            "`m` is ambiguous and PostgreSQL refuses it"
        );
    }
}
