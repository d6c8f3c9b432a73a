//! `sitewright templates`: the built-in templates listed and printed byte for byte, a folder of
//! overrides checked against their names, and the harness that hands the real lane the templates
//! under test.

use std::fs;
use std::path::Path;

use crate::support::{Sitewright, fixture, repo, temp_dir, tree};

/// Every file under templates/, by the name `--templates DIR` overrides it by, in order.
fn template_files() -> Vec<(String, String)> {
    tree(&repo().join("templates"))
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8(bytes).unwrap()))
        .collect()
}

#[test]
fn list_names_every_built_in_template_with_what_it_lays_out_and_where() {
    let out = Sitewright::new().args(["templates", "list"]).run();
    out.code(0);
    assert_eq!(out.stderr, "");
    let names: Vec<&str> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let files: Vec<String> = template_files().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, files, "one line per file of templates/, in order");
    for line in out.stdout.lines() {
        assert!(
            line.contains("; for ") || line.contains("; included by "),
            "{line}: which files it is for"
        );
    }
    out.stdout_has(
        "nginx/https.conf.nginx             the HTTPS front end: upstreams, limit zones, the redirect \
         from HTTP, the HTTPS server, its headers, directives and locations; for \
         /etc/nginx/conf.d/SITE.conf on each web host\n",
    )
    .stdout_has(
        "nginx/tls.nginx                    certificate, protocols, ciphers, sessions, stapling and \
         HSTS of the TLS profile; included by nginx/server.nginx\n",
    );
}

/// `templates show NAME > DIR/NAME` starts an override: what it prints is the embedded text,
/// which is the file under templates/, byte for byte, with no line break added or taken away.
#[test]
fn show_prints_every_template_byte_for_byte() {
    let files = template_files();
    assert!(files.len() >= 17, "{}", files.len());
    assert!(
        files.iter().any(|(_, text)| text.is_empty()),
        "an empty template is printed as nothing at all"
    );
    for (name, text) in files {
        Sitewright::new()
            .args(["templates", "show", &name])
            .stdout(text)
            .check();
    }
}

#[test]
fn show_refuses_an_unknown_name_with_the_name_meant() {
    Sitewright::new()
        .args(["templates", "show", "nginx/htps.conf.nginx"])
        .status(2)
        .stderr(
            "sitewright: no built-in template is named `nginx/htps.conf.nginx`; did you mean \
             `nginx/https.conf.nginx`?\n",
        )
        .check();
    Sitewright::new()
        .args(["templates", "show", "pg_hba.conf.pghba"])
        .status(2)
        .stderr(
            "sitewright: no built-in template is named `pg_hba.conf.pghba`; did you mean \
             `postgres/pg_hba.conf.pghba`?\n",
        )
        .check();
    Sitewright::new()
        .args(["templates", "show", "nothing-like-it"])
        .status(2)
        .stderr(
            "sitewright: no built-in template is named `nothing-like-it`; `sitewright templates \
             list` names them\n",
        )
        .check();
}

/// A folder of overrides holding `files`, each `(name, text)`.
fn overrides(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = temp_dir();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn builtin(name: &str) -> String {
    fs::read_to_string(repo().join("templates").join(name)).unwrap()
}

#[test]
fn list_marks_what_a_folder_overrides() {
    let https = builtin("nginx/https.conf.nginx");
    let dir = overrides(&[
        ("nginx/https.conf.nginx", &https),
        ("sysctl/sysctl.conf.sysctl", ""),
    ]);
    let out = Sitewright::new()
        .args(["templates", "list", "--templates"])
        .arg(dir.path())
        .run();
    out.code(0);
    assert_eq!(out.stderr, "");
    let overridden: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("overridden"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        overridden,
        ["nginx/https.conf.nginx", "sysctl/sysctl.conf.sysctl"]
    );
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("built-in"))
            .count(),
        template_files().len() - 2
    );
}

/// A misspelt override would replace nothing, and the built-in template would be rendered as if
/// the override were not there: every command that takes the folder refuses it, names the file
/// and the template it may have meant, and writes nothing; `templates list` shows it.
#[test]
fn a_misspelt_override_is_refused_with_the_name_meant() {
    let https = builtin("nginx/https.conf.nginx");
    let dir = overrides(&[
        ("nginx/htps.conf.nginx", &https),
        ("ngnix/tls.nginx", "x"),
        ("nginx/server.nginx", &builtin("nginx/server.nginx")),
    ]);
    let folder = dir.path().display().to_string();
    let refusal = format!(
        "sitewright: {folder}/nginx/htps.conf.nginx: no built-in template is named \
         `nginx/htps.conf.nginx`; did you mean `nginx/https.conf.nginx`?\n\
         {folder}/ngnix/tls.nginx: no built-in template is named `ngnix/tls.nginx`; did you mean \
         `nginx/tls.nginx`?\n\
         2 files in {folder} replace no built-in template: name each after the template it \
         replaces (`sitewright templates list`) or remove it\n"
    );
    let spec = fixture("catmaid/site.yaml");
    let out = temp_dir();
    let rendered = out.path().join("tree");
    Sitewright::new()
        .arg("render")
        .arg(&spec)
        .arg("-o")
        .arg(&rendered)
        .arg("--templates")
        .arg(dir.path())
        .status(2)
        .stderr(&refusal)
        .check();
    assert!(!rendered.exists(), "render wrote nothing");
    Sitewright::new()
        .arg("diff")
        .arg(&spec)
        .arg("--live")
        .arg(fixture("catmaid/expected"))
        .arg("--templates")
        .arg(dir.path())
        .status(2)
        .stderr(&refusal)
        .check();
    Sitewright::new()
        .arg("explain")
        .arg(&spec)
        .args([
            "--host",
            "web1",
            "/etc/nginx/conf.d/catmaid.conf",
            "--templates",
        ])
        .arg(dir.path())
        .status(2)
        .stderr(&refusal)
        .check();
    Sitewright::new()
        .args(["export", "nix"])
        .arg(&spec)
        .arg("-o")
        .arg(out.path().join("nix"))
        .arg("--templates")
        .arg(dir.path())
        .status(2)
        .stderr(&refusal)
        .check();

    let listed = Sitewright::new()
        .args(["templates", "list", "--templates"])
        .arg(dir.path())
        .run();
    listed
        .code(1)
        .stderr_has("replace no built-in template: name each after the template it replaces");
    let tail: Vec<&str> = listed.stdout.lines().skip(template_files().len()).collect();
    assert_eq!(
        tail,
        [
            format!(
                "{folder}/nginx/htps.conf.nginx overrides nothing: no built-in template is named \
                 `nginx/htps.conf.nginx`; did you mean `nginx/https.conf.nginx`?"
            ),
            format!(
                "{folder}/ngnix/tls.nginx overrides nothing: no built-in template is named \
                 `ngnix/tls.nginx`; did you mean `nginx/tls.nginx`?"
            ),
        ]
    );
    listed.stdout_has("nginx/server.nginx                 overridden");
}

/// What `templates show` prints, written into a folder under its name, renders the fixture as
/// the built-in template does; a comment added to it shows up in the file it lays out.
#[test]
fn an_override_started_from_show_renders_as_the_built_in_one() {
    let shown = Sitewright::new()
        .args(["templates", "show", "nginx/https.conf.nginx"])
        .run();
    shown.code(0);
    let same = overrides(&[("nginx/https.conf.nginx", &shown.stdout)]);
    let out = temp_dir();
    let render = |templates: &Path, into: &str| {
        Sitewright::new()
            .arg("render")
            .arg(fixture("catmaid/site.yaml"))
            .arg("-o")
            .arg(out.path().join(into))
            .arg("--templates")
            .arg(templates)
            .run()
            .code(0);
        tree(&out.path().join(into))
    };
    let golden = tree(&fixture("catmaid/expected"));
    assert!(
        render(same.path(), "same") == golden,
        "the same text renders the golden tree"
    );

    let commented = overrides(&[(
        "nginx/https.conf.nginx",
        &format!("# kept by the site's operators\n{}", shown.stdout),
    )]);
    let changed = render(commented.path(), "commented");
    let conf = "web1/etc/nginx/conf.d/catmaid.conf";
    // The manifests hold each file's checksum, so they change with it.
    let differing: Vec<&String> = golden
        .keys()
        .filter(|name| changed.get(*name) != golden.get(*name))
        .filter(|name| !name.ends_with("manifest.json"))
        .collect();
    assert_eq!(differing, [conf]);
    assert_eq!(
        String::from_utf8(changed[conf].clone()).unwrap(),
        format!(
            "# kept by the site's operators\n{}",
            String::from_utf8(golden[conf].clone()).unwrap()
        )
    );
}

#[test]
fn the_manual_and_the_completions_know_the_templates_command() {
    Sitewright::new()
        .args(["man", "templates"])
        .run()
        .code(0)
        .stdout_has(".TH sitewright-templates 1")
        .stdout_has("sitewright\\-templates\\-list(1)")
        .stdout_has("sitewright\\-templates\\-show(1)");
    for sub in ["list", "show"] {
        Sitewright::new()
            .args(["man", "templates", sub])
            .run()
            .code(0)
            .stdout_has(&format!(".TH sitewright-templates-{sub} 1"));
    }
    Sitewright::new()
        .args(["man", "templates", "help"])
        .status(2)
        .stderr("sitewright: no manual page for `templates help`: the commands are list, show\n")
        .check();
    let bash = Sitewright::new().args(["completions", "bash"]).run();
    bash.code(0)
        .stdout_has("sitewright__subcmd__templates__subcmd__list)")
        .stdout_has("sitewright__subcmd__templates__subcmd__show)");
    Sitewright::new()
        .args(["completions", "zsh"])
        .run()
        .code(0)
        .stdout_has("'templates:List the built-in templates")
        .stdout_has("'show:Print a built-in template byte for byte");
}

/// The real lane proves the templates under test (SITEWRIGHT_TEST_TEMPLATES) only if no test in
/// it renders around the harness: by running the binary itself, through the library with a
/// renderer of its own, or by reading a golden tree, which is what the built-in templates render.
#[test]
fn the_real_lane_renders_only_through_the_harness() {
    let real = repo().join("tests/it/real");
    let mut found = Vec::new();
    for (name, bytes) in tree(&real) {
        let text = String::from_utf8(bytes).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for around in [
                "CARGO_BIN_EXE",
                "Renderer::new(",
                "Renderer::tracing(",
                "Overrides::default(",
                "\"expected\"",
                "/expected",
            ] {
                if code.contains(around) {
                    found.push(format!("real/{name}:{}: {around}", number + 1));
                }
            }
            if code.contains(".builtin_templates()") && name != "baseline.rs" {
                found.push(format!("real/{name}:{}: builtin_templates()", number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "render through crate::support (the Sitewright builder, renderer(), rendered_fixture()): {found:#?}"
    );
}
