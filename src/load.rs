//! Read, validate and type a spec in one call: the front half of the pipeline that every command shares.

use crate::check;
use crate::diagnostic::{Diagnostic, Severity};
use crate::source::{Document, Source};
use crate::spec::Site;
use crate::validate::validate;

/// A spec that passed the schema and the rules, with the document that locates its values.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub site: Site,
    pub(crate) doc: Document,
    /// Warnings of the rules; errors stop loading.
    pub warnings: Vec<Diagnostic>,
    /// What the rules and the plan both read, worked out once.
    pub(crate) derived: crate::plan::Derived,
}

/// Everything wrong with a spec, in source order; it holds at least one error.
#[derive(Debug, Clone)]
pub struct Invalid {
    pub diagnostics: Vec<Diagnostic>,
}

impl Invalid {
    pub(crate) fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

pub fn load(source: &Source) -> Result<Loaded, Invalid> {
    let fail = |diagnostics| Invalid { diagnostics };
    let doc = source.parse().map_err(|d| fail(vec![*d]))?;
    let errors = validate(source, &doc);
    if !errors.is_empty() {
        return Err(fail(errors));
    }
    let site: Site = serde_path_to_error::deserialize(&doc.value).map_err(|error| {
        let pointer: String = error
            .path()
            .iter()
            .map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => format!("/{index}"),
                serde_path_to_error::Segment::Map { key } => {
                    format!("/{}", crate::source::pointer_token(key))
                }
                _ => String::new(),
            })
            .collect();
        fail(vec![Diagnostic::error(
            doc.value_pos(&pointer),
            error.inner().to_string(),
        )])
    })?;
    let derived = crate::plan::Derived::new(&site);
    let mut diagnostics = check::check(&site, &doc, &derived);
    diagnostics.sort_by_key(|d| d.pos);
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(fail(diagnostics));
    }
    Ok(Loaded {
        site,
        doc,
        warnings: diagnostics,
        derived,
    })
}
