//! `check` saying ok is a promise: for every generated spec it accepts, every rendered file is
//! handed to the real program that reads it. nginx -t on the spec's own build (a warning fails it
//! too); PostgreSQL of the spec's major reads each host's postgresql.conf with `postgres -C`, then
//! boots from it, the primary from a fresh initdb and each replica from a copy of its primary's
//! stopped data directory, as a base backup gives it, and must show no error in
//! `pg_file_settings` and `pg_hba_file_rules` and be in recovery exactly on replicas; Django's
//! `check --deploy` on the spec's version; `sysctl --dry-run -p`; the backup job read as cron
//! reads it; the role-defaults SQL run by psql; PgBouncer 1.18 started from its pgbouncer.ini and
//! userlist.txt, which must answer on its console and run every setting as the file writes it.
//!
//! What a test machine needs instead is rewritten where it is done, and nothing else: paths,
//! ports (on 127.0.0.1), certificates, PgBouncer's socket folder and auth_file, shared_buffers above what this machine can map (the file's
//! own value is read by `postgres -C` first), a replica's primary_conninfo host and port (a closed
//! port on 127.0.0.1, so no packet leaves the machine), and one pg_hba.conf line put first that
//! lets the test's superuser ask the server what it read. The files postgresql.conf includes are
//! made by the test where the server looks for them: a relative path beside the rendered file, an
//! absolute one rewritten to the same path under the host's folder of the rendered tree. The
//! include_dir folder gets a file that sets work_mem, which the server must then run with, and
//! a hidden file and a README with values it would refuse, which it must skip; every `include`
//! file and every include_if_exists file but those named `missing-*` is made. The embedded PostgreSQL builds have no
//! GSSAPI, so there the server's "not supported by this build" for a hostgssenc record is the one
//! pg_hba_file_rules error allowed; a replica with hot_standby off takes no query and is proven by
//! booting into recovery.
//!
//! The specs come from `support::sites`, deterministic by seed. `scripts/sweep` runs thousands
//! with fresh seeds; `SEED=N cargo test --test it dump_seed -- --ignored --nocapture` prints one.
//! A spec a real program refused is kept, shrunk, under tests/cases/generated/, and runs here
//! every time.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use regex::Regex;
use serde_json::Value;
use sitewright::load::load;
use sitewright::pg_settings::read_conf;
use sitewright::plan::{Service, plan};
use sitewright::render::{RenderedFile, Secrets};
use sitewright::source::Source;
use sitewright::spec::{Role, Site};

use crate::support::cron::read_crontab;
use crate::support::nginx::{Build, Layout};
use crate::support::pg::{Binaries, Server, free_port};
use crate::support::sites::{CI_SEEDS, Generated, generate};
use crate::support::{CHECK_DEPLOY, django_project, installed, repo, temp_dir};

/// Above this, shared_buffers is lowered to boot on a test machine; `postgres -C` still reads
/// the file's own value first.
const BOOTABLE_SHARED_BUFFERS: u64 = 1 << 30;

fn seeds() -> std::ops::Range<u64> {
    match std::env::var("SITEWRIGHT_SEEDS") {
        Ok(range) => {
            let (a, b) = range
                .split_once("..")
                .expect("SITEWRIGHT_SEEDS is FIRST..END");
            a.parse().unwrap()..b.parse().unwrap()
        }
        Err(_) => CI_SEEDS,
    }
}

/// A spec to prove: a generated one, an `init` starter, or a kept regression case.
struct Case {
    name: String,
    yaml: String,
    shape: &'static str,
}

fn cases() -> Vec<Case> {
    let mut cases: Vec<Case> = seeds()
        .map(|seed| {
            let Generated { seed, shape, yaml } = generate(seed);
            Case {
                name: format!("seed {seed}"),
                yaml,
                shape,
            }
        })
        .collect();
    for dir in ["init", "tests/cases/generated"] {
        let Ok(entries) = fs::read_dir(repo().join(dir)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for path in paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        {
            cases.push(Case {
                name: path.strip_prefix(repo()).unwrap().display().to_string(),
                yaml: fs::read_to_string(&path).unwrap(),
                shape: if dir == "init" {
                    "init starter"
                } else {
                    "kept regression case"
                },
            });
        }
    }
    cases
}

/// What the proofs share: certificates, an initdb'd data directory per major, a Django project.
struct Lab {
    work: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    data_templates: Mutex<BTreeMap<u32, PathBuf>>,
    next: AtomicUsize,
}

impl Lab {
    fn new() -> Self {
        // Memory-backed when the machine has it: each server copies a data directory.
        let work = if Path::new("/dev/shm").is_dir() {
            tempfile::Builder::new()
                .prefix("sitewright-test-")
                .tempdir_in("/dev/shm")
                .expect("a temporary directory")
        } else {
            temp_dir()
        };
        let pg = Binaries::of(16);
        pg.give(work.path());
        let (cert, key) = (
            work.path().join("server.crt"),
            work.path().join("server.key"),
        );
        // With an OCSP responder's address, as a CA's certificate has: nginx staples only then.
        let output = pg
            .command(installed("SITEWRIGHT_OPENSSL"))
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "authorityInfoAccess=OCSP;URI:http://127.0.0.1:9/",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .unwrap();
        ok(&output, "openssl req").unwrap();
        Self {
            work,
            cert,
            key,
            data_templates: Mutex::new(BTreeMap::new()),
            next: AtomicUsize::new(0),
        }
    }

    /// The folder of one case's files and servers, removed when the case is done.
    fn case(&self) -> Scratch<'_> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let root = self.work.path().join(format!("case-{n}"));
        fs::create_dir_all(&root).unwrap();
        Scratch {
            lab: self,
            root,
            next: AtomicUsize::new(0),
        }
    }

    /// A data directory of `major` made by initdb once, copied for each primary; a replica's is
    /// a copy of its primary's, cleanly stopped, as a base backup would give it.
    fn data_directory(
        &self,
        pg: &Binaries,
        from: Option<&Path>,
        into: &Path,
    ) -> Result<(), String> {
        if let Some(primary) = from {
            return run(pg.command("cp").arg("-a").arg(primary).arg(into), "cp -a");
        }
        let template = {
            let mut templates = self.data_templates.lock().unwrap();
            templates
                .entry(pg.major)
                .or_insert_with(|| {
                    let dir = self.work.path().join(format!("initdb-{}", pg.major));
                    pg.initdb(&dir);
                    dir
                })
                .clone()
        };
        run(pg.command("cp").arg("-a").arg(&template).arg(into), "cp -a")
    }
}

/// One case's share of the lab: a folder of its own, so that thousands of cases fit in memory.
struct Scratch<'a> {
    lab: &'a Lab,
    root: PathBuf,
    next: AtomicUsize,
}

impl Scratch<'_> {
    /// A fresh folder of this case.
    fn folder(&self, what: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dir = self.root.join(format!("{n}-{what}"));
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}

impl std::ops::Deref for Scratch<'_> {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        self.lab
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Runs `command`; its output when it succeeded, else what it printed.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    ok(&output, what).map(|_| ())
}

fn ok(output: &Output, what: &str) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({})\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// What one accepted spec was proven by.
#[derive(Default)]
struct Proved {
    files: usize,
    programs: BTreeMap<&'static str, usize>,
    /// The PostgreSQL major and nginx build the files ran on.
    servers: BTreeSet<String>,
}

impl Proved {
    fn by(&mut self, program: &'static str) {
        *self.programs.entry(program).or_default() += 1;
    }
}

enum Outcome {
    /// `check` refused it, with these rule ids (or the schema, with none).
    Refused(Vec<String>),
    Proved(Proved),
}

#[test]
fn every_file_of_every_generated_spec_that_check_accepts_is_accepted_by_its_real_program() {
    let cases = cases();
    let lab = Lab::new();
    let mut coverage = Coverage::of_schema();
    for case in &cases {
        coverage.draw(&case.yaml);
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Outcome, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let outcome = prove(&lab, case);
                    results.lock().unwrap().push((i, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let (mut accepted, mut refused, mut files) = (0, 0, 0);
    let mut programs: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    let mut shapes: BTreeMap<&str, usize> = BTreeMap::new();
    let mut servers: BTreeSet<String> = BTreeSet::new();
    let mut failures = Vec::new();
    for (i, result) in results {
        let case = &cases[i];
        match result {
            Ok(Outcome::Proved(proved)) => {
                accepted += 1;
                files += proved.files;
                *shapes.entry(case.shape).or_default() += 1;
                servers.extend(proved.servers);
                for (program, n) in proved.programs {
                    *programs.entry(program).or_default() += n;
                }
            }
            // A kept case was a spec that check accepted and a program refused: fixed means it
            // works now, not that check refuses it.
            Ok(Outcome::Refused(ids)) if case.shape == "kept regression case" => failures.push(
                format!("{}: check now refuses it ({})", case.name, ids.join(", ")),
            ),
            Ok(Outcome::Refused(ids)) => {
                refused += 1;
                for id in ids {
                    *refusals.entry(id).or_default() += 1;
                }
            }
            Err(why) => failures.push(format!("{}:\n{}\n--- spec\n{}", case.name, why, case.yaml)),
        }
    }
    let runs: usize = programs.values().sum();
    eprintln!(
        "generated specs: {} ({accepted} accepted by check, {refused} refused), {files} files, {runs} program runs: {}",
        cases.len(),
        counts(&programs)
    );
    eprintln!(
        "shapes accepted: {}; refusals by rule: {}",
        counts(&shapes),
        counts(&refusals)
    );
    eprintln!(
        "servers run: {}",
        servers.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    eprintln!("{}", coverage.line());
    if !coverage.missing().is_empty() {
        eprintln!("never drawn: {}", coverage.missing().join(", "));
    }
    assert!(
        failures.is_empty(),
        "{} specs failed (of {accepted} that check accepts, and the kept cases, which it must accept):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        accepted * 2 > cases.len(),
        "fewer than half the specs were accepted: the generator drifted"
    );
    assert!(
        accepted >= 100 || std::env::var("SITEWRIGHT_SEEDS").is_ok(),
        "CI proves at least 100 specs, and only {accepted} were accepted"
    );
    let wanted: BTreeSet<String> = (11..=18)
        .map(|m| format!("PostgreSQL {m}"))
        .chain(["nginx 1.22".to_owned(), "nginx 1.26".to_owned()])
        .collect();
    assert!(
        servers.is_superset(&wanted) || std::env::var("SITEWRIGHT_SEEDS").is_ok(),
        "not every server ran: {:?}",
        wanted.difference(&servers).collect::<Vec<_>>()
    );
    let missing = coverage.missing();
    assert!(
        missing.is_empty() || std::env::var("SITEWRIGHT_SEEDS").is_ok(),
        "never drawn: {}",
        missing.join(", ")
    );
}

/// `name count, name count, …`, for the summary lines.
fn counts<K: std::fmt::Display>(map: &BTreeMap<K, usize>) -> String {
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn prove(lab: &Lab, case: &Case) -> Result<Outcome, String> {
    let lab = &lab.case();
    let source = Source::from_bytes("site.yaml", case.yaml.clone().into_bytes())
        .map_err(|d| format!("unreadable: {}", d.message))?;
    let loaded = match load(&source) {
        Ok(loaded) => loaded,
        Err(invalid) => {
            if std::env::var_os("SITEWRIGHT_SHOW_REFUSED").is_some() {
                for d in &invalid.diagnostics {
                    eprintln!("{}: refused: {}", case.name, d.headline("site.yaml"));
                }
            }
            return Ok(Outcome::Refused(
                invalid
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == sitewright::diagnostic::Severity::Error)
                    .map(|d| d.rule.unwrap_or("schema").to_owned())
                    .collect(),
            ));
        }
    };
    let site = &loaded.site;
    let tree = crate::support::renderer()
        .render(&plan(site), &Secrets::none())
        .map_err(|e| format!("render failed: {e:?}"))?;
    let mut proved = Proved {
        files: tree.files.len(),
        ..Proved::default()
    };
    let root = lab.folder("tree");
    for file in &tree.files {
        let path = root
            .join(file.host.as_str())
            .join(file.path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &file.content).unwrap();
    }
    let on = |host: &str, service: Service| -> Vec<&RenderedFile> {
        tree.files
            .iter()
            .filter(|f| f.host.as_str() == host && f.meta.service == service)
            .collect()
    };
    let local = |f: &RenderedFile| {
        root.join(f.host.as_str())
            .join(f.path.trim_start_matches('/'))
    };
    // The primary first: each replica starts from a copy of its stopped data directory.
    let mut hosts: Vec<_> = site.hosts.iter().collect();
    hosts.sort_by_key(|h| !h.has(Role::PostgresPrimary));
    let mut primary_data = None;
    for host in hosts {
        let name = host.name.as_str();
        let pg_files = on(name, Service::Postgresql);
        if !pg_files.is_empty() {
            let replica = host.has(Role::PostgresReplica);
            let data = postgres(
                lab,
                site,
                primary_data.as_deref(),
                &pg_files,
                &local,
                &mut proved,
            )
            .map_err(|e| format!("{name}: {e}"))?;
            if !replica {
                primary_data = Some(data);
            }
        }
        let nginx_files = on(name, Service::Nginx);
        if !nginx_files.is_empty() {
            nginx(lab, site, &nginx_files).map_err(|e| format!("{name}: {e}"))?;
            proved.by("nginx -t");
            proved
                .servers
                .insert(format!("nginx {}", site.nginx.as_ref().unwrap().version));
        }
        for file in on(name, Service::Sysctl) {
            let output = Command::new("sysctl")
                .args(["--dry-run", "-p"])
                .arg(local(file))
                .output()
                .unwrap();
            ok(&output, "sysctl --dry-run -p")
                .map_err(|e| format!("{name}: {e}\n{}", file.content))?;
            proved.by("sysctl --dry-run");
        }
        for file in on(name, Service::Django) {
            django(lab, site, &case.yaml, file).map_err(|e| format!("{name}: {e}"))?;
            proved.by("django check --deploy");
        }
        let pgbouncer_files = on(name, Service::Pgbouncer);
        if !pgbouncer_files.is_empty() {
            pgbouncer(lab, &pgbouncer_files).map_err(|e| format!("{name}: {e}"))?;
            proved.by("pgbouncer");
            proved.servers.insert("PgBouncer 1.18".to_owned());
        }
    }
    Ok(Outcome::Proved(proved))
}

/// `line` of a postgresql.conf-like file, `name = …`, if the file has one.
fn conf_line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find(|l| {
        l.split(['=', ' '])
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// What the file the test puts in an include_dir sets: read after every rendered line, it wins.
const INCLUDED_WORK_MEM: &str = "3MB";

/// Makes the files the rendered postgresql.conf at `file` (`path` on its host) includes, and
/// rewrites each absolute path of its include lines to the same path under the host's folder
/// of the tree. Whether it has an include_dir, whose file sets work_mem.
fn include_files(file: &Path, path: &str) -> Result<bool, String> {
    let text = fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let host_root = PathBuf::from(
        file.to_str()
            .unwrap()
            .strip_suffix(path)
            .ok_or("the rendered file is not at its path under its host's folder")?,
    );
    let folder = file.parent().unwrap();
    let mut dir = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        let Some((directive, value)) = line
            .split_once(" = ")
            .filter(|(d, _)| ["include_dir", "include", "include_if_exists"].contains(d))
        else {
            lines.push(line.to_owned());
            continue;
        };
        let value = value.trim_matches('\'');
        let at = match value.strip_prefix('/') {
            Some(relative) => host_root.join(relative),
            None => folder.join(value),
        };
        let name = at.file_name().unwrap().to_string_lossy().into_owned();
        match directive {
            "include_dir" => {
                fs::create_dir_all(&at).unwrap();
                fs::write(
                    at.join("50-test.conf"),
                    format!("work_mem = '{INCLUDED_WORK_MEM}'\n"),
                )
                .unwrap();
                // PostgreSQL reads neither: it would refuse both values.
                fs::write(at.join(".hidden.conf"), "work_mem = 'hidden'\n").unwrap();
                fs::write(at.join("README"), "not a setting\n").unwrap();
                dir = true;
            }
            _ if directive == "include_if_exists" && name.starts_with("missing") => {}
            _ => {
                fs::create_dir_all(at.parent().unwrap()).unwrap();
                if !at.exists() {
                    fs::write(&at, "# made by the test\n").unwrap();
                }
            }
        }
        lines.push(format!("{directive} = '{}'", at.display()));
    }
    fs::write(file, lines.join("\n") + "\n").unwrap();
    Ok(dir)
}

/// primary_conninfo pointed at a port on 127.0.0.1 that nothing listens on: the replica stays in
/// recovery, retrying, and no packet leaves the machine. Its other keys are the rendered ones.
fn conninfo_on_loopback(line: &str, port: u16) -> String {
    let host = Regex::new(r"host=[^ ']+").unwrap();
    let at = Regex::new(r"port=\d+").unwrap();
    let line = host.replace(line, "host=127.0.0.1");
    at.replace(&line, format!("port={port}").as_str())
        .into_owned()
}

/// Boots the host's server from its files; the data directory it leaves, cleanly stopped.
fn postgres(
    lab: &Scratch,
    site: &Site,
    primary_data: Option<&Path>,
    files: &[&RenderedFile],
    local: &dyn Fn(&RenderedFile) -> PathBuf,
    proved: &mut Proved,
) -> Result<PathBuf, String> {
    let replica = primary_data.is_some();
    let major = site.postgres.as_ref().unwrap().version;
    let pg = Binaries::of(major);
    let find = |suffix: &str| files.iter().copied().find(|f| f.path.ends_with(suffix));
    let conf = find("/postgresql.conf").ok_or("no postgresql.conf")?;
    let hba = find("/pg_hba.conf").ok_or("no pg_hba.conf")?;
    let dir = lab.folder("postgres");
    pg.give(&dir);
    let data = dir.join("data");
    lab.data_directory(&pg, primary_data, &data)?;
    let included = include_files(&local(conf), &conf.path)?;

    // The rendered file as it is, read by the server's own parser without starting it.
    let output = pg
        .command(pg.bin.join("postgres"))
        .arg(format!("--config-file={}", local(conf).display()))
        .arg("-D")
        .arg(&data)
        .arg("-c")
        .arg(format!("hba_file={}", local(hba).display()))
        .args(["-C", "shared_buffers"])
        .output()
        .unwrap();
    ok(&output, "postgres -C on the rendered postgresql.conf")?;
    proved.by("postgres -C");

    // Booted from the rendered file, included whole, then what a test machine needs instead.
    let values = read_conf(&conf.content);
    let port = free_port();
    // The rendered records, after one that lets the test's own superuser in over the socket to
    // ask the server what it read (pg_hba_file_rules still reports on every rendered line).
    let test_hba = dir.join("pg_hba.conf");
    fs::write(
        &test_hba,
        format!("local all {} peer\n{}", pg.user, hba.content),
    )
    .unwrap();
    let mut overrides = format!(
        "include '{}'\ndata_directory = '{}'\nhba_file = '{}'\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n",
        local(conf).display(),
        data.display(),
        test_hba.display(),
        dir.display()
    );
    if values.contains_key("ssl_cert_file") {
        overrides.push_str(&format!(
            "ssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            lab.cert.display(),
            lab.key.display()
        ));
    }
    // postgres -C prints shared_buffers in 8kB pages.
    let pages: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| "postgres -C shared_buffers printed no number of pages")?;
    if pages * 8192 > BOOTABLE_SHARED_BUFFERS {
        overrides.push_str("shared_buffers = '128MB'\n");
    }
    let closed = free_port();
    if replica {
        if major >= 12 {
            let line = conf_line(&conf.content, "primary_conninfo")
                .ok_or("a replica without primary_conninfo")?;
            overrides.push_str(&conninfo_on_loopback(line, closed));
            overrides.push('\n');
            find("/standby.signal").ok_or("a replica of 12+ without standby.signal")?;
            fs::write(data.join("standby.signal"), "").unwrap();
        } else {
            let recovery = find("/recovery.conf").ok_or("a replica of 11 without recovery.conf")?;
            let text: String = recovery
                .content
                .lines()
                .map(|l| {
                    if l.starts_with("primary_conninfo") {
                        conninfo_on_loopback(l, closed)
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            fs::write(data.join("recovery.conf"), text + "\n").unwrap();
        }
    }
    let test_conf = dir.join("test.conf");
    fs::write(&test_conf, &overrides).unwrap();
    pg.give(&dir);
    let log = dir.join("postgres.log");
    let started = pg
        .command(pg.bin.join("pg_ctl"))
        .args(["start", "-w", "-t", "60", "-D"])
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(format!("-c config_file={}", test_conf.display()))
        .output()
        .unwrap();
    // The harness's own server handle: psql over the socket, and a fast stop however this ends.
    let server = Server {
        pg: &pg,
        data: data.clone(),
        socket_dir: dir.clone(),
        port,
        log: log.clone(),
    };
    if let Err(e) = ok(&started, "pg_ctl start") {
        return Err(format!("{e}\n--- log\n{}", server.log()));
    }
    proved.by("postgres boot");
    proved.servers.insert(format!("PostgreSQL {major}"));
    let psql = |sql: &str| -> Result<String, String> {
        ok(&server.try_sql(sql), sql).map(|s| s.trim().to_owned())
    };
    let hot = psql("select 1").is_ok();
    if hot {
        let errors = psql(
            "select sourcefile || ':' || sourceline || ' ' || name || ': ' || error from pg_file_settings where error is not null",
        )?;
        if !errors.is_empty() {
            return Err(format!("pg_file_settings: {errors}"));
        }
        // The embedded builds have no GSSAPI (Debian's do): there a hostgssenc record is read, and
        // then said unmatchable for the build alone. Every other error counts.
        let hba_errors = psql(
            "select line_number || ': ' || coalesce(error, 'unreadable record') from pg_hba_file_rules \
             where (error is not null or type is null) \
             and coalesce(error, '') <> 'hostgssenc record cannot match because GSSAPI is not supported by this build'",
        )?;
        if !hba_errors.is_empty() {
            return Err(format!("pg_hba_file_rules: {hba_errors}\n{}", hba.content));
        }
        if included {
            let work_mem = psql("show work_mem")?;
            if work_mem != INCLUDED_WORK_MEM {
                return Err(format!(
                    "work_mem is {work_mem}, not the {INCLUDED_WORK_MEM} of the include_dir's file"
                ));
            }
            proved.by("SHOW of an included setting");
        }
        let in_recovery = psql("select pg_is_in_recovery()")?;
        if in_recovery != if replica { "t" } else { "f" } {
            return Err(format!(
                "pg_is_in_recovery() is {in_recovery} on a {}",
                if replica { "replica" } else { "primary" }
            ));
        }
        proved.by("pg_file_settings and pg_hba_file_rules");
    } else {
        let off = values.get("hot_standby").is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "off" | "false" | "no" | "0"
            )
        });
        if !(replica && off) {
            return Err(format!(
                "the server accepts no connection\n--- log\n{}",
                fs::read_to_string(&log).unwrap_or_default()
            ));
        }
    }
    let text = fs::read_to_string(&log).unwrap_or_default();
    if text.contains("invalid connection")
        || text.contains("FATAL:  could not") && !text.contains("could not connect")
    {
        return Err(format!("the server's log:\n{text}"));
    }

    if !replica {
        if let Some(sql) = find("/sitewright-role-defaults.sql") {
            let roles = Regex::new(r#"ALTER ROLE ("[^"]+"|\S+)"#).unwrap();
            let mut made = BTreeSet::new();
            for role in roles.captures_iter(&sql.content) {
                if made.insert(role[1].to_owned()) {
                    psql(&format!("create role {} login", &role[1]))?;
                }
            }
            let output = server.psql().arg("-f").arg(local(sql)).output().unwrap();
            ok(&output, "psql -f sitewright-role-defaults.sql")?;
            proved.by("psql -f role defaults");
        }
        for cron in files.iter().filter(|f| f.path.starts_with("/etc/cron.d/")) {
            backup_job(site, &cron.content)?;
            proved.by("cron");
        }
    }
    drop(server);
    Ok(data)
}

/// The backup job as cron reads it: five valid time fields, postgres, and a command the shell
/// parses that dumps the spec's database from the spec's port.
fn backup_job(site: &Site, text: &str) -> Result<(), String> {
    let (_, jobs) = read_crontab(text);
    let [job] = jobs.as_slice() else {
        return Err(format!("not one job in the cron file:\n{text}"));
    };
    let limits = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
    let fields: Vec<&str> = job.schedule.split(' ').collect();
    if fields.len() != 5 {
        return Err(format!("not five time fields: {}", job.schedule));
    }
    for (field, (low, high)) in fields.iter().zip(limits) {
        for part in field.split(',') {
            let (range, step) = part.split_once('/').unwrap_or((part, "1"));
            let numbers: Vec<&str> = if range == "*" {
                vec![]
            } else {
                range.split('-').collect()
            };
            let valid = step.parse::<u32>().is_ok_and(|s| s > 0)
                && numbers
                    .iter()
                    .all(|n| n.parse::<u32>().is_ok_and(|n| (low..=high).contains(&n)));
            if !valid {
                return Err(format!("cron field {field} is not in {low}-{high}"));
            }
        }
    }
    if job.user != "postgres" {
        return Err(format!("the job runs as {}", job.user));
    }
    let syntax = Command::new("sh")
        .args(["-n", "-c", &job.command])
        .output()
        .unwrap();
    ok(&syntax, "sh -n on the job's command")?;
    let pg = site.postgres.as_ref().unwrap();
    let port = format!("-p {}", pg.port.0);
    if !job.command.contains(&port) {
        return Err(format!(
            "the job does not connect to port {}: {}",
            pg.port.0, job.command
        ));
    }
    Ok(())
}

fn nginx(lab: &Scratch, site: &Site, files: &[&RenderedFile]) -> Result<(), String> {
    let nginx = site.nginx.as_ref().unwrap();
    let build = match (
        nginx.version.to_string().as_str(),
        nginx.openssl.to_string().as_str(),
    ) {
        ("1.22", "3.0") => Build::debian12(),
        ("1.26", "3.5") => Build::debian13(),
        (v, o) => return Err(format!("no real nginx {v} with OpenSSL {o} to test with")),
    };
    let prefix = lab.folder("nginx");
    let host_files: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.content.as_str()))
        .collect();
    let (layout, _) = Layout::on_loopback(&prefix, &build, &host_files, &lab.cert, &lab.key);
    let output = layout.test(&build);
    ok(&output, "nginx -t").map_err(|e| {
        let texts: Vec<String> = files
            .iter()
            .map(|f| format!("--- {}\n{}", f.path, f.content))
            .collect();
        format!("{e}\n{}", texts.join("\n"))
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(warn) = stderr.lines().find(|l| l.contains("[warn]")) {
        return Err(format!("nginx -t warns: {warn}"));
    }
    Ok(())
}

/// The keys of pgbouncer.ini rewritten for this machine: where it listens, its socket, and the
/// files it reads (userlist.txt, the certificates), which the test provides.
const PGBOUNCER_REWRITTEN: &[&str] = &[
    "listen_addr",
    "listen_port",
    "unix_socket_dir",
    "auth_file",
    "client_tls_cert_file",
    "client_tls_key_file",
    "server_tls_ca_file",
];

/// The real pgbouncer started from the host's pgbouncer.ini and userlist.txt, rewritten only as
/// PGBOUNCER_REWRITTEN says, as PgBouncer's user: it must start, answer on its console, and show
/// in SHOW CONFIG every other `[pgbouncer]` value as the file writes it.
fn pgbouncer(lab: &Scratch, files: &[&RenderedFile]) -> Result<(), String> {
    use crate::support::pgbouncer::{BOUNCER_USER, Pgbouncer};
    let find = |name: &str| {
        files
            .iter()
            .find(|f| f.path.ends_with(name))
            .ok_or_else(|| format!("no {name} among PgBouncer's files"))
    };
    let (ini, userlist) = (find("/pgbouncer.ini")?, find("/userlist.txt")?);
    let dir = lab.folder("pgbouncer");
    fs::write(dir.join("userlist.txt"), &userlist.content).unwrap();
    fs::copy(&lab.cert, dir.join("server.crt")).unwrap();
    fs::copy(&lab.key, dir.join("server.key")).unwrap();
    let port = free_port();
    let ours = |key: &str| -> Option<String> {
        if !PGBOUNCER_REWRITTEN.contains(&key) {
            return None;
        }
        Some(match key {
            "listen_addr" => "127.0.0.1".to_owned(),
            "listen_port" => port.to_string(),
            "unix_socket_dir" => dir.display().to_string(),
            "auth_file" => dir.join("userlist.txt").display().to_string(),
            "client_tls_cert_file" | "server_tls_ca_file" => {
                dir.join("server.crt").display().to_string()
            }
            "client_tls_key_file" => dir.join("server.key").display().to_string(),
            _ => return None,
        })
    };
    let mut written = Vec::new();
    let mut section = "";
    let text: String = ini
        .content
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                section = if trimmed == "[pgbouncer]" {
                    "pgbouncer"
                } else {
                    "other"
                };
            }
            let setting = (section == "pgbouncer" && !trimmed.starts_with([';', '#']))
                .then(|| trimmed.split_once('='))
                .flatten()
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()));
            match setting {
                Some((key, value)) => match ours(&key) {
                    Some(replacement) => format!("{key} = {replacement}\n"),
                    None => {
                        written.push((key, value));
                        format!("{line}\n")
                    }
                },
                None => format!("{line}\n"),
            }
        })
        .collect();
    let ini_path = dir.join("pgbouncer.ini");
    fs::write(&ini_path, text).unwrap();
    let chown = Command::new("chown")
        .args(["-R", &format!("{BOUNCER_USER}:")])
        .arg(&dir)
        .output()
        .unwrap();
    ok(&chown, "chown")?;
    let chmod = Command::new("chmod")
        .arg("600")
        .arg(dir.join("server.key"))
        .output()
        .unwrap();
    ok(&chmod, "chmod")?;
    let mut bouncer = Pgbouncer::start(&ini_path, &dir, &dir.join("pgbouncer.log"));
    let mut up = false;
    for _ in 0..100 {
        if let Ok(Some(status)) = bouncer.child.try_wait() {
            return Err(format!(
                "pgbouncer exited ({status}):\n{}\n--- pgbouncer.ini\n{}",
                bouncer.log(),
                ini.content
            ));
        }
        if bouncer.try_console(port, "SHOW VERSION").status.success() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !up {
        return Err(format!("pgbouncer never answered:\n{}", bouncer.log()));
    }
    let config = bouncer.show(port, "SHOW CONFIG");
    for (key, value) in written {
        let shown = config
            .iter()
            .find(|row| row.iter().any(|(k, v)| k == "key" && *v == key))
            .and_then(|row| row.iter().find(|(k, _)| k == "value"))
            .map(|(_, v)| v.clone());
        if shown.as_deref() != Some(value.as_str()) {
            return Err(format!(
                "pgbouncer runs {key} = {shown:?}, the file says {value:?}\n--- pgbouncer.ini\n{}",
                ini.content
            ));
        }
    }
    let warnings: Vec<String> = bouncer
        .log()
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    if !warnings.is_empty() {
        return Err(format!("pgbouncer warns:\n{}", warnings.join("\n")));
    }
    Ok(())
}

/// The settings module in a project whose base module is an application's settings, with the
/// secrets the spec names given as it says (environment or file); `check --deploy` must find
/// nothing.
fn django(lab: &Scratch, site: &Site, yaml: &str, file: &RenderedFile) -> Result<(), String> {
    let dj = site.django.as_ref().unwrap();
    let dir = lab.folder("django");
    django_project(&dir);
    let secrets = dir.join("secrets");
    fs::create_dir_all(&secrets).unwrap();
    let secret = "x7Rk2vQ9mZ4pL8wN3bT6yH1cF5dJ0sA-gE_uI7oP2qW9eR4tY6iU8oP1aS3dF5gH7jK9";
    let mut text = file.content.clone();
    for path in Regex::new(r"file: (/\S+?) ?\}")
        .unwrap()
        .captures_iter(yaml)
    {
        let to = secrets.join(path[1].trim_start_matches('/').replace('/', "_"));
        fs::write(&to, secret).unwrap();
        text = text.replace(
            &format!("\"{}\"", &path[1]),
            &format!("\"{}\"", to.display()),
        );
    }
    fs::write(dir.join("mysite/production.py"), &text).unwrap();
    let module = if dj.base_module.is_some() {
        "mysite.production"
    } else {
        // A fragment: the application's settings import it last.
        fs::write(
            dir.join("mysite/combined.py"),
            "from mysite.settings import *  # noqa\nfrom mysite.production import *  # noqa\n",
        )
        .unwrap();
        "mysite.combined"
    };
    let python = installed(match dj.version.to_string().as_str() {
        "4.2" => "SITEWRIGHT_DJANGO42_PYTHON",
        "5.2" => "SITEWRIGHT_DJANGO52_PYTHON",
        other => return Err(format!("no real Django {other} to test with")),
    });
    let mut command = Command::new(python);
    command
        .args(CHECK_DEPLOY)
        .current_dir(&dir)
        .env("PYTHONPATH", &dir)
        .env("DJANGO_SETTINGS_MODULE", module);
    for name in Regex::new(r"env: ([A-Z_][A-Z0-9_]*)")
        .unwrap()
        .captures_iter(yaml)
    {
        command.env(&name[1], secret);
    }
    let output = command.output().unwrap();
    let stdout =
        ok(&output, "django check --deploy").map_err(|e| format!("{e}\n--- settings\n{text}"))?;
    // Only what the settings silence themselves, each for a choice the spec made (see the file).
    let silenced = text.matches(", \"security.W").count();
    if stdout.trim() != format!("System check identified no issues ({silenced} silenced).") {
        return Err(format!("check --deploy: {stdout}\n--- settings\n{text}"));
    }
    Ok(())
}

/// Which schema fields and enum values the specs drew.
struct Coverage {
    fields: BTreeSet<String>,
    values: BTreeSet<(String, String)>,
    drawn_fields: BTreeSet<String>,
    drawn_values: BTreeSet<(String, String)>,
}

impl Coverage {
    fn of_schema() -> Self {
        let schema = sitewright::schema::schema();
        let mut coverage = Self {
            fields: BTreeSet::new(),
            values: BTreeSet::new(),
            drawn_fields: BTreeSet::new(),
            drawn_values: BTreeSet::new(),
        };
        coverage.walk_schema(schema, schema, "", &mut Vec::new());
        coverage
    }

    fn walk_schema(&mut self, root: &Value, node: &Value, path: &str, stack: &mut Vec<String>) {
        if let Some(name) = node["$ref"].as_str() {
            if stack.iter().any(|s| s == name) {
                return;
            }
            let target = root.pointer(name.trim_start_matches('#')).unwrap();
            stack.push(name.to_owned());
            self.walk_schema(root, target, path, stack);
            stack.pop();
            return;
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for sub in node[key].as_array().into_iter().flatten() {
                self.walk_schema(root, sub, path, stack);
            }
        }
        for value in node["enum"].as_array().into_iter().flatten() {
            self.values.insert((path.to_owned(), value.to_string()));
        }
        if let Some(value) = node.get("const") {
            self.values.insert((path.to_owned(), value.to_string()));
        }
        for (name, sub) in node["properties"].as_object().into_iter().flatten() {
            let at = format!("{path}/{name}");
            self.fields.insert(at.clone());
            self.walk_schema(root, sub, &at, stack);
        }
        if node["items"].is_object() {
            self.walk_schema(root, &node["items"], &format!("{path}/*"), stack);
        }
    }

    fn draw(&mut self, yaml: &str) {
        let Ok(source) = Source::from_bytes("site.yaml", yaml.as_bytes().to_vec()) else {
            return;
        };
        let Ok(doc) = source.parse() else { return };
        self.walk_value(&doc.value, "");
    }

    fn walk_value(&mut self, value: &Value, path: &str) {
        if !path.is_empty() {
            if self.fields.contains(path) {
                self.drawn_fields.insert(path.to_owned());
            }
            let key = (path.to_owned(), value.to_string());
            if self.values.contains(&key) {
                self.drawn_values.insert(key);
            }
        }
        match value {
            // The keys of a map of settings are names, not fields: they match none and count for none.
            Value::Object(map) => {
                for (k, v) in map {
                    self.walk_value(v, &format!("{path}/{k}"));
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.walk_value(item, &format!("{path}/*"));
                }
            }
            _ => {}
        }
    }

    fn missing(&self) -> Vec<String> {
        let fields = self.fields.difference(&self.drawn_fields).cloned();
        let values = self
            .values
            .difference(&self.drawn_values)
            .map(|(p, v)| format!("{p} = {v}"));
        fields.chain(values).collect()
    }

    fn line(&self) -> String {
        format!(
            "schema coverage: {} of {} fields and {} of {} enum values drawn",
            self.drawn_fields.len(),
            self.fields.len(),
            self.drawn_values.len(),
            self.values.len()
        )
    }
}

/// Prints the spec of seed `SEED`, to reproduce what a sweep found.
#[test]
#[ignore]
fn dump_seed() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    println!("{}", generate(seed).yaml);
}
