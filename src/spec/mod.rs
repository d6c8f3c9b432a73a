//! The site spec: the typed form of the YAML that users write, and the source of the JSON Schema.
//!
//! These types say what a spec may contain and nothing about files: deciding values is the plan's job.
//! Every field has a doc comment because schemars turns it into the description editors show.

mod django;
mod host;
mod location;
mod nginx;
mod pgbouncer;
mod postgres;
pub mod scalar;
mod secret;
mod sysctl;

use schemars::JsonSchema;
use serde::Deserialize;

pub(crate) use django::{CacheBackend, Django, Email, PythonValue, SessionEngine};
pub use host::Role;
pub(crate) use host::{Host, StorageKind};
pub(crate) use location::{Directive, HeaderName, Location, ProxyTarget, RateLimit, Word};
pub(crate) use nginx::{
    AccessLog, AppProtocol, CacheProxy, ErrorLogLevel, Hsts, Https, Listen, Nginx, NginxLayout,
    PROXY_MAX_TEMP_FILE_SIZE, ProxyBuffers, Tls, TlsProfile,
};
pub(crate) use pgbouncer::{Pgbouncer, PoolMode};
pub(crate) use postgres::{
    HbaLocal, HbaMethod, HbaType, PlainText, Postgres, Replication, SettingValue, Workload,
};
pub(crate) use scalar::{HostName, Port, SocketAddr, Version};
pub(crate) use secret::SecretRef;
pub(crate) use sysctl::{Sysctl, SysctlProfile, SysctlValue};

/// A whole site: its hosts and the services they run.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "sitewright site spec", example = site_example())]
pub struct Site {
    /// The site's name: used in file names and comments of the rendered files.
    #[schemars(regex(pattern = crate::spec::scalar::SITE_NAME_PATTERN), example = &"catmaid")]
    pub(crate) site: String,
    /// Every machine of the site, with the roles it plays.
    #[schemars(length(min = 1))]
    pub hosts: Vec<Host>,
    /// The PostgreSQL cluster: one primary and its streaming replicas.
    #[serde(default)]
    pub postgres: Option<Postgres>,
    /// nginx on the hosts that need it: the stream forward to PostgreSQL and the HTTPS front end of the web hosts.
    #[serde(default)]
    pub nginx: Option<Nginx>,
    /// Kernel parameters written to /etc/sysctl.d/ on the hosts with the given roles.
    #[serde(default)]
    pub(crate) sysctl: Option<Sysctl>,
    /// The Django application on the web hosts.
    #[serde(default)]
    pub django: Option<Django>,
    /// PgBouncer between the application and the primary.
    #[serde(default)]
    pub(crate) pgbouncer: Option<Pgbouncer>,
}

fn site_example() -> serde_json::Value {
    serde_json::json!({
        "site": "catmaid",
        "hosts": [{"name": "db1", "address": "192.0.2.11", "memory": "64GiB", "cpus": 16,
                   "storage": "ssd", "roles": ["postgres-primary"]}]
    })
}

impl Site {
    pub(crate) fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.name.as_str() == name)
    }

    pub(crate) fn hosts_with(&self, role: Role) -> impl Iterator<Item = &Host> {
        self.hosts.iter().filter(move |host| host.has(role))
    }
}
