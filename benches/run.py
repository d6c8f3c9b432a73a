#!/usr/bin/env python3
"""The benchmark of issue 9: sitewright's check, render and diff on generated sites of 1 to 10,000
hosts, against benches/baseline.py (PyYAML, jsonschema, Jinja2, difflib) doing the same job.

    python3 benches/run.py            # build the release binary, measure, print the table
    python3 benches/run.py --quick    # sizes up to 1,000 and one run each

Each figure is the median of several runs of a fresh process: wall time, CPU time (user + system,
of the process and its threads) and peak resident memory, from wait4(2). Output goes to a folder
under /dev/shm when there is one, so that the figures measure the tools rather than this
machine's disk (which takes seconds to create the folders of 1,000 hosts, whatever writes them).
The targets are checked and printed; a missed one makes the exit code 1. Nothing here is a test:
timings belong in a benchmark, never in the test suite.
"""

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
BASELINE = ROOT / "benches" / "baseline.py"
GENERATE = ROOT / "benches" / "generate.py"
QUICK = "--quick" in sys.argv[1:]
SIZES = [1, 10, 100, 1000] if QUICK else [1, 10, 100, 1000, 10000]
RUNS = 1 if QUICK else 5


def baseline_python():
    python = os.environ.get("SITEWRIGHT_BASELINE_PYTHON")
    if not python:
        env = Path(os.environ.get("SITEWRIGHT_TEST_CACHE", "/var/cache/sitewright-test")) / "env"
        for line in env.read_text().splitlines() if env.exists() else []:
            if line.startswith("export SITEWRIGHT_BASELINE_PYTHON="):
                python = line.split("=", 1)[1]
    if not python or not Path(python).exists():
        sys.exit("benches/run.py: no baseline Python; run scripts/install-test-deps first")
    return python


def measure(argv, expect=(0,)):
    """One run of argv: (wall seconds, CPU seconds, peak MiB)."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in expect:
        sys.exit(f"{' '.join(map(str, argv))} exited {code}:\n{process.stderr.read().decode()}")
    process.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median(argv, runs=RUNS, before=None, expect=(0,)):
    results = []
    for _ in range(runs):
        if before:
            before()
        results.append(measure(argv, expect))
    return tuple(statistics.median(r[i] for r in results) for i in range(3))


def change_one_percent(tree):
    """Appends a comment to every hundredth rendered file (at least one)."""
    files = sorted(p for p in Path(tree).rglob("*") if p.is_file() and p.name != "manifest.json")
    for path in files[:: 100]:
        with open(path, "a") as f:
            f.write("# changed by hand\n")
    return len(files[::100])


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    python = baseline_python()
    scratch_parent = "/dev/shm" if Path("/dev/shm").is_dir() else None
    work = Path(tempfile.mkdtemp(prefix="sitewright-bench-", dir=scratch_parent))
    rows, base_rows = [], []
    try:
        for n in SIZES:
            spec = work / f"site{n}.yaml"
            spec.write_text(subprocess.run([sys.executable, GENERATE, str(n)], check=True,
                                           capture_output=True, text=True).stdout)
            out = work / f"out{n}"
            fresh = lambda out=out: shutil.rmtree(out, ignore_errors=True)
            check = median([BINARY, "check", spec])
            render = median([BINARY, "render", spec, "-o", out], before=fresh)
            same = median([BINARY, "diff", spec, "--live", out])
            live = work / f"live{n}"
            shutil.copytree(out, live)
            changed = change_one_percent(live)
            differ = median([BINARY, "diff", spec, "--live", live], expect=(1,))
            files = sum(1 for p in out.rglob("*") if p.is_file()) - 1
            rows.append((n, files, changed, check, render, same, differ))
            if n in (100, 1000, 10000):
                runs = RUNS if n <= 1000 else 1
                bout = work / f"base{n}"
                bfresh = lambda bout=bout: shutil.rmtree(bout, ignore_errors=True)
                bcheck = median([python, BASELINE, "check", spec], runs)
                brender = median([python, BASELINE, "render", spec, "-o", bout], runs, bfresh)
                bsame = median([python, BASELINE, "diff", spec, "--live", out], runs)
                base_rows.append((n, bcheck, brender, bsame, check, render, same))
            shutil.rmtree(live)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, base_rows)


def fmt(m):
    wall, cpu, mib = m
    return f"{wall:.3f} s / {cpu:.3f} s / {mib:.0f} MiB"


def report(rows, base_rows):
    cores = os.cpu_count()
    print(f"{subprocess.run([BINARY, '--version'], capture_output=True, text=True).stdout.strip()}, "
          f"{cores} cores, median of {RUNS} runs; each cell: wall / CPU / peak memory\n")
    print("| hosts | files | check | render | diff, identical | diff, 1% changed |")
    print("|---:|---:|---|---|---|---|")
    for n, files, changed, check, render, same, differ in rows:
        print(f"| {n:,} | {files:,} | {fmt(check)} | {fmt(render)} | {fmt(same)} | {fmt(differ)} ({changed} changed) |")
    print("\n| hosts | baseline check | baseline render | baseline diff | render: sitewright vs baseline |")
    print("|---:|---|---|---|---:|")
    for n, bcheck, brender, bsame, check, render, same in base_rows:
        print(f"| {n:,} | {fmt(bcheck)} | {fmt(brender)} | {fmt(bsame)} | {brender[0] / render[0]:.0f}× faster |")
    by = {r[0]: r for r in rows}
    base = {r[0]: r for r in base_rows}
    targets = []
    if 1000 in by:
        render = by[1000][4]
        targets.append(("1,000 hosts check + render (`render` runs every check) ≤ 0.5 s", render[0] <= 0.5, f"{render[0]:.3f} s"))
        if 1000 in base:
            ratio = base[1000][2][0] / render[0]
            targets.append(("1,000 hosts render ≥ 30× faster than the baseline", ratio >= 30, f"{ratio:.1f}×"))
        same = by[1000][5]
        targets.append(("diff of 1,000 unchanged hosts ≤ 0.3 s", same[0] <= 0.3, f"{same[0]:.3f} s"))
    if 1 in by:
        one = by[1][4]
        targets.append(("one host, cold process, render ≤ 20 ms", one[0] <= 0.020, f"{one[0] * 1000:.1f} ms"))
    if 100 in by and 10000 in by:
        growth = by[10000][4][0] / by[100][4][0]
        targets.append(("render time 100 → 10,000 hosts grows linearly (≤ 100× × 1.5)", growth <= 150, f"{growth:.0f}×"))
        mib = max(by[10000][i][2] for i in (3, 4, 5, 6))
        targets.append(("peak memory at 10,000 hosts < 200 MiB", mib < 200, f"{mib:.0f} MiB"))
    print("\n| target | met | measured |")
    print("|---|---|---|")
    for what, met, measured in targets:
        print(f"| {what} | {'yes' if met else '**no**'} | {measured} |")
    sys.exit(0 if all(met for _, met, _ in targets) else 1)


if __name__ == "__main__":
    main()
