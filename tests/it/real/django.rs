//! Real Django (4.2 and 5.2, the LTS releases) reads the rendered settings: the CATMAID
//! production module passes `check --deploy` with no issue, the read-only mirror's module has
//! seed 002's settings, and every string the spec accepts comes back unchanged from the Python
//! literal it is written as, hostile ones included.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::pg::succeeded;
use crate::support::{
    CHECK_DEPLOY, Sitewright, django_project, fixture, installed, temp_dir, yaml_quoted,
};

const SECRET_KEY: &str = "8c1f0e4b9a7d2c6e5f3a1b0d9e8c7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7";

/// CATMAID rendered for Django `version`, its web hosts' settings placed in a project.
fn rendered_project(version: &str, with_mirror: bool) -> (tempfile::TempDir, PathBuf) {
    let work = temp_dir();
    let mut spec = fs::read_to_string(fixture("catmaid/site.yaml"))
        .unwrap()
        .replace("version: \"5.2\"", &format!("version: \"{version}\""));
    if with_mirror {
        spec = spec.replace(
            "    roles: [postgres-replica]\n",
            "    roles: [postgres-replica, web]\n    server_name: catmaid-mirror.example.org\n",
        );
    }
    fs::write(work.path().join("site.yaml"), spec).unwrap();
    let tree = work.path().join("tree");
    Sitewright::new()
        .in_dir(work.path())
        .args(["render", "site.yaml", "-o", "tree"])
        .run()
        .code(0);
    let dir = work.path().join("project");
    django_project(&dir);
    for (host, module) in [("web1", "production"), ("db2", "mirror")] {
        let from = tree
            .join(host)
            .join("srv/catmaid/django/projects/mysite/settings_production.py");
        if from.exists() {
            fs::copy(&from, dir.join(format!("mysite/{module}.py"))).unwrap();
        }
    }
    (work, dir)
}

fn python(version: &str) -> String {
    installed(match version {
        "4.2" => "SITEWRIGHT_DJANGO42_PYTHON",
        _ => "SITEWRIGHT_DJANGO52_PYTHON",
    })
}

fn django(version: &str, project: &Path, module: &str, args: &[&str]) -> std::process::Output {
    Command::new(python(version))
        .args(args)
        .current_dir(project)
        .env("PYTHONPATH", project)
        .env("DJANGO_SETTINGS_MODULE", format!("mysite.{module}"))
        .env("DJANGO_SECRET_KEY", SECRET_KEY)
        .env("CATMAID_DB_PASSWORD", "not-used-by-check")
        .output()
        .expect("the venv's python runs")
}

fn check_deploy(version: &str) {
    let (_work, project) = rendered_project(version, false);
    let output = django(version, &project, "production", CHECK_DEPLOY);
    succeeded(
        &output,
        &format!("Django {version}: manage.py check --deploy"),
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "System check identified no issues (0 silenced).",
        "Django {version}"
    );
}

#[test]
fn django_4_2_check_deploy_finds_no_issue() {
    check_deploy("4.2");
}

#[test]
fn django_5_2_check_deploy_finds_no_issue() {
    check_deploy("5.2");
}

/// The settings a module gives Django, as JSON.
fn settings_json(version: &str, project: &Path, module: &str, names: &[&str]) -> serde_json::Value {
    let script = format!(
        "import json, django\nfrom django.conf import settings\ndjango.setup()\nprint(json.dumps({{n: getattr(settings, n) for n in {names:?}}}, default=str))\n"
    );
    let output = django(version, project, module, &["-c", &script]);
    succeeded(&output, "reading the settings");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_read_only_mirror_has_seed_002s_settings() {
    for version in ["4.2", "5.2"] {
        let (_work, project) = rendered_project(version, true);
        let names = [
            "EMAIL_BACKEND",
            "SESSION_ENGINE",
            "CACHES",
            "NO_UPDATE_LAST_LOGIN",
            "INSTALLED_APPS",
            "DATABASES",
            "ALLOWED_HOSTS",
        ];
        let mirror = settings_json(version, &project, "mirror", &names);
        assert_eq!(
            mirror["EMAIL_BACKEND"],
            "django.core.mail.backends.dummy.EmailBackend"
        );
        assert_eq!(
            mirror["SESSION_ENGINE"],
            "django.contrib.sessions.backends.cache"
        );
        assert_eq!(
            mirror["CACHES"]["default"]["BACKEND"],
            "django.core.cache.backends.memcached.PyMemcacheCache",
            "MemcachedCache is gone from Django 4.1"
        );
        assert_eq!(mirror["CACHES"]["default"]["LOCATION"], "127.0.0.1:11211");
        assert_eq!(mirror["NO_UPDATE_LAST_LOGIN"], true);
        assert_eq!(
            mirror["INSTALLED_APPS"].as_array().unwrap().last().unwrap(),
            "nolastlogin"
        );
        assert_eq!(
            mirror["DATABASES"]["default"]["HOST"], "127.0.0.1",
            "its own replica"
        );
        assert_eq!(
            mirror["ALLOWED_HOSTS"],
            serde_json::json!(["catmaid-mirror.example.org"])
        );
        let output = django(
            version,
            &project,
            "mirror",
            &[
                "-m",
                "django",
                "check",
                "--deploy",
                "--fail-level",
                "WARNING",
            ],
        );
        succeeded(
            &output,
            &format!("Django {version}: check --deploy of the mirror"),
        );

        let production = settings_json(
            version,
            &project,
            "production",
            &[
                "DATABASES",
                "STATIC_EXTENSION_FILES",
                "CSRF_TRUSTED_ORIGINS",
            ],
        );
        let default = &production["DATABASES"]["default"];
        assert_eq!(
            (default["HOST"].as_str(), default["PORT"].as_i64()),
            (Some("192.0.2.11"), Some(7432))
        );
        assert_eq!(default["CONN_HEALTH_CHECKS"], true);
        assert_eq!(
            default["OPTIONS"],
            serde_json::json!({
                "sslmode": "verify-full",
                "sslrootcert": "/etc/ssl/postgresql/cert/catmaid-ca.crt",
            }),
            "the primary's certificate verified against postgres.ssl.ca"
        );
        assert_eq!(
            default["PASSWORD"], "not-used-by-check",
            "read from the environment"
        );
        assert_eq!(
            production["STATIC_EXTENSION_FILES"],
            serde_json::json!(["test.js"])
        );
        assert_eq!(
            production["CSRF_TRUSTED_ORIGINS"],
            serde_json::json!(["https://catmaid.example.org"])
        );
    }
}

/// A small deterministic generator, so that a failing case can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const HOSTILE: &[&str] = &[
    "",
    " leading and trailing ",
    "it's",
    "\"quoted\"",
    "back\\slash",
    "\\",
    "\\n is not a newline",
    "new\nline",
    "carriage\rreturn",
    "tab\there",
    "nul\0byte",
    "'''",
    "\"\"\"",
    "{}",
    "%s %(x)s",
    "$HOME",
    "#not a comment",
    ";",
    "é中😀",
    "\u{2028}\u{2029}",
    "\u{feff}bom",
    "\u{7f}\u{1b}[31m",
];

#[test]
fn every_string_comes_back_unchanged_from_its_python_literal() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let pool: Vec<char> = "aZ09 '\"\\\n\r\t\0{}[]%$#;,:=é中😀\u{2028}\u{7f}\u{1b}"
        .chars()
        .collect();
    let mut values: Vec<String> = HOSTILE.iter().map(|s| (*s).to_owned()).collect();
    for _ in 0..200 {
        let len = (rng.next() % 24) as usize;
        values.push(
            (0..len)
                .map(|_| pool[(rng.next() % pool.len() as u64) as usize])
                .collect(),
        );
    }
    let mut spec = fs::read_to_string(fixture("catmaid/site.yaml")).unwrap();
    spec.push_str("    EXTRA_LIST: [");
    for (i, value) in values.iter().enumerate() {
        spec.push_str(&yaml_quoted(value));
        spec.push_str(if i + 1 < values.len() { ", " } else { "]\n" });
    }
    let work = temp_dir();
    fs::write(work.path().join("site.yaml"), &spec).unwrap();
    Sitewright::new()
        .in_dir(work.path())
        .args(["render", "site.yaml", "-o", "tree", "--host", "web1"])
        .run()
        .code(0);
    let settings = work
        .path()
        .join("tree/web1/srv/catmaid/django/projects/mysite/settings_production.py");
    let script = r#"
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8").read())
for node in tree.body:
    if isinstance(node, ast.Assign) and node.targets[0].id == "EXTRA_LIST":
        print(json.dumps(ast.literal_eval(node.value)))
"#;
    let output = Command::new(python("5.2"))
        .args(["-c", script])
        .arg(&settings)
        .output()
        .unwrap();
    succeeded(&output, "ast.literal_eval of the rendered list");
    let back: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(back.len(), values.len());
    for (sent, got) in values.iter().zip(&back) {
        assert_eq!(
            got, sent,
            "a string changed on its way through the Python literal"
        );
    }
}

/// What Django's SecurityMiddleware answers, under `module`, to a request that nginx forwarded
/// from an HTTPS client (X-Forwarded-Proto: https): the status and the redirect, if any.
fn answer_to_https_through_nginx(version: &str, project: &Path, module: &str) -> String {
    let script = "import django\ndjango.setup()\nfrom django.test import RequestFactory\nfrom django.http import HttpResponse\nfrom django.middleware.security import SecurityMiddleware\nrequest = RequestFactory().get('/a', HTTP_HOST='catmaid.example.org', HTTP_X_FORWARDED_PROTO='https')\nresponse = SecurityMiddleware(lambda r: HttpResponse('ok'))(request)\nprint(response.status_code, response.get('Location', '-'))\n";
    let output = django(version, project, module, &["-c", script]);
    succeeded(&output, "asking SecurityMiddleware");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// DJ006's reason, proven: with the value inverted, Django redirects an HTTPS request to the URL
/// it came for, forever; with the value sitewright writes, it serves it.
#[test]
fn an_inverted_secure_proxy_ssl_header_makes_django_redirect_forever() {
    let (_work, project) = rendered_project("5.2", false);
    fs::write(
        project.join("mysite/inverted.py"),
        "from mysite.production import *  # noqa: F401,F403\nSECURE_PROXY_SSL_HEADER = (\"HTTP_X_FORWARDED_PROTO\", \"http\")\n",
    )
    .unwrap();
    assert_eq!(
        answer_to_https_through_nginx("5.2", &project, "production"),
        "200 -"
    );
    assert_eq!(
        answer_to_https_through_nginx("5.2", &project, "inverted"),
        "301 https://catmaid.example.org/a",
        "the redirect goes to the URL the client asked for: a loop"
    );
}
