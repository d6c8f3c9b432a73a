//! The caching proxy of the proxy hosts: its cache, its public, buster and long-timeout servers,
//! the cookie rule and the maintenance switch.

use serde::Serialize;

use super::front::{Front, front};
use super::proxy::{
    KEEPALIVE, MapBlock, MapEntry, ProxyHeader, ProxyPass, UpstreamBlock, forwarded_for, header,
    no_connection_header, proxy_pass, upstream_block,
};
use super::{Arg, Raw, Section, given, named, stem};
use crate::plan::{Fact, Facts, Origin};
use crate::spec::{CacheProxy, Nginx, Site};
use crate::units::Duration;

/// How many backends one request of the caching proxy may reach: the first, and one retry when it
/// fails fast (an error, or a timeout before the server's own timeout has run out).
pub(super) const NEXT_UPSTREAM_TRIES: u32 = 2;

#[derive(Serialize)]
pub(super) struct CacheContext<'a> {
    pub(super) site: &'a str,
    pub(super) cache_path: CachePath,
    pub(super) upstream: UpstreamBlock,
    pub(super) long_upstream: Option<UpstreamBlock>,
    pub(super) cookie_note: String,
    pub(super) private: MapBlock,
    pub(super) upstream_cookie: MapBlock,
    #[serde(flatten)]
    pub(super) front: Front,
    pub(super) maintenance: Option<MaintenanceSwitch>,
    pub(super) public: CacheServer,
    /// The public server's client_max_body_size and directives of the spec's own.
    pub(super) client_max_body_size: Option<Fact<String>>,
    pub(super) directives: Vec<super::extra::ExtraDirective>,
    pub(super) buster: Option<CacheServer>,
    pub(super) long: Option<CacheServer>,
}

#[derive(Serialize)]
pub(super) struct CachePath {
    pub(super) directory: Fact<String>,
    pub(super) levels: Fact<&'static str>,
    pub(super) zone: Fact<String>,
    pub(super) zone_size: Fact<&'static str>,
    pub(super) max_size: Fact<String>,
    pub(super) inactive: Fact<String>,
    pub(super) use_temp_path: Fact<&'static str>,
}

#[derive(Serialize)]
pub(super) struct MaintenanceSwitch {
    pub(super) status: Fact<u16>,
    pub(super) location: Fact<&'static str>,
    pub(super) flag: Fact<String>,
    pub(super) root: Fact<String>,
    pub(super) page: Fact<String>,
    pub(super) retry_after: Fact<u64>,
}

/// One server of the caching proxy: the public one, the buster or the long-timeout one.
#[derive(Serialize)]
pub(super) struct CacheServer {
    /// The tunnel servers' own listen address; the public server's is in [`Front`].
    pub(super) listen: Option<Fact<String>>,
    pub(super) proxy: ProxyPass,
    pub(super) timeout: Fact<String>,
    pub(super) tries: Fact<u32>,
    pub(super) next_timeout: Fact<String>,
    pub(super) hide: Vec<Fact<&'static str>>,
    /// How the server uses the cache; none for the long-timeout server.
    pub(super) cache: Option<CacheUse>,
    /// Repeated in each location that adds headers, on the public server only.
    pub(super) hsts: Option<Fact<String>>,
}

#[derive(Serialize)]
pub(super) struct CacheUse {
    pub(super) cookie: Fact<Arg>,
    pub(super) zone: Fact<String>,
    pub(super) key: Fact<Raw>,
    pub(super) ignore_headers: Fact<Vec<&'static str>>,
    pub(super) valid: Vec<CacheValid>,
    pub(super) use_stale: Fact<Vec<&'static str>>,
    pub(super) background_update: Fact<&'static str>,
    pub(super) lock: Fact<&'static str>,
    pub(super) bypass: Fact<Vec<Raw>>,
    pub(super) no_cache: Fact<Vec<Raw>>,
    pub(super) status: Fact<Raw>,
}

#[derive(Serialize)]
pub(super) struct CacheValid {
    pub(super) codes: Fact<Vec<u16>>,
    pub(super) time: Fact<String>,
}

/// The caching proxy's cookie rule: a request with only harmless cookies (or none) is what an
/// anonymous client sends, so it is cached, and reaches the backend with no cookie at all; any
/// other cookie (the session cookie among them, even when listed as harmless) makes it private:
/// never served from the cache nor stored, and passed on as sent. Gives the note on the rule, the
/// map that says whether a request is private, and the map of the Cookie header a backend gets.
pub(super) fn cookie_maps(
    site: &Site,
    proxy: &CacheProxy,
    facts: &mut Facts,
) -> (String, MapBlock, MapBlock) {
    let harmless: Vec<&str> = proxy
        .harmless_cookies
        .iter()
        .map(|c| c.0.as_str())
        .filter(|c| *c != proxy.session_cookie)
        .collect();
    let note = if harmless.is_empty() {
        format!(
            "none: the session cookie {} is never harmless",
            proxy.session_cookie
        )
    } else {
        format!(
            "{}; the session cookie {} is never harmless",
            harmless.join(", "),
            proxy.session_cookie
        )
    };
    let private_var = named(facts, "map", format!("{}_private", stem(site)));
    let cookies = facts.add(
        "map",
        "http_cookie".to_owned(),
        Origin::default("the Cookie header the client sent"),
    );
    let entry = |facts: &mut Facts, key: &str, value: Arg, origin: Origin| {
        let value = facts.add("map", value, origin);
        MapEntry {
            key: value.sibling(key.to_owned()),
            value,
        }
    };
    let mut private_entries = vec![
        entry(
            facts,
            "default",
            Arg::Text("1".to_owned()),
            Origin::default("a cookie other than the harmless ones makes a request private"),
        ),
        entry(
            facts,
            "",
            Arg::Text("0".to_owned()),
            Origin::default("a request without cookies is what an anonymous client sends"),
        ),
    ];
    if !harmless.is_empty() {
        // Cookie names are letters, digits and `_` (the schema's pattern), so they need no
        // escaping in the regular expression; `\z` ends it, since nginx would read `$` as a
        // variable.
        let regex = format!(r"~^\s*(?:(?:{})=[^;]*(?:;\s*|\z))+\z", harmless.join("|"));
        private_entries.push(entry(
            facts,
            &regex,
            Arg::Text("0".to_owned()),
            Origin::derived(
                Some("/nginx/cache_proxy/harmless_cookies"),
                "only harmless cookies: the request may be cached",
            ),
        ));
    }
    let private = MapBlock {
        source: cookies.clone(),
        variable: private_var.clone(),
        entries: private_entries,
    };
    let upstream_entries = vec![
        entry(
            facts,
            "default",
            Arg::Text(String::new()),
            Origin::default(
                "a request that may be cached reaches the backend with no cookie, so a stored answer was made for a client without cookies",
            ),
        ),
        entry(
            facts,
            "1",
            Arg::Raw(Raw::var(&cookies.value)),
            Origin::default("a private request reaches the backend with its cookies as sent"),
        ),
    ];
    let upstream_cookie = MapBlock {
        source: private_var,
        variable: named(facts, "map", format!("{}_upstream_cookie", stem(site))),
        entries: upstream_entries,
    };
    (note, private, upstream_cookie)
}

pub(super) fn maintenance(proxy: &CacheProxy, facts: &mut Facts) -> Option<MaintenanceSwitch> {
    let m = proxy.maintenance.as_ref()?;
    let at = |key: &str| format!("/nginx/cache_proxy/maintenance/{key}");
    let page = m.page.as_str();
    let cut = page.rfind('/').expect("an absolute path has a /");
    let retry_after = m.retry_after;
    Some(MaintenanceSwitch {
        status: facts.add(
            "return",
            503,
            Origin::default("503 Service Unavailable: clients and crawlers come back later"),
        ),
        location: facts.add(
            "error_page",
            "@maintenance",
            Origin::default("a named location, which no request reaches but through error_page"),
        ),
        flag: facts.add(
            "if",
            m.flag.as_str().to_owned(),
            Origin::spec(at("flag")).because("maintenance while the file exists"),
        ),
        root: facts.add(
            "root",
            if cut == 0 { "/" } else { &page[..cut] }.to_owned(),
            Origin::derived(Some(&at("page")), "the page's folder"),
        ),
        page: facts.add(
            "try_files",
            page[cut..].to_owned(),
            Origin::derived(Some(&at("page")), "the page, in its folder"),
        ),
        retry_after: facts.add(
            "add_header",
            retry_after.whole_secs().unwrap_or(600),
            given(
                &at("retry_after"),
                retry_after == Duration::from_secs(600),
                "10 minutes, the default of nginx.cache_proxy.maintenance.retry_after",
            ),
        ),
    })
}

/// What every server of the caching proxy sends upstream: the public name and scheme, never the
/// client's, so that the buster refreshes, under the one key, what a public client is given.
pub(super) fn cache_headers(proxy: &CacheProxy, facts: &mut Facts) -> Vec<ProxyHeader> {
    vec![
        no_connection_header(facts),
        header(
            facts,
            "Host",
            Arg::Text(proxy.server_name.clone()),
            Origin::spec("/nginx/cache_proxy/server_name")
                .because("every server sends the public name upstream, never the client's Host"),
            Some(
                "The public server's name and scheme, never the client's (a tunnel's localhost:9000 and http).",
            ),
        ),
        forwarded_for(facts),
        header(
            facts,
            "X-Forwarded-Proto",
            Arg::Text("https".to_owned()),
            Origin::default(
                "every server sends https upstream, never the client's scheme, so that the buster stores what the public server would",
            ),
            None,
        ),
    ]
}

/// How a server of the caching proxy uses the cache: `buster` fetches every request afresh.
pub(super) fn cache_use(shared: &Shared, buster: bool, facts: &mut Facts) -> CacheUse {
    let credentials = vec![
        Raw::var(&shared.private.variable.value),
        Raw::var("http_authorization"),
    ];
    let bypass = if buster {
        facts.add(
            "proxy_cache_bypass",
            vec![Raw("1".to_owned())],
            Origin::spec("/nginx/cache_proxy/buster_port")
                .because("the buster fetches every request afresh, and stores what it fetched"),
        )
    } else {
        facts.add(
            "proxy_cache_bypass",
            credentials.clone(),
            Origin::default("a cookie other than the harmless ones, or an Authorization header, bypasses the cache"),
        )
    };
    let valid = shared.proxy.cache.valid;
    let valid_ok = facts.add(
        "proxy_cache_valid",
        vec![200, 301, 302],
        given(
            "/nginx/cache_proxy/cache/valid",
            valid == Duration::from_secs(3_600),
            "an hour, the default of nginx.cache_proxy.cache.valid",
        ),
    );
    let valid_404 = facts.add(
        "proxy_cache_valid",
        vec![404],
        Origin::default(
            "a missing page is kept a minute, so a burst of requests for it reaches a backend once",
        ),
    );
    CacheUse {
        cookie: facts.add(
            "proxy_set_header",
            Arg::Raw(Raw::var(&shared.upstream_cookie.variable.value)),
            Origin::default("a cached request goes with no cookie, a private one with its own"),
        ),
        zone: facts.add(
            "proxy_cache",
            shared.zone.value.clone(),
            Origin::default("the public and buster servers share the cache; the long-timeout server, whose backends may be read-write, has none"),
        ),
        key: facts.add(
            "proxy_cache_key",
            Raw::var("request_uri"),
            Origin::default("the URI alone: every cached request goes upstream with the public name and scheme, so the buster refreshes what the public server serves"),
        ),
        ignore_headers: facts.add(
            "proxy_ignore_headers",
            vec!["Cache-Control", "Expires", "Set-Cookie", "Vary", "X-Accel-Expires"],
            Origin::default("a public read-only site: the backends' cache headers are ignored"),
        ),
        valid: vec![
            CacheValid {
                time: valid_ok.sibling(valid.to_nginx()),
                codes: valid_ok,
            },
            CacheValid {
                time: valid_404.sibling("1m".to_owned()),
                codes: valid_404,
            },
        ],
        use_stale: facts.add(
            "proxy_cache_use_stale",
            vec!["error", "timeout", "updating", "http_500", "http_502", "http_503", "http_504"],
            Origin::default("the stored copy is served while the backends fail or it is being refreshed"),
        ),
        background_update: facts.add(
            "proxy_cache_background_update",
            "on",
            Origin::default("an expired copy is refreshed in the background while the stale one is served"),
        ),
        lock: facts.add(
            "proxy_cache_lock",
            "on",
            Origin::default("one request at a time fills a missing entry; the others wait for it"),
        ),
        bypass,
        no_cache: facts.add(
            "proxy_no_cache",
            credentials,
            Origin::derived(
                Some("/nginx/cache_proxy/harmless_cookies"),
                "nothing fetched with a cookie other than the harmless ones (the session cookie among them), or with an Authorization header, is stored",
            ),
        ),
        status: facts.add(
            "add_header",
            Raw::var("upstream_cache_status"),
            Origin::default("says whether the answer came from the cache"),
        ),
    }
}

/// One server of the caching proxy. `buster` fetches every request afresh; `cache` is false for
/// the long-timeout server, whose backends may be read-write.
pub(super) struct ServerKind {
    /// A tunnel server's address; the public server's is in [`Front`].
    pub(super) listen: Option<Fact<String>>,
    pub(super) buster: bool,
    pub(super) cache: bool,
    pub(super) hsts: Option<Fact<String>>,
}

/// What every server of the caching proxy shares: its upstream's cache and cookie maps.
pub(super) struct Shared<'a> {
    pub(super) proxy: &'a CacheProxy,
    pub(super) zone: &'a Fact<String>,
    pub(super) private: &'a MapBlock,
    pub(super) upstream_cookie: &'a MapBlock,
}

pub(super) fn cache_server(
    shared: &Shared,
    upstream: &Fact<String>,
    timeout: (Duration, Origin),
    kind: ServerKind,
    facts: &mut Facts,
) -> CacheServer {
    let headers = cache_headers(shared.proxy, facts);
    let proxy = proxy_pass(facts, upstream, headers);
    let (timeout, origin) = timeout;
    CacheServer {
        listen: kind.listen,
        proxy,
        timeout: facts.add("proxy_read_timeout", timeout.to_nginx(), origin.clone()),
        tries: facts.add(
            "proxy_next_upstream_tries",
            NEXT_UPSTREAM_TRIES,
            Origin::default(
                "the first backend and one retry, so a slow request never runs on every backend",
            ),
        ),
        next_timeout: facts.add(
            "proxy_next_upstream_timeout",
            timeout.to_nginx(),
            Origin::derived(
                origin.spec.as_deref(),
                "the server's own timeout (`timeout`, or `long_timeout.timeout`): no retry once it has run out, so a request costs its timeout and at most one retry",
            ),
        ),
        hide: vec![
            facts.add(
                "proxy_hide_header",
                "Set-Cookie",
                Origin::default("a public read-only site: no backend's cookie reaches a client"),
            ),
            facts.add(
                "proxy_hide_header",
                "Strict-Transport-Security",
                Origin::default("nginx sends its own HSTS header, once"),
            ),
        ],
        cache: kind.cache.then(|| cache_use(shared, kind.buster, facts)),
        hsts: kind.hsts,
    }
}

pub(super) fn cache_context<'a>(
    site: &'a Site,
    nginx: &Nginx,
    proxy: &CacheProxy,
    facts: &mut Facts,
) -> CacheContext<'a> {
    let section = Section("cache_proxy");
    let cache_path = cache_path(site, proxy, facts);
    let name = named(facts, "upstream", format!("{}_backends", stem(site)));
    let upstream = upstream_block(
        facts,
        name,
        &proxy.backends,
        Origin::spec("/nginx/cache_proxy/backends"),
        KEEPALIVE,
    );
    let long_upstream = long_upstream(site, proxy, facts);
    let (cookie_note, private, upstream_cookie) = cookie_maps(site, proxy, facts);
    let server_name = facts.add(
        "server_name",
        proxy.server_name.clone(),
        Origin::spec("/nginx/cache_proxy/server_name"),
    );
    let front = front(
        nginx,
        server_name,
        &proxy.listen,
        &proxy.tls,
        section,
        facts,
    );
    let maintenance = maintenance(proxy, facts);
    let shared = Shared {
        proxy,
        zone: &cache_path.zone,
        private: &private,
        upstream_cookie: &upstream_cookie,
    };
    let timeout = (
        proxy.timeout,
        given(
            "/nginx/cache_proxy/timeout",
            proxy.timeout == Duration::from_secs(60),
            "a minute, the default of nginx.cache_proxy.timeout",
        ),
    );
    let public = ServerKind {
        listen: None,
        buster: false,
        cache: true,
        hsts: Some(front.tls.hsts.clone()),
    };
    let public = cache_server(&shared, &upstream.name, timeout.clone(), public, facts);
    let buster = proxy.buster_port.map(|port| {
        let buster = ServerKind {
            listen: Some(tunnel(port.0, "/nginx/cache_proxy/buster_port", facts)),
            buster: true,
            cache: true,
            hsts: None,
        };
        cache_server(&shared, &upstream.name, timeout.clone(), buster, facts)
    });
    let long = proxy.long_timeout.as_ref().zip(long_upstream.as_ref());
    let long = long.map(|(l, u)| {
        let long = ServerKind {
            listen: Some(tunnel(
                l.port.0,
                "/nginx/cache_proxy/long_timeout/port",
                facts,
            )),
            buster: false,
            cache: false,
            hsts: None,
        };
        let timeout = Origin::spec("/nginx/cache_proxy/long_timeout/timeout");
        cache_server(&shared, &u.name, (l.timeout, timeout), long, facts)
    });
    CacheContext {
        site: &site.site,
        cache_path,
        upstream,
        long_upstream,
        cookie_note,
        private,
        upstream_cookie,
        front,
        maintenance,
        public,
        client_max_body_size: proxy.client_max_body_size.map(|size| {
            super::extra::body_size(size, "/nginx/cache_proxy/client_max_body_size", facts)
        }),
        directives: super::extra::directives(
            &proxy.directives,
            "/nginx/cache_proxy/directives",
            facts,
        ),
        buster,
        long,
    }
}

/// The long-timeout server's upstream: its own backends, or the proxy's. No proxy buffer directive
/// is written on the caching proxy: nginx's defaults (a one-page proxy_buffer_size, 8 one-page
/// proxy_buffers, a two-page proxy_busy_buffers_size) meet its own constraints.
pub(super) fn long_upstream(
    site: &Site,
    proxy: &CacheProxy,
    facts: &mut Facts,
) -> Option<UpstreamBlock> {
    let long = proxy.long_timeout.as_ref()?;
    let (servers, origin) = if long.backends.is_empty() {
        (
            &proxy.backends,
            Origin::derived(
                Some("/nginx/cache_proxy/backends"),
                "the proxy's backends, as long_timeout.backends names none",
            ),
        )
    } else {
        (
            &long.backends,
            Origin::spec("/nginx/cache_proxy/long_timeout/backends"),
        )
    };
    let name = named(facts, "upstream", format!("{}_long", stem(site)));
    let keepalive = (
        4,
        "4 idle connections kept open: the long-timeout port is for a few slow requests",
    );
    Some(upstream_block(facts, name, servers, origin, keepalive))
}

/// The address of a server reached through an SSH tunnel.
pub(super) fn tunnel(port: u16, pointer: &str, facts: &mut Facts) -> Fact<String> {
    facts.add(
        "listen",
        format!("127.0.0.1:{port}"),
        Origin::derived(Some(pointer), "on 127.0.0.1, for an SSH tunnel"),
    )
}

pub(super) fn cache_path(site: &Site, proxy: &CacheProxy, facts: &mut Facts) -> CachePath {
    let at = |key: &str| format!("/nginx/cache_proxy/cache/{key}");
    let inactive = proxy.cache.inactive;
    CachePath {
        directory: facts.add(
            "proxy_cache_path",
            proxy.cache.directory.as_str().to_owned(),
            Origin::spec(at("directory")),
        ),
        levels: facts.add(
            "proxy_cache_path",
            "1:2",
            Origin::default("two levels of folders, so that no folder holds too many files"),
        ),
        zone: named(facts, "proxy_cache_path", format!("{}_cache", stem(site))),
        zone_size: facts.add(
            "proxy_cache_path",
            "10m",
            Origin::default("10MB of shared memory for the keys: about 80,000 entries"),
        ),
        max_size: facts.add(
            "proxy_cache_path",
            proxy.cache.max_size.to_nginx(),
            Origin::spec(at("max_size")),
        ),
        inactive: facts.add(
            "proxy_cache_path",
            inactive.to_nginx(),
            given(
                &at("inactive"),
                inactive == Duration::from_secs(7 * 86_400),
                "a week, the default of nginx.cache_proxy.cache.inactive",
            ),
        ),
        use_temp_path: facts.add(
            "proxy_cache_path",
            "off",
            Origin::default(
                "responses are written into the cache folder, never copied from another",
            ),
        ),
    }
}
