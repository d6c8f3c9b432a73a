//! The HTTPS front end of the web hosts: the application's upstream, its headers, static folders
//! and buffers.

use serde::Serialize;

use super::extra::{
    ExtraDirective, Header, LocationBlock, Zone, body_size, directives, headers, hsts_header,
    locations,
};
use super::front::{Front, front, logs};
use super::proxy::{
    KEEPALIVE, MapBlock, MapEntry, ProxyHeader, ProxyPass, UpstreamBlock, forwarded_for, header,
    no_connection_header, proxy_pass, upstream_block,
};
use super::{Arg, Raw, Section, given, named, stem};
use crate::plan::{Fact, Facts, Origin};
use crate::spec::{AppProtocol, Host, Https, Nginx, Site};
use crate::units::ByteSize;

#[derive(Serialize)]
pub(super) struct HttpsContext<'a> {
    pub(super) site: &'a str,
    pub(super) upstream: UpstreamBlock,
    pub(super) upgrade: Option<MapBlock>,
    /// The upstreams of locations that proxy to servers of their own.
    pub(super) location_upstreams: Vec<UpstreamBlock>,
    /// The request and connection limits' zones.
    pub(super) zones: Vec<Zone>,
    #[serde(flatten)]
    pub(super) front: Front,
    /// The spec's own response headers of the server.
    pub(super) headers: Vec<Header>,
    pub(super) client_body_buffer_size: Fact<String>,
    pub(super) client_max_body_size: Option<Fact<String>>,
    pub(super) directives: Vec<ExtraDirective>,
    pub(super) static_locations: Vec<StaticBlock>,
    pub(super) locations: Vec<LocationBlock>,
    pub(super) proxy: ProxyPass,
    pub(super) hide_hsts: Fact<&'static str>,
    /// The server's own headers that Django sends too, hidden from the application's answers so
    /// that each is sent once, as nginx has it.
    pub(super) hide_django: Vec<Fact<String>>,
    pub(super) proxy_buffer_size: Fact<String>,
    pub(super) proxy_buffers: ProxyBuffersFacts,
    pub(super) proxy_busy_buffers_size: Fact<String>,
}

#[derive(Serialize)]
pub(super) struct StaticBlock {
    pub(super) url: Fact<String>,
    pub(super) alias: Fact<String>,
    pub(super) expires: Fact<&'static str>,
    pub(super) cache_control: Fact<&'static str>,
    pub(super) hsts: Fact<String>,
    /// The spec's own server headers, repeated: the location's Cache-Control would drop them.
    pub(super) inherited: Vec<Header>,
}

#[derive(Serialize)]
pub(super) struct ProxyBuffersFacts {
    pub(super) count: Fact<u32>,
    pub(super) size: Fact<String>,
}

pub(super) fn https_headers(
    https: &Https,
    upgrade: Option<&MapBlock>,
    facts: &mut Facts,
) -> Vec<ProxyHeader> {
    let mut headers = Vec::new();
    match upgrade {
        Some(map) => {
            let origin = Origin::derived(
                Some("/nginx/https/upstream/protocol"),
                "asgi: WebSocket upgrades pass through",
            );
            headers.push(header(
                facts,
                "Upgrade",
                Arg::Raw(Raw::var("http_upgrade")),
                origin.clone(),
                None,
            ));
            headers.push(header(
                facts,
                "Connection",
                Arg::Raw(Raw::var(&map.variable.value)),
                origin,
                None,
            ));
        }
        None => {
            debug_assert_eq!(https.upstream.protocol, AppProtocol::Wsgi);
            headers.push(no_connection_header(facts));
        }
    }
    headers.push(header(
        facts,
        "Host",
        Arg::Raw(Raw::var("host")),
        Origin::default("the name the client asked for"),
        None,
    ));
    headers.push(forwarded_for(facts));
    headers.push(header(
        facts,
        "X-Forwarded-Proto",
        Arg::Raw(Raw::var("scheme")),
        Origin::default(
            "nginx overwrites X-Forwarded-Proto, which Django's SECURE_PROXY_SSL_HEADER trusts",
        ),
        None,
    ));
    headers
}

/// The map that gives `Connection: upgrade` to a WebSocket upgrade and none to anything else.
pub(super) fn upgrade_map(site: &Site, facts: &mut Facts) -> MapBlock {
    let source = facts.add(
        "map",
        "http_upgrade".to_owned(),
        Origin::derived(
            Some("/nginx/https/upstream/protocol"),
            "asgi: WebSocket upgrades pass through",
        ),
    );
    let variable = named(facts, "map", format!("{}_connection_upgrade", stem(site)));
    let idiom = Origin::default(
        "nginx's WebSocket proxying: `Connection: upgrade` when the client asks to upgrade, none otherwise",
    );
    let default = facts.add("map", Arg::Text("upgrade".to_owned()), idiom);
    let empty = default.sibling(Arg::Text(String::new()));
    MapBlock {
        source,
        variable,
        entries: vec![
            MapEntry {
                key: default.sibling("default".to_owned()),
                value: default,
            },
            MapEntry {
                key: empty.sibling(String::new()),
                value: empty,
            },
        ],
    }
}

/// The HTTPS server's server_name: the host's own (a read-only mirror), else the site's.
pub(super) fn https_server_name(
    site: &Site,
    https: &Https,
    host: &Host,
    facts: &mut Facts,
) -> Fact<String> {
    match &host.server_name {
        Some(name) => {
            let index = site
                .hosts
                .iter()
                .position(|h| h.name == host.name)
                .unwrap_or_default();
            facts.add(
                "server_name",
                name.clone(),
                Origin::spec(format!("/hosts/{index}/server_name")),
            )
        }
        None => facts.add(
            "server_name",
            https.server_name.clone(),
            Origin::spec("/nginx/https/server_name"),
        ),
    }
}

pub(super) fn https_context<'a>(
    site: &'a Site,
    nginx: &Nginx,
    https: &Https,
    host: &Host,
    facts: &mut Facts,
) -> HttpsContext<'a> {
    let section = Section("https");
    let name = named(facts, "upstream", format!("{}_app", stem(site)));
    let upstream = upstream_block(
        facts,
        name,
        &https.upstream.servers,
        Origin::spec("/nginx/https/upstream/servers").because("the application servers"),
        KEEPALIVE,
    );
    let upgrade = (https.upstream.protocol == AppProtocol::Asgi).then(|| upgrade_map(site, facts));
    let server_name = https_server_name(site, https, host, facts);
    let mut front = front(
        nginx,
        server_name,
        &https.listen,
        &https.tls,
        section,
        facts,
    );
    front.logs = Some(logs(https, facts));
    let client_body = https.client_body_buffer_size;
    let client_body_buffer_size = facts.add(
        "client_body_buffer_size",
        client_body.to_nginx_size(),
        given(
            &section.at("client_body_buffer_size"),
            client_body == ByteSize::from_bytes(512 * 1024),
            "512k, the default of nginx.https.client_body_buffer_size: requests are not written to disk",
        ),
    );
    let server_headers = headers(&https.headers, "/nginx/https/headers", facts);
    let client_max_body_size = https
        .client_max_body_size
        .map(|size| body_size(size, "/nginx/https/client_max_body_size", facts));
    let server_directives = directives(&https.directives, "/nginx/https/directives", facts);
    let static_locations = static_locations(https, &front.tls.hsts, &server_headers, facts);
    let inherited: Vec<Header> = std::iter::once(hsts_header(&front.tls.hsts))
        .chain(server_headers.iter().cloned())
        .collect();
    let own = locations(site, &https.locations, &inherited, facts);
    let headers = https_headers(https, upgrade.as_ref(), facts);
    let proxy = proxy_pass(facts, &upstream.name, headers);
    let hide_hsts = facts.add(
        "proxy_hide_header",
        "Strict-Transport-Security",
        Origin::default("Django sets the same header; nginx sends it once, for every response"),
    );
    let hide_django = server_headers
        .iter()
        .filter(|h| {
            DJANGO_SENDS
                .iter()
                .any(|d| d.eq_ignore_ascii_case(&h.name.value))
        })
        .map(|h| {
            facts.add(
                "proxy_hide_header",
                h.name.value.clone(),
                Origin::derived(
                    Some(&format!("/nginx/https/headers/{}", h.name.value)),
                    "Django's middleware sends it too; nginx sends it once, as the spec has it",
                ),
            )
        })
        .collect();
    let buffers = proxy_buffers(https, facts);
    HttpsContext {
        site: &site.site,
        upstream,
        upgrade,
        location_upstreams: own.upstreams,
        zones: own.zones,
        front,
        headers: server_headers,
        client_body_buffer_size,
        client_max_body_size,
        directives: server_directives,
        static_locations,
        locations: own.blocks,
        proxy,
        hide_hsts,
        hide_django,
        proxy_buffer_size: buffers.0,
        proxy_buffers: buffers.1,
        proxy_busy_buffers_size: buffers.2,
    }
}

/// The response headers Django's security and clickjacking middleware send (as sitewright
/// configures them), which a server's `headers` may set too.
const DJANGO_SENDS: &[&str] = &[
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
];

pub(super) fn static_locations(
    https: &Https,
    hsts: &Fact<String>,
    server_headers: &[Header],
    facts: &mut Facts,
) -> Vec<StaticBlock> {
    if https.static_locations.is_empty() {
        return Vec::new();
    }
    let expires = facts.add(
        "expires",
        "max",
        Origin::default("static files never expire (CATMAID's tiles)"),
    );
    let cache_control = facts.add(
        "add_header",
        "public",
        Origin::default("any cache may keep static files: everything in the folder is public"),
    );
    https
        .static_locations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = |key: &str| format!("/nginx/https/static_locations/{i}/{key}");
            StaticBlock {
                url: facts.add("location", s.url.clone(), Origin::spec(at("url"))),
                alias: facts.add(
                    "alias",
                    format!("{}/", s.folder.as_str().trim_end_matches('/')),
                    Origin::derived(
                        Some(&at("folder")),
                        "the folder, ending in `/` as the URL does",
                    ),
                ),
                expires: expires.clone(),
                cache_control: cache_control.clone(),
                hsts: hsts.clone(),
                inherited: server_headers.to_vec(),
            }
        })
        .collect()
}

/// proxy_buffer_size, proxy_buffers and proxy_busy_buffers_size.
pub(super) fn proxy_buffers(
    https: &Https,
    facts: &mut Facts,
) -> (Fact<String>, ProxyBuffersFacts, Fact<String>) {
    let section = Section("https");
    let header_default = https.proxy_buffer_size == ByteSize::from_bytes(64 * 1024);
    let buffer_size = facts.add(
        "proxy_buffer_size",
        https.proxy_buffer_size.to_nginx_size(),
        given(
            &section.at("proxy_buffer_size"),
            header_default,
            "64k, the default of nginx.https.proxy_buffer_size",
        ),
    );
    let defaults = crate::spec::ProxyBuffers::default();
    let buffers_default =
        https.proxy_buffers.count == defaults.count && https.proxy_buffers.size == defaults.size;
    let count = facts.add(
        "proxy_buffers",
        https.proxy_buffers.count,
        given(
            &section.at("proxy_buffers"),
            buffers_default,
            "32 of 4k, the default of nginx.https.proxy_buffers: all but one hold the default 64k proxy_buffer_size",
        ),
    );
    let buffers = ProxyBuffersFacts {
        size: count.sibling(https.proxy_buffers.size.to_nginx_size()),
        count,
    };
    // It is always written: nginx's own default (twice the largest buffer) is refused whenever it
    // exceeds all proxy_buffers but one.
    let why = if https.proxy_busy_buffers_size().bytes()
        == https.largest_proxy_buffer().saturating_mul(2)
    {
        "twice the larger of proxy_buffer_size and one of proxy_buffers, as nginx derives it"
    } else {
        "all proxy_buffers but one, the most nginx accepts (twice proxy_buffer_size, its default, is more)"
    };
    let from = if !buffers_default {
        Some(section.at("proxy_buffers"))
    } else if !header_default {
        Some(section.at("proxy_buffer_size"))
    } else {
        None
    };
    let busy = facts.add(
        "proxy_busy_buffers_size",
        https.proxy_busy_buffers_size().to_nginx_size(),
        Origin::derived(from.as_deref(), why),
    );
    (buffer_size, buffers, busy)
}
