//! A real nginx for the tests, fed the rendered files, in the foreground on 127.0.0.1 and killed
//! when dropped.

use std::fs;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::installed;
use super::pg::wait_for;

pub struct Nginx {
    child: Child,
}

impl Nginx {
    /// Runs nginx on a main-level configuration that includes `main_includes` in order, with pid,
    /// logs and temporary files under `prefix`, and waits until `port` on 127.0.0.1 accepts.
    #[track_caller]
    pub fn start(prefix: &Path, main_includes: &[&Path], port: u16) -> Self {
        fs::create_dir_all(prefix.join("logs")).unwrap();
        // The rendered load_module line names `modules/…`, relative to the prefix, as Debian's does.
        let modules = prefix.join("modules");
        if !modules.exists() {
            std::os::unix::fs::symlink(installed("SITEWRIGHT_NGINX_MODULES"), &modules).unwrap();
        }
        let mut conf = String::new();
        for include in main_includes {
            conf.push_str(&format!("include {};\n", include.display()));
        }
        conf.push_str(&format!(
            "pid {p}/nginx.pid;\nerror_log {p}/logs/error.log info;\ndaemon off;\nevents {{ worker_connections 64; }}\n",
            p = prefix.display()
        ));
        let conf_path = prefix.join("nginx.conf");
        fs::write(&conf_path, conf).unwrap();
        let test = Command::new(installed("SITEWRIGHT_NGINX"))
            .arg("-t")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(prefix)
            .output()
            .unwrap();
        assert!(
            test.status.success(),
            "nginx -t refused the rendered files\n{}",
            String::from_utf8_lossy(&test.stderr)
        );
        let child = Command::new(installed("SITEWRIGHT_NGINX"))
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(prefix)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let nginx = Self { child };
        assert!(
            wait_for(20, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "nginx does not listen on 127.0.0.1:{port}\n{}",
            fs::read_to_string(prefix.join("logs/error.log")).unwrap_or_default()
        );
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
