//! Drift in what runs, not only in files (`diff --ssh --running`): what each host's programs are
//! asked (PostgreSQL's own views, `nginx -T`, the kernel's values), and what their answers mean
//! against the rendered files, each finding saying what to run to converge. The asking is the
//! edge's (over ssh); this stage only reads the plan and the answers.

use std::collections::{BTreeMap, BTreeSet};

use crate::live::{Finding, Severity};
use crate::plan::Service;
use crate::render::RenderedFile;

/// What one host's programs are asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) postgres: Option<PostgresProbe>,
    /// Whether nginx is asked for the configuration it would load (`nginx -T`).
    pub(crate) nginx: bool,
    /// The kernel settings of the host's sysctl files, as /proc/sys paths.
    pub(crate) kernel: Vec<String>,
}

/// How `psql` reaches the host's server: the port and socket folder its postgresql.conf sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PostgresProbe {
    pub(crate) port: String,
    pub(crate) socket: Option<String>,
}

impl PostgresProbe {
    /// The arguments of `psql` (run as the server's OS user, which peer authentication maps to
    /// its superuser role): one query, fields and records split by ASCII's own separators, so no
    /// setting's value can break a row.
    pub(crate) fn psql(&self) -> Vec<String> {
        let mut argv: Vec<String> = [
            "psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-d", "postgres", "-p",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        argv.push(self.port.clone());
        if let Some(socket) = &self.socket {
            argv.push("-h".to_owned());
            argv.push(socket.clone());
        }
        argv.push("-c".to_owned());
        argv.push(POSTGRES_QUERY.to_owned());
        argv
    }
}

/// Everything asked of PostgreSQL, as rows of seven text columns tagged by their first.
const POSTGRES_QUERY: &str = "\
select 'recovery', pg_is_in_recovery()::text, extract(epoch from pg_conf_load_time())::bigint::text, '', '', '', '' \
union all select 'setting', name, coalesce(setting, ''), source, coalesce(sourcefile, ''), coalesce(sourceline::text, ''), pending_restart::text from pg_settings \
union all select 'file', name, coalesce(setting, ''), coalesce(error, ''), coalesce(sourcefile, ''), coalesce(sourceline::text, ''), applied::text from pg_file_settings \
union all select 'hba', line_number::text, error, '', '', '', '' from pg_hba_file_rules where error is not null";

/// What a program printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) text: String,
}

/// What one host's programs answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Answers {
    pub(crate) postgres: Option<Output>,
    pub(crate) nginx: Option<Output>,
    /// Each /proc/sys path asked that the running kernel has, and its value.
    pub(crate) kernel: BTreeMap<String, String>,
}

/// The /proc/sys path of a sysctl key: dots are the separators, and a `/` in a key stands for a
/// dot in a name (an interface's, `net.ipv4.conf.eth0/1.forwarding`), as sysctl(8) reads it.
fn proc_path(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// What to ask `files`' host, when there is anything to ask.
pub(crate) fn probe(files: &[&RenderedFile]) -> Option<Probe> {
    let postgres = files.iter().find_map(|f| f.meta.conf.as_ref()).map(|conf| {
        let written = |name: &str| conf.written.get(name).map(|(value, _)| value.clone());
        PostgresProbe {
            port: written("port").unwrap_or_else(|| "5432".to_owned()),
            socket: written("unix_socket_directories").and_then(|dirs| {
                dirs.split(',')
                    .map(str::trim)
                    .find(|d| !d.is_empty())
                    .map(str::to_owned)
            }),
        }
    });
    let nginx = files.iter().any(|f| f.meta.service == Service::Nginx);
    let kernel: Vec<String> = files
        .iter()
        .filter_map(|f| f.meta.kernel.as_ref())
        .flat_map(|settings| settings.iter().map(|(key, _)| proc_path(key)))
        .collect();
    (postgres.is_some() || nginx || !kernel.is_empty()).then_some(Probe {
        postgres,
        nginx,
        kernel,
    })
}

/// What the answers of `files`' host say against those files: each drift a `required:` finding
/// (the exit code is 1), what the answers cannot settle a warning. `mtime` gives when a live
/// file was last written. `Err` when a program that had to answer did not.
pub(crate) fn findings(
    host: &str,
    files: &[&RenderedFile],
    answers: &Answers,
    mtime: impl Fn(&str) -> Option<i64>,
) -> Result<Vec<Finding>, String> {
    let mut out = Vec::new();
    let finding = |severity, path: &str, effect: String| Finding {
        severity,
        host: host.to_owned(),
        path: path.to_owned(),
        effect: mask_passwords(&effect),
    };
    if let Some(conf) = files.iter().find(|f| f.meta.conf.is_some()) {
        let Some(answer) = &answers.postgres else {
            return Err("PostgreSQL was not asked".to_owned());
        };
        if answer.code != 0 {
            return Err(format!("psql: {}", last_line(&answer.text)));
        }
        let server = PostgresAnswer::read(&answer.text).ok_or_else(|| {
            format!(
                "psql's answer could not be read: {}",
                last_line(&answer.text)
            )
        })?;
        postgres(
            &server,
            conf,
            files,
            &mtime,
            &mut |severity, path, effect| {
                out.push(finding(severity, path, effect));
            },
        );
    }
    let nginx_files: Vec<&&RenderedFile> = files
        .iter()
        .filter(|f| f.meta.service == Service::Nginx)
        .collect();
    if let Some(first) = nginx_files.first() {
        let Some(answer) = &answers.nginx else {
            return Err("nginx was not asked".to_owned());
        };
        if answer.code == 127 || answer.text.contains("(13: Permission denied)") {
            // Not nginx's verdict on the files: it could not run, or not read them as this user.
            return Err(format!(
                "nginx -T: {}{}",
                last_line(&answer.text),
                if answer.code == 127 {
                    ""
                } else {
                    " (give the host `sudo: true` in the inventory)"
                }
            ));
        }
        if answer.code != 0 {
            out.push(finding(
                Severity::Required,
                &first.path,
                format!(
                    "`nginx -T` fails on the host ({}): a reload is refused and nginx keeps running its old configuration; fix what it names, then run `nginx -t && systemctl reload nginx`",
                    nginx_error(&answer.text)
                ),
            ));
        } else {
            let loaded = loaded_files(&answer.text);
            for file in nginx_files
                .iter()
                .filter(|f| !loaded.contains(f.path.as_str()))
            {
                out.push(finding(
                    Severity::Required,
                    &file.path,
                    "nginx does not read this file: no `include` of its configuration reaches it (`nginx -T` does not list it); include it where it belongs, then run `nginx -t && systemctl reload nginx`".to_owned(),
                ));
            }
        }
    }
    for file in files {
        let Some(settings) = &file.meta.kernel else {
            continue;
        };
        let apply = file
            .meta
            .apply
            .clone()
            .unwrap_or_else(|| format!("sysctl -p {}", file.path));
        for (key, value) in settings.iter() {
            match answers.kernel.get(&proc_path(key)) {
                Some(running) if same_words(running, value) => {}
                Some(running) => out.push(finding(
                    Severity::Required,
                    &file.path,
                    format!(
                        "{key} is {} in the running kernel and {value} in the file: run `{apply}`",
                        running.split_whitespace().collect::<Vec<_>>().join(" ")
                    ),
                )),
                None => out.push(finding(
                    Severity::Warning,
                    &file.path,
                    format!(
                        "the running kernel has no {key} (/proc/sys/{} is not there: a module not loaded, or a key of another kernel), so the file's value is not applied",
                        proc_path(key)
                    ),
                )),
            }
        }
    }
    Ok(out)
}

/// One row of what PostgreSQL answered about a setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SettingRow {
    setting: String,
    source: String,
    sourcefile: String,
    pending_restart: bool,
}

/// A row of `pg_file_settings`: what a configuration file says, read again at the query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct FileRow {
    name: String,
    error: String,
    sourcefile: String,
    sourceline: String,
}

/// What the server answered to [`POSTGRES_QUERY`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PostgresAnswer {
    in_recovery: bool,
    /// When the server last read its configuration files, in seconds since the epoch.
    loaded_at: i64,
    settings: BTreeMap<String, SettingRow>,
    files: Vec<FileRow>,
    /// pg_hba.conf's lines the server would refuse, with its reason.
    hba_errors: Vec<(String, String)>,
}

impl PostgresAnswer {
    fn read(text: &str) -> Option<Self> {
        let mut answer = Self::default();
        let mut recovery = false;
        for record in text.split('\x1e') {
            let record = record.trim_matches('\n');
            if record.is_empty() {
                continue;
            }
            let fields: Vec<&str> = record.split('\x1f').collect();
            let [tag, a, b, c, d, e, f] = fields[..] else {
                return None;
            };
            match tag {
                "recovery" => {
                    recovery = true;
                    answer.in_recovery = a == "true";
                    answer.loaded_at = b.parse().ok()?;
                }
                "setting" => {
                    answer.settings.insert(
                        a.to_owned(),
                        SettingRow {
                            setting: b.to_owned(),
                            source: c.to_owned(),
                            sourcefile: d.to_owned(),
                            pending_restart: f == "true",
                        },
                    );
                    let _ = e;
                }
                "file" => answer.files.push(FileRow {
                    name: a.to_owned(),
                    error: c.to_owned(),
                    sourcefile: d.to_owned(),
                    sourceline: e.to_owned(),
                }),
                "hba" => answer.hba_errors.push((a.to_owned(), b.to_owned())),
                _ => return None,
            }
        }
        recovery.then_some(answer)
    }
}

/// The findings of one PostgreSQL server against its rendered postgresql.conf (`conf`) and the
/// host's other files.
fn postgres(
    server: &PostgresAnswer,
    conf: &RenderedFile,
    files: &[&RenderedFile],
    mtime: &impl Fn(&str) -> Option<i64>,
    found: &mut impl FnMut(Severity, &str, String),
) {
    let Some(settings) = &conf.meta.conf else {
        return;
    };
    let major = settings.major;
    let replica = files
        .iter()
        .any(|f| f.path.ends_with("/standby.signal") || f.path.ends_with("/recovery.conf"));
    match (replica, server.in_recovery) {
        (true, false) => found(
            Severity::Required,
            &conf.path,
            "the spec makes this host a replica and its server is out of recovery: it has been promoted. Make it the primary in the spec (its roles), or rebuild it as a replica with pg_basebackup; do not deploy standby.signal and restart it: it would come up as a standby of a primary whose timeline it has left".to_owned(),
        ),
        (false, true) => found(
            Severity::Required,
            &conf.path,
            format!(
                "the spec makes this host the primary and its server is in recovery (a standby): promote it ({}), or give the spec's roles as they are",
                if major >= 12 {
                    "`SELECT pg_promote()`"
                } else {
                    "`pg_ctlcluster 11 main promote`"
                }
            ),
        ),
        _ => {}
    }
    // A file written after the server last read its configuration holds what it does not run yet.
    let reread: Vec<&str> = files
        .iter()
        .filter(|f| f.meta.service == Service::Postgresql)
        .filter(|f| f.meta.conf.is_some() || f.path.ends_with("/pg_hba.conf"))
        .filter(|f| mtime(&f.path).is_some_and(|t| t > server.loaded_at))
        .map(|f| f.path.as_str())
        .collect();
    for path in &reread {
        found(
            Severity::Required,
            path,
            "changed after the server last read its configuration, so it does not run what the file says yet: run `systemctl reload postgresql` (or `SELECT pg_reload_conf()`)".to_owned(),
        );
    }
    let restart: Vec<&str> = server
        .settings
        .iter()
        .filter(|(_, row)| row.pending_restart)
        .map(|(name, _)| name.as_str())
        .collect();
    if !restart.is_empty() {
        found(
            Severity::Required,
            &conf.path,
            format!(
                "{} changed in the configuration and the server runs the old value until it restarts (pending_restart): run `systemctl restart postgresql`",
                restart.join(", ")
            ),
        );
    }
    for (name, (value, _)) in &settings.written {
        let Some(row) = server.settings.get(name) else {
            continue;
        };
        if row.sourcefile.ends_with("/postgresql.auto.conf") {
            found(
                Severity::Required,
                &conf.path,
                format!(
                    "{name} runs as {} from ALTER SYSTEM (postgresql.auto.conf), which wins over the file's {value}: run `ALTER SYSTEM RESET {name}` and reload",
                    row.setting
                ),
            );
        } else if row.source == "command line" || row.source == "environment variable" {
            found(
                Severity::Required,
                &conf.path,
                format!(
                    "{name} runs as {} from the server's {}, which wins over the file's {value}: remove it from how the server is started (its unit, pg_ctl.conf or PGOPTIONS) and restart",
                    row.setting, row.source
                ),
            );
        }
    }
    for row in server
        .files
        .iter()
        .filter(|row| !row.error.is_empty() && row.sourcefile == conf.path)
    {
        found(
            Severity::Required,
            &conf.path,
            format!(
                "line {}: {}{}: the server keeps its old value",
                row.sourceline,
                if row.name.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", row.name)
                },
                row.error
            ),
        );
    }
    if let Some(hba) = files.iter().find(|f| f.path.ends_with("/pg_hba.conf")) {
        for (line, error) in &server.hba_errors {
            found(
                Severity::Required,
                &hba.path,
                format!(
                    "line {line}: {error}: a reload is refused and the server keeps its old rules"
                ),
            );
        }
    }
}

/// The files `nginx -T` printed, from its `# configuration file PATH:` lines.
fn loaded_files(dump: &str) -> BTreeSet<&str> {
    dump.lines()
        .filter_map(|line| line.strip_prefix("# configuration file "))
        .filter_map(|rest| rest.strip_suffix(':'))
        .collect()
}

/// `text` with the value of every `password=` hidden: a running value (a `primary_conninfo` set
/// by ALTER SYSTEM, an error quoting it) may hold one, and no secret is ever shown.
fn mask_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("password=") {
        let (head, tail) = rest.split_at(at + "password=".len());
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '\'' || c == '"' || c == ',')
            .unwrap_or(tail.len());
        if end > 0 {
            out.push_str("********");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// What nginx said was wrong: its `[emerg]` line, which names the file and line, before the
/// "test failed" that follows it; without the time and process ids that nginx puts before it
/// once the configuration names an error log.
fn nginx_error(text: &str) -> String {
    let Some(message) = text
        .lines()
        .find_map(|l| l.split_once("[emerg] ").map(|(_, rest)| rest))
    else {
        return last_line(text).to_owned();
    };
    let message = match message.split_once(": ") {
        Some((ids, rest))
            if ids
                .split('#')
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            rest
        }
        _ => message,
    };
    format!("[emerg] {message}")
}

fn last_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no output")
}

/// Whether two kernel values are the same once their whitespace is (the kernel prints tabs
/// between the fields of a value a file writes with spaces).
fn same_words(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{Renderer, Secrets, Tree};

    /// A primary, its replica and a web host with a sysctl section, rendered as `render` does.
    const SPEC: &str = r#"site: shop
hosts:
  - { name: db1, address: 192.0.2.11, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-primary] }
  - { name: db2, address: 192.0.2.12, memory: 8GiB, cpus: 4, storage: ssd, roles: [postgres-replica] }
  - { name: web1, address: 192.0.2.21, memory: 8GiB, cpus: 4, storage: ssd, roles: [web] }
postgres:
  version: 17
  data_directory: /var/lib/postgresql/17/main
  config_directory: /etc/postgresql/17/main
  plain_text: accepted
  replication: { user: replicator, password: { env: SHOP_REPLICATION_PASSWORD } }
nginx:
  version: "1.22"
  openssl: "3.0"
  https:
    server_name: shop.example.org
    tls: { certificate: /etc/ssl/certs/shop.pem, certificate_key: /etc/ssl/private/shop.key }
    upstream: { servers: [127.0.0.1:8000] }
django:
  version: "5.2"
  settings_file: /srv/shop/app/settings_production.py
  base_module: app.settings
  secret_key: { env: SHOP_SECRET_KEY }
  database: { name: shop, user: shop, password: { env: SHOP_DB_PASSWORD }, host: db1 }
sysctl:
  profile: database
"#;

    fn tree() -> Tree {
        let source = crate::source::Source::from_bytes("site.yaml", SPEC.as_bytes().to_vec())
            .expect("the spec reads");
        let loaded = crate::load::load(&source).expect("the spec is valid");
        let plan = crate::plan::plan_with(&loaded.site, &loaded.derived);
        Renderer::new(&Default::default())
            .render(&plan, &Secrets::none())
            .expect("the spec renders")
    }

    fn files<'a>(tree: &'a Tree, host: &str) -> Vec<&'a RenderedFile> {
        tree.files
            .iter()
            .filter(|f| f.host.as_str() == host)
            .collect()
    }

    const CONF: &str = "/etc/postgresql/17/main/postgresql.conf";

    /// The running kernel's values as the host's sysctl file sets them.
    fn kernel_as_written(files: &[&RenderedFile]) -> BTreeMap<String, String> {
        files
            .iter()
            .filter_map(|f| f.meta.kernel.as_ref())
            .flat_map(|settings| settings.iter())
            .map(|(k, v)| (proc_path(k), v.clone()))
            .collect()
    }

    /// PostgreSQL's answer: the recovery row, then `rows` as they are.
    fn server(in_recovery: bool, loaded_at: i64, rows: &[&str]) -> Option<Output> {
        let mut text = format!("recovery\x1f{in_recovery}\x1f{loaded_at}\x1f\x1f\x1f\x1f\x1e");
        for row in rows {
            text.push_str(&row.replace('|', "\x1f"));
            text.push('\x1e');
        }
        Some(Output { code: 0, text })
    }

    /// The effects of what `host`'s programs answered, each `severity path: effect`.
    fn judge(host: &str, answers: Answers, mtime: i64) -> Result<Vec<String>, String> {
        let tree = tree();
        let files = files(&tree, host);
        Ok(findings(host, &files, &answers, |_| Some(mtime))?
            .into_iter()
            .map(|f| format!("{:?} {}: {}", f.severity, f.path, f.effect))
            .collect())
    }

    #[test]
    fn what_is_asked_follows_the_hosts_files() {
        let tree = tree();
        let db1 = probe(&files(&tree, "db1")).unwrap();
        assert_eq!(
            db1.postgres,
            Some(PostgresProbe {
                port: "5432".to_owned(),
                socket: None
            })
        );
        assert!(
            db1.kernel.contains(&"vm/swappiness".to_owned()),
            "{:?}",
            db1.kernel
        );
        let web1 = probe(&files(&tree, "web1")).unwrap();
        assert!(web1.nginx && web1.postgres.is_none());
        let argv = db1.postgres.unwrap().psql();
        assert_eq!(argv[..2], ["psql", "-X"]);
        assert!(argv.windows(2).any(|w| w == ["-p", "5432"]));
    }

    #[test]
    fn a_server_that_runs_what_its_files_say_has_no_finding() {
        let answers = Answers {
            postgres: server(
                false,
                2_000,
                &[&format!(
                    "setting|port|5432|configuration file|{CONF}|6|false"
                )],
            ),
            ..Answers::default()
        };
        let found = judge("db1", answers, 1_000).unwrap();
        assert!(found.iter().all(|f| !f.contains(CONF)), "{found:#?}");
    }

    #[test]
    fn each_drift_of_postgresql_says_what_to_run() {
        let cases: &[(&str, bool, &[&str], &str)] = &[
            ("db2", false, &[], "it has been promoted"),
            ("db1", true, &[], "`SELECT pg_promote()`"),
            (
                "db1",
                false,
                &[
                    "setting|shared_buffers|16384|configuration file|/etc/postgresql/17/main/postgresql.conf|9|true",
                ],
                "shared_buffers changed in the configuration and the server runs the old value until it restarts (pending_restart): run `systemctl restart postgresql`",
            ),
            (
                "db1",
                false,
                &[
                    "setting|max_connections|300|configuration file|/var/lib/postgresql/17/main/postgresql.auto.conf|3|false",
                ],
                "max_connections runs as 300 from ALTER SYSTEM (postgresql.auto.conf), which wins over the file's 200: run `ALTER SYSTEM RESET max_connections` and reload",
            ),
            (
                "db1",
                false,
                &["setting|port|5433|command line|||false"],
                "port runs as 5433 from the server's command line, which wins over the file's 5432",
            ),
            (
                "db1",
                false,
                &[
                    "file|work_mem|4XB|invalid value for parameter \"work_mem\": \"4XB\"|/etc/postgresql/17/main/postgresql.conf|21|false",
                ],
                "line 21: work_mem: invalid value for parameter \"work_mem\": \"4XB\": the server keeps its old value",
            ),
            (
                "db1",
                false,
                &["hba|7|invalid authentication method \"md6\"||||"],
                "line 7: invalid authentication method \"md6\": a reload is refused and the server keeps its old rules",
            ),
        ];
        for (host, in_recovery, rows, expected) in cases {
            let answers = Answers {
                postgres: server(*in_recovery, 2_000, rows),
                ..Answers::default()
            };
            let found = judge(host, answers, 1_000).unwrap();
            assert!(
                found
                    .iter()
                    .any(|f| f.starts_with("Required") && f.contains(expected)),
                "{host} {rows:?}: no finding with {expected:?} in {found:#?}"
            );
        }
    }

    #[test]
    fn a_file_written_after_the_server_read_its_configuration_asks_for_a_reload() {
        let answers = Answers {
            postgres: server(false, 1_000, &[]),
            ..Answers::default()
        };
        let found = judge("db1", answers, 2_000).unwrap();
        for path in [CONF, "/etc/postgresql/17/main/pg_hba.conf"] {
            assert!(
                found.iter().any(|f| f.starts_with(&format!(
                    "Required {path}: changed after the server last read its configuration"
                )) && f.contains("`systemctl reload postgresql`")),
                "{path}: {found:#?}"
            );
        }
    }

    #[test]
    fn a_server_that_cannot_be_asked_makes_the_comparison_incomplete() {
        let answers = Answers {
            postgres: Some(Output {
                code: 2,
                text: "psql: error: connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory\n".to_owned(),
            }),
            ..Answers::default()
        };
        let reason = judge("db1", answers, 0).unwrap_err();
        assert!(
            reason.starts_with("psql: psql: error: connection"),
            "{reason}"
        );
    }

    #[test]
    fn nginx_that_fails_its_test_or_reads_no_file_of_ours_is_said() {
        let tree = tree();
        let web1 = files(&tree, "web1");
        let ours = web1
            .iter()
            .find(|f| f.meta.service == Service::Nginx)
            .unwrap()
            .path
            .clone();
        let failing = Answers {
            nginx: Some(Output {
                code: 1,
                text: "nginx: [emerg] unknown directive \"ssl_protocol\" in /etc/nginx/conf.d/shop.conf:9\nnginx: configuration file /etc/nginx/nginx.conf test failed\n".to_owned(),
            }),
            kernel: kernel_as_written(&web1),
            ..Answers::default()
        };
        let found = judge("web1", failing, 0).unwrap();
        assert_eq!(
            nginx_error(
                "2026/12/02 14:07:05 [emerg] 24992#24992: unknown directive \"x\" in /etc/nginx/conf.d/a.conf:2\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"
            ),
            "[emerg] unknown directive \"x\" in /etc/nginx/conf.d/a.conf:2",
            "with an error log, nginx puts the time and process ids first"
        );
        assert!(
            found.iter().any(|f| f.contains("`nginx -T` fails on the host ([emerg] unknown directive \"ssl_protocol\" in /etc/nginx/conf.d/shop.conf:9)")),
            "{found:#?}"
        );
        let unread = Answers {
            nginx: Some(Output {
                code: 0,
                text: "# configuration file /etc/nginx/nginx.conf:\nhttp {}\n".to_owned(),
            }),
            kernel: kernel_as_written(&web1),
            ..Answers::default()
        };
        let found = judge("web1", unread, 0).unwrap();
        assert!(
            found
                .iter()
                .any(|f| f.starts_with(&format!("Required {ours}: nginx does not read this file"))),
            "{found:#?}"
        );
        let read = Answers {
            nginx: Some(Output {
                code: 0,
                text: web1
                    .iter()
                    .map(|f| format!("# configuration file {}:\n{}\n", f.path, f.content))
                    .collect(),
            }),
            kernel: kernel_as_written(&web1),
            ..Answers::default()
        };
        assert_eq!(judge("web1", read, 0).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn kernel_values_other_than_the_files_are_drift() {
        let tree = tree();
        let db1 = files(&tree, "db1");
        let sysctl = db1.iter().find(|f| f.meta.kernel.is_some()).unwrap();
        let settings = sysctl.meta.kernel.as_ref().unwrap();
        let mut kernel = kernel_as_written(&db1);
        let (first, value) = &settings[0];
        kernel.insert(proc_path(first), format!("{value}1"));
        let (last, _) = &settings[settings.len() - 1];
        kernel.remove(&proc_path(last));
        let answers = Answers {
            postgres: server(false, 2_000, &[]),
            kernel,
            ..Answers::default()
        };
        let found = judge("db1", answers, 1_000).unwrap();
        assert_eq!(
            found,
            vec![
                format!(
                    "Required {}: {first} is {value}1 in the running kernel and {value} in the file: run `sysctl -p {} (or sysctl --system)`",
                    sysctl.path, sysctl.path
                ),
                format!(
                    "Warning {}: the running kernel has no {last} (/proc/sys/{} is not there: a module not loaded, or a key of another kernel), so the file's value is not applied",
                    sysctl.path,
                    proc_path(last)
                ),
            ]
        );
    }

    #[test]
    fn sysctl_keys_become_proc_paths_as_sysctl_reads_them() {
        assert_eq!(proc_path("vm.swappiness"), "vm/swappiness");
        assert_eq!(
            proc_path("net.ipv4.conf.eth0/1.forwarding"),
            "net/ipv4/conf/eth0.1/forwarding"
        );
    }

    #[test]
    fn nginx_dump_names_each_file_it_loaded() {
        let dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n# configuration file /etc/nginx/nginx.conf:\nuser www-data;\n\n# configuration file /etc/nginx/conf.d/shop.conf:\nserver {}\n";
        assert_eq!(
            loaded_files(dump),
            BTreeSet::from(["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/shop.conf"])
        );
    }

    #[test]
    fn the_servers_answer_is_read_row_by_row() {
        let text = "recovery\x1ftrue\x1f1764680000\x1f\x1f\x1f\x1f\x1e\
setting\x1fport\x1f5433\x1fcommand line\x1f\x1f\x1ffalse\x1e\
setting\x1fshared_buffers\x1f16384\x1fconfiguration file\x1f/etc/postgresql/17/main/postgresql.conf\x1f9\x1ftrue\x1e\
file\x1fwork_mem\x1f4MB\x1f\x1f/etc/postgresql/17/main/postgresql.conf\x1f12\x1ftrue\x1e\
hba\x1f7\x1finvalid authentication method \"md6\"\x1f\x1f\x1f\x1f\x1e";
        let answer = PostgresAnswer::read(text).unwrap();
        assert!(answer.in_recovery);
        assert_eq!(answer.loaded_at, 1_764_680_000);
        assert_eq!(answer.settings["port"].source, "command line");
        assert!(answer.settings["shared_buffers"].pending_restart);
        assert_eq!(answer.files[0].name, "work_mem");
        assert_eq!(
            answer.hba_errors,
            vec![(
                "7".to_owned(),
                "invalid authentication method \"md6\"".to_owned()
            )]
        );
        assert_eq!(PostgresAnswer::read("setting\x1fport"), None);
        assert_eq!(
            PostgresAnswer::read(""),
            None,
            "no recovery row: not an answer"
        );
    }

    #[test]
    fn passwords_in_running_values_are_hidden() {
        assert_eq!(
            mask_passwords(
                "primary_conninfo runs as host=db1 user=r password=s3cret port=5432 from"
            ),
            "primary_conninfo runs as host=db1 user=r password=******** port=5432 from"
        );
        assert_eq!(mask_passwords("'password=x'"), "'password=********'");
        assert_eq!(mask_passwords("no secret"), "no secret");
    }

    #[test]
    fn kernel_values_compare_by_their_words() {
        assert!(same_words("32768\t60999", "32768 60999"));
        assert!(!same_words("60", "10"));
    }
}
