//! nginx reads what sitewright renders and behaves as the spec says, with real traffic on
//! 127.0.0.1, on two real builds: Debian 12's nginx 1.22 with OpenSSL 3.0 and Debian 13's 1.26
//! with OpenSSL 3.5, each fed the files rendered for its own versions. `nginx -t` on every fixture,
//! TLS versions, ALPN and the post-quantum group per profile and version, the headers the
//! application receives, the caching proxy's MISS, HIT and refresh, the maintenance switch, a
//! logged-in user never cached, and the stream port reaching PostgreSQL. The last tests feed each
//! nginx the other's form and show it refused: the reason the version switch exists.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use regex::Regex;

use crate::support::backend::Backend;
use crate::support::nginx::{Build, Layout, Nginx};
use crate::support::pg::{Binaries, Server, free_port, succeeded};
use crate::support::{Sitewright, fixture, installed, temp_dir};

/// An nginx build, the OpenSSL command line beside it, and the versions a spec names for it.
pub(super) struct Target {
    build: Build,
    openssl: String,
    pub(super) nginx_version: &'static str,
    openssl_version: &'static str,
}

pub(super) fn nginx_1_22() -> Target {
    Target {
        build: Build::debian12(),
        openssl: installed("SITEWRIGHT_OPENSSL"),
        nginx_version: "1.22",
        openssl_version: "3.0",
    }
}

pub(super) fn nginx_1_26() -> Target {
    Target {
        build: Build::debian13(),
        openssl: installed("SITEWRIGHT_OPENSSL35"),
        nginx_version: "1.26",
        openssl_version: "3.5",
    }
}

/// `spec` naming `target`'s nginx and OpenSSL versions, in Debian's layout (the test builds are
/// Debian's). Only nginx's version: Django's stays what the spec says.
fn for_target(spec: &str, target: &Target) -> String {
    let spec = Regex::new(r#"(?m)^(nginx:\n\s+version: )"[0-9.]+""#)
        .unwrap()
        .replace_all(spec, format!("${{1}}\"{}\"", target.nginx_version).as_str())
        .into_owned();
    Regex::new(r#"openssl: "[0-9.]+""#)
        .unwrap()
        .replace_all(
            &spec,
            format!("openssl: \"{}\"", target.openssl_version).as_str(),
        )
        .replace("layout: rhel", "layout: debian")
}

/// The ports a loopback copy of a fixture uses.
struct Ports {
    https: u16,
    http: u16,
    buster: u16,
    long: u16,
    stream: u16,
    postgres: u16,
    app: u16,
    long_app: u16,
}

impl Ports {
    fn new(app: u16, long_app: u16) -> Self {
        Self {
            https: free_port(),
            http: free_port(),
            buster: free_port(),
            long: free_port(),
            stream: free_port(),
            postgres: free_port(),
            app,
            long_app,
        }
    }
}

/// The fixture's spec as a site on 127.0.0.1: addresses, ports, certificates and folders moved
/// into `work` (a test machine has no 192.0.2.x, and no port below 1024 is used), every other
/// value as the fixture writes it.
fn on_loopback(name: &str, work: &Path, ports: &Ports) -> String {
    let spec = fs::read_to_string(fixture(&format!("{name}/site.yaml"))).unwrap();
    loopback(spec, work, ports)
}

/// An init template's spec on 127.0.0.1 as [`on_loopback`] moves a fixture; the templates leave
/// `listen` at ports 443 and 80, so it is written out first for the rules below to move.
fn init_on_loopback(name: &str, work: &Path, ports: &Ports) -> String {
    let spec = fs::read_to_string(crate::support::repo().join("init").join(name)).unwrap();
    let spec = Regex::new(r"(?m)^(\s+)tls:$")
        .unwrap()
        .replace_all(
            &spec,
            "${1}listen: { port: 443, redirect_port: 80 }\n${1}tls:",
        )
        .into_owned();
    loopback(spec, work, ports)
}

fn loopback(mut spec: String, work: &Path, ports: &Ports) -> String {
    let w = work.display();
    let rules: &[(&str, String)] = &[
        (
            r"192\.0\.2\.60:\d+",
            format!("127.0.0.1:{}", ports.long_app),
        ),
        (r"192\.0\.2\.\d+:\d+", format!("127.0.0.1:{}", ports.app)),
        (r"127\.0\.0\.1:8000", format!("127.0.0.1:{}", ports.app)),
        // Host and listen addresses move; pg_hba blocks (192.0.2.0/24) stay as written.
        (
            r"(?m)address: 192\.0\.2\.\d+([^/\d]|$)",
            "address: 127.0.0.1${1}".to_owned(),
        ),
        (
            r"listen: \{ port: 443, redirect_port: 80 \}",
            format!(
                "listen: {{ address: 127.0.0.1, port: {}, redirect_port: {} }}",
                ports.https, ports.http
            ),
        ),
        (
            r"(?m)^(\s+)certificate: \S+",
            format!("${{1}}certificate: {w}/server.crt"),
        ),
        (
            r"(?m)^(\s+)certificate_key: \S+",
            format!("${{1}}certificate_key: {w}/server.key"),
        ),
        (
            r"directory: /var/cache/nginx/\S+",
            format!("directory: {w}/cache"),
        ),
        (r"flag: \S+", format!("flag: {w}/maintenance.flag")),
        (r"page: \S+", format!("page: {w}/maintenance/index.html")),
        (
            r"buster_port: \d+",
            format!("buster_port: {}", ports.buster),
        ),
        (r"port: 8009", format!("port: {}", ports.long)),
        (
            r"public_port: \d+",
            format!("public_port: {}", ports.stream),
        ),
        (r"(?m)^  port: 5432$", format!("  port: {}", ports.postgres)),
    ];
    for (pattern, replacement) in rules {
        spec = Regex::new(pattern)
            .unwrap()
            .replace_all(&spec, replacement.as_str())
            .into_owned();
    }
    spec
}

/// Renders `spec` into `work/tree`; its certificate goes to `work`.
fn render(spec: &str, work: &Path) -> PathBuf {
    let path = work.join("site.yaml");
    fs::write(&path, spec).unwrap();
    let out = work.join("tree");
    Sitewright::new()
        .arg("render")
        .arg(&path)
        .arg("-o")
        .arg(&out)
        .run()
        .code(0);
    out
}

fn certificate(work: &Path) {
    let output = Command::new(installed("SITEWRIGHT_OPENSSL"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(work.join("server.key"))
        .arg("-out")
        .arg(work.join("server.crt"))
        .output()
        .unwrap();
    succeeded(&output, "openssl req");
}

/// The nginx layout of one host of a rendered tree: its main-level files (the load_module line,
/// the stream block) and its http-level files (conf.d).
fn host_layout(tree: &Path, host: &str, prefix: &Path, build: &Build) -> Layout {
    let files = crate::support::tree(&tree.join(host));
    let mut main = Vec::new();
    let mut http = Vec::new();
    for name in files.keys() {
        let path = tree.join(host).join(name);
        if name.contains("modules") && name.ends_with(".conf") {
            main.insert(0, path);
        } else if name.ends_with("sitewright-stream.conf") {
            main.push(path);
        } else if name.starts_with("etc/nginx/conf.d/") {
            http.push(path);
        }
    }
    Layout::new(prefix, build, &main, &http)
}

/// What curl got: the status, the headers (names lower-cased) and the body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn curl(url: &str, extra: &[&str]) -> Response {
    let output = Command::new("curl")
        .args(["-sk", "--max-time", "20", "-D", "-"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    succeeded(&output, &format!("curl {url}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `openssl s_client` against 127.0.0.1:`port` with `args`; its output, and whether it connected.
fn s_client(openssl: &str, port: u16, args: &[&str]) -> (bool, String) {
    let output = Command::new(openssl)
        .arg("s_client")
        .arg("-connect")
        .arg(format!("127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Renders `spec` (on loopback, for `target`) into `work` and runs `nginx -t` on each host that
/// has nginx files; the number of hosts checked.
#[track_caller]
fn nginx_t_on_every_host(what: &str, spec: &str, work: &Path, target: &Target) -> usize {
    let tree = render(&for_target(spec, target), work);
    let mut checked = 0;
    for host in fs::read_dir(&tree).unwrap() {
        let host = host.unwrap().file_name().to_string_lossy().into_owned();
        if !tree.join(&host).join("etc/nginx").exists() {
            continue;
        }
        let prefix = work.join(format!("nginx-{host}"));
        let layout = host_layout(&tree, &host, &prefix, &target.build);
        let test = layout.test(&target.build);
        assert!(
            test.status.success(),
            "{what}/{host} on nginx {}: nginx -t failed\n{}",
            target.nginx_version,
            String::from_utf8_lossy(&test.stderr)
        );
        checked += 1;
    }
    checked
}

pub(super) fn every_fixture_passes_nginx_t(target: &Target) {
    let mut checked = 0;
    for entry in fs::read_dir(fixture("")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let work = temp_dir();
        certificate(work.path());
        let loopback = on_loopback(&name, work.path(), &Ports::new(free_port(), free_port()));
        checked += nginx_t_on_every_host(&name, &loopback, work.path(), target);
    }
    assert!(
        checked >= 4,
        "only {checked} hosts with nginx files were checked"
    );
}

/// What `sitewright init` writes, unchanged but for paths, ports and certificates: single.yaml
/// with its default proxy buffers once failed here ("proxy_busy_buffers_size" must be less than
/// the size of all "proxy_buffers" minus one buffer).
pub(super) fn every_init_spec_passes_nginx_t(target: &Target) {
    let mut checked = 0;
    for entry in fs::read_dir(crate::support::repo().join("init")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let work = temp_dir();
        certificate(work.path());
        let loopback = init_on_loopback(&name, work.path(), &Ports::new(free_port(), free_port()));
        checked += nginx_t_on_every_host(&name, &loopback, work.path(), target);
    }
    assert!(
        checked >= 3,
        "only {checked} hosts with nginx files were checked"
    );
}

/// The CATMAID fixture's buffer lines, which each case of [`BUFFERS`] replaces.
const CATMAID_BUFFERS: &str = "    client_body_buffer_size: 512kB\n    proxy_buffer_size: 64kB\n    proxy_buffers: { count: 512, size: 4kB }\n";

/// Buffer settings `check` accepts, each at an edge of what nginx accepts: the busy buffers
/// sitewright derives must be at least the largest buffer and at most all proxy_buffers but one,
/// and sizes are written in `k` or `m` (nginx's size directives refuse `1g`).
const BUFFERS: &[(&str, &str)] = &[
    ("every buffer setting left to the spec's defaults", ""),
    ("the default proxy_buffers", "    proxy_buffer_size: 64kB\n"),
    (
        "proxy_buffers' count 16, the most proxy_buffer_size that fits",
        "    proxy_buffer_size: 60kB\n    proxy_buffers: { count: 16, size: 4kB }\n",
    ),
    (
        "the fewest buffers that hold the default proxy_buffer_size",
        "    proxy_buffers: { count: 17, size: 4kB }\n",
    ),
    (
        "two buffers, as few as nginx takes",
        "    proxy_buffer_size: 4kB\n    proxy_buffers: { count: 2, size: 4kB }\n",
    ),
    (
        "buffers larger than proxy_buffer_size",
        "    proxy_buffer_size: 8kB\n    proxy_buffers: { count: 4, size: 1MB }\n",
    ),
    (
        "sizes that are not whole kilobytes",
        "    proxy_buffer_size: 1000B\n    proxy_buffers: { count: 3, size: 1000B }\n",
    ),
    (
        "1GB buffers, the most proxy_max_temp_file_size allows",
        "    proxy_buffer_size: 1GB\n    proxy_buffers: { count: 2, size: 1GB }\n",
    ),
    (
        "a 1GB request body buffer",
        "    client_body_buffer_size: 1GB\n",
    ),
];

fn buffer_settings_pass_nginx_t(target: &Target) {
    for (what, lines) in BUFFERS {
        let work = temp_dir();
        certificate(work.path());
        let spec = on_loopback(
            "catmaid",
            work.path(),
            &Ports::new(free_port(), free_port()),
        );
        assert!(spec.contains(CATMAID_BUFFERS));
        let spec = spec.replacen(CATMAID_BUFFERS, lines, 1);
        nginx_t_on_every_host(what, &spec, work.path(), target);
    }
}

/// OCSP stapling with its resolver: nginx -t accepts what the TLS include writes, IPv6 in brackets.
/// (The test certificate names no responder, so nginx warns that it staples nothing.) Without
/// stapling no resolver is written even when the spec gives one.
fn ocsp_stapling_with_a_resolver(target: &Target) {
    for stapling in [true, false] {
        let work = temp_dir();
        certificate(work.path());
        let spec = on_loopback(
            "catmaid",
            work.path(),
            &Ports::new(free_port(), free_port()),
        );
        let tls = format!(
            "      profile: intermediate\n      ocsp_stapling: {stapling}\n      trusted_certificate: {}/server.crt\n      resolver: [127.0.0.1, \"::1\"]\n",
            work.path().display()
        );
        let spec = spec.replacen("      profile: intermediate\n", &tls, 1);
        let what = format!("stapling {stapling}");
        nginx_t_on_every_host(&what, &spec, work.path(), target);
        let conf = fs::read_to_string(work.path().join("tree/web1/etc/nginx/conf.d/catmaid.conf"))
            .unwrap();
        let written = conf.contains("    resolver 127.0.0.1 [::1];\n")
            && conf.contains("    ssl_stapling on;\n");
        assert_eq!(written, stapling, "{what}:\n{conf}");
        assert_eq!(conf.contains("resolver"), stapling, "{what}:\n{conf}");
    }
}

/// CATMAID's web host on loopback, with `edit` applied to its spec, served by `target`.
fn catmaid_web(
    work: &Path,
    target: &Target,
    backend: &Backend,
    edit: impl Fn(String) -> String,
) -> (Ports, Nginx, String) {
    let ports = Ports::new(backend.port, backend.port);
    certificate(work);
    let spec = for_target(&edit(on_loopback("catmaid", work, &ports)), target);
    let tree = render(&spec, work);
    let layout = host_layout(&tree, "web1", &work.join("nginx"), &target.build);
    let nginx = Nginx::start(&layout, &target.build, &[ports.https, ports.http]);
    let conf = fs::read_to_string(tree.join("web1/etc/nginx/conf.d/catmaid.conf")).unwrap();
    (ports, nginx, conf)
}

fn intermediate_profile(target: &Target) {
    let work = temp_dir();
    let backend = Backend::start("catmaid");
    let static_dir = work.path().join("static");
    fs::create_dir(&static_dir).unwrap();
    fs::write(static_dir.join("app.js"), "console.log(1)\n").unwrap();
    let static_root = static_dir.display().to_string();
    let (ports, _nginx, conf) = catmaid_web(work.path(), target, &backend, |s| {
        s.replace("/srv/catmaid/static", &static_root)
    });
    let openssl = &target.openssl;

    let (ok, out) = s_client(openssl, ports.https, &["-tls1_2"]);
    assert!(
        ok && out.contains("Protocol  : TLSv1.2"),
        "TLS 1.2 refused:\n{out}"
    );
    let (ok, out) = s_client(openssl, ports.https, &["-tls1_3"]);
    assert!(ok && out.contains("TLSv1.3"), "TLS 1.3 refused:\n{out}");
    let (ok, out) = s_client(openssl, ports.https, &["-tls1_1"]);
    assert!(
        !ok || !out.contains("Protocol  : TLSv1.1"),
        "TLS 1.1 accepted:\n{out}"
    );
    let (_, out) = s_client(openssl, ports.https, &["-alpn", "h2"]);
    assert!(
        out.contains("ALPN protocol: h2"),
        "HTTP/2 is not offered:\n{out}"
    );
    assert!(!conf.contains("ssl on"));
    if target.nginx_version == "1.26" {
        assert!(
            conf.contains("    http2 on;\n") && !conf.contains("ssl http2;"),
            "1.26 uses `http2 on;`"
        );
        assert!(
            conf.contains("X25519MLKEM768"),
            "OpenSSL 3.5 offers the post-quantum group"
        );
        let (ok, out) = s_client(
            openssl,
            ports.https,
            &["-groups", "X25519MLKEM768", "-tls1_3"],
        );
        assert!(
            ok && out.contains("Negotiated TLS1.3 group: X25519MLKEM768"),
            "X25519MLKEM768 was not negotiated:\n{out}"
        );
    } else {
        assert!(
            conf.contains("ssl http2;\n") && !conf.contains("http2 on;"),
            "1.22 uses `listen ... http2`"
        );
        assert!(
            !conf.contains("X25519MLKEM768"),
            "OpenSSL 3.0 has no X25519MLKEM768"
        );
    }

    // A client cannot make Django believe a plain request was HTTPS, nor the other way round.
    let response = curl(
        &format!("https://127.0.0.1:{}/api/x", ports.https),
        &["-H", "X-Forwarded-Proto: http"],
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        backend.last_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    assert!(
        response.body.starts_with("catmaid /api/x"),
        "{}",
        response.body
    );
    let hsts = Some("max-age=63072000; includeSubDomains; preload");
    assert_eq!(response.header("strict-transport-security"), hsts);
    let all_hsts = response
        .headers
        .iter()
        .filter(|(n, _)| n == "strict-transport-security")
        .count();
    assert_eq!(
        all_hsts, 1,
        "nginx sends HSTS once, not again beside Django's"
    );

    let redirect = curl(&format!("http://127.0.0.1:{}/a?b=1", ports.http), &[]);
    assert_eq!(redirect.status, 301);
    assert_eq!(
        redirect.header("location"),
        Some(format!("https://127.0.0.1:{}/a?b=1", ports.https).as_str())
    );

    let asset = curl(
        &format!("https://127.0.0.1:{}/static/app.js", ports.https),
        &[],
    );
    assert_eq!(asset.status, 200);
    assert_eq!(asset.body, "console.log(1)\n");
    let cache_control: Vec<&str> = asset
        .headers
        .iter()
        .filter(|(n, _)| n == "cache-control")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        cache_control,
        ["max-age=315360000", "public"],
        "never expires, and public"
    );
    assert_eq!(asset.header("strict-transport-security"), hsts);
}

/// A static location serves its folder and nothing beside it: `../` and its percent-encoded
/// forms, in the location's path or across its prefix, reach no file outside the folder.
fn static_folder_keeps_to_itself(target: &Target) {
    let work = temp_dir();
    let backend = Backend::start("catmaid");
    let site = work.path().join("site");
    let static_dir = site.join("static");
    fs::create_dir_all(&static_dir).unwrap();
    fs::write(static_dir.join("app.css"), "body {}\n").unwrap();
    // Beside the folder: what a traversal would reach.
    let outside = "outside-the-static-folder";
    fs::write(site.join("x"), outside).unwrap();
    fs::write(site.join("settings_production.py"), outside).unwrap();
    fs::create_dir_all(site.join("static..")).unwrap();
    fs::write(site.join("static..").join("x"), outside).unwrap();
    let static_root = static_dir.display().to_string();
    let (ports, _nginx, conf) = catmaid_web(work.path(), target, &backend, |s| {
        s.replace("/srv/catmaid/static", &static_root)
    });
    assert!(
        conf.contains(&format!(
            "location /static/ {{\n        alias {static_root}/;"
        )),
        "{conf}"
    );
    let base = format!("https://127.0.0.1:{}", ports.https);
    let asset = curl(&format!("{base}/static/app.css"), &[]);
    assert_eq!((asset.status, asset.body.as_str()), (200, "body {}\n"));
    for path in [
        "/static/../x",
        "/static/..%2fx",
        "/static/..%2Fx",
        "/static%2f..%2fx",
        "/static/%2e%2e/x",
        "/static/%2e%2e%2fx",
        "/static/..%5cx",
        "/static/../settings_production.py",
        "/static/..%2fsettings_production.py",
        "/static../x",
        "/static..%2fx",
        "/static/./../x",
        "/static//../x",
    ] {
        let response = curl(&format!("{base}{path}"), &["--path-as-is"]);
        assert!(
            !response.body.contains(outside),
            "{path} reached a file outside the static folder: {} {}",
            response.status,
            response.body
        );
    }
}

fn modern_profile(target: &Target) {
    let work = temp_dir();
    let backend = Backend::start("catmaid");
    let (ports, _nginx, _) = catmaid_web(work.path(), target, &backend, |s| {
        s.replace("profile: intermediate", "profile: modern")
    });
    let (ok, out) = s_client(&target.openssl, ports.https, &["-tls1_2"]);
    assert!(!ok, "TLS 1.2 accepted by the modern profile:\n{out}");
    let (ok, out) = s_client(&target.openssl, ports.https, &["-tls1_3"]);
    assert!(ok && out.contains("TLSv1.3"), "TLS 1.3 refused:\n{out}");
}

/// IDR's proxy on loopback, served by `target`, in front of two backends.
struct Idr {
    work: tempfile::TempDir,
    ports: Ports,
    _nginx: Nginx,
}

fn idr(target: &Target, backend: &Backend, long_backend: &Backend) -> Idr {
    idr_edited(target, backend, long_backend, |s| s)
}

/// [`idr`] with `edit` applied to the spec on loopback.
fn idr_edited(
    target: &Target,
    backend: &Backend,
    long_backend: &Backend,
    edit: impl Fn(String) -> String,
) -> Idr {
    let work = temp_dir();
    let ports = Ports::new(backend.port, long_backend.port);
    certificate(work.path());
    fs::create_dir(work.path().join("maintenance")).unwrap();
    fs::write(
        work.path().join("maintenance/index.html"),
        "<h1>IDR is down for maintenance</h1>\n",
    )
    .unwrap();
    let spec = for_target(&edit(on_loopback("idr", work.path(), &ports)), target);
    let tree = render(&spec, work.path());
    let layout = host_layout(
        &tree,
        "idr-proxy",
        &work.path().join("nginx"),
        &target.build,
    );
    let nginx = Nginx::start(
        &layout,
        &target.build,
        &[ports.https, ports.buster, ports.long],
    );
    Idr {
        work,
        ports,
        _nginx: nginx,
    }
}

fn cache_and_buster(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr(target, &backend, &long_backend);
    let public = |path: &str| {
        curl(
            &format!("https://127.0.0.1:{}{path}", site.ports.https),
            &[],
        )
    };

    let first = public("/webclient/img/1");
    assert_eq!(
        (first.status, first.header("x-cache-status")),
        (200, Some("MISS"))
    );
    assert!(
        first.header("set-cookie").is_none(),
        "a backend's cookie must not pass a shared cache"
    );
    let second = public("/webclient/img/1");
    assert_eq!(
        second.header("x-cache-status"),
        Some("HIT"),
        "Cache-Control: no-store is ignored"
    );
    assert_eq!(second.body, first.body);
    assert_eq!(backend.requests(), 1);

    let busted = curl(
        &format!("http://127.0.0.1:{}/webclient/img/1", site.ports.buster),
        &[],
    );
    assert_eq!(busted.header("x-cache-status"), Some("BYPASS"));
    assert_eq!(backend.requests(), 2, "the buster fetches afresh");
    let refreshed = public("/webclient/img/1");
    assert_eq!(refreshed.header("x-cache-status"), Some("HIT"));
    assert_eq!(
        refreshed.body, busted.body,
        "and the public port then serves the fresh copy"
    );
    assert!(refreshed.body.contains("#2"), "{}", refreshed.body);

    let long = curl(
        &format!("http://127.0.0.1:{}/webgateway/big", site.ports.long),
        &[],
    );
    assert_eq!(long.status, 200);
    assert!(
        long.body.starts_with("readwrite /webgateway/big"),
        "the long port goes to its own backend"
    );
}

fn logged_in_user(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr(target, &backend, &long_backend);
    let url = format!("https://127.0.0.1:{}/webclient/private", site.ports.https);
    let with_session = curl(&url, &["-H", "Cookie: sessionid=alice"]);
    assert_eq!(with_session.header("x-cache-status"), Some("BYPASS"));
    let again = curl(&url, &["-H", "Cookie: sessionid=alice"]);
    assert_eq!(again.header("x-cache-status"), Some("BYPASS"));
    let anonymous = curl(&url, &[]);
    assert_eq!(
        anonymous.header("x-cache-status"),
        Some("MISS"),
        "nothing alice saw was stored"
    );
    assert_eq!(backend.requests(), 3);
}

fn maintenance(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr(target, &backend, &long_backend);
    let flag = site.work.path().join("maintenance.flag");
    let urls = [
        format!("https://127.0.0.1:{}/webclient/", site.ports.https),
        format!("http://127.0.0.1:{}/webclient/", site.ports.buster),
        format!("http://127.0.0.1:{}/webclient/", site.ports.long),
    ];
    fs::write(&flag, "").unwrap();
    for url in &urls {
        let down = curl(url, &[]);
        assert_eq!(down.status, 503, "{url}");
        assert_eq!(down.body, "<h1>IDR is down for maintenance</h1>\n", "{url}");
        assert_eq!(down.header("retry-after"), Some("600"), "{url}");
    }
    assert_eq!(backend.requests() + long_backend.requests(), 0);
    fs::remove_file(&flag).unwrap();
    for url in &urls {
        assert_eq!(curl(url, &[]).status, 200, "{url}");
    }
}

/// The public server's name, as IDR's fixture writes it.
const IDR_NAME: &str = "idr.openmicroscopy.org";

/// A request through the buster port (an SSH tunnel's `localhost:9000`, plain HTTP) reaches the
/// backend with the public name and scheme, so the copy it stores is the public one; a public
/// client's forged Host does not reach the backend either.
fn buster_does_not_poison_the_public_cache(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr(target, &backend, &long_backend);
    let busted = curl(
        &format!("http://127.0.0.1:{}/webclient/?show=1", site.ports.buster),
        &["-H", "Host: localhost:9000"],
    );
    assert_eq!(busted.status, 200);
    assert_eq!(backend.last_header("host").as_deref(), Some(IDR_NAME));
    assert_eq!(
        backend.last_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    let public = curl(
        &format!("https://127.0.0.1:{}/webclient/?show=1", site.ports.https),
        &[],
    );
    assert_eq!(public.header("x-cache-status"), Some("HIT"));
    assert!(
        public
            .body
            .contains(&format!("proto=https base=https://{IDR_NAME} ")),
        "the public server serves what the buster stored, made for the public name and scheme: {}",
        public.body
    );
    let forged = curl(
        &format!("https://127.0.0.1:{}/webclient/forged", site.ports.https),
        &["-H", "Host: evil.example", "-H", "X-Forwarded-Proto: http"],
    );
    assert!(
        forged
            .body
            .contains(&format!("proto=https base=https://{IDR_NAME} ")),
        "{}",
        forged.body
    );
    assert_eq!(
        backend.all("host"),
        [Some(IDR_NAME.to_owned()), Some(IDR_NAME.to_owned())]
    );
}

/// What the long-timeout port fetches from its read-write backend is never served by the public
/// server, nor by itself from a cache.
fn long_timeout_is_never_a_public_hit(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr(target, &backend, &long_backend);
    let long_url = format!("http://127.0.0.1:{}/webgateway/big", site.ports.long);
    let long = curl(&long_url, &["-H", "Host: localhost:8009"]);
    assert_eq!(long.status, 200);
    assert!(
        long.body.starts_with("readwrite /webgateway/big"),
        "{}",
        long.body
    );
    assert_eq!(long_backend.last_header("host").as_deref(), Some(IDR_NAME));
    assert_eq!(
        long_backend.last_header("x-forwarded-proto").as_deref(),
        Some("https")
    );
    let public = curl(
        &format!("https://127.0.0.1:{}/webgateway/big", site.ports.https),
        &[],
    );
    assert!(
        public.body.starts_with("readonly /webgateway/big"),
        "the public server served what the long-timeout port fetched: {}",
        public.body
    );
    assert_eq!(public.header("x-cache-status"), Some("MISS"));
    let again = curl(&long_url, &[]);
    assert!(
        again.body.starts_with("readwrite /webgateway/big #2"),
        "{}",
        again.body
    );
    assert!(
        long.header("x-cache-status").is_none() && again.header("x-cache-status").is_none(),
        "the long-timeout port has no cache: {:?}",
        again.headers
    );
}

/// A cookie other than the harmless ones makes a request private: it reaches the backend as sent,
/// and its answer is neither served from the cache nor stored; a harmless cookie never reaches the
/// backend of a cached request. (IDR's spec lists `_ga` as harmless here.)
fn other_cookies_are_never_cached(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr_edited(target, &backend, &long_backend, |s| {
        s.replace(
            "    session_cookie: sessionid\n",
            "    session_cookie: sessionid\n    harmless_cookies: [_ga, _gid]\n",
        )
    });
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", site.ports.https);
    let buster = |path: &str| format!("http://127.0.0.1:{}{path}", site.ports.buster);

    for (cookie, path) in [
        ("Cookie: csrftoken=zzz", "/webclient/a"),
        ("Cookie: _ga=GA1.1; csrftoken=zzz", "/webclient/b"),
        ("Cookie: csrftoken=zzz; _ga=GA1.1", "/webclient/c"),
        ("Cookie: _gax=1", "/webclient/d"),
        ("Authorization: Basic dXNlcjpwdw==", "/webclient/f"),
    ] {
        for _ in 0..2 {
            let private = curl(&url(path), &["-H", cookie]);
            assert_eq!(private.header("x-cache-status"), Some("BYPASS"), "{cookie}");
        }
        if let Some(sent) = cookie.strip_prefix("Cookie: ") {
            assert_eq!(
                backend.last_header("cookie").as_deref(),
                Some(sent),
                "a private request reaches the backend as sent"
            );
        }
        // Through the buster too: fetched, and not stored.
        let busted = curl(&buster(path), &["-H", cookie]);
        assert_eq!(busted.header("x-cache-status"), Some("BYPASS"), "{cookie}");
        let anonymous = curl(&url(path), &[]);
        assert_eq!(
            anonymous.header("x-cache-status"),
            Some("MISS"),
            "nothing fetched with {cookie} was stored"
        );
        assert!(anonymous.body.ends_with(" cookie=\n"), "{}", anonymous.body);
        assert_eq!(backend.last_header("cookie"), None);
    }

    // Harmless cookies only: cached, and the backend never sees them.
    let first = curl(&url("/webclient/e"), &["-H", "Cookie: _ga=GA1.1; _gid=2"]);
    assert_eq!(first.header("x-cache-status"), Some("MISS"));
    assert!(first.body.ends_with(" cookie=\n"), "{}", first.body);
    assert_eq!(backend.last_header("cookie"), None);
    let anonymous = curl(&url("/webclient/e"), &[]);
    assert_eq!(anonymous.header("x-cache-status"), Some("HIT"));
    let with_ga = curl(&url("/webclient/e"), &["-H", "Cookie: _ga=GA1.2"]);
    assert_eq!(with_ga.header("x-cache-status"), Some("HIT"));
    assert!(
        backend.all("cookie").iter().all(|c| c
            .as_deref()
            .is_none_or(|c| c.contains("csrftoken") || c.contains("_gax"))),
        "{:?}",
        backend.all("cookie")
    );
}

/// A request slower than the public timeout (3s here) over three backends costs that timeout and
/// at most one retry, not the timeout once per backend.
fn slow_requests_are_retried_once_at_most(target: &Target) {
    let (first, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let (second, third) = (Backend::start("readonly2"), Backend::start("readonly3"));
    let backends = format!(
        "backends: [127.0.0.1:{}, 127.0.0.1:{}, 127.0.0.1:{}]",
        first.port, second.port, third.port
    );
    let site = idr_edited(target, &first, &long_backend, |s| {
        Regex::new(r"backends: \[127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+\]")
            .unwrap()
            .replace(&s, backends.as_str())
            .replace("    timeout: 60s\n", "    timeout: 3s\n")
    });
    let started = std::time::Instant::now();
    let slow = curl(
        &format!("https://127.0.0.1:{}/webclient/slow", site.ports.https),
        &["-H", "X-Sleep: 5"],
    );
    let took = started.elapsed();
    assert_eq!(slow.status, 504, "{}", slow.body);
    let tried = first.requests() + second.requests() + third.requests();
    assert!(
        took < std::time::Duration::from_secs(7),
        "a 3s timeout took {took:?} over {tried} backends"
    );
    assert!((1..=2).contains(&tried), "{tried} backends were tried");
}

/// No server tells which nginx version runs, on any port.
fn server_header_has_no_version(target: &Target) {
    let (backend, long_backend) = (Backend::start("readonly"), Backend::start("readwrite"));
    let site = idr(target, &backend, &long_backend);
    let work = temp_dir();
    let catmaid = Backend::start("catmaid");
    let (ports, _nginx, _) = catmaid_web(work.path(), target, &catmaid, |s| s);
    for url in [
        format!("https://127.0.0.1:{}/webclient/", site.ports.https),
        format!("http://127.0.0.1:{}/webclient/", site.ports.http),
        format!("http://127.0.0.1:{}/webclient/", site.ports.buster),
        format!("http://127.0.0.1:{}/webclient/", site.ports.long),
        format!("https://127.0.0.1:{}/api/x", ports.https),
        format!("http://127.0.0.1:{}/api/x", ports.http),
    ] {
        let response = curl(&url, &[]);
        assert_eq!(response.header("server"), Some("nginx"), "{url}");
    }
}

/// CATMAID's stream block on db1, in front of a real PostgreSQL 16: psql reaches it through nginx.
fn stream_to_postgres(target: &Target) {
    let pg = Binaries::of(16);
    let work = temp_dir();
    let w = work.path();
    let ports = Ports::new(free_port(), free_port());
    let tree = render(&for_target(&on_loopback("catmaid", w, &ports), target), w);
    let (data, socket) = (w.join("data"), w.join("socket"));
    fs::create_dir(&socket).unwrap();
    pg.give(w);
    pg.initdb(&data);
    let server = Server::start(
        &pg,
        &data,
        ports.postgres,
        &socket,
        &w.join("pg.log"),
        &[("listen_addresses", "127.0.0.1".to_owned())],
    );
    let layout = host_layout(&tree, "db1", &w.join("nginx"), &target.build);
    let _nginx = Nginx::start(&layout, &target.build, &[ports.stream]);
    let through = pg
        .command(installed("SITEWRIGHT_PSQL"))
        .args(["-X", "-A", "-t", "-c", "select inet_server_port()"])
        .arg(format!(
            "host=127.0.0.1 port={} user={} dbname=postgres sslmode=disable",
            ports.stream, pg.user
        ))
        .output()
        .unwrap();
    succeeded(
        &through,
        &format!(
            "psql through nginx's stream port\n--- nginx error log\n{}--- stream block\n{}",
            fs::read_to_string(w.join("nginx/logs/error.log")).unwrap_or_default(),
            fs::read_to_string(tree.join("db1/etc/nginx/sitewright-stream.conf"))
                .unwrap_or_default()
        ),
    );
    assert_eq!(
        String::from_utf8_lossy(&through.stdout).trim(),
        ports.postgres.to_string(),
        "the connection reached PostgreSQL's own port"
    );
    drop(server);
}

macro_rules! on_both {
    ($($proof:ident),* $(,)?) => {
        mod on_1_22 {
            $(#[test] fn $proof() { super::$proof(&super::nginx_1_22()); })*
        }
        mod on_1_26 {
            $(#[test] fn $proof() { super::$proof(&super::nginx_1_26()); })*
        }
    };
}

on_both!(
    every_fixture_passes_nginx_t,
    every_init_spec_passes_nginx_t,
    buffer_settings_pass_nginx_t,
    ocsp_stapling_with_a_resolver,
    intermediate_profile,
    static_folder_keeps_to_itself,
    modern_profile,
    cache_and_buster,
    logged_in_user,
    maintenance,
    buster_does_not_poison_the_public_cache,
    long_timeout_is_never_a_public_hit,
    other_cookies_are_never_cached,
    slow_requests_are_retried_once_at_most,
    server_header_has_no_version,
    stream_to_postgres,
);

/// `nginx -t` of CATMAID's web host rendered for `spec_target`'s versions, run on `run_on`.
fn cross_test(spec_target: &Target, run_on: &Target) -> std::process::Output {
    catmaid_web_host_nginx_t(spec_target, run_on).0
}

/// `nginx -t` of CATMAID's web host rendered for `spec_target`'s versions, run on `run_on`, and
/// the HTTPS server file it read (`/etc/nginx/conf.d/catmaid.conf`, on loopback).
pub(super) fn catmaid_web_host_nginx_t(
    spec_target: &Target,
    run_on: &Target,
) -> (std::process::Output, String) {
    let work = temp_dir();
    certificate(work.path());
    let ports = Ports::new(free_port(), free_port());
    let tree = render(
        &for_target(&on_loopback("catmaid", work.path(), &ports), spec_target),
        work.path(),
    );
    let conf = fs::read_to_string(tree.join("web1/etc/nginx/conf.d/catmaid.conf")).unwrap();
    let test =
        host_layout(&tree, "web1", &work.path().join("nginx"), &run_on.build).test(&run_on.build);
    (test, conf)
}

#[test]
fn nginx_1_22_refuses_the_form_written_for_1_26() {
    let refused = cross_test(&nginx_1_26(), &nginx_1_22());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "1.22 accepted the 1.26 form");
    assert!(stderr.contains("unknown directive \"http2\""), "{stderr}");
}

#[test]
fn openssl_3_0_refuses_the_post_quantum_group() {
    // A spec that claims OpenSSL 3.5 for Debian 12's nginx, built with 3.0: the group is written,
    // and that nginx refuses to start with it.
    let mut claims_3_5 = nginx_1_22();
    claims_3_5.openssl_version = "3.5";
    let refused = cross_test(&claims_3_5, &nginx_1_22());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "OpenSSL 3.0 accepted X25519MLKEM768"
    );
    assert!(stderr.contains("X25519MLKEM768"), "{stderr}");
}

#[test]
fn nginx_1_26_warns_on_the_form_written_for_1_22() {
    let accepted = cross_test(&nginx_1_22(), &nginx_1_26());
    let stderr = String::from_utf8_lossy(&accepted.stderr);
    assert!(accepted.status.success(), "{stderr}");
    assert!(
        stderr.contains("the \"listen ... http2\" directive is deprecated"),
        "{stderr}"
    );
}
