//! The benchmark's Python baseline (benches/baseline.py: PyYAML, jsonschema, Jinja2) writes, for the
//! generated 100-host site, exactly the tree sitewright writes, modes included, so that
//! benches/run.py compares two tools doing the same job.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::pg::succeeded;
use crate::support::{Sitewright, installed, repo, temp_dir, tree};

fn modes(root: &Path) -> Vec<(String, u32)> {
    tree(root)
        .into_keys()
        .map(|name| {
            let mode = fs::metadata(root.join(&name)).unwrap().permissions().mode() & 0o7777;
            (name, mode)
        })
        .collect()
}

#[test]
fn the_python_baseline_renders_the_100_host_site_byte_for_byte() {
    let python = installed("SITEWRIGHT_BASELINE_PYTHON");
    let work = temp_dir();
    let (spec, ours, theirs) = (
        work.path().join("site.yaml"),
        work.path().join("sitewright"),
        work.path().join("baseline"),
    );
    let generated = Command::new(&python)
        .arg(repo().join("benches/generate.py"))
        .arg("100")
        .output()
        .unwrap();
    succeeded(&generated, "benches/generate.py 100");
    fs::write(&spec, &generated.stdout).unwrap();
    // The baseline loads the built-in templates from templates/ in place: its parity is with them,
    // and it proves no file to a program that reads it, so overrides under test do not apply.
    Sitewright::new()
        .builtin_templates()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&ours)
        .run()
        .code(0)
        .stdout_has("for 100 hosts");
    let baseline = |args: &[&std::ffi::OsStr]| {
        Command::new(&python)
            .arg(repo().join("benches/baseline.py"))
            .args(args)
            .output()
            .unwrap()
    };
    let rendered = baseline(&[
        "render".as_ref(),
        spec.as_ref(),
        "-o".as_ref(),
        theirs.as_ref(),
    ]);
    succeeded(&rendered, "baseline.py render");

    let (a, b) = (tree(&ours), tree(&theirs));
    assert!(a.len() > 200, "sitewright wrote only {} files", a.len());
    let differing: Vec<_> = a
        .keys()
        .chain(b.keys())
        .filter(|name| a.get(*name) != b.get(*name))
        .collect();
    assert!(
        differing.is_empty(),
        "the baseline's tree differs from sitewright's in {} files, the first {:?}",
        differing.len(),
        differing.first()
    );
    assert_eq!(modes(&ours), modes(&theirs));

    // The baseline's diff finds nothing against sitewright's tree, and a change when there is one.
    let same = baseline(&[
        "diff".as_ref(),
        spec.as_ref(),
        "--live".as_ref(),
        ours.as_ref(),
    ]);
    assert_eq!(
        same.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&same.stderr)
    );
    assert!(same.stdout.is_empty());
    let hba = ours.join("db1/etc/postgresql/16/main/pg_hba.conf");
    fs::write(
        &hba,
        fs::read_to_string(&hba).unwrap() + "host all all 0.0.0.0/0 trust\n",
    )
    .unwrap();
    let changed = baseline(&[
        "diff".as_ref(),
        spec.as_ref(),
        "--live".as_ref(),
        ours.as_ref(),
    ]);
    assert_eq!(changed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&changed.stdout).contains("-host all all 0.0.0.0/0 trust"),
        "{}",
        String::from_utf8_lossy(&changed.stdout)
    );
}
