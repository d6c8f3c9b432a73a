//! The built-in templates, embedded in the binary so that sitewright needs no files beside it.

/// Every built-in template, by name: `<service>/<file>.<format>`.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "django/settings.py",
        include_str!("../templates/django/settings.py"),
    ),
    (
        "nginx/https.conf.nginx",
        include_str!("../templates/nginx/https.conf.nginx"),
    ),
    (
        "nginx/mod-stream.conf.nginx",
        include_str!("../templates/nginx/mod-stream.conf.nginx"),
    ),
    (
        "nginx/stream.conf.nginx",
        include_str!("../templates/nginx/stream.conf.nginx"),
    ),
    (
        "postgres/pg_hba.conf.pghba",
        include_str!("../templates/postgres/pg_hba.conf.pghba"),
    ),
    (
        "postgres/postgresql.conf.pgconf",
        include_str!("../templates/postgres/postgresql.conf.pgconf"),
    ),
    (
        "postgres/replication.pgpass",
        include_str!("../templates/postgres/replication.pgpass"),
    ),
    (
        "postgres/standby.signal.txt",
        include_str!("../templates/postgres/standby.signal.txt"),
    ),
    (
        "sysctl/sysctl.conf.sysctl",
        include_str!("../templates/sysctl/sysctl.conf.sysctl"),
    ),
];

/// Templates the user supplies with `--templates DIR`, by the same names; they replace built-ins.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub templates: Vec<(String, String)>,
}

impl Overrides {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.templates
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.as_str())
    }
}

pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
