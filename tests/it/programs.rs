//! The rendered CATMAID files read by the programs that consume them, beyond PostgreSQL:
//! Python parses the Django settings, and procps' sysctl accepts the sysctl file without
//! changing anything (`--dry-run`).

use std::process::Command;

use crate::support::fixture;

#[test]
fn python_parses_the_django_settings() {
    let settings =
        fixture("catmaid/expected/web1/srv/catmaid/django/projects/mysite/settings_production.py");
    let script = "import ast, sys\n\
tree = ast.parse(open(sys.argv[1]).read())\n\
names = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets]\n\
print(' '.join(names))\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&settings)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "DEBUG ALLOWED_HOSTS CSRF_TRUSTED_ORIGINS SECRET_KEY DATABASES SECURE_PROXY_SSL_HEADER SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE SECURE_HSTS_SECONDS SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD SECURE_REFERRER_POLICY SECURE_CONTENT_TYPE_NOSNIFF X_FRAME_OPTIONS LOGGING NODE_LIST_MAXIMUM_COUNT NODE_PROVIDER PREPARED_STATEMENTS STATIC_EXTENSION_FILES"
    );
}

#[test]
fn sysctl_accepts_the_rendered_file_without_applying_it() {
    let file = fixture("catmaid/expected/db1/etc/sysctl.d/60-sitewright.conf");
    let output = Command::new("sysctl")
        .args(["--dry-run", "-p"])
        .arg(&file)
        .output()
        .expect("sysctl (procps) runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "vm.dirty_background_bytes = 268435456\nvm.dirty_bytes = 1073741824\nvm.swappiness = 10\n"
    );
}
