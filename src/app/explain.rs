//! `explain`: a rule's explanation, or where each line of a rendered file came from.

use std::path::PathBuf;

use super::{Failure, load_spec, select};
use crate::cli::{ExplainArgs, Selection};
use crate::plan::plan;
use crate::render::{Renderer, Secrets};
use crate::templates::Overrides;

pub(super) fn explain(args: &ExplainArgs) -> Result<u8, Failure> {
    if let Some(rule) = crate::rules::rule(&args.target) {
        outln!("{rule} ({}): {}\n", rule.severity(), rule.summary());
        outln!("{}", rule.explanation());
        return Ok(0);
    }
    let spec = PathBuf::from(&args.target);
    if !spec.exists() && args.host.is_none() {
        return Err(Failure::Usage(format!(
            "`{}` is neither a rule id (such as PG017) nor a spec file",
            args.target
        )));
    }
    let (Some(host), Some(path)) = (&args.host, &args.path) else {
        return Err(Failure::Usage(
            "explain SPEC needs --host NAME and the file's PATH on that host".to_owned(),
        ));
    };
    let (source, loaded) = load_spec(&spec)?;
    let selection = Selection {
        hosts: vec![host.clone()],
        templates: None,
    };
    let mut planned = select(plan(&loaded.site), &loaded, &selection)?;
    let paths: Vec<String> = planned.files.iter().map(|f| f.path.clone()).collect();
    planned.files.retain(|f| f.path == *path);
    let Some(file) = planned.files.first().cloned() else {
        return Err(Failure::Usage(format!(
            "{host} has no rendered file {path}; its files are {}",
            paths.join(", ")
        )));
    };
    let tree = Renderer::new(&Overrides::default())
        .render(&planned, &Secrets::none())
        .map_err(Failure::Render)?;
    let content = &tree.files[0].content;
    let lines = crate::explain::explain(
        &file,
        content,
        &loaded.doc,
        &source.name,
        args.key.as_deref(),
    );
    if lines.is_empty()
        && let Some(key) = &args.key
    {
        return Err(Failure::Usage(format!(
            "no line of {path} on {host} sets `{key}`"
        )));
    }
    outln!("{host}:{path} (template {})", file.template);
    for line in lines {
        outln!("{:>4}  {}", line.number, line.text.trim_end());
        match (&line.spec, &line.why) {
            (Some(spec), Some(why)) => outln!("      from {spec}: {why}"),
            (Some(spec), None) => outln!("      from {spec}"),
            (None, Some(why)) => outln!("      derived: {why}"),
            (None, None) => outln!("      the template's own text"),
        }
    }
    Ok(0)
}
