//! The rendered CATMAID files read by the programs that consume them, beyond PostgreSQL:
//! Python parses the Django settings, and procps' sysctl accepts the sysctl file without
//! changing anything (`--dry-run`).

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::support::{fixture, repo, tree};

#[test]
fn python_parses_the_django_settings() {
    let settings =
        fixture("catmaid/expected/web1/srv/catmaid/django/projects/mysite/settings_production.py");
    let script = "import ast, sys\n\
tree = ast.parse(open(sys.argv[1]).read())\n\
names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]\n\
print(' '.join(names))\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&settings)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "DEBUG ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS SECRET_KEY DATABASES SECURE_PROXY_SSL_HEADER SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD SECURE_REFERRER_POLICY SECURE_CONTENT_TYPE_NOSNIFF X_FRAME_OPTIONS LOGGING NODE_LIST_MAXIMUM_COUNT NODE_PROVIDER PREPARED_STATEMENTS STATIC_EXTENSION_FILES"
    );
}

/// `key = value` lines of a sysctl.d file, as procps reads them.
fn parse_sysctl(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("key = value");
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

/// Every sysctl file of every fixture: each key is in the checked-in list of the kernel's
/// parameters, and procps accepts the file without applying it.
#[test]
fn sysctl_accepts_every_rendered_file_without_applying_it() {
    let listed: Vec<String> = fs::read_to_string(repo().join("data/sysctl/keys.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    let mut files = 0;
    for entry in fs::read_dir(fixture("")).unwrap() {
        let expected = entry.unwrap().path().join("expected");
        for (name, bytes) in tree(&expected) {
            if !name.contains("/etc/sysctl.d/") {
                continue;
            }
            files += 1;
            let text = String::from_utf8(bytes).unwrap();
            for key in parse_sysctl(&text).keys() {
                assert!(
                    listed.contains(key),
                    "{name}: {key} is not a kernel parameter"
                );
            }
            let output = Command::new("sysctl")
                .args(["--dry-run", "-p"])
                .arg(expected.join(&name))
                .output()
                .expect("sysctl (procps) runs");
            assert!(
                output.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let read: BTreeMap<String, String> =
                parse_sysctl(&String::from_utf8_lossy(&output.stdout));
            assert_eq!(
                read,
                parse_sysctl(&text),
                "{name}: procps read other values"
            );
        }
    }
    assert!(files >= 4, "only {files} sysctl files");
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
