//! Outside judges of the nginx files, beside nginx itself: gixy (gixy-ng, the maintained fork)
//! reads every fixture's and every generated spec's nginx files and may report only the findings
//! listed in [`ACCEPTED`], each with why; sslyze checks the TLS that the real servers serve,
//! on both nginx builds and both profiles, against Mozilla's guidelines.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sitewright::load::load;
use sitewright::plan::{Service, plan};
use sitewright::render::Secrets;
use sitewright::source::Source;

use crate::support::nginx::{Build, Layout, Nginx};
use crate::support::pg::succeeded;
use crate::support::sites::{CI_SEEDS, generate};
use crate::support::{fixture_names, installed, rendered_fixture, renderer, repo, temp_dir, tree};

/// The gixy findings sitewright's files may draw, with why each is right where it is drawn: the
/// plugin, a text the finding's configuration excerpt must hold, and the reason.
const ACCEPTED: &[(&str, &str, &str)] = &[
    (
        "ssl_ecdh_curve",
        "X25519MLKEM768",
        "the post-quantum group is written only for an nginx built with OpenSSL 3.5 (`nginx.openssl`), \
         which has it; NGX010 warns about a version pair no known build has, and nginx -t on Debian 13's \
         1.26 with OpenSSL 3.5 accepts it",
    ),
    (
        "hsts_header",
        "max-age=",
        "a `tls.hsts.max_age` the spec writes below six months; `check` warns about it (NGX012), \
         and the default is two years",
    ),
    (
        "try_files_is_evil_too",
        "@maintenance",
        "the maintenance page's named location is used only while the flag file exists; \
         open_file_cache would cache the `-f` test of that flag and delay the switch",
    ),
];

/// The nginx files of one host: (path on the host, content).
type HostFiles = Vec<(String, String)>;

/// Every fixture's hosts that have nginx files, as rendered with the templates under test.
fn fixture_hosts() -> Vec<(String, HostFiles)> {
    let mut out = Vec::new();
    for site in fixture_names() {
        let rendered = rendered_fixture(&site);
        let mut by_host: std::collections::BTreeMap<String, HostFiles> = Default::default();
        for (name, bytes) in tree(&rendered.root) {
            let Some((host, path)) = name.split_once('/') else {
                continue;
            };
            if path.starts_with("etc/nginx/") || path.starts_with("usr/share/nginx/") {
                by_host
                    .entry(host.to_owned())
                    .or_default()
                    .push((format!("/{path}"), String::from_utf8(bytes).unwrap()));
            }
        }
        out.extend(by_host.into_iter().map(|(h, f)| (format!("{site}/{h}"), f)));
    }
    out
}

/// The hosts with nginx files of the generated specs CI proves that `check` accepts.
fn generated_hosts() -> Vec<(String, HostFiles)> {
    let mut out = Vec::new();
    for seed in CI_SEEDS {
        let spec = generate(seed);
        let source = Source::from_bytes("site.yaml", spec.yaml.into_bytes()).unwrap();
        let Ok(loaded) = load(&source) else { continue };
        let rendered = renderer()
            .render(&plan(&loaded.site), &Secrets::none())
            .unwrap();
        for host in &loaded.site.hosts {
            let files: HostFiles = rendered
                .files
                .iter()
                .filter(|f| f.host == host.name && f.meta.service == Service::Nginx)
                .map(|f| (f.path.clone(), f.content.clone()))
                .collect();
            if !files.is_empty() {
                out.push((format!("seed {seed}/{}", host.name), files));
            }
        }
    }
    out
}

/// An nginx.conf for gixy that includes one host's files where the distribution's would.
fn wrapper(dir: &Path, name: &str, files: &HostFiles) -> PathBuf {
    let host_dir = dir.join(name.replace('/', "_").replace(' ', "-"));
    let (mut main, mut http) = (String::new(), String::new());
    for (path, content) in files {
        let local = host_dir.join(path.trim_start_matches('/'));
        fs::create_dir_all(local.parent().unwrap()).unwrap();
        fs::write(&local, content).unwrap();
        let line = format!("include {};\n", local.display());
        if path.starts_with("/etc/nginx/conf.d/") {
            http.push_str(&format!("    {line}"));
        } else if !path.contains("mod") {
            // load_module names a module gixy cannot load; the stream block is read all the same.
            main.push_str(&line);
        }
    }
    let conf = host_dir.join("nginx.conf");
    fs::write(
        &conf,
        format!(
            "{main}worker_rlimit_nofile 8192;\nevents {{ worker_connections 1024; }}\nhttp {{\n{http}}}\n"
        ),
    )
    .unwrap();
    conf
}

#[test]
fn gixy_finds_nothing_but_the_accepted_in_every_fixture_and_generated_spec() {
    let work = temp_dir();
    let hosts: Vec<(String, HostFiles)> = fixture_hosts()
        .into_iter()
        .chain(generated_hosts())
        .collect();
    let confs: Vec<PathBuf> = hosts
        .iter()
        .map(|(name, files)| wrapper(work.path(), name, files))
        .collect();
    let output = Command::new(installed("SITEWRIGHT_GIXY"))
        .args(["-f", "json"])
        .args(&confs)
        .output()
        .expect("gixy runs");
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "gixy printed no JSON ({e}):\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let mut unexplained = Vec::new();
    let mut accepted = std::collections::BTreeMap::<&str, usize>::new();
    for finding in &findings {
        let plugin = finding["plugin"].as_str().unwrap_or("");
        let config = finding["config"].as_str().unwrap_or("");
        match ACCEPTED
            .iter()
            .find(|(p, holds, _)| *p == plugin && config.contains(holds))
        {
            Some((p, ..)) => *accepted.entry(p).or_default() += 1,
            None => unexplained.push(format!(
                "{} [{plugin}, {}] {}\n{config}",
                finding["file"].as_str().unwrap_or(""),
                finding["severity"].as_str().unwrap_or(""),
                finding["summary"].as_str().unwrap_or("")
            )),
        }
    }
    eprintln!(
        "gixy read {} hosts' nginx files: {} findings, all accepted ({accepted:?})",
        confs.len(),
        findings.len()
    );
    assert!(
        confs.len() > 50,
        "too few hosts with nginx files: {}",
        confs.len()
    );
    assert!(
        unexplained.is_empty(),
        "{} gixy findings are not accepted:\n\n{}",
        unexplained.len(),
        unexplained.join("\n\n")
    );
}

/// A web site on 127.0.0.1 for `version`/`openssl` and `profile`, served by `build`.
fn serve(work: &Path, build: &Build, version: &str, openssl: &str, profile: &str) -> (Nginx, u16) {
    let spec = fs::read_to_string(repo().join("init/single.yaml"))
        .unwrap()
        .replace("version: \"1.26\"", &format!("version: \"{version}\""))
        .replace("openssl: \"3.5\"", &format!("openssl: \"{openssl}\""))
        .replace("profile: intermediate", &format!("profile: {profile}"));
    let source = Source::from_bytes("site.yaml", spec.into_bytes()).unwrap();
    let loaded = load(&source).unwrap_or_else(|e| panic!("{:?}", e.diagnostics));
    let rendered = renderer()
        .render(&plan(&loaded.site), &Secrets::none())
        .unwrap();
    let files: Vec<(&str, &str)> = rendered
        .files
        .iter()
        .filter(|f| f.meta.service == Service::Nginx)
        .map(|f| (f.path.as_str(), f.content.as_str()))
        .collect();
    // ECDSA: Mozilla's modern profile asks for an ECDSA certificate.
    let (cert, key) = (work.join("server.crt"), work.join("server.key"));
    let output = Command::new(installed("SITEWRIGHT_OPENSSL"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "30", "-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    succeeded(&output, "openssl req");
    let (layout, ports) = Layout::on_loopback(&work.join("nginx"), build, &files, &cert, &key);
    let https = ports
        .iter()
        .find(|(original, _)| original.as_str() == "443")
        .map(|(_, port)| *port)
        .expect("a listen on 443");
    let nginx = Nginx::start(&layout, build, &[https]);
    (nginx, https)
}

/// sslyze's Mozilla check on the served TLS: every problem it lists but the certificate's trust
/// (a test certificate is self-signed).
fn sslyze_problems(profile: &str, port: u16) -> Vec<String> {
    let output = Command::new(installed("SITEWRIGHT_SSLYZE"))
        .arg(format!("--mozilla_config={profile}"))
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("sslyze runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let section = text
        .split("COMPLIANCE AGAINST TLS CONFIGURATION")
        .nth(1)
        .unwrap_or_else(|| {
            panic!(
                "sslyze printed no compliance section:\n{text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(
        section.contains(&format!("Mozilla's \"{profile}\" configuration")),
        "sslyze checked against another configuration:\n{section}"
    );
    // Compliant, or not only for the test certificate's trust.
    if section.contains("OK - Compliant") {
        return Vec::new();
    }
    let problems: Vec<String> = section
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('*'))
        .filter(|l| !l.starts_with("* certificate_path_validation:"))
        .map(str::to_owned)
        .collect();
    assert!(
        section.contains("FAILED - Not compliant")
            && section.contains("* certificate_path_validation:")
            || !problems.is_empty(),
        "sslyze's verdict is unreadable:\n{section}"
    );
    problems
}

fn mozilla_compliant(build: Build, version: &str, openssl: &str) {
    for profile in ["intermediate", "modern"] {
        let work = temp_dir();
        let (_nginx, port) = serve(work.path(), &build, version, openssl, profile);
        let problems = sslyze_problems(profile, port);
        assert!(
            problems.is_empty(),
            "nginx {version} with OpenSSL {openssl}, {profile}: sslyze finds\n{}",
            problems.join("\n")
        );
    }
}

#[test]
fn sslyze_finds_nginx_1_22_compliant_with_mozilla_on_both_profiles() {
    mozilla_compliant(Build::debian12(), "1.22", "3.0");
}

#[test]
fn sslyze_finds_nginx_1_26_compliant_with_mozilla_on_both_profiles() {
    mozilla_compliant(Build::debian13(), "1.26", "3.5");
}
