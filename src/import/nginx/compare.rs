//! The imported nginx section rendered again and compared with the live files: the proof that a
//! file round-trips, and where it does not, the report of each directive the spec loses or adds,
//! so that nothing is dropped silently.

use std::collections::{BTreeMap, BTreeSet};

use super::syntax::{self, Directive};
use crate::import::{HostTree, Known, Map, Node, Note};

/// What the section is rendered with: a spec of its own, with the hosts and ports the live
/// files show.
pub(super) struct Verify<'a> {
    pub(super) site: &'a str,
    pub(super) section: &'a Map,
    pub(super) known: &'a Known,
    pub(super) roles: &'a BTreeMap<String, Vec<&'static str>>,
    pub(super) public_port: Option<i64>,
    pub(super) allowed: &'a [String],
}

/// A placeholder size: nothing in the nginx files depends on it.
fn host_entry(name: &str, address: &str, roles: &[&str]) -> Node {
    let mut entry = Map::new();
    entry
        .set("name", Node::text(name))
        .set("address", Node::text(address))
        .set("memory", Node::text("16GiB"))
        .set("cpus", Node::Int(4))
        .set("storage", Node::text("ssd"))
        .set(
            "roles",
            Node::Seq(roles.iter().map(|r| Node::text(*r)).collect()),
        );
    Node::Map(entry)
}

/// The text of the spec that renders `verify.section` on the hosts the live files came from.
pub(super) fn spec_text(verify: &Verify<'_>) -> String {
    let known = verify.known;
    let mut roles: BTreeMap<String, Vec<&str>> = verify
        .roles
        .iter()
        .map(|(h, r)| (h.clone(), r.clone()))
        .collect();
    let forwards = verify.section.get("stream").is_some() || verify.public_port.is_some();
    if forwards && let Some(primary) = &known.primary {
        roles
            .entry(primary.clone())
            .or_default()
            .insert(0, "postgres-primary");
    }
    // The stream forward allows the replicas' and web hosts' addresses: the web hosts take the
    // allowed addresses no PostgreSQL host has, the rest stand for replicas.
    let mut spare: Vec<&String> = verify
        .allowed
        .iter()
        .filter(|a| !known.addresses.values().any(|k| k == *a))
        .collect();
    let mut hosts = Vec::new();
    let mut placeholder = 200;
    for (name, roles) in &roles {
        let address = match known.addresses.get(name) {
            Some(a) => a.clone(),
            None if !spare.is_empty() => spare.remove(0).clone(),
            None => {
                placeholder += 1;
                format!("192.0.2.{placeholder}")
            }
        };
        hosts.push(host_entry(name, &address, roles));
    }
    let mut given: BTreeSet<String> = hosts
        .iter()
        .filter_map(|h| match h {
            Node::Map(m) => match m.get("address") {
                Some(Node::Text(a)) => Some(a.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    for (i, address) in verify.allowed.iter().enumerate() {
        if given.insert(address.clone()) {
            hosts.push(host_entry(
                &format!("allowed-{}", i + 1),
                address,
                &["postgres-replica"],
            ));
        }
    }
    let mut top = Map::new();
    top.set("site", Node::text(verify.site))
        .set("hosts", Node::Seq(hosts));
    if let Some(port) = verify.public_port {
        let mut password = Map::new();
        password.set("env", Node::text("REPLICATION_PASSWORD"));
        let mut replication = Map::new();
        replication
            .set("user", Node::text("replicator"))
            .set("password", Node::Map(password))
            .set("public_port", Node::Int(port));
        let mut postgres = Map::new();
        postgres
            .set("version", Node::Int(16))
            .set("data_directory", Node::text("/var/lib/postgresql/16/main"))
            .set("port", Node::Int(known.postgres_port.unwrap_or(5432)))
            .set("replication", Node::Map(replication));
        top.set("postgres", Node::Map(postgres));
    }
    top.set("nginx", Node::Map(verify.section.clone()));
    crate::yaml::document(&top)
}

/// Each nginx file of the render of `text`, by `(host, path)`. The spec is held to the schema,
/// typed and planned as `load` does, but without `check`'s site-wide rules: the verification
/// spec has no Django, which a web host needs, and the rules judge the whole imported spec later.
pub(super) fn render(text: &str) -> Result<BTreeMap<(String, String), String>, String> {
    use serde::Deserialize as _;
    let source =
        crate::source::Source::from_bytes("imported nginx section", text.as_bytes().to_vec())
            .map_err(|d| d.message.clone())?;
    let doc = source.parse().map_err(|d| d.message.clone())?;
    let errors = crate::validate::validate(&source, &doc);
    if !errors.is_empty() {
        return Err(errors
            .iter()
            .map(|d| d.message.clone())
            .collect::<Vec<_>>()
            .join("; "));
    }
    let site = crate::spec::Site::deserialize(&doc.value).map_err(|e| e.to_string())?;
    let derived = crate::plan::Derived::new(&site);
    // The rules `load` runs on nginx and the hosts, a spec they refuse is never planned; not
    // the Django section the verification spec leaves out, nor its stand-in PostgreSQL.
    let judged = |rule: &str| {
        ["NGX", "NET", "SITE", "WEB"]
            .iter()
            .any(|p| rule.starts_with(p))
            && rule != "WEB002"
    };
    let refused: Vec<String> = crate::check::check(&site, &doc, &derived)
        .into_iter()
        .filter(|d| d.severity == crate::diagnostic::Severity::Error && d.rule.is_some_and(judged))
        .map(|d| {
            format!(
                "{}{}",
                d.rule.map_or(String::new(), |r| format!("{r}: ")),
                d.message
            )
        })
        .collect();
    if !refused.is_empty() {
        return Err(refused.join("; "));
    }
    let plan = crate::plan::plan_with(&site, &derived);
    let tree = crate::render::Renderer::new(&Default::default())
        .render(&plan, &crate::render::Secrets::none())
        .map_err(|e| format!("{e:?}"))?;
    Ok(tree
        .files
        .iter()
        .filter(|f| super::is_nginx(&f.path))
        .map(|f| {
            (
                (f.host.as_str().to_owned(), f.path.clone()),
                f.content.clone(),
            )
        })
        .collect())
}

/// One directive with the blocks it is in, as text: what two files are compared by.
fn flatten(list: &[Directive], context: &str, out: &mut Vec<(String, usize)>) {
    for d in list {
        let here = if context.is_empty() {
            d.text()
        } else {
            format!("{context} > {}", d.text())
        };
        out.push((here.clone(), d.line));
        if let Some(children) = &d.block {
            // A server is known by where it listens, not by its place among the others.
            let name = if d.name == "server" {
                let listen = children
                    .iter()
                    .find(|c| c.name == "listen")
                    .map(Directive::text)
                    .unwrap_or_default();
                format!("server ({listen})")
            } else {
                d.text().trim_end_matches(" {…}").to_owned()
            };
            let inner = if context.is_empty() {
                name
            } else {
                format!("{context} > {name}")
            };
            flatten(children, &inner, out);
        }
    }
}

/// The notes on one live file against its render.
pub(super) fn differences(at: &str, live: &str, rendered: Option<&str>) -> Vec<Note> {
    let note = |text: String| Note {
        at: at.to_owned(),
        text,
    };
    let Some(rendered) = rendered else {
        return vec![note(
            "the spec does not write this file: what it holds is lost".to_owned(),
        )];
    };
    if live == rendered {
        return Vec::new();
    }
    let (Ok(live_top), Ok(rendered_top)) = (syntax::parse(live), syntax::parse(rendered)) else {
        return vec![note("the spec writes this file differently".to_owned())];
    };
    let mut live_lines = Vec::new();
    flatten(&live_top, "", &mut live_lines);
    let mut rendered_lines = Vec::new();
    flatten(&rendered_top, "", &mut rendered_lines);
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for (text, _) in &rendered_lines {
        *left.entry(text).or_default() += 1;
    }
    let mut out = Vec::new();
    for (text, line) in &live_lines {
        match left.get_mut(text.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(note(format!(
                "line {line}: `{text}` is not in the spec's render: lost"
            ))),
        }
    }
    let mut live_left: BTreeMap<&str, usize> = BTreeMap::new();
    for (text, _) in &live_lines {
        *live_left.entry(text).or_default() += 1;
    }
    for (text, _) in &rendered_lines {
        match live_left.get_mut(text.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(note(format!(
                "the spec writes `{text}`, which the live file does not"
            ))),
        }
    }
    if out.is_empty() {
        out.push(note(
            "the spec writes the same directives, with its own order, comments and layout"
                .to_owned(),
        ));
    }
    out
}

/// Compares the render of the section with each live file it was read from, and names each
/// nginx file the render adds on those hosts.
pub(super) fn compare(
    verify: &Verify<'_>,
    live: &BTreeMap<(String, String), &str>,
    hosts: &[HostTree],
    notes: &mut Vec<Note>,
) {
    let forwards = verify.section.get("stream").is_some() || verify.public_port.is_some();
    if verify.roles.is_empty() && !forwards {
        // No host of the section's: the spec writes none of these files.
        for (host, path) in live.keys() {
            notes.extend(differences(&format!("{host}{path}"), "", None));
        }
        return;
    }
    let text = spec_text(verify);
    let rendered = match render(&text) {
        Ok(r) => r,
        Err(e) => {
            notes.push(Note {
                at: "nginx".to_owned(),
                text: format!(
                    "the imported section could not be rendered again ({e}): its files were not compared with the live ones"
                ),
            });
            return;
        }
    };
    for ((host, path), text) in live {
        notes.extend(differences(
            &format!("{host}{path}"),
            text,
            rendered
                .get(&(host.clone(), path.clone()))
                .map(String::as_str),
        ));
    }
    for (host, path) in rendered.keys() {
        let real = hosts.iter().any(|h| &h.name == host);
        if real && !live.contains_key(&(host.clone(), path.clone())) {
            let on_host = hosts
                .iter()
                .find(|h| &h.name == host)
                .is_some_and(|h| h.files.contains_key(path));
            notes.push(Note {
                at: format!("{host}{path}"),
                text: if on_host {
                    "the spec writes this file over the live one, which was not imported".to_owned()
                } else {
                    "the spec adds this file".to_owned()
                },
            });
        }
    }
}
