//! `explain`: for each line of a rendered file, where its values came from — the spec line each
//! was written from, how it was derived, the version rule or named default behind it, or the
//! template's own text. It reads the facts a traced render printed on each line, never the text,
//! so an overridden template is explained as truthfully as a built-in one. Pure: the caller
//! renders the file and prints the result.

use crate::plan::{OnChange, OriginKind, PlannedFile};
use crate::render::TracedLine;
use crate::source::Document;

/// One line of a rendered file and the facts printed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) number: usize,
    pub(crate) text: String,
    /// Empty for a line the template writes on its own.
    pub(crate) facts: Vec<Explained>,
}

/// One fact on a line: the key it sets and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Explained {
    pub(crate) key: String,
    pub(crate) kind: OriginKind,
    /// The spec location, `SPEC:LINE:COL (dotted.path)`.
    pub(crate) spec: Option<String>,
    pub(crate) why: Option<String>,
    /// For a postgresql.conf setting: what a change to it needs.
    pub(crate) effect: Option<OnChange>,
}

/// `postgres/settings/max_connections` as `postgres.settings.max_connections`, indexes in brackets.
pub(crate) fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.trim_start_matches('/').split('/') {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// How `explain` says where a fact comes from.
pub(crate) fn origin_text(fact: &Explained) -> String {
    let why = fact.why.as_deref();
    match (fact.kind, &fact.spec, why) {
        (OriginKind::VersionRule, Some(spec), Some(why)) => {
            format!("version rule, from {spec}: {why}")
        }
        (OriginKind::Default, None, Some(why)) => format!("default: {why}"),
        (_, Some(spec), Some(why)) => format!("from {spec}: {why}"),
        (_, Some(spec), None) => format!("from {spec}"),
        (_, None, Some(why)) => format!("derived: {why}"),
        (_, None, None) => "sitewright's default".to_owned(),
    }
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty()
        || t.starts_with('#')
        || t.starts_with("--")
        || t.starts_with("\"\"\"")
        || t == "}"
        || t.starts_with("def ")
}

/// Explains every line of a traced render of `file`; only the lines that print a fact of `key`,
/// when given. A line that prints no fact is the template's own text, whoever wrote the template.
pub(crate) fn explain(
    file: &PlannedFile,
    lines: &[TracedLine],
    doc: &Document,
    spec_name: &str,
    key: Option<&str>,
) -> Vec<Line> {
    let locate = |pointer: &String| {
        if !doc.has(pointer) {
            return format!("{} (its default; not in {spec_name})", dotted(pointer));
        }
        let pos = doc.value_pos(pointer);
        format!(
            "{spec_name}:{}:{} ({})",
            pos.line,
            pos.column,
            dotted(pointer)
        )
    };
    let mut out = Vec::new();
    let mut in_docstring = false;
    for (i, line) in lines.iter().enumerate() {
        if line.facts.is_empty() {
            if line.text.matches("\"\"\"").count() % 2 == 1 {
                in_docstring = !in_docstring;
                continue;
            }
            if in_docstring || is_comment(&line.text) {
                continue;
            }
        }
        let mut facts: Vec<Explained> = Vec::new();
        for id in &line.facts {
            let Some(record) = file.facts.get(id.0 as usize) else {
                continue;
            };
            let origin = &record.origin;
            let left_out = origin.spec.as_deref().is_some_and(|p| !doc.has(p));
            let explained = match &origin.unless_written {
                Some(why) if left_out => Explained {
                    key: record.key.clone(),
                    kind: OriginKind::Default,
                    spec: None,
                    why: Some(why.clone()),
                    effect: record.effect,
                },
                _ => Explained {
                    key: record.key.clone(),
                    kind: origin.kind,
                    spec: origin.spec.as_ref().map(locate),
                    why: origin.why.clone(),
                    effect: record.effect,
                },
            };
            if !facts.contains(&explained) {
                facts.push(explained);
            }
        }
        if let Some(wanted) = key
            && !facts.iter().any(|f| f.key.eq_ignore_ascii_case(wanted))
        {
            continue;
        }
        out.push(Line {
            number: i + 1,
            text: line.text.clone(),
            facts,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_read_as_paths() {
        assert_eq!(
            dotted("/postgres/settings/max_connections"),
            "postgres.settings.max_connections"
        );
        assert_eq!(
            dotted("/hosts/1/postgres_settings/work_mem"),
            "hosts[1].postgres_settings.work_mem"
        );
        assert_eq!(
            dotted("/sysctl/settings/vm.dirty_bytes"),
            "sysctl.settings.vm.dirty_bytes"
        );
    }
}
