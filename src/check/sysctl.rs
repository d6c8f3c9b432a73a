//! Rules of the sysctl file: the kernel's parameters, their kinds, and exclusive pairs.

use crate::diagnostic::Diagnostic;
use crate::rules::Rule;
use crate::source::{Document, pointer_token};
use crate::spec::Site;

pub(super) fn check(
    site: &Site,
    doc: &Document,
    derived: &crate::plan::Derived,
    out: &mut Vec<Diagnostic>,
) {
    sysctl(site, doc, out);
    if !out
        .iter()
        .any(|d| d.severity == crate::diagnostic::Severity::Error)
    {
        shared_memory(site, doc, derived, out);
    }
}

/// kernel.shmmax, as the host's sysctl file will say, against PostgreSQL's System V segment.
fn shared_memory(
    site: &Site,
    doc: &Document,
    derived: &crate::plan::Derived,
    out: &mut Vec<Diagnostic>,
) {
    let Some(sysctl) = &site.sysctl else { return };
    for host in &site.hosts {
        let Some(shared) = crate::plan::postgres::sysv_shared_buffers(site, derived, host) else {
            continue;
        };
        let settings = derived.sysctl(site, host).unwrap_or_default();
        let shmmax = settings
            .iter()
            .find(|s| s.name == "kernel.shmmax")
            .and_then(|s| {
                s.value
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| s.value.as_u64().map(|n| n.to_string()))
            });
        if let Some(max) = shmmax.and_then(|m| m.parse::<u64>().ok())
            && max < shared
        {
            let pos = sysctl
                .settings
                .keys()
                .find(|k| crate::sysctl_keys::canonical(k) == "kernel.shmmax")
                .map_or_else(
                    || doc.key_pos("/sysctl"),
                    |k| doc.value_pos(&format!("/sysctl/settings/{}", pointer_token(k))),
                );
            out.push(
                Diagnostic::error(
                    pos,
                    format!(
                        "kernel.shmmax {} is below {}'s shared_buffers {}, which PostgreSQL takes as one System V segment: it will not start",
                        crate::units::ByteSize::from_bytes(max),
                        host.name,
                        crate::units::ByteSize::from_bytes(shared)
                    ),
                )
                .rule(Rule::SYS004)
                .on(host.name.as_str()),
            );
        }
    }
}

fn sysctl(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(sysctl) = &site.sysctl else { return };
    let names: Vec<String> = sysctl
        .settings
        .keys()
        .map(|k| crate::sysctl_keys::canonical(k))
        .collect();
    for (bytes, ratio) in crate::plan::sysctl::EXCLUSIVE {
        if names.iter().any(|n| n == bytes) && names.iter().any(|n| n == ratio) {
            let key = sysctl
                .settings
                .keys()
                .find(|k| crate::sysctl_keys::canonical(k) == *ratio)
                .expect("found above");
            out.push(
                Diagnostic::error(
                    doc.key_pos(&format!("/sysctl/settings/{}", pointer_token(key))),
                    format!("`{bytes}` and `{ratio}` exclude each other (writing one zeroes the other); keep one"),
                )
                .rule(Rule::SYS001),
            );
        }
    }
    for (name, value) in &sysctl.settings {
        let pointer = format!("/sysctl/settings/{}", pointer_token(name));
        match crate::sysctl_keys::kind(name) {
            Err(message) => {
                out.push(Diagnostic::error(doc.key_pos(&pointer), message).rule(Rule::SYS002))
            }
            Ok(_) => {
                if let Err(message) = crate::sysctl_keys::convert(name, value) {
                    out.push(
                        Diagnostic::error(doc.value_pos(&pointer), message).rule(Rule::SYS003),
                    );
                }
            }
        }
    }
}
