//! The read stage: spec text to a JSON value plus the line and column of every key and value in it.
//!
//! The schema validator works on JSON and reports JSON pointers; this module keeps the map from each
//! pointer back to the YAML, so that every error can name its line and column.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;
use serde_saphyr::options::DuplicateKeyPolicy;

use crate::diagnostic::{Diagnostic, Pos};

/// Specs larger than this are refused before parsing: no real site comes near it.
pub(crate) const MAX_SPEC_BYTES: usize = 4 * 1024 * 1024;
/// Nesting deeper than this is refused: the spec itself is at most a few levels deep.
const MAX_DEPTH: usize = 64;

/// A spec file's name (as the user wrote it) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub(crate) name: String,
    pub(crate) text: String,
}

/// Where a JSON pointer's key and value are in the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) key: Option<Pos>,
    pub(crate) value: Pos,
}

/// The spec as JSON, and where each part of it came from.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    spans: HashMap<String, Span>,
}

impl Document {
    /// The span of the value at `pointer`, or of its nearest ancestor that has one.
    pub(crate) fn span(&self, pointer: &str) -> Span {
        let mut pointer = pointer;
        loop {
            if let Some(span) = self.spans.get(pointer) {
                return *span;
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => {
                    return Span {
                        key: None,
                        value: Pos::START,
                    };
                }
            }
        }
    }

    /// Whether the spec itself holds a value at `pointer` (rather than leaving it to its default).
    pub(crate) fn has(&self, pointer: &str) -> bool {
        self.spans.contains_key(pointer)
    }

    /// Where the value at `pointer` starts.
    pub(crate) fn value_pos(&self, pointer: &str) -> Pos {
        self.span(pointer).value
    }

    /// Where the key of `pointer` is, falling back to its value.
    pub(crate) fn key_pos(&self, pointer: &str) -> Pos {
        let span = self.span(pointer);
        span.key.unwrap_or(span.value)
    }
}

impl Source {
    /// Decodes raw bytes: UTF-8 only, a leading byte-order mark dropped, NUL refused.
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Result<Self, Box<Diagnostic>> {
        let name = name.into();
        if bytes.len() > MAX_SPEC_BYTES {
            return Err(Box::new(Diagnostic::error(
                Pos::START,
                format!(
                    "the spec is {} bytes; specs are limited to {} bytes (4 MiB)",
                    bytes.len(),
                    MAX_SPEC_BYTES
                ),
            )));
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let valid = error.utf8_error().valid_up_to();
                let prefix = String::from_utf8_lossy(&error.as_bytes()[..valid]).into_owned();
                return Err(Box::new(Diagnostic::error(
                    Pos::after(&prefix),
                    "the spec is not valid UTF-8: save it as UTF-8",
                )));
            }
        };
        let text = text
            .strip_prefix('\u{feff}')
            .map(str::to_owned)
            .unwrap_or(text);
        if let Some(at) = text.find('\0') {
            return Err(Box::new(Diagnostic::error(
                Pos::after(&text[..at]),
                "the spec contains a NUL byte",
            )));
        }
        Ok(Self { name, text })
    }

    /// Parses the YAML into a [`Document`].
    pub fn parse(&self) -> Result<Document, Box<Diagnostic>> {
        if self.text.trim().is_empty()
            || self
                .text
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Err(Box::new(Diagnostic::error(
                Pos::START,
                "the spec is empty: it needs at least `site:` and `hosts:`",
            )));
        }
        let options = serde_saphyr::options! {
            strict_booleans: true,
            leading_zero_numbers_as_strings: true,
            duplicate_keys: DuplicateKeyPolicy::Error,
            with_snippet: false,
            // A spec uses aliases to share a list or two; a "billion laughs" replays millions of
            // events. This cap stops one early and still leaves room for 10,000 hosts sharing
            // their roles.
            alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: 100_000 },
        };
        let root: Spanned<Node> = serde_saphyr::from_str_with_options(&self.text, options)
            .map_err(|error| Box::new(yaml_error(&self.text, &error)))?;
        let mut spans = HashMap::new();
        let value = to_json(root, None, String::new(), 0, &mut spans)?;
        Ok(Document { value, spans })
    }
}

fn yaml_error(text: &str, error: &serde_saphyr::Error) -> Diagnostic {
    let pos = error
        .location()
        .filter(|loc| loc.line() > 0)
        .map(|loc| Pos::new(loc.line() as usize, loc.column() as usize))
        .unwrap_or(Pos::START);
    let pos = if pos.line > text.lines().count().max(1) {
        Pos::new(text.lines().count().max(1), 1)
    } else {
        pos
    };
    let message = error.without_snippet().to_string();
    let (pos, message) = tidy_yaml_message(text, pos, &message);
    Diagnostic::error(pos, format!("invalid YAML: {message}"))
}

/// serde-saphyr's (and its scanner's) message, said in a spec author's terms: what to write, at
/// the line of the mistake, which is not always where the scanner stopped (a tab in the
/// indentation of the line after a value, a quote left open on the line before).
fn tidy_yaml_message(text: &str, pos: Pos, message: &str) -> (Pos, String) {
    let first = message.lines().next().unwrap_or(message).trim();
    // The position is already in front; serde-saphyr's own, appended, would say it twice.
    let cut = first
        .find(" at line ")
        .or_else(|| first.find(" at or near line "))
        .unwrap_or(first.len());
    let first = first[..cut].trim_end_matches(':');
    if let Some(rest) = first.strip_prefix("duplicate mapping key: ") {
        let key = rest
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or(rest);
        let message = format!("duplicate key `{key}`: a key may appear once in a mapping");
        return (pos, message);
    }
    if let Some(plain) = plain_yaml_message(first) {
        return (pos, plain);
    }
    let lines = Lines::new(text);
    if first.contains("tab") {
        let message = "a tab where YAML takes only spaces: indent with spaces".to_owned();
        return (lines.tab_from(pos).unwrap_or(pos), message);
    }
    match first {
        "mapping values are not allowed in this context" => lines.misplaced_colon(pos),
        "while parsing a block mapping, did not find expected key" => lines.misaligned_key(pos),
        "while parsing a block collection, did not find expected '-' indicator" => {
            lines.misaligned_in_list(pos)
        }
        "unclosed quote" | "invalid indentation in multiline quoted scalar" => {
            lines.unclosed_quote(pos)
        }
        _ => (pos, syntax_message(first)),
    }
}

/// The scanner's messages whose place is right, said so that they say what to write.
fn syntax_message(first: &str) -> String {
    let message = match first {
        "unclosed bracket '['" => "the list opened with `[` here is never closed: end it with `]`",
        "unclosed bracket '{'" => {
            "the mapping opened with `{` here is never closed: end it with `}`"
        }
        "invalid trailing content after double-quoted scalar"
        | "invalid trailing content after single-quoted scalar" => {
            "text after the closing quote: quote the whole value, or put a `,` between the items of `{ … }` or `[ … ]`"
        }
        "simple key expected ':'" => {
            "a line without `:` among keys: write `key: value` (or `- value` in a list)"
        }
        "alias references unknown anchor" | "while parsing node, found unknown anchor" => {
            "this `*name` refers to no `&name` anchor above it"
        }
        "illegal placement of ':' indicator" => {
            "a `:` where none can be: is a `[` or `{` above left open?"
        }
        "block sequence entries are not allowed in this context" => {
            "a list cannot start on its key's line with `- `: put each `- item` on a line of its own, below the key and indented, or write `[a, b]`"
        }
        "mapping keys are not allowed in this context" => {
            "a `?` key cannot start here: spec keys are plain names followed by `:`"
        }
        "while parsing a quoted scalar, found unknown escape character" => {
            "a `\\` that starts no escape in a double-quoted value: write `\\\\` for a backslash, or use single quotes"
        }
        "while parsing a flow sequence, expected ',' or ']'" => {
            "a `,` between items or the closing `]` is missing in this list"
        }
        "while parsing a flow mapping, did not find expected ',' or '}'" => {
            "a `,` between entries or the closing `}` is missing in this mapping"
        }
        "while parsing a node, did not find expected node content" => "a value is missing here",
        "invalid indentation in flow construct" => {
            "the lines of a `[ … ]` or `{ … }` that goes on over lines must be indented deeper than its key"
        }
        other if other.starts_with("unexpected EOF while parsing") => {
            "the file ends inside a list or mapping: is a `[` or `{` left open?"
        }
        other if other.starts_with("unexpected character: ") => {
            let c = other.trim_start_matches("unexpected character: `");
            let c = c.strip_suffix('\'').unwrap_or(c);
            if c.starts_with("\\u{") {
                return format!("a control character ({c}) where YAML takes none: remove it");
            }
            let c = if c == "`" {
                "a backquote".to_owned()
            } else {
                format!("`{c}`")
            };
            return format!("a value cannot start with {c} unquoted: put the value in quotes");
        }
        other => {
            let hint = if other.contains("quoted scalar") {
                " (is a quote left open?)"
            } else {
                ""
            };
            return format!("{other}{hint}");
        }
    };
    message.to_owned()
}

/// The spec's lines, for finding where a YAML mistake is from where the scanner stopped.
struct Lines<'t> {
    lines: Vec<&'t str>,
}

/// One line of the spec, as the indentation rules see it.
struct Line<'t> {
    number: usize,
    /// Spaces before the line's content.
    indent: usize,
    /// Spaces and `- ` list markers before the first key or value.
    key_indent: usize,
    /// The content after the list markers.
    rest: &'t str,
    /// Whether it starts a list item.
    item: bool,
}

impl Line<'_> {
    /// The key it starts, `name` for `name: db1` and `name:`.
    fn key(&self) -> Option<&str> {
        let (key, after) = self.rest.split_once(':')?;
        let is_key = after.is_empty() || after.starts_with([' ', '\t']);
        (is_key && !key.is_empty() && !key.contains([' ', '"', '\'', '{', '['])).then_some(key)
    }

    /// Whether it is `key: value` with the value on the line.
    fn has_value(&self) -> bool {
        self.rest
            .split_once(": ")
            .is_some_and(|(_, v)| !v.trim().is_empty() && !v.trim_start().starts_with('#'))
    }

    /// The key, or what the line starts with, for a message.
    fn what(&self) -> String {
        match self.key() {
            Some(key) => format!("`{key}`"),
            None if self.item => "this list item".to_owned(),
            None => "this line".to_owned(),
        }
    }
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            lines: text.lines().map(|l| l.trim_end_matches('\r')).collect(),
        }
    }

    /// Line `number` (1-based), unless it is blank or only a comment.
    fn content(&self, number: usize) -> Option<Line<'t>> {
        let text = *self.lines.get(number.checked_sub(1)?)?;
        let body = text.trim_start_matches(' ');
        if body.trim().is_empty() || body.starts_with('#') {
            return None;
        }
        let indent = text.len() - body.len();
        let mut rest = body;
        while let Some(after) = rest.strip_prefix("- ") {
            rest = after.trim_start_matches(' ');
        }
        Some(Line {
            number,
            indent,
            key_indent: text.len() - rest.len(),
            rest,
            item: body.starts_with("- "),
        })
    }

    /// The lines with content above line `number`, nearest first.
    fn above(&self, number: usize) -> impl Iterator<Item = Line<'t>> + '_ {
        (1..number).rev().filter_map(|n| self.content(n))
    }

    /// The first tab at or after the start of `pos`'s line: the scanner reports a tab in the
    /// indentation of a line as the end of the value before it.
    fn tab_from(&self, pos: Pos) -> Option<Pos> {
        self.lines
            .iter()
            .enumerate()
            .skip(pos.line - 1)
            .find_map(|(i, line)| {
                let column = line.chars().position(|c| c == '\t')?;
                Some(Pos::new(i + 1, column + 1))
            })
    }
}

/// Where a YAML mistake is, and what to write, for the scanner's messages whose position is
/// where it noticed rather than where the author slipped.
impl Lines<'_> {
    /// "mapping values are not allowed": a `: ` where no key can start, after a value.
    fn misplaced_colon(&self, pos: Pos) -> (Pos, String) {
        let generic = (
            pos,
            "a `key: value` cannot start here: check the indentation of this line and the one above"
                .to_owned(),
        );
        let Some(line) = self.content(pos.line) else {
            return generic;
        };
        let before: String = self.lines[pos.line - 1]
            .chars()
            .take(pos.column - 1)
            .collect();
        // `hosts: a: b`: the value itself holds `: `.
        if let Some(at) = before.find(": ").filter(|at| *at >= line.key_indent) {
            let value = before[at + 2..].chars().take_while(|c| *c == ' ').count();
            let column = before[..at + 2].chars().count() + value + 1;
            return (
                Pos::new(pos.line, column),
                "a value with `: ` in it must be in quotes (a mapping starts on the line below its key)"
                    .to_owned(),
            );
        }
        let Some(prev) = self.above(pos.line).next() else {
            return generic;
        };
        if let Some(message) = missing_space(&prev) {
            return (Pos::new(prev.number, prev.indent + 1), message);
        }
        if line.key_indent > prev.key_indent && prev.has_value() {
            let message = format!(
                "{} is indented {} spaces, deeper than `{}` on line {} ({} spaces), which has its value already: the keys of a mapping line up, so indent it {} spaces",
                line.what(),
                line.key_indent,
                prev.key().unwrap_or("the key"),
                prev.number,
                prev.key_indent,
                prev.key_indent,
            );
            return (Pos::new(line.number, line.key_indent + 1), message);
        }
        generic
    }

    /// "did not find expected key": a line indented to no mapping's column. The nearest line
    /// above it that is indented less is a key of the mapping that stopped; the nearest deeper
    /// key, one of the mapping it may have been meant for.
    fn misaligned_key(&self, pos: Pos) -> (Pos, String) {
        let Some(line) = self.content(pos.line) else {
            return (pos, "a line indented to no mapping's column".to_owned());
        };
        let shallower = self
            .above(line.number)
            .find(|l| l.key_indent < line.key_indent);
        let deeper = self
            .above(line.number)
            .take_while(|l| l.key_indent > line.key_indent)
            .filter(|l| l.key().is_some())
            .last();
        let mut options: Vec<String> = [shallower, deeper]
            .iter()
            .flatten()
            .filter(|l| l.key().is_some())
            .map(|l| {
                format!(
                    "{} spaces like {} on line {}",
                    l.key_indent,
                    l.what(),
                    l.number
                )
            })
            .collect();
        options.dedup();
        let fix = if options.is_empty() {
            String::new()
        } else {
            format!(": indent it {}", options.join(", or "))
        };
        let message = format!(
            "{} is indented {} spaces, which lines up with no key above it{fix}",
            line.what(),
            line.key_indent
        );
        (Pos::new(line.number, line.key_indent + 1), message)
    }

    /// "did not find expected '-' indicator": a key between a list's `-` and its item's keys.
    fn misaligned_in_list(&self, pos: Pos) -> (Pos, String) {
        let Some(line) = self.content(pos.line) else {
            return (
                pos,
                "a line that is neither a list item nor one of its keys".to_owned(),
            );
        };
        let Some(item) = self
            .above(line.number)
            .find(|l| l.item && l.indent <= line.indent)
        else {
            return self.misaligned_key(pos);
        };
        let message = format!(
            "{} is indented {} spaces, which puts it in neither the list item on line {} nor the list: indent it {} spaces like {} to add it to that item, or start a new item with `- `",
            line.what(),
            line.key_indent,
            item.number,
            item.key_indent,
            item.what()
        );
        (Pos::new(line.number, line.key_indent + 1), message)
    }

    /// An unclosed quote: the scanner stops at the line after it, or at the end of the file.
    /// The quote is the nearest one above that opens a value and is not closed on its line.
    fn unclosed_quote(&self, pos: Pos) -> (Pos, String) {
        let found = (1..=pos.line).rev().take(100).find_map(|number| {
            let line = self.lines.get(number - 1)?;
            open_quote(line).map(|(column, quote)| (Pos::new(number, column), quote))
        });
        match found {
            Some((at, quote)) => (
                at,
                format!(
                    "the value quoted with `{quote}` here is never closed: end it with `{quote}`"
                ),
            ),
            None => (pos, "a quoted value is never closed".to_owned()),
        }
    }
}

/// `site:demo` or `-name: db1` on `line`: a `:` or `-` without the space YAML needs after it.
fn missing_space(line: &Line<'_>) -> Option<String> {
    if let Some(after) = line
        .rest
        .strip_prefix('-')
        .filter(|a| !a.starts_with(['-', ' ']))
    {
        let word: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        return Some(format!(
            "a list item needs a space after its `-`: write `- {word}`"
        ));
    }
    if line.key().is_none() && !line.rest.contains(": ") {
        let (key, value) = line.rest.split_once(':')?;
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
        if !key.is_empty() && key.chars().all(plain) && !value.is_empty() {
            return Some(format!(
                "a key needs a space after its `:`: write `{key}: …`"
            ));
        }
    }
    None
}

/// The column (1-based, in characters) and kind of a quote on `line` that opens a value and is
/// not closed on the line.
fn open_quote(line: &str) -> Option<(usize, char)> {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '#' && (i == 0 || chars[i - 1] == ' ') {
            return None;
        }
        let opens =
            matches!(c, '"' | '\'') && (i == 0 || matches!(chars[i - 1], ' ' | '[' | '{' | ','));
        if opens {
            let closed = (i + 1..chars.len())
                .find(|&j| chars[j] == c && (c == '\'' || chars[j - 1] != '\\'));
            match closed {
                Some(j) => i = j,
                None => return Some((i + 1, c)),
            }
        }
        i += 1;
    }
    None
}

/// serde-saphyr's messages that speak of its own API or budgets, said in a spec author's terms.
fn plain_yaml_message(first: &str) -> Option<String> {
    let message = if first.starts_with("budget breached: Depth")
        || first == "recursion limit exceeded"
    {
        "nested more than 64 levels deep; a site spec needs a handful".to_owned()
    } else if first.starts_with("budget breached: Nodes") {
        "more than 250,000 values once aliases are expanded; a site spec needs far fewer".to_owned()
    } else if let Some(breach) = first.strip_prefix("budget breached: ") {
        let what = breach.split([' ', '{']).next().unwrap_or(breach);
        format!(
            "too large: over sitewright's YAML limit on {}",
            what.to_lowercase()
        )
    } else if first.starts_with("alias replay limit exceeded") {
        "aliases expand to more than 100,000 values; a site spec needs far fewer".to_owned()
    } else if first.starts_with("recursive references require") {
        "an alias refers to its own anchor, so it would never end".to_owned()
    } else if first.starts_with("multiple YAML documents detected") {
        "a second YAML document (after `---`): a spec is one document".to_owned()
    } else if let Some(rest) = first.strip_prefix("non-finite float ") {
        let value = rest.split(" rejected").next().unwrap_or(rest);
        format!("{value} is not a finite number")
    } else {
        return None;
    };
    Some(message)
}

/// A YAML node as serde-saphyr gives it to a visitor: scalars typed, collections with spans.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
        Err(E::custom("number out of range: at most 64 bits"))
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
        Err(E::custom("number out of range: at most 64 bits"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Err(E::custom("binary values are not supported"))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

fn pos_of<T>(node: &Spanned<T>) -> Pos {
    Pos::new(
        node.referenced.line() as usize,
        node.referenced.column() as usize,
    )
}

/// Escapes a key for a JSON pointer (RFC 6901).
pub(crate) fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn to_json(
    node: Spanned<Node>,
    key: Option<Pos>,
    pointer: String,
    depth: usize,
    spans: &mut HashMap<String, Span>,
) -> Result<Value, Box<Diagnostic>> {
    let pos = pos_of(&node);
    if depth > MAX_DEPTH {
        return Err(Box::new(Diagnostic::error(
            pos,
            format!("the spec is nested more than {MAX_DEPTH} levels deep"),
        )));
    }
    spans.insert(pointer.clone(), Span { key, value: pos });
    Ok(match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::from(i),
        Node::UInt(u) => Value::from(u),
        Node::Float(f) => Value::Number(Number::from_f64(f).ok_or_else(|| {
            Box::new(Diagnostic::error(
                pos,
                "numbers must be finite (no .inf or .nan)",
            ))
        })?),
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| to_json(item, None, format!("{pointer}/{i}"), depth + 1, spans))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                let key_pos = pos_of(&k);
                let name = match k.value {
                    Node::Str(s) => s,
                    Node::Int(i) => i.to_string(),
                    Node::UInt(u) => u.to_string(),
                    Node::Bool(b) => b.to_string(),
                    _ => {
                        return Err(Box::new(Diagnostic::error(
                            key_pos,
                            "keys must be plain strings",
                        )));
                    }
                };
                let child = format!("{pointer}/{}", pointer_token(&name));
                let value = to_json(v, Some(key_pos), child, depth + 1, spans)?;
                map.insert(name, value);
            }
            Value::Object(map)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Document, Box<Diagnostic>> {
        Source::from_bytes("t.yaml", text.as_bytes().to_vec())?.parse()
    }

    #[test]
    fn every_value_keeps_its_position() {
        let doc = parse("site: x\nhosts:\n  - name: db1\n    cpus: 4\n").unwrap();
        assert_eq!(doc.value_pos("/hosts/0/cpus"), Pos::new(4, 11));
        assert_eq!(doc.key_pos("/hosts/0/cpus"), Pos::new(4, 5));
        assert_eq!(doc.value_pos("/hosts/0/name"), Pos::new(3, 11));
        assert_eq!(doc.value_pos("/hosts/0/missing/deeper"), Pos::new(3, 5));
    }

    #[test]
    fn yaml_11_booleans_and_octals_stay_strings() {
        let doc = parse("a: yes\nb: on\nc: 0755\nd: true\ne: 12\n").unwrap();
        assert_eq!(doc.value["a"], "yes");
        assert_eq!(doc.value["b"], "on");
        assert_eq!(doc.value["c"], "0755");
        assert_eq!(doc.value["d"], true);
        assert_eq!(doc.value["e"], 12);
    }

    #[test]
    fn duplicate_keys_are_refused_at_their_line() {
        let error = parse("site: a\nsite: b\n").unwrap_err();
        assert_eq!(error.pos.line, 2, "{error:?}");
    }

    #[test]
    fn byte_order_mark_and_crlf_are_accepted() {
        let doc = parse("\u{feff}site: a\r\nhosts: []\r\n").unwrap();
        assert_eq!(doc.value["site"], "a");
        assert_eq!(doc.value_pos("/hosts"), Pos::new(2, 8));
    }
}
