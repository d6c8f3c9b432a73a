//! nginx files: the stream forward to PostgreSQL on the primary, the HTTPS front end of the web
//! hosts and the caching proxy of the proxy hosts, each in the form that the spec's nginx and
//! OpenSSL versions accept, and each placed where the distribution's nginx.conf includes it.

use serde_json::{Value, json};

use super::{FileMeta, KeyedOrigin, Mode, OnChange, PlannedFile, Service};
use crate::spec::{
    AccessLog, AppProtocol, CacheProxy, ErrorLogLevel, Host, Https, Listen, Nginx, NginxLayout,
    Role, Site, SocketAddr, Tls, TlsProfile,
};

/// Where a distribution's nginx.conf looks for files, and where sitewright puts each kind.
struct Layout {
    /// Included at main level before events/http: the load_module line.
    module_file: &'static str,
    /// The stream module, as that load_module line names it.
    module: &'static str,
    /// The one `stream {}` block; nginx.conf includes it at main level.
    stream_file: &'static str,
    /// Included inside http {}.
    http_dir: &'static str,
}

fn layout(kind: NginxLayout) -> Layout {
    match kind {
        // The file libnginx-mod-stream installs, so the module is never loaded twice.
        NginxLayout::Debian => Layout {
            module_file: "/etc/nginx/modules-enabled/50-mod-stream.conf",
            module: "modules/ngx_stream_module.so",
            stream_file: "/etc/nginx/sitewright-stream.conf",
            http_dir: "/etc/nginx/conf.d",
        },
        // The file nginx-mod-stream installs, for the same reason.
        NginxLayout::Rhel => Layout {
            module_file: "/usr/share/nginx/modules/mod-stream.conf",
            module: "/usr/lib64/nginx/modules/ngx_stream_module.so",
            stream_file: "/etc/nginx/sitewright-stream.conf",
            http_dir: "/etc/nginx/conf.d",
        },
    }
}

/// Mozilla server-side TLS 6.0, intermediate: forward-secret AEAD ciphers for TLS 1.2.
const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(nginx) = &site.nginx else {
        return Vec::new();
    };
    let paths = layout(nginx.layout);
    let file = |path: &str, template, context: Value| PlannedFile {
        host: host.name.clone(),
        path: path.to_owned(),
        template,
        context: minijinja::Value::from(minijinja::value::Serde(&context)),
        facts: Vec::new(),
        meta: FileMeta::new(Mode::PUBLIC, "root", Service::Nginx, OnChange::Reload),
        secrets: Vec::new(),
        origins: Vec::new(),
    };
    let mut out = Vec::new();
    let forwards = stream_forwards(site, nginx, host);
    if !forwards.is_empty() {
        let mut module = file(
            paths.module_file,
            "nginx/mod-stream.conf.nginx",
            json!({ "module": paths.module }),
        );
        module.origins = vec![KeyedOrigin::new(
            "load_module",
            Some("/nginx/layout"),
            Some("the name the distribution's stream-module package uses, so it is loaded once"),
        )];
        out.push(module);
        let mut stream = file(
            paths.stream_file,
            "nginx/stream.conf.nginx",
            json!({ "site": site.site, "host": host.name, "forwards": forwards }),
        );
        stream.origins = vec![
            KeyedOrigin::new(
                "listen",
                Some("/postgres/replication/public_port"),
                Some("on the primary's own address"),
            ),
            KeyedOrigin::new(
                "server",
                Some("/postgres/port"),
                Some("PostgreSQL on loopback"),
            ),
            KeyedOrigin::new("allow", Some("/hosts"), Some("the replicas and web hosts")),
            KeyedOrigin::new("deny", None, Some("everyone else")),
        ];
        out.push(stream);
    }
    if let (true, Some(https)) = (host.has(Role::Web), &nginx.https) {
        let mut server = file(
            &format!("{}/{}.conf", paths.http_dir, site.site),
            "nginx/https.conf.nginx",
            https_context(site, nginx, https, host),
        );
        server.origins = server_origins(nginx, "https", &https.tls);
        server.origins.extend([
            KeyedOrigin::new("server", Some("/nginx/https/upstream/servers"), Some("the application servers")),
            KeyedOrigin::new("access_log", Some("/nginx/https/access_log"), None),
            KeyedOrigin::new("error_log", Some("/nginx/https/error_log_level"), None),
            KeyedOrigin::new("client_body_buffer_size", Some("/nginx/https/client_body_buffer_size"), None),
            KeyedOrigin::new("proxy_buffer_size", Some("/nginx/https/proxy_buffer_size"), None),
            KeyedOrigin::new("proxy_buffers", Some("/nginx/https/proxy_buffers"), None),
            KeyedOrigin::new(
                "proxy_busy_buffers_size",
                Some("/nginx/https/proxy_buffers"),
                Some(busy_buffers_why(https)),
            ),
            KeyedOrigin::new("alias", Some("/nginx/https/static_locations"), None),
            KeyedOrigin::new("expires", None, Some("static files never expire (CATMAID's tiles)")),
            KeyedOrigin::new("proxy_set_header", None, Some("nginx overwrites X-Forwarded-Proto, which Django's SECURE_PROXY_SSL_HEADER trusts")),
            KeyedOrigin::new("gzip_types", None, Some("application/json included, as CATMAID's documents ask")),
            server_tokens(),
        ]);
        out.push(server);
    }
    if let (true, Some(proxy)) = (host.has(Role::Proxy), &nginx.cache_proxy) {
        let mut server = file(
            &format!("{}/{}-cache.conf", paths.http_dir, site.site),
            "nginx/cache-proxy.conf.nginx",
            cache_context(site, nginx, proxy),
        );
        server.origins = server_origins(nginx, "cache_proxy", &proxy.tls);
        server.origins.extend([
            KeyedOrigin::new("proxy_cache_path", Some("/nginx/cache_proxy/cache"), None),
            KeyedOrigin::new("server", Some("/nginx/cache_proxy/backends"), None),
            KeyedOrigin::new(
                "proxy_cache_valid",
                Some("/nginx/cache_proxy/cache/valid"),
                None,
            ),
            KeyedOrigin::new(
                "proxy_ignore_headers",
                None,
                Some("a public read-only site: the backends' cache headers are ignored"),
            ),
            KeyedOrigin::new(
                "proxy_cache",
                None,
                Some("the public and buster servers share the cache; the long-timeout server, whose backends may be read-write, has none"),
            ),
            KeyedOrigin::new(
                "proxy_cache_key",
                None,
                Some("the URI alone: every cached request goes upstream with the public name and scheme, so the buster refreshes what the public server serves"),
            ),
            KeyedOrigin::new(
                "proxy_cache_bypass",
                Some("/nginx/cache_proxy/buster_port"),
                Some("the buster fetches afresh; a cookie other than the harmless ones, or an Authorization header, bypasses the cache"),
            ),
            KeyedOrigin::new(
                "proxy_no_cache",
                Some("/nginx/cache_proxy/harmless_cookies"),
                Some("nothing fetched with a cookie other than the harmless ones (the session cookie among them), or with an Authorization header, is stored"),
            ),
            KeyedOrigin::new(
                "proxy_set_header",
                Some("/nginx/cache_proxy/server_name"),
                Some("every server sends the public name and https upstream, never the client's Host and scheme; a cached request goes with no cookie"),
            ),
            KeyedOrigin::new(
                "proxy_read_timeout",
                Some("/nginx/cache_proxy/timeout"),
                None,
            ),
            KeyedOrigin::new(
                "proxy_next_upstream_tries",
                None,
                Some("the first backend and one retry, so a slow request never runs on every backend"),
            ),
            KeyedOrigin::new(
                "proxy_next_upstream_timeout",
                None,
                Some("the server's own timeout (`timeout`, or `long_timeout.timeout`): no retry once it has run out, so a request costs its timeout and at most one retry"),
            ),
            server_tokens(),
            KeyedOrigin::new("if", Some("/nginx/cache_proxy/maintenance/flag"), None),
            KeyedOrigin::new(
                "try_files",
                Some("/nginx/cache_proxy/maintenance/page"),
                None,
            ),
        ]);
        out.push(server);
    }
    out
}

/// `server_tokens off;` in every http server: no nginx version in the Server header or error pages.
fn server_tokens() -> KeyedOrigin {
    KeyedOrigin::new(
        "server_tokens",
        None,
        Some("off: the Server header and error pages do not tell which nginx version runs"),
    )
}

/// How proxy_busy_buffers_size was derived. It is always written: nginx's own default (twice the
/// largest buffer) is refused whenever it exceeds all proxy_buffers but one.
fn busy_buffers_why(https: &Https) -> &'static str {
    if https.proxy_busy_buffers_size().bytes() == https.largest_proxy_buffer().saturating_mul(2) {
        "twice the larger of proxy_buffer_size and one of proxy_buffers, as nginx derives it"
    } else {
        "all proxy_buffers but one, the most nginx accepts (twice proxy_buffer_size, its default, is more)"
    }
}

/// Where the listen and TLS lines of a server come from.
fn server_origins(nginx: &Nginx, section: &str, tls: &Tls) -> Vec<KeyedOrigin> {
    let at = |key: &str| format!("/nginx/{section}/{key}");
    let profile = match tls.profile {
        TlsProfile::Modern => "Mozilla's modern profile (guidelines 6.0)",
        _ => "Mozilla's intermediate profile (guidelines 6.0)",
    };
    let http2 = if nginx.version.at_least(1, 25, 1) {
        "`http2 on;` from nginx 1.25.1"
    } else {
        "`listen ... http2` before nginx 1.25.1"
    };
    let groups = if nginx.openssl.at_least(3, 5, 0) {
        "X25519MLKEM768 from OpenSSL 3.5"
    } else {
        "no X25519MLKEM768 before OpenSSL 3.5"
    };
    vec![
        KeyedOrigin::new("listen", Some(&at("listen")), Some(http2)),
        KeyedOrigin::new("http2", Some("/nginx/version"), Some(http2)),
        KeyedOrigin::new("server_name", Some(&at("server_name")), None),
        KeyedOrigin::new("ssl_certificate", Some(&at("tls/certificate")), None),
        KeyedOrigin::new(
            "ssl_certificate_key",
            Some(&at("tls/certificate_key")),
            None,
        ),
        KeyedOrigin::new("ssl_protocols", Some(&at("tls/profile")), Some(profile)),
        KeyedOrigin::new("ssl_ciphers", Some(&at("tls/profile")), Some(profile)),
        KeyedOrigin::new(
            "ssl_prefer_server_ciphers",
            Some(&at("tls/profile")),
            Some(profile),
        ),
        KeyedOrigin::new("ssl_ecdh_curve", Some("/nginx/openssl"), Some(groups)),
        KeyedOrigin::new(
            "ssl_session_timeout",
            Some(&at("tls/profile")),
            Some(profile),
        ),
        KeyedOrigin::new("ssl_session_cache", Some(&at("tls/profile")), Some(profile)),
        KeyedOrigin::new(
            "ssl_session_tickets",
            Some("/nginx/version"),
            Some("off for nginx 1.5.9 to 1.23.1"),
        ),
        KeyedOrigin::new("ssl_stapling", Some(&at("tls/ocsp_stapling")), None),
        KeyedOrigin::new("ssl_stapling_verify", Some(&at("tls/ocsp_stapling")), None),
        KeyedOrigin::new(
            "ssl_trusted_certificate",
            Some(&at("tls/trusted_certificate")),
            None,
        ),
        KeyedOrigin::new(
            "resolver",
            Some(&at("tls/resolver")),
            Some("nginx looks up the OCSP responder through it; written only while stapling"),
        ),
        KeyedOrigin::new(
            "add_header",
            Some(&at("tls/hsts")),
            Some("HSTS, repeated where a location adds headers"),
        ),
        KeyedOrigin::new("return", None, Some("plain HTTP redirects to HTTPS")),
    ]
}

/// `site` as the stem of nginx names (upstreams, zones, variables), which take no `-`.
fn stem(site: &Site) -> String {
    site.site.replace('-', "_")
}

fn stream_forwards(site: &Site, nginx: &Nginx, host: &Host) -> Vec<Value> {
    if !host.has(Role::PostgresPrimary) {
        return Vec::new();
    }
    let on_host = |port: u16| std::net::SocketAddr::new(host.address.ip(), port).to_string();
    let mut out = Vec::new();
    if let Some(pg) = &site.postgres
        && let Some(public) = pg.replication.as_ref().and_then(|r| r.public_port)
    {
        // In address order, so that 10.0.0.2 comes before 10.0.0.10.
        let mut allow: Vec<std::net::IpAddr> = site
            .hosts_with(Role::PostgresReplica)
            .chain(site.hosts_with(Role::Web).filter(|w| w.name != host.name))
            .map(|h| h.address.ip())
            .collect();
        allow.sort();
        allow.dedup();
        out.push(json!({
            "name": "postgres",
            "listen": on_host(public.0),
            "to": format!("127.0.0.1:{}", pg.port),
            "allow": allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            // Closed to everyone else, and to everyone while the site has no replica or web host.
            "deny_others": true,
            "why": "replicas and web hosts reach PostgreSQL here; PostgreSQL itself listens on loopback",
        }));
    }
    for (i, forward) in nginx.stream.iter().enumerate() {
        out.push(json!({
            "name": format!("forward_{}", i + 1),
            "listen": on_host(forward.listen.0),
            "to": forward.to.as_str(),
            "allow": [],
            "deny_others": false,
            "why": null,
        }));
    }
    out
}

fn listen(nginx: &Nginx, listen: &Listen) -> Value {
    let at = |port: u16| match &listen.address {
        Some(address) => std::net::SocketAddr::new(address.ip(), port).to_string(),
        None => port.to_string(),
    };
    json!({
        "https": at(listen.port.0),
        "http": at(listen.redirect_port.0),
        "https_port": listen.port.0,
        "http2_directive": nginx.version.at_least(1, 25, 1),
    })
}

/// The TLS directives of one server, from its profile and the nginx and OpenSSL versions.
fn tls(nginx: &Nginx, tls: &Tls) -> Value {
    let modern = tls.profile == TlsProfile::Modern;
    let groups = if nginx.openssl.at_least(3, 5, 0) {
        "X25519MLKEM768:X25519:prime256v1:secp384r1"
    } else {
        "X25519:prime256v1:secp384r1"
    };
    let version = &nginx.version;
    json!({
        "certificate": tls.certificate.as_str(),
        "certificate_key": tls.certificate_key.as_str(),
        "protocols": if modern { vec!["TLSv1.3"] } else { vec!["TLSv1.2", "TLSv1.3"] },
        "ciphers": if modern { None } else { Some(INTERMEDIATE_CIPHERS) },
        "groups": groups,
        "session_cache": !modern,
        "session_tickets_off": version.at_least(1, 5, 9) && !version.at_least(1, 23, 2),
        "stapling": tls.ocsp_stapling.then(|| json!({
            "trusted_certificate": tls.trusted_certificate.as_ref().map(|t| t.as_str()),
            // nginx reads an IPv6 resolver address in brackets, as `[::1]`.
            "resolver": tls.resolver.iter().map(|a| match a.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            }).collect::<Vec<_>>(),
        })),
        "hsts": tls.hsts.header(),
    })
}

fn upstream_servers(servers: &[SocketAddr]) -> Vec<&str> {
    servers.iter().map(SocketAddr::as_str).collect()
}

fn error_level(level: ErrorLogLevel) -> &'static str {
    match level {
        ErrorLogLevel::Debug => "debug",
        ErrorLogLevel::Info => "info",
        ErrorLogLevel::Notice => "notice",
        ErrorLogLevel::Warn => "warn",
        ErrorLogLevel::Error => "error",
        ErrorLogLevel::Crit => "crit",
        ErrorLogLevel::Alert => "alert",
        ErrorLogLevel::Emerg => "emerg",
    }
}

fn https_context(site: &Site, nginx: &Nginx, https: &Https, host: &Host) -> Value {
    let stem = stem(site);
    json!({
        "site": site.site,
        "server_name": host.server_name.as_ref().unwrap_or(&https.server_name),
        "listen": listen(nginx, &https.listen),
        "tls": tls(nginx, &https.tls),
        "upstream": {
            "name": format!("{stem}_app"),
            "servers": upstream_servers(&https.upstream.servers),
            "asgi": https.upstream.protocol == AppProtocol::Asgi,
            "upgrade_var": format!("{stem}_connection_upgrade"),
        },
        "access_log_buffered": https.access_log == AccessLog::Buffered,
        "error_log_level": error_level(https.error_log_level),
        "client_body_buffer_size": https.client_body_buffer_size.to_nginx_size(),
        "proxy_buffer_size": https.proxy_buffer_size.to_nginx_size(),
        "proxy_buffers": {
            "count": https.proxy_buffers.count,
            "size": https.proxy_buffers.size.to_nginx_size(),
        },
        "proxy_busy_buffers_size": https.proxy_busy_buffers_size().to_nginx_size(),
        "static_locations": https.static_locations.iter().map(|s| json!({
            "url": s.url,
            "alias": format!("{}/", s.folder.as_str().trim_end_matches('/')),
        })).collect::<Vec<_>>(),
    })
}

/// How many backends one request of the caching proxy may reach: the first, and one retry when it
/// fails fast (an error, or a timeout before the server's own timeout has run out).
const NEXT_UPSTREAM_TRIES: u32 = 2;

/// The caching proxy's cookie rule: a request with only harmless cookies (or none) is what an
/// anonymous client sends, so it is cached, and reaches the backend with no cookie at all; any
/// other cookie (the session cookie among them, even when listed as harmless) makes it private:
/// never served from the cache nor stored, and passed on as sent.
fn cookies(stem: &str, proxy: &CacheProxy) -> Value {
    let harmless: Vec<&str> = proxy
        .harmless_cookies
        .iter()
        .map(|c| c.0.as_str())
        .filter(|c| *c != proxy.session_cookie)
        .collect();
    // Cookie names are letters, digits and `_` (the schema's pattern), so they need no escaping in
    // the regular expression; `\z` ends it, since nginx would read `$` as a variable.
    let only_harmless = (!harmless.is_empty())
        .then(|| format!(r"~^\s*(?:(?:{})=[^;]*(?:;\s*|\z))+\z", harmless.join("|")));
    let note = if harmless.is_empty() {
        format!(
            "none: the session cookie {} is never harmless",
            proxy.session_cookie
        )
    } else {
        format!(
            "{}; the session cookie {} is never harmless",
            harmless.join(", "),
            proxy.session_cookie
        )
    };
    json!({
        "harmless": harmless,
        "note": note,
        "only_harmless_regex": only_harmless,
        "private_var": format!("{stem}_private"),
        "upstream_var": format!("{stem}_upstream_cookie"),
    })
}

fn cache_context(site: &Site, nginx: &Nginx, proxy: &CacheProxy) -> Value {
    let stem = stem(site);
    let maintenance = proxy.maintenance.as_ref().map(|m| {
        let page = m.page.as_str();
        let cut = page.rfind('/').expect("an absolute path has a /");
        json!({
            "flag": m.flag.as_str(),
            "root": if cut == 0 { "/" } else { &page[..cut] },
            "page": &page[cut..],
            "retry_after": m.retry_after.whole_secs().unwrap_or(600),
        })
    });
    // No proxy buffer directive is written here: nginx's defaults (a one-page proxy_buffer_size,
    // 8 one-page proxy_buffers, a two-page proxy_busy_buffers_size) meet its own constraints.
    let long = proxy.long_timeout.as_ref().map(|l| {
        let backends = if l.backends.is_empty() {
            &proxy.backends
        } else {
            &l.backends
        };
        json!({
            "port": l.port.0,
            "timeout": l.timeout.to_nginx(),
            "upstream": format!("{stem}_long"),
            "servers": upstream_servers(backends),
        })
    });
    json!({
        "site": site.site,
        "server_name": proxy.server_name,
        "listen": listen(nginx, &proxy.listen),
        "tls": tls(nginx, &proxy.tls),
        "upstream": format!("{stem}_backends"),
        "servers": upstream_servers(&proxy.backends),
        "zone": format!("{stem}_cache"),
        "cache": {
            "directory": proxy.cache.directory.as_str(),
            "max_size": proxy.cache.max_size.to_nginx(),
            "inactive": proxy.cache.inactive.to_nginx(),
            "valid": proxy.cache.valid.to_nginx(),
        },
        "cookies": cookies(&stem, proxy),
        // The name and scheme every server sends upstream: what a public HTTPS client reaches, so
        // that the buster refreshes, under the one key, what that client would be given.
        "upstream_host": proxy.server_name,
        "upstream_proto": "https",
        // One request, one retry at most: a slow backend costs its timeout once, not once per backend.
        "next_upstream_tries": NEXT_UPSTREAM_TRIES,
        "timeout": proxy.timeout.to_nginx(),
        "buster_port": proxy.buster_port.map(|p| p.0),
        "long": long,
        "maintenance": maintenance,
    })
}
