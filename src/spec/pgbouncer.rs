//! PgBouncer between the application and the primary: where it runs, how it pools, whom it lets
//! in and how, so that its files agree with PostgreSQL's, pg_hba's and Django's.

use schemars::JsonSchema;
use serde::Deserialize;

use super::scalar::{AbsPath, HostName, Identifier, Port};
use super::secret::SecretRef;

/// PgBouncer on the hosts that run it, pooling connections to the primary.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Pgbouncer {
    /// The hosts that run PgBouncer (names from `hosts`): the primary itself, or the web hosts.
    #[schemars(length(min = 1))]
    pub(crate) hosts: Vec<HostName>,
    /// The port PgBouncer listens on, on its host's address (listen_port).
    #[serde(default = "default_port")]
    pub(crate) port: Port,
    /// When a server connection goes back to the pool (pool_mode): after each transaction (the
    /// default, and what makes a pool go furthest), at the end of each session, or after each
    /// statement.
    #[serde(default)]
    pub(crate) pool_mode: PoolMode,
    /// Server connections a pool (one database and user) may hold (default_pool_size).
    #[serde(default = "default_pool_size")]
    #[schemars(range(min = 1, max = 10000))]
    pub(crate) default_pool_size: u32,
    /// Further server connections a pool may open when a client has waited
    /// `reserve_pool_timeout` (reserve_pool_size).
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub(crate) reserve_pool_size: u32,
    /// Client connections PgBouncer accepts in all (max_client_conn).
    #[serde(default = "default_max_client_conn")]
    #[schemars(range(min = 1, max = 1000000))]
    pub(crate) max_client_conn: u32,
    /// The databases PgBouncer serves, each from the primary under the same name.
    #[schemars(length(min = 1))]
    pub(crate) databases: Vec<PgbouncerDatabase>,
    /// The roles that log in through PgBouncer; a pool is one database and one of these. With
    /// `auth_query`, their passwords are the server's and need not be given here.
    #[schemars(length(min = 1))]
    pub(crate) users: Vec<PgbouncerUser>,
    /// Look each user's SCRAM secret up on the server as this role (auth_user and auth_query),
    /// instead of listing every user's in userlist.txt (auth_file).
    #[serde(default)]
    pub(crate) auth_query: Option<AuthQuery>,
    /// TLS to clients (client_tls_*): without it, clients on other hosts would send their
    /// passwords' proofs and their queries in plain text, which `check` refuses unless
    /// `postgres.plain_text: accepted` says so.
    #[serde(default)]
    pub(crate) tls: Option<PgbouncerTls>,
    /// Where pgbouncer.ini and userlist.txt go (Debian's package reads /etc/pgbouncer).
    #[serde(default = "default_config_directory")]
    pub(crate) config_directory: AbsPath,
}

fn default_port() -> Port {
    Port(6432)
}

fn default_pool_size() -> u32 {
    20
}

fn default_max_client_conn() -> u32 {
    100
}

fn default_config_directory() -> AbsPath {
    AbsPath::new("/etc/pgbouncer").expect("an absolute path")
}

/// When a server connection goes back to the pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PoolMode {
    /// When the client disconnects: every PostgreSQL feature works.
    Session,
    /// After each transaction: no session state (server-side cursors held across transactions,
    /// session advisory locks, `SET` outside a transaction) survives.
    #[default]
    Transaction,
    /// After each statement: multi-statement transactions are refused.
    Statement,
}

impl PoolMode {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Transaction => "transaction",
            Self::Statement => "statement",
        }
    }
}

/// One database PgBouncer serves.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PgbouncerDatabase {
    /// The database's name, the same on PgBouncer and on the primary.
    pub(crate) name: Identifier,
    /// This database's pools' size, over `default_pool_size` (pool_size).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub(crate) pool_size: Option<u32>,
}

/// A role that logs in through PgBouncer.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PgbouncerUser {
    /// The role's name, the same on PgBouncer and on the primary.
    pub(crate) name: Identifier,
    /// The role's password, from which `render --with-secrets` writes its SCRAM secret to
    /// userlist.txt; the server must hold the same secret (see the README). Not needed with
    /// `auth_query`.
    #[serde(default)]
    pub(crate) password: Option<SecretRef>,
}

/// How PgBouncer looks a user's secret up on the server.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthQuery {
    /// The role PgBouncer logs in as to run the query (auth_user); its own secret is in
    /// userlist.txt.
    pub(crate) user: Identifier,
    /// The auth_user's password, for its entry in userlist.txt.
    pub(crate) password: SecretRef,
    /// The query (auth_query), given the user's name as `$1`, returning its name and secret:
    /// PgBouncer's own default reads pg_shadow, which only a superuser may; a SECURITY DEFINER
    /// function owned by a superuser is the usual way to give a plain role this.
    #[serde(default)]
    pub(crate) query: Option<String>,
}

/// PgBouncer's certificate and key, readable by its user (postgres on Debian).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PgbouncerTls {
    /// The certificate it shows clients (client_tls_cert_file).
    pub(crate) cert: AbsPath,
    /// Its private key (client_tls_key_file).
    pub(crate) key: AbsPath,
    /// The CA certificate that signed it, as a path on the clients: with it Django connects
    /// with `sslmode=verify-full`, so the certificate must name PgBouncer's address; without it
    /// `sslmode=require`, which encrypts but trusts any certificate.
    #[serde(default)]
    pub(crate) ca: Option<AbsPath>,
}
