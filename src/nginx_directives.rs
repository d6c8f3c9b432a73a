//! nginx's directives and variables for each release from 1.18.0, and the modules of Debian's
//! builds, from the checked-in tables in data/nginx (parsed from nginx's own sources by
//! scripts/nginx-directives), so that `check` can refuse a user-written directive that nginx
//! would refuse -- unknown, in the wrong place, with the wrong number of arguments, with a value
//! nginx's standard parsers reject, from a module the build lacks, naming a variable that does
//! not exist -- without an nginx at hand.
//!
//! Modules are judged by Debian's builds, the ones the tests prove and the layout sitewright
//! renders for: Debian 13's nginx 1.26.3 for a spec's `nginx.version` of 1.26 or later, Debian
//! 12's 1.22.1 below. A module Debian builds as a separate dynamic module counts as missing,
//! except the stream module, whose `load_module` line sitewright writes with the stream block.
//! A version is compared by number (`1.26` is 1.26.0); one newer than the newest release in the
//! table gets the newest release's rows.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::OnceLock;

use crate::spec::Version;
use crate::suggest::nearest;

const DIRECTIVES: &str = include_str!("../data/nginx/directives.tsv");
const VARIABLES: &str = include_str!("../data/nginx/variables.tsv");
const BUILDS: &str = include_str!("../data/nginx/builds.tsv");

/// The block a user's directive is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Inside `http { }`.
    Http,
    /// Inside an http `server { }`.
    Server,
    /// Inside a `location { }`.
    Location,
    /// Inside `stream { }`.
    Stream,
    /// Inside a stream `server { }`.
    StreamServer,
}

impl Level {
    /// The context's name in data/nginx/directives.tsv.
    fn context(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Server => "server",
            Self::Location => "location",
            Self::Stream => "stream",
            Self::StreamServer => "stream_server",
        }
    }

    /// Whether a row with these contexts is allowed here.
    fn allows(self, contexts: &[&str]) -> bool {
        contexts.iter().any(|c| *c == self.context() || *c == "any")
    }

    fn is_stream(self) -> bool {
        matches!(self, Self::Stream | Self::StreamServer)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(context_phrase(self.context()))
    }
}

/// How a context of directives.tsv reads in a sentence.
fn context_phrase(context: &str) -> &str {
    match context {
        "any" => "any block",
        "main" => "the main level (outside http and stream)",
        "events" => "events",
        "http" => "http",
        "server" => "an http server",
        "location" => "a location",
        "upstream" => "an http upstream",
        "server_if" => "an if in a server",
        "location_if" => "an if in a location",
        "limit_except" => "limit_except",
        "stream" => "stream",
        "stream_server" => "a stream server",
        "stream_upstream" => "a stream upstream",
        "mail" => "mail",
        "mail_server" => "a mail server",
        other => other,
    }
}

/// Whether a directive may appear more than once in one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Each line adds an item (`add_header`, `allow`, `proxy_set_header`).
    Yes,
    /// nginx refuses a second line: "is duplicate".
    No,
    /// The directive's own handler decides; the table does not know.
    Unknown,
}

/// The value a directive takes, as its set handler parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `on` or `off`.
    Flag,
    /// A time (ngx_parse_time); `ms` says whether milliseconds are allowed.
    Time { ms: bool },
    /// A size: digits and an optional k/K/m/M.
    Size,
    /// A size that may also end in g/G.
    Offset,
    /// Digits, within the bounds when nginx sets some.
    Number { min: Option<i64>, max: Option<i64> },
    /// Text nginx takes as it is.
    Text,
    /// One of the words.
    Enum(Vec<&'static str>),
    /// One or more of the words.
    Bitmask(Vec<&'static str>),
    /// A number and a size (`proxy_buffers 8 4k`).
    Bufs,
    /// nginx's own code parses it: no value check here.
    Custom,
}

impl Kind {
    fn parse(text: &'static str) -> Self {
        let (head, tail) = text.split_once(':').unwrap_or((text, ""));
        let words = || tail.split('|').collect();
        match head {
            "flag" => Self::Flag,
            "time" => Self::Time { ms: tail != "s" },
            "size" => Self::Size,
            "offset" => Self::Offset,
            "number" => {
                let (min, max) = tail.split_once("..").unwrap_or(("", ""));
                Self::Number {
                    min: min.parse().ok(),
                    max: max.parse().ok(),
                }
            }
            "text" => Self::Text,
            "enum" => Self::Enum(words()),
            "bitmask" => Self::Bitmask(words()),
            "bufs" => Self::Bufs,
            _ => Self::Custom,
        }
    }

    /// What a right value looks like, for a message.
    fn expected(&self) -> String {
        match self {
            Self::Flag => "on or off".to_owned(),
            Self::Time { ms: true } => "a time such as 30s, 1h30m or 500ms".to_owned(),
            Self::Time { ms: false } => {
                "a time in seconds or more, such as 30s, 1h or 1d".to_owned()
            }
            Self::Size => "a size such as 512, 8k or 1m".to_owned(),
            Self::Offset => "a size such as 512, 8k, 100m or 1g".to_owned(),
            Self::Number { min, max } => match (min, max) {
                (Some(lo), Some(hi)) => format!("a whole number from {lo} to {hi}"),
                (Some(lo), None) => format!("a whole number of at least {lo}"),
                _ => "a whole number".to_owned(),
            },
            Self::Enum(words) => format!("one of: {}", words.join(", ")),
            Self::Bitmask(words) => format!("one or more of: {}", words.join(", ")),
            Self::Bufs => "a number and a size, such as 8 4k".to_owned(),
            Self::Text | Self::Custom => "a value nginx accepts".to_owned(),
        }
    }

    /// Whether nginx's parser for this kind accepts argument `index` (0-based) of `args`.
    fn accepts(&self, index: usize, arg: &str) -> bool {
        match self {
            Self::Flag => arg.eq_ignore_ascii_case("on") || arg.eq_ignore_ascii_case("off"),
            Self::Time { ms } => parse_time(arg, !ms).is_some(),
            Self::Size => parse_size(arg, false).is_some(),
            Self::Offset => parse_size(arg, true).is_some(),
            Self::Number { min, max } => parse_number(arg)
                .is_some_and(|n| min.is_none_or(|lo| n >= lo) && max.is_none_or(|hi| n <= hi)),
            Self::Enum(words) | Self::Bitmask(words) => {
                words.iter().any(|w| w.eq_ignore_ascii_case(arg))
            }
            Self::Bufs if index == 0 => parse_number(arg).is_some(),
            Self::Bufs => parse_size(arg, false).is_some(),
            Self::Text | Self::Custom => true,
        }
    }
}

/// What the table says of a directive that nginx accepts where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The nginx module the directive belongs to (`ngx_http_gzip_filter_module`).
    pub(crate) module: &'static str,
    /// The value it takes.
    pub(crate) kind: Kind,
    /// Whether it may appear more than once in one block.
    pub(crate) repeat: Repeat,
    /// nginx's warning about the directive, from the table's note: `deprecated, use X` (nginx
    /// warns; X is the replacement) or `obsolete, ignored` (nginx warns and does nothing).
    pub(crate) warning: Option<&'static str>,
}

/// Why nginx would refuse a directive: what is wrong, with the directive's name and the spec's
/// nginx version for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The directive as the spec writes it.
    pub(crate) directive: String,
    /// The spec's nginx version.
    pub(crate) version: String,
    /// What is wrong.
    pub(crate) what: What,
}

/// The ways nginx refuses a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum What {
    /// No release of nginx has a directive of that name.
    Unknown { nearest: Option<String> },
    /// Other releases have it: `since` when it arrived after this version, `until` the release
    /// that removed it when that was this version or earlier, and `instead` what nginx's last
    /// releases with it said to use instead.
    NotInVersion {
        since: Option<&'static str>,
        until: Option<&'static str>,
        instead: Option<&'static str>,
    },
    /// The directive exists but not in this block; `allowed` are the contexts where it does.
    WrongLevel {
        level: Level,
        allowed: Vec<&'static str>,
    },
    /// A block directive (location, if, server, upstream, map, ...) cannot be one line.
    Block,
    /// Not a number of arguments nginx accepts: `expected` reads "1", "1 or 2", "at least 1".
    ArgCount { given: usize, expected: String },
    /// Argument `index` (0-based) is not a value nginx's parser accepts.
    Value {
        index: usize,
        given: String,
        expected: String,
    },
    /// The directive, or the variable `variable` it reads, comes from a module the build lacks.
    Module {
        module: &'static str,
        why: String,
        variable: Option<String>,
    },
    /// `$name` (or a `$` without a name, `name` empty) is no variable of this nginx.
    Variable {
        name: String,
        nearest: Option<String>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.directive;
        let v = &self.version;
        match &self.what {
            What::Unknown { nearest: Some(n) } => {
                write!(f, "nginx has no directive `{d}`; did you mean `{n}`?")
            }
            What::Unknown { nearest: None } => write!(
                f,
                "nginx has no directive `{d}`: write one that nginx's documentation lists"
            ),
            What::NotInVersion {
                since: Some(since), ..
            } => write!(
                f,
                "`{d}` arrived in nginx {since} and nginx.version is {v}: leave it out, or raise nginx.version to {since} or later"
            ),
            What::NotInVersion { until, instead, .. } => {
                let until = until.unwrap_or("?");
                match instead {
                    Some(instead) => write!(
                        f,
                        "`{d}` was removed in nginx {until} and nginx.version is {v}: use `{instead}` instead"
                    ),
                    None => write!(
                        f,
                        "`{d}` was removed in nginx {until} and nginx.version is {v}: leave it out (nginx {v} refuses it)"
                    ),
                }
            }
            What::WrongLevel { level, allowed } => {
                let places: Vec<&str> = allowed.iter().map(|c| context_phrase(c)).collect();
                write!(
                    f,
                    "`{d}` is not allowed in {level}; nginx takes it in {}",
                    join_or(&places)
                )
            }
            What::Block => write!(
                f,
                "`{d}` opens a block and cannot be written as one directive line; use the spec's own setting for it"
            ),
            What::ArgCount { given, expected } => write!(
                f,
                "`{d}` takes {expected} argument{}, not {given}",
                if expected == "1" { "" } else { "s" }
            ),
            What::Value {
                index,
                given,
                expected,
            } => write!(
                f,
                "`{d}`: argument {} is `{given}`, and nginx takes {expected}",
                index + 1
            ),
            What::Module {
                module,
                why,
                variable: None,
            } => write!(f, "`{d}` needs {module}, which {why}"),
            What::Module {
                module,
                why,
                variable: Some(name),
            } => write!(
                f,
                "`{d}`: `${name}` comes from {module}, which {why}; leave the variable out"
            ),
            What::Variable { name, .. } if name.is_empty() => write!(
                f,
                "`{d}`: a `$` must start a variable name (`$name` or `${{name}}`); nginx has no way to write a literal `$`"
            ),
            What::Variable {
                name,
                nearest: Some(n),
            } => write!(
                f,
                "`{d}`: nginx {v} has no variable `${name}`; did you mean `${n}`?"
            ),
            What::Variable {
                name,
                nearest: None,
            } => write!(
                f,
                "`{d}`: nginx {v} has no variable `${name}`; name one of nginx's variables or one the spec defines"
            ),
        }
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

type Release = (u32, u32, u32);

fn release(text: &str) -> Option<Release> {
    let mut parts = text.split('.').map(|p| p.parse().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// A row's span: from `since` up to, not including, `until`.
#[derive(Debug)]
struct Span {
    since: Release,
    until: Option<Release>,
    since_text: &'static str,
    until_text: &'static str,
}

impl Span {
    fn new(since: &'static str, until: &'static str) -> Self {
        Self {
            since: release(since).expect("a release in data/nginx"),
            until: release(until),
            since_text: since,
            until_text: until,
        }
    }

    fn holds(&self, at: Release) -> bool {
        self.since <= at && self.until.is_none_or(|u| at < u)
    }
}

#[derive(Debug)]
struct Row {
    module: &'static str,
    switch: &'static str,
    contexts: Vec<&'static str>,
    args: &'static str,
    block: bool,
    kind: &'static str,
    repeat: Repeat,
    note: Option<&'static str>,
    span: Span,
}

#[derive(Debug)]
struct Variable {
    stream: bool,
    name: &'static str,
    prefix: bool,
    module: &'static str,
    switch: &'static str,
    span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Static,
    Dynamic(&'static str, &'static str),
    Absent,
}

struct Tables {
    directives: HashMap<&'static str, Vec<Row>>,
    variables: Vec<Variable>,
    /// (build, module) → status.
    builds: HashMap<(&'static str, &'static str), Status>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let rows = |text: &'static str| {
            text.lines()
                .skip(1)
                .map(|line| line.split('\t').collect::<Vec<_>>())
        };
        let mut directives: HashMap<&'static str, Vec<Row>> = HashMap::new();
        for f in rows(DIRECTIVES) {
            directives.entry(f[0]).or_default().push(Row {
                module: f[1],
                switch: f[2],
                contexts: f[3].split(',').filter(|c| !c.is_empty()).collect(),
                args: f[4],
                block: f[5] == "yes",
                kind: f[6],
                repeat: match f[7] {
                    "yes" => Repeat::Yes,
                    "no" => Repeat::No,
                    _ => Repeat::Unknown,
                },
                note: Some(f[9]).filter(|n| !n.is_empty()),
                span: Span::new(f[10], f[11]),
            });
        }
        let variables = rows(VARIABLES)
            .map(|f| Variable {
                stream: f[0] == "stream",
                name: f[1],
                prefix: f[2] == "yes",
                module: f[3],
                switch: f[4],
                span: Span::new(f[6], f[7]),
            })
            .collect();
        let builds = rows(BUILDS)
            .map(|f| {
                let status = match f[4] {
                    "static" => Status::Static,
                    "dynamic" => Status::Dynamic(f[5], f[6]),
                    _ => Status::Absent,
                };
                ((f[0], f[2]), status)
            })
            .collect();
        Tables {
            directives,
            variables,
            builds,
        }
    })
}

/// The Debian build whose modules a version is judged by.
fn build_for(at: Release) -> &'static str {
    if at >= (1, 26, 0) {
        "debian13"
    } else {
        "debian12"
    }
}

/// Why `module` (built by `switch`) is unusable in `build`, or None when nginx has it.
fn missing(build: &'static str, module: &str, switch: &str) -> Option<String> {
    let debian = if build == "debian13" {
        "Debian 13's nginx 1.26.3"
    } else {
        "Debian 12's nginx 1.22.1"
    };
    let status = tables().builds.get(&(build, module)).copied();
    let status = status.unwrap_or(match switch {
        "other-os" => Status::Absent,
        _ => Status::Static,
    });
    match status {
        Status::Static => None,
        Status::Dynamic("ngx_stream_module.so", _) => None,
        Status::Dynamic(file, package) => Some(format!(
            "{debian} builds as a separate dynamic module ({file}, Debian package {package}) that sitewright does not load"
        )),
        Status::Absent if switch == "other-os" => Some(format!(
            "is built only on other systems than Linux, not in {debian}"
        )),
        Status::Absent => Some(format!(
            "is not in {debian} (nginx's configure builds it with {switch})"
        )),
    }
}

/// The argument counts of a row (`1,2`, `1+`, `0,2+`) in words, and whether `n` is one of them.
fn arg_count(spec: &str, n: usize) -> (bool, String) {
    let mut fixed = Vec::new();
    let mut more = None;
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        match part.strip_suffix('+') {
            Some(m) => more = m.parse::<usize>().ok(),
            None => fixed.extend(part.parse::<usize>().ok()),
        }
    }
    let ok = fixed.contains(&n) || more.is_some_and(|m| n >= m);
    let mut words: Vec<String> = fixed.iter().map(usize::to_string).collect();
    if let Some(m) = more {
        words.push(if m == 0 {
            "any number of".to_owned()
        } else {
            format!("at least {m}")
        });
    }
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    (ok, join_or(&refs))
}

/// Directives whose first argument names the variable they define rather than reading one.
const DEFINES_VARIABLE: &[&str] = &["set", "auth_request_set", "perl_set", "js_set"];

/// Checks a user-written directive line `name args...;` in `level` for the spec's nginx
/// `version`. `defined` are the variables the spec itself defines (with `set`, `map`, `geo`,
/// named regex captures, ...), which nginx's table cannot know. Returns the first problem, in the order nginx finds
/// them: the name (and its release), the place, the module, a block, the argument count, the
/// values of the standard kinds, then the variables.
///
/// Every `$` in an argument must start a variable of this nginx (http ones at Http, Server and
/// Location, stream ones at Stream and StreamServer; names compared without case, as nginx
/// does; a prefix variable such as `http_` matches `$http_x_foo`), a regex capture `$1`..`$9`,
/// or one of `defined` -- also where nginx would take the `$` literally, since nginx has no
/// escape for it and a stray `$` is more likely a mistake. Not read as variables: regexes (an
/// argument starting with `~`, `rewrite`'s first) and the variable that `set`,
/// `auth_request_set`, `perl_set` and `js_set` define.
pub(crate) fn check(
    version: &Version,
    level: Level,
    name: &str,
    args: &[&str],
    defined: &[&str],
) -> Result<Found, Problem> {
    let at = release(version.as_str()).unwrap_or((0, 0, 0));
    let problem = |what| Problem {
        directive: name.to_owned(),
        version: version.to_string(),
        what,
    };
    let tables = tables();
    let Some(rows) = tables.directives.get(name) else {
        let names: Vec<String> = tables
            .directives
            .iter()
            .filter(|(_, rows)| rows.iter().any(|r| r.span.holds(at)))
            .map(|(n, _)| (*n).to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(problem(What::Unknown {
            nearest: nearest(name, &names).map(str::to_owned),
        }));
    };
    let now: Vec<&Row> = rows.iter().filter(|r| r.span.holds(at)).collect();
    if now.is_empty() {
        let later = rows
            .iter()
            .filter(|r| r.span.since > at)
            .min_by_key(|r| r.span.since);
        let what = match later {
            Some(r) => What::NotInVersion {
                since: Some(r.span.since_text),
                until: None,
                instead: None,
            },
            None => {
                let last = rows.iter().max_by_key(|r| r.span.until);
                What::NotInVersion {
                    since: None,
                    until: last.map(|r| r.span.until_text),
                    instead: last
                        .and_then(|r| r.note)
                        .and_then(|n| n.strip_prefix("deprecated, use ")),
                }
            }
        };
        return Err(problem(what));
    }
    let build = build_for(at);
    let usable = |r: &&Row| missing(build, r.module, r.switch).is_none();
    let here: Vec<&Row> = now
        .iter()
        .copied()
        .filter(|r| level.allows(&r.contexts))
        .collect();
    if here.is_empty() {
        // Where the build's own modules take it; where any module does when none of them has it.
        let mut pool: Vec<&Row> = now.iter().copied().filter(usable).collect();
        if pool.is_empty() {
            pool = now;
        }
        let mut allowed: Vec<&'static str> = Vec::new();
        for c in pool.iter().flat_map(|r| r.contexts.iter()) {
            if !allowed.contains(c) {
                allowed.push(c);
            }
        }
        return Err(problem(What::WrongLevel { level, allowed }));
    }
    let Some(row) = here.iter().copied().find(usable) else {
        let row = here[0];
        return Err(problem(What::Module {
            module: row.module,
            why: missing(build, row.module, row.switch).unwrap_or_default(),
            variable: None,
        }));
    };
    if row.block {
        return Err(problem(What::Block));
    }
    let (count_ok, expected) = arg_count(row.args, args.len());
    if !count_ok {
        return Err(problem(What::ArgCount {
            given: args.len(),
            expected,
        }));
    }
    let kind = Kind::parse(row.kind);
    for (index, arg) in args.iter().enumerate() {
        if !kind.accepts(index, arg) {
            return Err(problem(What::Value {
                index,
                given: (*arg).to_owned(),
                expected: kind.expected(),
            }));
        }
    }
    for (index, arg) in args.iter().enumerate() {
        let regex = arg.starts_with('~') || (name == "rewrite" && index == 0);
        let definition = index == 0 && DEFINES_VARIABLE.contains(&name);
        if regex || definition {
            continue;
        }
        for var in variables_in(arg) {
            check_variable(var, level, at, build, defined).map_err(&problem)?;
        }
    }
    Ok(Found {
        module: row.module,
        kind,
        repeat: row.repeat,
        warning: row.note,
    })
}

/// The variable names an argument reads, in order: `$name` and `${name}` give `name`, a `$`
/// that starts no name gives "". Captures (`$1`..`$9`) are left out.
fn variables_in(arg: &str) -> Vec<&str> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if rest.starts_with(|c: char| ('1'..='9').contains(&c)) {
            // A regex capture, one digit: `$12` is capture 1 and a literal 2.
            rest = &rest[1..];
            continue;
        }
        let (name, after) = if let Some(inner) = rest.strip_prefix('{') {
            match inner.find('}') {
                Some(end) if inner[..end].chars().all(is_name) => {
                    (&inner[..end], &inner[end + 1..])
                }
                _ => ("", inner),
            }
        } else {
            let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        out.push(name);
        rest = after;
    }
    out
}

fn check_variable(
    name: &str,
    level: Level,
    at: Release,
    build: &'static str,
    defined: &[&str],
) -> Result<(), What> {
    if name.is_empty() {
        return Err(What::Variable {
            name: String::new(),
            nearest: None,
        });
    }
    let lower = name.to_ascii_lowercase();
    if defined.iter().any(|d| d.eq_ignore_ascii_case(name)) {
        return Ok(());
    }
    let vars: Vec<&Variable> = tables()
        .variables
        .iter()
        .filter(|v| v.stream == level.is_stream() && v.span.holds(at))
        .collect();
    let matching: Vec<&&Variable> = vars
        .iter()
        .filter(|v| {
            if v.prefix {
                // As nginx: the prefix itself (`$http_`) is a name of it too.
                lower.starts_with(v.name)
            } else {
                lower == v.name
            }
        })
        .collect();
    if matching
        .iter()
        .any(|v| missing(build, v.module, v.switch).is_none())
    {
        return Ok(());
    }
    if let Some(v) = matching.first() {
        return Err(What::Module {
            module: v.module,
            why: missing(build, v.module, v.switch).unwrap_or_default(),
            variable: Some(name.to_owned()),
        });
    }
    let mut names: Vec<String> = vars
        .iter()
        .filter(|v| !v.prefix)
        .map(|v| v.name.to_owned())
        .chain(defined.iter().map(|d| (*d).to_owned()))
        .collect();
    names.sort();
    names.dedup();
    Err(What::Variable {
        name: name.to_owned(),
        nearest: nearest(&lower, &names).map(str::to_owned),
    })
}

/// ngx_parse_time: groups of digits and a unit in falling order (y M w d h m s ms; `y` and `M`
/// only in seconds, `ms` only in milliseconds), a bare number at the end counting as seconds.
/// Returns the value in the slot's unit.
fn parse_time(text: &str, is_sec: bool) -> Option<i64> {
    // Steps in nginx's order: start, year, month, week, day, hour, min, sec, msec, last.
    let mut step = if is_sec { 0 } else { 2 };
    let (mut value, mut total, mut valid): (i64, i64, bool) = (0, 0, false);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        i += 1;
        if c.is_ascii_digit() {
            value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
            valid = true;
            continue;
        }
        let (next, mut scale): (u8, i64) = match c {
            b'y' if step == 0 => (1, 60 * 60 * 24 * 365),
            b'M' if step < 2 => (2, 60 * 60 * 24 * 30),
            b'w' if step < 3 => (3, 60 * 60 * 24 * 7),
            b'd' if step < 4 => (4, 60 * 60 * 24),
            b'h' if step < 5 => (5, 60 * 60),
            b'm' if bytes.get(i) == Some(&b's') => {
                if is_sec || step >= 8 {
                    return None;
                }
                i += 1;
                (8, 1)
            }
            b'm' if step < 6 => (6, 60),
            b's' if step < 7 => (7, 1),
            b' ' if step < 7 => (9, 1),
            _ => return None,
        };
        step = next;
        if step != 8 && !is_sec {
            scale *= 1000;
        }
        total = total.checked_add(value.checked_mul(scale)?)?;
        value = 0;
        while bytes.get(i) == Some(&b' ') {
            i += 1;
        }
    }
    if !valid {
        return None;
    }
    let last = if is_sec {
        value
    } else {
        value.checked_mul(1000)?
    };
    total.checked_add(last)
}

/// ngx_parse_size / ngx_parse_offset: digits and an optional k/K/m/M (and g/G for an offset).
fn parse_size(text: &str, offset: bool) -> Option<i64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1024),
        b'm' | b'M' => (&text[..text.len() - 1], 1024 * 1024),
        b'g' | b'G' if offset => (&text[..text.len() - 1], 1024 * 1024 * 1024),
        _ => (text, 1),
    };
    parse_number(digits)?.checked_mul(scale)
}

/// ngx_atoi: one or more digits, nothing else.
fn parse_number(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::new(text).unwrap()
    }

    fn at(version: &str, level: Level, name: &str, args: &[&str]) -> Result<Found, What> {
        check(&v(version), level, name, args, &[]).map_err(|p| p.what)
    }

    #[test]
    fn known_directives_pass_with_what_callers_need() {
        let found = at("1.22.1", Level::Http, "gzip", &["on"]).unwrap();
        assert_eq!(found.module, "ngx_http_gzip_filter_module");
        assert_eq!(found.kind, Kind::Flag);
        assert_eq!(found.repeat, Repeat::No);
        let found = at("1.22.1", Level::Location, "client_max_body_size", &["100m"]).unwrap();
        assert_eq!(found.kind, Kind::Offset);
        let found = at("1.26", Level::Server, "add_header", &["X-A", "b", "always"]).unwrap();
        assert_eq!(found.repeat, Repeat::Yes);
        assert!(at("1.22", Level::Location, "proxy_buffers", &["8", "4k"]).is_ok());
        assert!(at("1.22", Level::Http, "gzip_comp_level", &["9"]).is_ok());
        assert!(at("1.22", Level::StreamServer, "proxy_timeout", &["10m"]).is_ok());
        assert!(
            at(
                "1.22",
                Level::Http,
                "ssl_protocols",
                &["TLSv1.2", "TLSv1.3"]
            )
            .is_ok()
        );
        assert!(at("1.22", Level::Location, "proxy_read_timeout", &["1h30m"]).is_ok());
        assert!(at("1.22", Level::Location, "proxy_connect_timeout", &["500ms"]).is_ok());
        // The stream module is dynamic in Debian, and sitewright loads it.
        assert!(at("1.22", Level::StreamServer, "ssl_preread", &["on"]).is_ok());
        let found = at("1.22", Level::Server, "ssl", &["on"]).unwrap();
        assert_eq!(found.warning, Some("deprecated, use listen ... ssl"));
        let found = at("1.26", Level::Server, "http2_push_preload", &["on"]).unwrap();
        assert_eq!(found.warning, Some("obsolete, ignored"));
        assert_eq!(
            at("1.22", Level::Server, "http2_push_preload", &["on"])
                .unwrap()
                .warning,
            None
        );
    }

    #[test]
    fn unknown_names_get_the_nearest() {
        assert_eq!(
            at("1.22.1", Level::Location, "client_max_body_sise", &["1m"]),
            Err(What::Unknown {
                nearest: Some("client_max_body_size".to_owned())
            })
        );
        assert_eq!(
            at("1.22.1", Level::Http, "frobnicate_everything", &[]),
            Err(What::Unknown { nearest: None })
        );
    }

    #[test]
    fn a_directive_in_the_wrong_block() {
        let err = at("1.22.1", Level::Server, "worker_processes", &["2"]).unwrap_err();
        assert_eq!(
            err,
            What::WrongLevel {
                level: Level::Server,
                allowed: vec!["main"]
            }
        );
        // proxy_pass is in http locations and stream servers, not http servers.
        let err = at("1.22.1", Level::Server, "proxy_pass", &["http://a"]).unwrap_err();
        let What::WrongLevel { allowed, .. } = err else {
            panic!("{err:?}")
        };
        assert!(allowed.contains(&"location") && allowed.contains(&"stream_server"));
        assert!(
            at(
                "1.22.1",
                Level::StreamServer,
                "proxy_pass",
                &["127.0.0.1:5432"]
            )
            .is_ok()
        );
        assert!(matches!(
            at("1.22.1", Level::Stream, "proxy_pass", &["127.0.0.1:5432"]),
            Err(What::WrongLevel {
                level: Level::Stream,
                ..
            })
        ));
        assert!(at("1.22.1", Level::Stream, "proxy_connect_timeout", &["5s"]).is_ok());
        // include is allowed everywhere.
        assert!(at("1.22.1", Level::Location, "include", &["/etc/nginx/x.conf"]).is_ok());
    }

    #[test]
    fn values_nginx_would_refuse() {
        assert_eq!(
            at("1.22.1", Level::Http, "gzip", &["maybe"]),
            Err(What::Value {
                index: 0,
                given: "maybe".to_owned(),
                expected: "on or off".to_owned()
            })
        );
        assert!(at("1.22.1", Level::Http, "gzip", &["ON"]).is_ok());
        for bad in ["10 s", "1s1h", "1.5s", "", "ms", "1y"] {
            assert!(
                at("1.22", Level::Location, "proxy_read_timeout", &[bad]).is_err(),
                "{bad}"
            );
        }
        assert!(matches!(
            at("1.22", Level::Location, "client_max_body_size", &["1.5m"]),
            Err(What::Value { .. })
        ));
        assert!(at("1.22", Level::Location, "client_max_body_size", &["2g"]).is_ok());
        assert!(at("1.22", Level::Location, "client_body_buffer_size", &["2g"]).is_err());
        assert!(matches!(
            at("1.22", Level::Http, "gzip_comp_level", &["10"]),
            Err(What::Value { expected, .. }) if expected == "a whole number from 1 to 9"
        ));
        assert!(matches!(
            at("1.22", Level::Http, "ssl_protocols", &["TLSv1.2", "TLSv9"]),
            Err(What::Value { index: 1, .. })
        ));
        assert!(at("1.22", Level::Location, "proxy_buffers", &["8", "4q"]).is_err());
    }

    #[test]
    fn argument_counts() {
        assert_eq!(
            at("1.22", Level::Http, "gzip", &[]),
            Err(What::ArgCount {
                given: 0,
                expected: "1".to_owned()
            })
        );
        assert_eq!(
            at("1.22", Level::Location, "add_header", &["X-A"]),
            Err(What::ArgCount {
                given: 1,
                expected: "2 or 3".to_owned()
            })
        );
        assert!(matches!(
            at("1.22", Level::Http, "gzip_types", &[]),
            Err(What::ArgCount { expected, .. }) if expected == "at least 1"
        ));
    }

    #[test]
    fn directives_by_version() {
        assert_eq!(
            at("1.22.1", Level::Server, "http2", &["on"]),
            Err(What::NotInVersion {
                since: Some("1.25.1"),
                until: None,
                instead: None
            })
        );
        assert!(at("1.26.3", Level::Server, "http2", &["on"]).is_ok());
        assert_eq!(
            at("1.26", Level::Server, "ssl", &["on"]),
            Err(What::NotInVersion {
                since: None,
                until: Some("1.25.1"),
                instead: Some("listen ... ssl")
            })
        );
        // Newer than the newest release in the table: the newest rows.
        assert!(at("9.0", Level::Server, "http2", &["on"]).is_ok());
    }

    #[test]
    fn blocks_are_not_lines() {
        for name in [
            "location",
            "if",
            "upstream",
            "map",
            "server",
            "limit_except",
        ] {
            let level = if name == "upstream" || name == "map" || name == "server" {
                Level::Http
            } else {
                Level::Location
            };
            let args: &[&str] = match name {
                "location" => &["/"],
                "map" => &["$uri", "$x"],
                "upstream" => &["app"],
                "if" => &["($x)"],
                "limit_except" => &["GET"],
                _ => &[],
            };
            assert_eq!(at("1.22", level, name, args), Err(What::Block), "{name}");
        }
    }

    #[test]
    fn modules_debian_does_not_build_in() {
        let err = at("1.22.1", Level::Http, "perl_modules", &["/x"]).unwrap_err();
        let What::Module { module, why, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*module, "ngx_http_perl_module");
        assert!(why.contains("libnginx-mod-http-perl"), "{why}");
        assert!(matches!(
            at("1.26.3", Level::Location, "image_filter", &["test"]),
            Err(What::Module { module, .. }) if module == "ngx_http_image_filter_module"
        ));
        // Not in any Debian build.
        assert!(matches!(
            at("1.22.1", Level::Http, "degradation", &["sbrk=500m"]),
            Err(What::Module { .. })
        ));
    }

    #[test]
    fn variables() {
        assert_eq!(
            at(
                "1.22.1",
                Level::Location,
                "return",
                &["301", "https://$host$request_urii"]
            ),
            Err(What::Variable {
                name: "request_urii".to_owned(),
                nearest: Some("request_uri".to_owned())
            })
        );
        assert!(
            at(
                "1.22.1",
                Level::Location,
                "proxy_set_header",
                &["X-Foo", "$http_x_foo"]
            )
            .is_ok()
        );
        assert!(
            at(
                "1.22",
                Level::Location,
                "add_header",
                &["X-A", "${scheme}x"]
            )
            .is_ok()
        );
        assert!(
            at(
                "1.22",
                Level::Location,
                "add_header",
                &["X-A", "$Request_URI"]
            )
            .is_ok()
        );
        assert!(
            at(
                "1.22",
                Level::Location,
                "add_header",
                &["X-A", "cost $5 and $12"]
            )
            .is_ok()
        );
        assert!(matches!(
            at("1.22", Level::Location, "add_header", &["X-A", "a$"]),
            Err(What::Variable { name, .. }) if name.is_empty()
        ));
        assert!(matches!(
            at("1.22", Level::Location, "add_header", &["X-A", "${host"]),
            Err(What::Variable { name, .. }) if name.is_empty()
        ));
        // Stream variables at stream levels, http ones not.
        assert!(
            at(
                "1.22",
                Level::StreamServer,
                "proxy_pass",
                &["$upstream_addr"]
            )
            .is_ok()
        );
        assert!(matches!(
            at("1.22", Level::StreamServer, "proxy_pass", &["$request_uri"]),
            Err(What::Variable { .. })
        ));
        // A regex and a variable being defined are not read as variables.
        assert!(
            at(
                "1.22",
                Level::Location,
                "rewrite",
                &["^/(.*)$", "/x/$1", "last"]
            )
            .is_ok()
        );
        assert!(at("1.22", Level::Location, "set", &["$mine", "$uri"]).is_ok());
        // The spec's own variables.
        assert!(
            check(
                &v("1.22"),
                Level::Location,
                "return",
                &["200", "$mine"],
                &["mine"]
            )
            .is_ok()
        );
        // A variable of a module Debian does not load.
        assert!(matches!(
            at(
                "1.22",
                Level::Location,
                "return",
                &["200", "$geoip_country_code"]
            ),
            Err(What::Module { .. })
        ));
        // http3 variable: 1.25.0 on.
        assert!(matches!(
            at("1.22", Level::Location, "return", &["200", "$http3"]),
            Err(What::Variable { .. })
        ));
        assert!(at("1.26", Level::Location, "return", &["200", "$http3"]).is_ok());
    }

    #[test]
    fn messages_say_what_is_wrong_and_what_is_right() {
        let text = |version, level, name, args: &[&str]| {
            check(&v(version), level, name, args, &[])
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            text("1.22.1", Level::Http, "gzip", &["maybe"]),
            "`gzip`: argument 1 is `maybe`, and nginx takes on or off"
        );
        assert_eq!(
            text("1.22.1", Level::Server, "http2", &["on"]),
            "`http2` arrived in nginx 1.25.1 and nginx.version is 1.22.1: leave it out, or raise nginx.version to 1.25.1 or later"
        );
        assert_eq!(
            text("1.22.1", Level::Server, "worker_processes", &["2"]),
            "`worker_processes` is not allowed in an http server; nginx takes it in the main level (outside http and stream)"
        );
        assert_eq!(
            text(
                "1.22.1",
                Level::Location,
                "return",
                &["200", "$request_urii"]
            ),
            "`return`: nginx 1.22.1 has no variable `$request_urii`; did you mean `$request_uri`?"
        );
        assert_eq!(
            text("1.22.1", Level::Http, "perl_modules", &["/x"]),
            "`perl_modules` needs ngx_http_perl_module, which Debian 12's nginx 1.22.1 builds as a separate dynamic module (ngx_http_perl_module.so, Debian package libnginx-mod-http-perl) that sitewright does not load"
        );
        assert_eq!(
            text("1.26", Level::Http, "degradation", &["sbrk=500m"]),
            "`degradation` needs ngx_http_degradation_module, which is not in Debian 13's nginx 1.26.3 (nginx's configure builds it with --with-http_degradation_module)"
        );
        assert_eq!(
            text(
                "1.22",
                Level::Location,
                "return",
                &["200", "$geoip_country_code"]
            ),
            "`return`: `$geoip_country_code` comes from ngx_http_geoip_module, which Debian 12's nginx 1.22.1 builds as a separate dynamic module (ngx_http_geoip_module.so, Debian package libnginx-mod-http-geoip) that sitewright does not load; leave the variable out"
        );
        assert_eq!(
            text("1.22", Level::Location, "add_header", &["X-A"]),
            "`add_header` takes 2 or 3 arguments, not 1"
        );
        assert_eq!(
            text("1.22", Level::Http, "gzip", &[]),
            "`gzip` takes 1 argument, not 0"
        );
        assert_eq!(
            text("1.22", Level::Location, "client_max_body_sise", &["1m"]),
            "nginx has no directive `client_max_body_sise`; did you mean `client_max_body_size`?"
        );
        assert_eq!(
            text("1.26", Level::Server, "ssl", &["on"]),
            "`ssl` was removed in nginx 1.25.1 and nginx.version is 1.26: use `listen ... ssl` instead"
        );
        assert!(
            text("1.22", Level::Server, "location", &["/"]).starts_with("`location` opens a block")
        );
        // A mail directive in http: where nginx takes it, not which module.
        assert_eq!(
            text("1.22", Level::Http, "smtp_auth", &["login"]),
            "`smtp_auth` is not allowed in http; nginx takes it in mail or a mail server"
        );
    }

    #[test]
    fn time_and_size_parsers_follow_nginx() {
        assert_eq!(parse_time("30s", false), Some(30_000));
        assert_eq!(parse_time("1h30m", false), Some(5_400_000));
        assert_eq!(parse_time("500ms", false), Some(500));
        assert_eq!(parse_time("10", false), Some(10_000));
        assert_eq!(parse_time("1d 2h", true), Some(93_600));
        assert_eq!(parse_time("1y", true), Some(31_536_000));
        assert_eq!(parse_time("500ms", true), None);
        assert_eq!(parse_time("1m1h", true), None);
        assert_eq!(parse_size("8k", false), Some(8192));
        assert_eq!(parse_size("1g", false), None);
        assert_eq!(parse_size("1G", true), Some(1 << 30));
        assert_eq!(parse_size("-1", false), None);
    }

    #[test]
    fn every_row_reads() {
        let t = tables();
        assert!(t.directives.len() > 500);
        for rows in t.directives.values() {
            for row in rows {
                assert!(!row.contexts.is_empty());
                let _ = Kind::parse(row.kind);
                let (_, words) = arg_count(row.args, 0);
                assert!(!words.is_empty() || row.args.is_empty() || row.block);
            }
        }
        assert!(t.variables.iter().any(|v| v.prefix && v.name == "http_"));
        assert!(t.builds.len() > 100);
    }
}
