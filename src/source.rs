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
    let message = error.without_snippet().to_string();
    let message = tidy_yaml_message(&message);
    let pos = if pos.line > text.lines().count().max(1) {
        Pos::new(text.lines().count().max(1), 1)
    } else {
        pos
    };
    Diagnostic::error(pos, format!("invalid YAML: {message}"))
}

/// serde-saphyr appends its own position to messages (ours is already in front) and sometimes
/// advice about its own options; keep the part a spec author can act on, and add a hint.
fn tidy_yaml_message(message: &str) -> String {
    let first = message.lines().next().unwrap_or(message).trim();
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
        return format!("duplicate key `{key}`: a key may appear once in a mapping");
    }
    if let Some(plain) = plain_yaml_message(first) {
        return plain;
    }
    let hint = if first.contains("tab") {
        "; indent with spaces"
    } else if first.contains("quoted scalar") {
        " (is a quote left open?)"
    } else {
        ""
    };
    format!("{first}{hint}")
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
