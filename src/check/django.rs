//! Rules of the Django application: its database, the read-only mirror, and its extra settings.

use crate::diagnostic::Diagnostic;
use crate::source::Document;
use crate::spec::{PythonValue, Role, Site};

/// The oldest and the newest Django (major, minor) whose settings sitewright knows.
const OLDEST: (u32, u32) = (3, 2);
const NEWEST: (u32, u32) = (6, 0);

pub(super) fn check(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    if let Some(django) = &site.django {
        version(django, doc, out);
        django_rules(site, django, doc, out);
        extra_rules(site, django, doc, out);
        if let Some(age) = django.database.conn_max_age
            && age.whole_secs().is_none()
        {
            out.push(
                Diagnostic::error(
                    doc.value_pos("/django/database/conn_max_age"),
                    "CONN_MAX_AGE is a whole number of seconds",
                )
                .rule("DJ002"),
            );
        }
    }
}

fn django_rules(
    site: &Site,
    django: &crate::spec::Django,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let mirrors = site
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| crate::plan::django::read_only(h));
    for (i, host) in mirrors {
        if django.base_module.is_none() {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/hosts/{i}/roles")),
                    format!("{} runs a read-only instance, which adds the nolastlogin app to the base module's INSTALLED_APPS: set django.base_module", host.name),
                )
                .rule("DJ003"),
            );
        }
    }
    for (i, name) in django.database.replicas.iter().enumerate() {
        let pos = doc.value_pos(&format!("/django/database/replicas/{i}"));
        if !site
            .host(name.as_str())
            .is_some_and(|h| h.has(Role::PostgresReplica))
        {
            out.push(
                Diagnostic::error(
                    pos,
                    format!("`{name}` is not a host with the postgres-replica role"),
                )
                .rule("DJ004"),
            );
        }
    }
    fn marked(value: &crate::spec::PythonValue) -> bool {
        use crate::spec::PythonValue as V;
        match value {
            V::Dict(map) => map.contains_key(crate::escape::TUPLE_MARK) || map.values().any(marked),
            V::List(items) => items.iter().any(marked),
            V::Tuple(t) => t.tuple.iter().any(marked),
            _ => false,
        }
    }
    for (name, value) in &django.extra {
        if marked(value) {
            out.push(
                Diagnostic::error(
                    doc.value_pos(&format!("/django/extra/{name}")),
                    format!(
                        "a dict key `{}` is reserved: sitewright writes tuples with it",
                        crate::escape::TUPLE_MARK
                    ),
                )
                .rule("DJ005"),
            );
        }
    }
}

/// A text value of `extra`, and a list of texts.
fn text(value: &PythonValue) -> Option<&str> {
    match value {
        PythonValue::Text(t) => Some(t),
        _ => None,
    }
}

fn texts(value: &PythonValue) -> Option<Vec<&str>> {
    match value {
        PythonValue::List(items) => items.iter().map(text).collect(),
        PythonValue::Tuple(t) => t.tuple.iter().map(text).collect(),
        _ => None,
    }
}

/// Whether Django's ALLOWED_HOSTS entry `pattern` accepts `name`.
fn allows(pattern: &str, name: &str) -> bool {
    pattern == "*"
        || pattern.eq_ignore_ascii_case(name)
        || pattern
            .strip_prefix('.')
            .is_some_and(|domain| name == domain || name.ends_with(&format!(".{domain}")))
}

/// `extra` replaces what sitewright writes; these rules catch where it would contradict nginx.
fn extra_rules(
    site: &Site,
    django: &crate::spec::Django,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    let at = |name: &str| doc.value_pos(&format!("/django/extra/{name}"));
    for name in ["SECRET_KEY", "DATABASES"] {
        if django.extra.contains_key(name) {
            out.push(
                Diagnostic::error(
                    doc.key_pos(&format!("/django/extra/{name}")),
                    format!("{name} is written from the spec's django section, so that secrets are read at run time; set it there"),
                )
                .rule("DJ009"),
            );
        }
    }
    let Some(https) = site.nginx.as_ref().and_then(|n| n.https.as_ref()) else {
        return;
    };
    if let Some(header) = django.extra.get("SECURE_PROXY_SSL_HEADER") {
        let trusted = texts(header).unwrap_or_default();
        if trusted
            .first()
            .is_none_or(|h| *h != "HTTP_X_FORWARDED_PROTO")
        {
            out.push(
                Diagnostic::error(
                    at("SECURE_PROXY_SSL_HEADER"),
                    "Django would trust a header that nginx does not overwrite: only X-Forwarded-Proto (HTTP_X_FORWARDED_PROTO) is set by nginx on every request",
                )
                .rule("DJ006")
                .also(doc.key_pos("/nginx/https")),
            );
        }
    }
    let hsts = &https.tls.hsts;
    let nginx_pos = doc.key_pos("/nginx/https/tls");
    let disagree = |name: &str, value: &PythonValue| -> bool {
        match (name, value) {
            ("SECURE_HSTS_SECONDS", PythonValue::Int(n)) => {
                Some(*n as u64) != hsts.max_age.whole_secs()
            }
            ("SECURE_HSTS_INCLUDE_SUBDOMAINS", PythonValue::Bool(b)) => {
                *b != hsts.include_subdomains
            }
            ("SECURE_HSTS_PRELOAD", PythonValue::Bool(b)) => *b != hsts.preload,
            _ => false,
        }
    };
    for (name, value) in &django.extra {
        if disagree(name, value) {
            out.push(
                Diagnostic::warning(
                    at(name),
                    format!(
                        "{name} disagrees with the HSTS header nginx sends ({})",
                        hsts.header()
                    ),
                )
                .rule("DJ007")
                .also(nginx_pos),
            );
        }
    }
    if let Some(allowed) = django.extra.get("ALLOWED_HOSTS") {
        let patterns = texts(allowed).unwrap_or_default();
        let names = site.hosts_with(crate::spec::Role::Web).map(|h| {
            h.server_name
                .clone()
                .unwrap_or_else(|| https.server_name.clone())
        });
        for name in names {
            if !patterns.iter().any(|p| allows(p, &name)) {
                out.push(
                    Diagnostic::error(
                        at("ALLOWED_HOSTS"),
                        format!("ALLOWED_HOSTS does not cover {name}, which nginx serves the application under: Django would answer 400"),
                    )
                    .rule("DJ008")
                    .also(doc.value_pos("/nginx/https/server_name")),
                );
            }
        }
    }
}

fn version(django: &crate::spec::Django, doc: &Document, out: &mut Vec<Diagnostic>) {
    let (major, minor, _) = django.version.parts();
    let pos = doc.value_pos("/django/version");
    if (major, minor) < OLDEST {
        out.push(
            Diagnostic::error(
                pos,
                format!(
                    "sitewright writes settings for Django {}.{} and later, not {}: upgrade Django, or write this version's settings by hand",
                    OLDEST.0, OLDEST.1, django.version
                ),
            )
            .rule("DJ010"),
        );
    } else if (major, minor) > NEWEST {
        out.push(
            Diagnostic::warning(
                pos,
                format!(
                    "Django {} is newer than {}.{}, the newest whose settings sitewright knows: run `manage.py check --deploy` on what it writes",
                    django.version, NEWEST.0, NEWEST.1
                ),
            )
            .rule("DJ011"),
        );
    }
}
