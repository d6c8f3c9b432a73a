//! The edge: each command reads its inputs, runs the pipeline's stages and prints or writes the
//! result. The only module besides `write` that touches the filesystem and the terminal.

use std::fmt;
use std::fs;
use std::io::{self, IsTerminal, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{
    CheckArgs, Cli, ColorWhen, Command, DiffArgs, ExplainArgs, Format as CheckFormat, RenderArgs,
    Selection,
};
use crate::diagnostic::Severity;
use crate::diff::{Change, FileDiff, LiveFile, actions, diff};
use crate::load::{Invalid, Loaded, load};
use crate::plan::{Mode, OnChange, Plan, plan};
use crate::render::{RenderError, Renderer, Secrets, Tree};
use crate::schema::schema_text;
use crate::secrets::{SecretError, resolve};
use crate::source::Source;
use crate::templates::{BUILTIN, Overrides};
use crate::write::{WriteError, destination, write_tree};

/// `println!` that stops quietly when the reader has gone (`sitewright … | head`), where
/// `println!` would panic on the closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut stdout = io::stdout().lock();
        if let Err(error) = writeln!(stdout, $($arg)*) {
            if error.kind() == io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

/// Why a command could not do its job; each kind knows its exit code.
#[derive(Debug)]
enum Failure {
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
    Usage(String),
}

impl Failure {
    /// 2 for everything: only `check` reports an invalid spec with 1, and it does so itself.
    fn exit_code(&self) -> u8 {
        2
    }
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
            Self::Usage(message) => f.write_str(message),
        }
    }
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Render(args) => render(&args),
        Command::Diff(args) => diff_command(&args),
        Command::Schema => {
            outln!("{}", schema_text().trim_end());
            Ok(0)
        }
        Command::Explain(args) => explain(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if let Failure::Invalid(source, invalid) | Failure::NotRendered(source, invalid) =
                &failure
            {
                print_diagnostics(source, &invalid.diagnostics);
            }
            eprintln!("sitewright: {failure}");
            ExitCode::from(failure.exit_code())
        }
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

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn check(args: &CheckArgs) -> Result<u8, Failure> {
    let (source, diagnostics, summary) = match read_source(&args.spec) {
        Ok(source) => match load(&source) {
            Ok(loaded) => {
                let files = plan(&loaded.site).files.len();
                let hosts = loaded.site.hosts.len();
                (source, loaded.warnings, Some((hosts, files)))
            }
            Err(invalid) => (source, invalid.diagnostics, None),
        },
        Err(Failure::Invalid(source, invalid)) => (source, invalid.diagnostics, None),
        Err(other) => return Err(other),
    };
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let totals = format!("{}, {}", count(errors, "error"), count(warnings, "warning"));
    match args.format {
        CheckFormat::Text => {
            print_grouped(&source, &diagnostics);
            match summary {
                Some((hosts, files)) if errors == 0 => {
                    outln!(
                        "{}: ok: {hosts} hosts, {files} files; {totals}",
                        source.name
                    );
                }
                _ => eprintln!("{}: {totals}", source.name),
            }
        }
        CheckFormat::Json => {
            let report = serde_json::json!({
                "spec": source.name,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diagnostics.iter().map(|d| serde_json::json!({
                    "id": d.rule,
                    "severity": d.severity.to_string(),
                    "host": d.host,
                    "file": source.name,
                    "line": d.pos.line,
                    "column": d.pos.column,
                    "message": d.message,
                    "also": d.also.iter().map(|p| serde_json::json!({"line": p.line, "column": p.column})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            outln!(
                "{}",
                serde_json::to_string_pretty(&report).expect("JSON values serialise")
            );
        }
    }
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(u8::from(failed))
}

/// Problems of the whole site first, then each host's under its name, in spec order.
fn print_grouped(source: &Source, diagnostics: &[crate::diagnostic::Diagnostic]) {
    let mut hosts: Vec<&str> = Vec::new();
    for d in diagnostics {
        if let Some(host) = d.host.as_deref()
            && !hosts.contains(&host)
        {
            hosts.push(host);
        }
    }
    let site: Vec<_> = diagnostics
        .iter()
        .filter(|d| d.host.is_none())
        .cloned()
        .collect();
    print_diagnostics(source, &site);
    for host in hosts {
        eprintln!("host {host}:");
        let own: Vec<_> = diagnostics
            .iter()
            .filter(|d| d.host.as_deref() == Some(host))
            .cloned()
            .collect();
        print_diagnostics(source, &own);
    }
}

fn read_overrides(dir: Option<&Path>) -> Result<Overrides, Failure> {
    let Some(dir) = dir else {
        return Ok(Overrides::default());
    };
    let mut templates = Vec::new();
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
            if !BUILTIN.iter().any(|(builtin, _)| *builtin == name) {
                return Err(Failure::Templates(format!(
                    "{}: no built-in template is named `{name}`; the names are {}",
                    path.display(),
                    BUILTIN
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            let text = fs::read_to_string(&path).map_err(|e| Failure::Read(path.clone(), e))?;
            templates.push((name, text));
        }
    }
    Ok(Overrides { templates })
}

/// The plan, narrowed to the hosts the user named.
fn select(mut plan: Plan, loaded: &Loaded, selection: &Selection) -> Result<Plan, Failure> {
    let known: Vec<String> = loaded
        .site
        .hosts
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    if let Some(unknown) = selection.hosts.iter().find(|h| !known.contains(h)) {
        return Err(Failure::UnknownHost(unknown.clone(), known));
    }
    if !selection.hosts.is_empty() {
        plan.files
            .retain(|f| selection.hosts.iter().any(|h| h == f.host.as_str()));
    }
    Ok(plan)
}

fn rendered(
    loaded: &Loaded,
    selection: &Selection,
    secrets: SecretPolicy,
) -> Result<Tree, Failure> {
    let overrides = read_overrides(selection.templates.as_deref())?;
    let plan = select(plan(&loaded.site), loaded, selection)?;
    let secrets = match secrets {
        SecretPolicy::Placeholders => Secrets::none(),
        SecretPolicy::Resolve => Secrets::resolved(resolve(&plan).map_err(Failure::Secret)?),
    };
    Renderer::new(&overrides)
        .render(&plan, &secrets)
        .map_err(Failure::Render)
}

/// Whether secret values are written into the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecretPolicy {
    Placeholders,
    Resolve,
}

fn render(args: &RenderArgs) -> Result<u8, Failure> {
    let (_, loaded) = load_spec(&args.spec).map_err(|failure| match failure {
        Failure::Invalid(source, invalid) => Failure::NotRendered(source, invalid),
        other => other,
    })?;
    let policy = if args.with_secrets {
        SecretPolicy::Resolve
    } else {
        SecretPolicy::Placeholders
    };
    let tree = rendered(&loaded, &args.selection, policy)?;
    let report = write_tree(&tree, &args.out).map_err(Failure::Write)?;
    let hosts = {
        let mut names: Vec<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    outln!(
        "wrote {} files for {hosts} hosts and manifest.json to {}",
        report.written,
        args.out.display()
    );
    for stale in &report.stale {
        eprintln!(
            "stale: {}/{}{} is no longer rendered; remove it if it is yours",
            args.out.display(),
            stale.host,
            stale.path
        );
    }
    Ok(0)
}

fn read_live(path: &Path) -> Result<Option<LiveFile>, Failure> {
    match fs::read(path) {
        Ok(bytes) => {
            let mode = fs::metadata(path)
                .map(|m| Mode(m.permissions().mode() & 0o7777))
                .ok();
            Ok(Some(LiveFile {
                content: String::from_utf8_lossy(&bytes).into_owned(),
                mode,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::Read(path.to_owned(), e)),
    }
}

fn diff_command(args: &DiffArgs) -> Result<u8, Failure> {
    if args.live_root.is_some() && args.selection.hosts.len() != 1 {
        return Err(Failure::Usage(
            "--live-root compares one host: name it with --host NAME".to_owned(),
        ));
    }
    let (_, loaded) = load_spec(&args.spec)?;
    let tree = rendered(&loaded, &args.selection, SecretPolicy::Placeholders)?;
    let mut failure = None;
    let diffs = diff(&tree, |file| {
        let path = match (&args.live, &args.live_root) {
            (Some(dir), _) => destination(dir, file),
            (None, Some(root)) => root.join(file.path.trim_start_matches('/')),
            (None, None) => unreachable!("clap requires --live or --live-root"),
        };
        read_live(&path).unwrap_or_else(|f| {
            failure.get_or_insert(f);
            None
        })
    });
    if let Some(failure) = failure {
        return Err(failure);
    }
    let color = match args.color {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
        }
    };
    let mut out = io::stdout().lock();
    print_diffs(&mut out, &diffs, color).map_err(Failure::Output)?;
    Ok(u8::from(diffs.iter().any(FileDiff::differs)))
}

fn paint(color: bool, code: &str, line: &str) -> String {
    if color {
        format!("\x1b[{code}m{line}\x1b[0m")
    } else {
        line.to_owned()
    }
}

fn print_diffs(out: &mut impl io::Write, diffs: &[FileDiff], color: bool) -> io::Result<()> {
    let differing: Vec<&FileDiff> = diffs.iter().filter(|d| d.differs()).collect();
    for d in &differing {
        if let Some(was) = d.mode_was {
            writeln!(
                out,
                "{}",
                paint(
                    color,
                    "1",
                    &format!("mode {}{}: {was} -> {}", d.host, d.path, d.meta.mode)
                )
            )?;
        }
        let unified = match &d.change {
            Change::Unchanged => continue,
            Change::Modified { unified } | Change::New { unified } => unified,
        };
        for line in unified.split_inclusive('\n') {
            let code = if line.starts_with("+++") || line.starts_with("---") {
                "1"
            } else if line.starts_with('+') {
                "32"
            } else if line.starts_with('-') {
                "31"
            } else if line.starts_with("@@") {
                "36"
            } else {
                ""
            };
            let text = line.trim_end_matches('\n');
            if code.is_empty() {
                writeln!(out, "{text}")?;
            } else {
                writeln!(out, "{}", paint(color, code, text))?;
            }
        }
    }
    if differing.is_empty() {
        writeln!(out, "no differences in {} files", diffs.len())?;
        return Ok(());
    }
    let hosts = {
        let mut names: Vec<&str> = differing.iter().map(|d| d.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    writeln!(
        out,
        "\n{} of {} files differ on {hosts} host{}:",
        differing.len(),
        diffs.len(),
        if hosts == 1 { "" } else { "s" }
    )?;
    for action in actions(diffs) {
        let what = match (action.action, action.service) {
            (OnChange::Nothing, _) => "nothing to reload".to_owned(),
            (OnChange::Apply, _) => format!("apply: {}", action.commands.join("; ")),
            (OnChange::Reload, service) => format!("{service} reload"),
            (OnChange::Restart, service) => format!("{service} restart"),
        };
        let mut why = vec![action.files.join(", ")];
        if !action.restart.is_empty() {
            why.push(format!("restart for {}", action.restart.join(", ")));
        }
        if !action.reload.is_empty() {
            why.push(format!("reload for {}", action.reload.join(", ")));
        }
        writeln!(out, "  {}: {what} ({})", action.host, why.join("; "))?;
    }
    Ok(())
}

fn explain(args: &ExplainArgs) -> Result<u8, Failure> {
    if let Some(rule) = crate::rules::rule(&args.target) {
        outln!("{} ({}): {}\n", rule.id, rule.severity, rule.summary);
        outln!("{}", rule.explanation);
        return Ok(0);
    }
    let spec = PathBuf::from(&args.target);
    if !spec.exists() && args.host.is_none() {
        return Err(Failure::Usage(format!(
            "`{}` is neither a rule id (such as PG017) nor a spec file",
            args.target
        )));
    }
    let (Some(host), Some(path)) = (&args.host, &args.path) else {
        return Err(Failure::Usage(
            "explain SPEC needs --host NAME and the file's PATH on that host".to_owned(),
        ));
    };
    let (source, loaded) = load_spec(&spec)?;
    let selection = Selection {
        hosts: vec![host.clone()],
        templates: None,
    };
    let mut planned = select(plan(&loaded.site), &loaded, &selection)?;
    let paths: Vec<String> = planned.files.iter().map(|f| f.path.clone()).collect();
    planned.files.retain(|f| f.path == *path);
    let Some(file) = planned.files.first().cloned() else {
        return Err(Failure::Usage(format!(
            "{host} has no rendered file {path}; its files are {}",
            paths.join(", ")
        )));
    };
    let tree = Renderer::new(&Overrides::default())
        .render(&planned, &Secrets::none())
        .map_err(Failure::Render)?;
    let content = &tree.files[0].content;
    let lines = crate::explain::explain(
        &file,
        content,
        &loaded.doc,
        &source.name,
        args.key.as_deref(),
    );
    if lines.is_empty()
        && let Some(key) = &args.key
    {
        return Err(Failure::Usage(format!(
            "no line of {path} on {host} sets `{key}`"
        )));
    }
    outln!("{host}:{path} (template {})", file.template);
    for line in lines {
        outln!("{:>4}  {}", line.number, line.text.trim_end());
        match (&line.spec, &line.why) {
            (Some(spec), Some(why)) => outln!("      from {spec}: {why}"),
            (Some(spec), None) => outln!("      from {spec}"),
            (None, Some(why)) => outln!("      derived: {why}"),
            (None, None) => outln!("      the template's own text"),
        }
    }
    Ok(0)
}
