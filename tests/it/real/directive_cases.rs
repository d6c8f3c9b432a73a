//! nginx -t on both real builds for every case of tests/cases/nginx-directives.tsv: the case's
//! line put where sitewright's rendered file puts that level's directives, in the layout of
//! Debian's nginx.conf. What `check` accepts, nginx accepts; what nginx refuses, `check` refuses
//! (the fast lane's `directives` test holds `check` to the same table).

use std::fs;
use std::process::Command;

use crate::support::directives::{anchor, cases, spec};
use crate::support::nginx::{Build, Layout};
use crate::support::{Sitewright, installed, temp_dir};

fn build(version: &str) -> Build {
    match version {
        "1.22" => Build::debian12(),
        _ => Build::debian13(),
    }
}

#[test]
fn nginx_judges_every_directive_case_as_the_table_says() {
    let work = temp_dir();
    let (cert, key) = (
        work.path().join("server.crt"),
        work.path().join("server.key"),
    );
    let made = Command::new(installed("SITEWRIGHT_OPENSSL"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "openssl req failed");
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in cases() {
        for b in &case.builds {
            let (name, value) = anchor(case.level);
            let dir = work.path().join(format!("row{}-{}", case.row, b.0));
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("site.yaml"), spec(*b, case.level, name, &[value])).unwrap();
            Sitewright::new()
                .arg("render")
                .arg(dir.join("site.yaml"))
                .arg("-o")
                .arg(dir.join("tree"))
                .run()
                .code(0);
            let host = if case.level.starts_with("stream") {
                "db1"
            } else {
                "web1"
            };
            let files = crate::support::tree(&dir.join("tree").join(host));
            let wanted = format!("{name} {value};");
            let mut swapped = 0;
            let nginx_files: Vec<(String, String)> = files
                .iter()
                .filter(|(path, _)| {
                    path.starts_with("etc/nginx/") || path.starts_with("usr/share/nginx/")
                })
                .map(|(path, bytes)| {
                    let text = String::from_utf8(bytes.clone()).unwrap();
                    swapped += text.matches(&wanted).count();
                    (
                        format!("/{path}"),
                        text.replace(&wanted, &format!("{};", case.line)),
                    )
                })
                .collect();
            assert_eq!(
                swapped, 1,
                "row {}: the anchor `{wanted}` is written once",
                case.row
            );
            let refs: Vec<(&str, &str)> = nginx_files
                .iter()
                .map(|(p, t)| (p.as_str(), t.as_str()))
                .collect();
            let build = build(b.0);
            let (layout, _) = Layout::on_loopback(&dir.join("nginx"), &build, &refs, &cert, &key);
            let output = layout.test(&build);
            runs += 1;
            if output.status.success() != case.nginx_accepts {
                failures.push(format!(
                    "row {} ({} at {}, nginx {}): the table says nginx {}, nginx -t said: {}",
                    case.row,
                    case.line,
                    case.level,
                    b.0,
                    if case.nginx_accepts {
                        "accepts"
                    } else {
                        "refuses"
                    },
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
        }
    }
    eprintln!("nginx -t runs: {runs}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
