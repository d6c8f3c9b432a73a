//! A folder of template overrides proven as the built-in templates are: the real lane's own proofs
//! (here real::nginx's `nginx -t` of every fixture and starter spec, on both builds) run with the
//! folder as the templates under test, as `scripts/verify-templates DIR` runs them all. An override
//! that keeps nginx's grammar passes; one that breaks it is refused by nginx itself, with its
//! message, so a passing run means the override was read, not skipped.

use std::fs;
use std::path::Path;

use super::nginx::{
    Target, catmaid_web_host_nginx_t, every_fixture_passes_nginx_t, every_init_spec_passes_nginx_t,
    nginx_1_22, nginx_1_26,
};
use crate::support::{repo, temp_dir, with_templates_under_test};

const HTTPS: &str = "nginx/https.conf.nginx";

/// A folder that overrides the HTTPS server's template with the built-in text changed by `edit`.
fn https_override(edit: impl FnOnce(&str) -> String) -> tempfile::TempDir {
    let dir = temp_dir();
    let builtin = fs::read_to_string(repo().join("templates").join(HTTPS)).unwrap();
    let text = edit(&builtin);
    assert_ne!(text, builtin, "the override changes the built-in text");
    fs::create_dir(dir.path().join("nginx")).unwrap();
    fs::write(dir.path().join(HTTPS), text).unwrap();
    dir
}

/// The built-in text, with the site's own comment on top.
fn commented() -> tempfile::TempDir {
    https_override(|builtin| format!("# Kept by the site's operators: see the runbook.\n{builtin}"))
}

/// `nginx -t` of CATMAID's web host with the templates in `dir`, rendered for `target`: how it
/// ended, what nginx said, and the file it read.
fn nginx_t_with(dir: &Path, target: &Target) -> (bool, String, String) {
    let (test, conf) = with_templates_under_test(dir, || catmaid_web_host_nginx_t(target, target));
    (
        test.status.success(),
        String::from_utf8_lossy(&test.stderr).into_owned(),
        conf,
    )
}

fn a_commented_override_passes_nginx_t(target: &Target) {
    let dir = commented();
    let (passed, said, conf) = nginx_t_with(dir.path(), target);
    assert!(
        conf.starts_with("# Kept by the site's operators: see the runbook.\n# HTTPS front end"),
        "the override laid the file out:\n{conf}"
    );
    assert!(passed, "nginx {}: {said}", target.nginx_version);
    with_templates_under_test(dir.path(), || {
        every_fixture_passes_nginx_t(target);
        every_init_spec_passes_nginx_t(target);
    });
}

/// A `;` dropped after `keepalive`: nginx reads the upstream's `}` as its argument.
fn a_dropped_semicolon_is_refused_by_nginx_t(target: &Target) {
    let dir = https_override(|builtin| {
        builtin.replacen(
            "    keepalive {{ upstream.keepalive }};\n",
            "    keepalive {{ upstream.keepalive }}\n",
            1,
        )
    });
    let (passed, said, conf) = nginx_t_with(dir.path(), target);
    assert!(conf.contains("    keepalive 16\n}"), "{conf}");
    assert!(!passed, "nginx {} accepted:\n{conf}", target.nginx_version);
    assert!(said.contains("[emerg]"), "{said}");
    assert!(said.contains(": unexpected \"}\" in "), "{said}");
    assert!(
        said.contains("catmaid.conf:"),
        "nginx names the file: {said}"
    );
    assert!(said.contains("test failed"), "{said}");
}

macro_rules! on_both {
    ($($proof:ident),* $(,)?) => {
        mod on_1_22 {
            $(#[test] fn $proof() { super::$proof(&super::nginx_1_22()); })*
        }
        mod on_1_26 {
            $(#[test] fn $proof() { super::$proof(&super::nginx_1_26()); })*
        }
    };
}

on_both!(
    a_commented_override_passes_nginx_t,
    a_dropped_semicolon_is_refused_by_nginx_t,
);

/// `ssl on;`, which the built-in templates never write (README): nginx 1.25.1 removed the
/// directive, so 1.26 refuses the override; 1.22 still takes it, with a deprecation warning.
fn ssl_on() -> tempfile::TempDir {
    https_override(|builtin| {
        builtin.replacen(
            "{% include \"nginx/server.nginx\" %}\n",
            "{% include \"nginx/server.nginx\" %}\n    ssl on;\n",
            1,
        )
    })
}

#[test]
fn nginx_1_26_refuses_an_override_that_writes_ssl_on() {
    let dir = ssl_on();
    let (passed, said, conf) = nginx_t_with(dir.path(), &nginx_1_26());
    assert!(conf.contains("\n    ssl on;\n"), "{conf}");
    assert!(!passed, "nginx 1.26 accepted `ssl on;`");
    assert!(said.contains("[emerg]"), "{said}");
    assert!(said.contains(": unknown directive \"ssl\" in "), "{said}");
}

#[test]
fn nginx_1_22_warns_of_an_override_that_writes_ssl_on() {
    let dir = ssl_on();
    let (passed, said, _) = nginx_t_with(dir.path(), &nginx_1_22());
    assert!(passed, "{said}");
    assert!(
        said.contains(
            "the \"ssl\" directive is deprecated, use the \"listen ... ssl\" directive instead"
        ),
        "{said}"
    );
}
