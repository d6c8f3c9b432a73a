//! The stream block on the PostgreSQL primary: its forwards and who may use them, and the
//! load_module line of the stream module.

use serde::Serialize;

use crate::plan::{Fact, Facts, Origin};
use crate::spec::{Host, Nginx, Role, Site};

#[derive(Serialize)]
pub(super) struct ModuleContext {
    pub(super) module: Fact<&'static str>,
}

#[derive(Serialize)]
pub(super) struct StreamContext<'a> {
    pub(super) site: &'a str,
    pub(super) host: &'a str,
    /// `nginx.stream_directives`, inside stream {}.
    pub(super) directives: Vec<super::extra::ExtraDirective>,
    pub(super) forwards: Vec<Forward>,
}

/// One TCP forward of the stream block.
#[derive(Serialize)]
pub(super) struct Forward {
    pub(super) why: Option<&'static str>,
    pub(super) name: Fact<String>,
    pub(super) to: Fact<String>,
    pub(super) listen: Fact<String>,
    pub(super) pass: Fact<String>,
    pub(super) allow: Fact<Vec<String>>,
    pub(super) deny: Option<Fact<&'static str>>,
    pub(super) directives: Vec<super::extra::ExtraDirective>,
}

pub(super) fn stream_forwards(
    site: &Site,
    nginx: &Nginx,
    host: &Host,
    facts: &mut Facts,
) -> Vec<Forward> {
    if !host.has(Role::PostgresPrimary) {
        return Vec::new();
    }
    let on_host = |port: u16| std::net::SocketAddr::new(host.address.ip(), port).to_string();
    let mut out = Vec::new();
    if let Some(pg) = &site.postgres
        && let Some(public) = pg.replication.as_ref().and_then(|r| r.public_port)
    {
        // In address order, so that 10.0.0.2 comes before 10.0.0.10.
        let mut allow: Vec<std::net::IpAddr> = site
            .hosts_with(Role::PostgresReplica)
            .chain(site.hosts_with(Role::Web).filter(|w| w.name != host.name))
            .map(|h| h.address.ip())
            .collect();
        allow.sort();
        allow.dedup();
        let name = || "postgres".to_owned();
        let upstream_origin = Origin::default("the forward to PostgreSQL, named for it");
        out.push(Forward {
            why: Some(
                "replicas and web hosts reach PostgreSQL here; PostgreSQL itself listens on loopback",
            ),
            name: facts.add("upstream", name(), upstream_origin.clone()),
            to: facts.add(
                "server",
                format!("127.0.0.1:{}", pg.port.0),
                Origin::derived(Some("/postgres/port"), "PostgreSQL on loopback"),
            ),
            listen: facts.add(
                "listen",
                on_host(public.0),
                Origin::derived(
                    Some("/postgres/replication/public_port"),
                    "on the primary's own address",
                ),
            ),
            pass: facts.add("proxy_pass", name(), upstream_origin),
            allow: facts.add(
                "allow",
                allow.iter().map(ToString::to_string).collect(),
                Origin::derived(Some("/hosts"), "the replicas and web hosts"),
            ),
            deny: Some(facts.add(
                "deny",
                "all",
                Origin::default(
                    "closed to everyone else, and to everyone while the site has no replica or web host",
                ),
            )),
            directives: Vec::new(),
        });
    }
    for (i, forward) in nginx.stream.iter().enumerate() {
        let at = |key: &str| format!("/nginx/stream/{i}/{key}");
        let name = format!("forward_{}", i + 1);
        let name_origin = Origin::derived(
            Some(&format!("/nginx/stream/{i}")),
            "named by its place in nginx.stream",
        );
        out.push(Forward {
            why: None,
            name: facts.add("upstream", name.clone(), name_origin.clone()),
            to: facts.add(
                "server",
                forward.to.as_str().to_owned(),
                Origin::spec(at("to")),
            ),
            listen: facts.add(
                "listen",
                on_host(forward.listen.0),
                Origin::derived(Some(&at("listen")), "on the host's own address"),
            ),
            pass: facts.add("proxy_pass", name, name_origin),
            allow: facts.add(
                "allow",
                Vec::new(),
                Origin::default("open to every address"),
            ),
            deny: None,
            directives: super::extra::directives(
                &forward.directives,
                &format!("/nginx/stream/{i}/directives"),
                facts,
            ),
        });
    }
    out
}
