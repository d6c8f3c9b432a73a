//! data/nginx, the tables src/nginx_directives.rs judges user-written directives by, against the
//! two real builds (Debian 12's nginx 1.22.1, Debian 13's 1.26.3), each `nginx -t` on a throwaway
//! nginx.conf under a temporary prefix listening on 127.0.0.1:
//! - every directive the table says the build has at http, server or location level with a
//!   standard value kind is written at each of those levels it allows, with a value made from its
//!   kind, and nginx must accept it (not call it unknown, misplaced or miscounted, nor refuse it
//!   for another reason);
//! - every name the table says one version lacks and the other has, and every directive of a
//!   module builds.tsv says the build lacks or loads separately, nginx must call unknown;
//! - every variable the table gives a version nginx knows (http and stream), and those it gives
//!   only the other version nginx does not;
//! - the repeat column: two lines of a repeatable directive pass, of a single one "is duplicate";
//! - a value of the wrong shape for a row's kind is refused.
//!
//! nginx stops at its first error, so each sample is run again without the line nginx stopped at
//! until it passes, and every line it stopped at is reported. A wrong row fails a test with the
//! directive's name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use crate::support::nginx::{Build, Layout};
use crate::support::pg::free_port;
use crate::support::{repo, temp_dir};

/// Directives the table rightly lists that `nginx -t` refuses in a bare configuration for a
/// reason other than the table's (a value made from the kind is valid syntax but not enough),
/// as (name, why). Each is left out of the sample; keep it short and say why. Empty: both builds
/// accept every sampled line (directives that need a zone or a path take custom or text values,
/// which the sample does not write).
const SKIP: &[(&str, &str)] = &[];

/// The three messages that would mean the table is wrong about a directive it says exists.
const TABLE_WRONG: &[&str] = &[
    "unknown directive",
    "is not allowed here",
    "invalid number of arguments",
];

/// The levels of the sample, outermost first, with the table's context name.
const LEVELS: &[&str] = &["http", "server", "location"];

/// One row of directives.tsv (the columns the test needs).
struct Row {
    name: String,
    module: String,
    switch: String,
    contexts: Vec<String>,
    args: String,
    block: bool,
    kind: String,
    repeat: String,
    since: (u32, u32, u32),
    until: Option<(u32, u32, u32)>,
}

fn release(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split('.').map(|p| p.parse().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

fn table() -> Vec<Row> {
    let text = fs::read_to_string(repo().join("data/nginx/directives.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Row {
                name: f[0].to_owned(),
                module: f[1].to_owned(),
                switch: f[2].to_owned(),
                contexts: f[3].split(',').map(str::to_owned).collect(),
                args: f[4].to_owned(),
                block: f[5] == "yes",
                kind: f[6].to_owned(),
                repeat: f[7].to_owned(),
                since: release(f[10]).unwrap(),
                until: release(f[11]),
            }
        })
        .collect()
}

/// The modules builds.tsv says `build` has compiled in.
fn static_modules(build: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let text = fs::read_to_string(repo().join("data/nginx/builds.tsv")).unwrap();
    let (mut built, mut listed) = (BTreeSet::new(), BTreeSet::new());
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == build {
            listed.insert(f[2].to_owned());
            if f[4] == "static" {
                built.insert(f[2].to_owned());
            }
        }
    }
    (built, listed)
}

/// The rows that hold for `version` and whose module the build has compiled in.
fn rows_for<'a>(rows: &'a [Row], version: (u32, u32, u32), build: &str) -> Vec<&'a Row> {
    let (built, listed) = static_modules(build);
    rows.iter()
        .filter(|r| r.since <= version && r.until.is_none_or(|u| version < u))
        .filter(|r| {
            built.contains(&r.module)
                || (!listed.contains(&r.module)
                    && (r.switch == "core" || r.switch == "--with-threads"))
        })
        .collect()
}

/// A valid argument list for a row of a standard kind, or None for text and custom ones.
fn value_for(row: &Row) -> Option<Vec<String>> {
    let (kind, detail) = row.kind.split_once(':').unwrap_or((&row.kind, ""));
    let one = |v: &str| Some(vec![v.to_owned()]);
    match kind {
        "flag" => one("on"),
        "time" => one("10s"),
        "size" | "offset" => one("1k"),
        // 1, or the lower bound when nginx sets one (gzip_comp_level 1..9, limit_req_status
        // 400..599).
        "number" => {
            let (lo, _) = detail.split_once("..").unwrap_or(("", ""));
            one(lo
                .parse::<i64>()
                .map_or("1".to_owned(), |lo| lo.max(1).to_string())
                .as_str())
        }
        "enum" | "bitmask" => one(detail.split('|').next().unwrap()),
        "bufs" => Some(vec!["8".to_owned(), "1k".to_owned()]),
        _ => None,
    }
}

/// One directive line written into the sample.
struct Line {
    name: String,
    level: &'static str,
}

/// An nginx.conf sample under `dir` for `build`: `http` lines at http level, `server` lines in
/// a server on 127.0.0.1, `location` lines in its `location /`. Returns the layout and, for
/// each line number of the included file, the directive written there.
fn write_sample(
    dir: &Path,
    build: &Build,
    lines: &[(String, &'static str, Vec<String>)],
) -> (Layout, BTreeMap<usize, Line>) {
    let mut out: Vec<String> = Vec::new();
    let mut at = BTreeMap::new();
    for (level, indent) in [("http", ""), ("server", "    "), ("location", "        ")] {
        match level {
            "server" => {
                out.push("server {".to_owned());
                out.push(format!("    listen 127.0.0.1:{};", free_port()));
            }
            "location" => out.push("    location / {".to_owned()),
            _ => {}
        }
        for (name, l, args) in lines.iter().filter(|l| l.1 == level) {
            out.push(format!("{indent}{name} {};", args.join(" ")));
            // Line numbers count from 1.
            at.insert(
                out.len(),
                Line {
                    name: name.clone(),
                    level: l,
                },
            );
        }
    }
    out.push("        return 204;\n    }\n}\n".to_owned());
    let http = dir.join("sample.conf");
    fs::write(&http, out.join("\n")).unwrap();
    (
        Layout::bare(dir, build, &[], std::slice::from_ref(&http)),
        at,
    )
}

/// The first `[emerg]` of `nginx -t` on the sample, with the sample's line it names (None for a
/// line elsewhere or none), or None when the test passed.
fn first_error(layout: &Layout, build: &Build) -> Option<(String, Option<usize>)> {
    let out = layout.test(build);
    if out.status.success() {
        return None;
    }
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stderr
        .lines()
        .find(|l| l.contains("[emerg]"))
        .unwrap_or_else(|| panic!("nginx -t failed without [emerg]:\n{stderr}"))
        .to_owned();
    let number = line
        .rsplit_once("sample.conf:")
        .and_then(|(_, n)| n.trim().parse().ok());
    Some((line, number))
}

/// Runs `nginx -t` on `lines`, taking out each line nginx stops at, until it passes. Returns
/// what nginx said about each line it stopped at, by (name, level).
fn refusals(
    build: &Build,
    mut lines: Vec<(String, &'static str, Vec<String>)>,
) -> BTreeMap<(String, &'static str), String> {
    let dir = temp_dir();
    let mut refused = BTreeMap::new();
    loop {
        let (layout, at) = write_sample(dir.path(), build, &lines);
        let Some((message, number)) = first_error(&layout, build) else {
            return refused;
        };
        let line = number.and_then(|n| at.get(&n)).unwrap_or_else(|| {
            panic!(
                "nginx -t stopped outside the sampled lines: {message}\n{}",
                fs::read_to_string(dir.path().join("sample.conf")).unwrap()
            )
        });
        let key = (line.name.clone(), line.level);
        lines.retain(|(name, level, _)| (name.as_str(), *level) != (key.0.as_str(), key.1));
        refused.insert(key, message);
    }
}

/// Every standard-kind directive the table gives `build` at http, server and location level,
/// each at every one of those levels the table allows, with a value made from its kind.
fn sample(rows: &[&Row]) -> Vec<(String, &'static str, Vec<String>)> {
    let mut lines = Vec::new();
    let mut seen = BTreeSet::new();
    for row in rows {
        if row.block || SKIP.iter().any(|(name, _)| *name == row.name) {
            continue;
        }
        let Some(args) = value_for(row) else {
            continue;
        };
        for level in LEVELS {
            if row.contexts.iter().any(|c| c == level) && seen.insert((row.name.clone(), *level)) {
                lines.push((row.name.clone(), *level, args.clone()));
            }
        }
    }
    lines
}

fn table_holds_for(build: &Build, name: &str, version: (u32, u32, u32)) {
    let rows = table();
    let ours = rows_for(&rows, version, name);
    let lines = sample(&ours);
    assert!(
        lines.len() > 300,
        "only {} sampled lines for {name}",
        lines.len()
    );
    let refused = refusals(build, lines.clone());
    let wrong: Vec<String> = refused
        .iter()
        .filter(|(_, m)| TABLE_WRONG.iter().any(|w| m.contains(w)))
        .map(|((n, l), m)| format!("{n} at {l}: {m}"))
        .collect();
    let other: Vec<String> = refused
        .iter()
        .filter(|(_, m)| !TABLE_WRONG.iter().any(|w| m.contains(w)))
        .map(|((n, l), m)| format!("{n} at {l}: {m}"))
        .collect();
    assert!(
        wrong.is_empty(),
        "{name}: nginx -t refuses directives the table says it has there:\n{}",
        wrong.join("\n")
    );
    assert!(
        other.is_empty(),
        "{name}: nginx -t refuses sampled directives for another reason (fix the value made from the kind, or add them to SKIP with the reason):\n{}",
        other.join("\n")
    );
    eprintln!(
        "{name}: nginx -t accepted all {} sampled directive lines",
        lines.len()
    );
}

/// A line for `row` at the outermost of http, server and location it allows, with as many
/// arguments as it takes at least (nginx looks the name up before it reads the arguments, so
/// any will do), or None for a block or a directive of other levels.
fn any_line(row: &Row) -> Option<(String, &'static str, Vec<String>)> {
    if row.block {
        return None;
    }
    let level = LEVELS
        .iter()
        .find(|l| row.contexts.iter().any(|c| c == *l))?;
    let count = row
        .args
        .split(',')
        .find_map(|a| a.trim_end_matches('+').parse::<usize>().ok())
        .unwrap_or(1);
    Some((row.name.clone(), *level, vec!["on".to_owned(); count]))
}

/// `build` must call every one of `lines` an unknown directive; `why` says what the table
/// claims of them.
fn expect_unknown(build: &Build, lines: Vec<(String, &'static str, Vec<String>)>, why: &str) {
    assert!(!lines.is_empty(), "no names for: {why}");
    let expected: BTreeSet<String> = lines.iter().map(|l| l.0.clone()).collect();
    let refused = refusals(build, lines);
    let mut wrong = Vec::new();
    for name in &expected {
        let said = refused
            .iter()
            .find(|((n, _), _)| n == name)
            .map(|(_, m)| m.as_str());
        match said {
            Some(m) if m.contains(&format!("unknown directive \"{name}\"")) => {}
            Some(m) => wrong.push(format!("{name}: {m}")),
            None => wrong.push(format!("{name}: accepted")),
        }
    }
    assert!(
        wrong.is_empty(),
        "the table says {why}, and nginx knows them:\n{}",
        wrong.join("\n")
    );
    eprintln!(
        "{why}: nginx calls all {} unknown: {}",
        expected.len(),
        expected.iter().cloned().collect::<Vec<_>>().join(" ")
    );
}

/// The names that hold (with a module the build has, at http/server/location, not blocks) for
/// `has` of build `has_build` and not at all for `lacks`; the build of `lacks` must call each
/// unknown.
fn unknown_in(build: &Build, lacks: (u32, u32, u32), has_build: &str, has: (u32, u32, u32)) {
    let rows = table();
    let known_then: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.since <= lacks && r.until.is_none_or(|u| lacks < u))
        .map(|r| r.name.as_str())
        .collect();
    let mut names = BTreeSet::new();
    let lines: Vec<_> = rows_for(&rows, has, has_build)
        .into_iter()
        .filter(|r| !known_then.contains(r.name.as_str()) && names.insert(r.name.clone()))
        .filter_map(any_line)
        .collect();
    let why = format!("nginx {lacks:?} lacks these and nginx {has:?} has them");
    expect_unknown(build, lines, &why);
}

#[test]
fn the_table_matches_nginx_1_22() {
    table_holds_for(&Build::debian12(), "debian12", (1, 22, 1));
}

#[test]
fn the_table_matches_nginx_1_26() {
    table_holds_for(&Build::debian13(), "debian13", (1, 26, 3));
}

#[test]
fn nginx_1_22_lacks_what_the_table_says_arrived_later() {
    unknown_in(&Build::debian12(), (1, 22, 1), "debian13", (1, 26, 3));
}

#[test]
fn nginx_1_26_lacks_what_the_table_says_was_removed() {
    unknown_in(&Build::debian13(), (1, 26, 3), "debian12", (1, 22, 1));
}

/// The directives of the modules builds.tsv calls dynamic (other than the stream module, which
/// sitewright loads) or absent are unknown to the binary without a load_module line.
#[test]
fn modules_the_builds_lack_are_unknown() {
    for (build, name, version) in [
        (Build::debian12(), "debian12", (1, 22, 1)),
        (Build::debian13(), "debian13", (1, 26, 3)),
    ] {
        let text = fs::read_to_string(repo().join("data/nginx/builds.tsv")).unwrap();
        let lacking: BTreeSet<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .filter(|f| {
                f[0] == name
                    && (f[4] == "absent" || (f[4] == "dynamic" && f[5] != "ngx_stream_module.so"))
            })
            .map(|f| f[2].to_owned())
            .collect();
        let rows = table();
        let usable: BTreeSet<&str> = rows_for(&rows, version, name)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        let mut names = BTreeSet::new();
        let lines: Vec<_> = rows
            .iter()
            .filter(|r| r.since <= version && r.until.is_none_or(|u| version < u))
            .filter(|r| lacking.contains(&r.module) && !usable.contains(r.name.as_str()))
            .filter(|r| names.insert(r.name.clone()))
            .filter_map(any_line)
            .collect();
        assert!(
            names.contains("perl_modules") && names.contains("image_filter"),
            "{names:?}"
        );
        expect_unknown(
            &build,
            lines,
            &format!("{name} builds these modules as dynamic modules or not at all"),
        );
    }
}

/// One row of variables.tsv.
struct Var {
    stream: bool,
    name: String,
    prefix: bool,
    module: String,
    since: (u32, u32, u32),
    until: Option<(u32, u32, u32)>,
}

fn variables() -> Vec<Var> {
    let text = fs::read_to_string(repo().join("data/nginx/variables.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            Var {
                stream: f[0] == "stream",
                name: f[1].to_owned(),
                prefix: f[2] == "yes",
                module: f[3].to_owned(),
                since: release(f[6]).unwrap(),
                until: release(f[7]),
            }
        })
        .collect()
}

/// The variable names of one scope that hold at `version` and whose module the build has (the
/// stream ones in ngx_stream_module.so, which the sample loads); `http_sample` for the prefix
/// `http_`.
fn variables_for(version: (u32, u32, u32), build: &str, stream: bool) -> BTreeSet<String> {
    let text = fs::read_to_string(repo().join("data/nginx/builds.tsv")).unwrap();
    let mut status = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if f[0] == build {
            status.insert(f[2].to_owned(), (f[4].to_owned(), f[5].to_owned()));
        }
    }
    variables()
        .into_iter()
        .filter(|v| v.stream == stream)
        .filter(|v| v.since <= version && v.until.is_none_or(|u| version < u))
        .filter(|v| match status.get(&v.module) {
            None => true,
            Some((s, file)) => s == "static" || file == "ngx_stream_module.so",
        })
        // A prefix variable is read through a name that extends it.
        .map(|v| {
            if v.prefix {
                format!("{}sample", v.name)
            } else {
                v.name
            }
        })
        .collect()
}

/// Runs `nginx -t` on a configuration that reads every one of `names` (http ones with `set` in a
/// location, stream ones with `set` in a stream server), taking out each variable nginx calls
/// unknown until it passes. Returns the names nginx called unknown.
fn unknown_variables(build: &Build, stream: bool, names: &BTreeSet<String>) -> BTreeSet<String> {
    let dir = temp_dir();
    let mut left: Vec<&String> = names.iter().collect();
    let mut unknown = BTreeSet::new();
    let pattern = regex::Regex::new(r#"unknown "([^"]*)" variable"#).unwrap();
    loop {
        let sets: String = left
            .iter()
            .enumerate()
            .map(|(i, n)| format!("        set $sample_{i} \"${{{n}}}\";\n"))
            .collect();
        let (main, http) = if stream {
            let stream_conf = dir.path().join("stream.conf");
            fs::write(
                &stream_conf,
                format!(
                    "load_module {}/ngx_stream_module.so;\nstream {{\n    server {{\n        listen 127.0.0.1:{};\n{sets}        return ok;\n    }}\n}}\n",
                    build.modules.display(),
                    free_port()
                ),
            )
            .unwrap();
            (vec![stream_conf], vec![])
        } else {
            let http_conf = dir.path().join("sample.conf");
            fs::write(
                &http_conf,
                format!(
                    "server {{\n    listen 127.0.0.1:{};\n    location / {{\n{sets}        return 204;\n    }}\n}}\n",
                    free_port()
                ),
            )
            .unwrap();
            (vec![], vec![http_conf])
        };
        let layout = Layout::bare(dir.path(), build, &main, &http);
        let out = layout.test(build);
        if out.status.success() {
            return unknown;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let name = pattern
            .captures(&stderr)
            .unwrap_or_else(|| panic!("nginx -t refused the variable sample:\n{stderr}"))[1]
            .to_owned();
        assert!(
            left.iter().any(|n| **n == name),
            "nginx calls `{name}` unknown, which the sample does not read:\n{stderr}"
        );
        left.retain(|n| **n != name);
        unknown.insert(name);
    }
}

/// Every variable the table gives each build is known to it, http and stream; every one it
/// gives 1.26 and not 1.22 is unknown to 1.22, and the converse.
#[test]
fn the_variables_match_both_builds() {
    let (old, new) = ((1, 22, 1), (1, 26, 3));
    for stream in [false, true] {
        let scope = if stream { "stream" } else { "http" };
        let old_names = variables_for(old, "debian12", stream);
        let new_names = variables_for(new, "debian13", stream);
        assert!(old_names.len() > 20 && new_names.len() > 20);
        for (build, label, names) in [
            (Build::debian12(), "1.22.1", &old_names),
            (Build::debian13(), "1.26.3", &new_names),
        ] {
            let unknown = unknown_variables(&build, stream, names);
            assert!(
                unknown.is_empty(),
                "nginx {label} does not know these {scope} variables the table gives it: {unknown:?}"
            );
            eprintln!(
                "nginx {label} knows all {} {scope} variables of the table",
                names.len()
            );
        }
        for (build, label, names) in [
            (
                Build::debian12(),
                "1.22.1",
                new_names.difference(&old_names),
            ),
            (
                Build::debian13(),
                "1.26.3",
                old_names.difference(&new_names),
            ),
        ] {
            let names: BTreeSet<String> = names.cloned().collect();
            let unknown = unknown_variables(&build, stream, &names);
            assert_eq!(
                unknown, names,
                "the table says nginx {label} lacks these {scope} variables"
            );
            eprintln!("nginx {label} lacks the {scope} variables the table says: {names:?}");
        }
    }
}

/// Custom-handler directives whose `repeat` the script's short lists decide, each with two lines
/// valid at that level (those that need a zone, a file or a certificate to be valid are left
/// out).
const CUSTOM_REPEATS: &[(&str, &str, &str, &str)] = &[
    ("access_log", "location", "off", "off"),
    ("add_header", "location", "X-A b", "X-B c"),
    ("add_trailer", "location", "X-A b", "X-B c"),
    ("allow", "location", "127.0.0.1", "127.0.0.2"),
    ("deny", "location", "all", "all"),
    ("error_log", "location", "stderr", "stderr"),
    ("error_page", "location", "404 /a", "500 /b"),
    ("index", "location", "a", "b"),
    ("mirror", "location", "/a", "/b"),
    ("proxy_cache_valid", "location", "200 1m", "404 1m"),
    ("proxy_redirect", "location", "/a /b", "/c /d"),
    ("return", "location", "204", "200"),
    ("rewrite", "location", "^/a /b", "^/c /d"),
    ("server_name", "server", "a.example", "b.example"),
    ("set", "location", "$a b", "$b c"),
    ("set_real_ip_from", "location", "127.0.0.1", "127.0.0.2"),
    ("sub_filter", "location", "a b", "c d"),
    ("valid_referers", "location", "a.example", "b.example"),
    ("alias", "location", "/a", "/b"),
    ("auth_basic_user_file", "location", "/a", "/b"),
    ("auth_request", "location", "/a", "/b"),
    ("charset", "location", "utf-8", "koi8-r"),
    ("expires", "location", "1h", "2h"),
    ("internal", "location", "", ""),
    ("keepalive_timeout", "location", "5", "6"),
    ("limit_rate", "location", "1k", "2k"),
    (
        "proxy_pass",
        "location",
        "http://127.0.0.1:9",
        "http://127.0.0.1:8",
    ),
    ("fastcgi_pass", "location", "127.0.0.1:9", "127.0.0.1:8"),
    ("uwsgi_pass", "location", "127.0.0.1:9", "127.0.0.1:8"),
    ("scgi_pass", "location", "127.0.0.1:9", "127.0.0.1:8"),
    ("grpc_pass", "location", "127.0.0.1:9", "127.0.0.1:8"),
    ("memcached_pass", "location", "127.0.0.1:9", "127.0.0.1:8"),
    ("real_ip_header", "location", "X-Real-IP", "X-Other"),
    ("resolver", "location", "127.0.0.1", "127.0.0.2"),
    ("root", "location", "/a", "/b"),
    ("try_files", "location", "$uri =404", "$uri =403"),
];

/// The `repeat` column against both builds: a directive the table calls repeatable is accepted
/// twice at one level, one it calls single is refused as "is duplicate". The standard-kind rows
/// the sample writes (the same values as above), one per module, value kind and answer (each
/// single one costs an `nginx -t` run; the slot code that says "is duplicate" is shared), and the
/// custom ones of CUSTOM_REPEATS.
#[test]
fn repeats_match_both_builds() {
    let rows = table();
    for (build, name, version) in [
        (Build::debian12(), "debian12", (1, 22, 1)),
        (Build::debian13(), "debian13", (1, 26, 3)),
    ] {
        let ours = rows_for(&rows, version, name);
        let row_at = |directive: &str, level: &str| {
            ours.iter()
                .find(|r| r.name == directive && r.contexts.iter().any(|c| c == level))
                .copied()
        };
        let mut pairs = Vec::new();
        let mut seen = BTreeSet::new();
        for (directive, level, args) in sample(&ours) {
            let Some(row) = row_at(&directive, level) else {
                continue;
            };
            let kind = row.kind.split(':').next().unwrap_or_default().to_owned();
            if row.repeat != "unknown"
                && seen.insert((row.module.clone(), kind, row.repeat.clone()))
            {
                pairs.push((directive, level, args.clone(), args));
            }
        }
        for (directive, level, first, second) in CUSTOM_REPEATS {
            let level = LEVELS.iter().find(|l| *l == level).unwrap();
            let words = |a: &str| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
            pairs.push(((*directive).to_owned(), *level, words(first), words(second)));
        }
        let lines: Vec<_> = pairs
            .iter()
            .flat_map(|(d, l, a, b)| [(d.clone(), *l, a.clone()), (d.clone(), *l, b.clone())])
            .collect();
        let refused = refusals(&build, lines);
        let mut wrong = Vec::new();
        for (directive, level, _, _) in &pairs {
            let said = refused.get(&(directive.clone(), *level));
            let duplicate = said.is_some_and(|m| m.contains("is duplicate"));
            match (row_at(directive, level).map(|r| r.repeat.as_str()), said) {
                (Some("yes"), None) => {}
                (Some("no"), Some(_)) if duplicate => {}
                (repeat, said) => wrong.push(format!(
                    "{directive} at {level}: table says repeat {repeat:?}, nginx -t on two lines says {said:?}"
                )),
            }
        }
        assert!(
            wrong.is_empty(),
            "{name}: the repeat column is wrong:\n{}",
            wrong.join("\n")
        );
        eprintln!(
            "{name}: nginx -t agrees with the repeat column on {} directives",
            pairs.len()
        );
    }
}

/// A value the kind's parser refuses, as src/nginx_directives.rs refuses it: nginx refuses it
/// too. None for kinds it does not check.
fn bad_value_for(row: &Row) -> Option<Vec<String>> {
    let kind = row.kind.split(':').next().unwrap_or_default();
    let one = |v: &str| Some(vec![v.to_owned()]);
    match kind {
        "flag" | "enum" | "bitmask" => one("maybe"),
        "time" => one("10q"),
        "size" | "offset" => one("1.5k"),
        "number" => one("x1"),
        "bufs" => Some(vec!["8".to_owned(), "1q".to_owned()]),
        _ => None,
    }
}

/// The value kinds against both builds: a value of the wrong shape for the row's kind is refused
/// by nginx. One directive per module and kind (each refusal costs an `nginx -t` run; the
/// slot's parser is shared).
#[test]
fn bad_values_are_refused_by_both_builds() {
    let rows = table();
    for (build, name, version) in [
        (Build::debian12(), "debian12", (1, 22, 1)),
        (Build::debian13(), "debian13", (1, 26, 3)),
    ] {
        let mut lines = Vec::new();
        let mut seen = BTreeSet::new();
        for row in rows_for(&rows, version, name) {
            let kind = row.kind.split(':').next().unwrap_or_default().to_owned();
            let Some(args) = bad_value_for(row) else {
                continue;
            };
            let Some(level) = LEVELS.iter().find(|l| row.contexts.iter().any(|c| c == *l)) else {
                continue;
            };
            if !row.block && seen.insert((row.module.clone(), kind)) {
                lines.push((row.name.clone(), *level, args));
            }
        }
        let expected: BTreeSet<(String, &str)> =
            lines.iter().map(|(n, l, _)| (n.clone(), *l)).collect();
        let refused = refusals(&build, lines);
        let mut wrong = Vec::new();
        for key in &expected {
            match refused.get(key) {
                Some(m) if m.contains("invalid") || m.contains("must be") => {}
                said => wrong.push(format!("{} at {}: nginx -t says {said:?}", key.0, key.1)),
            }
        }
        assert!(
            wrong.is_empty(),
            "{name}: nginx takes values the table's kind refuses:\n{}",
            wrong.join("\n")
        );
        eprintln!(
            "{name}: nginx -t refuses a bad value for all {} directives (one per module and kind)",
            expected.len()
        );
    }
}
