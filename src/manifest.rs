//! manifest.json: what a rendered tree holds, for deploy tools and for `render` to find stale files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::{Mode, OnChange, Service};
use crate::render::Tree;

/// The manifest of a rendered tree.
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
pub(crate) struct Listed {
    pub(crate) files: Vec<ListedFile>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ListedFile {
    pub(crate) host: String,
    pub(crate) path: String,
}

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

impl<'a> Manifest<'a> {
    pub(crate) fn of(tree: &'a Tree) -> Self {
        Self {
            generator: concat!("sitewright ", env!("CARGO_PKG_VERSION")),
            site: &tree.site,
            files: tree
                .files
                .iter()
                .map(|file| Entry {
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
                })
                .collect(),
        }
    }

    pub(crate) fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        text.push('\n');
        text
    }
}
