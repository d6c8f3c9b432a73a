//! The built-in templates, embedded in the binary so that sitewright needs no files beside it.

/// Embeds each named file of templates/ under its name.
macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

/// Every built-in template, by name: `<service>/<file>.<format>`.
pub(crate) const BUILTIN: &[(&str, &str)] = embed![
    "django/settings.py",
    "nginx/cache-proxy.conf.nginx",
    "nginx/http.conf.nginx",
    "nginx/https.conf.nginx",
    "nginx/mod-stream.conf.nginx",
    "nginx/proxy.nginx",
    "nginx/server.nginx",
    "nginx/stream.conf.nginx",
    "nginx/tls.nginx",
    "postgres/pg-dump.cron",
    "postgres/pg_hba.conf.pghba",
    "postgres/postgresql.conf.pgconf",
    "postgres/recovery.conf.pgconf",
    "postgres/replication.pgpass",
    "postgres/role-defaults.sql",
    "postgres/settings.pgconf",
    "postgres/standby.signal.txt",
    "sysctl/sysctl.conf.sysctl",
];

/// Templates the user supplies with `--templates DIR`, by the same names; they replace built-ins.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub(crate) templates: Vec<(String, String)>,
}

impl Overrides {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.templates
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.as_str())
    }
}

pub(crate) fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::BUILTIN;

    fn files_under(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{prefix}{}", path.file_name().unwrap().to_string_lossy());
            if path.is_dir() {
                files_under(&path, &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    #[test]
    fn every_template_file_is_built_in() {
        let mut files = Vec::new();
        files_under(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"),
            "",
            &mut files,
        );
        files.sort();
        let built_in: Vec<&str> = BUILTIN.iter().map(|(name, _)| *name).collect();
        assert_eq!(files, built_in, "templates/ and BUILTIN differ");
    }
}
