//! Kernel parameters for /etc/sysctl.d/.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::host::Role;
use crate::units::ByteSize;

/// Kernel parameters for the hosts with the given roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sysctl {
    /// The NN of /etc/sysctl.d/NN-sitewright.conf: files are applied in name order, the last one wins.
    #[serde(default = "default_priority")]
    #[schemars(range(min = 10, max = 99), example = 60)]
    pub priority: u8,
    /// The roles whose hosts get the file; all hosts when empty.
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Parameter names and values; byte-valued parameters take sizes such as `1GB`.
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$"}))]
    pub settings: BTreeMap<String, SysctlValue>,
}

fn default_priority() -> u8 {
    60
}

/// A sysctl value: a whole number, or a byte size that is written in bytes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum SysctlValue {
    /// A whole number, written as it is.
    Int(i64),
    /// A byte size, written in bytes.
    Size(ByteSize),
}
