//! References to secrets: where the value lives, never the value itself.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

use super::scalar::{ABS_PATH_PATTERN, AbsPath, ENV_NAME_PATTERN};

/// Where a secret is read from when it is needed; the spec never holds the value, because the spec is committed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum SecretRef {
    /// The name of an environment variable that holds the secret.
    Env(String),
    /// The absolute path of a file that holds the secret (a trailing newline is dropped).
    File(AbsPath),
}

/// Written by hand so that each form's one key carries its own description for editors.
impl JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Where a secret is read from when it is needed: `{ env: NAME }` or `{ file: PATH }`. The spec never holds the value, because the spec is committed.",
            "oneOf": [
                {
                    "type": "object",
                    "properties": {
                        "env": {
                            "type": "string",
                            "pattern": ENV_NAME_PATTERN,
                            "description": "The name of an environment variable that holds the secret.",
                            "examples": ["REPLICATION_PASSWORD"],
                        }
                    },
                    "required": ["env"],
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "pattern": ABS_PATH_PATTERN,
                            "description": "The absolute path of a file that holds the secret; a trailing newline is dropped.",
                            "examples": ["/etc/sitewright/secrets/replication"],
                        }
                    },
                    "required": ["file"],
                    "additionalProperties": false,
                },
            ],
        })
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env {name}"),
            Self::File(path) => write!(f, "file {path}"),
        }
    }
}
