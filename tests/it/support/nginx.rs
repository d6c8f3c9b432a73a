//! A real nginx for the tests, fed the rendered files, in the foreground on 127.0.0.1 and stopped
//! when dropped. Debian 12's nginx 1.22 (OpenSSL 3.0), or Debian 13's 1.26 (OpenSSL 3.5).

use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use super::installed;
use super::pg::wait_for;

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

impl Layout {
    /// nginx.conf under `prefix` that includes `main` files at main level and `http` files inside
    /// http {}, with pid, logs and temporary files under the prefix.
    pub fn new(prefix: &Path, build: &Build, main: &[PathBuf], http: &[PathBuf]) -> Self {
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

pub struct Nginx {
    child: Child,
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
        let child = Command::new(&build.binary)
            .arg("-c")
            .arg(&layout.conf)
            .arg("-p")
            .arg(&layout.prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Self { child };
        for port in ports {
            assert!(
                wait_for(20, || TcpStream::connect(("127.0.0.1", *port)).is_ok()),
                "nginx does not listen on 127.0.0.1:{port}\n{}",
                fs::read_to_string(layout.prefix.join("logs/error.log")).unwrap_or_default()
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
    }
}
