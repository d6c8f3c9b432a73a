//! The render stage: each planned file through its template, every value escaped for the file's
//! format, secrets filled in only when the caller resolved them.

use std::collections::HashMap;
use std::fmt;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::escape::Format;
use crate::plan::fact::Tagged;
use crate::plan::{FactId, FileMeta, Plan, PlannedFile, WrittenSecret};
use crate::spec::{HostName, SecretRef};
use crate::templates::{Overrides, builtin};

/// The secret values to write, or none: then each secret is written as a placeholder naming its source.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    values: HashMap<SecretRef, String>,
}

impl Secrets {
    pub fn none() -> Self {
        Self::default()
    }

    pub(crate) fn resolved(values: HashMap<SecretRef, String>) -> Self {
        Self { values }
    }

    fn value(&self, written: &WrittenSecret) -> String {
        self.values
            .get(&written.secret)
            .map_or_else(|| placeholder(&written.secret), |v| written.write(v))
    }
}

/// What stands in a rendered file for a secret that was not resolved.
pub(crate) fn placeholder(secret: &SecretRef) -> String {
    format!("<secret from {secret}>")
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub host: HostName,
    pub path: String,
    pub content: String,
    pub meta: FileMeta,
}

impl RenderedFile {
    /// The content with secret values hidden, for showing and hashing.
    pub(crate) fn shown(&self) -> String {
        self.meta.mask.apply(&self.content)
    }
}

/// Every rendered file of a site, in plan order.
#[derive(Debug, Clone)]
pub struct Tree {
    pub(crate) site: String,
    pub files: Vec<RenderedFile>,
}

/// A template that failed, with the place in it.
#[derive(Debug, Clone)]
pub struct RenderError {
    pub(crate) host: HostName,
    pub(crate) path: String,
    pub(crate) template: String,
    pub(crate) line: Option<usize>,
    pub(crate) message: String,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template {}", self.template)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, " (for {}:{}): {}", self.host, self.path, self.message)
    }
}

impl std::error::Error for RenderError {}

/// Where a fact is printed: before its value, `TAG_START`, its number, `TAG_END`. Only a traced
/// render writes these, and `explain` takes them out again.
const TAG_START: char = '\u{E000}';
const TAG_END: char = '\u{E001}';

/// A template environment: built once and used for every file.
pub struct Renderer {
    env: Environment<'static>,
}

/// One line of a traced render: its text, and the facts printed on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TracedLine {
    pub(crate) text: String,
    pub(crate) facts: Vec<FactId>,
}

impl Renderer {
    pub fn new(overrides: &Overrides) -> Self {
        Self::build(overrides, false)
    }

    /// A renderer whose output marks each fact where it is printed, for [`Renderer::trace`].
    pub(crate) fn tracing(overrides: &Overrides) -> Self {
        Self::build(overrides, true)
    }

    fn build(overrides: &Overrides, tracing: bool) -> Self {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        env.set_auto_escape_callback(|name| match Format::for_template(name) {
            Some(format) => AutoEscape::Custom(format.name().into()),
            None => AutoEscape::None,
        });
        env.set_formatter(move |out, state, value| format_value(out, state, value, tracing));
        env.add_filter("ident", ident);
        env.add_filter("comment", comment);
        let overrides = overrides.clone();
        env.set_loader(move |name| {
            Ok(overrides
                .get(name)
                .map(str::to_owned)
                .or_else(|| builtin(name).map(str::to_owned)))
        });
        Self { env }
    }

    /// The lines of `file` as its template lays them out, each with the facts printed on it.
    /// Needs a renderer made by [`Renderer::tracing`].
    pub(crate) fn trace(&self, file: &PlannedFile) -> Result<Vec<TracedLine>, RenderError> {
        let rendered = self.render_file(file, &Secrets::none())?;
        Ok(rendered.content.lines().map(untag).collect())
    }

    pub fn render(&self, plan: &Plan, secrets: &Secrets) -> Result<Tree, RenderError> {
        Ok(Tree {
            site: plan.site.clone(),
            files: self.render_files(&plan.files, secrets)?,
        })
    }

    /// Renders `files` in order; the first that fails stops it.
    pub(crate) fn render_files(
        &self,
        files: &[PlannedFile],
        secrets: &Secrets,
    ) -> Result<Vec<RenderedFile>, RenderError> {
        files
            .iter()
            .map(|file| self.render_file(file, secrets))
            .collect()
    }

    fn render_file(
        &self,
        file: &PlannedFile,
        secrets: &Secrets,
    ) -> Result<RenderedFile, RenderError> {
        let fail = |error: &Error| RenderError {
            host: file.host.clone(),
            path: file.path.clone(),
            template: error.name().unwrap_or(file.template).to_owned(),
            line: error.line(),
            message: describe(error),
        };
        // Each secret under its key, and all of them under `secrets` too, for a template that
        // writes a list of them.
        let filled: std::collections::BTreeMap<&str, String> = file
            .secrets
            .iter()
            .map(|slot| {
                let written = WrittenSecret {
                    secret: slot.secret.clone(),
                    form: slot.form.clone(),
                };
                (slot.key.as_str(), secrets.value(&written))
            })
            .collect();
        let mut context = file.context.clone();
        if !filled.is_empty() {
            let all = Value::from(std::collections::BTreeMap::from([(
                "secrets",
                Value::from(filled.clone()),
            )]));
            // The last map that has a key gives its value.
            context = minijinja::value::merge_maps([context, Value::from(filled), all]);
        }
        let template = self.env.get_template(file.template).map_err(|e| fail(&e))?;
        let content = template.render(context).map_err(|e| fail(&e))?;
        Ok(RenderedFile {
            host: file.host.clone(),
            path: file.path.clone(),
            content,
            meta: file.meta.clone(),
        })
    }
}

/// The error's own message and, for a value refused by a format, why; never the source excerpt,
/// which could show a secret.
fn describe(error: &Error) -> String {
    let mut message = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    message
}

fn format_of(state: &State) -> Option<Format> {
    match state.auto_escape() {
        AutoEscape::Custom(name) => [
            Format::PgConf,
            Format::PgHba,
            Format::PgPass,
            Format::Nginx,
            Format::Sysctl,
            Format::Python,
            Format::Sql,
            Format::Cron,
            Format::Plain,
            Format::Pgbouncer,
            Format::Userlist,
        ]
        .into_iter()
        .find(|f| f.name() == name),
        _ => None,
    }
}

/// A line of a traced render without its tags, and the facts they named.
fn untag(line: &str) -> TracedLine {
    let mut text = String::with_capacity(line.len());
    let mut facts = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find(TAG_START) {
        text.push_str(&rest[..start]);
        let after = &rest[start + TAG_START.len_utf8()..];
        let Some(end) = after.find(TAG_END) else {
            rest = after;
            continue;
        };
        if let Ok(id) = after[..end].parse() {
            facts.push(FactId(id));
        }
        rest = &after[end + TAG_END.len_utf8()..];
    }
    text.push_str(rest);
    TracedLine { text, facts }
}

fn format_value(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
    tracing: bool,
) -> Result<(), Error> {
    let value = match Tagged::of(value) {
        Some((id, inner)) => {
            if tracing {
                write!(out, "{TAG_START}{}{TAG_END}", id.0).map_err(Error::from)?;
            }
            inner
        }
        None => value,
    };
    if value.is_undefined() {
        return Err(Error::new(ErrorKind::UndefinedError, "undefined value"));
    }
    let text = if value.is_safe() {
        value.to_string()
    } else {
        let format = format_of(state).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "the template's extension names no output format",
            )
        })?;
        format
            .write(value)
            .map_err(|refused| Error::new(ErrorKind::InvalidOperation, refused.to_string()))?
    };
    out.write_str(&text).map_err(Error::from)
}

/// `{{ name|ident }}`: a setting or variable name, written bare after checking it is one.
fn ident(state: &State, value: &Value) -> Result<Value, Error> {
    let format = format_of(state).unwrap_or(Format::Plain);
    let value = Tagged::of(value).map_or(value, |(_, inner)| inner);
    let name = value.as_str().unwrap_or_default();
    format
        .ident(name)
        .map(Value::from_safe_string)
        .map_err(|refused| Error::new(ErrorKind::InvalidOperation, refused.to_string()))
}

/// `{{ text|comment }}`: free text inside a comment, which must stay on its line.
fn comment(value: &Value) -> Result<Value, Error> {
    let text = value.to_string();
    if text.contains(['\n', '\r', '\0']) {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "a comment cannot hold a line break",
        ));
    }
    Ok(Value::from_safe_string(text))
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;
    use crate::plan::{Facts, Mode, OnChange, Origin, Service};

    #[derive(Serialize)]
    struct Context {
        port: crate::plan::Fact<u16>,
        names: crate::plan::Fact<Vec<&'static str>>,
        off: crate::plan::Fact<bool>,
    }

    /// A file of `template` (an nginx one, so values are escaped as nginx tokens) with three facts.
    fn file(template: &'static str) -> PlannedFile {
        let mut facts = Facts::default();
        let context = Context {
            port: facts.add("listen", 8443, Origin::spec("/nginx/https/listen")),
            names: facts.add(
                "server_name",
                vec!["a.example", "b.example"],
                Origin::spec("/nginx/https/server_name"),
            ),
            off: facts.add("gzip", false, Origin::default("why not")),
        };
        PlannedFile::new(
            &crate::spec::HostName::new("web1").unwrap(),
            "/etc/nginx/conf.d/x.conf",
            template,
            &context,
            facts,
            FileMeta::new(Mode::PUBLIC, "root", Service::Nginx, OnChange::Reload),
        )
    }

    fn overridden(text: &str) -> Overrides {
        Overrides {
            templates: vec![("test/x.conf.nginx".to_owned(), text.to_owned())],
        }
    }

    const TEMPLATE: &str = "listen {{ port }};\nserver_name{% for n in names %} {{ n }}{% endfor %};\n{% if not off %}gzip on;\n{% endif %}listen 80;\n";

    #[test]
    fn a_fact_renders_as_its_value_and_a_traced_render_says_where_it_went() {
        let file = file("test/x.conf.nginx");
        let overrides = overridden(TEMPLATE);
        let plain = Renderer::new(&overrides)
            .render_files(std::slice::from_ref(&file), &Secrets::none())
            .unwrap();
        assert_eq!(
            plain[0].content,
            "listen 8443;\nserver_name a.example b.example;\ngzip on;\nlisten 80;\n"
        );
        let traced = Renderer::tracing(&overrides).trace(&file).unwrap();
        let texts: Vec<&str> = traced.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts,
            plain[0].content.lines().collect::<Vec<_>>(),
            "the tags come out again"
        );
        let ids: Vec<Vec<u32>> = traced
            .iter()
            .map(|l| l.facts.iter().map(|f| f.0).collect())
            .collect();
        // The `if` on a fact prints nothing of it; the hard-coded `listen 80` is the template's.
        assert_eq!(ids, vec![vec![0], vec![1, 1], vec![], vec![]]);
    }

    #[test]
    fn a_value_a_fact_holds_is_refused_by_its_format_like_any_other() {
        let mut facts = Facts::default();
        #[derive(Serialize)]
        struct Bad {
            port: crate::plan::Fact<&'static str>,
            names: crate::plan::Fact<Vec<&'static str>>,
            off: crate::plan::Fact<bool>,
        }
        let context = Bad {
            port: facts.add("listen", "80; $evil", Origin::default("x")),
            names: facts.add("server_name", vec![], Origin::default("x")),
            off: facts.add("gzip", true, Origin::default("x")),
        };
        let file = PlannedFile::new(
            &crate::spec::HostName::new("web1").unwrap(),
            "/x",
            "test/x.conf.nginx",
            &context,
            facts,
            FileMeta::new(Mode::PUBLIC, "root", Service::Nginx, OnChange::Reload),
        );
        let error = Renderer::new(&overridden(TEMPLATE))
            .render_files(&[file], &Secrets::none())
            .unwrap_err();
        assert!(error.message.contains("`$` as a variable"), "{error}");
    }
}
