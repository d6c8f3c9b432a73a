//! Rules of nginx: the roles that need it, its versions, TLS and buffers.

use super::role_positions;
use crate::diagnostic::Diagnostic;
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{CacheProxy, Https, Nginx, Postgres, Role, SecretRef, Site};

pub(super) fn check(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    web(site, doc, out);
    static_folders(site, doc, out);
}

/// A file or folder of the spec that nginx must never serve: its path, what it is, and where the
/// spec names it. A folder (`inside` true) is private with everything in it.
struct Private {
    path: String,
    what: &'static str,
    pointer: String,
    inside: bool,
}

/// Whether `folder` is `path` or one of its parents.
fn holds(folder: &str, path: &str) -> bool {
    path == folder
        || path
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Private {
    fn new(path: &str, what: &'static str, pointer: impl Into<String>, inside: bool) -> Self {
        Self {
            path: path.trim_end_matches('/').to_owned(),
            what,
            pointer: pointer.into(),
            inside,
        }
    }
}

/// What the spec names that a static folder must not hold.
fn private_paths(site: &Site) -> Vec<Private> {
    let mut out = secret_files(site);
    if let Some(django) = &site.django {
        let settings = django.settings_file.as_str();
        let project = settings.rsplit_once('/').map_or("", |(dir, _)| dir);
        // The project's folder holds the settings module and usually the application's code.
        out.push(Private::new(
            if project.is_empty() {
                settings
            } else {
                project
            },
            "the Django project's folder (of django.settings_file)",
            "/django/settings_file",
            false,
        ));
    }
    if let Some(nginx) = &site.nginx {
        out.extend(tls_files(nginx));
    }
    if let Some(pg) = &site.postgres {
        out.extend(postgres_paths(pg));
    }
    out
}

/// The files the spec's secrets are read from.
fn secret_files(site: &Site) -> Vec<Private> {
    let mut secrets = Vec::new();
    if let Some(django) = &site.django {
        secrets.push((
            &django.secret_key,
            "the file Django's SECRET_KEY is read from",
            "/django/secret_key",
        ));
        secrets.push((
            &django.database.password,
            "the file the database password is read from",
            "/django/database/password",
        ));
    }
    if let Some(pg) = &site.postgres
        && let Some(replication) = &pg.replication
    {
        secrets.push((
            &replication.password,
            "the file the replication password is read from",
            "/postgres/replication/password",
        ));
    }
    secrets
        .into_iter()
        .filter_map(|(secret, what, pointer)| match secret {
            SecretRef::File(path) => Some(Private::new(
                path.as_str(),
                what,
                format!("{pointer}/file"),
                false,
            )),
            SecretRef::Env(_) => None,
        })
        .collect()
}

/// The certificates and keys of nginx's TLS servers.
fn tls_files(nginx: &Nginx) -> Vec<Private> {
    let servers = [
        nginx.https.as_ref().map(|h| (&h.tls, "/nginx/https/tls")),
        nginx
            .cache_proxy
            .as_ref()
            .map(|c| (&c.tls, "/nginx/cache_proxy/tls")),
    ];
    let mut out = Vec::new();
    for (tls, at) in servers.into_iter().flatten() {
        out.push(Private::new(
            tls.certificate.as_str(),
            "a TLS certificate",
            format!("{at}/certificate"),
            false,
        ));
        out.push(Private::new(
            tls.certificate_key.as_str(),
            "a TLS private key",
            format!("{at}/certificate_key"),
            false,
        ));
        if let Some(chain) = &tls.trusted_certificate {
            out.push(Private::new(
                chain.as_str(),
                "a TLS certificate",
                format!("{at}/trusted_certificate"),
                false,
            ));
        }
    }
    out
}

/// PostgreSQL's TLS files, and its data and configuration directories with all they hold.
fn postgres_paths(pg: &Postgres) -> Vec<Private> {
    let mut out = Vec::new();
    if let Some(ssl) = &pg.ssl {
        out.push(Private::new(
            ssl.cert.as_str(),
            "PostgreSQL's TLS certificate",
            "/postgres/ssl/cert",
            false,
        ));
        out.push(Private::new(
            ssl.key.as_str(),
            "PostgreSQL's TLS private key",
            "/postgres/ssl/key",
            false,
        ));
    }
    out.push(Private::new(
        pg.data_directory.as_str(),
        "PostgreSQL's data directory",
        "/postgres/data_directory",
        true,
    ));
    if let Some(config) = &pg.config_directory {
        out.push(Private::new(
            config.as_str(),
            "PostgreSQL's configuration directory",
            "/postgres/config_directory",
            true,
        ));
    }
    out
}

/// A static folder is served to anyone: it must hold none of the site's private files.
fn static_folders(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(https) = site.nginx.as_ref().and_then(|n| n.https.as_ref()) else {
        return;
    };
    let private = private_paths(site);
    let statics = https.static_locations.iter().enumerate().map(|(i, s)| {
        (
            s.url.as_str(),
            s.folder.as_str(),
            format!("/nginx/https/static_locations/{i}/folder"),
        )
    });
    let aliases = https.locations.iter().enumerate().filter_map(|(i, l)| {
        let folder = l.alias.as_ref()?;
        Some((
            l.url.as_str(),
            folder.as_str(),
            format!("/nginx/https/locations/{i}/alias"),
        ))
    });
    for (url, folder, pointer) in statics.chain(aliases) {
        let folder = folder.trim_end_matches('/');
        let pos = doc.value_pos(&pointer);
        let refuse = |message: String, private: &Private| {
            Diagnostic::error(pos, message)
                .rule(Rule::NGX014)
                .also(doc.value_pos(&private.pointer))
        };
        if folder.is_empty() {
            continue;
        }
        for p in &private {
            if holds(folder, &p.path) {
                out.push(refuse(
                    format!(
                        "nginx would serve everything under {folder}/ at {url}, and it holds {} {}: serve a folder of public files only",
                        p.what, p.path
                    ),
                    p,
                ));
            } else if p.inside && holds(&p.path, folder) {
                out.push(refuse(
                    format!(
                        "{folder} is inside {} {}: nginx would serve its files at {url}; serve a folder of public files only",
                        p.what, p.path
                    ),
                    p,
                ));
            }
        }
    }
}

fn web(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    for pos in role_positions(site, doc, Role::Web) {
        if site.nginx.as_ref().is_none_or(|n| n.https.is_none()) {
            out.push(
                Diagnostic::error(
                    pos,
                    "a web host needs `nginx.https`: the server in front of the application",
                )
                .rule(Rule::WEB001),
            );
        }
        if site.django.is_none() {
            out.push(
                Diagnostic::error(pos, "a web host needs a `django:` section").rule(Rule::WEB002),
            );
        }
    }
    let public_port = site
        .postgres
        .as_ref()
        .and_then(|p| p.replication.as_ref())
        .and_then(|r| r.public_port);
    let primary_needs_nginx =
        public_port.is_some() && site.hosts_with(Role::PostgresPrimary).next().is_some();
    for pos in role_positions(site, doc, Role::Proxy) {
        if site.nginx.as_ref().is_none_or(|n| n.cache_proxy.is_none()) {
            out.push(
                Diagnostic::error(
                    pos,
                    "a proxy host needs `nginx.cache_proxy`: the caching proxy it runs",
                )
                .rule(Rule::WEB003),
            );
        }
    }
    let nginx_needed = site.hosts_with(Role::Web).next().is_some()
        || site.hosts_with(Role::Proxy).next().is_some()
        || primary_needs_nginx;
    if primary_needs_nginx && site.nginx.is_none() {
        out.push(
            Diagnostic::error(
                doc.value_pos("/postgres/replication/public_port"),
                "nginx forwards this port, but the spec has no `nginx:` section for its version",
            )
            .rule(Rule::NGX002),
        );
    }
    if !nginx_needed && site.nginx.is_some() {
        out.push(
            Diagnostic::warning(
                doc.key_pos("/nginx"),
                "no host runs nginx: it needs a web or proxy host, or a forwarded PostgreSQL port",
            )
            .rule(Rule::NGX003),
        );
    }
    if let Some(nginx) = &site.nginx {
        nginx_versions(site, nginx, doc, out);
    }
}

/// What the spec's nginx and OpenSSL can serve, and what the TLS and buffer settings imply.
fn nginx_versions(site: &Site, nginx: &Nginx, doc: &Document, out: &mut Vec<Diagnostic>) {
    if !crate::versions::NginxVersion(&nginx.version).is_supported() {
        out.push(
            Diagnostic::error(
                doc.value_pos("/nginx/version"),
                format!(
                    "sitewright writes for nginx 1.18 and later, not {}",
                    nginx.version
                ),
            )
            .rule(Rule::NGX008),
        );
    }
    known_build(nginx, doc, out);
    tls_servers(nginx, doc, out);
    if let Some(proxy) = &nginx.cache_proxy {
        harmless_cookies(proxy, doc, out);
    }
    if let Some(https) = &nginx.https {
        proxy_buffers(https, doc, out);
        buffer_memory(site, https, doc, out);
    }
}

/// The TLS settings of each nginx server: the profile, the OpenSSL it needs, stapling, HSTS.
fn tls_servers(nginx: &Nginx, doc: &Document, out: &mut Vec<Diagnostic>) {
    let servers = [
        ("https", nginx.https.as_ref().map(|h| &h.tls)),
        ("cache_proxy", nginx.cache_proxy.as_ref().map(|p| &p.tls)),
    ];
    for (section, tls) in servers {
        let Some(tls) = tls else { continue };
        let at = |key: &str| doc.value_pos(&format!("/nginx/{section}/tls/{key}"));
        if tls.profile == crate::spec::TlsProfile::Old {
            out.push(
                Diagnostic::error(
                    at("profile"),
                    "Mozilla's server-side TLS guidelines 6.0 removed the old profile: it needs TLS 1.0 and 1.1, which current browsers and OpenSSL 3 refuse; use intermediate (TLS 1.2 and 1.3)",
                )
                .rule(Rule::NGX004),
            );
        }
        if !crate::versions::OpenSsl(&nginx.openssl).has_tls13() {
            out.push(
                Diagnostic::error(
                    doc.value_pos("/nginx/openssl"),
                    format!("both TLS profiles offer TLS 1.3, which needs OpenSSL 1.1.1 or later, not {}", nginx.openssl),
                )
                .rule(Rule::NGX005),
            );
        }
        if tls.ocsp_stapling && tls.trusted_certificate.is_none() {
            out.push(
                Diagnostic::error(
                    at("ocsp_stapling"),
                    "OCSP stapling verifies responses with `trusted_certificate`, the issuer's chain: add it",
                )
                .rule(Rule::NGX006),
            );
        }
        hsts_age(&tls.hsts, at("hsts/max_age"), out);
        if tls.ocsp_stapling && tls.resolver.is_empty() {
            out.push(
                Diagnostic::error(
                    at("ocsp_stapling"),
                    "OCSP stapling looks up the responder's name, and nginx has no resolver unless told: add `resolver: [ADDRESS]`, the DNS servers to ask",
                )
                .rule(Rule::NGX011),
            );
        }
    }
}

/// The session cookie marks a logged-in user, so it can never be harmless (NGX013).
fn harmless_cookies(proxy: &CacheProxy, doc: &Document, out: &mut Vec<Diagnostic>) {
    for (i, cookie) in proxy.harmless_cookies.iter().enumerate() {
        if cookie.0 == proxy.session_cookie {
            out.push(
                    Diagnostic::error(
                        doc.value_pos(&format!("/nginx/cache_proxy/harmless_cookies/{i}")),
                        format!(
                            "`{}` is the session cookie, which always bypasses the cache: a logged-in user's pages must never be stored; remove it from `harmless_cookies`",
                            cookie.0
                        ),
                    )
                    .rule(Rule::NGX013),
                );
        }
    }
}

/// Proxy buffers for the expected connections against a tenth of each web host's memory (NGX007).
fn buffer_memory(site: &Site, https: &Https, doc: &Document, out: &mut Vec<Diagnostic>) {
    let need = https.proxy_buffers.total() * u64::from(https.expected_connections);
    for host in site.hosts_with(Role::Web) {
        if need > host.memory.bytes() / 10 {
            out.push(
                    Diagnostic::warning(
                        doc.key_pos("/nginx/https/proxy_buffers"),
                        format!(
                            "proxy buffers of {} per connection for {} connections take {}, more than a tenth of {}'s {}",
                            crate::units::ByteSize::from_bytes(https.proxy_buffers.total()),
                            https.expected_connections,
                            crate::units::ByteSize::from_bytes(need),
                            host.name,
                            host.memory
                        ),
                    )
                    .rule(Rule::NGX007),
                );
        }
    }
}

type MajorMinor = (u32, u32);

/// nginx and OpenSSL (major.minor) as distributions build them. The spec names both and the TLS
/// groups follow `openssl`, so a pair no build has is most likely a slip that the host's nginx
/// refuses at start (Debian 12's 1.22 with X25519MLKEM768, which needs OpenSSL 3.5).
const KNOWN_BUILDS: &[(&str, MajorMinor, MajorMinor)] = &[
    ("Debian 11", (1, 18), (1, 1)),
    ("Debian 12", (1, 22), (3, 0)),
    ("Debian 13", (1, 26), (3, 5)),
    ("Ubuntu 20.04", (1, 18), (1, 1)),
    ("Ubuntu 22.04", (1, 18), (3, 0)),
    ("Ubuntu 24.04", (1, 24), (3, 0)),
    ("RHEL 9", (1, 20), (3, 0)),
    ("RHEL 9", (1, 22), (3, 0)),
    ("RHEL 9", (1, 24), (3, 0)),
];

fn known_build(nginx: &Nginx, doc: &Document, out: &mut Vec<Diagnostic>) {
    let major_minor = |v: &crate::spec::Version| {
        let (major, minor, _) = v.parts();
        (major, minor)
    };
    let pair = (major_minor(&nginx.version), major_minor(&nginx.openssl));
    if KNOWN_BUILDS.iter().any(|(_, n, o)| (*n, *o) == pair) {
        return;
    }
    // One entry a distribution: "RHEL 9: 1.20, 1.22 or 1.24 with 3.0".
    let mut builds: Vec<(&str, Vec<String>, MajorMinor)> = Vec::new();
    for (name, n, o) in KNOWN_BUILDS {
        let version = format!("{}.{}", n.0, n.1);
        match builds.last_mut() {
            Some((last, versions, openssl)) if last == name && openssl == o => {
                versions.push(version)
            }
            _ => builds.push((name, vec![version], *o)),
        }
    }
    let builds: Vec<String> = builds
        .iter()
        .map(|(name, versions, o)| {
            let versions = match versions.split_last() {
                Some((last, [])) => last.clone(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            };
            format!("{name}: {versions} with {}.{}", o.0, o.1)
        })
        .collect();
    out.push(
        Diagnostic::warning(
            doc.value_pos("/nginx/openssl"),
            format!(
                "no known distribution builds nginx {}.{} with OpenSSL {}.{}; `nginx -V` on the hosts says which OpenSSL theirs uses, and the TLS groups written follow this value (known builds: {})",
                pair.0.0,
                pair.0.1,
                pair.1.0,
                pair.1.1,
                builds.join("; ")
            ),
        )
        .rule(Rule::NGX010),
    );
}

/// nginx refuses to start unless proxy_busy_buffers_size is at least the larger of
/// proxy_buffer_size and one of proxy_buffers, and at most all proxy_buffers but one; the plan
/// writes a value between the two, so here the two bounds must not cross. Both buffers must also
/// fit in proxy_max_temp_file_size, left at nginx's 1024m.
fn proxy_buffers(https: &crate::spec::Https, doc: &Document, out: &mut Vec<Diagnostic>) {
    use crate::spec::PROXY_MAX_TEMP_FILE_SIZE;
    use crate::units::ByteSize;
    let written = |key: &str| doc.value.pointer(&format!("/nginx/https/{key}")).is_some();
    let buffers = &https.proxy_buffers;
    let (header, one) = (https.proxy_buffer_size.bytes(), buffers.size.bytes());
    if header.max(one) > PROXY_MAX_TEMP_FILE_SIZE {
        let key = if header >= one {
            "proxy_buffer_size"
        } else {
            "proxy_buffers/size"
        };
        out.push(
            Diagnostic::error(
                doc.value_pos(&format!("/nginx/https/{key}")),
                format!(
                    "nginx refuses a proxy buffer larger than proxy_max_temp_file_size, 1GB by default: write 1GB or less, not {}",
                    ByteSize::from_bytes(header.max(one))
                ),
            )
            .rule(Rule::NGX009),
        );
        return;
    }
    let room = buffers.all_but_one();
    if header <= room {
        return;
    }
    let count = header.div_ceil(one) + 1;
    let message = format!(
        "nginx needs proxy_busy_buffers_size at least proxy_buffer_size ({}) and at most all proxy_buffers but one ({} × {} = {}), so no value fits: write `count: {count}` or more in proxy_buffers, or `proxy_buffer_size: {}` or less",
        https.proxy_buffer_size,
        buffers.count - 1,
        buffers.size,
        ByteSize::from_bytes(room),
        ByteSize::from_bytes(room),
    );
    let at = if written("proxy_buffers") || !written("proxy_buffer_size") {
        doc.value_pos("/nginx/https/proxy_buffers/count")
    } else {
        doc.value_pos("/nginx/https/proxy_buffer_size")
    };
    out.push(Diagnostic::error(at, message).rule(Rule::NGX009));
}

/// HSTS kept too briefly protects little: browsers forget it, and the preload lists refuse it.
fn hsts_age(hsts: &crate::spec::Hsts, at: crate::diagnostic::Pos, out: &mut Vec<Diagnostic>) {
    const DAY: u64 = 86_400;
    let (least, why) = if hsts.preload {
        (
            365 * DAY,
            "the browsers' preload lists take a site only with a max_age of a year or more",
        )
    } else {
        (
            182 * DAY + DAY / 2,
            "browsers forget HSTS after max_age, and a first visit after that is open to a downgrade; six months is the least that is commonly advised",
        )
    };
    let age = hsts.max_age.whole_secs().unwrap_or(0);
    if age < least {
        out.push(
            Diagnostic::warning(
                at,
                format!(
                    "HSTS max_age is {}: {why}; Mozilla's guidelines give 730d",
                    hsts.max_age
                ),
            )
            .rule(Rule::NGX012),
        );
    }
}
