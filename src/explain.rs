//! `explain`: for each line of a rendered file, where its value came from — the spec line it was
//! written from, how it was derived, or the template's own text. Pure: the caller renders the file
//! and prints the result.

use crate::escape::Format;
use crate::plan::{Origin, PlannedFile};
use crate::source::Document;

/// One line of a rendered file and what explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub number: usize,
    pub text: String,
    pub key: Option<String>,
    /// The spec location, `SPEC:LINE:COL (dotted.path)`.
    pub spec: Option<String>,
    pub why: Option<String>,
}

/// `postgres/settings/max_connections` as `postgres.settings.max_connections`, indexes in brackets.
pub fn dotted(pointer: &str) -> String {
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

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#') || t.starts_with("--") || t.starts_with("\"\"\"")
}

/// The key a line sets, in the file's format: a setting's name, a directive, a Python name.
fn key_of(format: Format, line: &str) -> Option<String> {
    let t = line.trim();
    let word = match format {
        Format::PgConf | Format::Sysctl => t.split(['=', ' ']).next()?,
        // A block's opening line is the template's layout, not a value.
        Format::Nginx if t.ends_with('{') => return None,
        Format::Nginx => t.split([' ', ';']).next()?,
        Format::Python => {
            let word = t.split([' ', ':', '=']).next()?;
            return Some(word.trim_matches('"').to_owned())
                .filter(|w| !w.is_empty() && *w != "}" && *w != "},");
        }
        // A job line: five time fields and the user, then the program it runs.
        Format::Cron if t.starts_with(|c: char| c.is_ascii_digit() || c == '*') => {
            t.split_whitespace().nth(6)?
        }
        _ => return None,
    };
    Some(word.to_owned()).filter(|w| !w.is_empty() && w != "}" && w != "{")
}

/// Explains every line of `content`, the rendering of `file`; only lines of `key` when given.
pub fn explain(
    file: &PlannedFile,
    content: &str,
    doc: &Document,
    spec_name: &str,
    key: Option<&str>,
) -> Vec<Line> {
    let format = Format::for_template(file.template);
    let locate = |origin: &Origin| {
        origin.spec.as_deref().map(|pointer| {
            let pos = doc.value_pos(pointer);
            format!(
                "{spec_name}:{}:{} ({})",
                pos.line,
                pos.column,
                dotted(pointer)
            )
        })
    };
    let mut records = file.origins.iter();
    let mut out = Vec::new();
    let mut in_docstring = false;
    for (i, text) in content.lines().enumerate() {
        if text.matches("\"\"\"").count() % 2 == 1 {
            in_docstring = !in_docstring;
            continue;
        }
        if in_docstring || is_comment(text) || text.trim() == "}" || text.trim().starts_with("def ")
        {
            continue;
        }
        let (line_key, origin) = if format == Some(Format::PgHba) {
            (None, records.next())
        } else {
            let line_key = format.and_then(|f| key_of(f, text));
            let origin = line_key.as_deref().and_then(|k| {
                file.origins
                    .iter()
                    .rev()
                    .find(|o| o.key.eq_ignore_ascii_case(k))
            });
            (line_key, origin)
        };
        if let Some(wanted) = key
            && !line_key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(wanted))
        {
            continue;
        }
        out.push(Line {
            number: i + 1,
            text: text.to_owned(),
            key: line_key,
            spec: origin.and_then(locate),
            why: origin.and_then(|o| o.why.clone()),
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

    #[test]
    fn keys_by_format() {
        assert_eq!(
            key_of(Format::PgConf, "shared_buffers = 16GB  # x").as_deref(),
            Some("shared_buffers")
        );
        assert_eq!(
            key_of(Format::Nginx, "    ssl_protocols TLSv1.2 TLSv1.3;").as_deref(),
            Some("ssl_protocols")
        );
        assert_eq!(
            key_of(Format::Python, "        \"HOST\": \"192.0.2.11\",").as_deref(),
            Some("HOST")
        );
        assert_eq!(
            key_of(Format::Python, "DEBUG = False").as_deref(),
            Some("DEBUG")
        );
    }
}
