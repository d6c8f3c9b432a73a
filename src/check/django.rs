//! Rules of the Django application: its database, the read-only mirror, and its extra settings.

use crate::diagnostic::Diagnostic;
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{PythonValue, Role, Site};
use crate::versions::DjangoRelease;

/// The oldest and the newest Django (major, minor) whose settings sitewright knows.
const OLDEST: (u32, u32) = DjangoRelease::OLDEST;
const NEWEST: (u32, u32) = DjangoRelease::NEWEST;

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
                .rule(Rule::DJ002),
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
                .rule(Rule::DJ003),
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
                .rule(Rule::DJ004),
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
                .rule(Rule::DJ005),
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

/// What is wrong with a SECURE_PROXY_SSL_HEADER value, if anything.
fn proxy_ssl_header_fault(value: &PythonValue) -> Option<String> {
    let (header, scheme) = crate::plan::django::PROXY_SSL_HEADER;
    let pair = format!("(\"{header}\", \"{scheme}\")");
    match texts(value).as_deref() {
        Some([h, _]) if *h != header => Some(format!(
            "Django would trust a header that nginx does not overwrite: only X-Forwarded-Proto ({header}) is set by nginx on every request; the one value that is right is {pair}"
        )),
        Some([_, s]) if *s != scheme => Some(format!(
            "nginx sends X-Forwarded-Proto `{scheme}` for every HTTPS request, so with `{s}` Django takes each for plain HTTP and redirects it to HTTPS forever; the one value that is right is {pair}"
        )),
        Some([_, _]) => None,
        _ => Some(format!(
            "SECURE_PROXY_SSL_HEADER is a pair of the header and the value that means HTTPS: the one that is right is {pair}"
        )),
    }
}

/// `extra` comes last in the module, so it would replace what sitewright writes: it may set none
/// of the settings that a typed field or the site decides (the plan's list of what it writes).
fn extra_rules(
    site: &Site,
    django: &crate::spec::Django,
    doc: &Document,
    out: &mut Vec<Diagnostic>,
) {
    for name in django.extra.keys() {
        let Some(written) = crate::plan::django::written(name) else {
            continue;
        };
        use crate::plan::django::Refused;
        let key = doc.key_pos(&format!("/django/extra/{name}"));
        let message = match (written.refused, written.spec) {
            (Refused::Field(reason), Some(pointer)) => format!(
                "{name} is written from `{}`, {reason}: set it there, not in extra",
                crate::explain::dotted(pointer)
            ),
            (Refused::Field(reason) | Refused::Site(reason), _) => {
                format!("sitewright writes {name} itself: {reason}; remove it from extra")
            }
            (Refused::No, _) => continue,
        };
        out.push(Diagnostic::error(key, message).rule(Rule::DJ009));
    }
    if let Some(header) = django.extra.get("SECURE_PROXY_SSL_HEADER")
        && let Some(fault) = proxy_ssl_header_fault(header)
    {
        let mut d = Diagnostic::error(
            doc.value_pos("/django/extra/SECURE_PROXY_SSL_HEADER"),
            fault,
        )
        .rule(Rule::DJ006);
        if site.nginx.as_ref().is_some_and(|n| n.https.is_some()) {
            d = d.also(doc.key_pos("/nginx/https"));
        }
        out.push(d);
    }
}

fn version(django: &crate::spec::Django, doc: &Document, out: &mut Vec<Diagnostic>) {
    let (major, minor) = DjangoRelease(&django.version).series();
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
            .rule(Rule::DJ010),
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
            .rule(Rule::DJ011),
        );
    }
}
