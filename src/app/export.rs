//! `export`: the rendered tree as an Ansible playbook or NixOS modules, written atomically.

use std::fs;

use std::collections::HashMap;

use super::exit::Outcome;
use super::options::{ExportFormat, ExportOptions, SecretPolicy};
use super::{Failure, load_spec, read_overrides, rendered, select};
use crate::export::{ansible, nix};
use crate::plan::plan_with;
use crate::render::{Renderer, Secrets};
use crate::write::{WriteError, write_atomic};

pub(super) fn export(args: &ExportOptions) -> Result<Outcome, Failure> {
    let (_, loaded) = load_spec(&args.spec)?;
    let files = match args.format {
        ExportFormat::Ansible => {
            // Each secret is rendered as a marker that the playbook's template turns into a variable.
            let plan = select(
                plan_with(&loaded.site, &loaded.derived),
                &loaded,
                &args.selection,
            )?;
            let mut vars: Vec<ansible::SecretVar> = Vec::new();
            let mut markers = HashMap::new();
            for slot in plan.files.iter().flat_map(|f| &f.secrets) {
                if markers.contains_key(&slot.secret) {
                    continue;
                }
                let marker = format!("SITEWRIGHTSECRET{}X", vars.len());
                vars.push(ansible::SecretVar {
                    marker: marker.clone(),
                    name: ansible::variable(&slot.secret),
                });
                markers.insert(slot.secret.clone(), marker);
            }
            let overrides = read_overrides(&args.selection.templates)?;
            let tree = Renderer::new(&overrides)
                .render(&plan, &Secrets::resolved(markers))
                .map_err(Failure::Render)?;
            ansible::export(&loaded.site, &tree, &vars)
        }
        ExportFormat::Nix => nix::export(&rendered(
            &loaded,
            &args.selection,
            SecretPolicy::Placeholders,
        )?),
    }
    .map_err(Failure::Export)?;
    for file in &files {
        let path = args.out.join(&file.path);
        let fail = |error| {
            Failure::Write(WriteError {
                path: path.clone(),
                error,
            })
        };
        fs::create_dir_all(path.parent().expect("an export file is in a folder")).map_err(fail)?;
        write_atomic(&path, file.content.as_bytes(), file.mode).map_err(fail)?;
    }
    outln!("wrote {} files to {}", files.len(), args.out.display())?;
    Ok(Outcome::Done)
}
