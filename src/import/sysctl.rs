//! The sysctl part of `import`: each host's sysctl.d files and sysctl.conf in the order
//! `sysctl --system` applies them (a name in an earlier folder masks the same name in a later
//! one; sysctl.conf last), so the value a key ends with is the one the kernel gets; what the
//! hosts agree on becomes the site's `sysctl.settings`.

use std::collections::BTreeMap;

use super::{HostTree, Map, Node, Note};
use crate::live::{SYSCTL_CONF, SYSCTL_DIRS, sysctl_keys};

/// What the sysctl import gives the spec, and the files it read.
#[derive(Debug, Default)]
pub(super) struct Sysctl {
    pub(super) section: Option<Map>,
    pub(super) read: Vec<(String, String)>,
}

/// Each key a host applies: its value and the file it comes from.
type Applied = BTreeMap<String, (String, String)>;

/// Each key `host` applies, with its value and the file it comes from, in the kernel's order.
fn applied(host: &HostTree, notes: &mut Vec<Note>) -> (Applied, Vec<String>) {
    let mut by_name: BTreeMap<&str, &str> = BTreeMap::new();
    for dir in SYSCTL_DIRS {
        for path in host.files.keys() {
            if let Some(name) = path.strip_prefix(dir).and_then(|r| r.strip_prefix('/'))
                && !name.contains('/')
                && name.ends_with(".conf")
            {
                by_name.entry(name).or_insert(path.as_str());
            }
        }
    }
    let mut order: Vec<&str> = by_name.into_values().collect();
    if host.files.contains_key(SYSCTL_CONF) {
        order.push(SYSCTL_CONF);
    }
    let mut keys = Applied::new();
    for path in &order {
        for (key, value) in sysctl_keys(host.file(path).unwrap_or_default()) {
            if let Some((earlier, from)) = keys.get(&key)
                && earlier != &value
            {
                notes.push(Note {
                    at: format!("{}{path}", host.name),
                    text: format!(
                        "{key} = {value} wins over {from}'s {earlier}: sysctl --system applies this file later; the spec takes {value}"
                    ),
                });
            }
            keys.insert(key, (value, (*path).to_owned()));
        }
    }
    (keys, order.into_iter().map(str::to_owned).collect())
}

/// A sysctl value as the spec takes it: a whole number bare, the rest text.
fn value_node(value: &str) -> Node {
    match value.parse::<i64>() {
        Ok(n) if !value.starts_with('0') || value == "0" => Node::Int(n),
        _ => Node::text(value),
    }
}

/// The site's sysctl section from `hosts` (those the spec has): the keys every one of them
/// applies with the same value; a key they differ on, or that some lack, is named.
pub(super) fn import(hosts: &[&HostTree], notes: &mut Vec<Note>) -> Sysctl {
    let mut result = Sysctl::default();
    let mut each: Vec<(&HostTree, Applied)> = Vec::new();
    for host in hosts {
        let (keys, files) = applied(host, notes);
        // A host without a sysctl file is one the section does not apply to (`sysctl.roles`),
        // not one that sets every key otherwise.
        if files.is_empty() {
            continue;
        }
        result
            .read
            .extend(files.into_iter().map(|f| (host.name.clone(), f)));
        each.push((host, keys));
    }
    let Some((_, first)) = each.first() else {
        return result;
    };
    let mut settings = Map::new();
    let mut any = false;
    let all_keys: std::collections::BTreeSet<&String> =
        each.iter().flat_map(|(_, keys)| keys.keys()).collect();
    for key in all_keys {
        let values: Vec<Option<&String>> = each
            .iter()
            .map(|(_, keys)| keys.get(key).map(|(v, _)| v))
            .collect();
        match (first.get(key), values.iter().all(|v| *v == values[0])) {
            (Some((value, _)), true) => {
                settings.set(key, value_node(value));
                any = true;
            }
            _ => notes.push(Note {
                at: each
                    .iter()
                    .map(|(h, _)| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                text: format!(
                    "{key} is not imported: the hosts set it differently ({}), and the spec's sysctl settings are the site's",
                    each.iter()
                        .map(|(h, keys)| format!(
                            "{} {}",
                            h.name,
                            keys.get(key).map_or("unset", |(v, _)| v.as_str())
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
    if any {
        let mut section = Map::new();
        section.set("settings", Node::Map(settings));
        result.section = Some(section);
    }
    result
}

/// The profiles a site may name, none first.
const PROFILES: [Option<&str>; 3] = [None, Some("database"), Some("synapse")];

/// Fits `top`'s sysctl section to the hosts' files: the priority of a sitewright-named file
/// (`NN-sitewright.conf`), the roles of the hosts that have one when others do not, the profile
/// whose values the files hold (those values then left to it), and each value in the form whose
/// render matches (`256MB` where the file says `# 256MB in bytes` above 268435456).
pub(super) fn settle(top: &mut Map, hosts: &[HostTree]) {
    if !matches!(top.get("sysctl"), Some(Node::Map(_))) {
        return;
    }
    let in_spec: Vec<&HostTree> = hosts
        .iter()
        .filter(|h| super::fit::host_mut(&mut top.clone(), &h.name).is_some())
        .collect();
    let files = |host: &HostTree| -> Vec<String> {
        host.files
            .keys()
            .filter(|p| p.starts_with("/etc/sysctl.d/") && p.ends_with(".conf"))
            .cloned()
            .collect()
    };
    if let Some(priority) = in_spec
        .iter()
        .flat_map(|h| files(h))
        .find_map(|p| {
            p.strip_prefix("/etc/sysctl.d/")?
                .strip_suffix("-sitewright.conf")?
                .parse::<i64>()
                .ok()
        })
        .filter(|p| *p != 60)
    {
        top.set_path(&["sysctl", "priority"], Node::Int(priority));
    }
    roles(top, &in_spec, &files);
    for host in &in_spec {
        let Some((memory, line)) = files(host)
            .iter()
            .filter_map(|p| host.file(p))
            .find_map(stated_memory)
        else {
            continue;
        };
        if let Some(entry) = super::fit::host_mut(top, &host.name) {
            let have = match entry.get("memory") {
                Some(Node::Text(t)) => crate::units::ByteSize::parse(t).ok(),
                _ => None,
            };
            let stated = crate::units::ByteSize::parse(&memory).ok();
            if stated.is_some() && have != stated {
                entry.replace_guess(
                    "memory",
                    Node::text(memory),
                    format!("the sysctl file's `{line}`, which names the host's memory"),
                );
            }
        }
    }
    let score = |rendered: &super::fit::Files| -> usize {
        in_spec
            .iter()
            .map(|h| {
                files(h)
                    .iter()
                    .map(|p| super::fit::common_lines(rendered, h, p))
                    .sum::<usize>()
            })
            .sum()
    };
    let base = top.clone();
    let mut best: Option<(Map, usize)> = None;
    for profile in PROFILES {
        let mut candidate = base.clone();
        if let Some(profile) = profile {
            candidate.set_path(&["sysctl", "profile"], Node::text(profile));
        }
        let Some(mut current) = super::fit::render(&candidate).map(|f| score(&f)) else {
            continue;
        };
        for key in settings_keys(&candidate) {
            // A value the profile gives alike is the profile's; one the render derives itself
            // (kernel.shmmax for System V shared memory) says more lines of the file without it.
            let mut without = candidate.clone();
            remove_setting(&mut without, &key);
            if let Some(s) = super::fit::render(&without).map(|f| score(&f))
                && (s > current || (s == current && profile.is_some()))
            {
                candidate = without;
                current = s;
                continue;
            }
            // The value in the form the file's comment says.
            if let Some(form) = written_form(&in_spec, &key) {
                let mut formed = candidate.clone();
                formed.set_path(&["sysctl", "settings", &key], Node::text(form));
                if let Some(s) = super::fit::render(&formed).map(|f| score(&f))
                    && s > current
                {
                    candidate = formed;
                    current = s;
                }
            }
        }
        if best.as_ref().is_none_or(|(_, b)| current > *b) {
            best = Some((candidate, current));
        }
    }
    if let Some((chosen, _)) = best {
        *top = chosen;
    }
}

/// Sets `sysctl.roles` to the roles of the hosts that have a sysctl file, when some hosts of
/// the spec have none and no host without one shares those roles.
fn roles(top: &mut Map, in_spec: &[&HostTree], files: &dyn Fn(&HostTree) -> Vec<String>) {
    let role_of = |top: &mut Map, name: &str| -> Vec<String> {
        match super::fit::host_mut(top, name).and_then(|e| e.get("roles")) {
            Some(Node::Seq(roles)) => roles
                .iter()
                .filter_map(|r| match r {
                    Node::Text(t) => Some(t.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    let (with, without): (Vec<&&HostTree>, Vec<&&HostTree>) =
        in_spec.iter().partition(|h| !files(h).is_empty());
    if without.is_empty() || with.is_empty() {
        return;
    }
    // The roles of the hosts with a file that no host without one has: each host with a file
    // must have one of them (a web replica among plain replicas has web).
    let shunned: Vec<String> = without.iter().flat_map(|h| role_of(top, &h.name)).collect();
    let mut wanted: Vec<String> = Vec::new();
    let mut covered = true;
    for host in &with {
        let own: Vec<String> = role_of(top, &host.name)
            .into_iter()
            .filter(|r| !shunned.contains(r))
            .collect();
        covered &= !own.is_empty();
        for role in own {
            if !wanted.contains(&role) {
                wanted.push(role);
            }
        }
    }
    if covered {
        top.set_path(
            &["sysctl", "roles"],
            Node::Seq(wanted.into_iter().map(Node::Text).collect()),
        );
    }
}

fn settings_keys(top: &Map) -> Vec<String> {
    match top.get("sysctl") {
        Some(Node::Map(section)) => match section.get("settings") {
            Some(Node::Map(settings)) => settings.entries().map(|(k, _)| k.to_owned()).collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn remove_setting(top: &mut Map, key: &str) {
    if let Some(Node::Map(section)) = top.get_mut("sysctl")
        && let Some(Node::Map(settings)) = section.get_mut("settings")
    {
        settings.remove(key);
        if settings.is_empty() {
            section.remove("settings");
        }
    }
}

/// The value of `key` as the comment above it in a host's files states it: `256MB` of
/// `# 256MB in bytes`, `4%` of `# 4% of memory`.
fn written_form(hosts: &[&HostTree], key: &str) -> Option<String> {
    hosts.iter().find_map(|host| {
        host.files.values().find_map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            let at = lines
                .iter()
                .position(|l| l.split('=').next().map(str::trim) == Some(key))?;
            let comment = lines.get(at.checked_sub(1)?)?.trim().strip_prefix('#')?;
            let first = comment.split_whitespace().next()?;
            (comment.contains(" in ") || comment.contains(" of memory")).then(|| first.to_owned())
        })
    })
}

/// The host's memory as a sysctl file sitewright rendered names it in a comment (`# 256MB:
/// 256MiB, at most 1/64 of 192GB`, `# 2% at 128GiB, scaled to 32GB, ...`), in the spec's IEC
/// form, with the comment it comes from.
fn stated_memory(text: &str) -> Option<(String, String)> {
    text.lines().find_map(|line| {
        let comment = line.trim().strip_prefix('#')?.trim();
        let after = comment
            .split_once(", at most 1/64 of ")
            .or_else(|| comment.split_once(", at most 1/16 of "))
            .map(|(_, m)| m)
            .or_else(|| comment.split_once(", scaled to ").map(|(_, m)| m))?;
        let size = after.split([',', ' ']).next()?;
        let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &size[digits.len()..];
        let iec = match unit {
            "TB" => "TiB",
            "GB" => "GiB",
            "MB" => "MiB",
            "kB" => "KiB",
            "B" => "B",
            _ => return None,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((format!("{digits}{iec}"), comment.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::super::{HostTree, Map, Node};
    use super::stated_memory;

    #[test]
    fn the_roles_of_the_hosts_with_a_file_that_no_other_host_has() {
        let entry = |name: &str, roles: &[&str]| {
            let mut m = Map::new();
            m.set("name", Node::text(name));
            m.set(
                "roles",
                Node::Seq(roles.iter().map(|r| Node::text(*r)).collect()),
            );
            Node::Map(m)
        };
        let mut top = Map::new();
        top.set(
            "hosts",
            Node::Seq(vec![
                entry("db1", &["postgres-primary"]),
                entry("db2", &["postgres-replica", "web"]),
                entry("db3", &["postgres-replica"]),
                entry("proxy1", &["proxy"]),
            ]),
        );
        top.set("sysctl", Node::Map(Map::new()));
        let hosts: Vec<HostTree> = ["db1", "db2", "db3", "proxy1"]
            .iter()
            .map(|n| HostTree {
                name: (*n).to_owned(),
                ..HostTree::default()
            })
            .collect();
        let refs: Vec<&HostTree> = hosts.iter().collect();
        let with = |h: &HostTree| -> Vec<String> {
            if h.name == "db2" || h.name == "proxy1" {
                vec!["/etc/sysctl.d/60-sitewright.conf".to_owned()]
            } else {
                Vec::new()
            }
        };
        super::roles(&mut top, &refs, &with);
        let Some(Node::Map(section)) = top.get("sysctl") else {
            panic!("{top:?}")
        };
        assert_eq!(
            section.get("roles"),
            Some(&Node::Seq(vec![Node::text("web"), Node::text("proxy")]))
        );
    }

    #[test]
    fn the_memory_a_rendered_comment_names() {
        let bytes =
            "# x\n# 256MB: 256MiB, at most 1/64 of 192GB\nvm.dirty_background_bytes = 268435456\n";
        assert_eq!(stated_memory(bytes).unwrap().0, "192GiB");
        let ratio = "# 2% at 128GiB, scaled to 1536MB, at most the kernel's 10%\nvm.dirty_background_ratio = 8\n";
        assert_eq!(stated_memory(ratio).unwrap().0, "1536MiB");
        assert_eq!(
            stated_memory("# keep the page cache in memory rather than swap\n"),
            None
        );
    }
}
