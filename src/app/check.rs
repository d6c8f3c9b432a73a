//! `check`: every problem of a spec, grouped by host, as text or JSON.

use super::exit::Outcome;
use super::options::{CheckOptions, ReportFormat, Warnings};
use super::{Failure, print_diagnostics, read_source};
use crate::diagnostic::Severity;
use crate::load::load;
use crate::parallel;
use crate::plan::host_files;
use crate::source::Source;

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

pub(super) fn check(args: &CheckOptions) -> Result<Outcome, Failure> {
    let (source, diagnostics, summary) = match read_source(&args.spec) {
        Ok(source) => match load(&source) {
            Ok(loaded) => {
                // Host by host, so that a large site's plan is never held whole just to count it.
                let site = &loaded.site;
                let files: usize = parallel::map(&site.hosts, |host| {
                    host_files(site, &loaded.derived, host).len()
                })
                .into_iter()
                .sum();
                let hosts = loaded.site.hosts.len();
                (source, loaded.warnings, Some((hosts, files)))
            }
            Err(invalid) => (source, invalid.diagnostics, None),
        },
        Err(Failure::Invalid(source, invalid)) => (source, invalid.diagnostics, None),
        Err(other) => return Err(other),
    };
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let totals = format!("{}, {}", count(errors, "error"), count(warnings, "warning"));
    match args.format {
        ReportFormat::Text => {
            print_grouped(&source, &diagnostics);
            match summary {
                Some((hosts, files)) if errors == 0 => {
                    outln!(
                        "{}: ok: {hosts} hosts, {files} files; {totals}",
                        source.name
                    )?;
                }
                _ => eprintln!("{}: {totals}", source.name),
            }
        }
        ReportFormat::Json => {
            let report = serde_json::json!({
                "spec": source.name,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diagnostics.iter().map(|d| serde_json::json!({
                    "id": d.rule,
                    "severity": d.severity.to_string(),
                    "host": d.host,
                    "file": source.name,
                    "line": d.pos.line,
                    "column": d.pos.column,
                    "message": d.message,
                    "also": d.also.iter().map(|p| serde_json::json!({"line": p.line, "column": p.column})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            outln!(
                "{}",
                serde_json::to_string_pretty(&report).expect("JSON values serialise")
            )?;
        }
    }
    let failed = errors > 0 || (args.warnings == Warnings::Deny && warnings > 0);
    Ok(if failed {
        Outcome::Findings
    } else {
        Outcome::Done
    })
}

/// Problems of the whole site first, then each host's under its name, in spec order.
fn print_grouped(source: &Source, diagnostics: &[crate::diagnostic::Diagnostic]) {
    let mut hosts: Vec<&str> = Vec::new();
    for d in diagnostics {
        if let Some(host) = d.host.as_deref()
            && !hosts.contains(&host)
        {
            hosts.push(host);
        }
    }
    let site: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.host.is_none())
        .cloned()
        .collect();
    print_diagnostics(source, &site);
    for host in hosts {
        eprintln!("host {host}:");
        let own: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.host.as_deref() == Some(host))
            .cloned()
            .collect();
        print_diagnostics(source, &own);
    }
}
