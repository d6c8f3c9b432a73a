//! Proxying to an upstream: the upstream block, maps of variables, and the request headers a
//! location sets.

use serde::Serialize;

use super::{Arg, Raw};
use crate::plan::{Fact, Facts, Origin};
use crate::spec::SocketAddr;

#[derive(Serialize)]
pub(super) struct UpstreamBlock {
    pub(super) name: Fact<String>,
    pub(super) servers: Fact<Vec<String>>,
    pub(super) keepalive: Fact<u32>,
}

/// A `map $source $variable { key value; ... }` block.
#[derive(Serialize)]
pub(super) struct MapBlock {
    pub(super) source: Fact<String>,
    pub(super) variable: Fact<String>,
    pub(super) entries: Vec<MapEntry>,
}

#[derive(Serialize)]
pub(super) struct MapEntry {
    pub(super) key: Fact<String>,
    pub(super) value: Fact<Arg>,
}

/// The head of a proxying `location` (nginx/proxy.nginx): where it passes requests and the
/// request headers it sets.
#[derive(Serialize)]
pub(super) struct ProxyPass {
    pub(super) pass: Fact<String>,
    pub(super) http_version: Fact<&'static str>,
    pub(super) headers: Vec<ProxyHeader>,
}

#[derive(Serialize)]
pub(super) struct ProxyHeader {
    /// A comment line written before the header.
    pub(super) note: Option<&'static str>,
    pub(super) name: Fact<&'static str>,
    pub(super) value: Fact<Arg>,
}

pub(super) fn upstream_block(
    facts: &mut Facts,
    name: Fact<String>,
    servers: &[SocketAddr],
    origin: Origin,
    keepalive: (u32, &str),
) -> UpstreamBlock {
    UpstreamBlock {
        name,
        servers: facts.add(
            "server",
            servers.iter().map(|s| s.as_str().to_owned()).collect(),
            origin,
        ),
        keepalive: facts.add("keepalive", keepalive.0, Origin::default(keepalive.1)),
    }
}

/// The idle connections kept open to the application servers or backends, so that a request
/// skips the TCP handshake.
pub(super) const KEEPALIVE: (u32, &str) = (
    16,
    "16 idle connections kept open to the servers, so that a request skips the TCP handshake",
);

pub(super) fn header(
    facts: &mut Facts,
    name: &'static str,
    value: Arg,
    origin: Origin,
    note: Option<&'static str>,
) -> ProxyHeader {
    let value = facts.add("proxy_set_header", value, origin);
    ProxyHeader {
        note,
        name: value.sibling(name),
        value,
    }
}

/// `proxy_set_header Connection "";`: keepalive to the upstream needs the client's
/// `Connection: close` gone.
pub(super) fn no_connection_header(facts: &mut Facts) -> ProxyHeader {
    header(
        facts,
        "Connection",
        Arg::Text(String::new()),
        Origin::default("no Connection header upstream, so that keepalive connections stay open"),
        None,
    )
}

pub(super) fn proxy_pass(
    facts: &mut Facts,
    upstream: &Fact<String>,
    headers: Vec<ProxyHeader>,
) -> ProxyPass {
    ProxyPass {
        pass: facts.add(
            "proxy_pass",
            format!("http://{}", upstream.value),
            Origin::derived(None, "the upstream block above"),
        ),
        http_version: facts.add(
            "proxy_http_version",
            "1.1",
            Origin::default(
                "keepalive to the upstream needs HTTP/1.1; nginx speaks 1.0 by default",
            ),
        ),
        headers,
    }
}

pub(super) fn forwarded_for(facts: &mut Facts) -> ProxyHeader {
    header(
        facts,
        "X-Forwarded-For",
        Arg::Raw(Raw::var("proxy_add_x_forwarded_for")),
        Origin::default("the client's address, after any the request came with"),
        None,
    )
}
