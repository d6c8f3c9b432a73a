//! YAML text written by sitewright (the spec `import` writes, the data of an Ansible export), with
//! a comment beside a value where one explains it: the spec types only read YAML.

use std::fmt::Write as _;

/// A value of the spec being written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Int(i64),
    /// A finite float, written so that YAML reads it back as a float (`1.0`, not `1`).
    Float(f64),
    Bool(bool),
    Seq(Vec<Node>),
    Map(Map),
}

/// A mapping in the order its keys are written, each key with an optional comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Map(Vec<(String, Node, Option<String>)>);

impl Map {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn set(&mut self, key: &str, value: Node) -> &mut Self {
        self.0.push((key.to_owned(), value, None));
        self
    }

    /// Sets `key`, with `why` as a comment beside it: what the value is a guess from.
    pub(crate) fn guess(&mut self, key: &str, value: Node, why: impl Into<String>) -> &mut Self {
        self.0.push((key.to_owned(), value, Some(why.into())));
        self
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.0.iter().find(|(k, _, _)| k == key).map(|(_, v, _)| v)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0
            .iter_mut()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v)
    }

    /// Sets the value at `path` (keys from this map down), making the maps on the way; a key
    /// already there is replaced in its place.
    pub(crate) fn set_path(&mut self, path: &[&str], value: Node) {
        let Some((last, parents)) = path.split_last() else {
            return;
        };
        let mut map = self;
        for key in parents {
            if !matches!(map.get(key), Some(Node::Map(_))) {
                map.remove(key);
                map.set(key, Node::Map(Map::new()));
            }
            let Some(Node::Map(next)) = map.get_mut(key) else {
                return;
            };
            map = next;
        }
        map.replace(last, value);
    }

    /// Sets `key`'s value where it is (its comment kept), or at the end.
    pub(crate) fn replace(&mut self, key: &str, value: Node) {
        match self.0.iter_mut().find(|(k, _, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => {
                self.set(key, value);
            }
        }
    }

    /// Sets `key`'s value and its comment where it is, or at the end.
    pub(crate) fn replace_guess(&mut self, key: &str, value: Node, why: impl Into<String>) {
        match self.0.iter_mut().find(|(k, _, _)| k == key) {
            Some(entry) => {
                entry.1 = value;
                entry.2 = Some(why.into());
            }
            None => {
                self.guess(key, value, why);
            }
        }
    }

    /// Each key and its value, in order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.0.iter().map(|(k, v, _)| (k.as_str(), v))
    }

    pub(crate) fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _, _)| k != key);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Node {
    pub(crate) fn text(value: impl Into<String>) -> Self {
        Self::Text(value.into())
    }
}

/// The YAML text of `map`, a document's top level.
pub(crate) fn document(map: &Map) -> String {
    let mut out = String::new();
    write_map(&mut out, map, 0);
    out
}

fn write_map(out: &mut String, map: &Map, indent: usize) {
    for (key, value, comment) in &map.0 {
        let pad = " ".repeat(indent);
        let _ = write!(out, "{pad}{}:", scalar_text(key));
        write_value(out, value, indent, comment.as_deref());
    }
}

/// Writes `value` after a key (or a `- `) already on the line.
fn write_value(out: &mut String, value: &Node, indent: usize, comment: Option<&str>) {
    let comment = comment.map_or_else(String::new, |c| format!("  # {}", one_line(c)));
    match value {
        Node::Map(map) if !map.is_empty() => {
            let _ = writeln!(out, "{comment}");
            write_map(out, map, indent + 2);
        }
        Node::Seq(items) if !items.is_empty() => {
            let _ = writeln!(out, "{comment}");
            for item in items {
                let pad = " ".repeat(indent + 2);
                match item {
                    Node::Map(map) if !map.is_empty() => {
                        // The first key on the dash's line, the others under it.
                        let mut text = String::new();
                        write_map(&mut text, map, indent + 4);
                        let _ = write!(out, "{pad}- {}", &text[indent + 4..]);
                    }
                    other => {
                        let _ = write!(out, "{pad}-");
                        write_value(out, other, indent + 2, None);
                    }
                }
            }
        }
        Node::Map(_) => {
            let _ = writeln!(out, " {{}}{comment}");
        }
        Node::Seq(_) => {
            let _ = writeln!(out, " []{comment}");
        }
        Node::Text(text) => {
            let _ = writeln!(out, " {}{comment}", scalar_text(text));
        }
        Node::Int(n) => {
            let _ = writeln!(out, " {n}{comment}");
        }
        Node::Float(f) => {
            let _ = writeln!(out, " {f:?}{comment}");
        }
        Node::Bool(b) => {
            let _ = writeln!(out, " {b}{comment}");
        }
    }
}

/// A comment stays on its line: a line break in it would end it.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A string as a YAML scalar: plain where YAML reads it back as the same string, and
/// double-quoted (JSON's escaping, which YAML reads) otherwise.
fn scalar_text(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '@' | '%'))
        && (text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
            || (text.starts_with(|c: char| c.is_ascii_digit())
                && text.parse::<f64>().is_err()
                && !text.starts_with("0x")
                && !text.starts_with("0o")
                && !text.contains('_')))
        && !matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_reads_back_as_it_was_built() {
        let mut host = Map::new();
        host.set("name", Node::text("db1"))
            .guess("memory", Node::text("64GiB"), "4 x shared_buffers (16GB)")
            .set("roles", Node::Seq(vec![Node::text("postgres-primary")]));
        let mut settings = Map::new();
        settings
            .set("autovacuum", Node::Bool(true))
            .set("log_line_prefix", Node::text("%m [%p] "))
            .set("work_mem", Node::text("on"));
        let mut postgres = Map::new();
        postgres
            .set("version", Node::Int(16))
            .set("settings", Node::Map(settings))
            .set("hba", Node::Seq(Vec::new()));
        let mut top = Map::new();
        top.set("site", Node::text("catmaid"))
            .set("hosts", Node::Seq(vec![Node::Map(host)]))
            .set("postgres", Node::Map(postgres));
        let text = document(&top);
        assert_eq!(
            text,
            "site: catmaid
hosts:
  - name: db1
    memory: 64GiB  # 4 x shared_buffers (16GB)
    roles:
      - postgres-primary
postgres:
  version: 16
  settings:
    autovacuum: true
    log_line_prefix: \"%m [%p] \"
    work_mem: \"on\"
  hba: []
"
        );
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["postgres"]["settings"]["log_line_prefix"], "%m [%p] ");
        assert_eq!(back["hosts"][0]["memory"], "64GiB");
        for text in ["1e3", "0x1F", "12", "1.5", "1_000", "yes", "%m", "a b"] {
            assert!(scalar_text(text).starts_with('"'), "{text} must be quoted");
        }
        assert_eq!(scalar_text("192.0.2.11"), "192.0.2.11");
    }

    #[test]
    fn a_float_reads_back_as_a_float() {
        let mut top = Map::new();
        top.set("ratio", Node::Float(0.25))
            .set("whole", Node::Float(1.0))
            .set("tiny", Node::Float(1e-7));
        let text = document(&top);
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["ratio"].as_f64(), Some(0.25), "{text}");
        assert_eq!(back["whole"].as_f64(), Some(1.0), "{text}");
        assert!(back["whole"].is_f64(), "{text}");
        assert_eq!(back["tiny"].as_f64(), Some(1e-7), "{text}");
    }
}
