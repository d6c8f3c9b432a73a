#!/usr/bin/env python3
"""The benchmark of `sitewright diff --ssh` against Ansible's check mode (issue 19): sites of 10
and 100 hosts (benches/generate.py), each host a real OpenSSH server on its own loopback address
(127.0.0.2 …, on the first port from 2322 free on all of them) that serves the files `sitewright
render` wrote for it at their real paths, nothing differing.

    python3 benches/ssh.py                    # build the release binary, measure 10 and 100 hosts
    python3 benches/ssh.py 10 50 100          # other sizes (at most 250)
    python3 benches/ssh.py --no-ansible 100   # sitewright and the bare-ssh floor only
    python3 benches/ssh.py --ansible both     # Ansible as one playbook run and a run a host
    python3 benches/ssh.py --jobs 16 --runs 5 --ansible-runs 3 10 100

Run as root, after scripts/install-test-deps (its env file names sshd, ssh-keygen,
ansible-playbook and the deploy user). The release binary is built with cargo and taken from
$CARGO_TARGET_DIR (target/ by default).

Each host is `sshd -D` in its own private mount namespace (`unshare -m --propagation private`),
where the host's rendered folders are bind-mounted over the machine's /etc/postgresql,
/var/lib/postgresql, /etc/nginx, /etc/sysctl.d, /etc/cron.d, /srv and /etc/sitewright (each one
the host's tree has anything under; /etc/sitewright is made, empty, for the run if the machine
has none, and removed after). So sitewright (an inventory without `root:`) and Ansible read the
same files at their real paths, owned as the manifest says; the script checks over ssh that each
host sees its own files and that the machine's own folders are left as they were. Both log in
as the deploy user ($SITEWRIGHT_SSH_DEPLOY_USER, /bin/sh, passwordless sudo) and read through
sudo (`sudo: true` in sitewright's inventory, `become` in Ansible's), with the same ssh_config,
key and known_hosts. Secrets get a dummy value: `render --with-secrets` writes it, `diff
--with-secrets` compares it, and Ansible's templates get it in `sitewright_secrets`.

The figures of a size, each the median of fresh runs, wall time and client CPU (user + system of
the command and every process under it, ssh clients and ssh control masters included, the
script being their subreaper; the servers' share is not counted, and it runs on the same two
cores):

- `sitewright diff SPEC --ssh --with-secrets --jobs J` (5 runs); its exit status must be 0;
- `ansible-playbook --check --diff -f J` of `sitewright export ansible` (3 runs up to 10 hosts,
  1 above: a run of 100 hosts takes minutes), with pipelining on and Ansible's default ssh
  multiplexing (each run has its own ControlPath folder, and its masters are closed after it);
  every host's recap must say changed=0 unreachable=0 failed=0. The export writes one play per
  host, and Ansible runs plays one after another: -f J gives it no parallelism here, it checks
  the hosts one at a time. So `--ansible per-host` (or `both`) measures the other way to give
  it J at once: one `ansible-playbook --check --diff -l HOST` a host, J at a time (xargs -P J),
  each its own Ansible process; the ratio is taken to the faster Ansible figure;
- the floor: `ssh HOST true` to each host, J at once (xargs -P J; 5 runs), what OpenSSH alone
  costs here.

It prints one markdown table and exits 1 when 100 hosts take sitewright more than 3 s or when
sitewright is not 10 times faster than Ansible (saying which). Everything it starts is stopped
and its temporary folders removed, on an error or Ctrl-C too. Nothing here is a test: timings
belong in a benchmark, never in the test suite.
"""

import argparse
import ctypes
import hashlib
import grp
import json
import os
import pwd
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATE = ROOT / "benches" / "generate.py"
TARGET_100 = 3.0  # seconds, issue 19
TARGET_RATIO = 10.0  # times faster than Ansible's check mode, issue 19
# The machine's folders a host's tree is mounted over, when the tree has anything under them.
MOUNTED = ["/etc/postgresql", "/var/lib/postgresql", "/etc/nginx", "/etc/sysctl.d", "/etc/cron.d",
           "/srv", "/etc/sitewright"]
SECRET = "bench-dummy:secret"


def fail(message):
    raise SystemExit(f"benches/ssh.py: {message}")


def env_value(name):
    env = Path(os.environ.get("SITEWRIGHT_TEST_CACHE", "/var/cache/sitewright-test")) / "env"
    for line in env.read_text().splitlines() if env.exists() else []:
        if line.startswith(f"export {name}="):
            return shlex.split(line.split("=", 1)[1])[0]
    fail(f"{name} is not in {env}; run scripts/install-test-deps first")


def run(argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, **kw)


def binary():
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
    return (target if target.is_absolute() else ROOT / target) / "release" / "sitewright"


def free_port(addresses):
    """A port no one listens on at any of the addresses (another run may hold 2222)."""
    for port in range(2322, 2422):
        try:
            for address in addresses:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((address, port))
            return port
        except OSError:
            continue
    fail("no free port from 2322 to 2421 on the hosts' addresses")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folders):
    """Every entry under the machine's folders: path, type, mode, owner, size, mtime, content hash."""
    seen = {}
    for top in folders:
        for folder, dirs, files in os.walk(top):
            for name in dirs + files:
                p = os.path.join(folder, name)
                st = os.lstat(p)
                digest = sha256(p) if os.path.isfile(p) and not os.path.islink(p) else None
                seen[p] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, digest)
    return seen


# --- measuring a command with every process under it --------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36


def measure(argv, env=None, after=None, log=None):
    """Runs argv in a forked subreaper; returns (exit code, wall seconds, CPU seconds of argv and
    of every process under it, orphans included). `after` runs in that subreaper once argv has
    exited (closing ssh masters), outside the wall time; the orphans it ends are then reaped."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the subreaper
        try:
            os.close(read)
            _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
            out = open(log, "wb") if log else subprocess.DEVNULL
            start = time.perf_counter()
            child = subprocess.Popen([str(a) for a in argv], env=env, stdout=out,
                                     stderr=subprocess.STDOUT if log else subprocess.PIPE)
            stderr = b"" if log else child.stderr.read()
            child.wait()
            wall = time.perf_counter() - start
            if after:
                after()
            deadline = time.monotonic() + 15
            while True:  # reap every orphan that was under argv
                try:
                    got, _ = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if got == 0:
                    if time.monotonic() > deadline:
                        kids = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children")
                        for k in kids.read_text().split():
                            os.kill(int(k), signal.SIGKILL)
                    time.sleep(0.05)
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            os.write(write, json.dumps([child.returncode, wall, usage.ru_utime + usage.ru_stime,
                                        stderr[-4000:].decode(errors="replace")]).encode())
            os._exit(0)
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            os.write(write, json.dumps([-1, 0, 0, f"measuring failed: {e!r}"]).encode())
            os._exit(1)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    code, wall, cpu, stderr = json.loads(data)
    return code, wall, cpu, stderr


# --- the site, its tree and its export -----------------------------------------------------------

def site_of(work, n):
    """Generates the spec of n hosts, exports it to Ansible, renders it with the dummy secrets and
    gives its files their owners. Returns spec, tree, export folder, hosts, files, env."""
    sitewright = binary()
    spec = work / "site.yaml"
    spec.write_text(run([sys.executable, GENERATE, n], capture_output=True, text=True).stdout)
    export = work / "ansible"
    run([sitewright, "export", "ansible", spec, "-o", export], stdout=subprocess.DEVNULL)
    names = set()
    for template in (export / "templates").rglob("*.j2"):
        names |= set(re.findall(r"sitewright_secrets\['(\w+)'\]", template.read_text()))
        names |= set(re.findall(r"sitewright_secrets\.(\w+)", template.read_text()))
    env = dict(os.environ, **{name.upper(): SECRET for name in names})
    (export / "secrets.yml").write_text(
        "sitewright_secrets:\n" + "".join(f"  {name}: {json.dumps(SECRET)}\n" for name in sorted(names)))
    tree = work / "tree"
    run([sitewright, "render", "--with-secrets", spec, "-o", tree], stdout=subprocess.DEVNULL, env=env)
    manifest = json.loads((tree / "manifest.json").read_text())
    hosts = sorted({f["host"] for f in manifest["files"]})
    for f in manifest["files"]:
        os.chown(tree / f["host"] / f["path"].lstrip("/"), pwd.getpwnam(f["owner"]).pw_uid,
                 grp.getgrnam(f["group"]).gr_gid)
    return spec, tree, export, hosts, manifest, env


# --- the servers ---------------------------------------------------------------------------------

class Lab:
    """N sshd on 127.0.0.2 …, each in its own mount namespace showing its host's tree, with one
    client key, one ssh_config and one known_hosts."""

    def __init__(self, work, user, n):
        self.work, self.user = work, user
        self.port = free_port([f"127.0.0.{i + 2}" for i in range(n)])
        self.sshd, keygen = env_value("SITEWRIGHT_SSHD"), env_value("SITEWRIGHT_SSH_KEYGEN")
        self.servers = []
        self.addresses = {}
        run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", work / "client"])
        run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", work / "host_key"])
        shutil.copy(work / "client.pub", work / "authorized_keys")
        os.chmod(work / "authorized_keys", 0o644)
        self.config = work / "ssh_config"
        self.known = work / "known_hosts"
        self.config.write_text("")
        self.known.write_text("")
        Path("/run/sshd").mkdir(exist_ok=True)

    def host(self, name, index, tree):
        address = f"127.0.0.{index + 2}"
        self.addresses[name] = address
        config = self.work / f"{name}.sshd_config"
        config.write_text(
            f"ListenAddress {address}:{self.port}\nHostKey {self.work}/host_key\n"
            f"PidFile none\nAuthorizedKeysFile {self.work}/authorized_keys\n"
            f"AllowUsers {self.user}\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "MaxStartups 500\nMaxSessions 500\n"
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n"
        )
        mounts = []
        for real in MOUNTED:
            source = tree / real.lstrip("/")
            if source.is_dir() and any(source.iterdir()):
                mounts.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(real)}")
        script = " && ".join(mounts + [f"exec {shlex.quote(self.sshd)} -D -e -f {shlex.quote(str(config))}"])
        log = open(self.work / f"{name}.sshd.log", "wb")
        self.servers.append(subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True))
        log.close()
        with self.config.open("a") as f:
            f.write(f"Host {name} {address}\n  HostName {address}\n  Port {self.port}\n  User {self.user}\n"
                    f"  IdentityFile {self.work}/client\n  IdentitiesOnly yes\n"
                    f"  UserKnownHostsFile {self.known}\n  GlobalKnownHostsFile /dev/null\n"
                    "  StrictHostKeyChecking yes\n  BatchMode yes\n")
        key = " ".join((self.work / "host_key.pub").read_text().split()[:2])
        with self.known.open("a") as f:
            f.write(f"[{address}]:{self.port} {key}\n")

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        for name, address in self.addresses.items():
            while True:
                for server in self.servers:
                    if server.poll() is not None:
                        fail(f"an sshd exited ({server.returncode}): see {self.work}/*.sshd.log:\n"
                             + "".join(p.read_text() for p in self.work.glob("*.sshd.log")))
                try:
                    socket.create_connection((address, self.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        fail(f"{name}'s sshd is not listening on {address}:{self.port}")
                    time.sleep(0.05)

    def stop(self):
        for server in self.servers:
            try:
                os.killpg(server.pid, signal.SIGKILL)  # sshd and its sessions
            except ProcessLookupError:
                pass
        for server in self.servers:
            server.wait()


def verify(lab, tree, hosts, manifest, jobs):
    """Over ssh, as the deploy user through sudo: each host's files are its own tree's, byte for
    byte, with the manifest's mode and owner, and its manifest is the one render wrote."""
    by_host = {h: [] for h in hosts}
    for f in manifest["files"]:
        by_host[f["host"]].append(f)

    def check(host):
        files = by_host[host] + [{"path": "/etc/sitewright/manifest.json", "mode": "0644",
                                  "owner": "root", "group": "root"}]
        paths = " ".join(shlex.quote(f["path"]) for f in files)
        out = run(["ssh", "-F", lab.config, host,
                   f"sudo -n sha256sum {paths} && sudo -n stat -c '%n %a %U %G' {paths}"],
                  capture_output=True, text=True).stdout.splitlines()
        sums = dict(reversed(line.split(None, 1)) for line in out[:len(files)])
        stats = {line.split()[0]: line.split()[1:] for line in out[len(files):]}
        for f in files:
            path = f["path"]
            expected = sha256(tree / host / path.lstrip("/"))
            if sums.get(path) != expected:
                fail(f"{host} does not see its own {path} over ssh")
            if stats.get(path) != [f["mode"].lstrip("0") or "0", f["owner"], f["group"]]:
                fail(f"{host}:{path} is {stats.get(path)}, the manifest says {f['mode']} "
                     f"{f['owner']}:{f['group']}")

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(check, hosts))


# --- the three commands --------------------------------------------------------------------------

def ansible_inventory(work, lab, hosts):
    inventory = work / "inventory.ini"
    inventory.write_text(
        "[all]\n" + "".join(f"{h} ansible_host={lab.addresses[h]}\n" for h in hosts) +
        "\n[all:vars]\n"
        f"ansible_port={lab.port}\nansible_user={lab.user}\nansible_become=true\n"
        "ansible_python_interpreter=/usr/bin/python3\n"
        f"ansible_ssh_common_args='-F {lab.config}'\n"
        f"ansible_ssh_private_key_file={work}/client\n")
    return inventory


def ansible_run(work, export, inventory, hosts, jobs, env, k, per_host=False):
    """One `ansible-playbook --check --diff -f J` run, or with per_host one `ansible-playbook
    --check --diff -l HOST` a host, J at once (xargs -P J); with its own ControlPath folder:
    (wall, cpu)."""
    k = f"{'h' if per_host else 'p'}{k}"
    home = work / f"ansible-home-{k}"
    control = work / f"cp{k}"
    for d in (home, home / "tmp", control):
        d.mkdir(parents=True)
    remote_tmp = work / "remote-tmp"
    remote_tmp.mkdir(mode=0o1777, exist_ok=True)
    os.chmod(remote_tmp, 0o1777)
    env = dict(env, ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
               ANSIBLE_REMOTE_TEMP=str(remote_tmp), ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True",
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(control), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_CONFIG=str(work / "ansible.cfg"))
    log = work / f"ansible-{k}.log"
    (work / "ansible.cfg").write_text("[defaults]\n")  # no ansible.cfg of the machine's

    def close_masters():
        for sock in control.iterdir():
            subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "master"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    playbook = [env_value("SITEWRIGHT_ANSIBLE_PLAYBOOK"), "-i", inventory, "--check", "--diff",
                "-e", f"@{export / 'secrets.yml'}", export / "site.yml"]
    logs = {h: log for h in hosts}
    if per_host:
        (work / k).mkdir()
        logs = {h: work / k / f"{h}.log" for h in hosts}
        one = work / f"{k}.sh"
        one.write_text(f'exec {shlex.join(map(str, playbook))} -l "$1" >{shlex.quote(str(work / k))}/"$1".log 2>&1\n')
        argv = ["sh", "-c", f"xargs -P {jobs} -n 1 sh {shlex.quote(str(one))} < {shlex.quote(str(work / 'hosts.txt'))}"]
    else:
        argv = playbook + ["-f", jobs]
    old = os.getcwd()
    os.chdir(export)
    try:
        code, wall, cpu, _ = measure(argv, env=env, after=close_masters, log=log)
    finally:
        os.chdir(old)
    bad = []
    for h in hosts:
        text = logs[h].read_text(errors="replace") if logs[h].exists() else ""
        recap = text.split("PLAY RECAP", 1)[-1]
        m = re.search(rf"^{re.escape(h)}\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                      recap, re.M)
        if not m or m.groups() != ("0", "0", "0"):
            bad.append(h)
    if code != 0 or bad:
        log = logs[bad[0]] if bad and logs[bad[0]].exists() else log
        text = log.read_text(errors="replace")
        fail(f"ansible-playbook --check --diff exited {code}; hosts not changed=0 unreachable=0 "
             f"failed=0: {', '.join(bad[:10]) or 'none'}; its output ({log}) ends:\n{text[-3000:]}")
    return wall, cpu


def ansible_runs_of(args, n):
    return args.ansible_runs or (3 if n <= 10 else 1)


def medians(runs):
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def one_size(n, args, user, jobs):
    sitewright = binary()
    work = Path(tempfile.mkdtemp(prefix="swb-"))  # short: ControlPath sockets live under it
    os.chmod(work, 0o755)
    made = [d for d in MOUNTED if not os.path.exists(d)]
    lab = None
    try:
        for d in made:  # a mount point, empty and only for the run
            os.mkdir(d, 0o755)
        before = snapshot(MOUNTED)
        spec, tree, export, hosts, manifest, env = site_of(work, n)
        lab = Lab(work, user, len(hosts))
        for i, h in enumerate(hosts):
            lab.host(h, i, tree / h)
        lab.wait_listening()
        verify(lab, tree, hosts, manifest, jobs)
        if snapshot(MOUNTED) != before:
            fail("the machine's own folders changed outside the hosts' namespaces")
        inventory = work / "inventory.yaml"
        inventory.write_text("hosts:\n" + "".join(f"  {h}: {{ sudo: true }}\n" for h in hosts))

        argv = [sitewright, "diff", spec, "--ssh", "--with-secrets", "--ssh-config", lab.config,
                "--inventory", inventory, "--jobs", jobs, "--timeout", "60"]
        runs = []
        for _ in range(args.runs):
            code, wall, cpu, stderr = measure(argv, env=env)
            if code != 0:
                fail(f"{' '.join(map(str, argv))} exited {code} (0 is nothing differing):\n{stderr}")
            runs.append((wall, cpu))
        sw = medians(runs)

        hostlist = work / "hosts.txt"  # for the floor and Ansible per host
        hostlist.write_text("".join(f"{h}\n" for h in hosts))
        floor_argv = ["sh", "-c", f"xargs -P {jobs} -I HOST ssh -F {lab.config} HOST true < {hostlist}"]
        runs = []
        for _ in range(args.runs):
            code, wall, cpu, stderr = measure(floor_argv)
            if code != 0:
                fail(f"the bare ssh floor exited {code}:\n{stderr}")
            runs.append((wall, cpu))
        floor = medians(runs)

        ans = {}
        ansible_inv = ansible_inventory(work, lab, hosts)
        for per_host in (False, True):
            if args.ansible in ("both", "per-host" if per_host else "playbook"):
                ans[per_host] = medians([
                    ansible_run(work, export, ansible_inv, hosts, jobs, env, k, per_host)
                    for k in range(ansible_runs_of(args, n))])
        files = len(manifest["files"])
        if snapshot(MOUNTED) != before:
            fail("the machine's own folders changed outside the hosts' namespaces")
        return files, sw, ans, floor
    finally:
        if lab:
            lab.stop()
        shutil.rmtree(work, ignore_errors=True)
        for d in made:
            os.rmdir(d)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10, 100])
    parser.add_argument("--jobs", type=int, default=16, help="sitewright --jobs and ansible -f (16)")
    parser.add_argument("--runs", type=int, default=5, help="runs of sitewright and of the floor (5)")
    parser.add_argument("--ansible-runs", type=int,
                        help="runs of ansible-playbook (3 up to 10 hosts, 1 above)")
    parser.add_argument("--ansible", choices=["playbook", "per-host", "both", "none"],
                        default="playbook",
                        help="ansible-playbook -f J over all hosts (playbook, the default), one "
                             "ansible-playbook -l HOST a host J at once (per-host), both, or none")
    parser.add_argument("--no-ansible", dest="ansible", action="store_const", const="none",
                        help="the same as --ansible none")
    args = parser.parse_args()
    if os.geteuid() != 0:
        fail("run as root (sshd runs as root, and the files get their owners)")
    if any(n > 250 or n < 1 for n in args.sizes):
        fail("1 to 250 hosts, one loopback address each")
    user = env_value("SITEWRIGHT_SSH_DEPLOY_USER")
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    # Ctrl-C and a kill end the run through the cleanup of `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    def cell(figure):
        return f"{figure[0]:.2f} s ({figure[1]:.2f} s CPU)" if figure else "not run"

    rows, missed, ansible_runs = [], [], []
    for n in args.sizes:
        files, sw, ans, floor = one_size(n, args, user, args.jobs)
        ansible_runs.append(f"{ansible_runs_of(args, n)} at {n} hosts")
        ratio = min(a[0] for a in ans.values()) / sw[0] if ans else None
        rows.append(f"| {n} | {files} | {cell(sw)} | {cell(ans.get(False))} | "
                    + (f"{cell(ans.get(True))} | " if args.ansible in ("per-host", "both") else "")
                    + (f"{ratio:.1f}x" if ratio else "–") + f" | {cell(floor)} |")
        if n == 100 and sw[0] > TARGET_100:
            missed.append(f"100 hosts in at most {TARGET_100:g} s (took {sw[0]:.2f} s)")
        if ratio is not None and ratio < TARGET_RATIO:
            missed.append(f"{n} hosts: at least {TARGET_RATIO:g}x faster than Ansible's check mode "
                          f"(is {ratio:.1f}x)")
    print(f"{os.cpu_count()} cores, --jobs/-f/-P {args.jobs}, nothing differing; wall time (client "
          f"CPU); median of {args.runs} runs (sitewright, floor); Ansible: "
          + ("not run" if args.ansible == "none" else ", ".join(ansible_runs) + " (runs)"))
    print()
    per_host = args.ansible in ("per-host", "both")
    print(f"| hosts | files | sitewright diff --ssh | ansible-playbook --check --diff (-f {args.jobs}) | "
          + (f"ansible-playbook -l HOST, a process a host (-P {args.jobs}) | " if per_host else "")
          + "ratio (fastest Ansible) | floor (bare ssh) |")
    print("|---:|---:|---:|---:|" + ("---:|" if per_host else "") + "---:|---:|")
    for row in rows:
        print(row)
    if missed:
        print()
        for m in missed:
            print(f"missed: {m}")
        sys.exit(1)


if __name__ == "__main__":
    main()
