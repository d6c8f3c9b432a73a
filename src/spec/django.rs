//! The Django application's production settings.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::scalar::{
    ALLOWED_HOST_PATTERN, AbsPath, DottedName, HostName, Identifier, SocketAddr, Version,
};
use super::secret::SecretRef;
use crate::units::{ByteSize, Duration};

/// Django on the web hosts. A web host that is also a PostgreSQL replica runs a read-only
/// instance on its local replica (CATMAID's mirror).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Django {
    /// The Django version the hosts run: it decides the cache backend's name and CONN_HEALTH_CHECKS (from 4.1).
    pub version: Version,
    /// Where the rendered settings module goes.
    pub(crate) settings_file: AbsPath,
    /// A module whose settings the rendered module starts from (`from BASE import *`): the application's INSTALLED_APPS, MIDDLEWARE and so on.
    #[serde(default)]
    pub base_module: Option<DottedName>,
    /// Host names the site answers to, besides the HTTPS server's, which is always allowed.
    #[serde(default)]
    pub(crate) allowed_hosts: Vec<AllowedHost>,
    /// Django's SECRET_KEY: read at run time from the environment or a file, never written.
    pub(crate) secret_key: SecretRef,
    /// The database the application uses.
    pub(crate) database: DjangoDatabase,
    /// The cache (CACHES["default"]); a read-only instance keeps its sessions there.
    #[serde(default)]
    pub(crate) cache: Option<DjangoCache>,
    /// Where sessions are kept; `cache` on a read-only instance, Django's default (the database) otherwise.
    #[serde(default)]
    pub(crate) session_engine: Option<SessionEngine>,
    /// How mail is sent; `dummy` (none) on a read-only instance.
    #[serde(default)]
    pub(crate) email: Option<Email>,
    /// Further settings, written as Python literals: strings, numbers, booleans, null (None), lists, dicts, and `{ tuple: [...] }` for a tuple.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": r"^[A-Z][A-Z0-9_]*$"}))]
    pub(crate) extra: BTreeMap<String, PythonValue>,
}

/// A host name Django accepts requests for: `example.org`, `.example.org` for subdomains too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct AllowedHost(
    #[schemars(regex(pattern = ALLOWED_HOST_PATTERN), example = &"catmaid.example.org")]
    pub(crate) String,
);

/// Django's database connections.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DjangoDatabase {
    /// The database name.
    pub(crate) name: Identifier,
    /// The role Django logs in as.
    pub(crate) user: Identifier,
    /// The role's password: read at run time, never written.
    pub(crate) password: SecretRef,
    /// The host of the database; the PostgreSQL primary when not given.
    #[serde(default)]
    pub(crate) host: Option<HostName>,
    /// How long a connection is kept open for reuse (CONN_MAX_AGE); 0s closes it after each request.
    #[serde(default)]
    pub(crate) conn_max_age: Option<Duration>,
    /// Replicas to add as read-only databases, each under its host name (for a database router).
    #[serde(default)]
    pub(crate) replicas: Vec<HostName>,
    /// Connect to the default database through PgBouncer (the `pgbouncer` section): on this
    /// host when it runs PgBouncer, on the first host that does otherwise. With transaction or
    /// statement pooling, server-side cursors are turned off (DISABLE_SERVER_SIDE_CURSORS), as
    /// they do not outlive a transaction.
    #[serde(default)]
    pub(crate) pgbouncer: bool,
}

/// The cache Django uses.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DjangoCache {
    /// memcached (PyMemcacheCache; MemcachedCache before Django 4.1), redis (from 4.0), or locmem.
    pub(crate) backend: CacheBackend,
    /// The cache server, for memcached and redis.
    #[serde(default)]
    pub(crate) location: Option<SocketAddr>,
    /// The largest item: memcached's own `-I` option with pymemcache, which has no client limit; written as server_max_value_length for MemcachedCache.
    #[serde(default)]
    pub(crate) max_value_length: Option<ByteSize>,
}

/// A cache backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CacheBackend {
    /// memcached.
    Memcached,
    /// Redis.
    Redis,
    /// Each process's own memory.
    Locmem,
}

/// Where Django keeps sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SessionEngine {
    /// The database (Django's default).
    Db,
    /// The cache only.
    Cache,
    /// The cache, written through to the database.
    CachedDb,
    /// Files.
    File,
    /// Signed cookies.
    SignedCookies,
}

/// How Django sends mail.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum Email {
    /// Send nothing.
    Dummy,
    /// Through an SMTP server.
    Smtp(
        #[schemars(description = "The SMTP server's address and port, such as 127.0.0.1:25.")]
        SocketAddr,
    ),
}

/// A Python literal: a boolean, number, string, None, list, tuple or dict.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum PythonValue {
    /// None (YAML null).
    None(()),
    /// True or False.
    Bool(bool),
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A str.
    Text(String),
    /// A list.
    List(Vec<PythonValue>),
    /// A tuple, written `{ tuple: [...] }`.
    Tuple(TupleValue),
    /// A dict with string keys.
    Dict(BTreeMap<String, PythonValue>),
}

/// `{ tuple: [...] }`: a Python tuple.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TupleValue {
    /// The tuple's items.
    pub(crate) tuple: Vec<PythonValue>,
}
