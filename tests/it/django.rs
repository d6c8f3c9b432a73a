//! The Django settings module as text, without Python: every setting the rendered module
//! assigns is on the plan's list of what it writes. Real Django reads the modules in
//! `real::django`.

use std::fs;

use crate::support::{Sitewright, fixture, temp_dir};

/// The top-level settings a rendered module assigns.
fn assigned(module: &str) -> Vec<String> {
    module
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(name, _)| name)
        .filter(|name| {
            name.starts_with(|c: char| c.is_ascii_uppercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// `check` refuses an `extra` that would replace what a typed field or the site decides from the
/// plan's list of what the module writes; so every setting the module writes must be on it.
#[test]
fn every_setting_the_module_writes_is_on_the_plans_list() {
    let work = temp_dir();
    let spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace(
            "    roles: [postgres-replica]\n",
            "    roles: [postgres-replica, web]\n    server_name: catmaid-mirror.example.org\n",
        )
        .replace(
            "  extra:\n",
            "  cache: { backend: memcached, location: 127.0.0.1:11211 }\n  session_engine: cached_db\n  email: { smtp: 127.0.0.1:25 }\n  extra:\n",
        );
    fs::write(work.path().join("site.yaml"), &spec).unwrap();
    Sitewright::new()
        .in_dir(work.path())
        .args(["render", "site.yaml", "-o", "tree"])
        .run()
        .code(0);
    let extra = [
        "PREPARED_STATEMENTS",
        "NODE_PROVIDER",
        "NODE_LIST_MAXIMUM_COUNT",
        "STATIC_EXTENSION_FILES",
    ];
    let mut seen = 0;
    for host in ["web1", "db2"] {
        let module = fs::read_to_string(
            work.path()
                .join("tree")
                .join(host)
                .join("srv/catmaid/django/projects/mysite/settings_production.py"),
        )
        .unwrap();
        for name in assigned(&module) {
            seen += 1;
            assert!(
                sitewright::plan::django::written(&name).is_some()
                    || extra.contains(&name.as_str()),
                "{host}'s module writes {name}, which is not on plan::django::WRITTEN"
            );
        }
    }
    assert!(seen > 30, "only {seen} settings found");
}
