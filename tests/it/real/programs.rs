//! The rendered CATMAID files read by the programs that consume them, beyond PostgreSQL:
//! Python parses the Django settings, and procps' sysctl accepts the sysctl file without
//! changing anything (`--dry-run`). And the checked-in PgBouncer settings table is what the
//! installed pgbouncer says.

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::support::{fixture_names, installed, rendered_fixture, repo, temp_dir, tree};
use crate::sysctl::parse_sysctl;

#[test]
fn python_parses_the_django_settings() {
    let rendered = rendered_fixture("catmaid");
    let settings = rendered
        .root
        .join("web1/srv/catmaid/django/projects/mysite/settings_production.py");
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
    for site in fixture_names() {
        let rendered = rendered_fixture(&site);
        for (name, bytes) in tree(&rendered.root) {
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
                .arg(rendered.root.join(&name))
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

/// data/pgbouncer (settings.tsv and its README, which names the version) is what
/// scripts/pgbouncer-settings makes from the installed pgbouncer now, byte for byte: the script
/// starts it on 127.0.0.1 and reads SHOW CONFIG, and writes to a folder of the test's.
#[test]
fn pgbouncer_settings_table_is_what_the_installed_pgbouncer_says() {
    let out = temp_dir();
    let output = Command::new("bash")
        .arg(repo().join("scripts/pgbouncer-settings"))
        .env("SITEWRIGHT_PGBOUNCER", installed("SITEWRIGHT_PGBOUNCER"))
        .env("SITEWRIGHT_PSQL", installed("SITEWRIGHT_PSQL"))
        .env("SITEWRIGHT_PGBOUNCER_SETTINGS_OUT", out.path())
        .output()
        .expect("bash runs scripts/pgbouncer-settings");
    assert!(
        output.status.success(),
        "scripts/pgbouncer-settings failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in ["settings.tsv", "README.md"] {
        let made = fs::read_to_string(out.path().join(name)).unwrap();
        let checked_in = fs::read_to_string(repo().join("data/pgbouncer").join(name)).unwrap();
        assert!(
            made == checked_in,
            "data/pgbouncer/{name} is not what the installed pgbouncer says: run \
             scripts/pgbouncer-settings and read `git diff data/pgbouncer`\n--- made now:\n{made}"
        );
    }
    let made = fs::read_to_string(out.path().join("settings.tsv")).unwrap();
    assert!(made.contains("\nlisten_port\t6432\tno\n"), "{made}");
    assert!(made.contains("\ndefault_pool_size\t20\tyes\n"), "{made}");
}
