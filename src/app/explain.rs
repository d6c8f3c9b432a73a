//! `explain`: a rule's explanation, or where each line of a rendered file came from.

use std::path::Path;

use super::exit::Outcome;
use super::options::{Explain, Hosts, Selection, Templates};
use super::{Failure, load_spec, select};
use crate::plan::plan_with;
use crate::render::Renderer;
use crate::rules::Rule;

pub(super) fn explain(explain: &Explain) -> Result<Outcome, Failure> {
    match explain {
        Explain::Rule(rule) => explain_rule(*rule),
        Explain::File {
            spec,
            host,
            path,
            key,
            templates,
        } => explain_file(spec, host, path, key.as_deref(), templates),
    }
}

fn explain_rule(rule: Rule) -> Result<Outcome, Failure> {
    outln!("{rule} ({}): {}\n", rule.severity(), rule.summary())?;
    outln!("{}", rule.explanation())?;
    Ok(Outcome::Done)
}

fn explain_file(
    spec: &Path,
    host: &str,
    path: &str,
    key: Option<&str>,
    templates: &Templates,
) -> Result<Outcome, Failure> {
    let overrides = super::read_overrides(templates)?;
    let (source, loaded) = load_spec(spec)?;
    let selection = Selection {
        hosts: Hosts::Named(vec![host.to_owned()]),
        templates: Templates::BuiltIn,
    };
    let mut planned = select(
        plan_with(&loaded.site, &loaded.derived),
        &loaded,
        &selection,
    )?;
    let paths: Vec<String> = planned.files.iter().map(|f| f.path.clone()).collect();
    planned.files.retain(|f| f.path == *path);
    let Some(file) = planned.files.first().cloned() else {
        return Err(Failure::Usage(format!(
            "{host} has no rendered file {path}; its files are {}",
            paths.join(", ")
        )));
    };
    let traced = Renderer::tracing(&overrides)
        .trace(&file)
        .map_err(Failure::Render)?;
    let lines = crate::explain::explain(&file, &traced, &loaded.doc, &source.name, key);
    if lines.is_empty()
        && let Some(key) = key
    {
        return Err(Failure::Usage(format!(
            "no line of {path} on {host} sets `{key}`"
        )));
    }
    outln!("{host}:{path} (template {})", file.template)?;
    for line in lines {
        outln!("{:>4}  {}", line.number, line.text.trim_end())?;
        if line.facts.is_empty() {
            outln!("      the template's own text")?;
        }
        for fact in &line.facts {
            outln!("      {}", crate::explain::origin_text(fact))?;
            if let Some(effect) = fact.effect {
                outln!("      a change takes a {effect}")?;
            }
        }
    }
    Ok(Outcome::Done)
}
