//! An Ansible playbook for the rendered tree: one play per host that copies each file with its
//! owner, group and mode into `{{ sitewright_root }}` (empty on a real host), and handlers that run
//! only for what changed. Files that hold a secret are templates whose secret is an Ansible
//! variable (`sitewright_secrets`, ready for ansible-vault), never a value.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{ExportError, Exported};
use crate::manifest::{HOST_MANIFEST, Manifest};
use crate::plan::{Mask, OnChange, Service};
use crate::render::{RenderedFile, Tree};

/// Where each secret stands in the rendered text, and the variable that holds it.
#[derive(Debug, Clone)]
pub(crate) struct SecretVar {
    /// A marker that the render wrote where the secret goes.
    pub(crate) marker: String,
    /// The key under `sitewright_secrets`.
    pub(crate) name: String,
}

/// A YAML string, JSON-quoted (valid YAML), so that no value is read as anything but a string.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

const ROOT: &str = "{{ sitewright_root | default('') }}";
const GUARD: &str = "sitewright_run_handlers | default(true) | bool";

/// The task that puts the host's manifest at [`HOST_MANIFEST`], after its files, as `render` does:
/// the list `diff` reads to tell files an earlier deploy put there from files nobody rendered.
fn host_manifest(tree: &Tree, host: &str, playbook: &mut String, exported: &mut Vec<Exported>) {
    let Some((_, manifest)) = Manifest::per_host(tree)
        .into_iter()
        .find(|(h, _)| *h == host)
    else {
        return;
    };
    let src = format!("files/{host}{HOST_MANIFEST}");
    exported.push(Exported {
        path: src.clone(),
        content: manifest.to_json(),
        mode: 0o644,
    });
    let _ = write!(
        playbook,
        "    - name: {}\n      ansible.builtin.copy:\n        src: {}\n        dest: {}\n        owner: root\n        group: root\n        mode: \"0644\"\n",
        quoted(&format!("file {HOST_MANIFEST}")),
        quoted(&src),
        quoted(&format!("{ROOT}{HOST_MANIFEST}")),
    );
}

/// The handler topic a file notifies, if a change to it needs anything.
fn topic(file: &RenderedFile) -> Option<String> {
    let service = file.meta.service;
    match file.meta.on_change {
        OnChange::Nothing => None,
        OnChange::Apply => Some(format!("sitewright: apply {}", file.path)),
        // postgresql.conf: reload, then restart only if PostgreSQL says a changed setting needs it.
        OnChange::Restart if file.meta.conf.is_some() => {
            Some("sitewright: reload postgresql".into())
        }
        OnChange::Reload => Some(format!("sitewright: reload {service}")),
        OnChange::Restart => Some(format!("sitewright: restart {service}")),
    }
}

fn service_var(service: Service) -> String {
    format!("{{{{ sitewright_{service}_service }}}}")
}

/// The handlers one topic runs, in order.
fn handlers(topic: &str, files: &[&RenderedFile], out: &mut String) {
    let guard = format!("      when: {GUARD}\n");
    let head = |out: &mut String, name: &str| {
        let _ = write!(
            out,
            "    - name: {}\n      listen: {}\n",
            quoted(name),
            quoted(topic)
        );
    };
    if let Some(path) = topic.strip_prefix("sitewright: apply ") {
        let file = files
            .iter()
            .find(|f| f.path == path)
            .expect("a topic of a file");
        head(out, topic);
        let argv = match file.meta.service {
            Service::Sysctl => vec![
                "sysctl".to_owned(),
                "-p".to_owned(),
                format!("{ROOT}{path}"),
            ],
            _ => vec![
                "psql".to_owned(),
                "-X".to_owned(),
                "-f".to_owned(),
                format!("{ROOT}{path}"),
            ],
        };
        let argv: Vec<String> = argv.iter().map(|a| quoted(a)).collect();
        let _ = write!(
            out,
            "      ansible.builtin.command:\n        argv: [{}]\n",
            argv.join(", ")
        );
        if file.meta.service == Service::Postgresql {
            out.push_str("      become: true\n      become_user: postgres\n");
        }
        out.push_str(&guard);
        return;
    }
    let (action, service) = topic
        .strip_prefix("sitewright: ")
        .and_then(|t| t.split_once(' '))
        .expect("topics are `sitewright: ACTION SERVICE`");
    if service == "nginx" {
        head(out, "sitewright: nginx -t");
        out.push_str("      ansible.builtin.command:\n        argv: [\"nginx\", \"-t\"]\n");
        out.push_str(&guard);
    }
    head(out, topic);
    let state = if action == "reload" {
        "reloaded"
    } else {
        "restarted"
    };
    let var = match service {
        "postgresql" => service_var(Service::Postgresql),
        "nginx" => service_var(Service::Nginx),
        _ => service_var(Service::Django),
    };
    let _ = write!(
        out,
        "      ansible.builtin.service:\n        name: {}\n        state: {state}\n{guard}",
        quoted(&var)
    );
    if service == "postgresql" && action == "reload" {
        // PostgreSQL marks settings whose change waits for a restart; restart only then.
        head(out, "sitewright: settings pending a restart");
        out.push_str(
            "      ansible.builtin.command:\n        argv: [\"psql\", \"-XAtc\", \"select count(*) from pg_settings where pending_restart\"]\n\
             \x20     become: true\n      become_user: postgres\n      register: sitewright_pending\n      changed_when: false\n",
        );
        out.push_str(&guard);
        head(out, "sitewright: restart postgresql for pending settings");
        let _ = write!(
            out,
            "      ansible.builtin.service:\n        name: {}\n        state: restarted\n      when: {GUARD} and sitewright_pending.stdout | int > 0\n",
            quoted(&service_var(Service::Postgresql))
        );
    }
}

/// A Jinja template holding `content` as it is, with each secret marker replaced by its variable
/// written in the file's format.
fn template(file: &RenderedFile, secrets: &[SecretVar]) -> String {
    // Literal text goes in raw blocks; a `{%` inside it could end the block, so it is written apart.
    let raw = |text: &str| -> String {
        if text.is_empty() {
            return String::new();
        }
        format!(
            "{{% raw %}}{}{{% endraw %}}",
            text.replace("{%", "{% endraw %}{{ '{%' }}{% raw %}")
        )
    };
    let mut out = String::new();
    let mut rest = file.content.as_str();
    while let Some((at, secret)) = secrets
        .iter()
        .filter_map(|s| rest.find(&s.marker).map(|at| (at, s)))
        .min_by_key(|(at, _)| *at)
    {
        out.push_str(&raw(&rest[..at]));
        let filters = match file.meta.mask {
            Mask::PassfilePassword => " | replace('\\\\', '\\\\\\\\') | replace(':', '\\\\:')",
            Mask::None => "",
        };
        let _ = write!(
            out,
            "{{{{ sitewright_secrets[{}]{filters} }}}}",
            quoted(&secret.name).replace('"', "'")
        );
        rest = &rest[at + secret.marker.len()..];
    }
    out.push_str(&raw(rest));
    out
}

/// The playbook, its files and its templates.
pub(crate) fn export(tree: &Tree, secrets: &[SecretVar]) -> Result<Vec<Exported>, ExportError> {
    let mut exported = Vec::new();
    let mut playbook = String::from(
        "# Rendered by sitewright: change the site spec, not this file.\n\
         # ansible-playbook -i INVENTORY site.yml -b -e @secrets.yml   (secrets.yml: sitewright_secrets, e.g. from ansible-vault)\n\
         # sitewright_root puts every file under another root; sitewright_run_handlers=false skips reloads and restarts.\n",
    );
    let mut hosts: Vec<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
    hosts.dedup();
    for host in hosts {
        let files: Vec<&RenderedFile> = tree
            .files
            .iter()
            .filter(|f| f.host.as_str() == host)
            .collect();
        let _ = write!(
            playbook,
            "\n- name: {}\n  hosts: {}\n  gather_facts: false\n  vars:\n    sitewright_postgresql_service: postgresql\n    sitewright_nginx_service: nginx\n    sitewright_django_service: django\n  tasks:\n",
            quoted(&format!("sitewright: {host}")),
            quoted(host)
        );
        let manifest_dir = HOST_MANIFEST.rsplit_once('/').map_or("", |(dir, _)| dir);
        let folders: BTreeSet<&str> = files
            .iter()
            .filter_map(|f| f.path.rsplit_once('/').map(|(dir, _)| dir))
            .chain([manifest_dir])
            .filter(|d| !d.is_empty())
            .collect();
        for folder in folders {
            let _ = write!(
                playbook,
                "    - name: {}\n      ansible.builtin.file:\n        path: {}\n        state: directory\n",
                quoted(&format!("folder {folder}")),
                quoted(&format!("{ROOT}{folder}"))
            );
        }
        let mut topics: Vec<String> = Vec::new();
        for file in &files {
            let holds_secret = secrets.iter().any(|s| file.content.contains(&s.marker));
            let (module, src) = if holds_secret {
                let src = format!("templates/{host}{}.j2", file.path);
                exported.push(Exported {
                    path: src.clone(),
                    content: template(file, secrets),
                    mode: 0o644,
                });
                ("ansible.builtin.template", src)
            } else {
                let src = format!("files/{host}{}", file.path);
                exported.push(Exported {
                    path: src.clone(),
                    content: file.content.clone(),
                    mode: 0o644,
                });
                ("ansible.builtin.copy", src)
            };
            let _ = write!(
                playbook,
                "    - name: {}\n      {module}:\n        src: {}\n        dest: {}\n        owner: {}\n        group: {}\n        mode: {}\n",
                quoted(&format!(
                    "file {}{}",
                    file.path,
                    if holds_secret { " (secret)" } else { "" }
                )),
                quoted(&src),
                quoted(&format!("{ROOT}{}", file.path)),
                quoted(file.meta.owner),
                quoted(file.meta.group),
                quoted(&file.meta.mode.to_string())
            );
            if holds_secret {
                playbook.push_str(
                    "        trim_blocks: false\n      no_log: true\n      diff: false\n",
                );
            }
            if let Some(topic) = topic(file) {
                let _ = writeln!(playbook, "      notify: {}", quoted(&topic));
                if !topics.contains(&topic) {
                    topics.push(topic);
                }
            }
        }
        host_manifest(tree, host, &mut playbook, &mut exported);
        if !topics.is_empty() {
            playbook.push_str("  handlers:\n");
            for topic in &topics {
                handlers(topic, &files, &mut playbook);
            }
        }
    }
    exported.push(Exported {
        path: "site.yml".into(),
        content: playbook,
        mode: 0o644,
    });
    Ok(exported)
}
