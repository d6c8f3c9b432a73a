//! The edge: each command reads its inputs, runs the pipeline's stages and prints or writes the
//! result. Only this module and `write` touch the filesystem and the terminal; one submodule per
//! command, and the spec loading they share here.

/// `println!` that stops quietly when the reader has gone (`sitewright … | head`), where
/// `println!` would panic on the closed pipe: it gives [`Failure::ReaderGone`] for `?` to carry up
/// to `run`, which ends the process as a finished command would.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::app::print_line(&format!($($arg)*))
    };
}

mod check;
mod diff;
mod exit;
mod explain;
mod export;
mod import;
mod options;
mod remote;
mod render;
mod templates;
mod tools;

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use self::exit::{Outcome, exit_code};
use self::options::{Hosts, Request, SecretPolicy, Selection, Templates};
use crate::cli::Cli;
use crate::load::{Invalid, Loaded, load};
use crate::parallel;
use crate::plan::{Plan, host_files};
use crate::render::{RenderError, Renderer, Secrets, Tree};
use crate::schema::schema_text;
use crate::secrets::{SecretError, resolve};
use crate::source::Source;
use crate::spec::Host;
use crate::templates::Overrides;
use crate::write::WriteError;

/// Why a command could not do its job; each kind knows its exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    Read(PathBuf, io::Error),
    Invalid(Source, Invalid),
    /// An invalid spec given to `render`, which says that it wrote nothing.
    NotRendered(Source, Invalid),
    UnknownHost(String, Vec<String>),
    Templates(String),
    Render(RenderError),
    Secret(SecretError),
    Write(WriteError),
    Output(io::Error),
    Export(crate::export::ExportError),
    Usage(String),
    /// The reader of stdout has gone: nothing more to say, and no one to say it to.
    ReaderGone,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            Self::Invalid(source, invalid) => write!(
                f,
                "{}: {} error{}",
                source.name,
                invalid.errors(),
                if invalid.errors() == 1 { "" } else { "s" }
            ),
            Self::NotRendered(source, invalid) => write!(
                f,
                "{}; nothing was written",
                Self::Invalid(source.clone(), invalid.clone())
            ),
            Self::UnknownHost(name, known) => write!(
                f,
                "the spec has no host named `{name}`; its hosts are {}",
                known.join(", ")
            ),
            Self::Templates(message) => f.write_str(message),
            Self::Render(e) => write!(f, "{e}"),
            Self::Secret(e) => write!(f, "{e}"),
            Self::Write(e) => write!(f, "{e}"),
            Self::Output(e) => write!(f, "cannot print the diff: {e}"),
            Self::Export(e) => write!(f, "cannot export: {e}"),
            Self::Usage(message) => f.write_str(message),
            Self::ReaderGone => f.write_str("the reader of the output has gone"),
        }
    }
}

/// Runs the command line's command; the process's one way out is the code this returns.
pub fn run(cli: Cli) -> ExitCode {
    let result = Request::from_cli(cli.command).and_then(perform);
    if let Err(failure) = &result {
        report(failure);
    }
    exit_code(&result)
}

fn perform(request: Request) -> Result<Outcome, Failure> {
    match request {
        Request::Check(options) => check::check(&options),
        Request::Render(options) => render::render(&options),
        Request::Diff(options) => diff::diff_command(&options),
        Request::Fetch(options) => diff::fetch_command(&options),
        Request::Import(options) => import::import(&options),
        Request::Schema => {
            outln!("{}", schema_text().trim_end())?;
            Ok(Outcome::Done)
        }
        Request::Explain(explain) => explain::explain(&explain),
        Request::Export(options) => export::export(&options),
        Request::Init(starter) => tools::init(starter),
        Request::Print(text) => tools::print(&text),
        Request::Templates(request) => templates::templates(&request),
    }
}

/// Says on stderr why the command failed, with the spec's problems first when it was invalid.
fn report(failure: &Failure) {
    match failure {
        Failure::ReaderGone => {}
        Failure::Invalid(source, invalid) | Failure::NotRendered(source, invalid) => {
            print_diagnostics(source, &invalid.diagnostics);
            eprintln!("sitewright: {failure}");
        }
        _ => eprintln!("sitewright: {failure}"),
    }
}

/// One line on stdout. A reader that has gone ends the command ([`Failure::ReaderGone`]); any
/// other error is one that no later line would fare better with or that a message could mend, so
/// the line is dropped and the command goes on.
fn print_line(line: &str) -> Result<(), Failure> {
    print_exactly(&format!("{line}\n"))
}

/// `text` on stdout as it is, without a line break added, as [`print_line`] prints a line.
fn print_exactly(text: &str) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Err(Failure::ReaderGone),
        _ => Ok(()),
    }
}

fn read_source(path: &Path) -> Result<Source, Failure> {
    let bytes = fs::read(path).map_err(|e| Failure::Read(path.to_owned(), e))?;
    let name = path.display().to_string();
    Source::from_bytes(name.clone(), bytes).map_err(|d| {
        Failure::Invalid(
            Source {
                name,
                text: String::new(),
            },
            Invalid {
                diagnostics: vec![*d],
            },
        )
    })
}

fn load_spec(path: &Path) -> Result<(Source, Loaded), Failure> {
    let source = read_source(path)?;
    match load(&source) {
        Ok(loaded) => {
            print_diagnostics(&source, &loaded.warnings);
            Ok((source, loaded))
        }
        Err(invalid) => Err(Failure::Invalid(source, invalid)),
    }
}

fn print_diagnostics(source: &Source, diagnostics: &[crate::diagnostic::Diagnostic]) {
    let mut err = io::stderr().lock();
    for d in diagnostics {
        let _ = write!(err, "{}", d.render(&source.name, &source.text));
    }
}

/// The overrides of `--templates DIR`, read; a file in DIR that is named after no built-in
/// template is refused, every such file at once, each with the name it may have meant.
fn read_overrides(templates: &Templates) -> Result<Overrides, Failure> {
    let Templates::OverriddenFrom(dir) = templates else {
        return Ok(Overrides::default());
    };
    let files = override_files(dir)?;
    let unknown: Vec<String> = files
        .iter()
        .filter_map(|(path, name)| {
            crate::templates::find(name)
                .err()
                .map(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::Templates(format!(
            "{}\n{}",
            unknown.join("\n"),
            stray_note(dir, unknown.len())
        )));
    }
    let mut texts = Vec::new();
    for (path, name) in files {
        let text = fs::read_to_string(&path).map_err(|e| Failure::Read(path.clone(), e))?;
        texts.push((name, text));
    }
    Overrides::new(texts).map_err(|e| Failure::Templates(e.to_string()))
}

/// What a file in the templates folder that overrides nothing means for the commands that render.
fn stray_note(dir: &Path, count: usize) -> String {
    let (files, verb, each) = if count == 1 {
        ("a file".to_owned(), "replaces", "it")
    } else {
        (format!("{count} files"), "replace", "each")
    };
    format!(
        "{files} in {} {verb} no built-in template: name {each} after the template it replaces \
         (`sitewright templates list`) or remove it",
        dir.display()
    )
}

/// Every file under `dir`, with the template name it stands for (its path below `dir`), in the
/// order of the names.
fn override_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, Failure> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries = fs::read_dir(&folder).map_err(|e| Failure::Read(folder.clone(), e))?;
        for entry in entries {
            let path = entry.map_err(|e| Failure::Read(folder.clone(), e))?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path
                .strip_prefix(dir)
                .expect("walked from dir")
                .to_string_lossy()
                .into_owned();
            files.push((path, name));
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(files)
}

/// The plan, narrowed to the hosts the user named.
fn select(mut plan: Plan, loaded: &Loaded, selection: &Selection) -> Result<Plan, Failure> {
    let hosts = selected_hosts(loaded, selection)?;
    if hosts.len() < loaded.site.hosts.len() {
        plan.files
            .retain(|f| hosts.iter().any(|h| h.name == f.host));
    }
    Ok(plan)
}

/// The hosts `--host` names, in spec order, or every host when it names none.
fn selected_hosts<'a>(loaded: &'a Loaded, selection: &Selection) -> Result<Vec<&'a Host>, Failure> {
    let hosts = &loaded.site.hosts;
    if let Hosts::Named(names) = &selection.hosts
        && let Some(unknown) = names
            .iter()
            .find(|name| !hosts.iter().any(|h| h.name.as_str() == name.as_str()))
    {
        let known = hosts.iter().map(|h| h.name.to_string()).collect();
        return Err(Failure::UnknownHost(unknown.clone(), known));
    }
    Ok(hosts
        .iter()
        .filter(|h| selection.hosts.includes(h.name.as_str()))
        .collect())
}

/// Plans and renders the selected hosts, a share of them on each core. Each host's plan is dropped
/// once its files are rendered, so memory holds the rendered tree, not the whole site's plan too.
fn rendered(
    loaded: &Loaded,
    selection: &Selection,
    secrets: SecretPolicy,
) -> Result<Tree, Failure> {
    let overrides = read_overrides(&selection.templates)?;
    let site = &loaded.site;
    let hosts = selected_hosts(loaded, selection)?;
    let secrets = match secrets {
        SecretPolicy::Placeholders => Secrets::none(),
        SecretPolicy::Resolve => {
            let needed = Plan {
                site: site.site.clone(),
                files: hosts
                    .iter()
                    .flat_map(|h| host_files(site, &loaded.derived, h))
                    .collect(),
            };
            Secrets::resolved(resolve(&needed).map_err(Failure::Secret)?)
        }
    };
    let renderer = Renderer::new(&overrides);
    let mut files = Vec::new();
    for host in parallel::map(&hosts, |host| {
        renderer.render_files(&host_files(site, &loaded.derived, host), &secrets)
    }) {
        files.extend(host.map_err(Failure::Render)?);
    }
    Ok(Tree {
        site: site.site.clone(),
        files,
    })
}
