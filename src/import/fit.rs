//! The render that judges an imported spec: a candidate is loaded and rendered as `render`
//! would, and its files are compared with the live ones line by line, so that a choice the files
//! do not state outright (a workload, a storage kind, a profile) is the one whose render says
//! what the live files say.

use std::collections::BTreeMap;

use super::{HostTree, Map, Node, yaml};
use crate::load::{Invalid, Loaded};

/// Each `(host, path)` of a render and its text.
pub(super) type Files = BTreeMap<(String, String), String>;

/// The spec `top` loaded as `check` loads it.
pub(super) fn load(top: &Map) -> Result<Loaded, Invalid> {
    let source =
        crate::source::Source::from_bytes("imported.yaml", yaml::document(top).into_bytes())
            .map_err(|diagnostic| Invalid {
                diagnostics: vec![*diagnostic],
            })?;
    crate::load::load(&source)
}

/// The files of `top`'s render, with secrets as placeholders (as a golden tree holds them);
/// none when the spec does not load.
pub(super) fn render(top: &Map) -> Option<Files> {
    let loaded = load(top).ok()?;
    let plan = crate::plan::plan_with(&loaded.site, &loaded.derived);
    let tree = crate::render::Renderer::new(&Default::default())
        .render(&plan, &crate::render::Secrets::none())
        .ok()?;
    Some(
        tree.files
            .iter()
            .map(|f| {
                (
                    (f.host.as_str().to_owned(), f.path.to_string()),
                    f.content.clone(),
                )
            })
            .collect(),
    )
}

/// How many lines of `host`'s live file at `path` the render has in the same order (0 when
/// either lacks the file).
pub(super) fn common_lines(files: &Files, host: &HostTree, path: &str) -> usize {
    let (Some(ours), Some(live)) = (
        files.get(&(host.name.clone(), path.to_owned())),
        host.files.get(path),
    ) else {
        return 0;
    };
    similar::TextDiff::from_lines(live.as_str(), ours.as_str())
        .ops()
        .iter()
        .filter(|op| op.tag() == similar::DiffTag::Equal)
        .map(|op| op.old_range().len())
        .sum()
}

/// How closely the render's file at `path` on `host` says the live one: its lines in common
/// count twice and each line the render adds that the live file lacks counts against it, so
/// that of two renders holding every live line the one without extra lines wins.
pub(super) fn closeness(files: &Files, host: &HostTree, path: &str) -> usize {
    let (Some(ours), Some(live)) = (
        files.get(&(host.name.clone(), path.to_owned())),
        host.files.get(path),
    ) else {
        return 0;
    };
    let (mut equal, mut added) = (0, 0);
    for op in similar::TextDiff::from_lines(live.as_str(), ours.as_str()).ops() {
        match op.tag() {
            similar::DiffTag::Equal => equal += op.old_range().len(),
            similar::DiffTag::Insert | similar::DiffTag::Replace => {
                added += op.new_range().len();
            }
            similar::DiffTag::Delete => {}
        }
    }
    (2 * equal + (1 << 20)).saturating_sub(added)
}

/// The entry of host `name` in `top`'s `hosts:`.
pub(super) fn host_mut<'a>(top: &'a mut Map, name: &str) -> Option<&'a mut Map> {
    let Some(Node::Seq(hosts)) = top.get_mut("hosts") else {
        return None;
    };
    hosts.iter_mut().find_map(|h| match h {
        Node::Map(entry) if entry.get("name") == Some(&Node::text(name)) => Some(entry),
        _ => None,
    })
}

/// The candidate of `candidates` whose render scores best by `score` (the first on a tie, so
/// list the default first); the spec is left with it set by `apply`.
pub(super) fn best<T: Clone>(
    top: &mut Map,
    candidates: &[T],
    apply: impl Fn(&mut Map, &T),
    score: impl Fn(&Files) -> usize,
) -> Option<(T, usize)> {
    let mut winner: Option<(T, usize)> = None;
    for candidate in candidates {
        apply(top, candidate);
        if let Some(files) = render(top) {
            let s = score(&files);
            if winner.as_ref().is_none_or(|(_, w)| s > *w) {
                winner = Some((candidate.clone(), s));
            }
        }
    }
    if let Some((chosen, _)) = &winner {
        apply(top, chosen);
    } else if let Some(first) = candidates.first() {
        apply(top, first);
    }
    winner
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_with_extra_lines_is_less_close() {
        let host = HostTree {
            name: "db1".to_owned(),
            files: BTreeMap::from([("/c".to_owned(), "a\nb\n".to_owned())]),
            unread: BTreeMap::new(),
        };
        let files = |text: &str| -> Files {
            BTreeMap::from([(("db1".to_owned(), "/c".to_owned()), text.to_owned())])
        };
        let exact = closeness(&files("a\nb\n"), &host, "/c");
        let extra = closeness(&files("x\na\nb\n"), &host, "/c");
        let fewer = closeness(&files("a\n"), &host, "/c");
        assert_eq!(common_lines(&files("x\na\nb\n"), &host, "/c"), 2);
        assert!(exact > extra && extra > fewer);
    }
}
