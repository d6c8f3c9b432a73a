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
