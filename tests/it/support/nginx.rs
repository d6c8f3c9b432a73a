//! A real nginx for the tests, fed the rendered files, in the foreground on 127.0.0.1 and stopped
//! when dropped. Debian 12's nginx 1.22 (OpenSSL 3.0), or Debian 13's 1.26 (OpenSSL 3.5).

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use regex::Regex;

use super::installed;
use super::pg::{free_port, shown_log, wait_for};

/// One nginx build: the binary and the folder of its dynamic modules.
pub struct Build {
    pub binary: PathBuf,
    pub modules: PathBuf,
}

impl Build {
    /// Debian 12's nginx 1.22 with OpenSSL 3.0.
    pub fn debian12() -> Self {
        Self {
            binary: installed("SITEWRIGHT_NGINX").into(),
            modules: installed("SITEWRIGHT_NGINX_MODULES").into(),
        }
    }

    /// Debian 13's nginx 1.26 with OpenSSL 3.5, run from its unpacked packages.
    pub fn debian13() -> Self {
        Self {
            binary: installed("SITEWRIGHT_NGINX126").into(),
            modules: installed("SITEWRIGHT_NGINX126_MODULES").into(),
        }
    }
}

/// A configuration laid out under `prefix`, as Debian's nginx.conf lays out /etc/nginx.
pub struct Layout {
    pub prefix: PathBuf,
    pub conf: PathBuf,
}

/// What Debian's nginx.conf (Debian 12 and 13) sets inside http {}.
const DEBIAN_HTTP: &str = "    sendfile on;\n    tcp_nopush on;\n    types_hash_max_size 2048;\n    \
    default_type application/octet-stream;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    \
    ssl_prefer_server_ciphers on;\n    gzip on;\n";

/// Debian's own /etc/nginx/nginx.conf (Debian 12 and 13, comments left out), for a machine of the
/// ssh lab whose rendered tree has none: the modules of modules-enabled/ at main level, pid and
/// logs where the package puts them, inside http {} what [`DEBIAN_HTTP`] sets with mime.types,
/// then conf.d/*.conf and sites-enabled/*, where the rendered files go.
pub fn debian_nginx_conf() -> String {
    format!(
        "# Debian's nginx.conf, written by the tests' ssh lab (tests/it/support/machine.rs).\n\
         user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n\
         error_log /var/log/nginx/error.log;\ninclude /etc/nginx/modules-enabled/*.conf;\n\n\
         events {{\n    worker_connections 768;\n}}\n\n\
         http {{\n    include /etc/nginx/mime.types;\n{DEBIAN_HTTP}    \
         access_log /var/log/nginx/access.log;\n    include /etc/nginx/conf.d/*.conf;\n    \
         include /etc/nginx/sites-enabled/*;\n}}\n"
    )
}

impl Layout {
    /// nginx.conf under `prefix` that includes `main` files at main level and `http` files inside
    /// http {}, with pid, logs and temporary files under the prefix, and inside http {} what
    /// Debian's own nginx.conf sets there, so that a rendered directive that would clash with it
    /// ("is duplicate") fails here as it would on the host.
    pub fn new(prefix: &Path, build: &Build, main: &[PathBuf], http: &[PathBuf]) -> Self {
        Self::with(prefix, build, main, http, DEBIAN_HTTP)
    }

    /// [`Layout::new`] without Debian's lines inside http {}: for a test of nginx's own table.
    pub fn bare(prefix: &Path, build: &Build, main: &[PathBuf], http: &[PathBuf]) -> Self {
        Self::with(prefix, build, main, http, "")
    }

    fn with(
        prefix: &Path,
        build: &Build,
        main: &[PathBuf],
        http: &[PathBuf],
        distribution: &str,
    ) -> Self {
        fs::create_dir_all(prefix.join("logs")).unwrap();
        fs::create_dir_all(prefix.join("tmp")).unwrap();
        // The rendered load_module line names `modules/…`, relative to the prefix, as Debian's does.
        let modules = prefix.join("modules");
        if !modules.exists() {
            std::os::unix::fs::symlink(&build.modules, &modules).unwrap();
        }
        let p = prefix.display();
        let mut conf = String::new();
        for include in main {
            conf.push_str(&format!("include {};\n", include.display()));
        }
        conf.push_str(&format!(
            "pid {p}/nginx.pid;\nerror_log {p}/logs/error.log info;\ndaemon off;\nevents {{ worker_connections 64; }}\n"
        ));
        if !http.is_empty() {
            conf.push_str(&format!(
                "http {{\n    client_body_temp_path {p}/tmp/body;\n    proxy_temp_path {p}/tmp/proxy;\n    \
                 fastcgi_temp_path {p}/tmp/fastcgi;\n    uwsgi_temp_path {p}/tmp/uwsgi;\n    scgi_temp_path {p}/tmp/scgi;\n    \
                 access_log {p}/logs/access.log;\n"
            ));
            conf.push_str(distribution);
            for include in http {
                conf.push_str(&format!("    include {};\n", include.display()));
            }
            conf.push_str("}\n");
        }
        let path = prefix.join("nginx.conf");
        fs::write(&path, conf).unwrap();
        Self {
            prefix: prefix.to_owned(),
            conf: path,
        }
    }

    /// One host's rendered nginx files (path on the host, content) under `prefix`, where the
    /// distribution's nginx.conf includes each, rewritten for a test machine and nothing else:
    /// every `listen` to its own port on 127.0.0.1 (the same original, the same port; the map
    /// says which), certificates to `cert` and `key`, and logs, cache and module paths into the
    /// prefix.
    pub fn on_loopback(
        prefix: &Path,
        build: &Build,
        files: &[(&str, &str)],
        cert: &Path,
        key: &Path,
    ) -> (Self, BTreeMap<String, u16>) {
        let mut ports = BTreeMap::new();
        let (mut main, mut http) = (Vec::new(), Vec::new());
        // The module's file first: nginx.conf includes modules-enabled/ before anything else.
        let mut ordered: Vec<&(&str, &str)> = files.iter().collect();
        ordered.sort_by_key(|(path, _)| !path.contains("mod"));
        for (path, content) in ordered {
            let name = Path::new(path).file_name().expect("a file name");
            let local = prefix.join(name);
            fs::create_dir_all(prefix).unwrap();
            let text = loopback_text(content, prefix, build, cert, key, &mut ports);
            fs::write(&local, text).unwrap();
            if path.starts_with("/etc/nginx/conf.d/") {
                http.push(local);
            } else {
                main.push(local);
            }
        }
        (Self::new(prefix, build, &main, &http), ports)
    }

    /// `nginx -t` on this layout.
    pub fn test(&self, build: &Build) -> Output {
        Command::new(&build.binary)
            .arg("-t")
            .arg("-c")
            .arg(&self.conf)
            .arg("-p")
            .arg(&self.prefix)
            .output()
            .expect("nginx runs")
    }
}

/// A running nginx, stopped when dropped. A test that fails while it runs prints nginx's logs:
/// the error log, the log the rendered files write to, and what nginx wrote on stderr.
pub struct Nginx {
    child: Child,
    logs: PathBuf,
}

impl Nginx {
    /// Checks the layout with `nginx -t`, runs it, and waits until each of `ports` on 127.0.0.1 accepts.
    #[track_caller]
    pub fn start(layout: &Layout, build: &Build, ports: &[u16]) -> Self {
        let test = layout.test(build);
        assert!(
            test.status.success(),
            "nginx -t refused the rendered files\n{}",
            String::from_utf8_lossy(&test.stderr)
        );
        let logs = layout.prefix.join("logs");
        let stderr = fs::File::create(logs.join("stderr.log")).unwrap();
        let child = Command::new(&build.binary)
            .arg("-c")
            .arg(&layout.conf)
            .arg("-p")
            .arg(&layout.prefix)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("nginx starts");
        let nginx = Self { child, logs };
        for port in ports {
            // On failure the drop prints the logs.
            assert!(
                wait_for(20, || TcpStream::connect(("127.0.0.1", *port)).is_ok()),
                "nginx does not listen on 127.0.0.1:{port}"
            );
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        if std::thread::panicking() {
            for log in ["error.log", "site.log", "stderr.log"] {
                let path = self.logs.join(log);
                if path.exists() {
                    eprintln!("{}", shown_log("nginx", &path));
                }
            }
        }
    }
}

/// `text` with the rewrites of [`Layout::on_loopback`].
fn loopback_text(
    text: &str,
    prefix: &Path,
    build: &Build,
    cert: &Path,
    key: &Path,
    ports: &mut BTreeMap<String, u16>,
) -> String {
    let listen = Regex::new(r"(?m)^(\s*listen\s+)(\S+?)(;|\s)").unwrap();
    let text = listen.replace_all(text, |c: &regex::Captures| {
        let port = *ports.entry(c[2].to_owned()).or_insert_with(free_port);
        format!("{}127.0.0.1:{port}{}", &c[1], &c[3])
    });
    let p = prefix.display();
    let rules: &[(&str, String)] = &[
        (
            r"(?m)^(\s*ssl_certificate)\s+\S+;",
            format!("${{1}} {};", cert.display()),
        ),
        (
            r"(?m)^(\s*ssl_certificate_key)\s+\S+;",
            format!("${{1}} {};", key.display()),
        ),
        (
            r"(?m)^(\s*ssl_trusted_certificate)\s+\S+;",
            format!("${{1}} {};", cert.display()),
        ),
        (
            r"(?m)^(\s*(?:access|error)_log)\s+/\S+",
            format!("${{1}} {p}/logs/site.log"),
        ),
        (
            r"(?m)^(\s*proxy_cache_path)\s+\S+",
            format!("${{1}} {p}/cache"),
        ),
        (
            r"(?m)^load_module\s+\S+;",
            format!(
                "load_module {}/ngx_stream_module.so;",
                build.modules.display()
            ),
        ),
    ];
    let mut text = text.into_owned();
    for (pattern, to) in rules {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, to.as_str())
            .into_owned();
    }
    text
}
