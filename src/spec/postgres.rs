//! The PostgreSQL cluster of a site: one primary, its replicas, and how they replicate.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::scalar::{AbsPath, Identifier, Port};
use super::secret::SecretRef;
use crate::units::ByteSize;

/// PostgreSQL on the hosts with the `postgres-primary` and `postgres-replica` roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// The major version that every server of the cluster runs.
    #[schemars(range(min = 11, max = 18), example = 16)]
    pub version: u32,
    /// The data directory (standby.signal goes here).
    pub data_directory: AbsPath,
    /// Where postgresql.conf and pg_hba.conf live; Debian uses /etc/postgresql/MAJOR/main. Defaults to the data directory.
    #[serde(default)]
    pub config_directory: Option<AbsPath>,
    /// The port PostgreSQL listens on.
    #[serde(default = "default_port")]
    pub port: Port,
    /// TLS for client and replication connections.
    #[serde(default)]
    pub ssl: Option<Ssl>,
    /// Streaming replication from the primary to the replicas.
    #[serde(default)]
    pub replication: Option<Replication>,
    /// WAL archiving on the primary and restoring on the replicas.
    #[serde(default)]
    pub archive: Option<Archive>,
    /// Further postgresql.conf settings, written as given: numbers bare, strings quoted, booleans on/off.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$"}))]
    pub settings: BTreeMap<String, SettingValue>,
}

fn default_port() -> Port {
    Port(5432)
}

impl Postgres {
    pub fn config_directory(&self) -> &AbsPath {
        self.config_directory
            .as_ref()
            .unwrap_or(&self.data_directory)
    }
}

/// Server certificate and key, readable by the postgres user.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ssl {
    /// The server certificate (ssl_cert_file).
    pub cert: AbsPath,
    /// The server's private key (ssl_key_file).
    pub key: AbsPath,
}

/// How replicas follow the primary.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replication {
    /// The role replicas log in as (created WITH REPLICATION LOGIN).
    pub user: Identifier,
    /// The replication role's password: written only to the replicas' passfile, and only by `render --with-secrets`.
    pub password: SecretRef,
    /// When set, nginx on the primary forwards this port to PostgreSQL on loopback, and replicas connect to it.
    #[serde(default)]
    pub public_port: Option<Port>,
    /// How much WAL the primary keeps for replicas that fall behind (wal_keep_size).
    #[serde(default)]
    pub wal_keep: Option<ByteSize>,
    /// Where a replica's passfile goes; defaults to replication.pgpass in the config directory.
    #[serde(default)]
    pub passfile: Option<AbsPath>,
}

/// Archiving WAL segments on the primary and fetching them on the replicas.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    /// The primary's archive_command; `%p` is the segment's path, `%f` its file name.
    #[schemars(length(min = 1, max = 1024), example = &"rsync -a %p postgres@db2:/opt/postgresql_wal/%f")]
    pub command: String,
    /// The replicas' restore_command.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1024), example = &"cp /opt/postgresql_wal/%f \"%p\"")]
    pub restore_command: Option<String>,
}

/// A postgresql.conf value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SettingValue {
    /// Written as on or off.
    Bool(bool),
    /// Written bare.
    Int(i64),
    /// Written bare.
    Float(f64),
    /// Written in single quotes, escaped.
    Text(#[schemars(length(max = 4096))] String),
}
