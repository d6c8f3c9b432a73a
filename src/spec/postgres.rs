//! The PostgreSQL cluster of a site: one primary, its replicas, and how they replicate.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::scalar::{AbsPath, ConfPath, Identifier, Port};
use super::secret::SecretRef;
use crate::units::{ByteSize, Duration};

/// PostgreSQL on the hosts with the `postgres-primary` and `postgres-replica` roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Postgres {
    /// The major version that every server of the cluster runs.
    #[schemars(range(min = 11, max = 18), example = 16)]
    pub version: u32,
    /// The data directory (standby.signal goes here).
    pub(crate) data_directory: AbsPath,
    /// Where postgresql.conf and pg_hba.conf live; Debian uses /etc/postgresql/MAJOR/main. Defaults to the data directory.
    #[serde(default)]
    pub(crate) config_directory: Option<AbsPath>,
    /// The port PostgreSQL listens on.
    #[serde(default = "default_port")]
    pub port: Port,
    /// TLS for client and replication connections. Without it, replicas and Django on other hosts
    /// would connect in plain text, which `check` refuses unless `plain_text: accepted` says so.
    #[serde(default)]
    pub(crate) ssl: Option<Ssl>,
    /// `accepted`: the site has no `ssl` and its replicas and Django on other hosts talk to
    /// PostgreSQL in plain text on purpose (a private network, or a tunnel of its own).
    #[serde(default)]
    pub(crate) plain_text: Option<PlainText>,
    /// Streaming replication from the primary to the replicas.
    #[serde(default)]
    pub(crate) replication: Option<Replication>,
    /// WAL archiving on the primary and restoring on the replicas.
    #[serde(default)]
    pub(crate) archive: Option<Archive>,
    /// What the server mostly does; memory, parallelism and checkpoint settings are derived from it and the host, as PGTune does.
    #[serde(default)]
    pub(crate) workload: Workload,
    /// A statement_timeout for the replicas, which serve read-only queries (IDR keeps long reads from piling up there).
    #[serde(default)]
    pub(crate) replica_statement_timeout: Option<Duration>,
    /// pg_hba.conf records, in order, between the local records that `hba_local` keeps and the
    /// replication and Django records that sitewright derives.
    #[serde(default)]
    pub(crate) hba: Vec<HbaRecord>,
    /// Whether the `hba` records add to the local records a server needs or replace them.
    #[serde(default)]
    pub(crate) hba_local: HbaLocal,
    /// A nightly pg_dump on the primary, as a cron entry.
    #[serde(default)]
    pub(crate) backup: Option<Backup>,
    /// Further postgresql.conf settings, written as given: numbers bare, strings quoted, booleans on/off.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$"}))]
    pub(crate) settings: BTreeMap<String, SettingValue>,
    /// A folder of further settings files, written as `include_dir` at the end of postgresql.conf (Debian's conf.d, where extensions and tools drop their files): PostgreSQL reads the files in it whose names end in `.conf`, but not those starting with `.`, in the C order of their names, after every line above, and the last value read of a setting is the one that counts, so what these files set wins over the spec. Absolute, or relative to the config directory (the folder of postgresql.conf), as PostgreSQL resolves it. The folder must exist, or PostgreSQL refuses to start. sitewright does not write the folder nor its files: their content, modes and owners are yours (the postgres user must be able to read them); `diff --live` lists what they set that the spec sets too.
    #[serde(default)]
    #[schemars(example = &"conf.d")]
    pub(crate) include_dir: Option<ConfPath>,
    /// Settings files written as `include` lines at the end of postgresql.conf, after `include_dir`, in this order: what they set wins over the spec, and a later file over an earlier one. Each file must exist, or PostgreSQL refuses to start. Absolute, or relative to the config directory (the folder of postgresql.conf). sitewright does not write them: their content, modes and owners are yours (the postgres user must be able to read them).
    #[serde(default)]
    #[schemars(example = &["/etc/postgresql-common/shared.conf"])]
    pub(crate) include: Vec<ConfPath>,
    /// Settings files written as `include_if_exists` lines at the very end of postgresql.conf, in this order: read when they exist and skipped (with a line in the server's log) when they do not. What they set wins over the spec and over `include_dir` and `include`. Absolute, or relative to the config directory (the folder of postgresql.conf). sitewright does not write them: their content, modes and owners are yours (the postgres user must be able to read them).
    #[serde(default)]
    #[schemars(example = &["local.conf"])]
    pub(crate) include_if_exists: Vec<ConfPath>,
}

fn default_port() -> Port {
    Port(5432)
}

impl Postgres {
    pub(crate) fn config_directory(&self) -> &AbsPath {
        self.config_directory
            .as_ref()
            .unwrap_or(&self.data_directory)
    }
}

/// Server certificate and key, readable by the postgres user.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Ssl {
    /// The server certificate (ssl_cert_file).
    pub(crate) cert: AbsPath,
    /// The server's private key (ssl_key_file).
    pub(crate) key: AbsPath,
    /// The CA certificate that signed the server certificates, as a path on the clients (the
    /// replicas and the web hosts). With it they connect with `sslmode=verify-full` and
    /// `sslrootcert` this file, so each server certificate must name the address its clients
    /// connect to: the primary's address (also when nginx forwards `replication.public_port`,
    /// which is on the primary's address), and a replica's address for Django's replicas.
    /// Without it they use `sslmode=require`, which encrypts but trusts any certificate.
    #[serde(default)]
    pub(crate) ca: Option<AbsPath>,
}

/// A site's word that its PostgreSQL connections cross the network in plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PlainText {
    /// Replicas and Django on other hosts connect without SSL, and the site knows it.
    Accepted,
}

/// How replicas follow the primary.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Replication {
    /// The role replicas log in as (created WITH REPLICATION LOGIN).
    pub(crate) user: Identifier,
    /// The replication role's password: written only to the replicas' passfile, and only by `render --with-secrets`.
    pub(crate) password: SecretRef,
    /// When set, nginx on the primary forwards this port to PostgreSQL on loopback, and replicas connect to it.
    #[serde(default)]
    pub(crate) public_port: Option<Port>,
    /// How much WAL the primary keeps for replicas that fall behind (wal_keep_size); 1GB when
    /// neither this nor `postgres.archive` is given.
    #[serde(default)]
    pub(crate) wal_keep: Option<ByteSize>,
    /// Where a replica's passfile goes; defaults to replication.pgpass in the config directory.
    #[serde(default)]
    pub(crate) passfile: Option<AbsPath>,
    /// A file whose creation promotes a replica (trigger_file on 11, promote_trigger_file on 12 to 15). PostgreSQL 16 removed it: use `pg_ctl promote` or `SELECT pg_promote()`.
    #[serde(default)]
    pub(crate) promote_trigger_file: Option<AbsPath>,
}

/// The kind of load a server carries, as PGTune names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Workload {
    /// Web applications: many short queries.
    #[default]
    Web,
    /// Online transaction processing.
    Oltp,
    /// Data warehouse: few large queries.
    Dw,
    /// A desktop or development machine.
    Desktop,
    /// A mix of the above.
    Mixed,
}

/// One pg_hba.conf record.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HbaRecord {
    /// local (Unix socket), host (TCP), hostssl (TCP with SSL), hostnossl (TCP without SSL), hostgssenc and hostnogssenc (12+).
    #[serde(rename = "type")]
    pub(crate) kind: HbaType,
    /// Database names, or the keywords all, sameuser, samerole, replication.
    #[schemars(length(min = 1))]
    pub(crate) databases: Vec<HbaName>,
    /// Role names, `+group` for members of a role, or the keyword all.
    #[schemars(length(min = 1))]
    pub(crate) users: Vec<HbaName>,
    /// For every type but local: an address with its prefix length (192.0.2.0/24, ::1/128), or all, samehost, samenet.
    #[serde(default)]
    pub(crate) address: Option<HbaAddress>,
    /// How the client proves who it is.
    pub(crate) method: HbaMethod,
    /// Why the record is there: written as a comment above it.
    #[serde(default)]
    #[schemars(length(max = 200), regex(pattern = crate::spec::scalar::ONE_LINE_PATTERN), example = &"the Django application on web1")]
    pub(crate) comment: Option<String>,
}

/// What becomes of the local (Unix socket) records that pg_hba.conf has without `hba` records:
/// `local all postgres peer`, which the nightly pg_dump (`backup`) and the administrator log in
/// by, and `local all all peer`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HbaLocal {
    /// `local all postgres peer` comes first (unless the first `hba` record that can match
    /// postgres over the socket already lets it in to every database by peer or trust), then the
    /// `hba` records, then `local all all peer` for the other local roles (unless an `hba` record
    /// is already `local all all`).
    #[default]
    Keep,
    /// Only the `hba` records: the local records are the spec's to write. `check` refuses a
    /// `backup` whose pg_dump they then shut out (HBA005).
    Replace,
}

/// The connection type of a pg_hba.conf record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HbaType {
    /// Unix-domain socket connections.
    Local,
    /// TCP, with or without SSL.
    Host,
    /// TCP with SSL only.
    Hostssl,
    /// TCP without SSL only.
    Hostnossl,
    /// TCP with GSSAPI encryption (PostgreSQL 12+).
    Hostgssenc,
    /// TCP without GSSAPI encryption (PostgreSQL 12+).
    Hostnogssenc,
}

/// A database or role name in pg_hba.conf, or one of its keywords.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct HbaName(
    #[schemars(regex(pattern = crate::spec::scalar::HBA_NAME_PATTERN), example = &"catmaid")]
    pub(crate) String,
);

/// An address column: a CIDR block or a keyword.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct HbaAddress(
    #[schemars(extend("format" = "hba-address"), example = &"192.0.2.0/24")] pub(crate) String,
);

/// An authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum HbaMethod {
    /// SCRAM-SHA-256 password authentication: the one to use.
    #[serde(rename = "scram-sha-256")]
    ScramSha256,
    /// MD5 password authentication (deprecated in 18).
    Md5,
    /// The operating system user name over a Unix socket.
    Peer,
    /// A client certificate (hostssl only).
    Cert,
    /// Refuse the connection.
    Reject,
    /// Allow without a password: only for local.
    Trust,
}

/// A nightly logical backup of one database with pg_dump, run by cron as postgres on the primary.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Backup {
    /// The database to dump.
    pub(crate) database: Identifier,
    /// The folder the dumps go to, one file per run named DATABASE_YYYYMMDDHHMM.sql.
    pub(crate) directory: AbsPath,
    /// When to run, in cron's five fields (minute hour day-of-month month day-of-week).
    #[serde(default = "default_schedule")]
    #[schemars(regex(pattern = crate::spec::scalar::CRON_SCHEDULE_PATTERN), example = &"0 3 * * *")]
    pub(crate) schedule: String,
    /// Tables left out of the dump (pg_dump -T), such as ones that can be rebuilt.
    #[serde(default)]
    pub(crate) exclude_tables: Vec<Identifier>,
}

fn default_schedule() -> String {
    "0 3 * * *".to_owned()
}

/// Archiving WAL segments on the primary and fetching them on the replicas.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Archive {
    /// The primary's archive_command; `%p` is the segment's path, `%f` its file name.
    #[schemars(length(min = 1, max = 1024), regex(pattern = crate::spec::scalar::NO_NUL_PATTERN), example = &"rsync -a %p postgres@db2:/opt/postgresql_wal/%f")]
    pub(crate) command: String,
    /// The replicas' restore_command.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1024), regex(pattern = crate::spec::scalar::NO_NUL_PATTERN), example = &"cp /opt/postgresql_wal/%f \"%p\"")]
    pub(crate) restore_command: Option<String>,
}

/// A postgresql.conf value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SettingValue {
    /// Written as on or off.
    Bool(bool),
    /// Written bare.
    Int(i64),
    /// Written bare.
    Float(f64),
    /// Written in single quotes, escaped.
    Text(
        #[schemars(length(max = 4096), regex(pattern = crate::spec::scalar::NO_NUL_PATTERN))]
        String,
    ),
}
