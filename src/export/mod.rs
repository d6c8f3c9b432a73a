//! Exports of a rendered tree for the tools that put files on machines: an Ansible playbook and
//! NixOS modules. Pure: each returns the files to write; the edge writes them.

pub(crate) mod ansible;
pub(crate) mod nix;

use std::fmt;

/// One file of an export, relative to the export's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exported {
    pub(crate) path: String,
    pub(crate) content: String,
    pub(crate) mode: u32,
}

/// A file that an export format cannot carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportError {
    pub(crate) message: String,
}

impl ExportError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}
