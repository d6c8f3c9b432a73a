//! The /etc/sysctl.d file of each host that the spec's sysctl section applies to.

use serde_json::json;

use super::{FileMeta, Mode, OnChange, PlannedFile, Service, Setting};
use crate::spec::{Host, Site, SysctlValue};

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(sysctl) = &site.sysctl else {
        return Vec::new();
    };
    if !sysctl.roles.is_empty() && !sysctl.roles.iter().any(|r| host.has(*r)) {
        return Vec::new();
    }
    let settings: Vec<Setting> = sysctl
        .settings
        .iter()
        .map(|(name, value)| match value {
            SysctlValue::Int(i) => Setting::new(name, *i),
            SysctlValue::Size(size) => {
                Setting::new(name, size.bytes()).because(format!("{size} in bytes"))
            }
        })
        .collect();
    vec![PlannedFile {
        host: host.name.clone(),
        path: format!("/etc/sysctl.d/{:02}-sitewright.conf", sysctl.priority),
        template: "sysctl/sysctl.conf.sysctl",
        context: json!({ "site": site.site, "host": host.name, "settings": settings }),
        meta: FileMeta::new(Mode::PUBLIC, "root", Service::Sysctl, OnChange::Apply),
        secrets: Vec::new(),
    }]
}
