//! The table of directive cases (tests/cases/nginx-directives.tsv) and the specs that put each
//! case's directive where it says: read by the fast lane, which asks `check`, and by the real
//! lane, which asks nginx -t on both builds, so that the two verdicts come from one table.

use std::fmt::Write as _;

/// One row of the table.
pub struct Case {
    /// The table's line number, for messages.
    pub row: usize,
    pub level: &'static str,
    /// The (nginx, OpenSSL) builds the row is about.
    pub builds: Vec<(&'static str, &'static str)>,
    pub line: String,
    /// `ok`, or the rule id `check` reports.
    pub check: String,
    pub nginx_accepts: bool,
}

impl Case {
    pub fn name(&self) -> &str {
        self.line.split(' ').next().unwrap_or_default()
    }

    pub fn args(&self) -> Vec<&str> {
        self.line.split(' ').skip(1).collect()
    }
}

const TABLE: &str = include_str!("../../cases/nginx-directives.tsv");

pub fn cases() -> Vec<Case> {
    TABLE
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.starts_with("level\t") && !l.trim().is_empty())
        .map(|(i, l)| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "nginx-directives.tsv:{}: five columns", i + 1);
            let builds = match f[1] {
                "1.22" => vec![("1.22", "3.0")],
                "1.26" => vec![("1.26", "3.5")],
                "both" => vec![("1.22", "3.0"), ("1.26", "3.5")],
                other => panic!("nginx-directives.tsv:{}: no build {other}", i + 1),
            };
            let level = match f[0] {
                "http" => "http",
                "server" => "server",
                "location" => "location",
                "stream" => "stream",
                "stream_server" => "stream_server",
                other => panic!("nginx-directives.tsv:{}: no level {other}", i + 1),
            };
            Case {
                row: i + 1,
                level,
                builds,
                line: f[2].to_owned(),
                check: f[3].to_owned(),
                nginx_accepts: match f[4] {
                    "accepts" => true,
                    "refuses" => false,
                    other => panic!("nginx-directives.tsv:{}: nginx {other}?", i + 1),
                },
            }
        })
        .collect()
}

/// A harmless directive valid at `level`, which the real lane swaps for a case's line in the
/// rendered file: each level's has its own value, so that only its own line is swapped.
pub fn anchor(level: &str) -> (&'static str, &'static str) {
    match level {
        "http" => ("client_body_timeout", "61s"),
        "server" => ("client_body_timeout", "62s"),
        "location" => ("client_body_timeout", "63s"),
        "stream" => ("proxy_timeout", "64s"),
        _ => ("proxy_timeout", "65s"),
    }
}

/// A site with a PostgreSQL primary forwarding a port and a web host, with `directive` (name,
/// args) at `level`.
pub fn spec(build: (&str, &str), level: &str, name: &str, args: &[&str]) -> String {
    let mut item = format!("{{ name: {name}, args: [");
    for (i, a) in args.iter().enumerate() {
        let _ = write!(
            item,
            "{}{}",
            if i > 0 { ", " } else { "" },
            serde_json::to_string(a).unwrap()
        );
    }
    item.push_str("] }");
    let at = |l: &str| {
        if l == level {
            format!("[{item}]")
        } else {
            "[]".to_owned()
        }
    };
    format!(
        r#"site: cases
hosts:
  - {{ name: db1, address: 192.0.2.11, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }}
  - {{ name: web1, address: 192.0.2.21, memory: 8GiB, cpus: 4, storage: ssd, roles: [web] }}
postgres:
  version: 16
  data_directory: /var/lib/postgresql/16/main
  config_directory: /etc/postgresql/16/main
  plain_text: accepted
nginx:
  version: "{version}"
  openssl: "{openssl}"
  http_directives: {http}
  stream_directives: {stream}
  stream:
    - listen: 6379
      to: 127.0.0.1:6380
      directives: {stream_server}
  https:
    server_name: cases.example.org
    tls: {{ certificate: /etc/ssl/certs/cases.crt, certificate_key: /etc/ssl/private/cases.key }}
    upstream: {{ servers: [127.0.0.1:8000] }}
    client_max_body_size: 10MB
    directives: {server}
    locations:
      - url: /api/
        proxy: app
        directives: {location}
django:
  version: "5.2"
  settings_file: /srv/cases/app/settings_production.py
  base_module: app.settings
  secret_key: {{ env: DJANGO_SECRET_KEY }}
  database: {{ name: cases, user: cases, password: {{ env: DB_PASSWORD }} }}
"#,
        version = build.0,
        openssl = build.1,
        http = at("http"),
        stream = at("stream"),
        stream_server = at("stream_server"),
        server = at("server"),
        location = at("location"),
    )
}
