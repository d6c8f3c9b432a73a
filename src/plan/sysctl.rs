//! The /etc/sysctl.d file of each host that the spec's sysctl section applies to: a profile's
//! values derived from the host's memory, the spec's own values over them, and System V shared
//! memory limits where PostgreSQL asks for that kind of memory.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Derived, Facts, FileMeta, Mode, OnChange, PlannedFile, Service, Setting, SettingLine};
use crate::spec::{Host, Site, SysctlProfile};
use crate::sysctl_keys::{canonical, convert};
use crate::units::ByteSize;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;
const PAGE: u64 = 4096;

/// Pairs of parameters where writing one zeroes the other: the file never holds both.
pub(crate) const EXCLUSIVE: &[(&str, &str)] = &[
    ("vm.dirty_bytes", "vm.dirty_ratio"),
    ("vm.dirty_background_bytes", "vm.dirty_background_ratio"),
];

/// The header of the sysctl file.
#[derive(Serialize)]
struct SysctlContext<'a> {
    site: &'a str,
    host: &'a str,
    settings: Vec<SettingLine>,
}

pub(crate) fn files(site: &Site, derived: &Derived, host: &Host) -> Vec<PlannedFile> {
    let (Some(sysctl), Some(settings)) = (&site.sysctl, derived.sysctl(site, host)) else {
        return Vec::new();
    };
    let path = format!("/etc/sysctl.d/{:02}-sitewright.conf", sysctl.priority);
    let mut meta = FileMeta::new(Mode::PUBLIC, "root", Service::Sysctl, OnChange::Apply);
    meta.apply = Some(format!("sysctl -p {path} (or sysctl --system)"));
    meta.kernel = Some(std::sync::Arc::new(
        settings
            .iter()
            .map(|s| (s.name.clone(), s.text()))
            .collect(),
    ));
    let mut facts = Facts::default();
    let context = SysctlContext {
        site: &site.site,
        host: host.name.as_str(),
        settings: SettingLine::record(settings, &mut facts, |_| None),
    };
    vec![PlannedFile::new(
        &host.name,
        path,
        "sysctl/sysctl.conf.sysctl",
        &context,
        facts,
        meta,
    )]
}

/// The settings of `host`'s sysctl file, in the order it writes them; none when the spec's sysctl
/// section does not apply to the host.
pub(crate) fn settings(site: &Site, derived: &Derived, host: &Host) -> Option<Vec<Setting>> {
    let sysctl = site.sysctl.as_ref()?;
    if !sysctl.roles.is_empty() && !sysctl.roles.iter().any(|r| host.has(*r)) {
        return None;
    }
    let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
    let mut put = |setting: Setting| {
        // A value the spec sets replaces the other member of its exclusive pair.
        for (a, b) in EXCLUSIVE {
            let other = if setting.name == *a {
                b
            } else if setting.name == *b {
                a
            } else {
                continue;
            };
            settings.remove(*other);
        }
        settings.insert(setting.name.clone(), setting);
    };
    if let Some(profile) = sysctl.profile {
        profile_settings(profile, host)
            .into_iter()
            .for_each(&mut put);
    }
    shared_memory(site, derived, host)
        .into_iter()
        .for_each(&mut put);
    for (name, value) in &sysctl.settings {
        let (text, why) = convert(name, value).expect("the check stage converted every value");
        let mut setting = Setting::new(&canonical(name), text);
        setting.why = why;
        put(setting);
    }
    let settings = settings
        .into_values()
        .map(
            |s| match sysctl.settings.keys().find(|k| canonical(k) == s.name) {
                Some(key) => {
                    let pointer = format!("/sysctl/settings/{}", crate::source::pointer_token(key));
                    s.given_at(pointer)
                }
                None => s,
            },
        )
        .collect();
    Some(settings)
}

fn size(bytes: u64) -> String {
    ByteSize::from_bytes(bytes).to_postgres()
}

/// A profile's values for `host`, each saying how it follows from the host's memory.
pub(crate) fn profile_settings(profile: SysctlProfile, host: &Host) -> Vec<Setting> {
    let ram = host.memory.bytes();
    let ram_text = host.memory.to_postgres();
    let swappiness =
        Setting::new("vm.swappiness", 10).because("keep the page cache in memory rather than swap");
    match profile {
        SysctlProfile::Database => {
            let background = (256 * MIB).min(ram / 64).max(2 * PAGE);
            let dirty = GIB.min(ram / 16).max(2 * PAGE);
            vec![
                swappiness,
                Setting::new("vm.dirty_background_bytes", background).because(format!(
                    "{}: 256MiB, at most 1/64 of {ram_text}",
                    size(background)
                )),
                Setting::new("vm.dirty_bytes", dirty)
                    .because(format!("{}: 1GiB, at most 1/16 of {ram_text}", size(dirty))),
            ]
        }
        SysctlProfile::Synapse => {
            // Synapse's 2% and 4% hold at 128GiB; the same amount of memory is a larger share of a
            // smaller host, up to the kernel's own defaults of 10% and 20%.
            let scale =
                |at_128: u64, most: u64| ((at_128 * 128 * GIB).div_ceil(ram)).clamp(1, most);
            let background = scale(2, 10);
            let dirty = scale(4, 20).max(background + 1);
            vec![
                swappiness,
                Setting::new("vm.dirty_expire_centisecs", 20)
                    .because("dirty data is old after 200ms"),
                Setting::new("vm.dirty_writeback_centisecs", 20)
                    .because("write old data back every 200ms"),
                Setting::new("vm.dirty_background_ratio", background).because(format!(
                    "2% at 128GiB, scaled to {ram_text}, at most the kernel's 10%"
                )),
                Setting::new("vm.dirty_ratio", dirty).because(format!(
                    "4% at 128GiB, scaled to {ram_text}, at most the kernel's 20%"
                )),
            ]
        }
    }
}

/// kernel.shmmax and kernel.shmall for a PostgreSQL host that uses System V shared memory.
fn shared_memory(site: &Site, derived: &Derived, host: &Host) -> Vec<Setting> {
    let Some(shared_buffers) = super::postgres::sysv_shared_buffers(site, derived, host) else {
        return Vec::new();
    };
    // The segment holds shared_buffers and PostgreSQL's other shared structures: allow a tenth more and 64MiB.
    let shmmax = (shared_buffers + shared_buffers / 10 + 64 * MIB).div_ceil(PAGE) * PAGE;
    vec![
        Setting::new("kernel.shmmax", shmmax).because(format!(
            "{}: shared_buffers {} plus a tenth and 64MiB, for shared_memory_type = sysv",
            size(shmmax),
            size(shared_buffers)
        )),
        Setting::new("kernel.shmall", shmmax / PAGE).because("kernel.shmmax in 4kB pages"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::scalar::Address;
    use crate::spec::{HostName, StorageKind};

    fn host(memory: &str) -> Host {
        Host {
            name: HostName::new("db1").unwrap(),
            address: Address::new("192.0.2.1").unwrap(),
            memory: ByteSize::parse(memory).unwrap(),
            cpus: 8,
            storage: StorageKind::Ssd,
            roles: Vec::new(),
            server_name: None,
            postgres_settings: Default::default(),
        }
    }

    fn values(settings: &[Setting]) -> Vec<(String, String)> {
        settings
            .iter()
            .map(|s| (s.name.clone(), s.value.to_string()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn the_database_profile_is_catmaids_on_a_large_host_and_smaller_on_a_small_one() {
        assert_eq!(
            values(&profile_settings(SysctlProfile::Database, &host("64GiB"))),
            pairs(&[
                ("vm.swappiness", "10"),
                ("vm.dirty_background_bytes", "268435456"),
                ("vm.dirty_bytes", "1073741824")
            ])
        );
        assert_eq!(
            values(&profile_settings(SysctlProfile::Database, &host("4GiB"))),
            pairs(&[
                ("vm.swappiness", "10"),
                ("vm.dirty_background_bytes", "67108864"),
                ("vm.dirty_bytes", "268435456")
            ])
        );
    }

    #[test]
    fn the_synapse_profile_is_2_and_4_percent_at_128gib_and_more_on_smaller_hosts() {
        let at = |memory: &str| {
            values(&profile_settings(SysctlProfile::Synapse, &host(memory)))
                .into_iter()
                .filter(|(n, _)| n.ends_with("ratio"))
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
        };
        assert_eq!(at("128GiB"), ["2", "4"]);
        assert_eq!(at("64GiB"), ["4", "8"]);
        assert_eq!(at("32GiB"), ["8", "16"]);
        assert_eq!(at("16GiB"), ["10", "20"]);
        assert_eq!(at("512GiB"), ["1", "2"]);
    }
}
