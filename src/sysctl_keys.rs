//! The kernel's sysctl parameters and the kind of value each takes, from the checked-in list in
//! data/sysctl/keys.tsv (taken from /proc/sys and the kernel's documentation), so that checks do
//! not depend on the machine sitewright runs on. Converts the spec's typed values to the numbers
//! the kernel reads.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::spec::SysctlValue;
use crate::suggest::nearest;
use crate::units::{ByteSize, Duration};

const KEYS: &str = include_str!("../data/sysctl/keys.tsv");

/// The kind of value a parameter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bytes,
    Kbytes,
    Pages,
    Centisecs,
    Percent,
    Bool,
    Int,
    Ints,
    String,
}

fn keys() -> &'static HashMap<&'static str, Kind> {
    static KEYS_BY_NAME: OnceLock<HashMap<&'static str, Kind>> = OnceLock::new();
    KEYS_BY_NAME.get_or_init(|| {
        KEYS.lines()
            .skip(1)
            .filter_map(|line| line.split_once('\t'))
            .map(|(name, kind)| {
                let kind = match kind {
                    "bytes" => Kind::Bytes,
                    "kbytes" => Kind::Kbytes,
                    "pages" => Kind::Pages,
                    "centisecs" => Kind::Centisecs,
                    "percent" => Kind::Percent,
                    "bool" => Kind::Bool,
                    "int" | "count" => Kind::Int,
                    "ints" => Kind::Ints,
                    _ => Kind::String,
                };
                (name, kind)
            })
            .collect()
    })
}

/// A parameter name in its dotted form. procps reads `/` as the separator when a name has one,
/// and then a `.` as part of a name (a VLAN interface such as eth0.100): the two swap.
pub(crate) fn canonical(name: &str) -> String {
    if name.contains('/') {
        name.chars()
            .map(|c| match c {
                '/' => '.',
                '.' => '/',
                c => c,
            })
            .collect()
    } else {
        name.to_owned()
    }
}

/// The listed form of a per-interface name: `net.ipv4.conf.eth0.rp_filter` is listed as
/// `net.ipv4.conf.default.rp_filter`.
fn listed_form(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.splitn(5, '.').collect();
    match parts[..] {
        ["net", "ipv4" | "ipv6", "conf" | "neigh", _interface, rest] => Some(format!(
            "{}.{}.{}.default.{rest}",
            parts[0], parts[1], parts[2]
        )),
        _ => None,
    }
}

/// The kind of `name`, or why it is not a parameter the kernel has.
pub(crate) fn kind(name: &str) -> Result<Kind, String> {
    let name = canonical(name);
    let listed = listed_form(&name);
    if let Some(kind) = keys()
        .get(name.as_str())
        .or_else(|| listed.as_deref().and_then(|l| keys().get(l)))
    {
        return Ok(*kind);
    }
    let names: Vec<String> = keys().keys().map(|k| (*k).to_owned()).collect();
    Err(match nearest(&name, &names) {
        Some(near) => format!("the kernel has no parameter `{name}`; did you mean `{near}`?"),
        None => format!("the kernel has no parameter `{name}`"),
    })
}

/// The text the kernel reads for `value`, and how it was converted when it was.
pub(crate) fn convert(name: &str, value: &SysctlValue) -> Result<(String, Option<String>), String> {
    let kind = kind(name)?;
    let number = |n: i64| Ok((n.to_string(), None));
    match (kind, value) {
        (Kind::String, SysctlValue::Text(text)) => {
            let plain = !text.contains(|c: char| c.is_control())
                && !text.starts_with(['#', ';'])
                && text.trim() == text;
            if plain {
                Ok((text.clone(), None))
            } else {
                Err(format!(
                    "`{name}` takes one line of text without control characters, surrounding blanks, or a leading `#` or `;` (sysctl.d reads those as comments)"
                ))
            }
        }
        (Kind::String | Kind::Ints, SysctlValue::Int(n)) => number(*n),
        (Kind::Ints, SysctlValue::Text(text)) => {
            let ok = text.split_whitespace().all(|w| w.parse::<i64>().is_ok());
            if ok && !text.trim().is_empty() {
                Ok((text.split_whitespace().collect::<Vec<_>>().join(" "), None))
            } else {
                Err(format!(
                    "`{name}` takes whole numbers separated by spaces, such as \"32768 60999\""
                ))
            }
        }
        (Kind::Bool, SysctlValue::Int(n @ (0 | 1))) => number(*n),
        (Kind::Bool, _) => Err(format!("`{name}` is 0 or 1")),
        (Kind::Percent, SysctlValue::Int(n)) if (0..=100).contains(n) => number(*n),
        (Kind::Percent, SysctlValue::Text(text)) => {
            match text.strip_suffix('%').map(str::trim).map(str::parse::<i64>) {
                Some(Ok(n)) if (0..=100).contains(&n) => {
                    Ok((n.to_string(), Some(format!("{n}% of memory"))))
                }
                _ => Err(format!(
                    "`{name}` is a percentage from 0 to 100, such as 4%"
                )),
            }
        }
        (Kind::Percent, _) => Err(format!(
            "`{name}` is a percentage from 0 to 100, such as 4%"
        )),
        (Kind::Bytes | Kind::Kbytes | Kind::Pages, SysctlValue::Text(text)) => {
            let size = ByteSize::parse(text).map_err(|e| format!("`{name}`: {e}"))?;
            let (unit, what) = match kind {
                Kind::Bytes => (1, "bytes"),
                Kind::Kbytes => (1024, "kB"),
                _ => (4096, "4kB pages"),
            };
            if !size.bytes().is_multiple_of(unit) {
                return Err(format!(
                    "`{name}` counts {what}: {size} is not a whole number of them"
                ));
            }
            Ok((
                (size.bytes() / unit).to_string(),
                Some(format!("{size} in {what}")),
            ))
        }
        (Kind::Centisecs, SysctlValue::Text(text)) => {
            let duration = Duration::parse(text).map_err(|e| format!("`{name}`: {e}"))?;
            match duration.whole_millis() {
                Some(ms) if ms.is_multiple_of(10) => Ok((
                    (ms / 10).to_string(),
                    Some(format!("{duration} in centiseconds")),
                )),
                _ => Err(format!(
                    "`{name}` counts centiseconds: {duration} is not a whole number of 10ms"
                )),
            }
        }
        (
            Kind::Int | Kind::Bytes | Kind::Kbytes | Kind::Pages | Kind::Centisecs,
            SysctlValue::Int(n),
        ) => number(*n),
        (Kind::Int, SysctlValue::Text(_)) => Err(format!("`{name}` is a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> SysctlValue {
        SysctlValue::Text(t.to_owned())
    }

    #[test]
    fn typed_values_become_what_the_kernel_reads() {
        assert_eq!(
            convert("vm.dirty_bytes", &text("1GB")).unwrap().0,
            "1073741824"
        );
        assert_eq!(
            convert("vm.dirty_background_bytes", &text("256MB"))
                .unwrap()
                .0,
            "268435456"
        );
        assert_eq!(
            convert("vm.dirty_expire_centisecs", &text("200ms"))
                .unwrap()
                .0,
            "20"
        );
        assert_eq!(convert("vm.dirty_ratio", &text("4%")).unwrap().0, "4");
        assert_eq!(
            convert("vm.swappiness", &SysctlValue::Int(10)).unwrap().0,
            "10"
        );
        assert_eq!(convert("kernel.shmall", &text("4GB")).unwrap().0, "1048576");
        assert_eq!(
            convert("vm/swappiness", &SysctlValue::Int(10)).unwrap().0,
            "10"
        );
        assert_eq!(
            kind("net.ipv4.conf.eth0.rp_filter"),
            kind("net.ipv4.conf.default.rp_filter")
        );
        assert!(
            kind("net/ipv4/conf/eth0.100/rp_filter").is_ok(),
            "a VLAN interface, slash form"
        );
    }

    #[test]
    fn wrong_kinds_and_names_are_refused() {
        assert!(convert("vm.swappiness", &text("1GB")).is_err());
        assert!(convert("vm.dirty_ratio", &text("140%")).is_err());
        assert!(convert("vm.dirty_expire_centisecs", &text("5ms")).is_err());
        assert_eq!(
            kind("vm.swapiness").unwrap_err(),
            "the kernel has no parameter `vm.swapiness`; did you mean `vm.swappiness`?"
        );
    }
}
