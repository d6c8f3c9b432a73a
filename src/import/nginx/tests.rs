//! The nginx import judged by its render: each fixture's golden nginx files imported, spliced
//! into the fixture's own spec and rendered again must come back byte for byte.

use std::collections::BTreeMap;

use super::import;
use crate::import::testing::{fixture, render};
use crate::import::{HostTree, Known, Map, Node, Note, Part};

/// The fixture's PostgreSQL hosts, as the PostgreSQL part would have found them.
fn known(primary: &str, addresses: &[(&str, &str)]) -> Known {
    Known {
        addresses: addresses
            .iter()
            .map(|(h, a)| ((*h).to_owned(), (*a).to_owned()))
            .collect(),
        primary: Some(primary.to_owned()),
        postgres_port: Some(5432),
    }
}

fn value<'a>(part: &'a Part, path: &[&str]) -> Option<&'a Node> {
    part.values
        .iter()
        .find(|(p, _)| p.as_slice() == path)
        .map(|(_, v)| v)
}

/// `text` without its top-level `key:` block.
fn cut_block(text: &str, key: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        let top_level = !line.is_empty() && !line.starts_with([' ', '#']);
        if top_level {
            inside = line.starts_with(&format!("{key}:"));
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The fixture's spec with its nginx section and public_port replaced by the imported ones.
fn spliced(name: &str, part: &Part) -> String {
    let path = format!("{}/fixtures/{name}/site.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut text: String = cut_block(&text, "nginx")
        .lines()
        .filter(|l| !l.trim_start().starts_with("public_port:"))
        .map(|l| format!("{l}\n"))
        .collect();
    if let Some(Node::Int(port)) = value(part, &["postgres", "replication", "public_port"]) {
        text = text.replace(
            "\n  replication:\n",
            &format!("\n  replication:\n    public_port: {port}\n"),
        );
    }
    let Some(nginx) = value(part, &["nginx"]) else {
        return text;
    };
    let mut top = Map::new();
    top.set("nginx", nginx.clone());
    text + &crate::yaml::document(&top)
}

fn is_nginx_file(path: &str) -> bool {
    path.starts_with("/etc/nginx/") || path.starts_with("/usr/share/nginx/")
}

/// Imports fixture `name`, renders it back and compares every nginx file both ways.
fn round_trip(name: &str, known: &Known) -> (Part, Vec<Note>) {
    let hosts = fixture(name);
    let mut notes = Vec::new();
    let part = import(&hosts, known, &mut notes);
    let spec = spliced(name, &part);
    let rendered = render(&spec).unwrap_or_else(|e| panic!("{name}: {e}\n{spec}"));
    let mut compared = 0;
    for host in &hosts {
        for (path, text) in host.files.iter().filter(|(p, _)| is_nginx_file(p)) {
            let ours = rendered.get(&(host.name.clone(), path.clone()));
            assert_eq!(
                ours.map(String::as_str),
                Some(text.as_str()),
                "{name}: {}{path} differs\n{spec}",
                host.name
            );
            assert!(
                part.read.contains(&(host.name.clone(), path.clone())),
                "{name}: {}{path} is not named as read",
                host.name
            );
            compared += 1;
        }
    }
    for (host, path) in rendered.keys().filter(|(_, p)| is_nginx_file(p)) {
        let live = hosts
            .iter()
            .find(|h| &h.name == host)
            .is_some_and(|h| h.files.contains_key(path));
        assert!(live, "{name}: the render adds {host}{path}\n{spec}");
    }
    assert!(compared > 0, "{name}: no nginx file compared");
    // Each fixture's files are sitewright's own: nothing is lost on the way.
    for note in &notes {
        assert!(
            !note.text.contains("lost")
                && !note.text.contains("not in the spec")
                && !note.text.contains("the spec writes")
                && !note.text.contains("not imported")
                && !note.text.contains("rendered again"),
            "{name}: {note:?}"
        );
    }
    (part, notes)
}

#[test]
fn catmaid_round_trips_its_https_server_and_stream_forward() {
    let k = known("db1", &[("db1", "192.0.2.11"), ("db2", "192.0.2.12")]);
    let (part, notes) = round_trip("catmaid", &k);
    assert_eq!(part.roles.get("web1"), Some(&vec!["web"]));
    assert_eq!(part.roles.get("db1"), None);
    assert_eq!(
        value(&part, &["postgres", "replication", "public_port"]),
        Some(&Node::Int(7432))
    );
    // web1's address is only in the allow line, the one no PostgreSQL host has: it is web1's.
    assert_eq!(
        part.addresses.get("web1").map(|(a, _)| a.as_str()),
        Some("192.0.2.20"),
        "{notes:?}"
    );
    assert!(part.read.contains(&(
        "db1".to_owned(),
        "/etc/nginx/modules-enabled/50-mod-stream.conf".to_owned()
    )));
}

#[test]
fn catmaid_pg11_round_trips() {
    let k = known("db1", &[("db1", "192.0.2.11"), ("db2", "192.0.2.12")]);
    let (part, _) = round_trip("catmaid-pg11", &k);
    assert_eq!(
        value(&part, &["postgres", "replication", "public_port"]),
        Some(&Node::Int(7432))
    );
}

#[test]
fn research_round_trips_its_locations_headers_and_directives() {
    let k = known("db1", &[("db1", "192.0.2.31"), ("db2", "192.0.2.32")]);
    let (part, _) = round_trip("research", &k);
    assert_eq!(part.roles.get("web1"), Some(&vec!["web"]));
    assert_eq!(
        value(&part, &["postgres", "replication", "public_port"]),
        None
    );
}

#[test]
fn idr_round_trips_its_caching_proxy() {
    let k = known(
        "idr-database",
        &[
            ("idr-database", "192.0.2.50"),
            ("idr-database-ro1", "192.0.2.51"),
        ],
    );
    let (part, _) = round_trip("idr", &k);
    assert_eq!(part.roles.get("idr-proxy"), Some(&vec!["proxy"]));
    let Some(Node::Map(nginx)) = value(&part, &["nginx"]) else {
        panic!("no nginx section");
    };
    assert_eq!(nginx.get("layout"), Some(&Node::text("rhel")));
}

const HAND_WRITTEN: &str = r#"upstream shop_app {
    server 127.0.0.1:8000;
}

server {
    listen 80;
    server_name shop.example.org;
    return 301 https://$host$request_uri;
}

server {
    listen 443 ssl;
    http2 on;
    server_name shop.example.org;
    ssl_certificate /etc/ssl/shop.pem;
    ssl_certificate_key /etc/ssl/shop.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    client_max_body_size 20m;
    keepalive_timeout 30s;

    location /downloads/ {
        alias /srv/shop/downloads/;
        frobnicate on;
    }

    location ~ \.php$ {
        return 403;
    }

    location /.well-known/ {
        alias /srv/shop/acme/;
    }

    location / {
        proxy_pass http://shop_app;
        proxy_read_timeout 90s;
    }
}

server {
    listen 8080;
    server_name internal.shop.example.org;
    location / { return 204; }
}
"#;

#[test]
fn what_the_spec_cannot_say_is_named_and_the_rest_imported() {
    let mut web = HostTree {
        name: "web1".to_owned(),
        ..HostTree::default()
    };
    web.files.insert(
        "/etc/nginx/conf.d/shop.conf".to_owned(),
        HAND_WRITTEN.to_owned(),
    );
    web.files.insert(
        "/etc/nginx/conf.d/gzip.conf".to_owned(),
        "gzip_comp_level 5;\n".to_owned(),
    );
    web.files.insert(
        "/etc/nginx/conf.d/shop-http.conf".to_owned(),
        "server_names_hash_bucket_size 128;\n".to_owned(),
    );
    web.files.insert(
        "/etc/nginx/conf.d/broken.conf".to_owned(),
        "server { listen 80;".to_owned(),
    );
    let mut notes = Vec::new();
    let part = import(&[web], &Known::default(), &mut notes);
    assert_eq!(part.roles.get("web1"), Some(&vec!["web"]));
    let Some(Node::Map(nginx)) = value(&part, &["nginx"]) else {
        panic!("no nginx section");
    };
    let Some(Node::Map(https)) = nginx.get("https") else {
        panic!("no https section: {notes:?}");
    };
    assert_eq!(
        https.get("server_name"),
        Some(&Node::text("shop.example.org"))
    );
    assert_eq!(https.get("client_max_body_size"), Some(&Node::text("20MB")));
    assert_eq!(nginx.get("version"), Some(&Node::text("1.26")));
    let said = |what: &str| {
        notes
            .iter()
            .any(|n| n.at == "web1/etc/nginx/conf.d/shop.conf" && n.text.contains(what))
    };
    // The unknown directive: nginx's table does not know it, so the spec cannot carry it.
    assert!(said("frobnicate on"), "{notes:?}");
    // A regex location, which the spec's prefix locations cannot say.
    assert!(said("location ~ \\.php$"), "{notes:?}");
    // A URL whose segment starts with `.`, which the schema refuses.
    assert!(said("location /.well-known/"), "{notes:?}");
    assert!(
        !notes.iter().any(|n| n.text.contains("rendered again")),
        "{notes:?}"
    );
    // The second server block and what `location /` adds.
    assert!(said("listen 8080"), "{notes:?}");
    assert!(said("proxy_read_timeout 90s"), "{notes:?}");
    // keepalive_timeout is nginx's own directive: it is kept as one of the server's.
    let directives = format!("{:?}", https.get("directives"));
    assert!(directives.contains("keepalive_timeout"), "{directives}");
    assert!(
        notes
            .iter()
            .any(|n| n.at == "web1/etc/nginx/conf.d/broken.conf"
                && n.text.contains("not imported")),
        "{notes:?}"
    );
    // The site's own http directives come from SITE-http.conf; the other file is named.
    let http = format!("{:?}", nginx.get("http_directives"));
    assert!(
        http.contains("server_names_hash_bucket_size") && !http.contains("gzip_comp_level"),
        "{http}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.at == "web1/etc/nginx/conf.d/gzip.conf"
                && n.text.contains("does not write this file")),
        "{notes:?}"
    );
    let read: BTreeMap<_, _> = part.read.iter().map(|k| (k.clone(), ())).collect();
    assert!(read.contains_key(&("web1".to_owned(), "/etc/nginx/conf.d/shop.conf".to_owned())));
}

#[test]
fn no_input_makes_it_panic() {
    let texts = [
        "",
        "stream { server { listen x; proxy_pass; } upstream {} }",
        "server { listen 443 ssl; location / { proxy_pass; } location { } }",
        "proxy_cache_path; server { listen 443 ssl; if (-f) { } location @maintenance { try_files; } }",
        "server { listen :; listen 443 ssl http2; add_header Strict-Transport-Security \"max-age=x\"; }",
        "map $http_cookie $x { ~^\\s*(?:(?:) 0; }",
        "load_module modules/ngx_stream_module.so;",
        "\u{0}\u{1}{{{",
    ];
    for text in texts {
        for path in [
            "/etc/nginx/conf.d/a.conf",
            "/etc/nginx/sitewright-stream.conf",
            "/etc/nginx/nginx.conf",
        ] {
            let mut host = HostTree {
                name: "db1".to_owned(),
                ..HostTree::default()
            };
            host.files.insert(path.to_owned(), text.to_owned());
            let mut notes = Vec::new();
            let k = known("db1", &[("db1", "192.0.2.11")]);
            let _ = import(&[host], &k, &mut notes);
        }
    }
}

/// A read-only mirror: a second web host whose server has its own name, which only its entry of
/// `hosts:` can give.
#[test]
fn a_second_web_host_gets_its_own_name_in_its_entry() {
    let mut hosts = fixture("catmaid");
    let Some(web1) = hosts.iter().find(|h| h.name == "web1").cloned() else {
        panic!("no web1");
    };
    let mut web2 = web1.clone();
    web2.name = "web2".to_owned();
    for text in web2.files.values_mut() {
        *text = text.replace("catmaid.example.org", "mirror.example.org");
    }
    hosts.push(web2);
    let k = known("db1", &[("db1", "192.0.2.11"), ("db2", "192.0.2.12")]);
    let mut notes = Vec::new();
    let part = import(&hosts, &k, &mut notes);
    assert_eq!(part.roles.get("web2"), Some(&vec!["web"]));
    let path = "/etc/nginx/conf.d/catmaid.conf";
    assert!(part.read.contains(&("web2".to_owned(), path.to_owned())));
    assert_eq!(
        part.host_values.get("web2"),
        Some(&vec![("server_name", Node::text("mirror.example.org"))])
    );
    assert_eq!(part.host_values.get("web1"), None);
    // web1's file still round-trips: no note on it.
    assert!(
        !notes.iter().any(|n| n.at == format!("web1{path}")),
        "{notes:?}"
    );
}

#[test]
fn a_stream_module_alone_gives_no_section_and_is_named() {
    let mut host = HostTree {
        name: "web1".to_owned(),
        ..HostTree::default()
    };
    let path = "/etc/nginx/modules-enabled/50-mod-stream.conf";
    host.files.insert(
        path.to_owned(),
        "load_module modules/ngx_stream_module.so;\n".to_owned(),
    );
    let mut notes = Vec::new();
    let part = import(&[host], &Known::default(), &mut notes);
    assert!(part.values.is_empty(), "{:?}", part.values);
    assert!(part.roles.is_empty());
    assert!(
        notes
            .iter()
            .any(|n| n.at == format!("web1{path}") && n.text.contains("does not write this file")),
        "{notes:?}"
    );
}

#[test]
fn the_stream_forward_s_listen_line_says_the_primary_s_address() {
    let hosts = fixture("catmaid");
    // db1's address as a placeholder: the forward listens on its own one.
    let k = known("db1", &[("db1", "192.0.2.1"), ("db2", "192.0.2.12")]);
    let part = import(&hosts, &k, &mut Vec::new());
    assert_eq!(
        part.addresses.get("db1").map(|(a, _)| a.as_str()),
        Some("192.0.2.11")
    );
    // Where the primary's address is the one the forward listens on, nothing is said.
    let k = known("db1", &[("db1", "192.0.2.11"), ("db2", "192.0.2.12")]);
    let part = import(&hosts, &k, &mut Vec::new());
    assert_eq!(part.addresses.get("db1"), None);
}
