//! nginx: the stream forward on the primary, the HTTPS front end of the web hosts, and the caching
//! proxy of a public read-only site.

use schemars::JsonSchema;
use serde::Deserialize;

use super::location::{Directive, Location};
use super::scalar::{AbsPath, Address, Port, SocketAddr, Version};
use crate::units::{ByteSize, Duration};

/// nginx, on every host whose role needs it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nginx {
    /// The nginx version the hosts run: it decides which directives are written (`http2 on;` from 1.25.1).
    pub version: Version,
    /// The OpenSSL version nginx is built with: it decides which TLS groups are offered (X25519MLKEM768 from 3.5).
    pub openssl: Version,
    /// Where the distribution's nginx.conf includes files from.
    #[serde(default)]
    pub(crate) layout: NginxLayout,
    /// Further TCP ports nginx forwards on the PostgreSQL primary.
    #[serde(default)]
    pub(crate) stream: Vec<StreamForward>,
    /// The HTTPS server in front of the Django application, on the hosts with the `web` role.
    #[serde(default)]
    pub(crate) https: Option<Https>,
    /// The caching proxy of a public read-only site, on the hosts with the `proxy` role.
    #[serde(default)]
    pub(crate) cache_proxy: Option<CacheProxy>,
    /// Directives inside `http {}`, in a file of their own on every host with an HTTPS server or the caching proxy.
    #[serde(default)]
    pub(crate) http_directives: Vec<Directive>,
    /// Directives inside the `stream {}` block of the hosts that forward ports.
    #[serde(default)]
    pub(crate) stream_directives: Vec<Directive>,
}

/// The file layout of a distribution's nginx package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NginxLayout {
    /// Debian and Ubuntu: /etc/nginx/modules-enabled/ at main level, conf.d/ inside http.
    #[default]
    Debian,
    /// RHEL, Rocky, Alma and Fedora: /usr/share/nginx/modules/ at main level, conf.d/ inside http.
    Rhel,
}

/// A TCP port nginx forwards.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamForward {
    /// The port nginx listens on, on the host's address.
    pub(crate) listen: Port,
    /// Where nginx forwards connections to.
    pub(crate) to: SocketAddr,
    /// Further directives of this forward's server.
    #[serde(default)]
    pub(crate) directives: Vec<Directive>,
}

/// Where a server listens and how it speaks TLS.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Tls {
    /// The certificate chain file.
    pub(crate) certificate: AbsPath,
    /// The private key file.
    pub(crate) certificate_key: AbsPath,
    /// Mozilla's server-side TLS profile (guidelines 6.0): `modern` (TLS 1.3 only) or `intermediate` (TLS 1.2 and 1.3).
    #[serde(default)]
    pub(crate) profile: TlsProfile,
    /// Staple OCSP responses; needs the issuer's chain in `trusted_certificate`. Let's Encrypt ended OCSP in 2025.
    #[serde(default)]
    pub(crate) ocsp_stapling: bool,
    /// The chain that verifies OCSP responses (ssl_trusted_certificate), for `ocsp_stapling`.
    #[serde(default)]
    pub(crate) trusted_certificate: Option<AbsPath>,
    /// The DNS servers nginx asks for the OCSP responder's address (resolver): needed with `ocsp_stapling`, and written only with it.
    #[serde(default)]
    pub(crate) resolver: Vec<Address>,
    /// Strict-Transport-Security, sent by nginx and set the same in Django.
    #[serde(default)]
    pub(crate) hsts: Hsts,
}

/// HTTP Strict Transport Security: browsers use only HTTPS for the site for `max_age`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hsts {
    /// How long browsers remember it; Mozilla's guidelines give two years (730d).
    #[serde(default = "default_hsts_age")]
    pub(crate) max_age: Duration,
    /// Every subdomain too: only when all of them serve HTTPS.
    #[serde(default = "yes")]
    pub(crate) include_subdomains: bool,
    /// Ask to be on browsers' preload lists: hard to undo, so only when asked.
    #[serde(default)]
    pub(crate) preload: bool,
}

fn default_hsts_age() -> Duration {
    Duration::from_secs(63_072_000)
}

fn yes() -> bool {
    true
}

impl Default for Hsts {
    fn default() -> Self {
        Self {
            max_age: default_hsts_age(),
            include_subdomains: true,
            preload: false,
        }
    }
}

impl Hsts {
    /// The header's value.
    pub(crate) fn header(&self) -> String {
        let mut value = format!("max-age={}", self.max_age.whole_secs().unwrap_or(0));
        if self.include_subdomains {
            value.push_str("; includeSubDomains");
        }
        if self.preload {
            value.push_str("; preload");
        }
        value
    }
}

/// A Mozilla server-side TLS profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TlsProfile {
    /// TLS 1.3 only.
    Modern,
    /// TLS 1.2 and 1.3 with forward-secret AEAD ciphers.
    #[default]
    Intermediate,
    /// Refused: Mozilla's guidelines 6.0 removed it, since it needs TLS 1.0 and 1.1.
    Old,
}

/// How a server is reached.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Listen {
    /// The address to listen on; every address of the host when not given.
    #[serde(default)]
    pub(crate) address: Option<Address>,
    /// The HTTPS port.
    #[serde(default = "https_port")]
    pub(crate) port: Port,
    /// The plain-HTTP port whose server redirects to HTTPS.
    #[serde(default = "http_port")]
    pub(crate) redirect_port: Port,
}

fn https_port() -> Port {
    Port(443)
}

fn http_port() -> Port {
    Port(80)
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            address: None,
            port: https_port(),
            redirect_port: http_port(),
        }
    }
}

/// The access log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AccessLog {
    /// No access log: the busiest sites gain the most.
    #[default]
    Off,
    /// Written in 64k batches, at least every 5 minutes.
    Buffered,
}

/// The least severe error that is logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ErrorLogLevel {
    /// Everything, for debugging.
    Debug,
    /// Informational messages.
    Info,
    /// Normal but significant.
    Notice,
    /// Warnings.
    Warn,
    /// Errors.
    Error,
    /// Critical errors only.
    #[default]
    Crit,
    /// Action must be taken.
    Alert,
    /// The server is unusable.
    Emerg,
}

/// The application servers nginx proxies to.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upstream {
    /// Their addresses.
    #[schemars(length(min = 1))]
    pub(crate) servers: Vec<SocketAddr>,
    /// `wsgi` (gunicorn, uWSGI over HTTP) or `asgi` (daphne, uvicorn: WebSocket upgrades pass through).
    #[serde(default)]
    pub(crate) protocol: AppProtocol,
}

/// The interface of the application servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AppProtocol {
    /// Plain HTTP requests.
    #[default]
    Wsgi,
    /// HTTP and WebSocket upgrades.
    Asgi,
}

/// An HTTPS server block in front of an application server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Https {
    /// The server's DNS name (server_name).
    #[schemars(regex(pattern = crate::spec::scalar::DNS_NAME_PATTERN), example = &"catmaid.example.org")]
    pub(crate) server_name: String,
    /// Where the server listens.
    #[serde(default)]
    pub(crate) listen: Listen,
    /// Certificate, key and profile.
    pub(crate) tls: Tls,
    /// The WSGI or ASGI servers nginx proxies to.
    pub(crate) upstream: Upstream,
    /// Folders served by nginx itself (static files, image tiles) under a URL, marked never to expire and `Cache-Control: public`.
    #[serde(default)]
    pub(crate) static_locations: Vec<StaticLocation>,
    /// The access log: off, or buffered.
    #[serde(default)]
    pub(crate) access_log: AccessLog,
    /// The least severe error logged.
    #[serde(default)]
    pub(crate) error_log_level: ErrorLogLevel,
    /// Request body buffer: large enough that requests are not written to disk.
    #[serde(default = "default_client_body_buffer_size")]
    pub(crate) client_body_buffer_size: ByteSize,
    /// Buffer for the response headers from the application. nginx needs it to fit in all `proxy_buffers` but one.
    #[serde(default = "default_proxy_buffer_size")]
    pub(crate) proxy_buffer_size: ByteSize,
    /// Buffers for one response from the application; 32 of 4kB when not given, so that all but one hold the default 64kB `proxy_buffer_size`.
    #[serde(default)]
    pub(crate) proxy_buffers: ProxyBuffers,
    /// How many connections are expected at once: proxy buffers for that many must fit in a tenth of the host's memory.
    #[serde(default = "default_connections")]
    #[schemars(range(min = 1, max = 1000000), example = 100)]
    pub(crate) expected_connections: u32,
    /// The largest request body accepted (nginx's client_max_body_size, 1m when not given; 0 for no
    /// limit): uploads larger than this get 413. A location may set its own.
    #[serde(default)]
    #[schemars(example = &"100MB")]
    pub(crate) client_max_body_size: Option<ByteSize>,
    /// Response headers of every answer, errors included (`add_header … always`), repeated in every
    /// location that adds headers of its own, as nginx would otherwise drop them there.
    #[serde(default)]
    #[schemars(example = &server_headers_example())]
    pub(crate) headers: std::collections::BTreeMap<super::location::HeaderName, String>,
    /// Locations of the site's own, before `location /`, which passes everything else to the application.
    #[serde(default)]
    pub(crate) locations: Vec<Location>,
    /// Further directives of the HTTPS server, which its locations inherit where nginx lets them.
    #[serde(default)]
    pub(crate) directives: Vec<Directive>,
}

fn server_headers_example() -> std::collections::BTreeMap<super::location::HeaderName, String> {
    std::collections::BTreeMap::from([(
        super::location::HeaderName("X-Content-Type-Options".to_owned()),
        "nosniff".to_owned(),
    )])
}

fn default_client_body_buffer_size() -> ByteSize {
    ByteSize::from_bytes(512 * 1024)
}

fn default_proxy_buffer_size() -> ByteSize {
    ByteSize::from_bytes(64 * 1024)
}

fn default_connections() -> u32 {
    100
}

/// `proxy_buffers COUNT SIZE`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProxyBuffers {
    /// How many buffers one connection may use.
    #[schemars(range(min = 2, max = 65536), example = 512)]
    pub(crate) count: u32,
    /// The size of one buffer, usually one memory page.
    pub(crate) size: ByteSize,
}

impl Default for ProxyBuffers {
    // nginx's own default, 8 of one page, leaves 28k for proxy_busy_buffers_size, which must be at
    // least proxy_buffer_size (64k by default): nginx then refuses to start. 32 pages leave 124k.
    fn default() -> Self {
        Self {
            count: 32,
            size: ByteSize::from_bytes(4096),
        }
    }
}

impl ProxyBuffers {
    /// What one connection may hold in buffers.
    pub(crate) fn total(&self) -> u64 {
        u64::from(self.count).saturating_mul(self.size.bytes())
    }

    /// All buffers but one: the most proxy_busy_buffers_size may be.
    pub(crate) fn all_but_one(&self) -> u64 {
        u64::from(self.count.saturating_sub(1)).saturating_mul(self.size.bytes())
    }
}

/// nginx's default proxy_max_temp_file_size, which sitewright leaves as it is: nginx refuses a
/// proxy_buffer_size or proxy_buffers size above it.
pub(crate) const PROXY_MAX_TEMP_FILE_SIZE: u64 = 1024 * 1024 * 1024;

impl Https {
    /// The larger of proxy_buffer_size and one of proxy_buffers: the least proxy_busy_buffers_size
    /// (and proxy_temp_file_write_size) nginx accepts.
    pub(crate) fn largest_proxy_buffer(&self) -> u64 {
        self.proxy_buffer_size
            .bytes()
            .max(self.proxy_buffers.size.bytes())
    }

    /// proxy_busy_buffers_size: nginx's own default (twice the largest buffer) where it fits in all
    /// proxy_buffers but one, else that. Below the largest buffer when no value fits, which `check`
    /// refuses (NGX009).
    pub(crate) fn proxy_busy_buffers_size(&self) -> ByteSize {
        let twice = self.largest_proxy_buffer().saturating_mul(2);
        ByteSize::from_bytes(twice.min(self.proxy_buffers.all_but_one()))
    }
}

/// A URL prefix served from a folder.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaticLocation {
    /// The URL prefix, starting and ending with `/`.
    #[schemars(regex(pattern = crate::spec::scalar::URL_PREFIX_PATTERN), example = &"/static/")]
    pub(crate) url: String,
    /// The folder served at `url`, as nginx's `alias`: with `url: /static/`, `/static/app.css` is `FOLDER/app.css`. Never the Django project, a certificate or key, or PostgreSQL's folders.
    #[schemars(example = &"/srv/mysite/static")]
    pub(crate) folder: AbsPath,
}

/// A caching proxy for a public, read-only site (IDR): the backends' cache headers and cookies are
/// ignored, so nothing personal may ever pass through it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CacheProxy {
    /// The public DNS name (server_name).
    #[schemars(regex(pattern = crate::spec::scalar::DNS_NAME_PATTERN), example = &"idr.openmicroscopy.org")]
    pub(crate) server_name: String,
    /// Where the public server listens.
    #[serde(default)]
    pub(crate) listen: Listen,
    /// Certificate, key and profile.
    pub(crate) tls: Tls,
    /// The read-only application servers behind the cache.
    #[schemars(length(min = 1))]
    pub(crate) backends: Vec<SocketAddr>,
    /// The cache on disk.
    pub(crate) cache: Cache,
    /// A port on 127.0.0.1 whose every request fetches afresh and refreshes the cache (reach it through an SSH tunnel).
    #[serde(default)]
    pub(crate) buster_port: Option<Port>,
    /// A port on 127.0.0.1 with a longer timeout, for responses that take longer than the public port allows.
    #[serde(default)]
    pub(crate) long_timeout: Option<LongTimeout>,
    /// A flag file that, while it exists, turns every request into a 503 maintenance page.
    #[serde(default)]
    pub(crate) maintenance: Option<Maintenance>,
    /// The session cookie of a logged-in user: requests that carry it are never cached nor served from the cache.
    #[serde(default = "default_session_cookie")]
    #[schemars(regex(pattern = crate::spec::scalar::COOKIE_PATTERN), example = &"sessionid")]
    pub(crate) session_cookie: String,
    /// Cookies that never change what the backends answer (an analytics cookie set by the pages' scripts):
    /// a request whose cookies are all among these is served from the cache, and they are removed before a
    /// cached request reaches a backend. A request with any other cookie (the session cookie among them, which
    /// cannot be listed here) is neither served from the cache nor stored, and reaches the backend as sent.
    #[serde(default)]
    pub(crate) harmless_cookies: Vec<CookieName>,
    /// How long the public port waits for a backend's response.
    #[serde(default = "default_timeout")]
    pub(crate) timeout: Duration,
    /// The largest request body accepted by the public server (nginx's client_max_body_size, 1m when not given).
    #[serde(default)]
    #[schemars(example = &"10MB")]
    pub(crate) client_max_body_size: Option<ByteSize>,
    /// Further directives of the public server.
    #[serde(default)]
    pub(crate) directives: Vec<Directive>,
}

/// A cookie's name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct CookieName(
    #[schemars(regex(pattern = crate::spec::scalar::COOKIE_PATTERN), example = &"_ga")]
    pub(crate)  String,
);

fn default_session_cookie() -> String {
    "sessionid".to_owned()
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

/// The proxy's cache.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cache {
    /// The folder that holds it; removing its contents empties the cache.
    pub(crate) directory: AbsPath,
    /// The most it may hold.
    pub(crate) max_size: ByteSize,
    /// Entries not read for this long are removed.
    #[serde(default = "default_inactive")]
    pub(crate) inactive: Duration,
    /// How long a successful response is served from the cache before it is fetched again.
    #[serde(default = "default_valid")]
    pub(crate) valid: Duration,
}

fn default_inactive() -> Duration {
    Duration::from_secs(7 * 86_400)
}

fn default_valid() -> Duration {
    Duration::from_secs(3_600)
}

/// The port with a longer timeout.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LongTimeout {
    /// The port, on 127.0.0.1.
    pub(crate) port: Port,
    /// How long it waits for a backend's response.
    pub(crate) timeout: Duration,
    /// The backends it uses, such as a read-write server without the read-only statement timeout; the proxy's backends when not given.
    #[serde(default)]
    pub(crate) backends: Vec<SocketAddr>,
}

/// The maintenance switch.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Maintenance {
    /// The flag file: `touch` it to start maintenance, remove it to end it.
    pub(crate) flag: AbsPath,
    /// The HTML page served with the 503.
    pub(crate) page: AbsPath,
    /// The Retry-After header sent with the 503.
    #[serde(default = "default_retry_after")]
    pub(crate) retry_after: Duration,
}

fn default_retry_after() -> Duration {
    Duration::from_secs(600)
}
