//! Problems found in a spec, each at a line and column, and how they are shown to a person.
//!
//! Every stage that reads the spec reports through this type, so `check`, `render` and `diff` print
//! problems the same way: `SPEC:LINE:COL: error: MESSAGE`, the source line, and a marker under it.

use std::fmt::Write as _;

use crate::rules::Rule;
// Severity is a rule's as much as a diagnostic's; it lives with the registry so that the registry
// needs nothing from here, and is named here too, where every stage that reports looks for it.
pub use crate::rules::Severity;

/// The most characters of a source line shown under a diagnostic.
const MAX_EXCERPT: usize = 100;

/// A 1-based line and column (in characters) in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub(crate) column: usize,
}

impl Pos {
    pub(crate) const START: Pos = Pos { line: 1, column: 1 };

    pub(crate) const fn new(line: usize, column: usize) -> Self {
        Self {
            line: if line == 0 { 1 } else { line },
            column: if column == 0 { 1 } else { column },
        }
    }

    /// The position just after `prefix`, where the next character would be.
    pub(crate) fn after(prefix: &str) -> Self {
        let line = prefix.matches('\n').count() + 1;
        let last = prefix.rsplit('\n').next().unwrap_or("");
        Self::new(line, last.chars().count() + 1)
    }
}

/// Whether the source line may be shown under a diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Excerpt {
    Show,
    /// The value at the position may be a secret: the line is shown only up to it.
    Redact,
}

/// One problem, at one place in the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    /// The id of the rule, as printed: `PG017`.
    pub rule: Option<&'static str>,
    pub message: String,
    pub(crate) excerpt: Excerpt,
    /// The host the problem is on, when it is one host's.
    pub(crate) host: Option<String>,
    /// Other places in the spec the problem involves.
    pub(crate) also: Vec<Pos>,
}

impl Diagnostic {
    pub(crate) fn error(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            pos,
            rule: None,
            message: message.into(),
            excerpt: Excerpt::Show,
            host: None,
            also: Vec::new(),
        }
    }

    pub(crate) fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(pos, message)
        }
    }

    /// Marks the diagnostic as `rule`'s, whose registered severity it takes.
    pub(crate) fn rule(mut self, rule: Rule) -> Self {
        self.rule = Some(rule.as_str());
        self.severity = rule.severity();
        self
    }

    /// The problem is on `host`.
    pub(crate) fn on(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The problem involves the spec at `pos` too.
    pub(crate) fn also(mut self, pos: Pos) -> Self {
        if pos != self.pos && !self.also.contains(&pos) {
            self.also.push(pos);
        }
        self
    }

    pub(crate) fn redacted(mut self) -> Self {
        self.excerpt = Excerpt::Redact;
        self
    }

    /// The first line: `SPEC:LINE:COL: error[ID]: MESSAGE`, and `; see SPEC:LINE:COL` for each other place.
    pub fn headline(&self, spec_name: &str) -> String {
        let rule = self.rule.map(|id| format!("[{id}]")).unwrap_or_default();
        let see: String = self
            .also
            .iter()
            .map(|p| format!("; see {spec_name}:{}:{}", p.line, p.column))
            .collect();
        format!(
            "{spec_name}:{}:{}: {}{rule}: {}{see}",
            self.pos.line, self.pos.column, self.severity, self.message
        )
    }

    /// The headline, then the source line with a marker under the position.
    pub(crate) fn render(&self, spec_name: &str, text: &str) -> String {
        let mut out = self.headline(spec_name);
        out.push('\n');
        let Some(line) = text.lines().nth(self.pos.line - 1) else {
            return out;
        };
        let line = line.trim_end_matches('\r');
        let all: Vec<char> = line.chars().collect();
        let column = (self.pos.column - 1).min(all.len());
        // A long line is shown as a window around the position.
        let (from, to) = if all.len() > MAX_EXCERPT {
            let from = column.saturating_sub(MAX_EXCERPT / 3);
            (from, (from + MAX_EXCERPT).min(all.len()))
        } else {
            (0, all.len())
        };
        let mut chars: Vec<char> = Vec::with_capacity(to - from + 2);
        if from > 0 {
            chars.push('…');
        }
        chars.extend(&all[from..to]);
        if to < all.len() {
            chars.push('…');
        }
        let start = column - from + usize::from(from > 0);
        let (shown, width) = match self.excerpt {
            Excerpt::Show => {
                let shown: String = chars.iter().collect();
                (shown, token_width(&chars[start..]))
            }
            Excerpt::Redact => {
                let visible: String = chars[..start].iter().collect();
                (format!("{visible}<redacted>"), "<redacted>".len())
            }
        };
        let number = self.pos.line.to_string();
        let gutter = " ".repeat(number.len());
        let indent: String = chars[..start]
            .iter()
            .map(|c| if *c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{number} | {}", shown.replace('\t', "    "));
        let _ = writeln!(
            out,
            "{gutter} | {}{}",
            indent.replace('\t', "    "),
            "^".repeat(width.max(1))
        );
        out
    }
}

/// How many characters the token at the start of `rest` spans: a quoted string, or up to a comment.
fn token_width(rest: &[char]) -> usize {
    match rest.first() {
        Some(quote @ ('"' | '\'')) => rest[1..]
            .iter()
            .position(|c| c == quote)
            .map_or(rest.len(), |end| end + 2),
        Some(_) => {
            let text: String = rest.iter().collect();
            let content = text.split(" #").next().unwrap_or(&text);
            let content = content.split([',', ']', '}']).next().unwrap_or(content);
            let content = content.trim_end();
            if let Some(colon) = content.find(": ") {
                content[..colon].chars().count()
            } else {
                content.strip_suffix(':').unwrap_or(content).chars().count()
            }
        }
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_headline_line_and_marker() {
        let text = "site: x\nhosts:\n  - memory: 64 gigs # big\n";
        let diagnostic = Diagnostic::error(Pos::new(3, 13), "expected a byte size");
        assert_eq!(
            diagnostic.render("s.yaml", text),
            "s.yaml:3:13: error: expected a byte size\n  |\n3 |   - memory: 64 gigs # big\n  |             ^^^^^^^\n"
        );
    }

    #[test]
    fn marks_a_key_not_its_value() {
        let text = "sitte: x\n";
        let out = Diagnostic::error(Pos::new(1, 1), "unknown").render("s", text);
        assert!(out.ends_with("1 | sitte: x\n  | ^^^^^\n"), "{out}");
    }

    #[test]
    fn a_long_line_is_shown_around_the_position() {
        let text = format!("k: [{}bad{}]\n", "a, ".repeat(100), ", b".repeat(100));
        let column = text.find("bad").unwrap() + 1;
        let out = Diagnostic::error(Pos::new(1, column), "x").render("s", &text);
        let shown = out.lines().nth(2).unwrap();
        assert!(
            shown.starts_with("1 | …") && shown.ends_with('…'),
            "{shown}"
        );
        assert!(shown.chars().count() < 110, "{shown}");
        let marker = out.lines().nth(3).unwrap();
        let at = marker.find('^').unwrap();
        assert_eq!(
            &shown[shown
                .char_indices()
                .nth(marker[..at].chars().count())
                .unwrap()
                .0..][..3],
            "bad"
        );
    }

    #[test]
    fn redacts_what_may_be_a_secret() {
        let text = "password: hunter2\n";
        let out = Diagnostic::error(Pos::new(1, 11), "inline secret")
            .redacted()
            .render("s", text);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("password: <redacted>"), "{out}");
    }

    #[test]
    fn positions_after_a_prefix() {
        assert_eq!(Pos::after("ab\ncd"), Pos::new(2, 3));
        assert_eq!(Pos::after(""), Pos::START);
    }
}
