//! References to secrets: where the value lives, never the value itself.

use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;

use super::scalar::AbsPath;

/// Where a secret is read from when it is needed; the spec never holds the value, because the spec is committed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
#[schemars(extend("x-sitewright-secret" = true))]
pub enum SecretRef {
    /// The name of an environment variable that holds the secret.
    Env(#[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))] String),
    /// The absolute path of a file that holds the secret (a trailing newline is dropped).
    File(AbsPath),
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env {name}"),
            Self::File(path) => write!(f, "file {path}"),
        }
    }
}
