//! Two services of one host listening on the same address and port.

use std::net::IpAddr;

use crate::diagnostic::{Diagnostic, Pos};
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{Role, Site};

/// One listening socket: its address (`None` for every address), port, what listens, and where
/// the spec says so.
struct Listener {
    address: Option<IpAddr>,
    port: u16,
    what: &'static str,
    pos: Pos,
}

pub(super) fn check(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    for (index, host) in site.hosts.iter().enumerate() {
        let listeners = listeners(site, doc, index);
        for (i, later) in listeners.iter().enumerate() {
            let clash = listeners[..i].iter().find(|earlier| {
                earlier.port == later.port
                    && (earlier.address.is_none()
                        || later.address.is_none()
                        || earlier.address == later.address)
            });
            if let Some(earlier) = clash {
                out.push(
                    Diagnostic::error(
                        later.pos,
                        format!(
                            "{} and {} both listen on port {} of {}",
                            earlier.what, later.what, later.port, host.name
                        ),
                    )
                    .rule(Rule::NET001)
                    .on(host.name.as_str())
                    .also(earlier.pos),
                );
            }
        }
    }
}

fn listeners(site: &Site, doc: &Document, index: usize) -> Vec<Listener> {
    let host = &site.hosts[index];
    let loopback = Some(IpAddr::from([127, 0, 0, 1]));
    let mut out = Vec::new();
    let mut add = |address, port: u16, what, pointer: &str| {
        out.push(Listener {
            address,
            port,
            what,
            pos: doc.value_pos(pointer),
        });
    };
    let database = host.has(Role::PostgresPrimary) || host.has(Role::PostgresReplica);
    if let (Some(pg), true) = (&site.postgres, database) {
        let forwarded = pg.replication.as_ref().and_then(|r| r.public_port);
        let address = if forwarded.is_some() { loopback } else { None };
        add(address, pg.port.0, "PostgreSQL", "/postgres/port");
        if let (Some(public), true) = (forwarded, host.has(Role::PostgresPrimary)) {
            add(
                Some(host.address.ip()),
                public.0,
                "nginx's forward to PostgreSQL",
                "/postgres/replication/public_port",
            );
        }
    }
    if crate::plan::pgbouncer::runs_on(site, host)
        && let Some(pgb) = &site.pgbouncer
    {
        add(
            Some(host.address.ip()),
            pgb.port.0,
            "PgBouncer",
            if doc.has("/pgbouncer/port") {
                "/pgbouncer/port"
            } else {
                "/pgbouncer"
            },
        );
    }
    let Some(nginx) = &site.nginx else { return out };
    if host.has(Role::PostgresPrimary) {
        for (i, forward) in nginx.stream.iter().enumerate() {
            add(
                Some(host.address.ip()),
                forward.listen.0,
                "an nginx stream forward",
                &format!("/nginx/stream/{i}/listen"),
            );
        }
    }
    if let (Some(https), true) = (&nginx.https, host.has(Role::Web)) {
        let address = https.listen.address.as_ref().map(|a| a.ip());
        add(
            address,
            https.listen.port.0,
            "nginx's HTTPS server",
            "/nginx/https/listen/port",
        );
        add(
            address,
            https.listen.redirect_port.0,
            "nginx's redirect to HTTPS",
            "/nginx/https/listen/redirect_port",
        );
        for (i, server) in https.upstream.servers.iter().enumerate() {
            if let Ok(socket) = server.as_str().parse::<std::net::SocketAddr>()
                && (socket.ip().is_loopback() || socket.ip() == host.address.ip())
            {
                add(
                    Some(socket.ip()),
                    socket.port(),
                    "the application server",
                    &format!("/nginx/https/upstream/servers/{i}"),
                );
            }
        }
    }
    if let (Some(proxy), true) = (&nginx.cache_proxy, host.has(Role::Proxy)) {
        let address = proxy.listen.address.as_ref().map(|a| a.ip());
        add(
            address,
            proxy.listen.port.0,
            "the caching proxy",
            "/nginx/cache_proxy/listen/port",
        );
        add(
            address,
            proxy.listen.redirect_port.0,
            "the caching proxy's redirect",
            "/nginx/cache_proxy/listen/redirect_port",
        );
        if let Some(port) = proxy.buster_port {
            add(
                loopback,
                port.0,
                "the cache buster",
                "/nginx/cache_proxy/buster_port",
            );
        }
        if let Some(long) = &proxy.long_timeout {
            add(
                loopback,
                long.port.0,
                "the long-timeout port",
                "/nginx/cache_proxy/long_timeout/port",
            );
        }
    }
    out
}
