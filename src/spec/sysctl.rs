//! Kernel parameters for /etc/sysctl.d/.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::host::Role;

/// Kernel parameters for the hosts with the given roles.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sysctl {
    /// The NN of /etc/sysctl.d/NN-sitewright.conf: files are applied in name order, the last one wins.
    #[serde(default = "default_priority")]
    #[schemars(range(min = 10, max = 99), example = 60)]
    pub(crate) priority: u8,
    /// The roles whose hosts get the file; all hosts when empty.
    #[serde(default)]
    pub(crate) roles: Vec<Role>,
    /// Values derived from each host's memory: `database` (CATMAID's dirty-page limits in bytes) or `synapse` (Synapse's ratios, scaled to the host).
    #[serde(default)]
    pub(crate) profile: Option<SysctlProfile>,
    /// Parameters and values, which replace a profile's: sizes such as `1GB` for byte-valued ones, `200ms` for centiseconds, `4%` for ratios.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": r"^[a-z0-9_]+([./][a-z0-9_-]+)+$"}))]
    pub(crate) settings: BTreeMap<String, SysctlValue>,
}

fn default_priority() -> u8 {
    60
}

/// A set of kernel parameters derived from a host's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SysctlProfile {
    /// CATMAID's database server: swappiness 10, dirty-page limits of 256MiB and 1GiB (less on small hosts).
    Database,
    /// Synapse's database server: swappiness 10, dirty pages written after 200ms, ratios 2% and 4% at 128GiB (more on smaller hosts).
    Synapse,
}

/// A sysctl value: a whole number, or text read by the parameter's kind (a size, a duration, a percentage, or words).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum SysctlValue {
    /// A whole number, written as it is.
    Int(i64),
    /// A size (`1GB`), a duration (`200ms`), a percentage (`4%`) or, for text parameters, the text.
    Text(#[schemars(length(min = 1, max = 256))] String),
}
