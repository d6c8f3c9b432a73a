//! nginx: the stream forward on the primary and the HTTPS front end of the web hosts.

use schemars::JsonSchema;
use serde::Deserialize;

use super::scalar::{AbsPath, Port, SocketAddr, Version};
use crate::units::ByteSize;

/// nginx, on every host whose role needs it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nginx {
    /// The nginx version the hosts run: it decides which directives are written.
    pub version: Version,
    /// The OpenSSL version nginx is built with: it decides which TLS groups are offered.
    pub openssl: Version,
    /// Where the distribution's nginx.conf includes files from.
    #[serde(default)]
    pub layout: NginxLayout,
    /// Further TCP ports nginx forwards on the PostgreSQL primary.
    #[serde(default)]
    pub stream: Vec<StreamForward>,
    /// The HTTPS server in front of the Django application on the web hosts.
    #[serde(default)]
    pub https: Option<Https>,
}

/// The file layout of a distribution's nginx package.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NginxLayout {
    /// Debian and Ubuntu: modules-enabled/ at main level, conf.d/ inside http.
    #[default]
    Debian,
}

/// A TCP port nginx forwards.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamForward {
    /// The port nginx listens on.
    pub listen: Port,
    /// Where nginx forwards connections to.
    pub to: SocketAddr,
}

/// An HTTPS server block in front of an application server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Https {
    /// The server's DNS name (server_name).
    #[schemars(regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"), example = &"catmaid.example.org")]
    pub server_name: String,
    /// The certificate chain file.
    pub certificate: AbsPath,
    /// The private key file.
    pub certificate_key: AbsPath,
    /// Mozilla's server-side TLS profile: `modern` (TLS 1.3 only) or `intermediate` (TLS 1.2 and 1.3).
    #[serde(default)]
    pub tls_profile: TlsProfile,
    /// The WSGI or ASGI server nginx proxies to.
    pub app: SocketAddr,
    /// Folders served by nginx itself, marked never to expire.
    #[serde(default)]
    pub static_locations: Vec<StaticLocation>,
    /// Request body buffer: large enough that requests are not written to disk.
    #[serde(default = "default_client_body_buffer_size")]
    pub client_body_buffer_size: ByteSize,
    /// Buffer for the response headers from the application.
    #[serde(default = "default_proxy_buffer_size")]
    pub proxy_buffer_size: ByteSize,
    /// Buffers for one response from the application.
    #[serde(default)]
    pub proxy_buffers: ProxyBuffers,
}

fn default_client_body_buffer_size() -> ByteSize {
    ByteSize::from_bytes(512 * 1024)
}

fn default_proxy_buffer_size() -> ByteSize {
    ByteSize::from_bytes(64 * 1024)
}

/// A Mozilla server-side TLS profile (guidelines 6.0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TlsProfile {
    /// TLS 1.3 only.
    Modern,
    /// TLS 1.2 and 1.3 with forward-secret AEAD ciphers.
    #[default]
    Intermediate,
}

/// `proxy_buffers COUNT SIZE`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyBuffers {
    /// How many buffers one connection may use.
    #[schemars(range(min = 2, max = 65536), example = 512)]
    pub count: u32,
    /// The size of one buffer, usually one memory page.
    pub size: ByteSize,
}

impl Default for ProxyBuffers {
    fn default() -> Self {
        Self {
            count: 8,
            size: ByteSize::from_bytes(4096),
        }
    }
}

/// A URL prefix served from a folder.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StaticLocation {
    /// The URL prefix, starting and ending with `/`.
    #[schemars(regex(pattern = r"^/([A-Za-z0-9._-]+/)*$"), example = &"/static/")]
    pub url: String,
    /// The folder it is served from.
    pub root: AbsPath,
}
