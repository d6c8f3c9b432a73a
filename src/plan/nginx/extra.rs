//! What a site adds to nginx beyond sitewright's own lines: its locations, its response headers,
//! request limits, and directives written as the spec gives them (`check` has proven each against
//! nginx's table of directives for the spec's version).

use std::collections::BTreeMap;

use serde::Serialize;

use super::proxy::{
    KEEPALIVE, ProxyHeader, ProxyPass, UpstreamBlock, forwarded_for, header, no_connection_header,
    proxy_pass, upstream_block,
};
use super::{Arg, Raw, named, stem};
use crate::escape::NginxWord;
use crate::plan::{Fact, Facts, Origin};
use crate::spec::{
    Directive, HeaderName, Location, NginxLayout, ProxyTarget, RateLimit, Site, SocketAddr,
};
use crate::units::ByteSize;

/// A directive of the spec's own: `name args…;`.
#[derive(Serialize)]
pub(super) struct ExtraDirective {
    pub(super) name: Fact<String>,
    pub(super) args: Fact<Vec<NginxWord>>,
}

/// The directives of the spec at `pointer`, in its order.
pub(super) fn directives(
    list: &[Directive],
    pointer: &str,
    facts: &mut Facts,
) -> Vec<ExtraDirective> {
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let name = facts.add(
                &d.name,
                d.name.clone(),
                Origin::spec(format!("{pointer}/{i}")).because("a directive the spec adds"),
            );
            ExtraDirective {
                args: name.sibling(
                    d.args
                        .iter()
                        .map(|a| NginxWord(a.as_str().to_owned()))
                        .collect(),
                ),
                name,
            }
        })
        .collect()
}

/// `add_header NAME VALUE always;`.
#[derive(Serialize, Clone)]
pub(super) struct Header {
    pub(super) name: Fact<String>,
    pub(super) value: Fact<String>,
}

/// The headers of the spec at `pointer`, in name order.
pub(super) fn headers(
    map: &BTreeMap<HeaderName, String>,
    pointer: &str,
    facts: &mut Facts,
) -> Vec<Header> {
    map.iter()
        .map(|(name, value)| {
            let value = facts.add(
                "add_header",
                value.clone(),
                Origin::spec(format!("{pointer}/{}", name.0))
                    .because("sent with every answer, errors included"),
            );
            Header {
                name: value.sibling(name.0.clone()),
                value,
            }
        })
        .collect()
}

/// The Strict-Transport-Security header of a server, as a [`Header`] to repeat in locations.
pub(super) fn hsts_header(hsts: &Fact<String>) -> Header {
    Header {
        name: hsts.sibling("Strict-Transport-Security".to_owned()),
        value: hsts.clone(),
    }
}

/// A `limit_req_zone` or `limit_conn_zone` line, inside http {}.
#[derive(Serialize)]
pub(super) struct Zone {
    /// `limit_req_zone` or `limit_conn_zone`.
    pub(super) directive: &'static str,
    pub(super) key: Fact<Raw>,
    pub(super) name: Fact<String>,
    pub(super) size: Fact<&'static str>,
    pub(super) rate: Option<Fact<String>>,
}

/// One location of the spec's own.
#[derive(Serialize)]
pub(super) struct LocationBlock {
    pub(super) url: Fact<String>,
    /// `proxy: app`: the lines of `location /`.
    pub(super) app: bool,
    /// `proxy: [servers]`: through an upstream of its own.
    pub(super) proxy: Option<ProxyPass>,
    pub(super) alias: Option<Fact<String>>,
    pub(super) try_files: Option<Fact<Vec<NginxWord>>>,
    /// With try_files: nginx keeps the files' lookups open rather than asking the disk each time.
    pub(super) open_file_cache: Option<Fact<Vec<&'static str>>>,
    pub(super) answer: Option<Answer>,
    pub(super) client_max_body_size: Option<Fact<String>>,
    pub(super) limit_req: Option<LimitReq>,
    pub(super) limit_conn: Option<LimitConn>,
    /// The server's headers, repeated because this location adds its own.
    pub(super) inherited: Vec<Header>,
    pub(super) headers: Vec<Header>,
    pub(super) directives: Vec<ExtraDirective>,
}

#[derive(Serialize)]
pub(super) struct Answer {
    pub(super) code: Fact<u16>,
    pub(super) target: Option<Fact<NginxWord>>,
}

#[derive(Serialize)]
pub(super) struct LimitReq {
    pub(super) zone: Fact<String>,
    pub(super) burst: Option<Fact<u32>>,
    pub(super) status: Fact<u16>,
}

#[derive(Serialize)]
pub(super) struct LimitConn {
    pub(super) zone: Fact<String>,
    pub(super) count: Fact<u32>,
    pub(super) status: Fact<u16>,
}

/// The locations of `nginx.https.locations`, the upstreams and zones they need, in the spec's order.
pub(super) struct Locations {
    pub(super) blocks: Vec<LocationBlock>,
    pub(super) upstreams: Vec<UpstreamBlock>,
    pub(super) zones: Vec<Zone>,
}

/// Each client address's share of a limit, as nginx keys it.
const PER_CLIENT: &str = "binary_remote_addr";
/// 10 MB of shared memory: about 160,000 client addresses.
const ZONE_SIZE: &str = "10m";
/// Too Many Requests, rather than nginx's default 503, which clients and monitors read as an outage.
const LIMITED: u16 = 429;

pub(super) fn locations(
    site: &Site,
    list: &[Location],
    inherited: &[Header],
    facts: &mut Facts,
) -> Locations {
    let mut out = Locations {
        blocks: Vec::new(),
        upstreams: Vec::new(),
        zones: Vec::new(),
    };
    for (i, location) in list.iter().enumerate() {
        let place = LocationAt { site, index: i };
        let url = facts.add(
            "location",
            location.url.clone(),
            Origin::spec(place.at("url")),
        );
        let proxy = match &location.proxy {
            Some(ProxyTarget::Servers(servers)) => {
                let (upstream, pass) = place.own_upstream(servers, facts);
                out.upstreams.push(upstream);
                Some(pass)
            }
            _ => None,
        };
        let limit_req = location.rate_limit.as_ref().map(|limit| {
            let (zone, limit) = place.rate_limit(limit, facts);
            out.zones.push(zone);
            limit
        });
        let limit_conn = location.connection_limit.map(|count| {
            let (zone, limit) = place.connection_limit(count, facts);
            out.zones.push(zone);
            limit
        });
        let headers = headers(&location.headers, &place.at("headers"), facts);
        out.blocks.push(LocationBlock {
            url,
            app: matches!(location.proxy, Some(ProxyTarget::App(_))),
            proxy,
            alias: location.alias.as_ref().map(|folder| {
                facts.add(
                    "alias",
                    alias_of(folder.as_str(), &location.url),
                    Origin::derived(
                        Some(&place.at("alias")),
                        "the folder, ending in `/` as the URL does",
                    ),
                )
            }),
            try_files: (!location.try_files.is_empty()).then(|| {
                facts.add(
                    "try_files",
                    words(&location.try_files),
                    Origin::spec(place.at("try_files")),
                )
            }),
            open_file_cache: (!location.try_files.is_empty()).then(|| {
                facts.add(
                    "open_file_cache",
                    vec!["max=1000", "inactive=60s"],
                    Origin::derived(
                        Some(&place.at("try_files")),
                        "try_files looks each file up: the lookups of the last minute's 1000 files are kept (a missing file is not, so a new one is found at once)",
                    ),
                )
            }),
            answer: location.answer.as_ref().map(|answer| {
                let code = facts.add("return", answer.code, Origin::spec(place.at("return/code")));
                Answer {
                    target: answer
                        .url
                        .as_ref()
                        .or(answer.text.as_ref())
                        .map(|t| code.sibling(NginxWord(t.as_str().to_owned()))),
                    code,
                }
            }),
            client_max_body_size: location
                .client_max_body_size
                .map(|size| body_size(size, &place.at("client_max_body_size"), facts)),
            limit_req,
            limit_conn,
            inherited: if headers.is_empty() {
                Vec::new()
            } else {
                inherited.to_vec()
            },
            headers,
            directives: directives(&location.directives, &place.at("directives"), facts),
        });
    }
    out
}

/// One location of `nginx.https.locations`: where its values sit in the spec, and the names of
/// what it adds at http level (numbered by its place, as nginx names take no URL).
struct LocationAt<'a> {
    site: &'a Site,
    index: usize,
}

impl LocationAt<'_> {
    fn at(&self, key: &str) -> String {
        format!("/nginx/https/locations/{}/{key}", self.index)
    }

    fn name(&self, what: &str) -> String {
        format!("{}_{what}_{}", stem(self.site), self.index + 1)
    }

    /// `proxy: [servers]`: an upstream of the location's own, and the lines that pass to it.
    fn own_upstream(
        &self,
        servers: &[SocketAddr],
        facts: &mut Facts,
    ) -> (UpstreamBlock, ProxyPass) {
        let name = named(facts, "upstream", self.name("location"));
        let upstream = upstream_block(
            facts,
            name,
            servers,
            Origin::spec(self.at("proxy")).because("the servers of this location"),
            KEEPALIVE,
        );
        let headers = location_headers(facts);
        let pass = proxy_pass(facts, &upstream.name, headers);
        (upstream, pass)
    }

    /// `rate_limit`: its zone inside http {} and its lines in the location.
    fn rate_limit(&self, limit: &RateLimit, facts: &mut Facts) -> (Zone, LimitReq) {
        let name = named(facts, "limit_req_zone", self.name("requests"));
        let zone = Zone {
            directive: "limit_req_zone",
            key: facts.add("limit_req_zone", Raw::var(PER_CLIENT), per_client()),
            name: name.clone(),
            size: facts.add("limit_req_zone", ZONE_SIZE, zone_size()),
            rate: Some(facts.add(
                "limit_req_zone",
                limit.rate.clone(),
                Origin::spec(self.at("rate_limit/rate")),
            )),
        };
        let limit = LimitReq {
            zone: name,
            burst: (limit.burst > 0).then(|| {
                facts.add(
                    "limit_req",
                    limit.burst,
                    Origin::spec(self.at("rate_limit/burst"))
                        .because("served at once (nodelay); any more get 429"),
                )
            }),
            status: facts.add("limit_req_status", LIMITED, limited()),
        };
        (zone, limit)
    }

    /// `connection_limit`: its zone inside http {} and its lines in the location.
    fn connection_limit(&self, count: u32, facts: &mut Facts) -> (Zone, LimitConn) {
        let name = named(facts, "limit_conn_zone", self.name("connections"));
        let zone = Zone {
            directive: "limit_conn_zone",
            key: facts.add("limit_conn_zone", Raw::var(PER_CLIENT), per_client()),
            name: name.clone(),
            size: facts.add("limit_conn_zone", ZONE_SIZE, zone_size()),
            rate: None,
        };
        let limit = LimitConn {
            zone: name,
            count: facts.add(
                "limit_conn",
                count,
                Origin::spec(self.at("connection_limit")),
            ),
            status: facts.add("limit_conn_status", LIMITED, limited()),
        };
        (zone, limit)
    }
}

/// `client_max_body_size` as nginx reads it.
pub(super) fn body_size(size: ByteSize, pointer: &str, facts: &mut Facts) -> Fact<String> {
    facts.add(
        "client_max_body_size",
        size.to_nginx_size(),
        Origin::spec(pointer).because("a larger request body gets 413"),
    )
}

/// nginx's alias of `folder` under `url`: ending in `/` as the URL does, so that no request can
/// reach the folder's parent.
fn alias_of(folder: &str, url: &str) -> String {
    let folder = folder.trim_end_matches('/');
    if url.ends_with('/') {
        format!("{folder}/")
    } else {
        folder.to_owned()
    }
}

fn words(list: &[crate::spec::Word]) -> Vec<NginxWord> {
    list.iter()
        .map(|w| NginxWord(w.as_str().to_owned()))
        .collect()
}

fn per_client() -> Origin {
    Origin::default("counted per client address")
}

fn zone_size() -> Origin {
    Origin::default("10MB of shared memory, about 160,000 client addresses")
}

fn limited() -> Origin {
    Origin::default("429 Too Many Requests, not nginx's 503, which reads as an outage")
}

/// The request headers of a location that proxies to servers of its own.
fn location_headers(facts: &mut Facts) -> Vec<ProxyHeader> {
    vec![
        no_connection_header(facts),
        header(
            facts,
            "Host",
            Arg::Raw(Raw::var("host")),
            Origin::default("the name the client asked for"),
            None,
        ),
        forwarded_for(facts),
        header(
            facts,
            "X-Forwarded-Proto",
            Arg::Raw(Raw::var("scheme")),
            Origin::default("the scheme the client used"),
            None,
        ),
    ]
}

/// Where a directive of the spec's own lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// `nginx.http_directives`: inside http {}, beside what the distribution's nginx.conf sets there.
    Http(NginxLayout),
    /// The HTTPS server of the web hosts.
    HttpsServer,
    /// The public server of the caching proxy.
    CacheServer,
    /// A location of `nginx.https.locations`, by what it does.
    Location(LocationKind),
    /// `nginx.stream_directives`: inside stream {}.
    Stream,
    /// A forward of `nginx.stream`.
    StreamServer,
}

/// What a location of the spec does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LocationKind {
    App,
    Servers,
    Other,
}

/// A directive sitewright writes itself, and the field of the spec that decides it, or
/// `nothing: ` and why no field does.
pub(crate) struct Written {
    pub(crate) name: &'static str,
    pub(crate) field: &'static str,
}

const fn w(name: &'static str, field: &'static str) -> Written {
    Written { name, field }
}

/// What the front of both HTTPS servers writes (nginx/server.nginx, nginx/tls.nginx).
const FRONT: &[Written] = &[
    w("listen", "listen"),
    w("http2", "nginx.version"),
    w("server_name", "server_name"),
    w(
        "server_tokens",
        "nothing: sitewright keeps nginx's version out of every answer",
    ),
    w("ssl_certificate", "tls.certificate"),
    w("ssl_certificate_key", "tls.certificate_key"),
    w("ssl_protocols", "tls.profile"),
    w("ssl_ciphers", "tls.profile"),
    w("ssl_prefer_server_ciphers", "tls.profile"),
    w("ssl_ecdh_curve", "nginx.openssl"),
    w("ssl_session_timeout", "tls.profile"),
    w("ssl_session_cache", "tls.profile"),
    w("ssl_session_tickets", "nginx.version"),
    w("ssl_stapling", "tls.ocsp_stapling"),
    w("ssl_stapling_verify", "tls.ocsp_stapling"),
    w("ssl_trusted_certificate", "tls.trusted_certificate"),
    w("resolver", "tls.resolver"),
    w("add_header", "headers"),
    w("gzip", "nothing: sitewright compresses text responses"),
    w(
        "gzip_proxied",
        "nothing: sitewright compresses text responses",
    ),
    w(
        "gzip_types",
        "nothing: sitewright compresses text responses",
    ),
    w("client_max_body_size", "client_max_body_size"),
];

/// What the HTTPS server writes besides its front.
const HTTPS_SERVER: &[Written] = &[
    w("access_log", "access_log"),
    w("error_log", "error_log_level"),
    w("client_body_buffer_size", "client_body_buffer_size"),
];

/// What every location of the spec may have from typed fields.
const LOCATION: &[Written] = &[
    w("alias", "alias"),
    w("try_files", "try_files"),
    w("open_file_cache", "try_files"),
    w("return", "return"),
    w("add_header", "headers"),
    w("client_max_body_size", "client_max_body_size"),
    w("limit_req", "rate_limit"),
    w("limit_req_status", "rate_limit"),
    w("limit_conn", "connection_limit"),
    w("limit_conn_status", "connection_limit"),
    w("proxy_pass", "proxy"),
];

/// What a proxying location writes (nginx/proxy.nginx).
const PROXYING: &[Written] = &[w("proxy_http_version", "proxy")];

/// What a location that proxies to the application writes as `location /` does.
pub(crate) const APP_LOCATION: &[Written] = &[
    w(
        "proxy_hide_header",
        "nothing: nginx sends Strict-Transport-Security itself",
    ),
    w("proxy_buffer_size", "nginx.https.proxy_buffer_size"),
    w("proxy_buffers", "nginx.https.proxy_buffers"),
    w("proxy_busy_buffers_size", "nginx.https.proxy_buffers"),
    w(
        "proxy_set_header",
        "nothing: sitewright sets the headers the application trusts",
    ),
];

/// What a forward of the stream block writes.
const STREAM_SERVER: &[Written] = &[w("listen", "listen"), w("proxy_pass", "to")];

/// What Debian's nginx.conf sets inside http {} (Debian 12 and 13 alike).
const DEBIAN_HTTP: &[Written] = &[
    w(
        "sendfile",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
    w(
        "tcp_nopush",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
    w(
        "types_hash_max_size",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
    w(
        "default_type",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
    w(
        "ssl_protocols",
        "nothing: Debian's nginx.conf sets it inside http {}, and each server's tls.profile decides it",
    ),
    w(
        "ssl_prefer_server_ciphers",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
    w(
        "access_log",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
    w(
        "gzip",
        "nothing: Debian's nginx.conf sets it inside http {}",
    ),
];

/// What the nginx.conf of RHEL and its rebuilds sets inside http {}.
const RHEL_HTTP: &[Written] = &[
    w(
        "sendfile",
        "nothing: RHEL's nginx.conf sets it inside http {}",
    ),
    w(
        "tcp_nopush",
        "nothing: RHEL's nginx.conf sets it inside http {}",
    ),
    w(
        "keepalive_timeout",
        "nothing: RHEL's nginx.conf sets it inside http {}",
    ),
    w(
        "types_hash_max_size",
        "nothing: RHEL's nginx.conf sets it inside http {}",
    ),
    w(
        "default_type",
        "nothing: RHEL's nginx.conf sets it inside http {}",
    ),
    w(
        "access_log",
        "nothing: RHEL's nginx.conf sets it inside http {}",
    ),
];

/// The directives sitewright writes at `place` that a directive of the spec's own would clash with.
pub(crate) fn written_at(place: Place) -> Vec<&'static Written> {
    let lists: &[&[Written]] = match place {
        Place::Http(NginxLayout::Debian) => &[DEBIAN_HTTP],
        Place::Http(NginxLayout::Rhel) => &[RHEL_HTTP],
        Place::Stream => &[],
        Place::HttpsServer => &[FRONT, HTTPS_SERVER],
        Place::CacheServer => &[FRONT],
        Place::Location(LocationKind::App) => &[LOCATION, PROXYING, APP_LOCATION],
        Place::Location(LocationKind::Servers) => &[LOCATION, PROXYING],
        Place::Location(LocationKind::Other) => &[LOCATION],
        Place::StreamServer => &[STREAM_SERVER],
    };
    lists.iter().flat_map(|list| list.iter()).collect()
}
