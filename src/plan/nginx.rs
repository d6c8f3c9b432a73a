//! nginx files: the stream forward to PostgreSQL on the primary, and the HTTPS front end of the
//! web hosts, each in the form that the spec's nginx and OpenSSL versions accept.

use serde_json::json;

use super::{FileMeta, Mode, OnChange, PlannedFile, Service};
use crate::spec::{Host, Https, Nginx, NginxLayout, Role, Site, TlsProfile};

/// Where Debian's nginx.conf looks for files, and where sitewright puts each kind.
struct Layout {
    /// Included at main level before events/http: load_module lines.
    module_file: &'static str,
    /// The one `stream {}` block; nginx.conf includes it at main level.
    stream_file: &'static str,
    /// Included inside http {}.
    http_dir: &'static str,
}

fn layout(kind: NginxLayout) -> Layout {
    match kind {
        NginxLayout::Debian => Layout {
            // The same name libnginx-mod-stream uses, so the module is never loaded twice.
            module_file: "/etc/nginx/modules-enabled/50-mod-stream.conf",
            stream_file: "/etc/nginx/sitewright-stream.conf",
            http_dir: "/etc/nginx/conf.d",
        },
    }
}

/// Mozilla server-side TLS 6.0, intermediate: forward-secret AEAD ciphers for TLS 1.2.
const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
const HSTS_MAX_AGE: u64 = 63_072_000;

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(nginx) = &site.nginx else {
        return Vec::new();
    };
    let paths = layout(nginx.layout);
    let file = |path: &str, template, context| PlannedFile {
        host: host.name.clone(),
        path: path.to_owned(),
        template,
        context,
        meta: FileMeta::new(Mode::PUBLIC, "root", Service::Nginx, OnChange::Reload),
        secrets: Vec::new(),
    };
    let mut out = Vec::new();
    let forwards = stream_forwards(site, nginx, host);
    if !forwards.is_empty() {
        out.push(file(
            paths.module_file,
            "nginx/mod-stream.conf.nginx",
            json!({ "site": site.site }),
        ));
        out.push(file(
            paths.stream_file,
            "nginx/stream.conf.nginx",
            json!({ "site": site.site, "host": host.name, "forwards": forwards }),
        ));
    }
    if let (true, Some(https)) = (host.has(Role::Web), &nginx.https) {
        out.push(file(
            &format!("{}/{}.conf", paths.http_dir, site.site),
            "nginx/https.conf.nginx",
            https_context(site, nginx, https),
        ));
    }
    out
}

fn stream_forwards(site: &Site, nginx: &Nginx, host: &Host) -> Vec<serde_json::Value> {
    if !host.has(Role::PostgresPrimary) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(pg) = &site.postgres
        && let Some(public) = pg.replication.as_ref().and_then(|r| r.public_port)
    {
        let mut allow: Vec<String> = site
            .hosts_with(Role::PostgresReplica)
            .chain(site.hosts_with(Role::Web).filter(|w| w.name != host.name))
            .map(|h| h.address.to_string())
            .collect();
        allow.dedup();
        let listen = std::net::SocketAddr::new(host.address.ip(), public.0);
        out.push(json!({
            "name": "postgres",
            "listen": listen.to_string(),
            "to": format!("127.0.0.1:{}", pg.port),
            "allow": allow,
            "why": "replicas and web hosts reach PostgreSQL here; PostgreSQL itself listens on loopback",
        }));
    }
    for (i, forward) in nginx.stream.iter().enumerate() {
        out.push(json!({
            "name": format!("forward_{}", i + 1),
            "listen": std::net::SocketAddr::new(host.address.ip(), forward.listen.0).to_string(),
            "to": forward.to.as_str(),
            "allow": [],
            "why": null,
        }));
    }
    out
}

fn https_context(site: &Site, nginx: &Nginx, https: &Https) -> serde_json::Value {
    let modern = https.tls_profile == TlsProfile::Modern;
    let version = &nginx.version;
    let groups = if nginx.openssl.at_least(3, 5, 0) {
        "X25519MLKEM768:X25519:prime256v1:secp384r1"
    } else {
        "X25519:prime256v1:secp384r1"
    };
    let hsts = format!("max-age={HSTS_MAX_AGE}; includeSubDomains");
    json!({
        "site": site.site,
        "upstream": format!("{}_app", site.site.replace('-', "_")),
        "app": https.app.as_str(),
        "server_name": https.server_name,
        "certificate": https.certificate.as_str(),
        "certificate_key": https.certificate_key.as_str(),
        "http2_directive": version.at_least(1, 25, 1),
        "protocols": if modern { vec!["TLSv1.3"] } else { vec!["TLSv1.2", "TLSv1.3"] },
        "ciphers": if modern { None } else { Some(INTERMEDIATE_CIPHERS) },
        "groups": groups,
        "session_tickets_off": version.at_least(1, 5, 9) && !version.at_least(1, 23, 2),
        "hsts": hsts,
        "client_body_buffer_size": https.client_body_buffer_size.to_nginx(),
        "proxy_buffer_size": https.proxy_buffer_size.to_nginx(),
        "proxy_buffers": {
            "count": https.proxy_buffers.count,
            "size": https.proxy_buffers.size.to_nginx(),
        },
        "static_locations": https.static_locations.iter().map(|s| json!({
            "url": s.url,
            "alias": format!("{}/", s.root.as_str().trim_end_matches('/')),
        })).collect::<Vec<_>>(),
    })
}
