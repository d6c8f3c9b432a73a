//! PgBouncer's settings and whether a RELOAD applies a change to each or it needs a restart, from
//! the table `scripts/pgbouncer-settings` makes from the real program's `SHOW CONFIG`
//! (data/pgbouncer/settings.tsv, Debian 12's PgBouncer 1.18), so that a plan can tell which
//! change to pgbouncer.ini a reload takes without asking a running pgbouncer.

use std::collections::HashMap;
use std::sync::LazyLock;

const TABLE: &str = include_str!("../data/pgbouncer/settings.tsv");
const HEADER: &str = "key\tdefault\tchangeable";

/// What makes a running pgbouncer take a new value of a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Apply {
    /// RELOAD (or SIGHUP): SHOW CONFIG says `changeable` yes.
    Reload,
    /// A restart: RELOAD keeps the old value (`changeable` no).
    Restart,
}

/// One row of the table: key, default (as SHOW CONFIG prints it, maybe empty), how it applies.
fn parse_row(line: &str) -> Result<(&str, &str, Apply), String> {
    let fields: Vec<&str> = line.split('\t').collect();
    let [key, default, changeable] = fields[..] else {
        return Err(format!("not 3 tab-separated fields: {line:?}"));
    };
    if key.is_empty() {
        return Err(format!("no key: {line:?}"));
    }
    let apply = match changeable {
        "yes" => Apply::Reload,
        "no" => Apply::Restart,
        other => return Err(format!("{key}: changeable is {other:?}, not yes or no")),
    };
    Ok((key, default, apply))
}

/// The rows after the header line, in file order.
fn rows() -> impl Iterator<Item = Result<(&'static str, &'static str, Apply), String>> {
    TABLE.lines().skip(1).map(parse_row)
}

static APPLY_BY_KEY: LazyLock<HashMap<&'static str, Apply>> = LazyLock::new(|| {
    assert_eq!(
        TABLE.lines().next(),
        Some(HEADER),
        "data/pgbouncer/settings.tsv: unexpected header"
    );
    rows()
        .map(|row| {
            let (key, _default, apply) =
                row.unwrap_or_else(|e| panic!("data/pgbouncer/settings.tsv: {e}"));
            (key, apply)
        })
        .collect()
});

/// How a change to `key` in pgbouncer.ini takes effect; None for a key PgBouncer does not have.
pub(crate) fn apply(key: &str) -> Option<Apply> {
    APPLY_BY_KEY.get(key).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_key_default_changeable() {
        assert_eq!(TABLE.lines().next(), Some(HEADER));
    }

    #[test]
    fn every_row_parses() {
        let rows: Vec<_> = rows()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}"));
        // 84 in 1.18.0; a regenerated table from another release may differ a little.
        assert!(rows.len() > 60, "only {} rows", rows.len());
        assert_eq!(APPLY_BY_KEY.len(), rows.len());
    }

    #[test]
    fn keys_are_sorted_and_unique() {
        let keys: Vec<&str> = rows().map(|row| row.unwrap().0).collect();
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1], "{} before {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn listening_needs_a_restart() {
        for key in [
            "listen_addr",
            "listen_port",
            "unix_socket_dir",
            "pkt_buf",
            "user",
        ] {
            assert_eq!(apply(key), Some(Apply::Restart), "{key}");
        }
    }

    #[test]
    fn pool_sizes_and_limits_reload() {
        for key in [
            "default_pool_size",
            "max_client_conn",
            "pool_mode",
            "auth_type",
            "server_lifetime",
        ] {
            assert_eq!(apply(key), Some(Apply::Reload), "{key}");
        }
    }

    #[test]
    fn unknown_keys_are_none() {
        for key in [
            "",
            "listen",
            "Listen_Port",
            "max_connections",
            "[pgbouncer]",
        ] {
            assert_eq!(apply(key), None, "{key}");
            assert!(apply(key).is_none(), "{key}");
        }
        assert!(apply("listen_port").is_some());
        assert!(apply("admin_users").is_some());
    }

    #[test]
    fn defaults_are_the_programs() {
        let default = |wanted: &str| {
            rows()
                .map(Result::unwrap)
                .find(|(key, _, _)| *key == wanted)
                .map(|(_, default, _)| default)
        };
        assert_eq!(default("listen_port"), Some("6432"));
        assert_eq!(default("default_pool_size"), Some("20"));
        assert_eq!(default("listen_addr"), Some(""));
        assert_eq!(default("no_such_key"), None);
    }

    #[test]
    fn a_bad_row_is_an_error() {
        assert!(parse_row("listen_port\t6432").is_err());
        assert!(parse_row("listen_port\t6432\tmaybe").is_err());
        assert!(parse_row("\t6432\tyes").is_err());
        assert!(parse_row("a\tb\tyes\textra").is_err());
        assert_eq!(
            parse_row("listen_port\t6432\tno"),
            Ok(("listen_port", "6432", Apply::Restart))
        );
    }
}
