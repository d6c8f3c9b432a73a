//! The built-in templates, embedded in the binary so that sitewright needs no files beside it, and
//! the table `sitewright templates list` prints: what each lays out and which files it renders.

use std::fmt;

use crate::suggest::nearest;

/// One built-in template.
#[derive(Debug)]
pub(crate) struct Template {
    /// `<service>/<file>.<format>`: the name `--templates DIR` overrides it by, `DIR/<name>`.
    pub(crate) name: &'static str,
    /// The text, byte for byte as under templates/.
    pub(crate) text: &'static str,
    /// What it lays out.
    pub(crate) lays_out: &'static str,
    /// The files the plan renders through it; none for a part other templates include.
    pub(crate) renders: Option<&'static str>,
}

/// Embeds each named file of templates/ under its name, with what the listing says of it.
macro_rules! builtin {
    ($($name:literal: $lays_out:literal, $renders:expr;)*) => {
        &[$(Template {
            name: $name,
            text: include_str!(concat!("../templates/", $name)),
            lays_out: $lays_out,
            renders: $renders,
        }),*]
    };
}

/// Every built-in template, by name, in the order of its name.
pub(crate) const BUILTIN: &[Template] = builtin![
    "django/settings.py": "Django's production settings module behind the nginx proxy, for the primary or a read-only replica",
        Some("django.settings_file on each web host");
    "nginx/cache-proxy.conf.nginx": "the caching proxy of a public read-only site: cache zone, upstreams, cache rules, servers",
        Some("/etc/nginx/conf.d/SITE-cache.conf on each proxy host");
    "nginx/http.conf.nginx": "the directives of nginx.http_directives, inside http {}",
        Some("/etc/nginx/conf.d/SITE-http.conf on each web or proxy host, with nginx.http_directives");
    "nginx/https.conf.nginx": "the HTTPS front end: upstreams, limit zones, the redirect from HTTP, the HTTPS server, its headers, directives and locations",
        Some("/etc/nginx/conf.d/SITE.conf on each web host");
    "nginx/mod-stream.conf.nginx": "the load_module line of nginx's stream module",
        Some("/etc/nginx/modules-enabled/50-mod-stream.conf (debian layout) or /usr/share/nginx/modules/mod-stream.conf (rhel) on each host that forwards a port");
    "nginx/proxy.nginx": "proxy_pass and the headers sent upstream",
        None;
    "nginx/server.nginx": "the redirect server and the HTTPS server's listen, names, logs, gzip and limits",
        None;
    "nginx/stream.conf.nginx": "the stream {} block that forwards public ports to PostgreSQL",
        Some("/etc/nginx/sitewright-stream.conf on each host that forwards a port");
    "nginx/tls.nginx": "certificate, protocols, ciphers, sessions, stapling and HSTS of the TLS profile",
        None;
    "pgbouncer/pgbouncer.ini.pgbouncer": "PgBouncer's databases, each served from the primary, and its settings, each with why",
        Some("CONFIG_DIRECTORY/pgbouncer.ini on each host in pgbouncer.hosts");
    "pgbouncer/userlist.txt.userlist": "the roles PgBouncer lets in, each with its SCRAM secret",
        Some("CONFIG_DIRECTORY/userlist.txt on each host in pgbouncer.hosts");
    "postgres/pg-dump.cron": "the nightly pg_dump job",
        Some("/etc/cron.d/sitewright-SITE-pg-dump on the primary, with postgres.backup");
    "postgres/pg_hba.conf.pghba": "the client authentication records",
        Some("pg_hba.conf in the configuration directory of each PostgreSQL host");
    "postgres/postgresql.conf.pgconf": "the header of postgresql.conf, then its settings",
        Some("postgresql.conf in the configuration directory of each PostgreSQL host");
    "postgres/recovery.conf.pgconf": "the header of a PostgreSQL 11 standby's recovery.conf, then its settings",
        Some("recovery.conf in the data directory of each replica on PostgreSQL 11");
    "postgres/replication.pgpass": "the passfile line that primary_conninfo's passfile reads",
        Some("postgres.replication.passfile (else replication.pgpass in the configuration directory) on each replica");
    "postgres/role-defaults.sql": "ALTER ROLE ... SET for the role Django connects as",
        Some("sitewright-role-defaults.sql in the configuration directory of the primary, with django");
    "postgres/settings.pgconf": "one `name = value  # why` line per setting",
        None;
    "postgres/standby.signal.txt": "the empty file that starts a server as a standby",
        Some("standby.signal in the data directory of each replica on PostgreSQL 12 and later");
    "sysctl/sysctl.conf.sysctl": "kernel parameters, each with why",
        Some("/etc/sysctl.d/NN-sitewright.conf on each host the sysctl section applies to");
];

/// The built-in template named `name`, or why there is none.
pub(crate) fn find(name: &str) -> Result<&'static Template, UnknownTemplate> {
    BUILTIN
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| UnknownTemplate::new(name))
}

pub(crate) fn builtin(name: &str) -> Option<&'static str> {
    find(name).ok().map(|t| t.text)
}

/// The built-in templates that include `name` (`{% include "name" %}`).
pub(crate) fn included_by(name: &str) -> Vec<&'static str> {
    let include = format!("include \"{name}\"");
    BUILTIN
        .iter()
        .filter(|t| t.text.contains(&include))
        .map(|t| t.name)
        .collect()
}

/// A name no built-in template has, with the nearest one when it looks like a typo of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTemplate {
    pub(crate) name: String,
    pub(crate) suggestion: Option<&'static str>,
}

impl UnknownTemplate {
    fn new(name: &str) -> Self {
        let (folder, file) = name.rsplit_once('/').unwrap_or(("", name));
        let stem = |file: &str| file.split('.').next().unwrap_or_default().to_owned();
        // The one built-in of the same folder and stem (`nginx/tls.nginx` for
        // `nginx/tls.conf.nginx`), else the one of that file name in another folder, else the one
        // of that stem, is the likelier meaning than whatever name is nearest by edit distance.
        let only = |matches: &dyn Fn(&str, &str) -> bool| {
            let mut found = BUILTIN.iter().filter(|t| {
                let (f, n) = t.name.rsplit_once('/').unwrap_or(("", t.name));
                matches(f, n)
            });
            match (found.next(), found.next()) {
                (Some(one), None) => Some(one.name),
                _ => None,
            }
        };
        let names: Vec<String> = BUILTIN.iter().map(|t| t.name.to_owned()).collect();
        let suggestion = only(&|f, n| f == folder && stem(n) == stem(file))
            .or_else(|| only(&|_, n| n == file))
            .or_else(|| only(&|_, n| stem(n) == stem(file)))
            .or_else(|| {
                let near = nearest(name, &names)?;
                BUILTIN.iter().find(|t| t.name == near).map(|t| t.name)
            });
        Self {
            name: name.to_owned(),
            suggestion,
        }
    }
}

impl fmt::Display for UnknownTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no built-in template is named `{}`", self.name)?;
        match self.suggestion {
            Some(near) => write!(f, "; did you mean `{near}`?"),
            None => f.write_str("; `sitewright templates list` names them"),
        }
    }
}

impl std::error::Error for UnknownTemplate {}

/// Templates the user supplies with `--templates DIR`, by the same names; they replace built-ins.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub(crate) templates: Vec<(String, String)>,
}

impl Overrides {
    /// Each `(name, text)` replaces the built-in template of that name; a name no built-in
    /// template has is refused, since it would replace nothing.
    pub fn new(templates: Vec<(String, String)>) -> Result<Self, UnknownTemplate> {
        for (name, _) in &templates {
            find(name)?;
        }
        Ok(Self { templates })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.templates
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| text.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

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
        let built_in: Vec<&str> = BUILTIN.iter().map(|t| t.name).collect();
        assert_eq!(files, built_in, "templates/ and BUILTIN differ");
    }

    #[test]
    fn each_template_renders_files_or_is_included() {
        for t in BUILTIN {
            let includers = included_by(t.name);
            match t.renders {
                Some(_) => assert!(
                    includers.is_empty(),
                    "{} is included and also rendered",
                    t.name
                ),
                None => assert!(
                    !includers.is_empty(),
                    "{}: neither rendered nor included",
                    t.name
                ),
            }
            assert!(!t.lays_out.contains('\n'), "{}", t.name);
        }
        assert_eq!(
            included_by("nginx/server.nginx"),
            ["nginx/cache-proxy.conf.nginx", "nginx/https.conf.nginx"]
        );
    }

    #[test]
    fn an_unknown_name_suggests_the_one_meant() {
        let near = |name: &str| find(name).unwrap_err().suggestion;
        assert_eq!(
            near("nginx/htps.conf.nginx"),
            Some("nginx/https.conf.nginx")
        );
        assert_eq!(
            near("ngnix/https.conf.nginx"),
            Some("nginx/https.conf.nginx")
        );
        assert_eq!(near("https.conf.nginx"), Some("nginx/https.conf.nginx"));
        assert_eq!(near("nginx/https.conf"), Some("nginx/https.conf.nginx"));
        assert_eq!(
            near("postgres/pg_hba.conf"),
            Some("postgres/pg_hba.conf.pghba")
        );
        assert_eq!(near("nginx/tls.conf.nginx"), Some("nginx/tls.nginx"));
        assert_eq!(near("django/settings.pgconf"), Some("django/settings.py"));
        assert_eq!(
            near("postgres/settings.py"),
            Some("postgres/settings.pgconf")
        );
        assert_eq!(near("README.md"), None);
        assert_eq!(
            find("nginx/htps.conf.nginx").unwrap_err().to_string(),
            "no built-in template is named `nginx/htps.conf.nginx`; did you mean `nginx/https.conf.nginx`?"
        );
        assert!(Overrides::new(vec![("nginx/tls.nginx".into(), String::new())]).is_ok());
        assert!(Overrides::new(vec![("nginx/tls".into(), String::new())]).is_err());
    }
}
