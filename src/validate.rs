//! The validate stage: the spec's JSON checked against the schema, every error at its line and column.
//!
//! jsonschema reports errors by JSON pointer and keyword; this module turns each into a sentence a
//! person can act on (what was expected, what was found, the nearest valid name) at the right place.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::diagnostic::{Diagnostic, Pos};
use crate::schema::schema;
use crate::source::{Document, Source, pointer_token};
use crate::spec::scalar as scalar_checks;
use crate::suggest::nearest;
use crate::units::{ByteSize, Duration};

fn validator() -> &'static Validator {
    static VALIDATOR: OnceLock<Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut options = jsonschema::options().should_validate_formats(true);
        for (name, check) in scalar_checks::FORMATS {
            options = options.with_format(*name, *check);
        }
        options
            .build(schema())
            .expect("the generated schema compiles")
    })
}

/// Every schema error of the document, in source order.
pub(crate) fn validate(source: &Source, doc: &Document) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = validator()
        .iter_errors(&doc.value)
        .flat_map(|error| describe(source, doc, &error))
        .collect();
    diagnostics.sort_by_key(|d| d.pos);
    diagnostics.dedup();
    diagnostics
}

/// A key of the spec that was renamed: where, its old and new names, and why.
struct Renamed {
    /// The pointer of the object that holds the key, `*` for any list index.
    at: &'static str,
    old: &'static str,
    new: &'static str,
    why: &'static str,
}

impl Renamed {
    fn applies(&self, pointer: &str) -> bool {
        let mut written = pointer.split('/');
        let mut pattern = self.at.split('/');
        loop {
            match (written.next(), pattern.next()) {
                (None, None) => return true,
                (Some(w), Some("*")) if w.parse::<usize>().is_ok() => {}
                (Some(w), Some(p)) if w == p => {}
                _ => return false,
            }
        }
    }
}

const RENAMED: &[Renamed] = &[Renamed {
    at: "/nginx/https/static_locations/*",
    old: "root",
    new: "folder",
    why: "it always worked as nginx's `alias`, not `root`: the folder itself is served at `url`, so with `url: /static/`, /static/app.css is FOLDER/app.css",
}];

/// The error for `key` of the object at `pointer` when `key` is a name the spec used before.
fn renamed(pointer: &str, key: &str, object: &Value) -> Option<String> {
    let rename = RENAMED
        .iter()
        .find(|r| r.old == key && r.applies(pointer))?;
    let value = object.get(key).and_then(Value::as_str).unwrap_or("FOLDER");
    Some(format!(
        "`{}` is now `{}`, since {}; write `{}: {value}` if that folder is the one to serve",
        rename.old, rename.new, rename.why, rename.new
    ))
}

/// The schema object that holds the keyword an error came from.
fn schema_at(error: &ValidationError<'_>) -> Option<&'static Value> {
    let path = error.schema_path().as_str();
    let parent = &path[..path.rfind('/')?];
    schema().pointer(parent)
}

fn is_secret(error: &ValidationError<'_>) -> bool {
    error.schema_path().as_str().starts_with("/$defs/SecretRef")
}

/// What the user wrote at `pos`, as it appears in the source (so `1.20` stays `1.20`).
fn written(source: &Source, pos: Pos) -> String {
    let Some(line) = source.text.lines().nth(pos.line - 1) else {
        return String::new();
    };
    let rest: String = line.chars().skip(pos.column - 1).collect();
    let rest = rest.trim_end_matches('\r');
    let token = match rest.chars().next() {
        Some(q @ ('"' | '\'')) => rest[1..].find(q).map_or(rest, |end| &rest[..end + 2]),
        _ => {
            let plain = rest.split(" #").next().unwrap_or(rest);
            plain
                .split([',', ']', '}'])
                .next()
                .unwrap_or(plain)
                .trim_end()
        }
    };
    let token: String = token.chars().take(60).collect();
    token
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn type_name(kind: &TypeKind) -> String {
    let name = |t: &jsonschema::JsonType| match t.to_string().as_str() {
        "integer" => "an integer".to_owned(),
        "number" => "a number".to_owned(),
        "string" => "a string".to_owned(),
        "boolean" => "a boolean (true or false)".to_owned(),
        "array" => "a list".to_owned(),
        "object" => "a mapping".to_owned(),
        "null" => "nothing".to_owned(),
        other => other.to_owned(),
    };
    match kind {
        TypeKind::Single(t) => name(t),
        TypeKind::Multiple(set) => set
            .iter()
            .map(|t| name(&t))
            .collect::<Vec<_>>()
            .join(" or "),
    }
}

fn found(source: &Source, doc: &Document, pointer: &str, value: &Value, secret: bool) -> String {
    if secret {
        return format!("found {}", json_type(value));
    }
    match value {
        Value::Array(_) | Value::Object(_) | Value::Null => format!("found {}", json_type(value)),
        _ => format!(
            "found {} `{}`",
            json_type(value),
            written(source, doc.value_pos(pointer))
        ),
    }
}

/// The expectation behind a pattern or format that the spec's own types use.
fn expectation(pattern_or_format: &str) -> String {
    use crate::spec::scalar as s;
    match pattern_or_format {
        p if p == ByteSize::PATTERN => ByteSize::EXPECTED.to_owned(),
        p if p == Duration::PATTERN => Duration::EXPECTED.to_owned(),
        p if p == s::HOST_NAME_PATTERN => {
            "a host name of lower-case letters, digits and `-`, such as db1".to_owned()
        }
        p if p == s::IDENTIFIER_PATTERN => {
            "a name of lower-case letters, digits and `_`, not starting with a digit".to_owned()
        }
        p if p == s::VERSION_PATTERN => {
            "a version such as \"1.22\" or \"3.0.2\" (quote it so YAML keeps it a string)"
                .to_owned()
        }
        p if p == s::ABS_PATH_PATTERN => {
            "an absolute path of letters, digits and `._+@-`, such as /etc/ssl/server.crt"
                .to_owned()
        }
        p if p == s::CONF_PATH_PATTERN => {
            "a path of letters, digits and `._+@-`, absolute or relative to the config directory, such as conf.d or /etc/postgresql-common/shared.conf".to_owned()
        }
        p if p == s::DOTTED_NAME_PATTERN => {
            "a Python module path such as mysite.settings".to_owned()
        }
        p if p == s::SITE_NAME_PATTERN => {
            "a site name of lower-case letters, digits and `-`, starting with a letter".to_owned()
        }
        p if p == s::DNS_NAME_PATTERN => {
            "a DNS name of lower-case letters, digits, `-` and `.`, such as catmaid.example.org".to_owned()
        }
        p if p == s::ALLOWED_HOST_PATTERN => {
            "a DNS name such as example.org, or .example.org for it and its subdomains".to_owned()
        }
        p if p == s::URL_PREFIX_PATTERN => "a URL prefix that starts and ends with `/`, such as /static/".to_owned(),
        p if p == s::COOKIE_PATTERN => "a cookie name of letters, digits and `_`".to_owned(),
        p if p == s::HBA_NAME_PATTERN => {
            "a database or role name, `+role` for its members, or all, sameuser, samerole, replication".to_owned()
        }
        p if p == s::CRON_SCHEDULE_PATTERN => {
            "cron's five fields: minute hour day-of-month month day-of-week, such as 0 3 * * *".to_owned()
        }
        p if p == s::ONE_LINE_PATTERN => "text on one line, without control characters".to_owned(),
        p if p == s::NO_NUL_PATTERN => "text without NUL characters, which no configuration file can hold".to_owned(),
        p if p == s::ENV_NAME_PATTERN => "an environment variable name of letters, digits and `_`".to_owned(),
        "ip-address" => "an IPv4 or IPv6 address such as 192.0.2.11".to_owned(),
        "socket-address" => "an address and a port such as 127.0.0.1:8000".to_owned(),
        "hba-address" => "a CIDR block with its host bits zero (192.0.2.0/24, 192.0.2.7/32, ::1/128), or all, samehost, samenet".to_owned(),
        other => format!("a value matching `{other}`"),
    }
}

/// For a secret reference of the right shape (`{ env: … }` or `{ file: … }` alone), its key and
/// what that key takes.
fn reference_form(instance: &Value) -> Option<(&'static str, &'static str)> {
    let object = instance.as_object().filter(|o| o.len() == 1)?;
    if object.get("env").is_some_and(Value::is_string) {
        Some((
            "env",
            "an environment variable name of letters, digits and `_`, not starting with a digit, such as DB_PASSWORD",
        ))
    } else if object.get("file").is_some_and(Value::is_string) {
        Some((
            "file",
            "an absolute path of letters, digits and `._+@-`, such as /etc/sitewright/secrets/db",
        ))
    } else {
        None
    }
}

/// The diagnostics of one schema error: usually one, at the value; one per unknown key; none for a
/// missing key that another error already explains.
fn describe(source: &Source, doc: &Document, error: &ValidationError<'_>) -> Vec<Diagnostic> {
    let problem = Problem::new(source, doc, error);
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            problem.unknown_keys(unexpected)
        }
        ValidationErrorKind::Required { property } => {
            problem.missing_key(property.as_str().unwrap_or_default())
        }
        ValidationErrorKind::Type { kind } => problem.single(problem.wrong_type(kind)),
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            problem.single(one_of(&options, problem.instance, problem.found()))
        }
        ValidationErrorKind::PropertyNames { error: inner } => problem.invalid_key(inner),
        ValidationErrorKind::OneOfNotValid { .. } | ValidationErrorKind::AnyOf { .. } => {
            problem.no_alternative()
        }
        ValidationErrorKind::OneOfMultipleValid { .. } => problem.single(problem.other_form()),
        kind => problem.single(
            out_of_bounds(kind, || problem.found()).unwrap_or_else(|| error.masked().to_string()),
        ),
    }
}

/// The message of an error about a single value's form or size, or `None` for another kind.
fn out_of_bounds(kind: &ValidationErrorKind, found: impl Fn() -> String) -> Option<String> {
    Some(match kind {
        ValidationErrorKind::Pattern { pattern } => {
            format!("expected {}, {}", expectation(pattern), found())
        }
        ValidationErrorKind::Format { format } => {
            format!("expected {}, {}", expectation(format), found())
        }
        ValidationErrorKind::Not { .. } => {
            format!("a path must not have `.` or `..` segments, {}", found())
        }
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            format!("must be at least {limit}, {}", found())
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            format!("must be at most {limit}, {}", found())
        }
        ValidationErrorKind::MinLength { limit } => format!(
            "must have at least {limit} character{}",
            if *limit == 1 { "" } else { "s" }
        ),
        ValidationErrorKind::MaxLength { limit } => {
            format!("must have at most {limit} characters")
        }
        ValidationErrorKind::MinItems { limit } => format!(
            "must list at least {limit} item{}",
            if *limit == 1 { "" } else { "s" }
        ),
        ValidationErrorKind::MaxItems { limit } => format!("must list at most {limit} items"),
        ValidationErrorKind::UniqueItems => "must not list the same item twice".to_owned(),
        _ => return None,
    })
}

/// One schema error, with what every message about it needs: where it is, the value found there,
/// and whether that value may be a secret (then it is never shown).
struct Problem<'a, 'e> {
    source: &'a Source,
    doc: &'a Document,
    error: &'a ValidationError<'e>,
    pointer: String,
    instance: &'a Value,
    secret: bool,
    at_value: Pos,
}

impl<'a, 'e> Problem<'a, 'e> {
    fn new(source: &'a Source, doc: &'a Document, error: &'a ValidationError<'e>) -> Self {
        let pointer = error.instance_path().as_str().to_owned();
        let at_value = doc.value_pos(&pointer);
        Self {
            source,
            doc,
            error,
            pointer,
            instance: error.instance(),
            secret: is_secret(error),
            at_value,
        }
    }

    /// An error at `pos`, redacted when the value may be a secret.
    fn diagnostic(&self, pos: Pos, message: String) -> Diagnostic {
        let d = Diagnostic::error(pos, message);
        if self.secret { d.redacted() } else { d }
    }

    /// The one error of this problem, at the value.
    fn single(&self, message: String) -> Vec<Diagnostic> {
        vec![self.diagnostic(self.at_value, message)]
    }

    /// "found a string `32 gigs`", or only the kind of value when it may be a secret.
    fn found(&self) -> String {
        found(
            self.source,
            self.doc,
            &self.pointer,
            self.instance,
            self.secret,
        )
    }

    /// An error at each unknown key: what it is now called, the nearest known key, or all of them.
    fn unknown_keys(&self, unexpected: &[String]) -> Vec<Diagnostic> {
        let known: Vec<String> = schema_at(self.error)
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        unexpected
            .iter()
            .map(|key| {
                let pos = self
                    .doc
                    .key_pos(&format!("{}/{}", self.pointer, pointer_token(key)));
                if let Some(message) = renamed(&self.pointer, key, self.instance) {
                    return Diagnostic::error(pos, message);
                }
                let hint = match nearest(key, &known) {
                    Some(near) => format!("; did you mean `{near}`?"),
                    None => format!("; expected one of: {}", known.join(", ")),
                };
                Diagnostic::error(pos, format!("unknown key `{key}`{hint}"))
            })
            .collect()
    }

    /// The missing key `name`, with its description; nothing when a misspelt or renamed key's
    /// error already says "did you mean `name`?" or what the old name is now called.
    fn missing_key(&self, name: &str) -> Vec<Diagnostic> {
        let misspelt = self.instance.as_object().is_some_and(|object| {
            let wanted = [name.to_owned()];
            object
                .keys()
                .any(|key| key != name && nearest(key, &wanted).is_some())
        });
        let old_name = self.instance.as_object().is_some_and(|object| {
            RENAMED
                .iter()
                .any(|r| r.new == name && object.contains_key(r.old) && r.applies(&self.pointer))
        });
        if misspelt || old_name {
            return Vec::new();
        }
        let description = schema_at(self.error)
            .and_then(|s| s.pointer(&format!("/properties/{}/description", pointer_token(name))))
            .and_then(Value::as_str)
            .map(|d| format!(" ({})", d.trim_end_matches('.')))
            .unwrap_or_default();
        let pos = self.doc.key_pos(&self.pointer);
        vec![Diagnostic::error(
            pos,
            format!("missing key `{name}`{description}"),
        )]
    }

    /// "expected a string, found an integer `5`", with the quoted form when a string was wanted
    /// and the quoted form is one the field takes; otherwise what a value of the field looks like.
    fn wrong_type(&self, kind: &TypeKind) -> String {
        let wants_string = matches!(kind, TypeKind::Single(t) if t.to_string() == "string");
        if !(self.instance.is_number() && wants_string) {
            return format!("expected {}, {}", type_name(kind), self.found());
        }
        let token = written(self.source, self.at_value);
        let field = schema_at(self.error);
        match field.and_then(|f| refusal(f, &token)) {
            None => format!(
                "expected {}, {}; write it in quotes: \"{token}\"",
                type_name(kind),
                self.found()
            ),
            // Quoted, it would still be refused: say what the field takes instead, and for a
            // bare number where a unit belongs, the unit.
            Some(expected) => {
                let unit = field
                    .and_then(|f| f.get("pattern"))
                    .and_then(Value::as_str)
                    .and_then(|p| unit_examples(p, &token))
                    .unwrap_or_default();
                format!("expected {expected}, {}{unit}", self.found())
            }
        }
    }

    /// A key that does not match the pattern the mapping's keys must match.
    fn invalid_key(&self, inner: &ValidationError<'_>) -> Vec<Diagnostic> {
        let key = inner.instance().as_str().unwrap_or_default().to_owned();
        let pos = self
            .doc
            .key_pos(&format!("{}/{}", self.pointer, pointer_token(&key)));
        let pattern = schema_at(self.error)
            .and_then(|s| s.pointer("/propertyNames/pattern"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        vec![Diagnostic::error(
            pos,
            format!("invalid key `{key}`: names must match `{pattern}`"),
        )]
    }

    /// A value that matches none of a `oneOf`'s or `anyOf`'s forms: a secret given wrongly, a
    /// value outside an enum, or another form than the one described.
    fn no_alternative(&self) -> Vec<Diagnostic> {
        if self.secret {
            return vec![self.misplaced_secret()];
        }
        match constants(self.error) {
            Some(options) => self.single(one_of(&options, self.instance, self.found())),
            None => self.single(self.other_form()),
        }
    }

    /// A secret that is not a reference of the right form.
    fn misplaced_secret(&self) -> Diagnostic {
        match reference_form(self.instance) {
            // The right shape with a bad name or path: say so at that value, without echoing it,
            // since a value in the wrong place may be the secret itself.
            Some((key, expected)) => self.diagnostic(
                self.doc.value_pos(&format!("{}/{key}", self.pointer)),
                format!("`{key}:` takes {expected}"),
            ),
            None if self.reference_key_misnamed().is_some() => {
                let (key, near) = self.reference_key_misnamed().unwrap_or_default();
                self.diagnostic(
                    self.doc
                        .key_pos(&format!("{}/{}", self.pointer, pointer_token(key))),
                    format!(
                        "a secret reference takes `env:` or `file:`, not `{key}:`; did you mean `{near}`?"
                    ),
                )
            }
            None => self.diagnostic(
                self.at_value,
                "a secret must be `{ env: NAME }` or `{ file: PATH }`, never the value itself: the spec is committed"
                    .to_owned(),
            ),
        }
        .rule(crate::rules::Rule::SEC001)
    }

    /// For a secret reference whose one key is another name for `env` or `file` (`environment`,
    /// `path`): that key and the one meant. Only such a key is named: any other may be the secret.
    fn reference_key_misnamed(&self) -> Option<(&'a str, &'static str)> {
        let object = self.instance.as_object().filter(|o| o.len() == 1)?;
        let key = object.keys().next()?.as_str();
        let known = ["env".to_owned(), "file".to_owned()];
        let near = match key.to_ascii_lowercase().as_str() {
            "environment" | "environ" | "envvar" | "env_var" | "var" | "variable" => "env",
            "path" | "filename" | "file_name" | "filepath" | "file_path" | "from_file" => "file",
            lower => {
                if nearest(lower, &known)? == "env" {
                    "env"
                } else {
                    "file"
                }
            }
        };
        Some((key, near))
    }

    /// "expected " and the schema's description of the value, with what was found.
    fn other_form(&self) -> String {
        let what = schema_at(self.error)
            .and_then(|s| s.get("description"))
            .and_then(Value::as_str)
            .unwrap_or("a value of another form");
        format!(
            "expected {}, {}",
            lowercase_first(what.trim_end_matches('.')),
            self.found()
        )
    }
}

/// What `field` (a schema of type string) takes, when it would refuse `text` even quoted.
fn refusal(field: &Value, text: &str) -> Option<String> {
    if let Some(pattern) = field.get("pattern").and_then(Value::as_str) {
        // The schema's patterns are this crate's own and compile (the validator above is built
        // from them); one that did not would refuse nothing here.
        let matches = jsonschema::validator_for(&serde_json::json!({ "pattern": pattern }))
            .map_or(true, |v| v.is_valid(&Value::String(text.to_owned())));
        if !matches {
            return Some(expectation(pattern));
        }
    }
    if let Some(format) = field.get("format").and_then(Value::as_str) {
        let check = scalar_checks::FORMATS
            .iter()
            .find(|(name, _)| *name == format);
        if check.is_some_and(|(_, accepts)| !accepts(text)) {
            return Some(expectation(format));
        }
    }
    None
}

/// For a bare number where a byte size or a duration belongs: the same number with units.
fn unit_examples(pattern: &str, number: &str) -> Option<String> {
    if !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let units = match pattern {
        p if p == ByteSize::PATTERN => ["MB", "GB"],
        p if p == Duration::PATTERN => ["s", "min"],
        _ => return None,
    };
    Some(format!(
        "; a number needs its unit, such as {number}{} or {number}{}",
        units[0], units[1]
    ))
}

/// "expected one of A, B, found …", with the nearest allowed value when there is one.
fn one_of(options: &[String], instance: &Value, found: String) -> String {
    let hint = instance
        .as_str()
        .and_then(|v| nearest(v, options))
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default();
    format!("expected one of {}, {found}{hint}", options.join(", "))
}

/// The allowed values of an enum whose variants schemars wrote as `oneOf` constants.
fn constants(error: &ValidationError<'_>) -> Option<Vec<String>> {
    let keyword = error.schema_path().as_str().rsplit('/').next()?;
    let branches = schema_at(error)?.get(keyword)?.as_array()?;
    branches
        .iter()
        .map(|b| {
            b.get("const")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    let values = b.get("enum")?.as_array()?;
                    let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                    Some(names.join(", "))
                })
        })
        .collect()
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}
