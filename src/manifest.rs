//! manifest.json: what a rendered tree holds, for deploy tools and for `render` to find stale files;
//! and each host's own manifest, which travels with its files so that a live host knows which of
//! its files sitewright put there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{Mode, OnChange, Service};
use crate::render::Tree;

/// Where each host's manifest is, on the host and under `DIR/<host>` in a rendered tree: the same
/// form as `DIR/manifest.json`, listing only that host's files. A file it lists that the spec no
/// longer renders is stale; no other file is.
pub(crate) const HOST_MANIFEST: &str = "/etc/sitewright/manifest.json";

/// The manifest of a rendered tree, or of one host's part of it.
#[derive(Debug, Serialize)]
pub(crate) struct Manifest<'a> {
    pub(crate) generator: &'static str,
    pub(crate) site: &'a str,
    pub(crate) files: Vec<Entry<'a>>,
}

/// One file of the tree.
#[derive(Debug, Serialize)]
pub(crate) struct Entry<'a> {
    pub(crate) host: &'a str,
    pub(crate) path: &'a str,
    pub(crate) mode: Mode,
    pub(crate) owner: &'a str,
    pub(crate) group: &'a str,
    /// Of the content with secret values masked, so the manifest can be committed.
    pub(crate) sha256: String,
    pub(crate) service: Service,
    pub(crate) on_change: OnChange,
    /// True when the file is meant to hold a secret (a passfile).
    pub(crate) secret: bool,
    /// The command that applies the file, where no service reloads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) apply: Option<&'a str>,
    /// For a postgresql.conf: each setting it sets, and whether a change to it needs a restart or a reload.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) settings: BTreeMap<String, OnChange>,
}

/// Just enough of an earlier manifest to know which files it listed.
#[derive(Debug, Deserialize)]
struct Listed {
    files: Vec<ListedFile>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ListedFile {
    pub(crate) host: String,
    pub(crate) path: String,
}

/// The files a manifest's text lists; none when it is not a manifest (a stray or damaged file
/// makes nothing stale, rather than everything).
pub(crate) fn listed(text: &str) -> Vec<ListedFile> {
    serde_json::from_str::<Listed>(text)
        .map(|listed| listed.files)
        .unwrap_or_default()
}

const GENERATOR: &str = concat!("sitewright ", env!("CARGO_PKG_VERSION"));

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a change to each setting of a postgresql.conf needs, as the plan recorded it.
fn setting_effects(file: &crate::render::RenderedFile) -> BTreeMap<String, OnChange> {
    file.meta.conf.as_ref().map_or_else(BTreeMap::new, |conf| {
        conf.written
            .iter()
            .map(|(name, (_, effect))| (name.clone(), *effect))
            .collect()
    })
}

fn entry(file: &crate::render::RenderedFile) -> Entry<'_> {
    Entry {
        host: file.host.as_str(),
        path: &file.path,
        mode: file.meta.mode,
        owner: file.meta.owner,
        group: file.meta.group,
        sha256: sha256_hex(file.shown().as_bytes()),
        service: file.meta.service,
        on_change: file.meta.on_change,
        secret: file.meta.mask != crate::plan::Mask::None,
        apply: file.meta.apply.as_deref(),
        settings: setting_effects(file),
    }
}

impl<'a> Manifest<'a> {
    pub(crate) fn of(tree: &'a Tree) -> Self {
        Self {
            generator: GENERATOR,
            site: &tree.site,
            files: tree.files.iter().map(entry).collect(),
        }
    }

    /// Each host's manifest, which goes to that host at [`HOST_MANIFEST`], in the tree's order of
    /// hosts.
    pub(crate) fn per_host(tree: &'a Tree) -> Vec<(&'a str, Self)> {
        let mut out: Vec<(&str, Self)> = Vec::new();
        for file in &tree.files {
            let host = file.host.as_str();
            // A host's files are together in the tree: its manifest is nearly always the last one.
            let index = match out.iter().rposition(|(name, _)| *name == host) {
                Some(index) => index,
                None => {
                    out.push((
                        host,
                        Self {
                            generator: GENERATOR,
                            site: &tree.site,
                            files: Vec::new(),
                        },
                    ));
                    out.len() - 1
                }
            };
            out[index].1.files.push(entry(file));
        }
        out
    }

    pub(crate) fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        text.push('\n');
        text
    }
}
