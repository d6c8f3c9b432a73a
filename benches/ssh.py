#!/usr/bin/env python3
"""The benchmark of `sitewright diff --ssh` against Ansible's check mode (issue 19): sites of 10
and 100 hosts (benches/generate.py), each host a real OpenSSH server on its own loopback address
(127.0.0.2 …, on the first port from 2322 free on all of them) that serves the files `sitewright
render` wrote for it at their real paths, nothing differing.

    python3 benches/ssh.py                    # build the release binary, measure 10 and 100 hosts
    python3 benches/ssh.py 10 50 100          # other sizes (at most 250)
    python3 benches/ssh.py --no-ansible 100   # sitewright and the bare-ssh floor only
    python3 benches/ssh.py --jobs 16 --runs 5 --ansible-runs 3 10 100
    python3 benches/ssh.py --logs /tmp/logs 10   # keep each ansible-playbook run's output

Run as root, after scripts/install-test-deps (its env file names sshd, ssh-keygen,
ansible-playbook and the deploy user). The release binary is built with cargo and taken from
$CARGO_TARGET_DIR (target/ by default).

Each host is `sshd -D` in its own private mount namespace (`unshare -m --propagation private`),
where the host's tree is bind-mounted over the machine's /etc/postgresql, /var/lib/postgresql,
/etc/nginx, /etc/sysctl.d, /etc/cron.d, /srv, /etc/sitewright, /var/log/postgresql, /opt/backup
and /usr/local/lib/sitewright (each one the host's tree has; those the machine has not are made,
empty, for the run and removed after). The tree is what `render` wrote for the host, owned as the
manifest says, plus what the export's roles leave on a host they have run on: the folders they
make with their owners and modes (data directory, configuration folder, backup folder, pg_ctl's
log folder), the data directory's PG_VERSION (a cluster is there), the nginx check script. So
sitewright (an inventory without `root:`) and Ansible read the same files at their real paths;
the script checks over ssh that each host sees its own files and that the machine's own folders
are left as they were. Both log in as the deploy user ($SITEWRIGHT_SSH_DEPLOY_USER, /bin/sh,
passwordless sudo) and read through sudo (`sudo: true` in sitewright's inventory, `become` in
Ansible's), with the same ssh_config, key and known_hosts. Secrets get a dummy value: `render
--with-secrets` writes it, `diff --with-secrets` compares it, and Ansible reads it from
group_vars/all/vault.yml, written from the names secrets.example.yml lists and encrypted with
ansible-vault, as secrets.example.yml tells a user to.

Ansible runs the export as a user would, from its folder: `ansible-playbook site.yml --check
--diff -f J` with the export's ansible.cfg (pipelining) and inventory.yml (its groups, which
site.yml's plays are for), and a second inventory after it with what the lab needs: each host's
ansible_host (its loopback address, over the spec's), port, user, key, ssh_config and become, and
the roles' defaults for hosts without an init system, as a site without one would set them:
postgresql_control pg_ctl, nginx_control signal, django_control none (the hosts run no systemd,
PostgreSQL or nginx). One task cannot run as it is there: the primary's `Create the roles the
spec names` asks the server through psql, and with no server it fails (`psql failed: psql:
error: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed`; `Create the
databases the spec names` after it asks the same way); the roles have no tags to leave them out. So
postgresql_psql (a role default) names a stand-in on the primary that answers those two questions
as a server on which the roles and databases already are as the spec says, and fails on anything
else: the tasks run their modules in full (the module checks the password against a SCRAM
verifier), but the connection to a server, which a real run pays, is not measured. In check mode
Ansible runs no command task (pg_ctl status, pg_controldata, the nginx pid check), on these hosts
as on real ones; no handler runs since nothing changes.

The figures of a size, each the median of fresh runs, wall time and client CPU (user + system of
the command and every process under it, ssh clients and ssh control masters included, the
script being their subreaper; the servers' share is not counted, and it runs on the same two
cores):

- `sitewright diff SPEC --ssh --with-secrets --jobs J` (5 runs); its exit status must be 0;
- `ansible-playbook site.yml --check --diff -f J` of `sitewright export ansible` (3 runs up to 10
  hosts, 1 above: a run of 100 hosts takes minutes), with Ansible's default ssh multiplexing
  (each run has its own ControlPath folder, and its masters are closed after it); every host's
  recap must say changed=0 unreachable=0 failed=0. site.yml has a play per group (kernel
  settings, primary, backups, nginx, replicas, Django, manifest), run one after another; within a
  play -f J checks up to J hosts at once;
- the floor: `ssh HOST true` to each host, J at once (xargs -P J; 5 runs), what OpenSSH alone
  costs here.

It prints one markdown table and exits 1 when 100 hosts take sitewright more than 3 s or when
sitewright is not 10 times faster than Ansible (saying which). Everything it starts is stopped
and its temporary folders removed, on an error or Ctrl-C too. Nothing here is a test: timings
belong in a benchmark, never in the test suite.
"""

import argparse
import base64
import ctypes
import hashlib
import hmac
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
# The machine's folders a host's tree is mounted over, each one the tree has.
MOUNTED = ["/etc/postgresql", "/var/lib/postgresql", "/etc/nginx", "/etc/sysctl.d", "/etc/cron.d",
           "/srv", "/etc/sitewright", "/var/log/postgresql", "/opt/backup", "/usr/local/lib/sitewright"]
NGINX_CHECK = "/usr/local/lib/sitewright/nginx-check"  # the nginx role's nginx_check_script
SECRET = "bench-dummy:secret"
# The roles' defaults for hosts without an init system (the lab's sshd run no systemd, PostgreSQL
# or nginx): pg_ctl and signals instead of the service module, no Django service to restart.
# postgresql_psql: the stand-in for psql below, since no server runs on the hosts.
PSQL = "/usr/local/lib/sitewright/bench-psql"
CONTROLS = {"postgresql_control": "pg_ctl", "nginx_control": "signal", "django_control": "none",
            "postgresql_psql": PSQL}
# The primary's role tasks ask the server, through psql, for each role's and database's state.
# The stand-in answers the two questions as a server on which they already are as the spec says
# (each role's password the dummy secret, as a SCRAM-SHA-256 verifier the module checks), and
# fails on anything else.
PSQL_STANDIN = """#!/usr/bin/python3
# benches/ssh.py's stand-in for psql (postgresql_psql): no PostgreSQL runs on the bench's hosts.
import re, sys
ROLES, DATABASES, VERIFIER = {roles!r}, {databases!r}, {verifier!r}
sql = sys.stdin.read()
quoted = r"'((?:[^']|'')*)'"
role = re.search(r"from pg_authid where rolname = " + quoted, sql)
database = re.search(r"from pg_database where datname = " + quoted, sql)
if role and role.group(1).replace("''", "'") in ROLES:
    print("t|" + ("t" if ROLES[role.group(1).replace("''", "'")] else "f") + "|" + VERIFIER)
elif database and database.group(1).replace("''", "'") in DATABASES:
    print(DATABASES[database.group(1).replace("''", "'")])
else:
    sys.exit("bench-psql: not a question the bench answers: " + sql)
"""


def scram_verifier(password, salt=b"sitewright-bench", iterations=4096):
    """PostgreSQL's SCRAM-SHA-256 verifier of an ASCII password."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client).digest())}:{b64(server)}"


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
    gives its files their owners; writes the export's vault of the secrets secrets.example.yml
    names, and gives each host's tree the state a host the export has run on has (see
    `deployed`). Returns spec, tree, export folder, hosts, files, env."""
    sitewright = binary()
    spec = work / "site.yaml"
    spec.write_text(run([sys.executable, GENERATE, n], capture_output=True, text=True).stdout)
    export = work / "ansible"
    run([sitewright, "export", "ansible", spec, "-o", export], stdout=subprocess.DEVNULL)
    example = (export / "secrets.example.yml").read_text()
    names = re.findall(r"^  (\w+):", example.split("sitewright_secrets:", 1)[1], re.M)
    env = dict(os.environ, **{name.upper(): SECRET for name in names})
    vault = export / "group_vars" / "all" / "vault.yml"  # as secrets.example.yml says
    vault.write_text(
        "sitewright_secrets:\n" + "".join(f"  {name}: {json.dumps(SECRET)}\n" for name in names))
    (work / "vault-password").write_text("bench\n")
    run([Path(env_value("SITEWRIGHT_ANSIBLE_PLAYBOOK")).with_name("ansible-vault"), "encrypt",
         "--vault-password-file", work / "vault-password", vault], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    tree = work / "tree"
    run([sitewright, "render", "--with-secrets", spec, "-o", tree], stdout=subprocess.DEVNULL, env=env)
    manifest = json.loads((tree / "manifest.json").read_text())
    hosts = sorted({f["host"] for f in manifest["files"]})
    for f in manifest["files"]:
        os.chown(tree / f["host"] / f["path"].lstrip("/"), pwd.getpwnam(f["owner"]).pw_uid,
                 grp.getgrnam(f["group"]).gr_gid)
    for h in hosts:
        deployed(export, h, tree / h)
    return spec, tree, export, hosts, manifest, env


def deployed(export, host, tree):
    """What the roles leave on a host besides the rendered files, in the host's tree, so that a
    check run finds nothing to do: the folders they make with their owners and modes (the data
    directory, the configuration folder, the backup folder, pg_ctl's log folder), the nginx
    check script, and the data directory's PG_VERSION (a cluster is there: no initdb); on the
    primary, the stand-in for psql (PSQL_STANDIN)."""
    import yaml  # PyYAML, which ansible-core needs too

    facts = yaml.safe_load((export / "host_vars" / f"{host}.yml").read_text())

    def folder(path, owner, mode):
        if not any(path == m or path.startswith(m + "/") for m in MOUNTED):
            fail(f"{host}: {path} is under none of the mounted folders")
        d = tree / path.lstrip("/")
        d.mkdir(parents=True, exist_ok=True)
        os.chown(d, pwd.getpwnam(owner).pw_uid, grp.getgrnam(owner).gr_gid)
        os.chmod(d, mode)
        return d

    if "sitewright_postgresql" in facts:
        pg = facts["sitewright_postgresql"]
        data = folder(pg["data_directory"], "postgres", 0o700)
        (data / "PG_VERSION").write_text(f"{pg['version']}\n")
        os.chown(data / "PG_VERSION", pwd.getpwnam("postgres").pw_uid, grp.getgrnam("postgres").gr_gid)
        os.chmod(data / "PG_VERSION", 0o600)
        folder(pg["config_directory"], "postgres", 0o755)
        folder("/var/log/postgresql", "postgres", 0o2775)  # postgresql_control: pg_ctl
        if pg["roles"] or pg["databases"]:
            folder(str(Path(PSQL).parent), "root", 0o755)
            standin = tree / PSQL.lstrip("/")
            standin.write_text(PSQL_STANDIN.format(
                roles={r["name"]: r["replication"] for r in pg["roles"]},
                databases={d["name"]: d["owner"] for d in pg["databases"]},
                verifier=scram_verifier(SECRET)))
            os.chmod(standin, 0o755)
    if "sitewright_backup" in facts:
        folder(facts["sitewright_backup"]["directory"], "postgres", 0o700)
    if "sitewright_nginx" in facts:
        folder(str(Path(NGINX_CHECK).parent), "root", 0o755)
        shutil.copy(export / "roles" / "nginx" / "files" / "nginx-check", tree / NGINX_CHECK.lstrip("/"))
        os.chmod(tree / NGINX_CHECK.lstrip("/"), 0o755)


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
            if source.is_dir():
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
    """The lab's side of the inventory, given after the export's own inventory.yml (its groups):
    where each host is (ansible_host overrides the spec's address), how to log in, and how the
    roles control services on hosts that run no init system (the roles' defaults)."""
    inventory = work / "lab-inventory.yml"
    inventory.write_text(json.dumps({"all": {
        "hosts": {h: {"ansible_host": lab.addresses[h]} for h in hosts},
        "vars": {
            "ansible_port": lab.port, "ansible_user": lab.user, "ansible_become": True,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": f"-F {lab.config}",
            "ansible_ssh_private_key_file": str(work / "client"),
            **CONTROLS,
        },
    }}, indent=2) + "\n")
    return inventory


def ansible_run(work, export, inventory, hosts, jobs, env, k, logs=None):
    """One `ansible-playbook site.yml --check --diff -f J` run, with the export's ansible.cfg and
    inventory.yml, the lab's inventory after it, and its own ControlPath folder: (wall, cpu)."""
    home = work / f"ansible-home-{k}"
    control = work / f"cp{k}"
    for d in (home, home / "tmp", control):
        d.mkdir(parents=True)
    remote_tmp = work / "remote-tmp"
    remote_tmp.mkdir(mode=0o1777, exist_ok=True)
    os.chmod(remote_tmp, 0o1777)
    env = dict(env, ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
               ANSIBLE_REMOTE_TEMP=str(remote_tmp), ANSIBLE_NOCOLOR="1",
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(control), ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_CONFIG=str(export / "ansible.cfg"))
    log = work / f"ansible-{k}.log"

    def close_masters():
        for sock in control.iterdir():
            subprocess.run(["ssh", "-F", "/dev/null", "-o", f"ControlPath={sock}", "-O", "exit", "master"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    argv = [env_value("SITEWRIGHT_ANSIBLE_PLAYBOOK"), "-i", export / "inventory.yml", "-i", inventory,
            "--vault-password-file", work / "vault-password", "--check", "--diff", "-f", jobs,
            export / "site.yml"]
    old = os.getcwd()
    os.chdir(export)
    try:
        code, wall, cpu, _ = measure(argv, env=env, after=close_masters, log=log)
    finally:
        os.chdir(old)
    text = log.read_text(errors="replace")
    if logs:
        shutil.copy(log, Path(logs) / f"ansible-{len(hosts)}-hosts-run-{k + 1}.log")
    recap = text.split("PLAY RECAP", 1)[-1]
    bad = []
    for h in hosts:
        m = re.search(rf"^{re.escape(h)}\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                      recap, re.M)
        if not m or m.groups() != ("0", "0", "0"):
            bad.append(h)
    if code != 0 or bad:
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

        hostlist = work / "hosts.txt"  # for the floor
        hostlist.write_text("".join(f"{h}\n" for h in hosts))
        floor_argv = ["sh", "-c", f"xargs -P {jobs} -I HOST ssh -F {lab.config} HOST true < {hostlist}"]
        runs = []
        for _ in range(args.runs):
            code, wall, cpu, stderr = measure(floor_argv)
            if code != 0:
                fail(f"the bare ssh floor exited {code}:\n{stderr}")
            runs.append((wall, cpu))
        floor = medians(runs)

        ans = None
        if args.ansible:
            ansible_inv = ansible_inventory(work, lab, hosts)
            ans = medians([ansible_run(work, export, ansible_inv, hosts, jobs, env, k, args.logs)
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
    parser.add_argument("--no-ansible", dest="ansible", action="store_false",
                        help="sitewright and the floor only")
    parser.add_argument("--logs", metavar="DIR",
                        help="copy each ansible-playbook run's output into DIR")
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
        ratio = ans[0] / sw[0] if ans else None
        rows.append(f"| {n} | {files} | {cell(sw)} | {cell(ans)} | "
                    + (f"{ratio:.1f}x" if ratio else "–") + f" | {cell(floor)} |")
        if n == 100 and sw[0] > TARGET_100:
            missed.append(f"100 hosts in at most {TARGET_100:g} s (took {sw[0]:.2f} s)")
        if ratio is not None and ratio < TARGET_RATIO:
            missed.append(f"{n} hosts: at least {TARGET_RATIO:g}x faster than Ansible's check mode "
                          f"(is {ratio:.1f}x)")
    print(f"{os.cpu_count()} cores, --jobs/-f/-P {args.jobs}, nothing differing; wall time (client "
          f"CPU); median of {args.runs} runs (sitewright, floor); Ansible: "
          + (", ".join(ansible_runs) + " (runs)" if args.ansible else "not run"))
    print()
    print(f"| hosts | files | sitewright diff --ssh | ansible-playbook --check --diff (-f {args.jobs}) | "
          "ratio | floor (bare ssh) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)
    if missed:
        print()
        for m in missed:
            print(f"missed: {m}")
        sys.exit(1)


if __name__ == "__main__":
    main()
