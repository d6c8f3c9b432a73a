//! The rendered sysctl files as procps reads them, without running it: each holds exactly the
//! values the spec means. procps' own `sysctl --dry-run` reads them in `real::programs`.

use std::collections::BTreeMap;
use std::fs;

use crate::support::fixture;

/// `key = value` lines of a sysctl.d file, as procps reads them.
pub(crate) fn parse_sysctl(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("key = value");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}
#[test]
fn the_sysctl_files_hold_exactly_what_the_spec_means() {
    let read = |fixture_name: &str, host: &str| {
        let path = fixture(&format!(
            "{fixture_name}/expected/{host}/etc/sysctl.d/60-sitewright.conf"
        ));
        parse_sysctl(&fs::read_to_string(path).unwrap())
    };
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    // CATMAID's "1GB" is 1073741824 bytes, not the document's 107374182.
    assert_eq!(
        read("catmaid", "db1"),
        map(&[
            ("vm.dirty_background_bytes", "268435456"),
            ("vm.dirty_bytes", "1073741824"),
            ("vm.swappiness", "10")
        ])
    );
    // Synapse's ratios hold at 128GiB and grow, to the kernel's defaults, on 16GiB.
    let synapse = |background: &str, dirty: &str| {
        map(&[
            ("vm.dirty_background_ratio", background),
            ("vm.dirty_expire_centisecs", "20"),
            ("vm.dirty_ratio", dirty),
            ("vm.dirty_writeback_centisecs", "20"),
            ("vm.swappiness", "10"),
        ])
    };
    assert_eq!(read("synapse", "synapse-db"), synapse("2", "4"));
    assert_eq!(read("synapse", "synapse-db-standby"), synapse("10", "20"));
}
