//! The spec's nginx fields read back from the directives sitewright's templates write: each
//! function here is the inverse of one part of src/plan/nginx. What it cannot place in a field is
//! not dropped here: the render of the result is compared with the live file afterwards, and
//! each difference is named there.

use super::syntax::Directive;
use crate::import::{Map, Node};

/// The spec's own patterns for a location's URL, a header's name and a rate
/// (src/spec/location.rs, whose constants are private to the spec).
const LOCATION_URL: &str = r"^((/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?|/)$";
const HEADER_NAME: &str = r"^[A-Za-z0-9][A-Za-z0-9-]*$";
const RATE: &str = r"^[1-9][0-9]{0,6}r/[sm]$";

/// Whether the spec's schema takes `text` for a value of `pattern`: a value it refuses would
/// make the whole spec fail to load, so it is left out (and the comparison names the loss).
pub(super) fn fits(pattern: &str, text: &str) -> bool {
    // The schema's own engine, so that a pattern means here what it means to `check`.
    let schema = serde_json::json!({ "type": "string", "pattern": pattern });
    jsonschema::validator_for(&schema)
        .is_ok_and(|v| v.is_valid(&serde_json::Value::String(text.to_owned())))
}

fn path_fits(text: &str) -> bool {
    fits(crate::spec::scalar::ABS_PATH_PATTERN, text)
        && !fits(crate::spec::scalar::DOT_SEGMENT_PATTERN, text)
}

/// The directives of a block with that name, in order.
pub(super) fn all<'a>(list: &'a [Directive], name: &'a str) -> impl Iterator<Item = &'a Directive> {
    list.iter().filter(move |d| d.name == name)
}

pub(super) fn first<'a>(list: &'a [Directive], name: &str) -> Option<&'a Directive> {
    list.iter().find(|d| d.name == name)
}

/// The first argument of the first `name` directive.
fn arg<'a>(list: &'a [Directive], name: &str) -> Option<&'a str> {
    first(list, name).and_then(|d| d.arg(0))
}

/// An nginx size (`512k`, `100m`, `1g`, bare bytes) in bytes.
pub(super) fn nginx_bytes(text: &str) -> Option<u64> {
    let (digits, factor) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&text[..i], 1 << 20),
        (i, 'g' | 'G') => (&text[..i], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

/// A size as the spec writes it: it renders back as nginx's shortest form of the same bytes.
pub(super) fn spec_size(bytes: u64) -> String {
    for (unit, factor) in [
        ("TB", 1u64 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("kB", 1 << 10),
    ] {
        if bytes != 0 && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

/// An nginx time (`30d`, `10m`, `500ms`, `1h30m`, bare seconds) in milliseconds.
pub(super) fn nginx_millis(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return secs.checked_mul(1000);
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest.get(..digits)?.parse().ok()?;
        rest = &rest[digits..];
        let (factor, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            let factor = match rest.chars().next()? {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => 86_400_000,
                'w' => 7 * 86_400_000,
                'M' => 30 * 86_400_000,
                'y' => 365 * 86_400_000,
                _ => return None,
            };
            (factor, 1)
        };
        rest = &rest[len..];
        total = total.checked_add(n.checked_mul(factor)?)?;
    }
    Some(total)
}

/// A duration as the spec writes it: the largest of its units that divides it evenly.
pub(super) fn spec_duration(millis: u64) -> String {
    for (unit, factor) in [
        ("d", 86_400_000u64),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ] {
        if millis != 0 && millis.is_multiple_of(factor) {
            return format!("{}{unit}", millis / factor);
        }
    }
    format!("{millis}ms")
}

fn duration_node(text: &str) -> Option<Node> {
    nginx_millis(text).map(|ms| Node::text(spec_duration(ms)))
}

fn size_node(text: &str) -> Option<Node> {
    nginx_bytes(text).map(|b| Node::text(spec_size(b)))
}

/// `listen`'s address and port: `443`, `10.0.0.1:443`, `[::1]:443`, `*:443`.
pub(super) fn listen_parts(text: &str) -> Option<(Option<String>, u16)> {
    if let Ok(port) = text.parse() {
        return Some((None, port));
    }
    let (address, port) = text.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let address = address.trim_start_matches('[').trim_end_matches(']');
    if address == "*" {
        return Some((None, port));
    }
    Some((Some(address.to_owned()), port))
}

/// What the HTTPS servers of a file say about the nginx and OpenSSL versions that wrote them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Versions {
    /// `http2 on;` (1.25.1 and later) rather than `listen … http2`.
    pub(super) http2_directive: Option<bool>,
    /// `ssl_session_tickets off;`, written for nginx 1.5.9 to 1.23.1.
    pub(super) tickets_off: Option<bool>,
    /// X25519MLKEM768 among the groups: OpenSSL 3.5 and later.
    pub(super) mlkem: Option<bool>,
}

/// The redirect server and the HTTPS server of a file: the one that `return`s a redirect, and
/// the one that listens with `ssl`.
pub(super) struct Front<'a> {
    pub(super) redirect: Option<&'a Directive>,
    pub(super) server: &'a Directive,
}

pub(super) fn is_tls_server(server: &Directive) -> bool {
    all(server.children(), "listen").any(|l| l.args.iter().any(|a| a == "ssl"))
}

pub(super) fn front<'a>(top: &'a [Directive]) -> Option<Front<'a>> {
    let servers: Vec<&Directive> = all(top, "server").collect();
    let server = servers.iter().copied().find(|s| is_tls_server(s))?;
    let redirect = servers.iter().copied().find(|s| {
        !is_tls_server(s)
            && first(s.children(), "return").is_some()
            && first(s.children(), "location").is_none()
    });
    Some(Front { redirect, server })
}

/// `listen`, `server_name` and `tls` of a server, into `section`; the versions its lines show.
pub(super) fn read_front(front: &Front<'_>, section: &mut Map) -> Versions {
    let body = front.server.children();
    let mut versions = Versions::default();
    if let Some(name) = arg(body, "server_name")
        && fits(crate::spec::scalar::DNS_NAME_PATTERN, name)
    {
        section.set("server_name", Node::text(name));
    }
    let mut listen = Map::new();
    if let Some(l) = first(body, "listen")
        && let Some((address, port)) = l.arg(0).and_then(listen_parts)
    {
        // `listen … http2` is the older syntax; a listen without it says nothing.
        if l.args.iter().any(|a| a == "http2") {
            versions.http2_directive = Some(false);
        }
        if let Some(address) = address.filter(|a| a.parse::<std::net::IpAddr>().is_ok()) {
            listen.set("address", Node::text(address));
        }
        if port != 443 {
            listen.set("port", Node::Int(port.into()));
        }
    }
    if first(body, "http2").is_some() {
        versions.http2_directive = Some(true);
    }
    if let Some(port) = front
        .redirect
        .and_then(|r| arg(r.children(), "listen"))
        .and_then(listen_parts)
        .map(|(_, port)| port)
        && port != 80
    {
        listen.set("redirect_port", Node::Int(port.into()));
    }
    if !listen.is_empty() {
        section.set("listen", Node::Map(listen));
    }
    let mut tls = Map::new();
    if let Some(cert) = arg(body, "ssl_certificate") {
        tls.set("certificate", Node::text(cert));
    }
    if let Some(key) = arg(body, "ssl_certificate_key") {
        tls.set("certificate_key", Node::text(key));
    }
    let modern = first(body, "ssl_protocols").is_some_and(|p| p.args == ["TLSv1.3"]);
    tls.set(
        "profile",
        Node::text(if modern { "modern" } else { "intermediate" }),
    );
    if arg(body, "ssl_stapling") == Some("on") {
        tls.set("ocsp_stapling", Node::Bool(true));
        if let Some(trusted) = arg(body, "ssl_trusted_certificate") {
            tls.set("trusted_certificate", Node::text(trusted));
        }
        if let Some(resolver) = first(body, "resolver") {
            tls.set(
                "resolver",
                Node::Seq(
                    resolver
                        .args
                        .iter()
                        .map(|a| Node::text(a.trim_start_matches('[').trim_end_matches(']')))
                        .collect(),
                ),
            );
        }
    }
    if let Some(hsts) = hsts_value(body).and_then(hsts_node) {
        tls.set("hsts", hsts);
    }
    section.set("tls", Node::Map(tls));
    versions.tickets_off = Some(arg(body, "ssl_session_tickets") == Some("off"));
    if let Some(groups) = arg(body, "ssl_ecdh_curve") {
        versions.mlkem = Some(groups.split(':').any(|g| g == "X25519MLKEM768"));
    }
    versions
}

/// The value of a block's `add_header Strict-Transport-Security … always`.
pub(super) fn hsts_value(body: &[Directive]) -> Option<&str> {
    all(body, "add_header")
        .find(|h| {
            h.arg(0)
                .is_some_and(|n| n.eq_ignore_ascii_case("Strict-Transport-Security"))
        })
        .and_then(|h| h.arg(1))
}

/// `tls.hsts` for a header value, when it is not the spec's default.
fn hsts_node(value: &str) -> Option<Node> {
    let mut max_age = None;
    let mut subdomains = false;
    let mut preload = false;
    for part in value.split(';').map(str::trim) {
        if let Some(age) = part.strip_prefix("max-age=") {
            max_age = age.parse::<u64>().ok();
        } else if part.eq_ignore_ascii_case("includeSubDomains") {
            subdomains = true;
        } else if part.eq_ignore_ascii_case("preload") {
            preload = true;
        }
    }
    let age = max_age?;
    if age == 63_072_000 && subdomains && !preload {
        return None;
    }
    let mut hsts = Map::new();
    hsts.set(
        "max_age",
        Node::text(spec_duration(age.saturating_mul(1000))),
    )
    .set("include_subdomains", Node::Bool(subdomains))
    .set("preload", Node::Bool(preload));
    Some(Node::Map(hsts))
}

/// The `server` lines of each top-level `upstream NAME { … }`.
pub(super) fn upstreams(top: &[Directive]) -> Vec<(String, Vec<String>)> {
    all(top, "upstream")
        .filter_map(|u| {
            let servers = all(u.children(), "server")
                .filter_map(|s| s.arg(0).map(str::to_owned))
                .collect();
            Some((u.arg(0)?.to_owned(), servers))
        })
        .collect()
}

/// The servers a `proxy_pass` reaches: its upstream's, or its own address.
pub(super) fn proxied<'a>(
    pass: &'a str,
    upstreams: &'a [(String, Vec<String>)],
) -> (Option<&'a str>, Vec<String>) {
    let target = pass
        .strip_prefix("http://")
        .or_else(|| pass.strip_prefix("https://"))
        .unwrap_or(pass);
    let target = target.split('/').next().unwrap_or(target);
    match upstreams.iter().find(|(name, _)| name == target) {
        Some((name, servers)) => (Some(name), servers.clone()),
        None => (None, vec![target.to_owned()]),
    }
}

/// The servers the spec can name: an address and port each (a unix socket it cannot).
fn socket_addrs(list: &[String]) -> Vec<String> {
    list.iter()
        .filter(|a| {
            a.parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.port() != 0)
        })
        .cloned()
        .collect()
}

fn addresses(list: &[String]) -> Node {
    Node::Seq(socket_addrs(list).iter().map(Node::text).collect())
}

/// The directives the spec writes itself in an HTTPS server (src/plan/nginx/extra.rs FRONT and
/// HTTPS_SERVER, and the fixed lines of nginx/server.nginx): what is left is the server's own.
const SERVER_TYPED: &[&str] = &[
    "listen",
    "http2",
    "server_name",
    "server_tokens",
    "ssl_certificate",
    "ssl_certificate_key",
    "ssl_protocols",
    "ssl_ciphers",
    "ssl_prefer_server_ciphers",
    "ssl_ecdh_curve",
    "ssl_session_timeout",
    "ssl_session_cache",
    "ssl_session_tickets",
    "ssl_stapling",
    "ssl_stapling_verify",
    "ssl_trusted_certificate",
    "resolver",
    "add_header",
    "gzip",
    "gzip_proxied",
    "gzip_types",
    "client_max_body_size",
    "access_log",
    "error_log",
    "client_body_buffer_size",
    "location",
];

/// What a location writes from typed fields and the lines of a proxying one.
const LOCATION_TYPED: &[&str] = &[
    "alias",
    "try_files",
    "open_file_cache",
    "return",
    "add_header",
    "client_max_body_size",
    "limit_req",
    "limit_req_status",
    "limit_conn",
    "limit_conn_status",
    "proxy_pass",
    "proxy_http_version",
    "proxy_set_header",
];

/// What a location that proxies to the application writes as `location /` does.
const APP_TYPED: &[&str] = &[
    "proxy_hide_header",
    "proxy_buffer_size",
    "proxy_buffers",
    "proxy_busy_buffers_size",
];

/// `name args` as the spec's `{ name, args }`.
pub(super) fn directive_node(d: &Directive) -> Node {
    let mut map = Map::new();
    map.set("name", Node::text(&d.name));
    if !d.args.is_empty() {
        map.set("args", Node::Seq(d.args.iter().map(Node::text).collect()));
    }
    Node::Map(map)
}

/// The extra directives of a block: those the spec has no field for and which hold no block
/// (a block directive cannot be written as `{ name, args }`).
fn extras<'a>(
    body: &'a [Directive],
    typed: &[&[&str]],
    place: Place,
    judge: Judge<'_>,
    refused: &mut Vec<(&'a Directive, String)>,
) -> Vec<&'a Directive> {
    let mut kept = Vec::new();
    for d in body
        .iter()
        .filter(|d| d.block.is_none() && !typed.iter().any(|t| t.contains(&d.name.as_str())))
    {
        match judge(place, d) {
            Some(why) => refused.push((d, why)),
            None => kept.push(d),
        }
    }
    kept
}

/// Why a directive of the site's own cannot be in the spec at a place (nginx's table refuses
/// it, or sitewright writes it there itself), or `None` when it can.
pub(super) type Judge<'j> = &'j dyn Fn(Place, &Directive) -> Option<String>;

/// Each `add_header NAME VALUE [always]` of a block but Strict-Transport-Security's, in order.
fn headers(body: &[Directive]) -> Vec<(String, String)> {
    all(body, "add_header")
        .filter_map(|h| Some((h.arg(0)?.to_owned(), h.arg(1)?.to_owned())))
        .filter(|(name, _)| !name.eq_ignore_ascii_case("Strict-Transport-Security"))
        .collect()
}

/// The spec's map of headers: one value per name, a name as the schema has it.
fn headers_node(list: &[(String, String)]) -> Node {
    let mut map = Map::new();
    for (name, value) in list {
        if map.get(name).is_none() && fits(HEADER_NAME, name) {
            map.set(name, Node::text(value));
        }
    }
    Node::Map(map)
}

/// A request or connection limit's zone: `limit_req_zone $key zone=NAME:SIZE [rate=R]`.
fn zones(top: &[Directive]) -> Vec<(String, Option<String>)> {
    top.iter()
        .filter(|d| d.name == "limit_req_zone" || d.name == "limit_conn_zone")
        .filter_map(|d| {
            let zone = d.args.iter().find_map(|a| a.strip_prefix("zone="))?;
            let name = zone.split(':').next()?.to_owned();
            let rate = d
                .args
                .iter()
                .find_map(|a| a.strip_prefix("rate="))
                .map(str::to_owned);
            Some((name, rate))
        })
        .collect()
}

/// What the HTTPS file gives besides the `https` section: extras the caller judges.
pub(super) struct HttpsRead<'a> {
    pub(super) section: Map,
    /// Directives of the site's own the spec would refuse, and why.
    pub(super) refused: Vec<(&'a Directive, String)>,
    /// Locations the spec cannot say, by their arguments.
    pub(super) skipped: Vec<&'a Directive>,
}

/// Where an extra directive lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Http,
    HttpsServer,
    CacheServer,
    Location { app: bool, servers: bool },
    Stream,
    StreamServer,
}

/// The `https` section from the file sitewright writes as conf.d/SITE.conf.
pub(super) fn https<'a>(top: &'a [Directive], judge: Judge<'_>) -> Option<HttpsRead<'a>> {
    let front = front(top)?;
    let body = front.server.children();
    let mut section = Map::new();
    read_front(&front, &mut section);
    let ups = upstreams(top);
    let locations: Vec<&Directive> = all(body, "location").collect();
    let root = locations
        .iter()
        .copied()
        .find(|l| l.args.len() == 1 && l.arg(0) == Some("/"));
    let app_pass = root.and_then(|r| arg(r.children(), "proxy_pass"));
    let (app_name, app_servers) = app_pass.map(|p| proxied(p, &ups)).unzip();
    let app_name = app_name.flatten();
    let app_servers = socket_addrs(&app_servers.unwrap_or_default());
    // The spec's HTTPS server is the application's front: without one to pass to, it is not one.
    if app_servers.is_empty() {
        return None;
    }
    let mut upstream = Map::new();
    upstream.set("servers", addresses(&app_servers));
    let asgi = root.is_some_and(|r| {
        all(r.children(), "proxy_set_header")
            .any(|h| h.arg(0).is_some_and(|n| n.eq_ignore_ascii_case("Upgrade")))
    });
    if asgi {
        upstream.set("protocol", Node::text("asgi"));
    }
    let hsts = hsts_value(body).map(str::to_owned);
    let server_headers = headers(body);
    let inherited: Vec<(String, String)> = hsts
        .iter()
        .map(|v| ("Strict-Transport-Security".to_owned(), v.clone()))
        .chain(server_headers.iter().cloned())
        .collect();
    section.set("upstream", Node::Map(upstream));

    let mut statics = Vec::new();
    let mut own = Vec::new();
    let mut refused = Vec::new();
    let mut skipped = Vec::new();
    let zones = zones(top);
    for location in &locations {
        if Some(*location) == root {
            continue;
        }
        let url = match location.args.as_slice() {
            [url] if url != "/" && fits(LOCATION_URL, url) => url.clone(),
            _ => {
                skipped.push(*location);
                continue;
            }
        };
        let children = location.children();
        if let Some(folder) = static_folder(children, &inherited)
            .filter(|_| fits(crate::spec::scalar::URL_PREFIX_PATTERN, &url))
        {
            let mut s = Map::new();
            s.set("url", Node::text(url))
                .set("folder", Node::text(folder));
            statics.push(Node::Map(s));
            continue;
        }
        let mut l = Map::new();
        l.set("url", Node::text(&url));
        let pass = arg(children, "proxy_pass");
        let target = pass.map(|p| proxied(p, &ups));
        let app = matches!(&target, Some((Some(name), _)) if Some(*name) == app_name);
        match &target {
            Some(_) if app => {
                l.set("proxy", Node::text("app"));
            }
            Some((_, servers)) if !socket_addrs(servers).is_empty() => {
                l.set("proxy", addresses(servers));
            }
            Some(_) => {}
            None => {}
        }
        if let Some(alias) = arg(children, "alias").filter(|a| path_fits(a)) {
            let folder = alias.trim_end_matches('/');
            l.set(
                "alias",
                Node::text(if folder.is_empty() { "/" } else { folder }),
            );
        }
        if let Some(answer) = first(children, "return") {
            let mut r = Map::new();
            let code = |c: &str| c.parse::<i64>().ok().filter(|c| (200..=599).contains(c));
            match answer.args.as_slice() {
                [c] => {
                    if let Some(code) = code(c) {
                        r.set("code", Node::Int(code));
                    }
                }
                [c, target] => {
                    if let Some(code) = code(c) {
                        r.set("code", Node::Int(code));
                        let key = if matches!(code, 301 | 302 | 303 | 307 | 308) {
                            "url"
                        } else {
                            "text"
                        };
                        r.set(key, Node::text(target));
                    }
                }
                _ => {}
            }
            if !r.is_empty() {
                l.set("return", Node::Map(r));
            }
        }
        if let Some(t) = first(children, "try_files") {
            l.set(
                "try_files",
                Node::Seq(t.args.iter().map(Node::text).collect()),
            );
        }
        let mut own_headers = headers(children);
        let inherited_headers: Vec<(String, String)> = inherited
            .iter()
            .filter(|(n, _)| n != "Strict-Transport-Security")
            .cloned()
            .collect();
        // The server's headers come first where a location adds its own: they are not its own.
        if hsts_value(children).is_some() && own_headers.starts_with(&inherited_headers) {
            own_headers.drain(..inherited_headers.len());
        }
        if !own_headers.is_empty() {
            l.set("headers", headers_node(&own_headers));
        }
        if let Some(size) = arg(children, "client_max_body_size").and_then(size_node) {
            l.set("client_max_body_size", size);
        }
        if let Some(limit) = first(children, "limit_req") {
            let zone = limit.args.iter().find_map(|a| a.strip_prefix("zone="));
            let rate = zones
                .iter()
                .find(|(name, _)| Some(name.as_str()) == zone)
                .and_then(|(_, rate)| rate.clone());
            if let Some(rate) = rate.filter(|r| fits(RATE, r)) {
                let mut r = Map::new();
                r.set("rate", Node::text(rate));
                if let Some(burst) = limit
                    .args
                    .iter()
                    .find_map(|a| a.strip_prefix("burst="))
                    .and_then(|b| b.parse::<i64>().ok())
                    .filter(|b| (0..=100_000).contains(b))
                {
                    r.set("burst", Node::Int(burst));
                }
                l.set("rate_limit", Node::Map(r));
            }
        }
        if let Some(count) = first(children, "limit_conn")
            .and_then(|c| c.arg(1))
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| (1..=100_000).contains(n))
        {
            l.set("connection_limit", Node::Int(count));
        }
        let typed: &[&[&str]] = if app {
            &[LOCATION_TYPED, APP_TYPED]
        } else {
            &[LOCATION_TYPED]
        };
        let place = Place::Location {
            app,
            servers: target.is_some() && !app,
        };
        let extra = extras(children, typed, place, judge, &mut refused);
        if !extra.is_empty() {
            l.set(
                "directives",
                Node::Seq(extra.iter().map(|d| directive_node(d)).collect()),
            );
        }
        own.push(Node::Map(l));
    }
    if !statics.is_empty() {
        section.set("static_locations", Node::Seq(statics));
    }
    if first(body, "access_log").is_some_and(|a| a.arg(0) != Some("off")) {
        section.set("access_log", Node::text("buffered"));
    }
    if let Some(level) = first(body, "error_log").and_then(|e| e.arg(1))
        && level != "crit"
    {
        section.set("error_log_level", Node::text(level));
    }
    if let Some(size) = arg(body, "client_body_buffer_size").and_then(nginx_bytes)
        && size != 512 * 1024
    {
        section.set("client_body_buffer_size", Node::text(spec_size(size)));
    }
    let root_body = root.map(Directive::children).unwrap_or_default();
    if let Some(size) = arg(root_body, "proxy_buffer_size").and_then(nginx_bytes)
        && size != 64 * 1024
    {
        section.set("proxy_buffer_size", Node::text(spec_size(size)));
    }
    if let Some(b) = first(root_body, "proxy_buffers")
        && let (Some(count), Some(size)) = (
            b.arg(0).and_then(|c| c.parse::<i64>().ok()),
            b.arg(1).and_then(nginx_bytes),
        )
        && (count, size) != (32, 4096)
    {
        let mut buffers = Map::new();
        buffers
            .set("count", Node::Int(count))
            .set("size", Node::text(spec_size(size)));
        section.set("proxy_buffers", Node::Map(buffers));
    }
    if let Some(size) = arg(body, "client_max_body_size").and_then(size_node) {
        section.set("client_max_body_size", size);
    }
    if !server_headers.is_empty() {
        section.set("headers", headers_node(&server_headers));
    }
    if !own.is_empty() {
        section.set("locations", Node::Seq(own));
    }
    let extra = extras(
        body,
        &[SERVER_TYPED],
        Place::HttpsServer,
        judge,
        &mut refused,
    );
    if !extra.is_empty() {
        section.set(
            "directives",
            Node::Seq(extra.iter().map(|d| directive_node(d)).collect()),
        );
    }
    Some(HttpsRead {
        section,
        refused,
        skipped,
    })
}

/// The folder of a static location: `alias`, `expires max`, `Cache-Control: public` and the
/// server's headers repeated, nothing else.
fn static_folder(body: &[Directive], inherited: &[(String, String)]) -> Option<String> {
    let alias = arg(body, "alias")?;
    if arg(body, "expires") != Some("max") {
        return None;
    }
    let mut rest: Vec<(String, String)> = all(body, "add_header")
        .filter_map(|h| Some((h.arg(0)?.to_owned(), h.arg(1)?.to_owned())))
        .collect();
    if rest.first() != Some(&("Cache-Control".to_owned(), "public".to_owned())) {
        return None;
    }
    rest.remove(0);
    if rest != inherited {
        return None;
    }
    let only_these = body
        .iter()
        .all(|d| matches!(d.name.as_str(), "alias" | "expires" | "add_header"));
    if !only_these || body.iter().filter(|d| d.name == "alias").count() != 1 {
        return None;
    }
    let folder = alias.trim_end_matches('/');
    Some(if folder.is_empty() { "/" } else { folder }.to_owned())
}

/// The `cache_proxy` section from the file sitewright writes as conf.d/SITE-cache.conf.
pub(super) fn cache_proxy<'a>(top: &'a [Directive], judge: Judge<'_>) -> Option<HttpsRead<'a>> {
    let path = first(top, "proxy_cache_path")?;
    let front = front(top)?;
    let body = front.server.children();
    let mut section = Map::new();
    read_front(&front, &mut section);
    let ups = upstreams(top);
    let root_of = |server: &Directive| {
        all(server.children(), "location")
            .find(|l| l.args == ["/"])
            .cloned()
    };
    let public_root = root_of(front.server);
    let pass = public_root
        .as_ref()
        .and_then(|r| arg(r.children(), "proxy_pass").map(str::to_owned));
    let backends = socket_addrs(
        &pass
            .as_deref()
            .map(|p| proxied(p, &ups).1)
            .unwrap_or_default(),
    );
    if backends.is_empty() || !path.arg(0).is_some_and(path_fits) {
        return None;
    }
    // server_name comes first, as the spec writes it: the tls and listen read above follow.
    let mut ordered = Map::new();
    for key in ["server_name", "listen", "tls"] {
        if let Some(v) = section.get(key) {
            ordered.set(key, v.clone());
        }
    }
    let mut section = ordered;
    section.set("backends", addresses(&backends));

    let mut cache = Map::new();
    if let Some(dir) = path.arg(0) {
        cache.set("directory", Node::text(dir));
    }
    for a in path.args.iter().skip(1) {
        if let Some(size) = a.strip_prefix("max_size=").and_then(size_node) {
            cache.set("max_size", size);
        }
        if let Some(inactive) = a.strip_prefix("inactive=")
            && nginx_millis(inactive) != Some(7 * 86_400_000)
            && let Some(node) = duration_node(inactive)
        {
            cache.set("inactive", node);
        }
    }
    let root_body = public_root.as_ref().map(Directive::children).unwrap_or(&[]);
    if let Some(valid) = all(root_body, "proxy_cache_valid")
        .find(|v| v.args.len() > 1 && v.args[0] == "200")
        .and_then(|v| v.args.last())
        && nginx_millis(valid) != Some(3_600_000)
        && let Some(node) = duration_node(valid)
    {
        cache.set("valid", node);
    }
    section.set("cache", Node::Map(cache));

    let tunnels: Vec<&Directive> = all(top, "server")
        .filter(|s| !std::ptr::eq(*s, front.server))
        .filter(|s| front.redirect.is_none_or(|r| !std::ptr::eq(*s, r)))
        .collect();
    for tunnel in &tunnels {
        let port = arg(tunnel.children(), "listen")
            .and_then(listen_parts)
            .map(|(_, p)| i64::from(p));
        let Some(port) = port else { continue };
        let Some(root) = root_of(tunnel) else {
            continue;
        };
        let cached = first(root.children(), "proxy_cache").is_some();
        if cached {
            section.set("buster_port", Node::Int(port));
        } else {
            let mut long = Map::new();
            long.set("port", Node::Int(port));
            if let Some(t) = arg(root.children(), "proxy_read_timeout").and_then(duration_node) {
                long.set("timeout", t);
            }
            let servers = socket_addrs(
                &arg(root.children(), "proxy_pass")
                    .map(|p| proxied(p, &ups).1)
                    .unwrap_or_default(),
            );
            if servers != backends && !servers.is_empty() {
                long.set("backends", addresses(&servers));
            }
            section.set("long_timeout", Node::Map(long));
        }
    }
    if let Some(m) = maintenance(body) {
        section.set("maintenance", Node::Map(m));
    }
    if let Some(private) = all(top, "map").find(|m| m.arg(0) == Some("$http_cookie")) {
        let session = private
            .comments
            .iter()
            .find_map(|c| {
                let after = c.split("the session cookie ").nth(1)?;
                after.split_whitespace().next().map(str::to_owned)
            })
            .unwrap_or_else(|| "sessionid".to_owned());
        if session != "sessionid" {
            section.set("session_cookie", Node::text(session));
        }
        let harmless: Vec<Node> = private
            .children()
            .iter()
            .filter_map(|e| {
                let inner = e.name.strip_prefix(r"~^\s*(?:(?:")?;
                let list = inner.split(")=").next()?;
                Some(
                    list.split('|')
                        .filter(|c| fits(crate::spec::scalar::COOKIE_PATTERN, c))
                        .map(Node::text)
                        .collect::<Vec<_>>(),
                )
            })
            .flatten()
            .collect();
        if !harmless.is_empty() {
            section.set("harmless_cookies", Node::Seq(harmless));
        }
    }
    if let Some(t) = arg(root_body, "proxy_read_timeout")
        && nginx_millis(t) != Some(60_000)
        && let Some(node) = duration_node(t)
    {
        section.set("timeout", node);
    }
    if let Some(size) = arg(body, "client_max_body_size").and_then(size_node) {
        section.set("client_max_body_size", size);
    }
    let mut refused = Vec::new();
    let extra = extras(
        body,
        &[SERVER_TYPED, &["error_page"]],
        Place::CacheServer,
        judge,
        &mut refused,
    );
    if !extra.is_empty() {
        section.set(
            "directives",
            Node::Seq(extra.iter().map(|d| directive_node(d)).collect()),
        );
    }
    Some(HttpsRead {
        section,
        refused,
        skipped: Vec::new(),
    })
}

/// `maintenance` from `if (-f FLAG) { return 503; }` and `location @maintenance`.
fn maintenance(body: &[Directive]) -> Option<Map> {
    let flag = all(body, "if").find_map(|d| match d.args.as_slice() {
        [test, path] if test == "(-f" => path.strip_suffix(')').map(str::to_owned),
        _ => None,
    })?;
    let location = all(body, "location").find(|l| l.arg(0) == Some("@maintenance"))?;
    let root = arg(location.children(), "root")?;
    let page = arg(location.children(), "try_files")?;
    let mut m = Map::new();
    m.set("flag", Node::text(flag)).set(
        "page",
        Node::text(format!("{}{page}", root.trim_end_matches('/'))),
    );
    if let Some(secs) = all(location.children(), "add_header")
        .find(|h| h.arg(0) == Some("Retry-After"))
        .and_then(|h| h.arg(1))
        .and_then(|s| s.parse::<u64>().ok())
        && secs != 600
    {
        m.set(
            "retry_after",
            Node::text(spec_duration(secs.saturating_mul(1000))),
        );
    }
    Some(m)
}

/// What a `stream {}` block holds: the forward to PostgreSQL's port, the other forwards, the
/// stream-level directives.
#[derive(Default)]
pub(super) struct Stream<'a> {
    pub(super) public_port: Option<i64>,
    /// The addresses the forward to PostgreSQL allows.
    pub(super) allowed: Vec<String>,
    /// The address the forwards listen on: the spec writes each on the host's own address.
    pub(super) own_address: Option<String>,
    pub(super) forwards: Vec<Node>,
    pub(super) directives: Vec<&'a Directive>,
    pub(super) refused: Vec<(&'a Directive, String)>,
}

/// The directives a stream forward writes itself.
const STREAM_TYPED: &[&str] = &["listen", "proxy_pass", "allow", "deny"];

pub(super) fn stream<'a>(
    block: &'a Directive,
    postgres: &[String],
    judge: Judge<'_>,
) -> Stream<'a> {
    let body = block.children();
    let ups = upstreams(body);
    let mut out = Stream::default();
    for d in body {
        match d.name.as_str() {
            "upstream" | "server" => {}
            _ if d.block.is_none() => match judge(Place::Stream, d) {
                Some(why) => out.refused.push((d, why)),
                None => out.directives.push(d),
            },
            _ => {}
        }
    }
    for server in all(body, "server") {
        let children = server.children();
        let listen = arg(children, "listen").and_then(listen_parts);
        if out.own_address.is_none()
            && let Some((Some(address), _)) = &listen
            && address.parse::<std::net::IpAddr>().is_ok()
        {
            out.own_address = Some(address.clone());
        }
        let port = listen.map(|(_, p)| i64::from(p));
        let (Some(port), Some(pass)) = (port, arg(children, "proxy_pass")) else {
            continue;
        };
        let (_, to) = proxied(pass, &ups);
        if out.public_port.is_none() && to.iter().any(|t| postgres.contains(t)) {
            out.public_port = Some(port);
            out.allowed = all(children, "allow")
                .filter_map(|a| a.arg(0).map(str::to_owned))
                .collect();
            continue;
        }
        let mut forward = Map::new();
        forward.set("listen", Node::Int(port));
        if let Some(to) = to.first() {
            forward.set("to", Node::text(to));
        }
        let extra = extras(
            children,
            &[STREAM_TYPED],
            Place::StreamServer,
            judge,
            &mut out.refused,
        );
        if !extra.is_empty() {
            forward.set(
                "directives",
                Node::Seq(extra.iter().map(|d| directive_node(d)).collect()),
            );
        }
        out.forwards.push(Node::Map(forward));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_read_back_as_the_spec_writes_them() {
        assert_eq!(nginx_bytes("512k"), Some(512 << 10));
        assert_eq!(spec_size(1024 << 20), "1GB");
        assert_eq!(spec_size(100 << 20), "100MB");
        assert_eq!(spec_size(0), "0B");
        assert_eq!(nginx_bytes("50g").map(spec_size).as_deref(), Some("50GB"));
        assert_eq!(nginx_bytes("x"), None);
        assert_eq!(nginx_bytes(""), None);
        assert_eq!(
            nginx_millis("30d").map(spec_duration).as_deref(),
            Some("30d")
        );
        assert_eq!(
            nginx_millis("10m").map(spec_duration).as_deref(),
            Some("10min")
        );
        assert_eq!(nginx_millis("1h30m"), Some(5_400_000));
        assert_eq!(nginx_millis("60"), Some(60_000));
        assert_eq!(
            nginx_millis("500ms").map(spec_duration).as_deref(),
            Some("500ms")
        );
        assert_eq!(nginx_millis("5x"), None);
        assert_eq!(spec_duration(63_072_000_000), "730d");
        assert_eq!(
            listen_parts("[::1]:443"),
            Some((Some("::1".to_owned()), 443))
        );
        assert_eq!(listen_parts("*:80"), Some((None, 80)));
        assert_eq!(listen_parts("x:y"), None);
    }
}
