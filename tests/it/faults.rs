//! Faults while a tree is written: a render killed part way, a read-only output folder, a full
//! disk, a file size limit, and links planted in the output folder. Whatever happens, every file
//! under the output folder is a whole version of itself, the one from before or the one the
//! render meant to write, never part of one; the only other files are sitewright's temporary
//! files (`.NAME.sitewright-PID-NANOS-COUNT`) of a process that was killed; and nothing is written through a
//! link.
//!
//! The read-only and full-disk tests mount a 1 MiB tmpfs on a temporary folder inside a private
//! user and mount namespace (`unshare --user --map-root-user --mount`), which needs no root where
//! the kernel allows unprivileged user namespaces (it does on the machines CI runs on, as root or
//! not), and run sitewright in that namespace. The mount is seen by no other process and goes
//! away with the namespace, even if the test is killed. Where the namespace or the mount is
//! refused the test fails and says why: it never runs another scenario in their place.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regex::Regex;

use crate::support::{Outcome, Sitewright, fixture, temp_dir, tree};

type Files = BTreeMap<String, Vec<u8>>;

const SIGKILL: i32 = 9;
const SIGXFSZ: i32 = 25;
const PAGE: u64 = 4096;

/// The name of sitewright's temporary file for `NAME`, written by process `PID`.
static TEMP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\.(.+)\.sitewright-([0-9]+)-[0-9]+-[0-9]+$").unwrap());

fn catmaid() -> String {
    fs::read_to_string(fixture("catmaid/site.yaml")).unwrap()
}

/// `spec` with its site renamed: nearly every file changes, and so do two file names.
fn renamed(spec: &str, name: &str) -> String {
    let renamed = spec.replacen("\nsite: catmaid\n", &format!("\nsite: {name}\n"), 1);
    assert_ne!(
        renamed, spec,
        "the spec names its site on a line `site: catmaid`"
    );
    renamed
}

/// `spec` with `replicas` more PostgreSQL replicas (198.51.100.x) and `webs` more web hosts
/// (127.42.x.y). The addresses are only written into files.
fn with_hosts(spec: &str, replicas: usize, webs: usize) -> String {
    assert!(replicas < 250 && webs < 200 * 250);
    let (hosts, rest) = spec
        .split_once("\npostgres:\n")
        .expect("the spec's hosts come before `postgres:`");
    let mut out = hosts.to_owned();
    for i in 0..replicas {
        write!(
            out,
            "  - name: replica{i}\n    address: 198.51.100.{}\n    memory: 32GiB\n    cpus: 8\n    \
             storage: ssd\n    roles: [postgres-replica]\n",
            i + 1
        )
        .unwrap();
    }
    for i in 0..webs {
        write!(
            out,
            "  - name: web-{i}\n    address: 127.42.{}.{}\n    memory: 16GiB\n    cpus: 4\n    \
             storage: ssd\n    roles: [web]\n",
            i / 200,
            i % 200 + 1
        )
        .unwrap();
    }
    out.push_str("\npostgres:\n");
    out.push_str(rest);
    out
}

/// Two specs in `dir`, old.yaml and new.yaml; new.yaml renames the site.
fn specs(dir: &Path, old: &str, new: &str) -> (PathBuf, PathBuf) {
    let (old_path, new_path) = (dir.join("old.yaml"), dir.join("new.yaml"));
    fs::write(&old_path, old).unwrap();
    fs::write(&new_path, new).unwrap();
    (old_path, new_path)
}

fn render(spec: &Path, out: &Path) -> Outcome {
    Sitewright::new()
        .arg("render")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .run()
}

/// The tree `spec` renders, written to a folder of its own.
fn rendered(spec: &Path, dir: &Path) -> Files {
    render(spec, dir).code(0);
    tree(dir)
}

fn sitewright_command(spec: &Path, out: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sitewright"));
    command
        .arg("render")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn shown(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited {code}"),
        (_, Some(signal)) => format!("was killed by signal {signal}"),
        _ => format!("{status:?}"),
    }
}

/// Asserts that every file in `files` (a tree under the output folder) is byte for byte one of
/// `versions` of it, or a temporary file of one of `pids` that holds the start of a version of the
/// file it was to become. Returns the temporary files.
#[track_caller]
fn assert_whole(context: &str, files: &Files, versions: &[&Files], pids: &[u32]) -> Vec<String> {
    let mut temps = Vec::new();
    let mut problems = Vec::new();
    for (path, bytes) in files {
        let (folder, name) = match path.rsplit_once('/') {
            Some((folder, name)) => (format!("{folder}/"), name),
            None => (String::new(), path.as_str()),
        };
        if versions.iter().any(|v| v.get(path) == Some(bytes)) {
            continue;
        }
        if let Some(captures) = TEMP.captures(name) {
            let target = format!("{folder}{}", &captures[1]);
            let pid: u32 = captures[2].parse().unwrap();
            let starts_a_version = versions
                .iter()
                .any(|v| v.get(&target).is_some_and(|whole| whole.starts_with(bytes)));
            if pids.contains(&pid) && starts_a_version {
                temps.push(path.clone());
                continue;
            }
            problems.push(format!(
                "{path}: a temporary file of pid {pid} (killed: {pids:?}), {} bytes, \
                 {}the start of a version of {target}",
                bytes.len(),
                if starts_a_version { "" } else { "not " }
            ));
            continue;
        }
        let known: Vec<String> = versions
            .iter()
            .filter_map(|v| v.get(path))
            .map(|whole| format!("{} bytes", whole.len()))
            .collect();
        problems.push(if known.is_empty() {
            format!(
                "{path}: {} bytes, a file no render wrote and no temporary file",
                bytes.len()
            )
        } else {
            format!(
                "{path}: {} bytes, none of its versions ({}){}",
                bytes.len(),
                known.join(", "),
                if versions
                    .iter()
                    .filter_map(|v| v.get(path))
                    .any(|whole| whole.starts_with(bytes))
                {
                    ": a partial file"
                } else {
                    ""
                }
            )
        });
    }
    assert!(
        problems.is_empty(),
        "{context}: files that are not whole:\n{}",
        problems.join("\n")
    );
    temps
}

/// Paths whose bytes differ between `a` and `b`, a missing file counting as different.
fn differing(a: &Files, b: &Files) -> usize {
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths.iter().filter(|p| a.get(**p) != b.get(**p)).count()
}

/// A small random number generator (xorshift64*): the test has no other use for randomness.
struct Rng(u64);

impl Rng {
    /// From SITEWRIGHT_TEST_SEED when set, to repeat a run, else from the clock.
    fn seeded() -> (Self, u64) {
        let seed = std::env::var("SITEWRIGHT_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    ^ u64::from(std::process::id())
            });
        (Self(seed | 1), seed)
    }

    /// Uniform in [0, 1).
    fn fraction(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A 1 MiB tmpfs mounted on a folder in a private user and mount namespace. A holder process
/// (`cat`, reading the test's pipe) keeps the namespace alive; sitewright runs in it through
/// `nsenter`, and the test reads and writes the tmpfs through `/proc/PID/root`. Dropping it
/// closes the pipe, so the holder ends and the mount with it (also when a test fails, and when the
/// test process dies).
struct Disk {
    holder: Child,
    dir: PathBuf,
}

impl Disk {
    /// Mounts the tmpfs on `dir`, or fails the test saying why it could not.
    #[track_caller]
    fn tmpfs(dir: &Path) -> Self {
        let mut holder = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c"])
            .arg(
                "mount -t tmpfs -o size=1m,mode=0755 sitewright-test \"$0\" && echo mounted \
                 && exec cat >/dev/null",
            )
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
        let mut line = String::new();
        let mut stdout = BufReader::new(holder.stdout.take().unwrap());
        stdout.read_line(&mut line).unwrap();
        if line != "mounted\n" {
            drop(holder.stdin.take());
            let output = holder.wait_with_output().unwrap();
            panic!(
                "this test needs a tmpfs of its own and the kernel refused it: `unshare --user \
                 --map-root-user --mount` then `mount -t tmpfs` on {} {}:\n{}\nAllow \
                 unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 or \
                 user.max_user_namespaces > 0), or run the test as root.",
                dir.display(),
                shown(output.status),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Self {
            holder,
            dir: dir.to_owned(),
        }
    }

    /// `path`, a path on the tmpfs, as the test process reaches it.
    fn outside(&self, path: &Path) -> PathBuf {
        assert!(
            path.starts_with(&self.dir),
            "{} is not on the tmpfs",
            path.display()
        );
        Path::new(&format!("/proc/{}/root", self.holder.id())).join(path.strip_prefix("/").unwrap())
    }

    /// `program args` run in the namespace that sees the tmpfs.
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("--target")
            .arg(self.holder.id().to_string())
            .args(["--user", "--mount", "--preserve-credentials", "--"])
            .arg(program)
            .stdin(Stdio::null());
        command
    }

    /// `sitewright render spec -o out`, run in the namespace.
    fn render(&self, spec: &Path, out: &Path) -> Outcome {
        let output = self
            .command(env!("CARGO_BIN_EXE_sitewright"))
            .arg("render")
            .arg(spec)
            .arg("-o")
            .arg(out)
            .output()
            .unwrap();
        Outcome {
            line: format!(
                "sitewright render {} -o {} (in the tmpfs's namespace)",
                spec.display(),
                out.display()
            ),
            code: output
                .status
                .code()
                .unwrap_or_else(|| panic!("nsenter sitewright {}", shown(output.status))),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Makes the mount read-only (a bind remount: the one an unprivileged namespace may do).
    fn read_only(&self) {
        let output = self
            .command("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "mount -o remount,bind,ro {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        drop(self.holder.stdin.take());
        if self.holder.wait().is_err() {
            let _ = self.holder.kill();
        }
    }
}

/// Fills the file system of `filler` until only about `pages` pages are free.
fn fill_leaving(filler: &Path, pages: u64) {
    let mut file = fs::File::create(filler).unwrap();
    let chunk = vec![0u8; PAGE as usize];
    let full = loop {
        if let Err(e) = file.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(
        full.raw_os_error(),
        Some(28),
        "filling the tmpfs ended with {full}, not ENOSPC"
    );
    let len = file.metadata().unwrap().len();
    file.set_len(len.saturating_sub(pages * PAGE)).unwrap();
    file.sync_all().unwrap();
}

/// A manifest entry's file, as a path under the output folder.
fn path_of(file: &serde_json::Value) -> String {
    format!(
        "{}{}",
        file["host"].as_str().unwrap(),
        file["path"].as_str().unwrap()
    )
}

/// Starts a render of `spec` into `out`, which holds another site's tree, and waits for it to
/// succeed. Returns when it began replacing files (the tree's `first` file changed) and when it
/// had replaced them all (its `last` changed): a render writes every file aside before it renames
/// the first into place, so that is the window in which a kill leaves some files new, some old.
fn timed_render(spec: &Path, out: &Path, first: &str, last: &str) -> (Duration, Duration) {
    let (first, last) = (out.join(first), out.join(last));
    let (old_first, old_last) = (fs::read(&first).unwrap(), fs::read(&last).unwrap());
    let started = Instant::now();
    let mut child = sitewright_command(spec, out).spawn().unwrap();
    let (mut renaming, mut renamed) = (None, None);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if renaming.is_none() && fs::read(&first).is_ok_and(|b| b != old_first) {
            renaming = Some(started.elapsed());
        }
        if renamed.is_none() && fs::read(&last).is_ok_and(|b| b != old_last) {
            renamed = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let ended = started.elapsed();
    assert!(status.success(), "the reference render {}", shown(status));
    (renaming.unwrap_or(ended), renamed.unwrap_or(ended))
}

#[test]
fn a_render_killed_part_way_leaves_every_file_old_or_new() {
    const RUNS: usize = 8;
    let dir = temp_dir();
    // 315 hosts and about 670 files; renaming the site changes all but two of them.
    let big = with_hosts(&catmaid(), 12, 300);
    let (old_spec, new_spec) = specs(dir.path(), &big, &renamed(&big, "catmaid-next"));
    let out = dir.path().join("out");
    let reference = dir.path().join("reference");
    render(&old_spec, &out).code(0).stdout_has("for 315 hosts");
    // The tree's first and last files, by the manifest, which lists them in the order they are
    // written; the renamed site's tree has them too.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().unwrap();
    let (first, last) = (path_of(&files[0]), path_of(&files[files.len() - 1]));
    // Timed on a copy of the old tree: replacing files is what the killed renders below do.
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&out)
        .arg(&reference)
        .status()
        .unwrap();
    assert!(copied.success());
    let (writing, ended) = timed_render(&new_spec, &reference, &first, &last);
    let old = tree(&out);
    // The new site's files, without the old site's that the copy left beside them.
    let listed = |tree: &Path| -> BTreeSet<String> {
        let manifest: serde_json::Value =
            serde_json::from_slice(&fs::read(tree.join("manifest.json")).unwrap()).unwrap();
        let files = manifest["files"].as_array().unwrap();
        let mut paths: BTreeSet<String> = files.iter().map(path_of).collect();
        // Each host's own manifest, which render writes after the host's files.
        paths.extend(files.iter().map(|file| {
            format!(
                "{}/etc/sitewright/manifest.json",
                file["host"].as_str().unwrap()
            )
        }));
        paths.insert("manifest.json".to_owned());
        paths
    };
    let rendered = listed(&reference);
    let new: Files = tree(&reference)
        .into_iter()
        .filter(|(path, _)| rendered.contains(path))
        .collect();
    assert!(
        differing(&old, &new) > 600,
        "renaming the site changes only {} of {} files",
        differing(&old, &new),
        old.len()
    );
    let (mut rng, seed) = Rng::seeded();
    eprintln!(
        "{} files; a whole render renames its files from {writing:?} to {ended:?}; seed {seed} \
         (SITEWRIGHT_TEST_SEED repeats it)",
        new.len()
    );
    let mut killed_pids = Vec::new();
    let mut mid_write = 0;
    let mut runs = 0;
    let mut temps = Vec::new();
    let started = Instant::now();
    // Renders of the new and the old spec in turn, each killed at a random moment while it writes:
    // every file the killed render was replacing is old or new, whichever it was at.
    for run in 0..RUNS {
        // Under ~20 seconds on a loaded machine: fewer runs once one has landed mid-write.
        if run >= 3 && mid_write > 0 && started.elapsed() > Duration::from_secs(12) {
            break;
        }
        runs += 1;
        let (spec, target) = if run % 2 == 0 {
            (&new_spec, &new)
        } else {
            (&old_spec, &old)
        };
        let before = tree(&out);
        // Killed a random part of the renaming window after the first file was seen replaced:
        // timing from the start would miss the window whenever the machine is busy.
        let pause = (ended - writing).mul_f64(rng.fraction() / 2.0);
        let first_before = before.get(&first).cloned();
        let start = Instant::now();
        let mut child = sitewright_command(spec, &out).spawn().unwrap();
        killed_pids.push(child.id());
        while child.try_wait().unwrap().is_none() && fs::read(out.join(&first)).ok() == first_before
        {
            std::thread::sleep(Duration::from_micros(100));
        }
        std::thread::sleep(pause);
        let delay = start.elapsed();
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let after = tree(&out);
        temps = assert_whole(
            &format!("run {run}, killed after {delay:?} (seed {seed})"),
            &after,
            &[&old, &new],
            &killed_pids,
        );
        let killed = output.status.signal() == Some(SIGKILL);
        assert!(
            killed || output.status.success(),
            "run {run}: the render {} before it was killed:\n{}",
            shown(output.status),
            String::from_utf8_lossy(&output.stderr)
        );
        let whole = |files: &Files| -> Files {
            files
                .iter()
                .filter(|(path, _)| !temps.contains(path))
                .map(|(p, b)| (p.clone(), b.clone()))
                .collect()
        };
        let changed = differing(&whole(&before), &whole(&after));
        let pending = target
            .iter()
            .filter(|(path, bytes)| before.get(*path) != Some(bytes))
            .count();
        if killed && changed > 0 && changed < pending {
            mid_write += 1;
        }
        eprintln!(
            "run {run}: {} after {delay:?}: {changed} of {pending} files replaced; {} temporary \
             files under the output folder",
            if killed { "killed" } else { "finished" },
            temps.len()
        );
    }
    assert!(
        mid_write > 0,
        "none of {runs} kills landed while the render was renaming (seed {seed}), so this test \
         proved nothing; a render renames from {writing:?} to {ended:?} after it starts"
    );
    eprintln!(
        "{mid_write} of {runs} kills landed mid-write; {} temporary files are left, all \
         `.NAME.sitewright-PID-NANOS-COUNT` of killed processes: {:?}",
        temps.len(),
        temps.iter().take(5).collect::<Vec<_>>()
    );
}

/// OUT/web1 is a regular file: the render fails when it reaches web1's files, naming the path,
/// and leaves what it wrote before whole.
fn a_file_where_a_folder_belongs(dir: &Path) {
    let (old_spec, new_spec) = specs(dir, &catmaid(), &renamed(&catmaid(), "catmaid-next"));
    let new = rendered(&new_spec, &dir.join("reference"));
    let out = dir.join("out");
    render(&old_spec, &out).code(0);
    fs::remove_dir_all(out.join("web1")).unwrap();
    fs::write(out.join("web1"), "a file, not a folder\n").unwrap();
    let before = tree(&out);
    render(&new_spec, &out)
        .code(2)
        .stderr_has(&format!("sitewright: cannot write {}/web1", out.display()))
        .stderr_has("web1 is a file where a folder goes");
    let after = tree(&out);
    assert_whole(
        "after a render stopped by a file where a folder belongs",
        &after,
        &[&before, &new],
        &[],
    );
    assert_eq!(after["web1"], b"a file, not a folder\n");
    assert!(
        after["manifest.json"] == before["manifest.json"],
        "a render that failed wrote the manifest"
    );
}

#[test]
fn a_read_only_output_folder_is_an_error_naming_the_path() {
    let dir = temp_dir();
    let mount_point = dir.path().join("disk");
    fs::create_dir(&mount_point).unwrap();
    let disk = Disk::tmpfs(&mount_point);
    let (old_spec, new_spec) = specs(dir.path(), &catmaid(), &renamed(&catmaid(), "catmaid-next"));
    let out = mount_point.join("out");
    disk.render(&old_spec, &out).code(0);
    let before = tree(&disk.outside(&out));
    assert!(
        before.contains_key("manifest.json"),
        "the first render wrote no manifest"
    );
    disk.read_only();
    disk.render(&new_spec, &out)
        .code(2)
        .stderr_has(&format!("sitewright: cannot write {}/", out.display()))
        .stderr_has("Read-only file system");
    assert!(
        tree(&disk.outside(&out)) == before,
        "a render into a read-only folder changed it"
    );
    let fresh = mount_point.join("fresh");
    disk.render(&new_spec, &fresh)
        .code(2)
        .stderr_has(&format!("sitewright: cannot write {}", fresh.display()))
        .stderr_has("Read-only file system");
    assert!(
        !disk.outside(&fresh).exists(),
        "a render into a read-only folder made {}",
        fresh.display()
    );
}

#[test]
fn a_file_where_a_folder_belongs_is_an_error_naming_the_path() {
    a_file_where_a_folder_belongs(temp_dir().path());
}

/// A file size limit (RLIMIT_FSIZE of 2 blocks, 1 or 2 KiB) with SIGXFSZ ignored: a write returns
/// EFBIG and the render fails, naming the file.
fn a_file_size_limit(dir: &Path) {
    let (old_spec, new_spec) = specs(dir, &catmaid(), &renamed(&catmaid(), "catmaid-next"));
    let new = rendered(&new_spec, &dir.join("reference"));
    let out = dir.join("out");
    render(&old_spec, &out).code(0);
    let before = tree(&out);
    let output = limited(true, &new_spec, &out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "with a file size limit the render {}:\n{stderr}",
        shown(output.status)
    );
    assert!(
        stderr.contains(&format!("sitewright: cannot write {}/", out.display()))
            && stderr.contains("File too large"),
        "{stderr}"
    );
    let after = tree(&out);
    assert_whole("after a file size limit", &after, &[&before, &new], &[]);
    assert!(after["manifest.json"] == before["manifest.json"]);
}

/// `sitewright render spec -o out` under `ulimit -f 2`, with SIGXFSZ ignored or not.
fn limited(ignore_sigxfsz: bool, spec: &Path, out: &Path) -> std::process::Output {
    let trap = if ignore_sigxfsz { "trap '' XFSZ; " } else { "" };
    Command::new("sh")
        .arg("-c")
        .arg(format!("{trap}ulimit -f 2 && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_sitewright"))
        .arg("render")
        .arg(spec)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_full_disk_is_an_error_and_the_tree_stays_whole() {
    let dir = temp_dir();
    let mount_point = dir.path().join("disk");
    fs::create_dir(&mount_point).unwrap();
    let disk = Disk::tmpfs(&mount_point);
    // The new spec has 30 more web hosts: 60 more files than the few pages left free.
    let (old_spec, new_spec) = specs(
        dir.path(),
        &catmaid(),
        &with_hosts(&renamed(&catmaid(), "catmaid-next"), 0, 30),
    );
    let new = rendered(&new_spec, &dir.path().join("reference"));
    let out = mount_point.join("out");
    disk.render(&old_spec, &out).code(0);
    let before = tree(&disk.outside(&out));
    let filler = disk.outside(&mount_point.join("filler"));
    fill_leaving(&filler, 4);
    disk.render(&new_spec, &out)
        .code(2)
        .stderr_has(&format!("sitewright: cannot write {}/", out.display()))
        .stderr_has("No space left on device");
    let after = tree(&disk.outside(&out));
    assert_whole("after the disk filled up", &after, &[&before, &new], &[]);
    assert!(
        after["manifest.json"] == before["manifest.json"],
        "a render that failed wrote the manifest"
    );
    // With room again, the same render completes.
    fs::remove_file(&filler).unwrap();
    disk.render(&new_spec, &out).code(0);
    let after = tree(&disk.outside(&out));
    assert_whole("after a render with room", &after, &[&new, &before], &[]);
    assert!(
        new.iter()
            .all(|(path, bytes)| after.get(path) == Some(bytes))
    );
}

#[test]
fn a_file_size_limit_is_an_error_or_a_kill_and_the_tree_stays_whole() {
    let dir = temp_dir();
    a_file_size_limit(dir.path());
    // With SIGXFSZ at its default the kernel kills the process in the middle of a write(): the
    // tree stays whole, and the truncated temporary file is the one thing left.
    let (old_spec, new_spec) = (dir.path().join("old.yaml"), dir.path().join("new.yaml"));
    let new = tree(&dir.path().join("reference"));
    let out = dir.path().join("killed");
    render(&old_spec, &out).code(0);
    let before = tree(&out);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 2 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_sitewright"))
        .args(["render"])
        .arg(&new_spec)
        .arg("-o")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let status = child.wait().unwrap();
    let after = tree(&out);
    let temps = assert_whole("after SIGXFSZ", &after, &[&before, &new], &[pid]);
    match status.signal() {
        Some(SIGXFSZ) => {
            eprintln!("SIGXFSZ killed the render; temporary files left: {temps:?}");
            assert_eq!(temps.len(), 1, "one write was cut short");
        }
        // A parent that ignores SIGXFSZ passes that on, and sh cannot undo it: then EFBIG.
        _ => assert_eq!(
            status.code(),
            Some(2),
            "under a file size limit the render {}",
            shown(status)
        ),
    }
    assert!(after["manifest.json"] == before["manifest.json"]);
}

/// A link where a folder or a file of the tree goes: refused, and nothing written through it.
#[test]
fn a_link_in_the_output_folder_is_refused_and_nothing_is_written_through_it() {
    for (link, to_folder) in [
        ("db2", true),
        ("db1/etc", true),
        ("web1/etc/nginx/conf.d/catmaid.conf", false),
    ] {
        let dir = temp_dir();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::write(elsewhere.join("mine"), "not sitewright's\n").unwrap();
        let out = dir.path().join("out");
        let planted = out.join(link);
        fs::create_dir_all(planted.parent().unwrap()).unwrap();
        let target = if to_folder {
            elsewhere.clone()
        } else {
            elsewhere.join("mine")
        };
        symlink(&target, &planted).unwrap();
        render(&fixture("catmaid/site.yaml"), &out)
            .code(2)
            .stderr_has("sitewright: cannot write ")
            .stderr_has(&format!(
                "{} is a symbolic link; sitewright does not write through links",
                planted.display()
            ));
        let entries: Vec<String> = fs::read_dir(&elsewhere)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            entries,
            ["mine"],
            "{link}: something was written through it"
        );
        assert_eq!(
            fs::read_to_string(elsewhere.join("mine")).unwrap(),
            "not sitewright's\n",
            "{link}: a file was written through it"
        );
        assert!(
            fs::symlink_metadata(&planted)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{link}: the link was replaced"
        );
        assert!(
            !out.join("manifest.json").exists(),
            "{link}: a refused render wrote the manifest"
        );
    }
}

/// A temporary file an earlier run left, even one whose process id comes round again, is neither
/// in the way nor removed: each run's temporary names are its own.
#[test]
fn a_temporary_file_left_by_an_earlier_run_is_not_in_the_way() {
    let work = temp_dir();
    let out = work.path().join("out");
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&out)
        .run()
        .code(0);
    let folder = out.join("db1/etc/postgresql/16/main");
    let planted = folder.join(format!(
        ".postgresql.conf.sitewright-{}",
        std::process::id()
    ));
    fs::write(&planted, "left by a killed run").unwrap();
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(&out)
        .run()
        .code(0);
    assert_eq!(
        fs::read_to_string(&planted).unwrap(),
        "left by a killed run"
    );
}
