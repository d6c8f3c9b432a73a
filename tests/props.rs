//! Property tests: generated specs, valid and broken, never make sitewright panic; every valid one
//! renders, and each postgresql.conf reads back, through the same rules PostgreSQL's lexer follows,
//! to the values the spec gave; any bytes given to the binary are rendered or refused as its
//! contract says.

// A test binary has no outside: its helpers are `pub` for its own modules, which the crate-wide
// unreachable_pub lint would flag.
#![allow(unreachable_pub)]

use proptest::prelude::*;
use sitewright::load::load;
use sitewright::pg_settings::read_conf;
use sitewright::plan::plan;
use sitewright::render::{Renderer, Secrets};
use sitewright::source::Source;
use sitewright::templates::Overrides;

/// A problem's first line: `FILE:LINE:COLUMN: error|warning[ID]: message`.
static PROBLEM: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"^fuzz\.yaml:([0-9]+):([0-9]+): (error|warning)(\[[A-Z]+[0-9]+\])?: .")
        .unwrap()
});

#[path = "it/support/yaml.rs"]
mod yaml;
use yaml::yaml_quoted as quoted;

/// The shape of a generated spec.
struct Shape<'a> {
    version: u32,
    replicas: usize,
    memory_gib: u32,
    cpus: u32,
    storage: &'a str,
    workload: &'a str,
    prefix: &'a str,
    archive: &'a str,
    web: bool,
}

fn spec(shape: &Shape) -> String {
    let Shape {
        version,
        replicas,
        memory_gib,
        cpus,
        storage,
        workload,
        prefix,
        archive,
        web,
    } = *shape;
    let mut hosts = format!(
        "  - name: db1\n    address: 192.0.2.1\n    memory: {memory_gib}GiB\n    cpus: {cpus}\n    storage: {storage}\n    roles: [postgres-primary]\n"
    );
    for i in 0..replicas {
        hosts.push_str(&format!(
            "  - name: db{n}\n    address: 192.0.2.{n}\n    memory: {memory_gib}GiB\n    cpus: {cpus}\n    storage: {storage}\n    roles: [postgres-replica{web}]\n",
            n = i + 2,
            web = if web && i == 0 { ", web" } else { "" }
        ));
    }
    let replication = if replicas > 0 {
        "  replication:\n    user: replicator\n    password: { env: PW }\n    public_port: 7432\n    wal_keep: 1GB\n"
    } else {
        ""
    };
    let django = if web && replicas > 0 {
        "nginx:\n  version: \"1.26\"\n  openssl: \"3.5\"\n  https:\n    server_name: example.org\n    tls: { certificate: /etc/a.pem, certificate_key: /etc/a.key }\n    upstream: { servers: [127.0.0.1:8000] }\ndjango:\n  version: \"5.2\"\n  settings_file: /srv/app/settings.py\n  base_module: app.settings\n  secret_key: { env: KEY }\n  database: { name: app, user: app, password: { env: DBPW } }\n"
    } else if replicas > 0 {
        "nginx:\n  version: \"1.22\"\n  openssl: \"3.0\"\n"
    } else {
        ""
    };
    format!(
        "site: prop\nhosts:\n{hosts}postgres:\n  version: {version}\n  data_directory: /var/lib/postgresql/main\n  plain_text: accepted\n  workload: {workload}\n{replication}  archive:\n    command: {}\n  settings:\n    log_line_prefix: {}\n{django}",
        quoted(archive),
        quoted(prefix)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn valid_specs_render_and_read_back(
        version in 11u32..=18,
        replicas in 0usize..3,
        memory_gib in 1u32..512,
        cpus in 1u32..64,
        storage in prop::sample::select(vec!["hdd", "ssd", "nvme", "san"]),
        workload in prop::sample::select(vec!["web", "oltp", "dw", "mixed", "desktop"]),
        prefix in "[^\u{0}]{0,40}",
        archive in "[^\u{0}]{1,40}",
        web in any::<bool>(),
    ) {
        let text = spec(&Shape { version, replicas, memory_gib, cpus, storage, workload, prefix: &prefix, archive: &archive, web });
        let source = Source::from_bytes("prop.yaml", text.clone().into_bytes()).unwrap();
        let loaded = match load(&source) {
            Ok(loaded) => loaded,
            Err(invalid) => panic!("a valid spec was refused: {:?}\n{text}", invalid.diagnostics),
        };
        let plan = plan(&loaded.site);
        let tree = Renderer::new(&Overrides::default()).render(&plan, &Secrets::none()).expect("a valid spec renders");
        for file in tree.files.iter().filter(|f| f.path.ends_with("postgresql.conf")) {
            let conf = read_conf(&file.content);
            prop_assert_eq!(conf.get("log_line_prefix"), Some(&prefix));
            prop_assert_eq!(conf.get("archive_command"), Some(&archive));
        }
    }

    /// The binary, given any bytes as a spec, either renders (exit 0: the manifest and every file
    /// it lists are written) or refuses (exit 2: nothing on stdout, nothing written, and stderr
    /// names the file at a line and column inside it for each problem, then how many there were).
    /// A panic (exit 101), a signal or any other exit fails.
    #[test]
    fn any_bytes_are_refused_or_accepted_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fuzz.yaml"), &bytes).unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sitewright"))
            .args(["render", "fuzz.yaml", "-o", "out"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        let out = dir.path().join("out");
        match output.status.code() {
            Some(0) => {
                let manifest = std::fs::read_to_string(out.join("manifest.json")).expect("a render that succeeded wrote manifest.json");
                let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
                let files = manifest["files"].as_array().expect("the manifest lists files");
                prop_assert!(!files.is_empty(), "a render that succeeded lists no file");
                for file in files {
                    let path = format!("{}{}", file["host"].as_str().unwrap(), file["path"].as_str().unwrap());
                    prop_assert!(out.join(&path).is_file(), "the manifest lists {} but it was not written", path);
                }
            }
            Some(2) => {
                prop_assert_eq!(stdout.as_ref(), "", "a refused spec printed on stdout");
                prop_assert!(!out.exists(), "a refused spec created the output folder\n{}", stderr);
                let text = String::from_utf8_lossy(&bytes);
                let lines = 1 + text.chars().filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')).count();
                let mut problems = 0;
                for line in stderr.lines().filter(|l| l.starts_with("fuzz.yaml:")) {
                    let at = PROBLEM.captures(line);
                    prop_assert!(at.is_some(), "not `fuzz.yaml:LINE:COLUMN: error|warning…`: {}\n{}", line, stderr);
                    let at = at.unwrap();
                    let (row, column): (usize, usize) = (at[1].parse().unwrap(), at[2].parse().unwrap());
                    prop_assert!((1..=lines).contains(&row) && column >= 1, "{}:{} is outside the {} line(s) of the input\n{}", row, column, lines, stderr);
                    problems += at.get(3).is_some_and(|kind| kind.as_str() == "error") as usize;
                }
                prop_assert!(problems >= 1, "refused without naming an error at a line and column\n{}", stderr);
                let summary = format!("sitewright: fuzz.yaml: {problems} error{}; nothing was written", if problems == 1 { "" } else { "s" });
                prop_assert_eq!(stderr.lines().last(), Some(summary.as_str()), "{}", stderr);
            }
            _ => prop_assert!(false, "render {:?}\n--- stdout\n{}--- stderr\n{}", output.status, stdout, stderr),
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(cut in 0usize..4000, insert in "[ -~\n\t]{0,12}") {
        let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/catmaid/site.yaml")).unwrap();
        let at = (0..=cut.min(base.len())).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{insert}{}", &base[..at], &base[at..]);
        let source = Source::from_bytes("mutated.yaml", text.into_bytes()).unwrap();
        match load(&source) {
            Ok(loaded) => {
                let plan = plan(&loaded.site);
                Renderer::new(&Overrides::default()).render(&plan, &Secrets::none()).expect("a spec that loads renders");
            }
            Err(invalid) => prop_assert!(!invalid.diagnostics.is_empty()),
        }
    }
}
