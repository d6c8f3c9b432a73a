//! The nginx part of `import`: the stream forward in front of the primary, the HTTPS server of
//! a web host and the caching proxy of a public site, read back into `nginx` and the fields of
//! other sections they give (`postgres.replication.public_port`). The section is rendered again
//! and compared with the live files, so that whatever the spec does not say is named.

mod compare;
mod invert;
mod syntax;

use std::collections::{BTreeMap, BTreeSet};

use super::{HostTree, Known, Map, Node, Note, Part};
use invert::{Place, Versions};
use syntax::Directive;

/// Where each layout's nginx.conf loads the stream module from (src/plan/nginx/mod.rs).
const DEBIAN_MODULE: &str = "/etc/nginx/modules-enabled/50-mod-stream.conf";
const RHEL_MODULE: &str = "/usr/share/nginx/modules/mod-stream.conf";

/// What one file turned out to be.
enum Kind {
    /// The load_module line of the stream module.
    Module,
    /// A `stream {}` block, at main level.
    Stream,
    /// An HTTPS server in front of an application.
    Https,
    /// The caching proxy.
    Cache,
    /// Directives only, inside http {} (conf.d/SITE-http.conf).
    HttpDirectives,
}

/// One nginx file of a host, parsed.
struct File<'a> {
    host: &'a str,
    path: &'a str,
    text: &'a str,
    top: Vec<Directive>,
    kind: Kind,
}

/// Whether nginx reads `path` as configuration sitewright may have written.
fn is_nginx(path: &str) -> bool {
    path.starts_with("/etc/nginx/") || path == RHEL_MODULE
}

/// Files nginx includes inside http {}: a server there is the site's.
fn in_http(path: &str) -> bool {
    (path.starts_with("/etc/nginx/conf.d/") || path.starts_with("/etc/nginx/sites-enabled/"))
        && !path.ends_with('/')
}

fn classify(path: &str, top: &[Directive]) -> Option<Kind> {
    let module = top.len() == 1
        && top[0].name == "load_module"
        && top[0]
            .arg(0)
            .is_some_and(|m| m.ends_with("ngx_stream_module.so"));
    if module {
        return Some(Kind::Module);
    }
    if invert::first(top, "stream").is_some() && !path.ends_with("/nginx.conf") {
        return Some(Kind::Stream);
    }
    if !in_http(path) {
        return None;
    }
    if invert::first(top, "proxy_cache_path").is_some() && invert::front(top).is_some() {
        return Some(Kind::Cache);
    }
    if invert::front(top).is_some() {
        return Some(Kind::Https);
    }
    let plain = !top.is_empty() && top.iter().all(|d| d.block.is_none());
    plain.then_some(Kind::HttpDirectives)
}

/// The site's name as sitewright names the file: conf.d/SITE.conf, SITE-cache.conf,
/// SITE-http.conf.
fn site_of(path: &str, kind: &Kind) -> Option<String> {
    let name = path.rsplit('/').next()?.strip_suffix(".conf")?;
    let name = match kind {
        Kind::Cache => name.strip_suffix("-cache").unwrap_or(name),
        Kind::HttpDirectives => name.strip_suffix("-http").unwrap_or(name),
        _ => name,
    };
    (!name.is_empty()).then(|| name.to_owned())
}

/// The nginx version and OpenSSL the servers' lines show, each with why: every release in a
/// range writes the same lines, so the one given is a guess within it.
fn versions(seen: Versions) -> ((&'static str, String), (&'static str, String)) {
    let nginx = match (seen.http2_directive, seen.tickets_off) {
        (Some(true), _) => (
            "1.26",
            "`http2 on;`: nginx 1.25.1 or later; 1.26 is Debian 13's and RHEL 10's".to_owned(),
        ),
        (Some(false), Some(true)) => (
            "1.22",
            "`listen … http2` and `ssl_session_tickets off`: nginx 1.18 to 1.23.1; 1.22 is Debian 12's".to_owned(),
        ),
        (Some(false), _) => (
            "1.24",
            "`listen … http2` without `ssl_session_tickets off`: nginx 1.23.2 to 1.25.0; 1.24 is Ubuntu 24.04's".to_owned(),
        ),
        (None, _) => (
            "1.22",
            "no line says which (http2, ssl_session_tickets): Debian 12's nginx".to_owned(),
        ),
    };
    let openssl = match seen.mlkem {
        Some(true) => (
            "3.5",
            "X25519MLKEM768 among ssl_ecdh_curve's groups: OpenSSL 3.5 or later".to_owned(),
        ),
        Some(false) => (
            "3.0",
            "no X25519MLKEM768 among ssl_ecdh_curve's groups: OpenSSL 1.1.1 to 3.4; 3.0 is Debian 12's"
                .to_owned(),
        ),
        // The OpenSSL of the distribution whose nginx was guessed, so the pair is a build.
        None if nginx.0 == "1.26" => (
            "3.5",
            "no HTTPS server's groups say which: Debian 13's OpenSSL, beside its nginx 1.26"
                .to_owned(),
        ),
        None => (
            "3.0",
            "no HTTPS server's groups say which: Debian 12's OpenSSL".to_owned(),
        ),
    };
    (nginx, openssl)
}

/// The layout, from where the stream module is loaded, else from the paths of RHEL and its
/// rebuilds (/etc/pki, /var/lib/pgsql) among the hosts' files and the certificates.
fn layout(hosts: &[HostTree], certificates: &[String]) -> (&'static str, String) {
    for host in hosts {
        if host.files.contains_key(RHEL_MODULE) {
            return (
                "rhel",
                format!("{}{RHEL_MODULE} loads the stream module", host.name),
            );
        }
        if host.files.contains_key(DEBIAN_MODULE) {
            return (
                "debian",
                format!("{}{DEBIAN_MODULE} loads the stream module", host.name),
            );
        }
    }
    let rhel_path = |p: &str| p.starts_with("/etc/pki/") || p.starts_with("/var/lib/pgsql/");
    if let Some(cert) = certificates.iter().find(|c| rhel_path(c)) {
        return (
            "rhel",
            format!("the certificate {cert} is in RHEL's /etc/pki; no stream module file says"),
        );
    }
    if let Some((host, path)) = hosts
        .iter()
        .find_map(|h| h.files.keys().find(|p| rhel_path(p)).map(|p| (&h.name, p)))
    {
        return (
            "rhel",
            format!("{host}{path} is in RHEL's layout; no stream module file says"),
        );
    }
    (
        "debian",
        "no file says otherwise: Debian's layout, the default".to_owned(),
    )
}

/// nginx's table's verdict on a directive of the site's own, at `place`, for `version`.
fn judge(
    version: &crate::spec::Version,
    layout: &str,
    defined: &[String],
) -> impl Fn(Place, &Directive) -> Option<String> {
    let layout = if layout == "rhel" {
        crate::spec::NginxLayout::Rhel
    } else {
        crate::spec::NginxLayout::Debian
    };
    move |place: Place, d: &Directive| {
        use crate::nginx_directives::Level;
        use crate::plan::{LocationKind, Place as Written};
        let (level, written) = match place {
            Place::Http => (Level::Http, Written::Http(layout)),
            Place::HttpsServer => (Level::Server, Written::HttpsServer),
            Place::CacheServer => (Level::Server, Written::CacheServer),
            Place::Location { app, servers } => (
                Level::Location,
                Written::Location(if app {
                    LocationKind::App
                } else if servers {
                    LocationKind::Servers
                } else {
                    LocationKind::Other
                }),
            ),
            Place::Stream => (Level::Stream, Written::Stream),
            Place::StreamServer => (Level::StreamServer, Written::StreamServer),
        };
        if let Some(w) = crate::plan::written_at(written)
            .into_iter()
            .find(|w| w.name == d.name)
        {
            return Some(format!(
                "sitewright writes `{}` there itself (from {})",
                d.name, w.field
            ));
        }
        if d.args.iter().any(|a| a.contains(|c: char| c.is_control())) {
            return Some("an argument holds a control character".to_owned());
        }
        let args: Vec<&str> = d.args.iter().map(String::as_str).collect();
        let defined: Vec<&str> = defined.iter().map(String::as_str).collect();
        crate::nginx_directives::check(version, level, &d.name, &args, &defined)
            .err()
            .map(|p| format!("`sitewright check` would refuse it: {p}"))
    }
}

/// The variables a file defines itself (`map … $name`, `set $name`), which nginx's table cannot
/// know.
fn defined(top: &[Directive], out: &mut Vec<String>) {
    for d in top {
        let var = match d.name.as_str() {
            "map" | "geo" => d.arg(1),
            "set" => d.arg(0),
            _ => None,
        };
        if let Some(v) = var.and_then(|v| v.strip_prefix('$')) {
            out.push(v.trim_matches(|c| c == '{' || c == '}').to_owned());
        }
        defined(d.children(), out);
    }
}

pub(super) fn import(hosts: &[HostTree], known: &Known, notes: &mut Vec<Note>) -> Part {
    let mut part = Part::default();
    let mut files = Vec::new();
    for host in hosts {
        for (path, text) in host.files.iter().filter(|(p, _)| is_nginx(p)) {
            let top = match syntax::parse(text) {
                Ok(top) => top,
                Err(e) => {
                    notes.push(Note {
                        at: format!("{}{path}", host.name),
                        text: format!("not imported: nginx would not read it ({e})"),
                    });
                    part.read.insert((host.name.clone(), path.clone()));
                    continue;
                }
            };
            if let Some(kind) = classify(path, &top) {
                files.push(File {
                    host: &host.name,
                    path,
                    text,
                    top,
                    kind,
                });
            }
        }
    }
    if files.is_empty() {
        return part;
    }

    // The versions first: which directives the spec may carry depends on them.
    let mut seen = Versions::default();
    let mut certificates = Vec::new();
    for file in files
        .iter()
        .filter(|f| matches!(f.kind, Kind::Https | Kind::Cache))
    {
        if let Some(front) = invert::front(&file.top) {
            let mut scratch = Map::new();
            let v = invert::read_front(&front, &mut scratch);
            seen.http2_directive = seen.http2_directive.or(v.http2_directive);
            seen.tickets_off = seen.tickets_off.or(v.tickets_off);
            seen.mlkem = seen.mlkem.or(v.mlkem);
            if let Some(c) =
                invert::first(front.server.children(), "ssl_certificate").and_then(|c| c.arg(0))
            {
                certificates.push(c.to_owned());
            }
        }
    }
    let ((nginx_version, nginx_why), (openssl, openssl_why)) = versions(seen);
    let (layout_name, layout_why) = layout(hosts, &certificates);
    let version = crate::spec::Version::new(nginx_version).ok();
    let mut vars = Vec::new();
    for file in &files {
        defined(&file.top, &mut vars);
    }
    let judge_fn = version.as_ref().map(|v| judge(v, layout_name, &vars));
    let accept_all = |_: Place, _: &Directive| None;
    let judge: invert::Judge<'_> = match &judge_fn {
        Some(f) => f,
        None => &accept_all,
    };

    let mut section = Map::new();
    section
        .guess("version", Node::text(nginx_version), nginx_why)
        .guess("openssl", Node::text(openssl), openssl_why)
        .guess("layout", Node::text(layout_name), layout_why);
    let mut site = None;
    let mut refused: Vec<(String, &Directive, String)> = Vec::new();
    let mut sources: BTreeSet<(String, String)> = BTreeSet::new();
    let mut public_port = None;
    let mut allowed = Vec::new();
    let mut stream_forwards = Vec::new();
    let mut stream_directives = Vec::new();
    let mut http_directives = Vec::new();
    let postgres_targets: Vec<String> = known
        .postgres_port
        .map(|port| {
            let mut t = vec![format!("127.0.0.1:{port}"), format!("localhost:{port}")];
            if let Some(a) = known.primary.as_ref().and_then(|p| known.addresses.get(p)) {
                t.push(format!("{a}:{port}"));
            }
            t
        })
        .unwrap_or_default();

    for file in &files {
        let at = format!("{}{}", file.host, file.path);
        match file.kind {
            Kind::Module => {
                sources.insert((file.host.to_owned(), file.path.to_owned()));
            }
            Kind::Stream => {
                if known.primary.as_deref() != Some(file.host) {
                    notes.push(Note {
                        at,
                        text: "not imported: the spec writes a stream block on the PostgreSQL primary only, and this host is not it".to_owned(),
                    });
                    part.read
                        .insert((file.host.to_owned(), file.path.to_owned()));
                    continue;
                }
                for block in invert::all(&file.top, "stream") {
                    let s = invert::stream(block, &postgres_targets, judge);
                    // The forwards listen on the primary's own address, which its PostgreSQL
                    // files need not name (it listens on loopback behind the forward).
                    if let Some(address) = &s.own_address
                        && known.addresses.get(file.host) != Some(address)
                    {
                        part.addresses.entry(file.host.to_owned()).or_insert((
                            address.clone(),
                            "the stream forward's listen line, on the primary's own address"
                                .to_owned(),
                        ));
                    }
                    if s.public_port.is_some() && public_port.is_none() {
                        public_port = s.public_port;
                        allowed = s.allowed;
                    }
                    stream_forwards.extend(s.forwards);
                    stream_directives
                        .extend(s.directives.iter().map(|d| invert::directive_node(d)));
                    refused.extend(s.refused.into_iter().map(|(d, w)| (at.clone(), d, w)));
                }
                for d in file.top.iter().filter(|d| d.name != "stream") {
                    notes.push(Note {
                        at: at.clone(),
                        text: format!("line {}: `{}` is outside stream {{}}: the spec writes nothing else in this file, it is lost", d.line, d.text()),
                    });
                }
                sources.insert((file.host.to_owned(), file.path.to_owned()));
            }
            Kind::Https => {
                let key = (file.host.to_owned(), file.path.to_owned());
                if section.get("https").is_some() {
                    // A second web host renders from the same section: the comparison below
                    // names where its file differs, and its own name is said here, as only
                    // its entry of hosts: can give it.
                    let own = invert::front(&file.top)
                        .and_then(|f| invert::first(f.server.children(), "server_name"))
                        .and_then(|d| d.arg(0));
                    let shared = match section.get("https") {
                        Some(Node::Map(h)) => match h.get("server_name") {
                            Some(Node::Text(name)) => Some(name.as_str()),
                            _ => None,
                        },
                        _ => None,
                    };
                    // A read-only mirror's own name is its entry's `server_name`.
                    if let Some(own) = own
                        && shared != Some(own)
                    {
                        part.host_values
                            .entry(file.host.to_owned())
                            .or_default()
                            .push(("server_name", Node::text(own)));
                    }
                    add_role(&mut part, &key.0, "web");
                    sources.insert(key);
                    continue;
                }
                let Some(read) = invert::https(&file.top, judge) else {
                    notes.push(Note {
                        at,
                        text: "not imported: its HTTPS server passes `location /` to no address and port, which the spec's https section needs".to_owned(),
                    });
                    part.read.insert(key);
                    continue;
                };
                add_role(&mut part, &key.0, "web");
                sources.insert(key);
                site = site.or_else(|| site_of(file.path, &file.kind));
                section.set("https", Node::Map(read.section));
                refused.extend(read.refused.into_iter().map(|(d, w)| (at.clone(), d, w)));
                for l in read.skipped {
                    notes.push(Note {
                        at: at.clone(),
                        text: format!("line {}: `location {}` is not imported: the spec's locations are URL prefixes it can name (`location /prefix`, no segment starting with `.`), and `location /` is the application's", l.line, l.args.join(" ")),
                    });
                }
            }
            Kind::Cache => {
                let key = (file.host.to_owned(), file.path.to_owned());
                if section.get("cache_proxy").is_some() {
                    add_role(&mut part, &key.0, "proxy");
                    sources.insert(key);
                    continue;
                }
                let Some(read) = invert::cache_proxy(&file.top, judge) else {
                    notes.push(Note {
                        at,
                        text: "not imported: its caching proxy passes `location /` to no address and port, or keeps its cache in a folder the spec cannot name".to_owned(),
                    });
                    part.read.insert(key);
                    continue;
                };
                add_role(&mut part, &key.0, "proxy");
                sources.insert(key);
                site = site.or_else(|| site_of(file.path, &file.kind));
                section.set("cache_proxy", Node::Map(read.section));
                refused.extend(read.refused.into_iter().map(|(d, w)| (at.clone(), d, w)));
            }
            // After the servers, which say the site's name: see below.
            Kind::HttpDirectives => {}
        }
    }
    // The spec writes its http directives as conf.d/SITE-http.conf: that file is the one read
    // when there is one, any other such file is compared with nothing and named as lost.
    let http_files: Vec<&File<'_>> = files
        .iter()
        .filter(|f| matches!(f.kind, Kind::HttpDirectives))
        .collect();
    let own = http_files
        .iter()
        .find(|f| site.is_some() && site_of(f.path, &f.kind) == site)
        .or_else(|| http_files.first());
    if let Some(file) = own {
        let at = format!("{}{}", file.host, file.path);
        for d in &file.top {
            match judge(Place::Http, d) {
                Some(why) => refused.push((at.clone(), d, why)),
                None => http_directives.push(invert::directive_node(d)),
            }
        }
    }
    for file in &http_files {
        sources.insert((file.host.to_owned(), file.path.to_owned()));
    }
    if !stream_forwards.is_empty() {
        section.set("stream", Node::Seq(stream_forwards));
    }
    if !http_directives.is_empty() {
        section.set("http_directives", Node::Seq(http_directives));
    }
    if !stream_directives.is_empty() {
        section.set("stream_directives", Node::Seq(stream_directives));
    }
    for (at, d, why) in &refused {
        notes.push(Note {
            at: at.clone(),
            text: format!("line {}: `{}` is not in the spec: {why}", d.line, d.text()),
        });
    }
    allow_notes(known, &allowed, hosts, &mut part, notes);

    let site = site
        .or_else(|| {
            files
                .iter()
                .filter(|f| matches!(f.kind, Kind::HttpDirectives))
                .find_map(|f| site_of(f.path, &f.kind))
        })
        .unwrap_or_else(|| "site".to_owned());
    compare::compare(
        &compare::Verify {
            site: &site,
            section: &section,
            known,
            roles: &part.roles,
            public_port,
            allowed: &allowed,
        },
        &files
            .iter()
            .filter(|f| sources.contains(&(f.host.to_owned(), f.path.to_owned())))
            .map(|f| ((f.host.to_owned(), f.path.to_owned()), f.text))
            .collect(),
        hosts,
        notes,
    );
    part.read.extend(sources);
    // A version and layout alone write nothing: no section, rather than one that says nothing.
    let says_something = public_port.is_some()
        || [
            "https",
            "cache_proxy",
            "stream",
            "http_directives",
            "stream_directives",
        ]
        .iter()
        .any(|k| section.get(k).is_some());
    if !says_something {
        return part;
    }
    part.values.push((vec!["nginx"], Node::Map(section)));
    if let Some(port) = public_port {
        part.values.push((
            vec!["postgres", "replication", "public_port"],
            Node::Int(port),
        ));
    }
    part
}

fn add_role(part: &mut Part, host: &str, role: &'static str) {
    let roles = part.roles.entry(host.to_owned()).or_default();
    if !roles.contains(&role) {
        roles.push(role);
    }
}

/// The stream forward's `allow` lines, which the spec derives from the replicas' and web hosts'
/// addresses: an address no PostgreSQL host has must be a web host's, which only `hosts:` says.
fn allow_notes(
    known: &Known,
    allowed: &[String],
    hosts: &[HostTree],
    part: &mut Part,
    notes: &mut Vec<Note>,
) {
    let Some(primary) = known.primary.as_deref() else {
        return;
    };
    let at = format!("{primary}/etc/nginx/sitewright-stream.conf");
    let by_address: BTreeMap<&str, &str> = known
        .addresses
        .iter()
        .map(|(h, a)| (a.as_str(), h.as_str()))
        .collect();
    let web: Vec<&str> = hosts
        .iter()
        .map(|h| h.name.as_str())
        .filter(|h| part.roles.get(*h).is_some_and(|r| r.contains(&"web")))
        .collect();
    let unknown: Vec<&String> = allowed
        .iter()
        .filter(|a| !by_address.contains_key(a.as_str()))
        .collect();
    // One web host and one address no PostgreSQL host has: it is the web host's.
    if let ([address], [host]) = (unknown.as_slice(), web.as_slice()) {
        part.addresses.insert(
            (*host).to_owned(),
            (
                (*address).clone(),
                "the stream forward's allow line that no PostgreSQL host has".to_owned(),
            ),
        );
    } else {
        for address in unknown {
            notes.push(Note {
                at: at.clone(),
                text: format!(
                    "`allow {address}`: no PostgreSQL host has this address, and the spec allows the replicas' and web hosts' addresses: give it to the web host it belongs to in hosts:{}",
                    if web.is_empty() {
                        " (no web host was found)".to_owned()
                    } else {
                        format!(" ({})", web.join(", "))
                    }
                ),
            });
        }
    }
    for (host, address) in &known.addresses {
        if host != primary && !allowed.is_empty() && !allowed.contains(address) {
            notes.push(Note {
                at: at.clone(),
                text: format!(
                    "the spec allows {address} ({host}) too, which the live file does not"
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests;
