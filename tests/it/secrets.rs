//! A sweep for secret values: every file, stdout, stderr, manifest, diff, export and error message
//! of every command, with the secrets in the environment. Only `render --with-secrets` writes one,
//! into the passfile alone, with mode 0600.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::{Outcome, Sitewright, fixture, temp_dir, tree};

const SECRETS: &[(&str, &str)] = &[
    ("CATMAID_REPLICATION_PASSWORD", "Repl1cation-Pa55"),
    ("CATMAID_DB_PASSWORD", "DjangoDb-Pa55"),
    ("DJANGO_SECRET_KEY", "Dj4ngo-Secr3t-Key"),
];

fn run(args: &[&str], dir: &Path) -> Outcome {
    let mut command = Sitewright::new().in_dir(dir).args(args);
    for (name, value) in SECRETS {
        command = command.env(name, value);
    }
    command.run()
}

fn assert_clean(what: &str, text: &str) {
    for (name, value) in SECRETS {
        assert!(!text.contains(value), "{what} holds {name}");
    }
}

fn sweep(outcome: &Outcome) {
    assert_clean(&format!("stdout of `{}`", outcome.line), &outcome.stdout);
    assert_clean(&format!("stderr of `{}`", outcome.line), &outcome.stderr);
}

fn sweep_tree(root: &Path) {
    for (name, bytes) in tree(root) {
        assert_clean(&name, &String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn no_secret_leaves_sitewright_unless_asked_for() {
    let work = temp_dir();
    let dir = work.path();
    fs::copy(fixture("catmaid/site.yaml"), dir.join("site.yaml")).unwrap();

    sweep(run(&["check", "site.yaml"], dir).code(0));
    sweep(run(&["check", "site.yaml", "--format", "json"], dir).code(0));
    sweep(run(&["render", "site.yaml", "-o", "plain"], dir).code(0));
    sweep_tree(&dir.join("plain"));
    sweep(run(&["render", "site.yaml", "-o", "plain", "--check"], dir).code(0));
    sweep(run(&["export", "ansible", "site.yaml", "-o", "ansible"], dir).code(0));
    sweep_tree(&dir.join("ansible"));
    sweep(run(&["export", "nix", "site.yaml", "-o", "nix"], dir).code(0));
    sweep_tree(&dir.join("nix"));
    for path in [
        "/etc/postgresql/16/main/replication.pgpass",
        "/etc/postgresql/16/main/postgresql.conf",
    ] {
        sweep(run(&["explain", "site.yaml", "--host", "db2", path], dir).code(0));
    }

    // The tree with secrets holds the replication password in the passfile only, mode 0600, and
    // Django's secrets nowhere: its settings read them when Django starts.
    sweep(
        run(
            &["render", "site.yaml", "-o", "live", "--with-secrets"],
            dir,
        )
        .code(0),
    );
    let passfile = "db2/etc/postgresql/16/main/replication.pgpass";
    for (name, bytes) in tree(&dir.join("live")) {
        let text = String::from_utf8_lossy(&bytes);
        if name == passfile {
            assert!(text.contains("Repl1cation-Pa55"));
            let mode = fs::metadata(dir.join("live").join(&name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        } else {
            assert_clean(&name, &text);
        }
    }
    // Diffs mask both sides: against the tree with secrets, and after the live password changed,
    // which `--with-secrets` finds by comparing keyed hashes of the two values.
    sweep(run(&["diff", "site.yaml", "--live", "live"], dir).code(0));
    sweep(
        run(
            &["diff", "site.yaml", "--live", "live", "--with-secrets"],
            dir,
        )
        .code(0),
    );
    let live_passfile = dir.join("live").join(passfile);
    let text = fs::read_to_string(&live_passfile)
        .unwrap()
        .replace("Repl1cation-Pa55", "Old-Repl1cation-Pa55");
    fs::write(&live_passfile, text).unwrap();
    for extra in [&[][..], &["--stat"], &["--color=always"]] {
        let mut args = vec!["diff", "site.yaml", "--live", "live", "--with-secrets"];
        args.extend_from_slice(extra);
        let outcome = run(&args, dir);
        outcome.code(1);
        sweep(&outcome);
        assert!(
            !outcome.stdout.contains("Old-Repl1cation"),
            "the live side is masked too"
        );
        assert!(
            outcome
                .stdout
                .contains("secret changed: env CATMAID_REPLICATION_PASSWORD"),
            "{}",
            outcome.stdout
        );
    }

    // Error messages: a secret written inline is neither echoed nor shown in the excerpt.
    let inline = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace(
            "password: { env: CATMAID_DB_PASSWORD }",
            "password: DjangoDb-Pa55",
        );
    fs::write(dir.join("inline.yaml"), inline).unwrap();
    for args in [
        &["check", "inline.yaml"][..],
        &["render", "inline.yaml", "-o", "never"],
        &["diff", "inline.yaml", "--live", "live"],
    ] {
        let outcome = run(args, dir);
        assert!(outcome.code != 0);
        sweep(&outcome);
        assert!(
            outcome.stderr.contains("password: <redacted>"),
            "{}",
            outcome.stderr
        );
    }
    assert!(!dir.join("never").exists());
}
