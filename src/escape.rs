//! Writing one value into one file format so that the reader gets back exactly that value.
//!
//! Each format has one function from a template value to its text, used by the renderer for every
//! `{{ … }}`. A value that a format cannot hold is refused, never written half-escaped.

use std::fmt::{self, Write as _};

use minijinja::value::{Value, ValueKind};

/// The formats sitewright writes; a template's extension picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// postgresql.conf and recovery.conf: strings in single quotes.
    PgConf,
    /// pg_hba.conf: whitespace-separated tokens, double-quoted when needed.
    PgHba,
    /// A libpq password file: `host:port:db:user:password`, `:` and `\` escaped.
    PgPass,
    /// nginx configuration: tokens, quoted when needed, no `$` from the spec.
    Nginx,
    /// /etc/sysctl.d files: `key = value`, one line each.
    Sysctl,
    /// Python source: literals.
    Python,
    /// SQL: string literals, and identifiers double-quoted.
    Sql,
    /// A cron table line: `%` escaped, nothing the shell would interpret.
    Cron,
    /// A file whose content is all template text (standby.signal).
    Plain,
    /// pgbouncer.ini: `key = value`, the value the rest of its line.
    Pgbouncer,
    /// PgBouncer's userlist.txt: double-quoted fields, `"` doubled.
    Userlist,
}

impl Format {
    /// The format a template's file name asks for, by its last extension.
    pub(crate) fn for_template(name: &str) -> Option<Self> {
        Some(match name.rsplit('.').next()? {
            "pgconf" => Self::PgConf,
            "pghba" => Self::PgHba,
            "pgpass" => Self::PgPass,
            "nginx" => Self::Nginx,
            "sysctl" => Self::Sysctl,
            "py" => Self::Python,
            "sql" => Self::Sql,
            "cron" => Self::Cron,
            "txt" => Self::Plain,
            "pgbouncer" => Self::Pgbouncer,
            "userlist" => Self::Userlist,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::PgConf => "postgresql.conf",
            Self::PgHba => "pg_hba.conf",
            Self::PgPass => "passfile",
            Self::Nginx => "nginx",
            Self::Sysctl => "sysctl",
            Self::Python => "Python",
            Self::Sql => "SQL",
            Self::Cron => "cron",
            Self::Plain => "plain text",
            Self::Pgbouncer => "pgbouncer.ini",
            Self::Userlist => "userlist.txt",
        }
    }

    /// The text of `value` in this format.
    pub(crate) fn write(self, value: &Value) -> Result<String, Refused> {
        match self {
            Self::PgConf => pg_conf(value),
            Self::PgHba => scalar(value, self).and_then(|s| pg_hba_token(&s)),
            Self::PgPass => scalar(value, self).and_then(|s| pg_pass_field(&s)),
            Self::Nginx => match value.downcast_object_ref::<NginxWord>() {
                Some(word) => nginx_word(&word.0),
                None => scalar(value, self).and_then(|s| nginx_token(&s)),
            },
            Self::Sysctl => scalar(value, self).and_then(|s| sysctl_value(&s)),
            Self::Python => python(value),
            Self::Sql => scalar(value, self).and_then(|s| sql_literal(&s)),
            Self::Cron => scalar(value, self).and_then(|s| cron_word(&s)),
            Self::Plain => scalar(value, self).and_then(|s| {
                if s.contains(['\n', '\r', '\0']) {
                    Err(Refused::new(&s, "a line break in a one-line value"))
                } else {
                    Ok(s)
                }
            }),
            Self::Pgbouncer => scalar(value, self).and_then(|s| pgbouncer_value(&s)),
            Self::Userlist => scalar(value, self).and_then(|s| userlist_field(&s)),
        }
    }

    /// An identifier (a setting, variable or role name): bare, or double-quoted in SQL;
    /// anything that is not a plain name is refused.
    pub(crate) fn ident(self, name: &str) -> Result<String, Refused> {
        let mut chars = name.chars();
        let ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if ok && self == Self::Sql {
            Ok(format!("\"{name}\""))
        } else if ok {
            Ok(name.to_owned())
        } else {
            Err(Refused::new(
                name,
                "a name must be letters, digits, `_` and `.`",
            ))
        }
    }
}

/// A pgbouncer.ini value. PgBouncer's reader takes the rest of the line, trimmed, with no quoting
/// and no escape: a value that would not come back the same (a line break, a NUL, space at either
/// end) is refused, and so are `;` and `#`, which start a comment where a line starts and which no
/// value of ours needs.
fn pgbouncer_value(text: &str) -> Result<String, Refused> {
    if text.is_empty() {
        Err(Refused::new(text, "an empty pgbouncer.ini value"))
    } else if text.chars().any(|c| c.is_control()) {
        Err(Refused::new(
            text,
            "a control character in a pgbouncer.ini value",
        ))
    } else if text.trim() != text {
        Err(Refused::new(
            text,
            "space at either end of a pgbouncer.ini value",
        ))
    } else if text.contains([';', '#']) {
        Err(Refused::new(text, "`;` or `#` in a pgbouncer.ini value"))
    } else {
        Ok(text.to_owned())
    }
}

/// A userlist.txt field: in double quotes, each `"` doubled; a line break cannot be held.
fn userlist_field(text: &str) -> Result<String, Refused> {
    if text.chars().any(|c| c.is_control()) {
        Err(Refused::new(
            text,
            "a control character in a userlist.txt field",
        ))
    } else {
        Ok(format!("\"{}\"", text.replace('"', "\"\"")))
    }
}

/// A value that a format cannot hold safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) value: String,
    pub(crate) reason: &'static str,
}

impl Refused {
    fn new(value: &str, reason: &'static str) -> Self {
        Self {
            value: value.chars().take(40).collect(),
            reason,
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} cannot be written safely: {}",
            self.value, self.reason
        )
    }
}

/// Bools, numbers and strings as plain text; collections and none have no one-token form.
fn scalar(value: &Value, format: Format) -> Result<String, Refused> {
    match value.kind() {
        ValueKind::Bool => Ok(if value.is_true() { "on" } else { "off" }.to_owned()),
        ValueKind::Number | ValueKind::String => Ok(value.to_string()),
        _ => Err(Refused {
            value: value.to_string().chars().take(40).collect(),
            reason: match format {
                Format::PgHba => "a pg_hba.conf field holds one token",
                _ => "only a single value fits here",
            },
        }),
    }
}

/// A postgresql.conf value: numbers and plain words bare, anything else in single quotes.
fn pg_conf(value: &Value) -> Result<String, Refused> {
    match value.kind() {
        ValueKind::Bool => Ok(if value.is_true() { "on" } else { "off" }.to_owned()),
        ValueKind::Number => Ok(value.to_string()),
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            if is_pg_bare(text) {
                Ok(text.to_owned())
            } else {
                pg_quoted(text)
            }
        }
        _ => Err(Refused::new(
            &value.to_string(),
            "postgresql.conf values are single values",
        )),
    }
}

/// True for words the postgresql.conf lexer reads unquoted as the same string: `replica`, `16GB`, `0.9`.
fn is_pg_bare(text: &str) -> bool {
    let word = text.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let digits = text.trim_start_matches('-');
    let number_end = digits
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(digits.len());
    let (number, unit) = digits.split_at(number_end);
    let number_with_unit = !number.is_empty()
        && number.starts_with(|c: char| c.is_ascii_digit())
        && number.matches('.').count() <= 1
        && !number.ends_with('.')
        && unit.chars().all(|c| c.is_ascii_alphabetic());
    word || number_with_unit
}

/// A single-quoted postgresql.conf string: `'` doubled and `\` escaped, control characters as escapes.
fn pg_quoted(text: &str) -> Result<String, Refused> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => return Err(Refused::new(text, "PostgreSQL strings cannot hold NUL")),
            c if c.is_control() => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    Ok(out)
}

/// A pg_hba.conf token: bare when plain, double-quoted when it has spaces, commas or a keyword's spelling.
fn pg_hba_token(text: &str) -> Result<String, Refused> {
    if text.is_empty() {
        return Err(Refused::new(text, "an empty pg_hba.conf field"));
    }
    if text.contains(['"', '\n', '\r', '\0']) {
        return Err(Refused::new(
            text,
            "pg_hba.conf has no way to write `\"` or a line break",
        ));
    }
    // A leading `+` is pg_hba.conf's "members of this role", which the spec means when it writes it.
    let plain = text
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_alphanumeric() || "_.-:/".contains(c) || (i == 0 && c == '+'))
        && !text.starts_with(['#', '@', '/']);
    if plain {
        Ok(text.to_owned())
    } else {
        Ok(format!("\"{text}\""))
    }
}

/// An SQL string literal: single quotes, `'` doubled; standard_conforming_strings keeps `\` literal.
fn sql_literal(text: &str) -> Result<String, Refused> {
    if text.contains('\0') {
        return Err(Refused::new(text, "SQL strings cannot hold NUL"));
    }
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// A word of a cron command: `%` escaped (cron reads it as a line break), and nothing that the
/// shell running the command would read as syntax.
fn cron_word(text: &str) -> Result<String, Refused> {
    if text.contains(|c: char| c.is_control() || "$`;&|<>'\"\\(){}!#~".contains(c)) {
        return Err(Refused::new(
            text,
            "a cron command word cannot hold shell syntax or line breaks",
        ));
    }
    Ok(text.replace('%', "\\%"))
}

/// A passfile field: `\` and `:` escaped; a line break ends the entry, so it is refused.
fn pg_pass_field(text: &str) -> Result<String, Refused> {
    if text.contains(['\n', '\r', '\0']) {
        return Err(Refused::new("<secret>", "a passfile entry is one line"));
    }
    Ok(text.replace('\\', "\\\\").replace(':', "\\:"))
}

/// An nginx token: bare when plain, else double-quoted with `"` and `\` escaped; `$` is refused
/// because nginx would read it as a variable, and it has no escape for it.
fn nginx_token(text: &str) -> Result<String, Refused> {
    if text.contains('$') {
        return Err(Refused::new(
            text,
            "nginx reads `$` as a variable and has no escape for it",
        ));
    }
    nginx_word(text)
}

/// An argument the spec wrote for a directive of its own, where `$name` is a variable the user
/// means (`check` has made sure nginx has it). No other value can become one: serde makes no
/// objects, so a `$` anywhere else is still refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NginxWord(pub(crate) String);

impl fmt::Display for NginxWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl minijinja::value::Object for NginxWord {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &std::sync::Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl serde::Serialize for NginxWord {
    /// For a template, the word itself, which only the nginx writer writes; elsewhere its text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if minijinja::value::serializing_for_value() {
            Value::from_object(self.clone()).serialize(serializer)
        } else {
            serializer.collect_str(self)
        }
    }
}

/// [`nginx_token`] for a word whose `$` names a variable: bare when nginx reads it as one word,
/// else in double quotes, inside which nginx still reads the variables.
fn nginx_word(text: &str) -> Result<String, Refused> {
    if text.contains(|c: char| c.is_control()) {
        return Err(Refused::new(text, "control characters in an nginx value"));
    }
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:/[]@+=,*~$".contains(c));
    if plain {
        return Ok(text.to_owned());
    }
    Ok(quoted(text))
}

/// `text` in double quotes, `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A sysctl value: one line, no comment characters at its start, no surrounding blanks.
fn sysctl_value(text: &str) -> Result<String, Refused> {
    if text.contains(['\n', '\r', '\0']) || text.starts_with(['#', ';']) || text.trim() != text {
        return Err(Refused::new(
            text,
            "a sysctl value is one line without leading `#`, `;` or blanks",
        ));
    }
    Ok(text.to_owned())
}

/// The key of a one-key map that stands for a Python tuple of its list (JSON has no tuples).
pub(crate) const TUPLE_MARK: &str = "__tuple__";

/// Python code that sitewright writes where a literal would not do: a fixed form from
/// sitewright's own source around one string, which the Python writer quotes, or a dotted name,
/// written bare once it is checked to be one. No spec value can become one (serde makes no
/// objects), so no spec value can become code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PythonCode {
    /// `before`, the string as a Python literal, `after`: `os.environ["NAME"]`.
    Around {
        before: &'static str,
        text: String,
        after: &'static str,
    },
    /// A name, written bare: a module's dotted name (`mysite.settings`), or `None`.
    Name(String),
}

impl PythonCode {
    fn write_into(&self, out: &mut String) -> Result<(), Refused> {
        match self {
            Self::Around {
                before,
                text,
                after,
            } => {
                out.push_str(before);
                python_str(text, out);
                out.push_str(after);
            }
            Self::Name(name) => out.push_str(&Format::Python.ident(name)?),
        }
        Ok(())
    }
}

impl fmt::Display for PythonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        match self.write_into(&mut out) {
            Ok(()) => f.write_str(&out),
            Err(refused) => write!(f, "{refused}"),
        }
    }
}

impl minijinja::value::Object for PythonCode {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn render(self: &std::sync::Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl serde::Serialize for PythonCode {
    /// For a template, the code itself, which only the Python writer writes; elsewhere its text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if minijinja::value::serializing_for_value() {
            Value::from_object(self.clone()).serialize(serializer)
        } else {
            serializer.collect_str(self)
        }
    }
}

/// A Python literal for any template value, or the [`PythonCode`] the plan chose.
fn python(value: &Value) -> Result<String, Refused> {
    let mut out = String::new();
    python_into(value, &mut out)?;
    Ok(out)
}

fn python_into(value: &Value, out: &mut String) -> Result<(), Refused> {
    if let Some(code) = value.downcast_object_ref::<PythonCode>() {
        return code.write_into(out);
    }
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            let text = value.to_string();
            if value.is_integer() {
                out.push_str(&text);
            } else {
                let float = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                if !float.is_finite() {
                    return Err(Refused::new(&text, "Python literals are finite numbers"));
                }
                let mut text = format!("{float:?}");
                if !text.contains(['.', 'e', 'E']) {
                    text.push_str(".0");
                }
                out.push_str(&text);
            }
        }
        ValueKind::String => python_str(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_into(&item, out)?;
            }
            out.push(']');
        }
        ValueKind::Map
            if value.len() == Some(1)
                && !value.get_attr(TUPLE_MARK).is_ok_and(|v| v.is_undefined()) =>
        {
            let items: Vec<Value> = value
                .get_attr(TUPLE_MARK)
                .ok()
                .and_then(|v| v.try_iter().ok().map(|i| i.collect()))
                .unwrap_or_default();
            out.push('(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_into(item, out)?;
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                python_into(&key, out)?;
                out.push_str(": ");
                let item = value.get_item(&key).unwrap_or_default();
                python_into(&item, out)?;
            }
            out.push('}');
        }
        _ => {
            return Err(Refused::new(
                &value.to_string(),
                "no Python literal for this value",
            ));
        }
    }
    Ok(())
}

/// A double-quoted Python string; every character that is not printable ASCII is escaped.
fn python_str(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    #[test]
    fn postgres_quotes_what_is_not_a_plain_word() {
        let w = |v| Format::PgConf.write(&v).unwrap();
        assert_eq!(w(s("replica")), "replica");
        assert_eq!(w(s("16GB")), "16GB");
        assert_eq!(w(s("0.9")), "0.9");
        assert_eq!(w(Value::from(true)), "on");
        assert_eq!(w(Value::from(200)), "200");
        assert_eq!(w(s("it's")), "'it''s'");
        assert_eq!(w(s("a\\b\nc")), "'a\\\\b\\nc'");
        assert_eq!(w(s("rsync -a %p x:/y/%f")), "'rsync -a %p x:/y/%f'");
        assert_eq!(w(s("")), "''");
        assert_eq!(w(s("1.")), "'1.'");
        assert!(Format::PgConf.write(&s("a\0b")).is_err());
    }

    #[test]
    fn hba_tokens_are_quoted_or_refused() {
        let w = |v: &str| Format::PgHba.write(&s(v));
        assert_eq!(w("192.0.2.1/32").unwrap(), "192.0.2.1/32");
        assert_eq!(w("a b").unwrap(), "\"a b\"");
        assert_eq!(w("all,x").unwrap(), "\"all,x\"");
        assert!(w("a\"b").is_err());
        assert!(w("a\nb").is_err());
    }

    #[test]
    fn nginx_words_keep_their_variables_and_quote_the_rest() {
        let w = |v: &str| Format::Nginx.write(&Value::from_object(NginxWord(v.to_owned())));
        assert_eq!(w("$uri/").unwrap(), "$uri/");
        assert_eq!(w("=404").unwrap(), "=404");
        assert_eq!(w("${host}x y").unwrap(), "\"${host}x y\"");
        assert_eq!(w("a;b\"").unwrap(), "\"a;b\\\"\"");
        assert_eq!(w("").unwrap(), "\"\"");
        assert!(w("a\nb").is_err());
        // Every other format refuses it: it is nginx text.
        let word = Value::from_object(NginxWord("$uri".to_owned()));
        assert!(Format::PgConf.write(&word).is_err());
        assert!(Format::Sysctl.write(&word).is_err());
    }

    #[test]
    fn passfile_fields_escape_colon_and_backslash() {
        assert_eq!(Format::PgPass.write(&s("p:w\\d")).unwrap(), "p\\:w\\\\d");
        let refused = Format::PgPass.write(&s("hunter2\nx")).unwrap_err();
        assert!(
            !refused.to_string().contains("hunter2"),
            "a refused secret is not echoed"
        );
    }

    #[test]
    fn nginx_tokens_quote_and_refuse_variables() {
        let w = |v: &str| Format::Nginx.write(&s(v));
        assert_eq!(w("/etc/ssl/a.crt").unwrap(), "/etc/ssl/a.crt");
        assert_eq!(w("a b;c").unwrap(), "\"a b;c\"");
        assert_eq!(w("a\"b\\").unwrap(), "\"a\\\"b\\\\\"");
        assert_eq!(w("#x").unwrap(), "\"#x\"");
        assert!(w("$host").is_err());
        assert!(w("a\nb").is_err());
    }

    #[test]
    fn python_literals() {
        let w = |v: Value| Format::Python.write(&v).unwrap();
        assert_eq!(w(Value::from(false)), "False");
        assert_eq!(w(Value::from(())), "None");
        assert_eq!(w(Value::from(1.5)), "1.5");
        assert_eq!(w(Value::from(2.0)), "2.0");
        assert_eq!(w(s("it's \"x\"\n\u{e9}")), r#""it's \"x\"\n\xe9""#);
        assert_eq!(w(Value::from(vec!["a", "b"])), r#"["a", "b"]"#);
        let map = Value::from(std::collections::BTreeMap::from([("k", 1)]));
        assert_eq!(w(map), r#"{"k": 1}"#);
        let one = Value::from(std::collections::BTreeMap::from([(
            TUPLE_MARK,
            vec!["test.js"],
        )]));
        assert_eq!(w(one), r#"("test.js",)"#);
        let two = Value::from(std::collections::BTreeMap::from([(TUPLE_MARK, vec![1, 2])]));
        assert_eq!(w(two), "(1, 2)");
    }

    #[test]
    fn python_code_quotes_its_string_and_other_formats_refuse_it() {
        let read = PythonCode::Around {
            before: "os.environ[",
            text: "A\"] + __import__(\"os\").system(\"x\") + [\"".to_owned(),
            after: "]",
        };
        let value = Value::from_object(read);
        assert_eq!(
            Format::Python.write(&value).unwrap(),
            r#"os.environ["A\"] + __import__(\"os\").system(\"x\") + [\""]"#
        );
        assert!(Format::Nginx.write(&value).is_err());
        let name = |n: &str| Format::Python.write(&Value::from_object(PythonCode::Name(n.into())));
        assert_eq!(name("mysite.settings").unwrap(), "mysite.settings");
        assert!(name("os; import x").is_err());
    }

    #[test]
    fn sql_and_cron() {
        assert_eq!(
            Format::Sql.write(&s("read committed")).unwrap(),
            "'read committed'"
        );
        assert_eq!(Format::Sql.write(&s("it's")).unwrap(), "'it''s'");
        assert_eq!(
            Format::Sql.ident("catmaid_user").unwrap(),
            "\"catmaid_user\""
        );
        assert!(Format::Sql.ident("a\"b").is_err());
        assert_eq!(Format::Cron.write(&s("0 3 * * *")).unwrap(), "0 3 * * *");
        assert_eq!(Format::Cron.write(&s("50%")).unwrap(), "50\\%");
        assert!(Format::Cron.write(&s("a;rm -rf /")).is_err());
        assert!(Format::Cron.write(&s("$(x)")).is_err());
    }

    #[test]
    fn sysctl_values_are_one_clean_line() {
        assert_eq!(
            Format::Sysctl
                .write(&Value::from(1_073_741_824u64))
                .unwrap(),
            "1073741824"
        );
        assert!(Format::Sysctl.write(&s("1\nkernel.x = 2")).is_err());
        assert!(Format::Sysctl.write(&s("#1")).is_err());
    }
}
