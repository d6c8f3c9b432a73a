//! What both HTTPS servers share: the redirect server, the listen lines, the TLS directives of each
//! profile and version, the logs and compression.

use serde::Serialize;

use super::{Raw, Section, given, given_derived};
use crate::plan::{Fact, Facts, Origin};
use crate::spec::{AccessLog, ErrorLogLevel, Https, Listen, Nginx, Tls, TlsProfile};

/// Mozilla server-side TLS 6.0, intermediate: forward-secret AEAD ciphers for TLS 1.2.
pub(super) const INTERMEDIATE_CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// The lines both http server files share (nginx/server.nginx): the redirect server, and the
/// HTTPS server's listen, name, TLS, logs and compression.
#[derive(Serialize)]
pub(super) struct Front {
    pub(super) server_name: Fact<String>,
    pub(super) server_tokens: Fact<&'static str>,
    pub(super) listen: ListenFacts,
    pub(super) redirect: Redirect,
    pub(super) tls: TlsFacts,
    pub(super) logs: Option<Logs>,
    pub(super) gzip: Gzip,
}

#[derive(Serialize)]
pub(super) struct ListenFacts {
    pub(super) http: Fact<String>,
    pub(super) https: Fact<String>,
    /// What follows the HTTPS address on its listen line: `ssl`, and `http2` before nginx 1.25.1.
    pub(super) https_params: Fact<Vec<&'static str>>,
    /// `on` from nginx 1.25.1, which takes HTTP/2 as a directive of its own.
    pub(super) http2: Option<Fact<&'static str>>,
}

#[derive(Serialize)]
pub(super) struct Redirect {
    pub(super) code: Fact<u16>,
    pub(super) url: Fact<Raw>,
}

#[derive(Serialize)]
pub(super) struct TlsFacts {
    pub(super) certificate: Fact<String>,
    pub(super) certificate_key: Fact<String>,
    pub(super) protocols: Fact<Vec<&'static str>>,
    pub(super) ciphers: Option<Fact<&'static str>>,
    pub(super) prefer_server_ciphers: Fact<&'static str>,
    pub(super) groups: Fact<&'static str>,
    pub(super) session: Option<Session>,
    pub(super) session_tickets: Option<Fact<&'static str>>,
    pub(super) stapling: Option<Stapling>,
    pub(super) hsts: Fact<String>,
}

#[derive(Serialize)]
pub(super) struct Session {
    pub(super) timeout: Fact<&'static str>,
    pub(super) cache: Fact<&'static str>,
}

#[derive(Serialize)]
pub(super) struct Stapling {
    pub(super) on: Fact<&'static str>,
    pub(super) verify: Fact<&'static str>,
    pub(super) trusted_certificate: Option<Fact<String>>,
    pub(super) resolver: Fact<Vec<String>>,
}

#[derive(Serialize)]
pub(super) struct Logs {
    pub(super) access: Vec<Fact<&'static str>>,
    pub(super) error_path: Fact<&'static str>,
    pub(super) error_level: Fact<&'static str>,
}

#[derive(Serialize)]
pub(super) struct Gzip {
    pub(super) on: Fact<&'static str>,
    pub(super) proxied: Fact<&'static str>,
    pub(super) types: Fact<Vec<&'static str>>,
}

/// The redirect server's and the HTTPS server's listen lines, and the redirect's target.
pub(super) fn listen(
    nginx: &Nginx,
    listen: &Listen,
    section: Section,
    facts: &mut Facts,
) -> (ListenFacts, Redirect) {
    let at = |port: u16| match &listen.address {
        Some(address) => std::net::SocketAddr::new(address.ip(), port).to_string(),
        None => port.to_string(),
    };
    let defaults = Listen::default();
    let pointer = section.at("listen");
    let every_address = listen.address.is_none();
    let http = facts.add(
        "listen",
        at(listen.redirect_port.0),
        given(
            &pointer,
            every_address && listen.redirect_port == defaults.redirect_port,
            format!(
                "port 80 on every address, the default of {}",
                section.dotted("listen")
            ),
        ),
    );
    let https_port = listen.port.0;
    let https = facts.add(
        "listen",
        at(https_port),
        given(
            &pointer,
            every_address && listen.port == defaults.port,
            format!(
                "port 443 on every address, the default of {}",
                section.dotted("listen")
            ),
        ),
    );
    let directive = crate::versions::NginxVersion(&nginx.version).has_http2_directive();
    let (params, http2) = if directive {
        (vec!["ssl"], "`http2 on;` from nginx 1.25.1")
    } else {
        (
            vec!["ssl", "http2"],
            "`listen ... http2` before nginx 1.25.1",
        )
    };
    let https_params = facts.add("listen", params, Origin::version("/nginx/version", http2));
    let http2 =
        directive.then(|| facts.add("http2", "on", Origin::version("/nginx/version", http2)));
    let redirect = if https_port == 443 {
        let code = facts.add(
            "return",
            301,
            Origin::default("plain HTTP redirects to HTTPS, permanently, on the default port"),
        );
        Redirect {
            url: code.sibling(Raw("https://$host$request_uri".to_owned())),
            code,
        }
    } else {
        let code = facts.add(
            "return",
            301,
            Origin::derived(
                Some(&section.at("listen/port")),
                format!("plain HTTP redirects to HTTPS, permanently, on port {https_port}"),
            ),
        );
        Redirect {
            url: code.sibling(Raw(format!("https://$host:{https_port}$request_uri"))),
            code,
        }
    };
    let facts = ListenFacts {
        http,
        https,
        https_params,
        http2,
    };
    (facts, redirect)
}

/// The TLS directives of one server, from its profile and the nginx and OpenSSL versions.
pub(super) fn tls(nginx: &Nginx, tls: &Tls, section: Section, facts: &mut Facts) -> TlsFacts {
    let at = |key: &str| section.at(&format!("tls/{key}"));
    let modern = tls.profile == TlsProfile::Modern;
    let name = if modern {
        "Mozilla's modern profile (guidelines 6.0)"
    } else {
        "Mozilla's intermediate profile (guidelines 6.0)"
    };
    let profile = |also: &str| {
        given_derived(
            &at("profile"),
            tls.profile == TlsProfile::default(),
            format!("{name}{also}"),
            format!(
                "{name}, the default of {}{also}",
                section.dotted("tls.profile")
            ),
        )
    };
    let (groups, groups_why) = if crate::versions::OpenSsl(&nginx.openssl).has_mlkem() {
        (
            "X25519MLKEM768:X25519:prime256v1:secp384r1",
            "X25519MLKEM768 from OpenSSL 3.5",
        )
    } else {
        (
            "X25519:prime256v1:secp384r1",
            "no X25519MLKEM768 before OpenSSL 3.5",
        )
    };
    let tickets_off = crate::versions::NginxVersion(&nginx.version).needs_session_tickets_off();
    TlsFacts {
        certificate: facts.add(
            "ssl_certificate",
            tls.certificate.as_str().to_owned(),
            Origin::spec(at("certificate")),
        ),
        certificate_key: facts.add(
            "ssl_certificate_key",
            tls.certificate_key.as_str().to_owned(),
            Origin::spec(at("certificate_key")),
        ),
        protocols: facts.add(
            "ssl_protocols",
            if modern {
                vec!["TLSv1.3"]
            } else {
                vec!["TLSv1.2", "TLSv1.3"]
            },
            profile(""),
        ),
        ciphers: (!modern).then(|| facts.add("ssl_ciphers", INTERMEDIATE_CIPHERS, profile(""))),
        prefer_server_ciphers: facts.add(
            "ssl_prefer_server_ciphers",
            "off",
            profile(": every cipher offered is strong, so the client picks the fastest for it"),
        ),
        groups: facts.add(
            "ssl_ecdh_curve",
            groups,
            Origin::version("/nginx/openssl", groups_why),
        ),
        session: (!modern).then(|| session(facts, &profile)),
        session_tickets: tickets_off.then(|| {
            facts.add(
                "ssl_session_tickets",
                "off",
                Origin::version("/nginx/version", "off for nginx 1.5.9 to 1.23.1"),
            )
        }),
        stapling: tls.ocsp_stapling.then(|| stapling(tls, section, facts)),
        hsts: hsts(tls, section, facts),
    }
}

/// TLS session resumption, as the intermediate profile has it.
pub(super) fn session(facts: &mut Facts, profile: &dyn Fn(&str) -> Origin) -> Session {
    Session {
        timeout: facts.add(
            "ssl_session_timeout",
            "1d",
            profile(": a client resumes its session for a day"),
        ),
        cache: facts.add(
            "ssl_session_cache",
            "shared:MozSSL:10m",
            profile(": 10MB shared by the workers, about 40,000 sessions"),
        ),
    }
}

pub(super) fn stapling(tls: &Tls, section: Section, facts: &mut Facts) -> Stapling {
    let at = |key: &str| section.at(&format!("tls/{key}"));
    let on = facts.add("ssl_stapling", "on", Origin::spec(at("ocsp_stapling")));
    Stapling {
        verify: facts.add(
            "ssl_stapling_verify",
            "on",
            Origin::derived(
                Some(&at("ocsp_stapling")),
                "a stapled response is verified before it is sent",
            ),
        ),
        on,
        trusted_certificate: tls.trusted_certificate.as_ref().map(|t| {
            facts.add(
                "ssl_trusted_certificate",
                t.as_str().to_owned(),
                Origin::spec(at("trusted_certificate")),
            )
        }),
        resolver: facts.add(
            "resolver",
            // nginx reads an IPv6 resolver address in brackets, as `[::1]`.
            tls.resolver
                .iter()
                .map(|a| match a.ip() {
                    std::net::IpAddr::V4(ip) => ip.to_string(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                })
                .collect(),
            Origin::spec(at("resolver")).because(
                "nginx looks up the OCSP responder through it; written only while stapling",
            ),
        ),
    }
}

pub(super) fn hsts(tls: &Tls, section: Section, facts: &mut Facts) -> Fact<String> {
    let header = tls.hsts.header();
    let is_default = header == crate::spec::Hsts::default().header();
    facts.add(
        "add_header",
        header,
        given_derived(
            &section.at("tls/hsts"),
            is_default,
            "HSTS, repeated where a location adds headers",
            format!(
                "HSTS for two years with subdomains, the default of {}; repeated where a location adds headers",
                section.dotted("tls.hsts")
            ),
        ),
    )
}

/// `server_tokens off;` in every http server: no nginx version in the Server header or error pages.
pub(super) fn server_tokens(facts: &mut Facts) -> Fact<&'static str> {
    facts.add(
        "server_tokens",
        "off",
        Origin::default("the Server header and error pages do not tell which nginx version runs"),
    )
}

pub(super) fn gzip(facts: &mut Facts) -> Gzip {
    Gzip {
        on: facts.add(
            "gzip",
            "on",
            Origin::default("text responses are compressed"),
        ),
        proxied: facts.add(
            "gzip_proxied",
            "any",
            Origin::default(
                "compressed for requests that came through a proxy too, which nginx leaves alone by default",
            ),
        ),
        types: facts.add(
            "gzip_types",
            vec![
                "text/plain",
                "text/css",
                "text/javascript",
                "application/javascript",
                "application/json",
                "application/xml",
                "image/svg+xml",
            ],
            Origin::default("the text types; application/json included, as CATMAID's documents ask"),
        ),
    }
}

/// The front of an HTTPS server: its redirect server, listen lines, name, TLS and compression.
pub(super) fn front(
    nginx: &Nginx,
    server_name: Fact<String>,
    listen_spec: &Listen,
    tls_spec: &Tls,
    section: Section,
    facts: &mut Facts,
) -> Front {
    let server_tokens = server_tokens(facts);
    let (listen, redirect) = listen(nginx, listen_spec, section, facts);
    Front {
        server_name,
        server_tokens,
        listen,
        redirect,
        tls: tls(nginx, tls_spec, section, facts),
        logs: None,
        gzip: gzip(facts),
    }
}

pub(super) fn error_level(level: ErrorLogLevel) -> &'static str {
    match level {
        ErrorLogLevel::Debug => "debug",
        ErrorLogLevel::Info => "info",
        ErrorLogLevel::Notice => "notice",
        ErrorLogLevel::Warn => "warn",
        ErrorLogLevel::Error => "error",
        ErrorLogLevel::Crit => "crit",
        ErrorLogLevel::Alert => "alert",
        ErrorLogLevel::Emerg => "emerg",
    }
}

pub(super) fn logs(https: &Https, facts: &mut Facts) -> Logs {
    let section = Section("https");
    let access = match https.access_log {
        AccessLog::Off => vec![facts.add(
            "access_log",
            "off",
            Origin::spec(section.at("access_log")).unless_written(
                "no access log, the default of nginx.https.access_log: the busiest sites gain the most",
            ),
        )],
        AccessLog::Buffered => {
            let origin = Origin::derived(
                Some(&section.at("access_log")),
                "buffered: written in 64k batches, at least every 5 minutes",
            );
            vec![
                facts.add(
                    "access_log",
                    "/var/log/nginx/access.log",
                    Origin::default("the log the distribution's logrotate rotates"),
                ),
                facts.add(
                    "access_log",
                    "combined",
                    Origin::default("nginx's own format, which log tools read"),
                ),
                facts.add("access_log", "buffer=64k", origin.clone()),
                facts.add("access_log", "flush=5m", origin),
            ]
        }
    };
    Logs {
        access,
        error_path: facts.add(
            "error_log",
            "/var/log/nginx/error.log",
            Origin::default("the log the distribution's logrotate rotates"),
        ),
        error_level: facts.add(
            "error_log",
            error_level(https.error_log_level),
            given(
                &section.at("error_log_level"),
                https.error_log_level == ErrorLogLevel::default(),
                "crit, the default of nginx.https.error_log_level",
            ),
        ),
    }
}
