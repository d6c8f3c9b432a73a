//! ansible-playbook (SITEWRIGHT_ANSIBLE_PLAYBOOK) run against machines of the ssh lab
//! (tests/it/support/machine.rs), for the tests of `sitewright export ansible`.
//!
//! An [`Ansible`] is a temporary folder holding `connection.yml`, an inventory of connection
//! variables only, one host per machine (its address, its sshd's port, the deploy user, the lab's
//! key and known_hosts, become, the machine's python), plus whatever host variables the test adds.
//! A run passes it as the LAST `-i`, after the export's own inventory: Ansible merges the host
//! variables of its inventory sources in the order given, a later source's value winning for the
//! same host and variable (`ansible-inventory -i a.yml -i b.yml --host h` shows b's), and a host
//! variable beats a group variable whatever its source. A `host_vars/` folder beside an inventory
//! or the playbook ranks above both inventory files, though: connection variables the export puts
//! there would win over these (only `-e` beats those).
//!
//! Each run has ANSIBLE_HOME, ANSIBLE_LOCAL_TEMP and ANSIBLE_REMOTE_TEMP in the folder (no
//! ~/.ansible anywhere; the deploy user's home is /nonexistent, and /tmp is the same on both
//! sides of the ssh session), ANSIBLE_NOCOLOR=1, and ANSIBLE_PIPELINING=1: without it, a task
//! with `become_user: postgres` (an unprivileged user become from another) needs the module file
//! that the deploy user copied made readable to postgres, which Ansible does with setfacl or
//! world-readable files, and neither is to be relied on here. The caller's own ANSIBLE_*
//! variables are removed. ssh's connections are multiplexed (Ansible's ControlPersist); the
//! masters end with their machine's sshd, and when the [`Ansible`] is dropped.
//!
//! ```ignore
//! let ansible = Ansible::new(&lab, export.path())
//!     .machine(&db1)
//!     .host_var("db1", "postgres_port", 5434)
//!     .inventory("inventory.yml");
//! let output = ansible.playbook("site.yml").args(["--check", "--diff"]).run();
//! assert_eq!(recap(&output)["db1"]["failed"], 0);
//! ```

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Map, Value};

use super::ssh::{Lab, Machine};
use super::{installed, temp_dir};

/// The machines' python: Debian's, which the mount namespace shares with this machine.
pub const MACHINE_PYTHON: &str = "/usr/bin/python3";

/// ansible-playbook's runs against some machines of a lab, from one folder (an export), sharing
/// one inventory of connection variables ([`Ansible::connection_path`]).
pub struct Ansible {
    dir: tempfile::TempDir,
    workdir: PathBuf,
    inventories: Vec<OsString>,
    hosts: BTreeMap<String, Map<String, Value>>,
    key: PathBuf,
    known_hosts: PathBuf,
}

impl Ansible {
    /// Runs in `workdir` (the export: its ansible.cfg, inventory.yml, site.yml, roles/), against
    /// no host yet (see [`Ansible::machine`]).
    pub fn new(lab: &Lab, workdir: impl AsRef<Path>) -> Self {
        let dir = temp_dir();
        // The deploy user and the users it becomes make their temporary folders in `remote`,
        // 1777 as /tmp is; the folder above lets them through, not list it.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
        for sub in ["home", "local", "remote"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        fs::set_permissions(
            dir.path().join("remote"),
            fs::Permissions::from_mode(0o1777),
        )
        .unwrap();
        Self {
            dir,
            workdir: workdir.as_ref().to_owned(),
            inventories: Vec::new(),
            hosts: BTreeMap::new(),
            key: lab.key_path(),
            known_hosts: lab.known_hosts_path(),
        }
    }

    /// Adds host `machine.name()` with the variables that reach it: `ansible_host` (its
    /// address), `ansible_port` (its sshd's), `ansible_user` (SITEWRIGHT_SSH_DEPLOY_USER),
    /// `ansible_ssh_private_key_file` (the lab's key), `ansible_ssh_common_args` (no ssh_config
    /// read, only the lab's known_hosts trusted, batch mode), `ansible_become: true` and
    /// `ansible_python_interpreter` ([`MACHINE_PYTHON`]).
    #[must_use]
    pub fn machine(mut self, machine: &Machine<'_>) -> Self {
        for path in [&self.key, &self.known_hosts] {
            assert!(
                !path.to_string_lossy().contains(char::is_whitespace),
                "{}: a path with a space in ssh's arguments",
                path.display()
            );
        }
        let common = format!(
            "-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={} \
             -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.known_hosts.display()
        );
        let vars = self.hosts.entry(machine.name().to_owned()).or_default();
        for (key, value) in [
            ("ansible_host", Value::from(machine.address())),
            ("ansible_port", Value::from(machine.port())),
            (
                "ansible_user",
                Value::from(installed("SITEWRIGHT_SSH_DEPLOY_USER")),
            ),
            (
                "ansible_ssh_private_key_file",
                Value::from(self.key.display().to_string()),
            ),
            ("ansible_ssh_common_args", Value::from(common)),
            ("ansible_become", Value::from(true)),
            ("ansible_python_interpreter", Value::from(MACHINE_PYTHON)),
        ] {
            vars.insert(key.to_owned(), value);
        }
        self
    }

    /// Host variable `key` = `value` for `host` in `connection.yml` (over the export's own).
    #[track_caller]
    #[must_use]
    pub fn host_var(mut self, host: &str, key: &str, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).expect("a host variable's value is plain data");
        self.hosts
            .entry(host.to_owned())
            .or_default()
            .insert(key.to_owned(), value);
        self
    }

    /// An inventory of the export's (relative to the working folder), given with `-i` before
    /// `connection.yml`; in the order of the calls.
    #[must_use]
    pub fn inventory(mut self, path: impl AsRef<OsStr>) -> Self {
        self.inventories.push(path.as_ref().to_owned());
        self
    }

    /// The inventory of connection variables (written at each run): JSON, which is YAML.
    pub fn connection_path(&self) -> PathBuf {
        self.dir.path().join("connection.yml")
    }

    /// The text of `connection.yml`: `{"all": {"hosts": {NAME: {VARIABLE: VALUE, …}, …}}}`.
    pub fn connection_inventory(&self) -> String {
        let hosts: Map<String, Value> = self
            .hosts
            .iter()
            .map(|(name, vars)| (name.clone(), Value::Object(vars.clone())))
            .collect();
        let inventory = serde_json::json!({ "all": { "hosts": hosts } });
        serde_json::to_string_pretty(&inventory).unwrap() + "\n"
    }

    /// A run of `playbook` (relative to the working folder); add arguments, then `.run()`.
    #[must_use = "nothing runs until .run()"]
    pub fn playbook(&self, playbook: impl AsRef<OsStr>) -> Run<'_> {
        Run {
            ansible: self,
            playbook: playbook.as_ref().to_owned(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

impl Drop for Ansible {
    fn drop(&mut self) {
        // ssh's multiplexing masters (ControlPersist) outlive the run that started them; their
        // command line names their socket, in ANSIBLE_HOME/cp.
        let marker = self.dir.path().join("home").display().to_string();
        let Ok(entries) = fs::read_dir("/proc") else {
            return;
        };
        for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
            let command = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&command).contains(&marker) {
                // SAFETY: kill(2) of an ssh master this runner's Ansible started (its command
                // line names this runner's folder), read just now from /proc.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
        }
    }
}

/// One run of ansible-playbook, built call by call.
#[must_use = "nothing runs until .run()"]
pub struct Run<'a> {
    ansible: &'a Ansible,
    playbook: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Run<'_> {
    /// One more argument, after the playbook: `--check`, `--diff`, `--limit=db1`, `-vvv`.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// More arguments (see [`Run::arg`]).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// `-e` with `{key: value}` as JSON: an extra variable, above every other.
    #[track_caller]
    pub fn extra_var(self, key: &str, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).expect("an extra variable's value is plain data");
        let json = serde_json::json!({ key: value }).to_string();
        self.arg("-e").arg(json)
    }

    /// An environment variable of the run (over the runner's own, ANSIBLE_PIPELINING=0 say).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The command [`Run::run`] runs.
    pub fn command(&self) -> Command {
        let ansible = self.ansible;
        fs::write(ansible.connection_path(), ansible.connection_inventory()).unwrap();
        let mut command = Command::new(installed("SITEWRIGHT_ANSIBLE_PLAYBOOK"));
        command.current_dir(&ansible.workdir).stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ANSIBLE_") {
                command.env_remove(key);
            }
        }
        let dir = ansible.dir.path();
        command
            .env("ANSIBLE_HOME", dir.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", dir.join("local"))
            .env("ANSIBLE_REMOTE_TEMP", dir.join("remote"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_PIPELINING", "1")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for inventory in &ansible.inventories {
            command.arg("-i").arg(inventory);
        }
        command.arg("-i").arg(ansible.connection_path());
        command.arg(&self.playbook).args(&self.args);
        command
    }

    /// Runs ansible-playbook and returns what it printed, whatever its exit status.
    pub fn run(self) -> Output {
        self.command().output().expect("ansible-playbook runs")
    }

    /// Runs ansible-playbook, which must succeed; what it printed.
    #[track_caller]
    pub fn run_ok(self) -> Output {
        let output = self.run();
        assert!(
            output.status.success(),
            "ansible-playbook failed ({})\n--- stdout\n{}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// The PLAY RECAP of a run: per host, each count it shows (ok, changed, unreachable, failed,
/// skipped, rescued, ignored).
#[track_caller]
pub fn recap(output: &Output) -> BTreeMap<String, BTreeMap<String, u64>> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut hosts = BTreeMap::new();
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("PLAY RECAP "));
    assert!(lines.next().is_some(), "no PLAY RECAP in:\n{stdout}");
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let Some((host, counts)) = line.split_once(" : ") else {
            panic!("{line:?}: not a line of PLAY RECAP");
        };
        let counts = counts
            .split_whitespace()
            .map(|pair| {
                let (key, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("{line:?}: {pair:?} is not KEY=COUNT"));
                (key.to_owned(), value.parse().unwrap())
            })
            .collect();
        hosts.insert(host.trim().to_owned(), counts);
    }
    hosts
}

/// The handlers a run ran on some host, in order: `role : name` (or `name`) of each `RUNNING
/// HANDLER [...]` with an `ok:` or `changed:` line under it (Ansible prints the header of a
/// notified handler whose `when` skips it on every host too).
pub fn handlers_run(output: &Output) -> Vec<String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut ran = Vec::new();
    let mut current: Option<&str> = None;
    for line in stdout.lines() {
        if let Some(header) = line.strip_prefix("RUNNING HANDLER [") {
            current = header.rsplit_once(']').map(|(name, _)| name);
        } else if line.starts_with("TASK [") || line.starts_with("PLAY ") {
            current = None;
        } else if (line.starts_with("ok: [") || line.starts_with("changed: ["))
            && let Some(name) = current.take()
        {
            ran.push(name.to_owned());
        }
    }
    ran
}

/// ansible-lint on the Ansible project in `project` as the tests run it: offline, at its
/// strictest profile, its caches under `home`; it must pass with nothing to report.
#[track_caller]
pub fn assert_lint_clean(project: &Path, home: &Path, what: &str) {
    let lint = crate::support::installed("SITEWRIGHT_ANSIBLE_LINT");
    let bin = Path::new(&lint).parent().unwrap();
    // The venv's bin first, or ansible-lint warns that it changed PATH itself.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new(&lint)
        .current_dir(project)
        .env("PATH", &path)
        .env("ANSIBLE_HOME", home.join("ansible"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("ANSIBLE_LINT_SKIP_SCHEMA_UPDATE", "1")
        .env("NO_COLOR", "1")
        .args(["--offline", "--nocolor", "--profile", "production"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("ansible-lint runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success() && all.contains("Passed: 0 failure(s), 0 warning(s)"),
        "ansible-lint on {what}:\n{all}"
    );
}
