//! nginx files: the stream forward to PostgreSQL on the primary, the HTTPS front end of the web
//! hosts and the caching proxy of the proxy hosts, each in the form that the spec's nginx and
//! OpenSSL versions accept, and each placed where the distribution's nginx.conf includes it.
//!
//! Every value the templates print is a [`Fact`] recorded here with its origin, the constants
//! sitewright chooses for every site among them, so the templates lay text out and decide nothing.

use serde::{Serialize, Serializer};

use super::{Fact, Facts, FileMeta, Mode, OnChange, Origin, PlannedFile, Service};
use crate::spec::{
    AccessLog, AppProtocol, CacheProxy, ErrorLogLevel, Host, Https, Listen, Nginx, NginxLayout,
    Role, Site, SocketAddr, Tls, TlsProfile,
};
use crate::units::{ByteSize, Duration};

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

/// How many backends one request of the caching proxy may reach: the first, and one retry when it
/// fails fast (an error, or a timeout before the server's own timeout has run out).
const NEXT_UPSTREAM_TRIES: u32 = 2;

/// nginx text that names variables (`$host`), written as it is. The nginx format refuses `$` in a
/// value so that no spec value can name a variable; this text is sitewright's own, and the only
/// spec text in it is the site's name, which the schema keeps to letters, digits and `-` (`_` here).
#[derive(Debug, Clone)]
struct Raw(String);

impl Raw {
    fn var(name: &str) -> Self {
        Self(format!("${name}"))
    }
}

impl Serialize for Raw {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        minijinja::Value::from_safe_string(self.0.clone()).serialize(serializer)
    }
}

/// A directive's argument: text escaped as the nginx format escapes spec values, or sitewright's
/// own text with variables in it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Arg {
    Text(String),
    Raw(Raw),
}

/// The origin of a value the spec may leave out. The plan sees the spec with its defaults filled
/// in; a value equal to its default carries the default's reason, which `explain` gives when the
/// spec does not hold the value (a left-out value has no line of its own, and the nearest line
/// the spec does have is a neighbour's: `access_log off;` was once credited to `server_name`),
/// while a default written out in the spec is credited to its line.
fn given(pointer: &str, is_default: bool, default_why: impl Into<String>) -> Origin {
    let origin = Origin::spec(pointer);
    if is_default {
        origin.unless_written(default_why)
    } else {
        origin
    }
}

/// [`given`], for a value worked out from the one at `pointer`.
fn given_derived(
    pointer: &str,
    is_default: bool,
    why: impl Into<String>,
    default_why: impl Into<String>,
) -> Origin {
    let origin = Origin::derived(Some(pointer), why);
    if is_default {
        origin.unless_written(default_why)
    } else {
        origin
    }
}

/// The section of the spec a server comes from: `https` or `cache_proxy`.
#[derive(Clone, Copy)]
struct Section(&'static str);

impl Section {
    fn at(self, key: &str) -> String {
        format!("/nginx/{}/{key}", self.0)
    }

    fn dotted(self, key: &str) -> String {
        format!("nginx.{}.{key}", self.0)
    }
}

#[derive(Serialize)]
struct ModuleContext {
    module: Fact<&'static str>,
}

#[derive(Serialize)]
struct StreamContext<'a> {
    site: &'a str,
    host: &'a str,
    forwards: Vec<Forward>,
}

/// One TCP forward of the stream block.
#[derive(Serialize)]
struct Forward {
    why: Option<&'static str>,
    name: Fact<String>,
    to: Fact<String>,
    listen: Fact<String>,
    pass: Fact<String>,
    allow: Fact<Vec<String>>,
    deny: Option<Fact<&'static str>>,
}

/// The lines both http server files share (nginx/server.nginx): the redirect server, and the
/// HTTPS server's listen, name, TLS, logs and compression.
#[derive(Serialize)]
struct Front {
    server_name: Fact<String>,
    server_tokens: Fact<&'static str>,
    listen: ListenFacts,
    redirect: Redirect,
    tls: TlsFacts,
    logs: Option<Logs>,
    gzip: Gzip,
}

#[derive(Serialize)]
struct ListenFacts {
    http: Fact<String>,
    https: Fact<String>,
    /// What follows the HTTPS address on its listen line: `ssl`, and `http2` before nginx 1.25.1.
    https_params: Fact<Vec<&'static str>>,
    /// `on` from nginx 1.25.1, which takes HTTP/2 as a directive of its own.
    http2: Option<Fact<&'static str>>,
}

#[derive(Serialize)]
struct Redirect {
    code: Fact<u16>,
    url: Fact<Raw>,
}

#[derive(Serialize)]
struct TlsFacts {
    certificate: Fact<String>,
    certificate_key: Fact<String>,
    protocols: Fact<Vec<&'static str>>,
    ciphers: Option<Fact<&'static str>>,
    prefer_server_ciphers: Fact<&'static str>,
    groups: Fact<&'static str>,
    session: Option<Session>,
    session_tickets: Option<Fact<&'static str>>,
    stapling: Option<Stapling>,
    hsts: Fact<String>,
}

#[derive(Serialize)]
struct Session {
    timeout: Fact<&'static str>,
    cache: Fact<&'static str>,
}

#[derive(Serialize)]
struct Stapling {
    on: Fact<&'static str>,
    verify: Fact<&'static str>,
    trusted_certificate: Option<Fact<String>>,
    resolver: Fact<Vec<String>>,
}

#[derive(Serialize)]
struct Logs {
    access: Vec<Fact<&'static str>>,
    error_path: Fact<&'static str>,
    error_level: Fact<&'static str>,
}

#[derive(Serialize)]
struct Gzip {
    on: Fact<&'static str>,
    proxied: Fact<&'static str>,
    types: Fact<Vec<&'static str>>,
}

#[derive(Serialize)]
struct UpstreamBlock {
    name: Fact<String>,
    servers: Fact<Vec<String>>,
    keepalive: Fact<u32>,
}

/// A `map $source $variable { key value; ... }` block.
#[derive(Serialize)]
struct MapBlock {
    source: Fact<String>,
    variable: Fact<String>,
    entries: Vec<MapEntry>,
}

#[derive(Serialize)]
struct MapEntry {
    key: Fact<String>,
    value: Fact<Arg>,
}

/// The head of a proxying `location` (nginx/proxy.nginx): where it passes requests and the
/// request headers it sets.
#[derive(Serialize)]
struct ProxyPass {
    pass: Fact<String>,
    http_version: Fact<&'static str>,
    headers: Vec<ProxyHeader>,
}

#[derive(Serialize)]
struct ProxyHeader {
    /// A comment line written before the header.
    note: Option<&'static str>,
    name: Fact<&'static str>,
    value: Fact<Arg>,
}

#[derive(Serialize)]
struct HttpsContext<'a> {
    site: &'a str,
    upstream: UpstreamBlock,
    upgrade: Option<MapBlock>,
    #[serde(flatten)]
    front: Front,
    client_body_buffer_size: Fact<String>,
    static_locations: Vec<StaticBlock>,
    proxy: ProxyPass,
    hide_hsts: Fact<&'static str>,
    proxy_buffer_size: Fact<String>,
    proxy_buffers: ProxyBuffersFacts,
    proxy_busy_buffers_size: Fact<String>,
}

#[derive(Serialize)]
struct StaticBlock {
    url: Fact<String>,
    alias: Fact<String>,
    expires: Fact<&'static str>,
    cache_control: Fact<&'static str>,
    hsts: Fact<String>,
}

#[derive(Serialize)]
struct ProxyBuffersFacts {
    count: Fact<u32>,
    size: Fact<String>,
}

#[derive(Serialize)]
struct CacheContext<'a> {
    site: &'a str,
    cache_path: CachePath,
    upstream: UpstreamBlock,
    long_upstream: Option<UpstreamBlock>,
    cookie_note: String,
    private: MapBlock,
    upstream_cookie: MapBlock,
    #[serde(flatten)]
    front: Front,
    maintenance: Option<MaintenanceSwitch>,
    public: CacheServer,
    buster: Option<CacheServer>,
    long: Option<CacheServer>,
}

#[derive(Serialize)]
struct CachePath {
    directory: Fact<String>,
    levels: Fact<&'static str>,
    zone: Fact<String>,
    zone_size: Fact<&'static str>,
    max_size: Fact<String>,
    inactive: Fact<String>,
    use_temp_path: Fact<&'static str>,
}

#[derive(Serialize)]
struct MaintenanceSwitch {
    status: Fact<u16>,
    location: Fact<&'static str>,
    flag: Fact<String>,
    root: Fact<String>,
    page: Fact<String>,
    retry_after: Fact<u64>,
}

/// One server of the caching proxy: the public one, the buster or the long-timeout one.
#[derive(Serialize)]
struct CacheServer {
    /// The tunnel servers' own listen address; the public server's is in [`Front`].
    listen: Option<Fact<String>>,
    proxy: ProxyPass,
    timeout: Fact<String>,
    tries: Fact<u32>,
    next_timeout: Fact<String>,
    hide: Vec<Fact<&'static str>>,
    /// How the server uses the cache; none for the long-timeout server.
    cache: Option<CacheUse>,
    /// Repeated in each location that adds headers, on the public server only.
    hsts: Option<Fact<String>>,
}

#[derive(Serialize)]
struct CacheUse {
    cookie: Fact<Arg>,
    zone: Fact<String>,
    key: Fact<Raw>,
    ignore_headers: Fact<Vec<&'static str>>,
    valid: Vec<CacheValid>,
    use_stale: Fact<Vec<&'static str>>,
    background_update: Fact<&'static str>,
    lock: Fact<&'static str>,
    bypass: Fact<Vec<Raw>>,
    no_cache: Fact<Vec<Raw>>,
    status: Fact<Raw>,
}

#[derive(Serialize)]
struct CacheValid {
    codes: Fact<Vec<u16>>,
    time: Fact<String>,
}

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(nginx) = &site.nginx else {
        return Vec::new();
    };
    let paths = layout(nginx.layout);
    let mut out = Vec::new();
    let mut facts = Facts::default();
    let forwards = stream_forwards(site, nginx, host, &mut facts);
    if !forwards.is_empty() {
        let mut module_facts = Facts::default();
        let module = ModuleContext {
            module: module_facts.add(
                "load_module",
                paths.module,
                given_derived(
                    "/nginx/layout",
                    nginx.layout == NginxLayout::default(),
                    "the name the distribution's stream-module package uses, so it is loaded once",
                    "Debian's name for the stream module (debian is the default of nginx.layout), so it is loaded once",
                ),
            ),
        };
        out.push(nginx_file(
            host,
            paths.module_file,
            "nginx/mod-stream.conf.nginx",
            &module,
            module_facts,
        ));
        let stream = StreamContext {
            site: &site.site,
            host: host.name.as_str(),
            forwards,
        };
        out.push(nginx_file(
            host,
            paths.stream_file,
            "nginx/stream.conf.nginx",
            &stream,
            std::mem::take(&mut facts),
        ));
    }
    if let (true, Some(https)) = (host.has(Role::Web), &nginx.https) {
        let context = https_context(site, nginx, https, host, &mut facts);
        let path = format!("{}/{}.conf", paths.http_dir, site.site);
        let facts = std::mem::take(&mut facts);
        out.push(nginx_file(
            host,
            &path,
            "nginx/https.conf.nginx",
            &context,
            facts,
        ));
    }
    if let (true, Some(proxy)) = (host.has(Role::Proxy), &nginx.cache_proxy) {
        let context = cache_context(site, nginx, proxy, &mut facts);
        let path = format!("{}/{}-cache.conf", paths.http_dir, site.site);
        let facts = std::mem::take(&mut facts);
        out.push(nginx_file(
            host,
            &path,
            "nginx/cache-proxy.conf.nginx",
            &context,
            facts,
        ));
    }
    out
}

/// A file of nginx's configuration, laid out by `template`.
fn nginx_file(
    host: &Host,
    path: &str,
    template: &'static str,
    context: &impl Serialize,
    facts: Facts,
) -> PlannedFile {
    PlannedFile::new(
        &host.name,
        path,
        template,
        context,
        facts,
        FileMeta::new(Mode::PUBLIC, "root", Service::Nginx, OnChange::Reload),
    )
}

/// `site` as the stem of nginx names (upstreams, zones, variables), which take no `-`.
fn stem(site: &Site) -> String {
    site.site.replace('-', "_")
}

/// A name nginx's configuration gives something of the site's own.
fn named(facts: &mut Facts, key: &str, name: String) -> Fact<String> {
    facts.add(
        key,
        name,
        Origin::derived(
            Some("/site"),
            "the site's name, with `_` for `-` as nginx names need",
        ),
    )
}

fn stream_forwards(site: &Site, nginx: &Nginx, host: &Host, facts: &mut Facts) -> Vec<Forward> {
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
        let name = || "postgres".to_owned();
        let upstream_origin = Origin::default("the forward to PostgreSQL, named for it");
        out.push(Forward {
            why: Some(
                "replicas and web hosts reach PostgreSQL here; PostgreSQL itself listens on loopback",
            ),
            name: facts.add("upstream", name(), upstream_origin.clone()),
            to: facts.add(
                "server",
                format!("127.0.0.1:{}", pg.port.0),
                Origin::derived(Some("/postgres/port"), "PostgreSQL on loopback"),
            ),
            listen: facts.add(
                "listen",
                on_host(public.0),
                Origin::derived(
                    Some("/postgres/replication/public_port"),
                    "on the primary's own address",
                ),
            ),
            pass: facts.add("proxy_pass", name(), upstream_origin),
            allow: facts.add(
                "allow",
                allow.iter().map(ToString::to_string).collect(),
                Origin::derived(Some("/hosts"), "the replicas and web hosts"),
            ),
            deny: Some(facts.add(
                "deny",
                "all",
                Origin::default(
                    "closed to everyone else, and to everyone while the site has no replica or web host",
                ),
            )),
        });
    }
    for (i, forward) in nginx.stream.iter().enumerate() {
        let at = |key: &str| format!("/nginx/stream/{i}/{key}");
        let name = format!("forward_{}", i + 1);
        let name_origin = Origin::derived(
            Some(&format!("/nginx/stream/{i}")),
            "named by its place in nginx.stream",
        );
        out.push(Forward {
            why: None,
            name: facts.add("upstream", name.clone(), name_origin.clone()),
            to: facts.add(
                "server",
                forward.to.as_str().to_owned(),
                Origin::spec(at("to")),
            ),
            listen: facts.add(
                "listen",
                on_host(forward.listen.0),
                Origin::derived(Some(&at("listen")), "on the host's own address"),
            ),
            pass: facts.add("proxy_pass", name, name_origin),
            allow: facts.add(
                "allow",
                Vec::new(),
                Origin::default("open to every address"),
            ),
            deny: None,
        });
    }
    out
}

/// The redirect server's and the HTTPS server's listen lines, and the redirect's target.
fn listen(
    nginx: &Nginx,
    listen: &Listen,
    section: Section,
    facts: &mut Facts,
) -> (ListenFacts, Redirect) {
    let at = |port: u16| match &listen.address {
        Some(address) => std::net::SocketAddr::new(address.ip(), port).to_string(),
        None => port.to_string(),
    };
    let defaults = Listen::default();
    let pointer = section.at("listen");
    let every_address = listen.address.is_none();
    let http = facts.add(
        "listen",
        at(listen.redirect_port.0),
        given(
            &pointer,
            every_address && listen.redirect_port == defaults.redirect_port,
            format!(
                "port 80 on every address, the default of {}",
                section.dotted("listen")
            ),
        ),
    );
    let https_port = listen.port.0;
    let https = facts.add(
        "listen",
        at(https_port),
        given(
            &pointer,
            every_address && listen.port == defaults.port,
            format!(
                "port 443 on every address, the default of {}",
                section.dotted("listen")
            ),
        ),
    );
    let directive = crate::versions::NginxVersion(&nginx.version).has_http2_directive();
    let (params, http2) = if directive {
        (vec!["ssl"], "`http2 on;` from nginx 1.25.1")
    } else {
        (
            vec!["ssl", "http2"],
            "`listen ... http2` before nginx 1.25.1",
        )
    };
    let https_params = facts.add("listen", params, Origin::version("/nginx/version", http2));
    let http2 =
        directive.then(|| facts.add("http2", "on", Origin::version("/nginx/version", http2)));
    let redirect = if https_port == 443 {
        let code = facts.add(
            "return",
            301,
            Origin::default("plain HTTP redirects to HTTPS, permanently, on the default port"),
        );
        Redirect {
            url: code.sibling(Raw("https://$host$request_uri".to_owned())),
            code,
        }
    } else {
        let code = facts.add(
            "return",
            301,
            Origin::derived(
                Some(&section.at("listen/port")),
                format!("plain HTTP redirects to HTTPS, permanently, on port {https_port}"),
            ),
        );
        Redirect {
            url: code.sibling(Raw(format!("https://$host:{https_port}$request_uri"))),
            code,
        }
    };
    let facts = ListenFacts {
        http,
        https,
        https_params,
        http2,
    };
    (facts, redirect)
}

/// The TLS directives of one server, from its profile and the nginx and OpenSSL versions.
fn tls(nginx: &Nginx, tls: &Tls, section: Section, facts: &mut Facts) -> TlsFacts {
    let at = |key: &str| section.at(&format!("tls/{key}"));
    let modern = tls.profile == TlsProfile::Modern;
    let name = if modern {
        "Mozilla's modern profile (guidelines 6.0)"
    } else {
        "Mozilla's intermediate profile (guidelines 6.0)"
    };
    let profile = |also: &str| {
        given_derived(
            &at("profile"),
            tls.profile == TlsProfile::default(),
            format!("{name}{also}"),
            format!(
                "{name}, the default of {}{also}",
                section.dotted("tls.profile")
            ),
        )
    };
    let (groups, groups_why) = if crate::versions::OpenSsl(&nginx.openssl).has_mlkem() {
        (
            "X25519MLKEM768:X25519:prime256v1:secp384r1",
            "X25519MLKEM768 from OpenSSL 3.5",
        )
    } else {
        (
            "X25519:prime256v1:secp384r1",
            "no X25519MLKEM768 before OpenSSL 3.5",
        )
    };
    let tickets_off = crate::versions::NginxVersion(&nginx.version).needs_session_tickets_off();
    TlsFacts {
        certificate: facts.add(
            "ssl_certificate",
            tls.certificate.as_str().to_owned(),
            Origin::spec(at("certificate")),
        ),
        certificate_key: facts.add(
            "ssl_certificate_key",
            tls.certificate_key.as_str().to_owned(),
            Origin::spec(at("certificate_key")),
        ),
        protocols: facts.add(
            "ssl_protocols",
            if modern {
                vec!["TLSv1.3"]
            } else {
                vec!["TLSv1.2", "TLSv1.3"]
            },
            profile(""),
        ),
        ciphers: (!modern).then(|| facts.add("ssl_ciphers", INTERMEDIATE_CIPHERS, profile(""))),
        prefer_server_ciphers: facts.add(
            "ssl_prefer_server_ciphers",
            "off",
            profile(": every cipher offered is strong, so the client picks the fastest for it"),
        ),
        groups: facts.add(
            "ssl_ecdh_curve",
            groups,
            Origin::version("/nginx/openssl", groups_why),
        ),
        session: (!modern).then(|| session(facts, &profile)),
        session_tickets: tickets_off.then(|| {
            facts.add(
                "ssl_session_tickets",
                "off",
                Origin::version("/nginx/version", "off for nginx 1.5.9 to 1.23.1"),
            )
        }),
        stapling: tls.ocsp_stapling.then(|| stapling(tls, section, facts)),
        hsts: hsts(tls, section, facts),
    }
}

/// TLS session resumption, as the intermediate profile has it.
fn session(facts: &mut Facts, profile: &dyn Fn(&str) -> Origin) -> Session {
    Session {
        timeout: facts.add(
            "ssl_session_timeout",
            "1d",
            profile(": a client resumes its session for a day"),
        ),
        cache: facts.add(
            "ssl_session_cache",
            "shared:MozSSL:10m",
            profile(": 10MB shared by the workers, about 40,000 sessions"),
        ),
    }
}

fn stapling(tls: &Tls, section: Section, facts: &mut Facts) -> Stapling {
    let at = |key: &str| section.at(&format!("tls/{key}"));
    let on = facts.add("ssl_stapling", "on", Origin::spec(at("ocsp_stapling")));
    Stapling {
        verify: facts.add(
            "ssl_stapling_verify",
            "on",
            Origin::derived(
                Some(&at("ocsp_stapling")),
                "a stapled response is verified before it is sent",
            ),
        ),
        on,
        trusted_certificate: tls.trusted_certificate.as_ref().map(|t| {
            facts.add(
                "ssl_trusted_certificate",
                t.as_str().to_owned(),
                Origin::spec(at("trusted_certificate")),
            )
        }),
        resolver: facts.add(
            "resolver",
            // nginx reads an IPv6 resolver address in brackets, as `[::1]`.
            tls.resolver
                .iter()
                .map(|a| match a.ip() {
                    std::net::IpAddr::V4(ip) => ip.to_string(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                })
                .collect(),
            Origin::spec(at("resolver")).because(
                "nginx looks up the OCSP responder through it; written only while stapling",
            ),
        ),
    }
}

fn hsts(tls: &Tls, section: Section, facts: &mut Facts) -> Fact<String> {
    let header = tls.hsts.header();
    let is_default = header == crate::spec::Hsts::default().header();
    facts.add(
        "add_header",
        header,
        given_derived(
            &section.at("tls/hsts"),
            is_default,
            "HSTS, repeated where a location adds headers",
            format!(
                "HSTS for two years with subdomains, the default of {}; repeated where a location adds headers",
                section.dotted("tls.hsts")
            ),
        ),
    )
}

/// `server_tokens off;` in every http server: no nginx version in the Server header or error pages.
fn server_tokens(facts: &mut Facts) -> Fact<&'static str> {
    facts.add(
        "server_tokens",
        "off",
        Origin::default("the Server header and error pages do not tell which nginx version runs"),
    )
}

fn gzip(facts: &mut Facts) -> Gzip {
    Gzip {
        on: facts.add(
            "gzip",
            "on",
            Origin::default("text responses are compressed"),
        ),
        proxied: facts.add(
            "gzip_proxied",
            "any",
            Origin::default(
                "compressed for requests that came through a proxy too, which nginx leaves alone by default",
            ),
        ),
        types: facts.add(
            "gzip_types",
            vec![
                "text/plain",
                "text/css",
                "text/javascript",
                "application/javascript",
                "application/json",
                "application/xml",
                "image/svg+xml",
            ],
            Origin::default("the text types; application/json included, as CATMAID's documents ask"),
        ),
    }
}

/// The front of an HTTPS server: its redirect server, listen lines, name, TLS and compression.
fn front(
    nginx: &Nginx,
    server_name: Fact<String>,
    listen_spec: &Listen,
    tls_spec: &Tls,
    section: Section,
    facts: &mut Facts,
) -> Front {
    let server_tokens = server_tokens(facts);
    let (listen, redirect) = listen(nginx, listen_spec, section, facts);
    Front {
        server_name,
        server_tokens,
        listen,
        redirect,
        tls: tls(nginx, tls_spec, section, facts),
        logs: None,
        gzip: gzip(facts),
    }
}

fn upstream_block(
    facts: &mut Facts,
    name: Fact<String>,
    servers: &[SocketAddr],
    origin: Origin,
    keepalive: (u32, &str),
) -> UpstreamBlock {
    UpstreamBlock {
        name,
        servers: facts.add(
            "server",
            servers.iter().map(|s| s.as_str().to_owned()).collect(),
            origin,
        ),
        keepalive: facts.add("keepalive", keepalive.0, Origin::default(keepalive.1)),
    }
}

/// The idle connections kept open to the application servers or backends, so that a request
/// skips the TCP handshake.
const KEEPALIVE: (u32, &str) = (
    16,
    "16 idle connections kept open to the servers, so that a request skips the TCP handshake",
);

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

fn logs(https: &Https, facts: &mut Facts) -> Logs {
    let section = Section("https");
    let access = match https.access_log {
        AccessLog::Off => vec![facts.add(
            "access_log",
            "off",
            Origin::spec(section.at("access_log")).unless_written(
                "no access log, the default of nginx.https.access_log: the busiest sites gain the most",
            ),
        )],
        AccessLog::Buffered => {
            let origin = Origin::derived(
                Some(&section.at("access_log")),
                "buffered: written in 64k batches, at least every 5 minutes",
            );
            vec![
                facts.add(
                    "access_log",
                    "/var/log/nginx/access.log",
                    Origin::default("the log the distribution's logrotate rotates"),
                ),
                facts.add(
                    "access_log",
                    "combined",
                    Origin::default("nginx's own format, which log tools read"),
                ),
                facts.add("access_log", "buffer=64k", origin.clone()),
                facts.add("access_log", "flush=5m", origin),
            ]
        }
    };
    Logs {
        access,
        error_path: facts.add(
            "error_log",
            "/var/log/nginx/error.log",
            Origin::default("the log the distribution's logrotate rotates"),
        ),
        error_level: facts.add(
            "error_log",
            error_level(https.error_log_level),
            given(
                &section.at("error_log_level"),
                https.error_log_level == ErrorLogLevel::default(),
                "crit, the default of nginx.https.error_log_level",
            ),
        ),
    }
}

fn header(
    facts: &mut Facts,
    name: &'static str,
    value: Arg,
    origin: Origin,
    note: Option<&'static str>,
) -> ProxyHeader {
    let value = facts.add("proxy_set_header", value, origin);
    ProxyHeader {
        note,
        name: value.sibling(name),
        value,
    }
}

/// `proxy_set_header Connection "";`: keepalive to the upstream needs the client's
/// `Connection: close` gone.
fn no_connection_header(facts: &mut Facts) -> ProxyHeader {
    header(
        facts,
        "Connection",
        Arg::Text(String::new()),
        Origin::default("no Connection header upstream, so that keepalive connections stay open"),
        None,
    )
}

fn proxy_pass(facts: &mut Facts, upstream: &Fact<String>, headers: Vec<ProxyHeader>) -> ProxyPass {
    ProxyPass {
        pass: facts.add(
            "proxy_pass",
            format!("http://{}", upstream.value),
            Origin::derived(None, "the upstream block above"),
        ),
        http_version: facts.add(
            "proxy_http_version",
            "1.1",
            Origin::default(
                "keepalive to the upstream needs HTTP/1.1; nginx speaks 1.0 by default",
            ),
        ),
        headers,
    }
}

fn https_headers(https: &Https, upgrade: Option<&MapBlock>, facts: &mut Facts) -> Vec<ProxyHeader> {
    let mut headers = Vec::new();
    match upgrade {
        Some(map) => {
            let origin = Origin::derived(
                Some("/nginx/https/upstream/protocol"),
                "asgi: WebSocket upgrades pass through",
            );
            headers.push(header(
                facts,
                "Upgrade",
                Arg::Raw(Raw::var("http_upgrade")),
                origin.clone(),
                None,
            ));
            headers.push(header(
                facts,
                "Connection",
                Arg::Raw(Raw::var(&map.variable.value)),
                origin,
                None,
            ));
        }
        None => {
            debug_assert_eq!(https.upstream.protocol, AppProtocol::Wsgi);
            headers.push(no_connection_header(facts));
        }
    }
    headers.push(header(
        facts,
        "Host",
        Arg::Raw(Raw::var("host")),
        Origin::default("the name the client asked for"),
        None,
    ));
    headers.push(forwarded_for(facts));
    headers.push(header(
        facts,
        "X-Forwarded-Proto",
        Arg::Raw(Raw::var("scheme")),
        Origin::default(
            "nginx overwrites X-Forwarded-Proto, which Django's SECURE_PROXY_SSL_HEADER trusts",
        ),
        None,
    ));
    headers
}

fn forwarded_for(facts: &mut Facts) -> ProxyHeader {
    header(
        facts,
        "X-Forwarded-For",
        Arg::Raw(Raw::var("proxy_add_x_forwarded_for")),
        Origin::default("the client's address, after any the request came with"),
        None,
    )
}

/// The map that gives `Connection: upgrade` to a WebSocket upgrade and none to anything else.
fn upgrade_map(site: &Site, facts: &mut Facts) -> MapBlock {
    let source = facts.add(
        "map",
        "http_upgrade".to_owned(),
        Origin::derived(
            Some("/nginx/https/upstream/protocol"),
            "asgi: WebSocket upgrades pass through",
        ),
    );
    let variable = named(facts, "map", format!("{}_connection_upgrade", stem(site)));
    let idiom = Origin::default(
        "nginx's WebSocket proxying: `Connection: upgrade` when the client asks to upgrade, none otherwise",
    );
    let default = facts.add("map", Arg::Text("upgrade".to_owned()), idiom);
    let empty = default.sibling(Arg::Text(String::new()));
    MapBlock {
        source,
        variable,
        entries: vec![
            MapEntry {
                key: default.sibling("default".to_owned()),
                value: default,
            },
            MapEntry {
                key: empty.sibling(String::new()),
                value: empty,
            },
        ],
    }
}

/// The HTTPS server's server_name: the host's own (a read-only mirror), else the site's.
fn https_server_name(site: &Site, https: &Https, host: &Host, facts: &mut Facts) -> Fact<String> {
    match &host.server_name {
        Some(name) => {
            let index = site
                .hosts
                .iter()
                .position(|h| h.name == host.name)
                .unwrap_or_default();
            facts.add(
                "server_name",
                name.clone(),
                Origin::spec(format!("/hosts/{index}/server_name")),
            )
        }
        None => facts.add(
            "server_name",
            https.server_name.clone(),
            Origin::spec("/nginx/https/server_name"),
        ),
    }
}

fn https_context<'a>(
    site: &'a Site,
    nginx: &Nginx,
    https: &Https,
    host: &Host,
    facts: &mut Facts,
) -> HttpsContext<'a> {
    let section = Section("https");
    let name = named(facts, "upstream", format!("{}_app", stem(site)));
    let upstream = upstream_block(
        facts,
        name,
        &https.upstream.servers,
        Origin::spec("/nginx/https/upstream/servers").because("the application servers"),
        KEEPALIVE,
    );
    let upgrade = (https.upstream.protocol == AppProtocol::Asgi).then(|| upgrade_map(site, facts));
    let server_name = https_server_name(site, https, host, facts);
    let mut front = front(
        nginx,
        server_name,
        &https.listen,
        &https.tls,
        section,
        facts,
    );
    front.logs = Some(logs(https, facts));
    let client_body = https.client_body_buffer_size;
    let client_body_buffer_size = facts.add(
        "client_body_buffer_size",
        client_body.to_nginx_size(),
        given(
            &section.at("client_body_buffer_size"),
            client_body == ByteSize::from_bytes(512 * 1024),
            "512k, the default of nginx.https.client_body_buffer_size: requests are not written to disk",
        ),
    );
    let static_locations = static_locations(https, &front.tls.hsts, facts);
    let headers = https_headers(https, upgrade.as_ref(), facts);
    let proxy = proxy_pass(facts, &upstream.name, headers);
    let hide_hsts = facts.add(
        "proxy_hide_header",
        "Strict-Transport-Security",
        Origin::default("Django sets the same header; nginx sends it once, for every response"),
    );
    let buffers = proxy_buffers(https, facts);
    HttpsContext {
        site: &site.site,
        upstream,
        upgrade,
        front,
        client_body_buffer_size,
        static_locations,
        proxy,
        hide_hsts,
        proxy_buffer_size: buffers.0,
        proxy_buffers: buffers.1,
        proxy_busy_buffers_size: buffers.2,
    }
}

fn static_locations(https: &Https, hsts: &Fact<String>, facts: &mut Facts) -> Vec<StaticBlock> {
    if https.static_locations.is_empty() {
        return Vec::new();
    }
    let expires = facts.add(
        "expires",
        "max",
        Origin::default("static files never expire (CATMAID's tiles)"),
    );
    let cache_control = facts.add(
        "add_header",
        "public",
        Origin::default("any cache may keep static files: everything in the folder is public"),
    );
    https
        .static_locations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = |key: &str| format!("/nginx/https/static_locations/{i}/{key}");
            StaticBlock {
                url: facts.add("location", s.url.clone(), Origin::spec(at("url"))),
                alias: facts.add(
                    "alias",
                    format!("{}/", s.folder.as_str().trim_end_matches('/')),
                    Origin::derived(
                        Some(&at("folder")),
                        "the folder, ending in `/` as the URL does",
                    ),
                ),
                expires: expires.clone(),
                cache_control: cache_control.clone(),
                hsts: hsts.clone(),
            }
        })
        .collect()
}

/// proxy_buffer_size, proxy_buffers and proxy_busy_buffers_size.
fn proxy_buffers(
    https: &Https,
    facts: &mut Facts,
) -> (Fact<String>, ProxyBuffersFacts, Fact<String>) {
    let section = Section("https");
    let header_default = https.proxy_buffer_size == ByteSize::from_bytes(64 * 1024);
    let buffer_size = facts.add(
        "proxy_buffer_size",
        https.proxy_buffer_size.to_nginx_size(),
        given(
            &section.at("proxy_buffer_size"),
            header_default,
            "64k, the default of nginx.https.proxy_buffer_size",
        ),
    );
    let defaults = crate::spec::ProxyBuffers::default();
    let buffers_default =
        https.proxy_buffers.count == defaults.count && https.proxy_buffers.size == defaults.size;
    let count = facts.add(
        "proxy_buffers",
        https.proxy_buffers.count,
        given(
            &section.at("proxy_buffers"),
            buffers_default,
            "32 of 4k, the default of nginx.https.proxy_buffers: all but one hold the default 64k proxy_buffer_size",
        ),
    );
    let buffers = ProxyBuffersFacts {
        size: count.sibling(https.proxy_buffers.size.to_nginx_size()),
        count,
    };
    // It is always written: nginx's own default (twice the largest buffer) is refused whenever it
    // exceeds all proxy_buffers but one.
    let why = if https.proxy_busy_buffers_size().bytes()
        == https.largest_proxy_buffer().saturating_mul(2)
    {
        "twice the larger of proxy_buffer_size and one of proxy_buffers, as nginx derives it"
    } else {
        "all proxy_buffers but one, the most nginx accepts (twice proxy_buffer_size, its default, is more)"
    };
    let from = if !buffers_default {
        Some(section.at("proxy_buffers"))
    } else if !header_default {
        Some(section.at("proxy_buffer_size"))
    } else {
        None
    };
    let busy = facts.add(
        "proxy_busy_buffers_size",
        https.proxy_busy_buffers_size().to_nginx_size(),
        Origin::derived(from.as_deref(), why),
    );
    (buffer_size, buffers, busy)
}

/// The caching proxy's cookie rule: a request with only harmless cookies (or none) is what an
/// anonymous client sends, so it is cached, and reaches the backend with no cookie at all; any
/// other cookie (the session cookie among them, even when listed as harmless) makes it private:
/// never served from the cache nor stored, and passed on as sent. Gives the note on the rule, the
/// map that says whether a request is private, and the map of the Cookie header a backend gets.
fn cookie_maps(site: &Site, proxy: &CacheProxy, facts: &mut Facts) -> (String, MapBlock, MapBlock) {
    let harmless: Vec<&str> = proxy
        .harmless_cookies
        .iter()
        .map(|c| c.0.as_str())
        .filter(|c| *c != proxy.session_cookie)
        .collect();
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
    let private_var = named(facts, "map", format!("{}_private", stem(site)));
    let cookies = facts.add(
        "map",
        "http_cookie".to_owned(),
        Origin::default("the Cookie header the client sent"),
    );
    let entry = |facts: &mut Facts, key: &str, value: Arg, origin: Origin| {
        let value = facts.add("map", value, origin);
        MapEntry {
            key: value.sibling(key.to_owned()),
            value,
        }
    };
    let mut private_entries = vec![
        entry(
            facts,
            "default",
            Arg::Text("1".to_owned()),
            Origin::default("a cookie other than the harmless ones makes a request private"),
        ),
        entry(
            facts,
            "",
            Arg::Text("0".to_owned()),
            Origin::default("a request without cookies is what an anonymous client sends"),
        ),
    ];
    if !harmless.is_empty() {
        // Cookie names are letters, digits and `_` (the schema's pattern), so they need no
        // escaping in the regular expression; `\z` ends it, since nginx would read `$` as a
        // variable.
        let regex = format!(r"~^\s*(?:(?:{})=[^;]*(?:;\s*|\z))+\z", harmless.join("|"));
        private_entries.push(entry(
            facts,
            &regex,
            Arg::Text("0".to_owned()),
            Origin::derived(
                Some("/nginx/cache_proxy/harmless_cookies"),
                "only harmless cookies: the request may be cached",
            ),
        ));
    }
    let private = MapBlock {
        source: cookies.clone(),
        variable: private_var.clone(),
        entries: private_entries,
    };
    let upstream_entries = vec![
        entry(
            facts,
            "default",
            Arg::Text(String::new()),
            Origin::default(
                "a request that may be cached reaches the backend with no cookie, so a stored answer was made for a client without cookies",
            ),
        ),
        entry(
            facts,
            "1",
            Arg::Raw(Raw::var(&cookies.value)),
            Origin::default("a private request reaches the backend with its cookies as sent"),
        ),
    ];
    let upstream_cookie = MapBlock {
        source: private_var,
        variable: named(facts, "map", format!("{}_upstream_cookie", stem(site))),
        entries: upstream_entries,
    };
    (note, private, upstream_cookie)
}

fn maintenance(proxy: &CacheProxy, facts: &mut Facts) -> Option<MaintenanceSwitch> {
    let m = proxy.maintenance.as_ref()?;
    let at = |key: &str| format!("/nginx/cache_proxy/maintenance/{key}");
    let page = m.page.as_str();
    let cut = page.rfind('/').expect("an absolute path has a /");
    let retry_after = m.retry_after;
    Some(MaintenanceSwitch {
        status: facts.add(
            "return",
            503,
            Origin::default("503 Service Unavailable: clients and crawlers come back later"),
        ),
        location: facts.add(
            "error_page",
            "@maintenance",
            Origin::default("a named location, which no request reaches but through error_page"),
        ),
        flag: facts.add(
            "if",
            m.flag.as_str().to_owned(),
            Origin::spec(at("flag")).because("maintenance while the file exists"),
        ),
        root: facts.add(
            "root",
            if cut == 0 { "/" } else { &page[..cut] }.to_owned(),
            Origin::derived(Some(&at("page")), "the page's folder"),
        ),
        page: facts.add(
            "try_files",
            page[cut..].to_owned(),
            Origin::derived(Some(&at("page")), "the page, in its folder"),
        ),
        retry_after: facts.add(
            "add_header",
            retry_after.whole_secs().unwrap_or(600),
            given(
                &at("retry_after"),
                retry_after == Duration::from_secs(600),
                "10 minutes, the default of nginx.cache_proxy.maintenance.retry_after",
            ),
        ),
    })
}

/// What every server of the caching proxy sends upstream: the public name and scheme, never the
/// client's, so that the buster refreshes, under the one key, what a public client is given.
fn cache_headers(proxy: &CacheProxy, facts: &mut Facts) -> Vec<ProxyHeader> {
    vec![
        no_connection_header(facts),
        header(
            facts,
            "Host",
            Arg::Text(proxy.server_name.clone()),
            Origin::spec("/nginx/cache_proxy/server_name")
                .because("every server sends the public name upstream, never the client's Host"),
            Some(
                "The public server's name and scheme, never the client's (a tunnel's localhost:9000 and http).",
            ),
        ),
        forwarded_for(facts),
        header(
            facts,
            "X-Forwarded-Proto",
            Arg::Text("https".to_owned()),
            Origin::default(
                "every server sends https upstream, never the client's scheme, so that the buster stores what the public server would",
            ),
            None,
        ),
    ]
}

/// How a server of the caching proxy uses the cache: `buster` fetches every request afresh.
fn cache_use(shared: &Shared, buster: bool, facts: &mut Facts) -> CacheUse {
    let credentials = vec![
        Raw::var(&shared.private.variable.value),
        Raw::var("http_authorization"),
    ];
    let bypass = if buster {
        facts.add(
            "proxy_cache_bypass",
            vec![Raw("1".to_owned())],
            Origin::spec("/nginx/cache_proxy/buster_port")
                .because("the buster fetches every request afresh, and stores what it fetched"),
        )
    } else {
        facts.add(
            "proxy_cache_bypass",
            credentials.clone(),
            Origin::default("a cookie other than the harmless ones, or an Authorization header, bypasses the cache"),
        )
    };
    let valid = shared.proxy.cache.valid;
    let valid_ok = facts.add(
        "proxy_cache_valid",
        vec![200, 301, 302],
        given(
            "/nginx/cache_proxy/cache/valid",
            valid == Duration::from_secs(3_600),
            "an hour, the default of nginx.cache_proxy.cache.valid",
        ),
    );
    let valid_404 = facts.add(
        "proxy_cache_valid",
        vec![404],
        Origin::default(
            "a missing page is kept a minute, so a burst of requests for it reaches a backend once",
        ),
    );
    CacheUse {
        cookie: facts.add(
            "proxy_set_header",
            Arg::Raw(Raw::var(&shared.upstream_cookie.variable.value)),
            Origin::default("a cached request goes with no cookie, a private one with its own"),
        ),
        zone: facts.add(
            "proxy_cache",
            shared.zone.value.clone(),
            Origin::default("the public and buster servers share the cache; the long-timeout server, whose backends may be read-write, has none"),
        ),
        key: facts.add(
            "proxy_cache_key",
            Raw::var("request_uri"),
            Origin::default("the URI alone: every cached request goes upstream with the public name and scheme, so the buster refreshes what the public server serves"),
        ),
        ignore_headers: facts.add(
            "proxy_ignore_headers",
            vec!["Cache-Control", "Expires", "Set-Cookie", "Vary", "X-Accel-Expires"],
            Origin::default("a public read-only site: the backends' cache headers are ignored"),
        ),
        valid: vec![
            CacheValid {
                time: valid_ok.sibling(valid.to_nginx()),
                codes: valid_ok,
            },
            CacheValid {
                time: valid_404.sibling("1m".to_owned()),
                codes: valid_404,
            },
        ],
        use_stale: facts.add(
            "proxy_cache_use_stale",
            vec!["error", "timeout", "updating", "http_500", "http_502", "http_503", "http_504"],
            Origin::default("the stored copy is served while the backends fail or it is being refreshed"),
        ),
        background_update: facts.add(
            "proxy_cache_background_update",
            "on",
            Origin::default("an expired copy is refreshed in the background while the stale one is served"),
        ),
        lock: facts.add(
            "proxy_cache_lock",
            "on",
            Origin::default("one request at a time fills a missing entry; the others wait for it"),
        ),
        bypass,
        no_cache: facts.add(
            "proxy_no_cache",
            credentials,
            Origin::derived(
                Some("/nginx/cache_proxy/harmless_cookies"),
                "nothing fetched with a cookie other than the harmless ones (the session cookie among them), or with an Authorization header, is stored",
            ),
        ),
        status: facts.add(
            "add_header",
            Raw::var("upstream_cache_status"),
            Origin::default("says whether the answer came from the cache"),
        ),
    }
}

/// One server of the caching proxy. `buster` fetches every request afresh; `cache` is false for
/// the long-timeout server, whose backends may be read-write.
struct ServerKind {
    /// A tunnel server's address; the public server's is in [`Front`].
    listen: Option<Fact<String>>,
    buster: bool,
    cache: bool,
    hsts: Option<Fact<String>>,
}

/// What every server of the caching proxy shares: its upstream's cache and cookie maps.
struct Shared<'a> {
    proxy: &'a CacheProxy,
    zone: &'a Fact<String>,
    private: &'a MapBlock,
    upstream_cookie: &'a MapBlock,
}

fn cache_server(
    shared: &Shared,
    upstream: &Fact<String>,
    timeout: (Duration, Origin),
    kind: ServerKind,
    facts: &mut Facts,
) -> CacheServer {
    let headers = cache_headers(shared.proxy, facts);
    let proxy = proxy_pass(facts, upstream, headers);
    let (timeout, origin) = timeout;
    CacheServer {
        listen: kind.listen,
        proxy,
        timeout: facts.add("proxy_read_timeout", timeout.to_nginx(), origin.clone()),
        tries: facts.add(
            "proxy_next_upstream_tries",
            NEXT_UPSTREAM_TRIES,
            Origin::default(
                "the first backend and one retry, so a slow request never runs on every backend",
            ),
        ),
        next_timeout: facts.add(
            "proxy_next_upstream_timeout",
            timeout.to_nginx(),
            Origin::derived(
                origin.spec.as_deref(),
                "the server's own timeout (`timeout`, or `long_timeout.timeout`): no retry once it has run out, so a request costs its timeout and at most one retry",
            ),
        ),
        hide: vec![
            facts.add(
                "proxy_hide_header",
                "Set-Cookie",
                Origin::default("a public read-only site: no backend's cookie reaches a client"),
            ),
            facts.add(
                "proxy_hide_header",
                "Strict-Transport-Security",
                Origin::default("nginx sends its own HSTS header, once"),
            ),
        ],
        cache: kind.cache.then(|| cache_use(shared, kind.buster, facts)),
        hsts: kind.hsts,
    }
}

fn cache_context<'a>(
    site: &'a Site,
    nginx: &Nginx,
    proxy: &CacheProxy,
    facts: &mut Facts,
) -> CacheContext<'a> {
    let section = Section("cache_proxy");
    let cache_path = cache_path(site, proxy, facts);
    let name = named(facts, "upstream", format!("{}_backends", stem(site)));
    let upstream = upstream_block(
        facts,
        name,
        &proxy.backends,
        Origin::spec("/nginx/cache_proxy/backends"),
        KEEPALIVE,
    );
    let long_upstream = long_upstream(site, proxy, facts);
    let (cookie_note, private, upstream_cookie) = cookie_maps(site, proxy, facts);
    let server_name = facts.add(
        "server_name",
        proxy.server_name.clone(),
        Origin::spec("/nginx/cache_proxy/server_name"),
    );
    let front = front(
        nginx,
        server_name,
        &proxy.listen,
        &proxy.tls,
        section,
        facts,
    );
    let maintenance = maintenance(proxy, facts);
    let shared = Shared {
        proxy,
        zone: &cache_path.zone,
        private: &private,
        upstream_cookie: &upstream_cookie,
    };
    let timeout = (
        proxy.timeout,
        given(
            "/nginx/cache_proxy/timeout",
            proxy.timeout == Duration::from_secs(60),
            "a minute, the default of nginx.cache_proxy.timeout",
        ),
    );
    let public = ServerKind {
        listen: None,
        buster: false,
        cache: true,
        hsts: Some(front.tls.hsts.clone()),
    };
    let public = cache_server(&shared, &upstream.name, timeout.clone(), public, facts);
    let buster = proxy.buster_port.map(|port| {
        let buster = ServerKind {
            listen: Some(tunnel(port.0, "/nginx/cache_proxy/buster_port", facts)),
            buster: true,
            cache: true,
            hsts: None,
        };
        cache_server(&shared, &upstream.name, timeout.clone(), buster, facts)
    });
    let long = proxy.long_timeout.as_ref().zip(long_upstream.as_ref());
    let long = long.map(|(l, u)| {
        let long = ServerKind {
            listen: Some(tunnel(
                l.port.0,
                "/nginx/cache_proxy/long_timeout/port",
                facts,
            )),
            buster: false,
            cache: false,
            hsts: None,
        };
        let timeout = Origin::spec("/nginx/cache_proxy/long_timeout/timeout");
        cache_server(&shared, &u.name, (l.timeout, timeout), long, facts)
    });
    CacheContext {
        site: &site.site,
        cache_path,
        upstream,
        long_upstream,
        cookie_note,
        private,
        upstream_cookie,
        front,
        maintenance,
        public,
        buster,
        long,
    }
}

/// The long-timeout server's upstream: its own backends, or the proxy's. No proxy buffer directive
/// is written on the caching proxy: nginx's defaults (a one-page proxy_buffer_size, 8 one-page
/// proxy_buffers, a two-page proxy_busy_buffers_size) meet its own constraints.
fn long_upstream(site: &Site, proxy: &CacheProxy, facts: &mut Facts) -> Option<UpstreamBlock> {
    let long = proxy.long_timeout.as_ref()?;
    let (servers, origin) = if long.backends.is_empty() {
        (
            &proxy.backends,
            Origin::derived(
                Some("/nginx/cache_proxy/backends"),
                "the proxy's backends, as long_timeout.backends names none",
            ),
        )
    } else {
        (
            &long.backends,
            Origin::spec("/nginx/cache_proxy/long_timeout/backends"),
        )
    };
    let name = named(facts, "upstream", format!("{}_long", stem(site)));
    let keepalive = (
        4,
        "4 idle connections kept open: the long-timeout port is for a few slow requests",
    );
    Some(upstream_block(facts, name, servers, origin, keepalive))
}

/// The address of a server reached through an SSH tunnel.
fn tunnel(port: u16, pointer: &str, facts: &mut Facts) -> Fact<String> {
    facts.add(
        "listen",
        format!("127.0.0.1:{port}"),
        Origin::derived(Some(pointer), "on 127.0.0.1, for an SSH tunnel"),
    )
}

fn cache_path(site: &Site, proxy: &CacheProxy, facts: &mut Facts) -> CachePath {
    let at = |key: &str| format!("/nginx/cache_proxy/cache/{key}");
    let inactive = proxy.cache.inactive;
    CachePath {
        directory: facts.add(
            "proxy_cache_path",
            proxy.cache.directory.as_str().to_owned(),
            Origin::spec(at("directory")),
        ),
        levels: facts.add(
            "proxy_cache_path",
            "1:2",
            Origin::default("two levels of folders, so that no folder holds too many files"),
        ),
        zone: named(facts, "proxy_cache_path", format!("{}_cache", stem(site))),
        zone_size: facts.add(
            "proxy_cache_path",
            "10m",
            Origin::default("10MB of shared memory for the keys: about 80,000 entries"),
        ),
        max_size: facts.add(
            "proxy_cache_path",
            proxy.cache.max_size.to_nginx(),
            Origin::spec(at("max_size")),
        ),
        inactive: facts.add(
            "proxy_cache_path",
            inactive.to_nginx(),
            given(
                &at("inactive"),
                inactive == Duration::from_secs(7 * 86_400),
                "a week, the default of nginx.cache_proxy.cache.inactive",
            ),
        ),
        use_temp_path: facts.add(
            "proxy_cache_path",
            "off",
            Origin::default(
                "responses are written into the cache folder, never copied from another",
            ),
        ),
    }
}
