//! A machine of the site and the roles it plays.

use schemars::JsonSchema;
use serde::Deserialize;

use std::collections::BTreeMap;

use super::postgres::SettingValue;
use super::scalar::{Address, HostName};
use crate::units::ByteSize;

/// One machine.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Short host name: lower-case letters, digits and `-`. It names the host's folder in the rendered tree.
    pub name: HostName,
    /// The IPv4 or IPv6 address other hosts use to reach this one.
    pub(crate) address: Address,
    /// Physical memory, e.g. `64GiB`: settings such as shared_buffers are derived from it.
    pub(crate) memory: ByteSize,
    /// Number of CPU cores.
    #[schemars(range(min = 1, max = 4096), example = 16)]
    pub(crate) cpus: u32,
    /// The kind of storage that holds the data: it sets random_page_cost and effective_io_concurrency.
    pub(crate) storage: StorageKind,
    /// What the host does: each role brings its files.
    #[schemars(length(min = 1))]
    pub(crate) roles: Vec<Role>,
    /// postgresql.conf settings of this host only, over the site's `postgres.settings` and what sitewright derives.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$"}))]
    pub(crate) postgres_settings: BTreeMap<String, SettingValue>,
    /// The DNS name of this host's web server, when it is not `nginx.https.server_name` (a read-only mirror).
    #[serde(default)]
    #[schemars(regex(pattern = crate::spec::scalar::DNS_NAME_PATTERN), example = &"catmaid-mirror.example.org")]
    pub(crate) server_name: Option<String>,
}

impl Host {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The kind of storage under a host's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StorageKind {
    /// Spinning disks.
    Hdd,
    /// SATA or SAS solid-state disks.
    Ssd,
    /// NVMe solid-state disks.
    Nvme,
    /// A storage area network.
    San,
}

/// A role a host plays; each brings the files of its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The PostgreSQL primary (exactly one per site); gets nginx's stream forward when `postgres.replication.public_port` is set.
    PostgresPrimary,
    /// A PostgreSQL streaming replica of the primary.
    PostgresReplica,
    /// An nginx HTTPS front end and the Django application behind it.
    Web,
    /// nginx's caching proxy of a public read-only site (`nginx.cache_proxy`).
    Proxy,
}
