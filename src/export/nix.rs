//! A NixOS module per host: files under /etc as `environment.etc` entries, others as a
//! systemd-tmpfiles remove-and-copy pair from the store, and secrets as paths under a directory the
//! deploy provides, never as values. Evaluates without nixpkgs, so plain `nix-instantiate` can
//! check it.

use std::fmt::Write as _;

use super::{ExportError, Exported};
use crate::manifest::{HOST_MANIFEST, Manifest};
use crate::render::{RenderedFile, Tree};

/// A Nix double-quoted string holding exactly `text`: `\`, `"` and `$` escaped, and CR and TAB
/// written as escapes (a literal CR would be read as a newline). Nix strings cannot hold NUL.
pub(crate) fn string(text: &str) -> Result<String, ExportError> {
    if text.contains('\0') {
        return Err(ExportError::new("a Nix string cannot hold a NUL byte"));
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// A store name for `path`: the characters the store accepts, others as `-`.
fn store_name(path: &str) -> String {
    let body: String = path
        .trim_start_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-._?=".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("sitewright-{body}")
}

fn owner(file: &RenderedFile) -> String {
    format!(
        "mode = \"{}\"; user = \"{}\"; group = \"{}\";",
        file.meta.mode, file.meta.owner, file.meta.group
    )
}

/// The module of one host.
/// The module of `host`: its files, then its manifest (what `render` puts at
/// [`HOST_MANIFEST`], which `diff` reads to tell an earlier deploy's files from others).
fn module(
    host: &str,
    files: &[&RenderedFile],
    manifest: Option<&str>,
) -> Result<String, ExportError> {
    let mut etc = String::new();
    let mut tmpfiles = String::new();
    for file in files {
        let secret = file.meta.mask != crate::plan::Mask::None;
        let secret_path = format!("\"${{secretsDir}}{}\"", file.path);
        match file.path.strip_prefix("/etc/") {
            Some(relative) => {
                let body = if secret {
                    format!("source = {secret_path};")
                } else if relative
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-._?=/".contains(c))
                {
                    format!("text = {};", string(&file.content)?)
                } else {
                    format!(
                        "source = builtins.toFile {} {};",
                        string(&store_name(&file.path))?,
                        string(&file.content)?
                    )
                };
                let _ = writeln!(
                    etc,
                    "  environment.etc.{} = {{\n    {body}\n    {}\n  }};",
                    string(relative)?,
                    owner(file)
                );
            }
            None => {
                let argument = if secret {
                    secret_path
                } else {
                    format!(
                        "builtins.toFile {} {}",
                        string(&store_name(&file.path))?,
                        string(&file.content)?
                    )
                };
                let _ = writeln!(
                    tmpfiles,
                    "    {} = {{\n      r = {{ }};\n      C = {{ argument = {argument}; {} }};\n    }};",
                    string(&file.path)?,
                    owner(file)
                );
            }
        }
    }
    if let (Some(manifest), Some(relative)) = (manifest, HOST_MANIFEST.strip_prefix("/etc/")) {
        let _ = writeln!(
            etc,
            "  environment.etc.{} = {{\n    text = {};\n    mode = \"0644\"; user = \"root\"; group = \"root\";\n  }};",
            string(relative)?,
            string(manifest)?
        );
    }
    let mut out = format!(
        "# The files of host {host}, rendered by sitewright: change the site spec, not this file.\n\
         # NixOS: imports = [ ./{host}.nix ];  to move the secrets: _module.args.secretsDir = \"/run/keys\";\n\
         # The deploy puts each secret at <secretsDir><its absolute path>; none is in this file.\n\
         {{ config ? {{ }}, ... }}@args:\n\
         let\n  secretsDir = args.secretsDir or (config._module.args.secretsDir or \"/run/secrets/sitewright\");\n\
         in\n{{\n"
    );
    out.push_str(&etc);
    if !tmpfiles.is_empty() {
        // Files outside /etc: systemd-tmpfiles removes the old copy and copies the new one, with
        // its mode and owner, at boot and on every switch (C alone never replaces a file).
        out.push_str("  systemd.tmpfiles.settings.\"10-sitewright\" = {\n");
        out.push_str(&tmpfiles);
        out.push_str("  };\n");
    }
    out.push_str("}\n");
    Ok(out)
}

/// One `<host>.nix` per host of the tree.
pub(crate) fn export(tree: &Tree) -> Result<Vec<Exported>, ExportError> {
    let mut hosts: Vec<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
    hosts.dedup();
    hosts
        .into_iter()
        .map(|host| {
            let files: Vec<&RenderedFile> = tree
                .files
                .iter()
                .filter(|f| f.host.as_str() == host)
                .collect();
            let manifest = Manifest::per_host(tree)
                .into_iter()
                .find(|(h, _)| *h == host)
                .map(|(_, m)| m.to_json());
            Ok(Exported {
                path: format!("{host}.nix"),
                content: module(host, &files, manifest.as_deref())?,
                mode: 0o644,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_what_nix_would_read() {
        assert_eq!(
            string("a\"b\\c${d}$e\r\tf\n").unwrap(),
            "\"a\\\"b\\\\c\\${d}\\$e\\r\\tf\n\""
        );
        assert!(string("a\0b").is_err());
        assert_eq!(
            store_name("/srv/app/getty@.conf"),
            "sitewright-srv-app-getty-.conf"
        );
    }
}
