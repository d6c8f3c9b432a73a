//! `check` on every case of tests/cases/nginx-directives.tsv: the directive accepted, or refused
//! with the rule the table names, at the directive's own line. The real lane
//! (real::directive_cases) holds nginx -t to the same table.

use crate::support::directives::{cases, spec};
use crate::support::{Sitewright, temp_dir};

#[test]
fn check_judges_every_directive_case_as_the_table_says() {
    let dir = temp_dir();
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 30, "the table has {} cases", all.len());
    for case in &all {
        for build in &case.builds {
            let yaml = spec(*build, case.level, case.name(), &case.args());
            let path = dir.path().join("site.yaml");
            std::fs::write(&path, &yaml).unwrap();
            let out = Sitewright::new()
                .arg("check")
                .arg(&path)
                .arg("--format")
                .arg("json")
                .run();
            let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
            let problems = report["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let rules: Vec<(String, String, u64)> = problems
                .iter()
                .map(|p| {
                    (
                        p["id"].as_str().unwrap_or("-").to_owned(),
                        p["severity"].as_str().unwrap_or("-").to_owned(),
                        p["line"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            let errors: Vec<&(String, String, u64)> =
                rules.iter().filter(|r| r.1 == "error").collect();
            let line = yaml
                .lines()
                .position(|l| l.contains(&format!("name: {}", case.name())))
                .map_or(0, |i| i as u64 + 1);
            let verdict = match case.check.as_str() {
                "ok" => errors.is_empty() && rules.is_empty(),
                warning @ ("NGX019" | "NGX021") => {
                    errors.is_empty() && rules.iter().any(|r| r.0 == warning && r.2 == line)
                }
                rule => errors.iter().any(|r| r.0 == rule && r.2 == line),
            };
            if !verdict {
                failures.push(format!(
                    "row {} ({} at {}, nginx {}): expected {}, check said {:?} (status {})",
                    case.row, case.line, case.level, build.0, case.check, rules, out.code
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
