//! Resolving secret references at the edge: environment variables and files, read only when the
//! user asks for a tree with secrets. Errors name the reference, never a value.

use std::collections::HashMap;
use std::fmt;

use crate::plan::Plan;
use crate::spec::SecretRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SecretError {
    pub(crate) secret: SecretRef,
    pub(crate) reason: String,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read the secret from {}: {}",
            self.secret, self.reason
        )
    }
}

impl std::error::Error for SecretError {}

/// Reads every secret the plan's files need.
pub(crate) fn resolve(plan: &Plan) -> Result<HashMap<SecretRef, String>, SecretError> {
    let mut values = HashMap::new();
    for slot in plan.files.iter().flat_map(|f| &f.secrets) {
        if values.contains_key(&slot.secret) {
            continue;
        }
        let fail = |reason: String| SecretError {
            secret: slot.secret.clone(),
            reason,
        };
        let value = match &slot.secret {
            SecretRef::Env(name) => std::env::var(name).map_err(|e| {
                fail(match e {
                    std::env::VarError::NotPresent => "the variable is not set".to_owned(),
                    std::env::VarError::NotUnicode(_) => "the value is not UTF-8".to_owned(),
                })
            })?,
            SecretRef::File(path) => std::fs::read_to_string(path.as_str())
                .map_err(|e| fail(e.to_string()))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        };
        if value.is_empty() {
            return Err(fail("it is empty".to_owned()));
        }
        values.insert(slot.secret.clone(), value);
    }
    Ok(values)
}
