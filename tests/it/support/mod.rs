//! A fluent builder that runs the real sitewright binary and checks what it printed against what
//! the test expects (nothing, unless it says), and helpers to find fixtures and the programs that
//! scripts/install-test-deps installs.
//!
//! Templates under test: with `SITEWRIGHT_TEST_TEMPLATES=DIR` set, every run of the binary that
//! renders (`render`, `diff`, `explain`, `export`) is given `--templates DIR` by the builder, and
//! every render through the library uses [`renderer`], so the real lane (`real::`) proves DIR's
//! overrides with the same programs it proves the built-in templates with (scripts/verify-templates).
//! A test never renders around these two; `templates::the_real_lane_renders_only_through_the_harness`
//! keeps it so. The fast lane compares with golden files of the built-in templates, so it is not
//! meant to run with the variable set.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sitewright::render::Renderer;
use sitewright::templates::Overrides;

/// One run of the sitewright binary, built up call by call.
///
/// Two ways to end it. `check()` asserts what the test expects, and what it does not say it
/// expects is nothing: stdout "", stderr "", exit 0, so a stray warning or a message on the wrong
/// stream fails the test. `run()` asserts nothing and hands back the [`Outcome`], for the tests
/// written before `check()` and for the few that inspect the output themselves.
#[must_use = "nothing runs until .check() or .run()"]
pub struct Sitewright {
    command: Command,
    shown: Vec<String>,
    /// The directory of `write`, kept until the run ends.
    dir: Option<tempfile::TempDir>,
    status: i32,
    stdout: Expected,
    stderr: Expected,
    absent: Vec<String>,
    templates: TemplatesUnderTest,
}

/// Whether a run that renders is given the templates under test.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TemplatesUnderTest {
    /// `--templates DIR` when SITEWRIGHT_TEST_TEMPLATES names DIR and the run names no folder itself.
    FromEnvironment,
    /// The built-in templates, whatever the environment says.
    BuiltIn,
}

/// The variable that names the folder of template overrides the tests render with.
pub const TEST_TEMPLATES: &str = "SITEWRIGHT_TEST_TEMPLATES";

/// The commands that render through the templates, each of which takes `--templates DIR`.
const RENDERING: &[&str] = &["render", "diff", "explain", "export"];

thread_local! {
    /// The folder [`with_templates_under_test`] names for the runs of this thread.
    static SCOPED: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// Runs `proof` with `dir` as the templates under test, as SITEWRIGHT_TEST_TEMPLATES=`dir` would
/// (whatever the variable says), for the renders `proof` makes on this thread only: so a test
/// proves a folder of overrides through the same harness as the one scripts/verify-templates runs.
pub fn with_templates_under_test<R>(dir: &Path, proof: impl FnOnce() -> R) -> R {
    struct Restore(Option<PathBuf>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.set(self.0.take());
        }
    }
    let _restore = Restore(SCOPED.replace(Some(dir.to_path_buf())));
    proof()
}

/// The folder of template overrides under test: the one [`with_templates_under_test`] names,
/// else SITEWRIGHT_TEST_TEMPLATES's; made absolute (the runs have other working directories),
/// or none when neither names one. A folder that is not there fails the test: a typo must not
/// prove the built-in templates instead.
#[track_caller]
pub fn test_templates() -> Option<PathBuf> {
    let dir = SCOPED
        .with_borrow(|dir| dir.clone().map(PathBuf::into_os_string))
        .or_else(|| std::env::var_os(TEST_TEMPLATES))
        .filter(|d| !d.is_empty())?;
    Some(
        fs::canonicalize(&dir)
            .unwrap_or_else(|e| panic!("{TEST_TEMPLATES}={}: {e}", Path::new(&dir).display())),
    )
}

/// The templates under test ([`test_templates`]), read as sitewright reads `--templates DIR`; none
/// when there are none.
#[track_caller]
pub fn test_overrides() -> Overrides {
    let Some(dir) = test_templates() else {
        return Overrides::default();
    };
    let files = tree(&dir)
        .into_iter()
        .map(|(name, bytes)| {
            let text = String::from_utf8(bytes)
                .unwrap_or_else(|_| panic!("{}: not UTF-8", dir.join(&name).display()));
            (name, text)
        })
        .collect();
    Overrides::new(files).unwrap_or_else(|e| panic!("{TEST_TEMPLATES}={}: {e}", dir.display()))
}

/// The renderer a test that renders through the library uses: the templates under test.
pub fn renderer() -> Renderer {
    Renderer::new(&test_overrides())
}

/// A fixture's tree as `render` writes it with the templates under test; without them, its
/// golden tree (`fixtures/NAME/expected`) byte for byte, as
/// `render::every_fixture_renders_exactly_its_golden_tree` proves.
pub struct RenderedFixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

pub fn rendered_fixture(name: &str) -> RenderedFixture {
    let dir = temp_dir();
    let root = dir.path().join("tree");
    Sitewright::new()
        .arg("render")
        .arg(fixture(name).join("site.yaml"))
        .arg("-o")
        .arg(&root)
        .run()
        .code(0);
    RenderedFixture { _dir: dir, root }
}

/// The name of each folder of fixtures/, in order.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What one stream must hold when the run ends.
enum Expected {
    Exactly(String),
    /// For output that holds something the test cannot know exactly (a temporary path, clap's
    /// wording of a usage error): each piece, in any order.
    Contains(Vec<String>),
}

impl Expected {
    /// Why `actual` is not what was expected, with a unified diff when an exact text differs.
    fn mismatch(&self, stream: &str, actual: &str) -> Option<String> {
        match self {
            Expected::Exactly(expected) if expected != actual => Some(format!(
                "{stream} differs (- expected, + actual):\n{}",
                unified_diff(expected, actual)
            )),
            Expected::Exactly(_) => None,
            Expected::Contains(pieces) => {
                let missing: Vec<_> = pieces.iter().filter(|p| !actual.contains(*p)).collect();
                (!missing.is_empty()).then(|| {
                    format!("{stream} lacks {missing:?}\n--- {stream}\n{actual}--- end of {stream}")
                })
            }
        }
    }
}

impl Sitewright {
    pub fn new() -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sitewright"));
        command.current_dir(repo()).env_remove("NO_COLOR");
        Self {
            command,
            shown: Vec::new(),
            dir: None,
            status: 0,
            stdout: Expected::Exactly(String::new()),
            stderr: Expected::Exactly(String::new()),
            absent: Vec::new(),
            templates: TemplatesUnderTest::FromEnvironment,
        }
    }

    /// Renders with the built-in templates even when SITEWRIGHT_TEST_TEMPLATES names a folder:
    /// only for a test whose point is the built-in text itself, with why at the call.
    pub fn builtin_templates(mut self) -> Self {
        self.templates = TemplatesUnderTest::BuiltIn;
        self
    }

    /// `--templates DIR` added to a run that renders, when the templates under test are
    /// overrides and the run names no folder of its own.
    fn with_test_templates(mut self) -> Self {
        let renders = self
            .shown
            .first()
            .is_some_and(|command| RENDERING.contains(&command.as_str()));
        if self.templates == TemplatesUnderTest::FromEnvironment
            && renders
            && !self.shown.iter().any(|a| a == "--templates")
            && let Some(dir) = test_templates()
        {
            self = self.arg("--templates").arg(dir);
        }
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.shown.push(arg.as_ref().to_string_lossy().into_owned());
        self.command.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Writes `name` into a fresh temporary directory that the run then takes as its working
    /// directory, so that reports name the file as it is named here, whatever the machine's
    /// temporary path.
    pub fn write(mut self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        let dir = self.dir.get_or_insert_with(temp_dir);
        fs::write(dir.path().join(name), contents).unwrap();
        self.command.current_dir(dir.path());
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// The exit status `check()` expects, 0 unless said.
    pub fn status(mut self, status: i32) -> Self {
        self.status = status;
        self
    }

    /// Exactly what stdout must hold, "" unless said.
    pub fn stdout(mut self, text: impl Into<String>) -> Self {
        self.stdout = Expected::Exactly(text.into());
        self
    }

    /// Exactly what stderr must hold, "" unless said.
    pub fn stderr(mut self, text: impl Into<String>) -> Self {
        self.stderr = Expected::Exactly(text.into());
        self
    }

    /// Looser than `stderr`: stderr must hold `text` somewhere. Use it only where the whole
    /// text cannot be known.
    pub fn stderr_contains(mut self, text: impl Into<String>) -> Self {
        self.stderr = contains(self.stderr, text.into());
        self
    }

    /// Neither stream may hold `text` (a secret, say), whatever else they are expected to hold.
    pub fn never_prints(mut self, text: impl Into<String>) -> Self {
        self.absent.push(text.into());
        self
    }

    /// Runs sitewright and asserts the expected status, stdout and stderr, printing every
    /// difference at once, each stream as a unified diff.
    #[track_caller]
    pub fn check(self) -> Outcome {
        let (outcome, problems) = self.compare();
        if !problems.is_empty() {
            panic!(
                "`{}`:\n{}\n--- stdout\n{}--- stderr\n{}--- end",
                outcome.line,
                problems.join("\n"),
                outcome.stdout,
                outcome.stderr
            );
        }
        outcome
    }

    /// Runs sitewright and says how the run differs from what was expected, without failing:
    /// for callers that collect the failures of many runs before they fail once.
    pub fn compare(self) -> (Outcome, Vec<String>) {
        let Self {
            command,
            shown,
            dir: _dir,
            status,
            stdout,
            stderr,
            absent,
            templates: _,
        } = self.with_test_templates();
        let outcome = execute(command, &shown);
        let mut problems = Vec::new();
        if outcome.code != status {
            problems.push(format!("exited {}, not {status}", outcome.code));
        }
        problems.extend(stdout.mismatch("stdout", &outcome.stdout));
        problems.extend(stderr.mismatch("stderr", &outcome.stderr));
        for text in &absent {
            if outcome.stdout.contains(text.as_str()) || outcome.stderr.contains(text.as_str()) {
                problems.push(format!("printed {text:?}"));
            }
        }
        (outcome, problems)
    }

    /// Runs sitewright and asserts nothing: the caller inspects the [`Outcome`].
    pub fn run(self) -> Outcome {
        let Self {
            command,
            shown,
            dir: _dir,
            ..
        } = self.with_test_templates();
        execute(command, &shown)
    }
}

/// `expected` widened to also require `piece`; an exact expectation is replaced, since a test
/// that says what stderr contains has said it cannot know all of it.
fn contains(expected: Expected, piece: String) -> Expected {
    match expected {
        Expected::Contains(mut pieces) => {
            pieces.push(piece);
            Expected::Contains(pieces)
        }
        Expected::Exactly(_) => Expected::Contains(vec![piece]),
    }
}

fn execute(mut command: Command, shown: &[String]) -> Outcome {
    let output = command.output().expect("the sitewright binary runs");
    Outcome {
        line: format!("sitewright {}", shown.join(" ")),
        code: output.status.code().expect("sitewright exits, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// `expected` against `actual` as a unified diff, the form a reviewer reads in `git diff`.
pub fn unified_diff(expected: &str, actual: &str) -> String {
    similar::TextDiff::from_lines(expected, actual)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Outcome {
    pub line: String,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "`{}` exited {}, not {expected}\n--- stdout\n{}--- stderr\n{}",
            self.line, self.code, self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "`{}`: stdout lacks {text:?}\n--- stdout\n{}",
            self.line,
            self.stdout
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "`{}`: stderr lacks {text:?}\n--- stderr\n{}",
            self.line,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn neither_has(&self, text: &str) -> &Self {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "`{}` printed {text:?}\n--- stdout\n{}--- stderr\n{}",
            self.line,
            self.stdout,
            self.stderr
        );
        self
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    repo().join("fixtures").join(name)
}

pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sitewright-test-")
        .tempdir()
        .expect("a temporary directory")
}

/// Every file under `root`, by its path relative to `root`, with its bytes.
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("a readable directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(name, fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A setting that scripts/install-test-deps wrote to its env file: from the environment when the
/// test command exported it, else from the env file in the default cache. Never optional: a test
/// that needs a program and cannot find it fails.
#[track_caller]
pub fn installed(name: &str) -> String {
    if let Ok(value) = std::env::var(name) {
        return value;
    }
    let cache = std::env::var("SITEWRIGHT_TEST_CACHE").unwrap_or_else(|_| {
        if running_as_root() {
            "/var/cache/sitewright-test".to_owned()
        } else {
            format!(
                "{}/.cache/sitewright-test",
                std::env::var("HOME").unwrap_or_default()
            )
        }
    });
    let env_file = format!("{cache}/env");
    let text = fs::read_to_string(&env_file).unwrap_or_else(|_| {
        panic!("{name} is not set and {env_file} is missing: run scripts/test, which installs the test programs")
    });
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('\'').to_owned())
        .unwrap_or_else(|| panic!("{env_file} does not set {name}: run scripts/test"))
}

pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub mod ansible;
pub mod backend;
pub mod cases;
pub mod cron;
pub mod directives;
pub mod machine;
pub mod nginx;
pub mod pg;
pub mod pgbouncer;
pub mod sites;
pub mod ssh;
mod yaml;

pub use yaml::yaml_quoted;

/// Django's deploy check, failing on a warning too: what a production settings module must pass.
pub const CHECK_DEPLOY: &[&str] = &[
    "-m",
    "django",
    "check",
    "--deploy",
    "--fail-level",
    "WARNING",
];

/// A minimal project: `mysite.settings` is the application's base module, as in CATMAID.
pub fn django_project(dir: &Path) {
    let site = dir.join("mysite");
    fs::create_dir_all(&site).unwrap();
    fs::write(site.join("__init__.py"), "").unwrap();
    fs::write(site.join("urls.py"), "urlpatterns = []\n").unwrap();
    fs::write(
        site.join("settings.py"),
        r#"INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "mysite.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
"#,
    )
    .unwrap();
    // The mirror's app (seed 002), as an empty app so that Django can load it.
    let app = dir.join("nolastlogin");
    fs::create_dir_all(&app).unwrap();
    fs::write(app.join("__init__.py"), "").unwrap();
}
