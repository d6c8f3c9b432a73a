//! The commands around the pipeline: `init`, `render --check`, completions and the manual page.
//! The pre-commit hooks run for real in `real::pre_commit`.

use std::fs;

use crate::support::{Sitewright, fixture, temp_dir};

#[test]
fn every_starter_spec_passes_check_with_no_warning() {
    for shape in ["single", "primary-replica", "caching-proxy"] {
        let dir = temp_dir();
        let init = Sitewright::new().args(["init", shape]).run();
        init.code(0);
        assert!(
            init.stdout
                .starts_with("# yaml-language-server: $schema=site.schema.json\n"),
            "{shape}"
        );
        assert!(
            init.stdout.matches("  # ").count() + init.stdout.matches("# ").count() > 5,
            "{shape}: comments"
        );
        fs::write(dir.path().join("site.yaml"), &init.stdout).unwrap();
        Sitewright::new()
            .in_dir(dir.path())
            .args(["check", "site.yaml", "--deny-warnings"])
            .run()
            .code(0)
            .stdout_has("0 errors, 0 warnings");
    }
}

#[test]
fn render_check_says_which_files_differ() {
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(fixture("catmaid/expected"))
        .arg("--check")
        .run()
        .code(0)
        .stdout_has("is what the spec renders (17 files)");
    let copy = temp_dir();
    Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(copy.path())
        .run()
        .code(0);
    let conf = copy.path().join("web1/etc/nginx/conf.d/catmaid.conf");
    fs::write(&conf, "edited by hand\n").unwrap();
    fs::remove_file(
        copy.path()
            .join("db2/var/lib/postgresql/16/main/standby.signal"),
    )
    .unwrap();
    // Not a file any render wrote: render leaves it alone, so --check does not report it.
    fs::write(copy.path().join("db1/etc/leftover.conf"), "").unwrap();
    let before = crate::support::tree(copy.path());
    let out = Sitewright::new()
        .arg("render")
        .arg(fixture("catmaid/site.yaml"))
        .arg("-o")
        .arg(copy.path())
        .arg("--check")
        .run();
    out.code(1);
    assert_eq!(
        out.stdout,
        "differs: web1/etc/nginx/conf.d/catmaid.conf\nmissing: db2/var/lib/postgresql/16/main/standby.signal\n"
    );
    assert_eq!(
        crate::support::tree(copy.path()),
        before,
        "--check writes nothing"
    );
}

#[test]
fn completions_and_the_manual_page_come_from_the_command_line() {
    Sitewright::new()
        .args(["completions", "bash"])
        .run()
        .code(0)
        .stdout_has("_sitewright()")
        .stdout_has("--deny-warnings");
    Sitewright::new()
        .args(["completions", "zsh"])
        .run()
        .code(0)
        .stdout_has("#compdef sitewright");
    Sitewright::new()
        .arg("man")
        .run()
        .code(0)
        .stdout_has(".TH sitewright 1")
        .stdout_has("explain");
}

/// Each page lists the commands under it as sitewright-COMMAND(1) (sitewright-templates-list(1)
/// under sitewright-templates(1)): each of those pages is one that `sitewright man COMMAND...`
/// prints, and no other page is named.
#[test]
fn every_manual_page_the_top_page_names_is_printed() {
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    let mut printed = Vec::new();
    while let Some(command) = pending.pop() {
        let title = std::iter::once("sitewright".to_owned())
            .chain(command.iter().cloned())
            .collect::<Vec<_>>()
            .join("-");
        let page = Sitewright::new()
            .arg("man")
            .args(&command)
            .run()
            .code(0)
            .stdout_has(&format!(".TH {title} 1"))
            .stdout
            .clone();
        let prefix = format!("{}\\-", title.replace('-', "\\-"));
        for rest in page.split(prefix.as_str()).skip(1) {
            let Some((name, _)) = rest.split_once("(1)") else {
                continue;
            };
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase()),
                "{title}(1) names a page `{title}-{name}(1)`"
            );
            assert_ne!(name, "help", "clap's help command has no page");
            let mut sub = command.clone();
            sub.push(name.to_owned());
            pending.push(sub);
        }
        printed.push(title);
    }
    for page in [
        "sitewright-check",
        "sitewright-templates",
        "sitewright-templates-list",
    ] {
        assert!(printed.iter().any(|p| p == page), "{page}: {printed:?}");
    }
    Sitewright::new()
        .args(["man", "help"])
        .run()
        .code(2)
        .stderr_has("no manual page for `help`");
}
