//! The Django application's production settings.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::scalar::{AbsPath, DottedName, HostName, Identifier};
use super::secret::SecretRef;
use crate::units::Duration;

/// Django on the web hosts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Django {
    /// Where the rendered settings module goes.
    pub settings_file: AbsPath,
    /// A module whose settings the rendered module starts from (`from BASE import *`).
    #[serde(default)]
    pub base_module: Option<DottedName>,
    /// Host names the site answers to; the HTTPS server's name is always added.
    #[serde(default)]
    pub allowed_hosts: Vec<AllowedHost>,
    /// Django's SECRET_KEY: read at run time from the environment or a file, never written.
    pub secret_key: SecretRef,
    /// The database the application uses.
    pub database: DjangoDatabase,
    /// Further settings, written as Python literals.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": r"^[A-Z][A-Z0-9_]*$"}))]
    pub settings: BTreeMap<String, PythonValue>,
}

/// A host name Django accepts requests for: `example.org`, `.example.org` for subdomains too.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AllowedHost(
    #[schemars(regex(pattern = crate::spec::scalar::ALLOWED_HOST_PATTERN), example = &"catmaid.example.org")]
    pub String,
);

/// Django's default database connection.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DjangoDatabase {
    /// The database name.
    pub name: Identifier,
    /// The role Django logs in as.
    pub user: Identifier,
    /// The role's password: read at run time, never written.
    pub password: SecretRef,
    /// The host of the database; the PostgreSQL primary when not given.
    #[serde(default)]
    pub host: Option<HostName>,
    /// How long a connection is kept open for reuse (CONN_MAX_AGE); 0s closes it after each request.
    #[serde(default)]
    pub conn_max_age: Option<Duration>,
}

/// A Python literal: a boolean, number, string, list or dict.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PythonValue {
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
    /// A dict with string keys.
    Dict(BTreeMap<String, PythonValue>),
}
