#!/usr/bin/env python3
"""The benchmark of `sitewright diff --ssh`: sites of 10 and 100 hosts (benches/generate.py), each
host a real OpenSSH server on its own loopback address (127.0.0.2 …) with the files
`sitewright render` wrote for it as its tree (`root:` in the inventory), as the tests' ssh lab
(tests/it/support/ssh.rs) runs them.

    python3 benches/ssh.py              # build the release binary, measure 10 and 100 hosts
    python3 benches/ssh.py 10 50 100    # other sizes (at most 250)

Run as root, after scripts/install-test-deps (sshd runs as root, and the files get their owners).
Each figure is the median of 5 fresh runs: wall time and CPU time (user + system, of sitewright
and the ssh clients it runs; the servers' share is not counted), with nothing differing, so
every file of every host is read and compared. Nothing here is a test: timings belong in a
benchmark, never in the test suite.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / "target" / "release" / "sitewright"
GENERATE = ROOT / "benches" / "generate.py"
SIZES = [int(a) for a in sys.argv[1:]] or [10, 100]
RUNS = 5
TARGET_100 = 3.0  # seconds, issue 19


def env_value(name):
    env = Path(os.environ.get("SITEWRIGHT_TEST_CACHE", "/var/cache/sitewright-test")) / "env"
    for line in env.read_text().splitlines() if env.exists() else []:
        if line.startswith(f"export {name}="):
            return line.split("=", 1)[1]
    sys.exit(f"benches/ssh.py: {name} is not in {env}; run scripts/install-test-deps first")


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


class Lab:
    """N sshd on 127.0.0.2 … with one client key and one ssh_config."""

    def __init__(self, work, sshd, keygen):
        self.work, self.sshd, self.keygen = work, sshd, keygen
        self.servers = []
        run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", work / "client"])
        run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", work / "host_key"])
        shutil.copy(work / "client.pub", work / "authorized_keys")
        self.config = work / "ssh_config"
        self.known = work / "known_hosts"
        self.config.write_text("")
        self.known.write_text("")
        Path("/run/sshd").mkdir(exist_ok=True)

    def host(self, name, index):
        address = f"127.0.0.{index + 2}"
        port = 2222
        config = self.work / f"{name}.sshd_config"
        config.write_text(
            f"ListenAddress {address}:{port}\nHostKey {self.work}/host_key\n"
            f"PidFile {self.work}/{name}.pid\nAuthorizedKeysFile {self.work}/authorized_keys\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
            "MaxStartups 500\nMaxSessions 500\n"
            "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org\n"
        )
        self.servers.append(subprocess.Popen([self.sshd, "-D", "-e", "-f", config],
                                             stderr=subprocess.DEVNULL))
        with self.config.open("a") as f:
            f.write(f"Host {name}\n  HostName {address}\n  Port {port}\n  User root\n"
                    f"  IdentityFile {self.work}/client\n  IdentitiesOnly yes\n"
                    f"  UserKnownHostsFile {self.known}\n  GlobalKnownHostsFile /dev/null\n"
                    "  StrictHostKeyChecking yes\n  BatchMode yes\n")
        key = " ".join((self.work / "host_key.pub").read_text().split()[:2])
        with self.known.open("a") as f:
            f.write(f"[{address}]:{port} {key}\n")

    def stop(self):
        for server in self.servers:
            server.kill()
            server.wait()


def site_of(work, n):
    spec = work / "site.yaml"
    spec.write_text(run([sys.executable, GENERATE, str(n)], capture_output=True, text=True).stdout)
    tree = work / "tree"
    run([BINARY, "render", spec, "-o", tree], stdout=subprocess.DEVNULL)
    manifest = json.loads((tree / "manifest.json").read_text())
    hosts = sorted({f["host"] for f in manifest["files"]})
    for f in manifest["files"]:
        path = tree / f["host"] / f["path"].lstrip("/")
        os.chown(path, int(run(["id", "-u", f["owner"]], capture_output=True, text=True).stdout),
                 int(run(["getent", "group", f["group"]], capture_output=True,
                         text=True).stdout.split(":")[2]))
    return spec, tree, hosts, len(manifest["files"])


def measure(argv):
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"benches/ssh.py: {' '.join(map(str, argv))} exited {code}: "
                 f"{process.stderr.read().decode()}")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    if os.geteuid() != 0:
        sys.exit("benches/ssh.py: run as root (sshd runs as root)")
    if any(n > 250 for n in SIZES):
        sys.exit("benches/ssh.py: at most 250 hosts, one loopback address each")
    run(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
    sshd, keygen = env_value("SITEWRIGHT_SSHD"), env_value("SITEWRIGHT_SSH_KEYGEN")
    print(f"sitewright diff --ssh, {os.cpu_count()} cores, median of {RUNS} runs, nothing differing")
    print()
    print("| hosts | files | wall | CPU (sitewright and ssh) |")
    print("|---:|---:|---:|---:|")
    missed = False
    for n in SIZES:
        with tempfile.TemporaryDirectory(prefix="sitewright-ssh-bench-") as work:
            work = Path(work)
            os.chmod(work, 0o755)
            spec, tree, hosts, files = site_of(work, n)
            lab = Lab(work, sshd, keygen)
            try:
                inventory = work / "inventory.yaml"
                inventory.write_text("hosts:\n" + "".join(
                    f"  {h}: {{ root: {tree / h} }}\n" for h in hosts))
                for i, h in enumerate(hosts):
                    lab.host(h, i)
                time.sleep(1)  # every server listening
                argv = [BINARY, "diff", spec, "--ssh", "--ssh-config", lab.config,
                        "--inventory", inventory, "--timeout", "30"]
                runs = [measure(argv) for _ in range(RUNS)]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                print(f"| {n} | {files} | {wall:.2f} s | {cpu:.2f} s |")
                if n == 100 and wall > TARGET_100:
                    missed = True
            finally:
                lab.stop()
    if missed:
        print(f"\nmissed: 100 hosts in at most {TARGET_100} s")
        sys.exit(1)


if __name__ == "__main__":
    main()
