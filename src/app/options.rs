//! What the user asked for, in plain types: the one place where clap's types are turned into the
//! options the commands take, so nothing below `app` depends on how the command line is parsed.

use std::io::{self, IsTerminal as _};
use std::path::PathBuf;

use clap::CommandFactory as _;

use super::Failure;
use super::remote::{Inventory, Ssh};
use crate::cli;
use crate::render::RenderedFile;
use crate::rules::Rule;
use crate::write::{OnStale, destination};

/// One command, with its options.
pub(super) enum Request {
    Check(CheckOptions),
    Render(RenderOptions),
    Diff(DiffOptions),
    Fetch(FetchOptions),
    Import(ImportOptions),
    Schema,
    Explain(Explain),
    Export(ExportOptions),
    Init(Starter),
    /// Text that clap writes about the command line itself: a completion script or the manual page.
    Print(String),
    /// `templates list` or `templates show`.
    Templates(TemplatesRequest),
}

impl Request {
    /// The command the user typed, checked for what clap cannot express (`--live-root` takes one
    /// `--host`; `explain` takes a rule id or a spec with a host and a path).
    pub(super) fn from_cli(command: cli::Command) -> Result<Self, Failure> {
        Ok(match command {
            cli::Command::Check(args) => Self::Check(CheckOptions {
                spec: args.spec,
                warnings: if args.deny_warnings {
                    Warnings::Deny
                } else {
                    Warnings::Allow
                },
                format: match args.format {
                    cli::Format::Text => ReportFormat::Text,
                    cli::Format::Json => ReportFormat::Json,
                },
            }),
            cli::Command::Render(args) => Self::Render(RenderOptions {
                spec: args.spec,
                out: args.out,
                selection: Selection::from(args.selection),
                // clap refuses --with-secrets beside --check.
                action: match (args.check, args.with_secrets) {
                    (true, _) => RenderAction::Check,
                    (false, true) => RenderAction::Write(SecretPolicy::Resolve),
                    (false, false) => RenderAction::Write(SecretPolicy::Placeholders),
                },
                stale: if args.keep_stale {
                    OnStale::Keep
                } else {
                    OnStale::Remove
                },
            }),
            cli::Command::Diff(args) => Self::Diff(DiffOptions::from_cli(args)?),
            cli::Command::Fetch(args) => Self::Fetch(FetchOptions {
                spec: args.spec,
                out: args.out,
                selection: Selection::from(cli::Selection {
                    hosts: args.hosts,
                    templates: None,
                }),
                ssh: Ssh::from_cli(args.reach)?,
            }),
            cli::Command::Import(args) => Self::Import(ImportOptions {
                dir: args.dir,
                out: args.out,
                site: args.site,
                values: if args.keep_live {
                    crate::import::Values::KeepLive
                } else {
                    crate::import::Values::Derived
                },
            }),
            cli::Command::Schema => Self::Schema,
            cli::Command::Explain(args) => Self::Explain(Explain::from_cli(args)?),
            cli::Command::Export(args) => Self::Export(ExportOptions {
                format: match args.tool {
                    cli::Tool::Ansible => ExportFormat::Ansible,
                    cli::Tool::Nix => ExportFormat::Nix,
                },
                spec: args.spec,
                out: args.out,
                selection: Selection::from(args.selection),
            }),
            cli::Command::Init(args) => Self::Init(match args.shape {
                cli::Shape::Single => Starter::Single,
                cli::Shape::PrimaryReplica => Starter::PrimaryReplica,
                cli::Shape::CachingProxy => Starter::CachingProxy,
            }),
            cli::Command::Completions(args) => {
                let mut script = Vec::new();
                clap_complete::generate(
                    args.shell,
                    &mut cli::Cli::command(),
                    "sitewright",
                    &mut script,
                );
                Self::Print(String::from_utf8_lossy(&script).into_owned())
            }
            cli::Command::Man(args) => Self::Print(manual_page(&args.command)?),
            cli::Command::Templates(args) => Self::Templates(match args.command {
                cli::TemplatesCommand::List { templates } => TemplatesRequest::List(
                    templates.map_or(Templates::BuiltIn, Templates::OverriddenFrom),
                ),
                cli::TemplatesCommand::Show { name } => TemplatesRequest::Show(name),
            }),
        })
    }
}

/// The manual page of sitewright, or of one of its commands (`man check`, `man templates list`).
/// Each page lists the commands under it as sitewright-COMMAND(1), so each of those pages must be
/// one this prints.
fn manual_page(command: &[String]) -> Result<String, Failure> {
    let mut cli = cli::Cli::command();
    // Built, each command's display name is sitewright-COMMAND, its page's title. clap's own `help`
    // commands would list pages of their own (sitewright-help-check(1)) that are no one's: they are
    // left out of the manual, as `--help` and `sitewright help` say all they would.
    cli.build();
    let mut page = hide_help(cli);
    for (depth, name) in command.iter().enumerate() {
        let pages: Vec<&clap::Command> = page
            .get_subcommands()
            .filter(|sub| !sub.is_hide_set())
            .collect();
        let Some(sub) = pages.iter().find(|sub| sub.get_name() == name) else {
            let names: Vec<&str> = pages.iter().map(|sub| sub.get_name()).collect();
            let asked = command[..=depth].join(" ");
            return Err(Failure::Usage(if names.is_empty() {
                format!(
                    "no manual page for `{asked}`: `{}` has no commands",
                    command[..depth].join(" ")
                )
            } else {
                format!(
                    "no manual page for `{asked}`: the commands are {}",
                    names.join(", ")
                )
            }));
        };
        page = (*sub).clone();
    }
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut text)
        .map_err(Failure::Output)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// `command` with clap's `help` command hidden at every level that has one.
fn hide_help(command: clap::Command) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    names.into_iter().fold(command, |command, name| {
        if name == "help" {
            command.mut_subcommand(name, |help| help.hide(true))
        } else {
            command.mut_subcommand(name, hide_help)
        }
    })
}

/// What `templates` is asked for.
pub(super) enum TemplatesRequest {
    /// Every built-in template, and which of them a folder overrides.
    List(Templates),
    /// One built-in template's text, by name.
    Show(String),
}

/// The hosts a command works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Hosts {
    All,
    /// Only these, named with `--host`; never empty.
    Named(Vec<String>),
}

impl Hosts {
    pub(super) fn includes(&self, name: &str) -> bool {
        match self {
            Self::All => true,
            Self::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

/// Where the templates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Templates {
    BuiltIn,
    /// A folder whose templates replace the built-in ones of the same name.
    OverriddenFrom(PathBuf),
}

/// The hosts to work on and the templates to render them with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Selection {
    pub(super) hosts: Hosts,
    pub(super) templates: Templates,
}

impl From<cli::Selection> for Selection {
    fn from(selection: cli::Selection) -> Self {
        Self {
            hosts: if selection.hosts.is_empty() {
                Hosts::All
            } else {
                Hosts::Named(selection.hosts)
            },
            templates: selection
                .templates
                .map_or(Templates::BuiltIn, Templates::OverriddenFrom),
        }
    }
}

/// Whether secret values are read: written into the tree by `render`, compared by `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecretPolicy {
    Placeholders,
    Resolve,
}

/// Whether warnings fail `check` as errors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Warnings {
    Allow,
    Deny,
}

/// How `check` reports: text for people, on stderr, or one JSON document for CI, on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReportFormat {
    Text,
    Json,
}

pub(super) struct CheckOptions {
    pub(super) spec: PathBuf,
    pub(super) warnings: Warnings,
    pub(super) format: ReportFormat,
}

/// What `render` does with the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RenderAction {
    /// Write it, with or without the secret values.
    Write(SecretPolicy),
    /// Write nothing; compare it with the tree already in the folder.
    Check,
}

pub(super) struct RenderOptions {
    pub(super) spec: PathBuf,
    pub(super) out: PathBuf,
    pub(super) selection: Selection,
    pub(super) action: RenderAction,
    /// Whether files an earlier render wrote, and the spec no longer produces, are removed.
    pub(super) stale: OnStale,
}

/// Where the live files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum LiveTree {
    /// Every host's files fetched into `DIR/<host>/<path>`, as Ansible's fetch module lays them out.
    Fetched(PathBuf),
    /// One host's own files at `DIR/<path>`: `/` on the host itself.
    HostRoot(PathBuf),
    /// The hosts themselves, over ssh.
    Ssh(Box<Ssh>),
}

impl Ssh {
    pub(super) fn from_cli(args: cli::SshArgs) -> Result<Self, Failure> {
        Ok(Self {
            config: args.ssh_config,
            inventory: match &args.inventory {
                Some(path) => Inventory::load(path)?,
                None => Inventory::default(),
            },
            jobs: args.jobs.max(1),
            timeout: std::time::Duration::from_secs(args.timeout.max(1)),
        })
    }
}

/// What `import` is asked for.
pub(super) struct ImportOptions {
    pub(super) dir: PathBuf,
    pub(super) out: PathBuf,
    pub(super) site: Option<String>,
    pub(super) values: crate::import::Values,
}

/// What `fetch` is asked for.
pub(super) struct FetchOptions {
    pub(super) spec: PathBuf,
    pub(super) out: PathBuf,
    pub(super) selection: Selection,
    pub(super) ssh: Ssh,
}

impl LiveTree {
    /// Where the live counterpart of a rendered file is.
    pub(super) fn path_of(&self, file: &RenderedFile) -> PathBuf {
        match self {
            Self::Fetched(dir) => destination(dir, file),
            Self::HostRoot(root) => root.join(file.path.trim_start_matches('/')),
            Self::Ssh(_) => PathBuf::from(&file.path),
        }
    }

    /// Where the live file at `path` on `host` is.
    pub(super) fn path_on(&self, host: &str, path: &str) -> PathBuf {
        let path = path.trim_start_matches('/');
        match self {
            Self::Fetched(dir) => dir.join(host).join(path),
            Self::HostRoot(root) => root.join(path),
            Self::Ssh(_) => PathBuf::from("/").join(path),
        }
    }

    /// A host's own filesystem has real owners; a fetched copy belongs to whoever fetched it.
    pub(super) fn has_real_owners(&self) -> bool {
        matches!(self, Self::HostRoot(_) | Self::Ssh(_))
    }
}

/// Whether the diff is painted with ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Paint {
    Plain,
    Ansi,
}

impl Paint {
    /// `--color`, with `auto` decided here: colours on a terminal unless NO_COLOR is set.
    fn from_cli(when: cli::ColorWhen) -> Self {
        let ansi = match when {
            cli::ColorWhen::Always => true,
            cli::ColorWhen::Never => false,
            cli::ColorWhen::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && io::stdout().is_terminal()
            }
        };
        if ansi { Self::Ansi } else { Self::Plain }
    }
}

/// How the diff is shown: every hunk, or a line per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Detail {
    Hunks,
    Stat,
}

pub(super) struct DiffOptions {
    pub(super) spec: PathBuf,
    pub(super) live: LiveTree,
    pub(super) selection: Selection,
    pub(super) paint: Paint,
    pub(super) detail: Detail,
    /// Whether the secrets are read, to compare them with the live ones.
    pub(super) secrets: SecretPolicy,
    pub(super) running: Running,
    /// Values masked wherever a live file is shown: the secrets `import` found written in the
    /// live files (none for `diff` itself, whose secrets are the spec's).
    pub(super) redact: Vec<String>,
}

/// What `diff --ssh` holds the rendered files against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Running {
    /// The live files only.
    FilesOnly,
    /// The live files, and what the programs run (`--running`).
    AlsoPrograms,
}

impl DiffOptions {
    fn from_cli(args: cli::DiffArgs) -> Result<Self, Failure> {
        // clap's `requires` takes a flag's default for its presence: said here instead.
        if args.running && !args.ssh {
            return Err(Failure::Usage(
                "--running asks the programs on the hosts themselves: it needs --ssh".to_owned(),
            ));
        }
        let live = match (args.live, args.live_root) {
            _ if args.ssh => LiveTree::Ssh(Box::new(Ssh::from_cli(args.reach)?)),
            (Some(dir), _) => LiveTree::Fetched(dir),
            (None, Some(_)) if args.selection.hosts.len() != 1 => {
                return Err(Failure::Usage(
                    "--live-root compares one host: name it with --host NAME".to_owned(),
                ));
            }
            (None, Some(root)) => LiveTree::HostRoot(root),
            // clap's argument group asks for one of them before this runs; said again, not assumed.
            (None, None) => {
                return Err(Failure::Usage(
                    "diff needs the live files: --live DIR, --live-root ROOT or --ssh".to_owned(),
                ));
            }
        };
        Ok(Self {
            spec: args.spec,
            live,
            selection: Selection::from(args.selection),
            paint: Paint::from_cli(args.color),
            detail: if args.stat {
                Detail::Stat
            } else {
                Detail::Hunks
            },
            secrets: if args.with_secrets {
                SecretPolicy::Resolve
            } else {
                SecretPolicy::Placeholders
            },
            running: if args.running {
                Running::AlsoPrograms
            } else {
                Running::FilesOnly
            },
            redact: Vec::new(),
        })
    }
}

/// What `explain` is asked about.
pub(super) enum Explain {
    Rule(Rule),
    /// Where each line of a rendered file, or of one of its settings, came from.
    File {
        spec: PathBuf,
        host: String,
        path: String,
        key: Option<String>,
        templates: Templates,
    },
}

impl Explain {
    /// A rule id if it is one, else a spec; which needs a host and a path.
    fn from_cli(args: cli::ExplainArgs) -> Result<Self, Failure> {
        if let Some(rule) = crate::rules::rule(&args.target) {
            return Ok(Self::Rule(rule));
        }
        let spec = PathBuf::from(&args.target);
        if !spec.exists() && args.host.is_none() {
            return Err(Failure::Usage(format!(
                "`{}` is neither a rule id (such as PG017) nor a spec file",
                args.target
            )));
        }
        let (Some(host), Some(path)) = (args.host, args.path) else {
            return Err(Failure::Usage(
                "explain SPEC needs --host NAME and the file's PATH on that host".to_owned(),
            ));
        };
        Ok(Self::File {
            spec,
            host,
            path,
            key: args.key,
            templates: args
                .templates
                .map_or(Templates::BuiltIn, Templates::OverriddenFrom),
        })
    }
}

/// What `export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExportFormat {
    /// A playbook, one play per host.
    Ansible,
    /// A NixOS module per host.
    Nix,
}

pub(super) struct ExportOptions {
    pub(super) format: ExportFormat,
    pub(super) spec: PathBuf,
    pub(super) out: PathBuf,
    pub(super) selection: Selection,
}

/// The kind of site `init` starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Starter {
    Single,
    PrimaryReplica,
    CachingProxy,
}
