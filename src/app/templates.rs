//! `templates`: the built-in templates listed, with what each lays out and which files it is for,
//! and which of them a `--templates DIR` replaces; or one of them printed exactly as embedded, the
//! start of an override.

use std::path::Path;

use super::exit::Outcome;
use super::options::{Templates, TemplatesRequest};
use super::{Failure, override_files, print_exactly, stray_note};
use crate::templates::{BUILTIN, Template, find, included_by};

pub(super) fn templates(request: &TemplatesRequest) -> Result<Outcome, Failure> {
    match request {
        TemplatesRequest::List(templates) => list(templates),
        TemplatesRequest::Show(name) => show(name),
    }
}

/// The text of the built-in template `name`, byte for byte: no line break is added or taken away,
/// so `templates show NAME > DIR/NAME` overrides it with itself.
fn show(name: &str) -> Result<Outcome, Failure> {
    let template = find(name).map_err(|e| Failure::Templates(e.to_string()))?;
    print_exactly(template.text)?;
    Ok(Outcome::Done)
}

/// A line per built-in template: its name, then what it lays out and which files it is for. With
/// a folder of overrides, a column says which ones the folder replaces, and each file in it that
/// replaces nothing follows, with the name it may have meant: `render` and `diff` refuse such a
/// folder, so the listing ends with exit 1.
fn list(templates: &Templates) -> Result<Outcome, Failure> {
    let width = BUILTIN.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let Templates::OverriddenFrom(dir) = templates else {
        for template in BUILTIN {
            outln!("{:width$}  {}", template.name, describe(template))?;
        }
        return Ok(Outcome::Done);
    };
    let files = override_files(dir)?;
    for template in BUILTIN {
        let column = if files.iter().any(|(_, name)| name == template.name) {
            "overridden"
        } else {
            "built-in"
        };
        outln!(
            "{:width$}  {column:10}  {}",
            template.name,
            describe(template)
        )?;
    }
    let stray: Vec<(&Path, String)> = files
        .iter()
        .filter_map(|(path, name)| find(name).err().map(|e| (path.as_path(), e.to_string())))
        .collect();
    for (path, why) in &stray {
        outln!("{} overrides nothing: {why}", path.display())?;
    }
    if stray.is_empty() {
        return Ok(Outcome::Done);
    }
    eprintln!("sitewright: {}", stray_note(dir, stray.len()));
    Ok(Outcome::Findings)
}

/// What `template` lays out, and the files it is for or the templates that include it.
fn describe(template: &Template) -> String {
    match template.renders {
        Some(files) => format!("{}; for {files}", template.lays_out),
        None => format!(
            "{}; included by {}",
            template.lays_out,
            included_by(template.name).join(", ")
        ),
    }
}
