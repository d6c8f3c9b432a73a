//! The command line: clap types only. What each command does lives in `app`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Render PostgreSQL, nginx, sysctl and Django configuration from one typed site spec, and show what
/// would change on the live machines.
#[derive(Debug, Parser)]
#[command(name = "sitewright", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate a spec and run the site-wide rules (exit 0: fine, 1: errors, 2: could not run).
    Check(CheckArgs),
    /// Write every host's files and manifest.json under a folder.
    Render(RenderArgs),
    /// Show how the rendered files differ from the live ones (exit 0: same, 1: differ, 2: error).
    Diff(DiffArgs),
    /// Copy each host's live files over ssh into a folder that `diff --live` reads (nothing is written on the hosts).
    Fetch(FetchArgs),
    /// Write a spec from a site's live files (the `--live` layout), then diff it against them: PostgreSQL's files so far
    Import(ImportArgs),
    /// Print the JSON Schema of the spec.
    Schema,
    /// Explain a rule (`explain PG017`), or where each value of a rendered file came from
    /// (`explain SPEC --host NAME PATH [KEY]`).
    Explain(ExplainArgs),
    /// Write what Ansible or NixOS needs to put the rendered files on the hosts; secrets stay references.
    Export(ExportArgs),
    /// Print a starter spec, with comments, that passes `check`.
    Init(InitArgs),
    /// Print the completion script of SHELL.
    Completions(CompletionsArgs),
    /// Print the manual page (roff); `man COMMAND` prints that command's own page.
    Man(ManArgs),
    /// List the built-in templates, or print one: the start of an override for `--templates DIR`.
    Templates(TemplatesArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TemplatesArgs {
    #[command(subcommand)]
    pub(crate) command: TemplatesCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesCommand {
    /// Name each built-in template, what it lays out and which files it is for; with --templates
    /// DIR, which of them DIR overrides and which files in DIR override nothing (exit 1).
    List {
        /// A folder of templates, as render and diff are given: which ones it overrides.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
    },
    /// Print a built-in template byte for byte, as embedded (`templates show NAME > DIR/NAME`).
    Show {
        /// The template's name, as `templates list` prints it (nginx/https.conf.nginx).
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print, such as check, or `templates list`; without it,
    /// sitewright(1).
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The site spec (YAML).
    pub(crate) spec: PathBuf,
    /// Exit 1 when there are warnings, as when there are errors.
    #[arg(long)]
    pub(crate) deny_warnings: bool,
    /// How problems are printed: text for people, json for CI.
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub(crate) format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Each problem with the source line under it, grouped by host, to stderr.
    Text,
    /// One JSON document on stdout.
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// A rule id (PG017), or a site spec to explain a rendered file of.
    pub(crate) target: String,
    /// The host whose file to explain.
    #[arg(long, value_name = "NAME")]
    pub(crate) host: Option<String>,
    /// The file's absolute path on the host.
    pub(crate) path: Option<String>,
    /// Only this setting or directive.
    pub(crate) key: Option<String>,
    /// The folder of templates `render` and `diff` are given: the file is explained as they lay it out.
    #[arg(long, value_name = "DIR")]
    pub(crate) templates: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct Selection {
    /// Only this host (repeat for more).
    #[arg(long = "host", value_name = "NAME")]
    pub(crate) hosts: Vec<String>,
    /// A folder of templates that replace the built-in ones of the same name.
    #[arg(long, value_name = "DIR")]
    pub(crate) templates: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The site spec (YAML).
    pub(crate) spec: PathBuf,
    /// The folder to write into: DIR/<host>/<path> and DIR/manifest.json.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) selection: Selection,
    /// Write secret values (passwords) into the files that need them; the tree must then not be committed.
    #[arg(long, conflicts_with = "check")]
    pub(crate) with_secrets: bool,
    /// Write nothing: exit 1 when DIR is not what the spec renders, listing the files that differ (for CI and pre-commit).
    #[arg(long)]
    pub(crate) check: bool,
    /// Leave in place the files an earlier render wrote that the spec no longer produces (they are then no longer listed in the manifests); without it they are removed.
    #[arg(long)]
    pub(crate) keep_stale: bool,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("live_tree").required(true))]
pub(crate) struct DiffArgs {
    /// The site spec (YAML).
    pub(crate) spec: PathBuf,
    /// The live files of every host, laid out as DIR/<host>/<path> (as Ansible's fetch module writes them).
    #[arg(long, value_name = "DIR", group = "live_tree")]
    pub(crate) live: Option<PathBuf>,
    /// The live files of one host (--host) at DIR/<path>; `--live-root /` on the host itself.
    #[arg(long, value_name = "DIR", group = "live_tree")]
    pub(crate) live_root: Option<PathBuf>,
    /// Read each host's live files over ssh (`ssh NAME`, or as --inventory says); nothing is written there.
    #[arg(long, group = "live_tree")]
    pub(crate) ssh: bool,
    #[command(flatten)]
    pub(crate) reach: SshArgs,
    /// With --ssh, also ask what runs: PostgreSQL's settings, recovery state and pg_hba.conf
    /// errors, `nginx -T`, the kernel's values; each drift says what to run.
    #[arg(long)]
    pub(crate) running: bool,
    #[command(flatten)]
    pub(crate) selection: Selection,
    /// When to colour the diff.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    pub(crate) color: ColorWhen,
    /// A line per differing file with its added and removed lines, instead of the diffs.
    #[arg(long)]
    pub(crate) stat: bool,
    /// Read the secrets the files hold and compare them with the live ones (never shown).
    #[arg(long)]
    pub(crate) with_secrets: bool,
}

/// How the hosts are reached over ssh.
#[derive(Debug, Args)]
pub(crate) struct SshArgs {
    /// An ssh_config file to use instead of ~/.ssh/config.
    #[arg(long, value_name = "FILE")]
    pub(crate) ssh_config: Option<PathBuf>,
    /// Where each host is reached: `hosts: { NAME: { ssh: DEST, sudo: true, root: DIR, postgres_user: USER } }`.
    #[arg(long, value_name = "FILE")]
    pub(crate) inventory: Option<PathBuf>,
    /// How many hosts are read at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) jobs: usize,
    /// Seconds one host may take, connecting included.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub(crate) timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The live files of every host, laid out as DIR/<host>/<path> (as `fetch` or Ansible's fetch module writes them).
    pub(crate) dir: PathBuf,
    /// The spec to write (never overwritten).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// The site's name (default: the hosts' manifest says it, else DIR's name).
    #[arg(long, value_name = "NAME")]
    pub(crate) site: Option<String>,
    /// Keep each live setting the spec would change, as the host's `postgres_settings`.
    #[arg(long)]
    pub(crate) keep_live: bool,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// The site spec (YAML).
    pub(crate) spec: PathBuf,
    /// The folder to write into, as `diff --live` reads it: DIR/<host>/<path>.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub(crate) out: PathBuf,
    /// Only this host (repeat for more).
    #[arg(long = "host", value_name = "NAME")]
    pub(crate) hosts: Vec<String>,
    #[command(flatten)]
    pub(crate) reach: SshArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The kind of site.
    #[arg(value_enum)]
    pub(crate) shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shape {
    /// One host: PostgreSQL, nginx and Django.
    Single,
    /// A PostgreSQL primary and a streaming replica behind nginx's forward.
    PrimaryReplica,
    /// A caching proxy for a public read-only site.
    CachingProxy,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The tool to export for.
    #[arg(value_enum)]
    pub(crate) tool: Tool,
    /// The site spec (YAML).
    pub(crate) spec: PathBuf,
    /// The folder to write into.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) selection: Selection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Tool {
    /// A playbook, one play per host, with the files and handlers.
    Ansible,
    /// A NixOS module per host.
    Nix,
}
