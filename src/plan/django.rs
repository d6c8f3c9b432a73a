//! The Django settings module of the web hosts: production values behind the site's nginx, the
//! databases it uses, and secrets read at run time rather than written down. A web host that is
//! also a PostgreSQL replica gets CATMAID's read-only mirror settings. Every value the module
//! prints is a fact: the spec value it was written from, how it was derived, the Django version
//! rule that chose it, or the named default it is.

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::{Fact, Facts, FileMeta, Mode, OnChange, Origin, OriginKind, PlannedFile, Service};
use crate::escape::{PythonCode, TUPLE_MARK};
use crate::spec::{
    CacheBackend, Django, Email, Host, PythonValue, Role, SecretRef, SessionEngine, Site,
};
use crate::units::ByteSize;

/// The cache a read-only instance keeps its sessions in when the spec names none (seed 002).
const MIRROR_CACHE: &str = "127.0.0.1:11211";
/// The largest cached item of seed 002's mirror: 10MB.
const MIRROR_MAX_VALUE: u64 = 10 * 1024 * 1024;

#[derive(Serialize)]
struct SettingsContext<'a> {
    site: &'a str,
    host: &'a str,
    read_only: bool,
    base_module: Option<Fact<PythonCode>>,
    debug: Fact<bool>,
    allowed_hosts: Fact<Vec<String>>,
    csrf_trusted_origins: Option<Fact<Vec<String>>>,
    secret_key: Fact<PythonCode>,
    databases: Vec<Database>,
    tls: Option<Tls>,
    add_apps: Option<Fact<Vec<&'static str>>>,
    cache: Option<Cache>,
    settings: Vec<Setting<'a>>,
}

/// One connection of DATABASES: its alias, and its entries in the order the module lists them.
#[derive(Serialize)]
struct Database {
    why: &'static str,
    alias: Fact<String>,
    entries: Vec<Entry<'static>>,
}

/// `"KEY": value` in a dict the module writes.
#[derive(Serialize)]
struct Entry<'a> {
    key: &'static str,
    value: Fact<Py<'a>>,
}

/// The settings of a site served through nginx's TLS.
#[derive(Serialize)]
struct Tls {
    proxy_ssl_header: Fact<Tuple<[&'static str; 2]>>,
    ssl_redirect: Fact<bool>,
    session_cookie_secure: Fact<bool>,
    csrf_cookie_secure: Fact<bool>,
    hsts_seconds: Fact<u64>,
    hsts_subdomains: Fact<bool>,
    hsts_preload: Fact<bool>,
    referrer_policy: Fact<&'static str>,
    content_type_nosniff: Fact<bool>,
    frame_options: Fact<&'static str>,
    silenced: Vec<Silenced>,
}

/// A deploy check silenced because the spec chose what it flags on purpose.
#[derive(Serialize)]
struct Silenced {
    id: Fact<&'static str>,
    why: &'static str,
}

/// CACHES["default"]: each part a fact, since the backend's name is the Django version's and the
/// location the spec's.
#[derive(Serialize)]
struct Cache {
    backend: Fact<&'static str>,
    location: Option<Fact<String>>,
    options: Option<Fact<BTreeMap<&'static str, u64>>>,
}

/// `NAME = value` at the end of the module.
#[derive(Serialize)]
struct Setting<'a> {
    name: &'a str,
    value: Fact<Py<'a>>,
}

/// A value the module writes, as the Python writer reads it.
#[derive(Serialize)]
#[serde(untagged)]
enum Py<'a> {
    Bool(bool),
    Int(u64),
    Text(String),
    Code(PythonCode),
    Dict(BTreeMap<&'static str, String>),
    Logging(Logging),
    Literal(Literal<'a>),
}

/// LOGGING: everything at WARNING and above to stderr.
#[derive(Serialize)]
struct Logging {
    disable_existing_loggers: bool,
    handlers: BTreeMap<&'static str, BTreeMap<&'static str, &'static str>>,
    root: LoggingRoot,
    version: u32,
}

#[derive(Serialize)]
struct LoggingRoot {
    handlers: [&'static str; 1],
    level: &'static str,
}

/// A Python tuple: minijinja has none, so a one-key map the Python writer writes as one.
struct Tuple<T>(T);

impl<T: Serialize> Serialize for Tuple<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(TUPLE_MARK, &self.0)?;
        map.end()
    }
}

/// A spec's Python value, its tuples marked for the Python writer.
struct Literal<'a>(&'a PythonValue);

impl Serialize for Literal<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            PythonValue::None(()) => serializer.serialize_none(),
            PythonValue::Bool(b) => serializer.serialize_bool(*b),
            PythonValue::Int(i) => serializer.serialize_i64(*i),
            PythonValue::Float(f) => serializer.serialize_f64(*f),
            PythonValue::Text(t) => serializer.serialize_str(t),
            PythonValue::List(items) => serializer.collect_seq(items.iter().map(Literal)),
            PythonValue::Tuple(tuple) => {
                Tuple(tuple.tuple.iter().map(Literal).collect::<Vec<_>>()).serialize(serializer)
            }
            PythonValue::Dict(map) => {
                serializer.collect_map(map.iter().map(|(k, v)| (k, Literal(v))))
            }
        }
    }
}

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let (Some(django), true) = (&site.django, host.has(Role::Web)) else {
        return Vec::new();
    };
    let mut facts = Facts::default();
    let context = context(&Module::new(site, django, host), &mut facts);
    vec![PlannedFile::new(
        &host.name,
        django.settings_file.to_string(),
        "django/settings.py",
        &context,
        facts,
        FileMeta::new(Mode::PUBLIC, "root", Service::Django, OnChange::Restart),
    )]
}

/// A setting the module writes itself: the spec value that decides it, how, and whether `extra`
/// may replace it.
pub struct Written {
    /// The setting's name.
    pub(crate) name: &'static str,
    /// What kind of origin `explain` gives it.
    pub(crate) kind: OriginKind,
    /// The pointer of the spec value that decides it, if one does.
    pub(crate) spec: Option<&'static str>,
    /// How it is derived, or why it is the default, as `explain` says it.
    pub(crate) why: Option<&'static str>,
    /// Whether `extra` may set it: check's DJ009 says why not.
    pub(crate) refused: Refused,
}

/// Why `extra` may not set a setting the module writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A typed field decides it (the `spec` pointer), for this reason.
    Field(&'static str),
    /// The site decides it, for this reason: there is nothing to set.
    Site(&'static str),
    /// `extra` may replace it.
    No,
}

/// SECURE_PROXY_SSL_HEADER behind nginx.https: the header nginx overwrites on every request, and
/// the value it writes there for HTTPS.
pub(crate) const PROXY_SSL_HEADER: (&str, &str) = ("HTTP_X_FORWARDED_PROTO", "https");

const TLS_REFUSED: &str = "the site is served over nginx's TLS, and this is what `manage.py check --deploy` asks of such a site";
const HSTS: &str = "as nginx sends it";
const HSTS_REFUSED: &str = "so that Django says what nginx's Strict-Transport-Security header says";
const MIRROR: &str = "a read-only instance (seed 002)";

/// A setting the site decides, the same on every site served over TLS.
const fn tls_default(name: &'static str, why: &'static str) -> Written {
    Written {
        name,
        kind: OriginKind::Default,
        spec: None,
        why: Some(why),
        refused: Refused::Site(TLS_REFUSED),
    }
}

/// Every top-level setting the module writes, in one place: the plan takes each one's origin
/// from here, and `check` refuses an `extra` that would replace one the spec or the site decides.
pub(crate) const WRITTEN: &[Written] = &[
    Written {
        name: "DEBUG",
        kind: OriginKind::Default,
        spec: None,
        why: Some(
            "a production site: DEBUG shows code and settings to anyone who causes an error (security.W018)",
        ),
        refused: Refused::Site(
            "False on a production site, since DEBUG shows code and settings to anyone who causes an error",
        ),
    },
    Written {
        name: "ALLOWED_HOSTS",
        kind: OriginKind::Derived,
        spec: Some("/django/allowed_hosts"),
        why: Some("and the server names nginx serves"),
        refused: Refused::Field(
            "with the server names nginx serves the application under always added",
        ),
    },
    Written {
        name: "CSRF_TRUSTED_ORIGINS",
        kind: OriginKind::Derived,
        spec: Some("/nginx/https/server_name"),
        why: Some("https and the server names"),
        refused: Refused::Site(
            "https:// and the server name nginx serves the application under, with its port",
        ),
    },
    Written {
        name: "SECRET_KEY",
        kind: OriginKind::Spec,
        spec: Some("/django/secret_key"),
        why: Some("read when Django starts"),
        refused: Refused::Field("so that the secret is read at run time and never written down"),
    },
    Written {
        name: "DATABASES",
        kind: OriginKind::Derived,
        spec: Some("/django/database"),
        why: Some("the primary or this host's replica, and the replicas named"),
        refused: Refused::Field(
            "so that the password is read at run time and the hosts and ports are the site's",
        ),
    },
    Written {
        name: "SECURE_PROXY_SSL_HEADER",
        kind: OriginKind::Derived,
        spec: Some("/nginx/https"),
        why: Some("nginx overwrites X-Forwarded-Proto"),
        refused: Refused::Site(
            "(\"HTTP_X_FORWARDED_PROTO\", \"https\") exactly behind nginx.https, which overwrites X-Forwarded-Proto on every request (a client can forge any other header, and another value makes Django redirect forever), and none without it, where nothing overwrites a header",
        ),
    },
    tls_default(
        "SECURE_SSL_REDIRECT",
        "served over TLS: a plain-HTTP request is redirected to HTTPS (security.W008)",
    ),
    tls_default(
        "SESSION_COOKIE_SECURE",
        "served over TLS: the session cookie goes over HTTPS only (security.W012)",
    ),
    tls_default(
        "CSRF_COOKIE_SECURE",
        "served over TLS: the CSRF cookie goes over HTTPS only (security.W016)",
    ),
    Written {
        name: "SECURE_HSTS_SECONDS",
        kind: OriginKind::Derived,
        spec: Some("/nginx/https/tls/hsts/max_age"),
        why: Some("in seconds, as nginx sends it"),
        refused: Refused::Field(HSTS_REFUSED),
    },
    Written {
        name: "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        kind: OriginKind::Spec,
        spec: Some("/nginx/https/tls/hsts/include_subdomains"),
        why: Some(HSTS),
        refused: Refused::Field(HSTS_REFUSED),
    },
    Written {
        name: "SECURE_HSTS_PRELOAD",
        kind: OriginKind::Spec,
        spec: Some("/nginx/https/tls/hsts/preload"),
        why: Some(HSTS),
        refused: Refused::Field(HSTS_REFUSED),
    },
    tls_default(
        "SECURE_REFERRER_POLICY",
        "same-origin: another site is not told which of the site's pages linked to it (security.W022)",
    ),
    tls_default(
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "browsers take a response's content type as sent, never guess another (security.W006)",
    ),
    tls_default(
        "X_FRAME_OPTIONS",
        "DENY: no other site may frame the site's pages, so none can trick a click on them (security.W019)",
    ),
    Written {
        name: "SILENCED_SYSTEM_CHECKS",
        kind: OriginKind::Derived,
        spec: Some("/nginx/https/tls/hsts"),
        why: Some("the deploy checks of HSTS choices the spec made on purpose"),
        refused: Refused::Field(
            "which silences only the deploy checks of the HSTS choices made there on purpose, so that `check --deploy` still speaks of everything else",
        ),
    },
    Written {
        name: "CACHES",
        kind: OriginKind::Spec,
        spec: Some("/django/cache"),
        why: None,
        refused: Refused::Field("with the backend's name as the Django version knows it"),
    },
    Written {
        name: "SESSION_ENGINE",
        kind: OriginKind::Spec,
        spec: Some("/django/session_engine"),
        why: None,
        refused: Refused::Field(
            "as db, cache, cached_db, file or signed_cookies (cache by default on a read-only instance)",
        ),
    },
    Written {
        name: "EMAIL_BACKEND",
        kind: OriginKind::Spec,
        spec: Some("/django/email"),
        why: None,
        refused: Refused::Field(
            "as `dummy` or `smtp: HOST:PORT` (dummy by default on a read-only instance)",
        ),
    },
    Written {
        name: "EMAIL_HOST",
        kind: OriginKind::Derived,
        spec: Some("/django/email"),
        why: Some("the SMTP server"),
        refused: Refused::Field("as `smtp: HOST:PORT`"),
    },
    Written {
        name: "EMAIL_PORT",
        kind: OriginKind::Derived,
        spec: Some("/django/email"),
        why: Some("the SMTP server"),
        refused: Refused::Field("as `smtp: HOST:PORT`"),
    },
    Written {
        name: "LOGGING",
        kind: OriginKind::Default,
        spec: None,
        why: Some("WARNING and above to stderr, which the service manager keeps"),
        refused: Refused::No,
    },
    Written {
        name: "NO_UPDATE_LAST_LOGIN",
        kind: OriginKind::Derived,
        spec: None,
        why: Some("a login writes nothing"),
        refused: Refused::No,
    },
    Written {
        name: "INSTALLED_APPS",
        kind: OriginKind::Derived,
        spec: None,
        why: Some("nolastlogin keeps a login from writing its time"),
        refused: Refused::No,
    },
];

/// The setting of the module named `name`, if the module writes it.
pub fn written(name: &str) -> Option<&'static Written> {
    WRITTEN.iter().find(|w| w.name == name)
}

/// The origin the table gives the setting `name`.
fn origin(name: &str) -> Origin {
    let w = written(name).expect("the module writes only the settings of WRITTEN");
    Origin {
        kind: w.kind,
        spec: w.spec.map(str::to_owned),
        why: w.why.map(str::to_owned),
        unless_written: None,
    }
}

/// A read-only instance: Django on a host whose PostgreSQL is a replica.
pub(crate) fn read_only(host: &Host) -> bool {
    host.has(Role::Web) && host.has(Role::PostgresReplica)
}

/// The module of one host, and what its facts point at.
struct Module<'a> {
    site: &'a Site,
    django: &'a Django,
    host: &'a Host,
    mirror: bool,
}

impl<'a> Module<'a> {
    fn new(site: &'a Site, django: &'a Django, host: &'a Host) -> Self {
        Self {
            site,
            django,
            host,
            mirror: read_only(host),
        }
    }

    /// The pointer of `field` of `host` in the spec's host list.
    fn host_pointer(&self, host: &Host, field: &str) -> String {
        let index = self
            .site
            .hosts
            .iter()
            .position(|h| h.name == host.name)
            .unwrap_or(0);
        format!("/hosts/{index}/{field}")
    }

    /// The origin of what a read-only instance sets for `why`: this host's roles.
    fn mirror(&self, why: &str) -> Origin {
        Origin::derived(
            Some(&self.host_pointer(self.host, "roles")),
            format!("{MIRROR}: {why}"),
        )
    }

    /// The origin of a setting only a read-only instance has, for the table's reason.
    fn mirror_only(&self, name: &str) -> Origin {
        self.mirror(written(name).and_then(|w| w.why).unwrap_or_default())
    }

    /// The setting `name` as the table says it is written, or as a read-only instance sets it.
    fn origin_or_mirror(&self, name: &str, spec_gives: bool, why: &str) -> Origin {
        if spec_gives || !self.mirror {
            origin(name)
        } else {
            self.mirror(why)
        }
    }
}

fn context<'a>(m: &Module<'a>, facts: &mut Facts) -> SettingsContext<'a> {
    let (site, django, host) = (m.site, m.django, m.host);
    let https = site.nginx.as_ref().and_then(|n| n.https.as_ref());
    let server_name = match (&host.server_name, https) {
        (Some(name), _) => Some((name.clone(), m.host_pointer(host, "server_name"))),
        (None, Some(h)) => Some((h.server_name.clone(), "/nginx/https/server_name".to_owned())),
        (None, None) => None,
    };
    let mut allowed: Vec<String> = server_name.iter().map(|(name, _)| name.clone()).collect();
    for name in &django.allowed_hosts {
        if !allowed.contains(&name.0) {
            allowed.push(name.0.clone());
        }
    }
    let allowed_origin = match (&server_name, django.allowed_hosts.is_empty()) {
        (Some((_, pointer)), true) => {
            Origin::derived(Some(pointer), "the server name nginx serves")
        }
        _ => origin("ALLOWED_HOSTS"),
    };
    let csrf_trusted_origins = match (&server_name, https) {
        (Some((name, pointer)), Some(h)) => {
            let text = if h.listen.port.0 == 443 {
                format!("https://{name}")
            } else {
                format!("https://{name}:{}", h.listen.port)
            };
            let why = "https and the server name nginx serves, with its port";
            Some(facts.add(
                "CSRF_TRUSTED_ORIGINS",
                vec![text],
                Origin::derived(Some(pointer), why),
            ))
        }
        _ => None,
    };
    SettingsContext {
        site: &site.site,
        host: host.name.as_str(),
        read_only: m.mirror,
        base_module: django.base_module.as_ref().map(|module| {
            facts.add(
                "from",
                PythonCode::Name(module.as_str().to_owned()),
                Origin::spec("/django/base_module"),
            )
        }),
        debug: facts.add("DEBUG", false, origin("DEBUG")),
        allowed_hosts: facts.add("ALLOWED_HOSTS", allowed, allowed_origin),
        csrf_trusted_origins,
        secret_key: facts.add(
            "SECRET_KEY",
            runtime_read(&django.secret_key),
            origin("SECRET_KEY"),
        ),
        databases: databases(m, facts),
        tls: https.map(|h| tls(&h.tls.hsts, facts)),
        add_apps: m.mirror.then(|| {
            facts.add(
                "INSTALLED_APPS",
                vec!["nolastlogin"],
                m.mirror_only("INSTALLED_APPS"),
            )
        }),
        cache: cache(m, facts),
        settings: settings(m, facts),
    }
}

/// How the settings module reads a secret when Django starts: the plan picks the code, and the
/// Python writer quotes the variable's name or the file's path inside it.
fn runtime_read(secret: &SecretRef) -> PythonCode {
    match secret {
        SecretRef::Env(name) => PythonCode::Around {
            before: "os.environ[",
            text: name.clone(),
            after: "]",
        },
        SecretRef::File(path) => PythonCode::Around {
            before: "_secret_file(",
            text: path.as_str().to_owned(),
            after: ")",
        },
    }
}

/// The settings of a site served over nginx's TLS, HSTS as nginx sends it.
fn tls(hsts: &crate::spec::Hsts, facts: &mut Facts) -> Tls {
    let mut named = |name: &str, value: bool| facts.add(name, value, origin(name));
    let ssl_redirect = named("SECURE_SSL_REDIRECT", true);
    let session_cookie_secure = named("SESSION_COOKIE_SECURE", true);
    let csrf_cookie_secure = named("CSRF_COOKIE_SECURE", true);
    let hsts_subdomains = named("SECURE_HSTS_INCLUDE_SUBDOMAINS", hsts.include_subdomains);
    let hsts_preload = named("SECURE_HSTS_PRELOAD", hsts.preload);
    let content_type_nosniff = named("SECURE_CONTENT_TYPE_NOSNIFF", true);
    Tls {
        proxy_ssl_header: facts.add(
            "SECURE_PROXY_SSL_HEADER",
            Tuple([PROXY_SSL_HEADER.0, PROXY_SSL_HEADER.1]),
            origin("SECURE_PROXY_SSL_HEADER"),
        ),
        ssl_redirect,
        session_cookie_secure,
        csrf_cookie_secure,
        hsts_seconds: facts.add(
            "SECURE_HSTS_SECONDS",
            hsts.max_age.whole_secs().unwrap_or(0),
            origin("SECURE_HSTS_SECONDS"),
        ),
        hsts_subdomains,
        hsts_preload,
        referrer_policy: facts.add(
            "SECURE_REFERRER_POLICY",
            "same-origin",
            origin("SECURE_REFERRER_POLICY"),
        ),
        content_type_nosniff,
        frame_options: facts.add("X_FRAME_OPTIONS", "DENY", origin("X_FRAME_OPTIONS")),
        silenced: silenced_checks(hsts, facts),
    }
}

/// The deploy checks that would flag what the spec chose on purpose: each names the spec value
/// that decided it, so `check --deploy` speaks only of what nobody chose.
fn silenced_checks(hsts: &crate::spec::Hsts, facts: &mut Facts) -> Vec<Silenced> {
    let mut out = Vec::new();
    let mut silence = |id: &'static str, field: &str, why: &'static str| {
        let origin = Origin::spec(format!("/nginx/https/tls/hsts/{field}")).because(why);
        out.push(Silenced {
            id: facts.add("SILENCED_SYSTEM_CHECKS", id, origin),
            why,
        });
    };
    if !hsts.preload {
        silence(
            "security.W021",
            "preload",
            "tls.hsts.preload is off: a preload list entry is hard to undo, so only when asked",
        );
    }
    if !hsts.include_subdomains {
        silence(
            "security.W005",
            "include_subdomains",
            "tls.hsts.include_subdomains is off: not every subdomain serves HTTPS",
        );
    }
    out
}

fn session_engine(engine: SessionEngine) -> &'static str {
    match engine {
        SessionEngine::Db => "django.contrib.sessions.backends.db",
        SessionEngine::Cache => "django.contrib.sessions.backends.cache",
        SessionEngine::CachedDb => "django.contrib.sessions.backends.cached_db",
        SessionEngine::File => "django.contrib.sessions.backends.file",
        SessionEngine::SignedCookies => "django.contrib.sessions.backends.signed_cookies",
    }
}

/// The settings after CACHES, in the order the module writes them; `extra` last, so that
/// Python takes its value for a setting `extra` may replace.
fn settings<'a>(m: &Module<'a>, facts: &mut Facts) -> Vec<Setting<'a>> {
    let django = m.django;
    let mut out = Vec::new();
    let mut add = |name: &'a str, value: Py<'a>, origin: Origin| {
        let value = facts.add(name, value, origin);
        out.push(Setting { name, value });
    };
    let engine = django
        .session_engine
        .or(m.mirror.then_some(SessionEngine::Cache));
    if let Some(engine) = engine {
        let origin = m.origin_or_mirror(
            "SESSION_ENGINE",
            django.session_engine.is_some(),
            "sessions in the cache, since the database takes no writes",
        );
        add(
            "SESSION_ENGINE",
            Py::Text(session_engine(engine).to_owned()),
            origin,
        );
    }
    match (&django.email, m.mirror) {
        (Some(Email::Smtp(server)), _) => {
            let (host, port) = server
                .as_str()
                .rsplit_once(':')
                .expect("a socket address has a port");
            let backend = "django.core.mail.backends.smtp.EmailBackend";
            add(
                "EMAIL_BACKEND",
                Py::Text(backend.to_owned()),
                origin("EMAIL_BACKEND"),
            );
            let host = host.trim_start_matches('[').trim_end_matches(']');
            add(
                "EMAIL_HOST",
                Py::Text(host.to_owned()),
                origin("EMAIL_HOST"),
            );
            let port = port.parse::<u16>().unwrap_or(25);
            add("EMAIL_PORT", Py::Int(port.into()), origin("EMAIL_PORT"));
        }
        (Some(Email::Dummy), _) | (None, true) => {
            let origin = m.origin_or_mirror("EMAIL_BACKEND", django.email.is_some(), "no mail");
            let backend = "django.core.mail.backends.dummy.EmailBackend";
            add("EMAIL_BACKEND", Py::Text(backend.to_owned()), origin);
        }
        (None, false) => {}
    }
    add("LOGGING", Py::Logging(logging()), origin("LOGGING"));
    if m.mirror {
        let origin = m.mirror_only("NO_UPDATE_LAST_LOGIN");
        add("NO_UPDATE_LAST_LOGIN", Py::Bool(true), origin);
    }
    for (name, value) in &django.extra {
        let origin = Origin::spec(format!("/django/extra/{name}"));
        let value = match value {
            // A fact whose value is none is no fact to a template, so None is written as code.
            PythonValue::None(()) => Py::Code(PythonCode::Name("None".to_owned())),
            value => Py::Literal(Literal(value)),
        };
        add(name, value, origin);
    }
    out
}

/// CACHES, with the backend's name as the spec's Django version knows it.
fn cache(m: &Module, facts: &mut Facts) -> Option<Cache> {
    let django = m.django;
    let (backend, location, max_value, given) = match &django.cache {
        Some(cache) => (
            cache.backend,
            cache.location.as_ref().map(|l| l.as_str().to_owned()),
            cache.max_value_length,
            true,
        ),
        None if m.mirror => (
            CacheBackend::Memcached,
            Some(MIRROR_CACHE.to_owned()),
            Some(ByteSize::from_bytes(MIRROR_MAX_VALUE)),
            false,
        ),
        None => return None,
    };
    let memcached_cache = !crate::versions::DjangoRelease(&django.version).has_pymemcache();
    let (name, why) = match backend {
        CacheBackend::Memcached if memcached_cache => (
            "django.core.cache.backends.memcached.MemcachedCache",
            "MemcachedCache before Django 4.1, which removed it",
        ),
        CacheBackend::Memcached => (
            "django.core.cache.backends.memcached.PyMemcacheCache",
            "PyMemcacheCache from Django 4.1, which removed MemcachedCache",
        ),
        CacheBackend::Redis => (
            "django.core.cache.backends.redis.RedisCache",
            "RedisCache, Django's own from 4.0",
        ),
        CacheBackend::Locmem => (
            "django.core.cache.backends.locmem.LocMemCache",
            "LocMemCache, each process's own memory",
        ),
    };
    let backend_origin = match backend {
        CacheBackend::Memcached => Origin::version("/django/version", why),
        _ => Origin::derived(Some("/django/cache/backend"), why),
    };
    let location = location
        .filter(|_| backend != CacheBackend::Locmem)
        .map(|location| {
            let (location, origin) = match (backend, given) {
                (CacheBackend::Redis, _) => (
                    format!("redis://{location}"),
                    Origin::derived(Some("/django/cache/location"), "as a redis:// URL"),
                ),
                (_, true) => (location, Origin::spec("/django/cache/location")),
                (_, false) => (location, m.mirror("sessions in the local memcached")),
            };
            facts.add("CACHES", location, origin)
        });
    let options = match (backend, memcached_cache, max_value) {
        (CacheBackend::Memcached, true, Some(max)) => {
            let origin = if given {
                Origin::derived(
                    Some("/django/cache/max_value_length"),
                    "in bytes: MemcachedCache's own limit, before Django 4.1",
                )
            } else {
                m.mirror("memcached's largest item, 10MB, as MemcachedCache's client limit")
            };
            let value = BTreeMap::from([("server_max_value_length", max.bytes())]);
            Some(facts.add("CACHES", value, origin))
        }
        _ => None,
    };
    Some(Cache {
        backend: facts.add("CACHES", name, backend_origin),
        location,
        options,
    })
}

fn logging() -> Logging {
    Logging {
        disable_existing_loggers: false,
        handlers: BTreeMap::from([(
            "stderr",
            BTreeMap::from([("class", "logging.StreamHandler")]),
        )]),
        root: LoggingRoot {
            handlers: ["stderr"],
            level: "WARNING",
        },
        version: 1,
    }
}

/// DATABASES: the default connection, and the replicas the spec names under their host names.
fn databases(m: &Module, facts: &mut Facts) -> Vec<Database> {
    let Some(pg) = m.site.postgres.as_ref() else {
        return Vec::new();
    };
    targets(m.site, m.django, m.host)
        .into_iter()
        .enumerate()
        .map(|(i, (alias, target, why))| {
            let origin = match i.checked_sub(1) {
                Some(replica) => {
                    Origin::spec(format!("/django/database/replicas/{replica}")).because(why)
                }
                None if m.django.database.host.is_some() && !m.mirror => {
                    Origin::spec("/django/database/host").because(why)
                }
                None => Origin::derived(Some(&m.host_pointer(target, "roles")), why),
            };
            let pooled = i == 0 && m.django.database.pgbouncer && !m.mirror;
            Database {
                why: if pooled {
                    "the primary, through PgBouncer"
                } else {
                    why
                },
                alias: facts.add("DATABASES", alias.to_owned(), origin),
                entries: entries(m, pg, target, pooled, facts),
            }
        })
        .collect()
}

/// The entries of one connection of DATABASES, to `target`.
fn entries(
    m: &Module,
    pg: &crate::spec::Postgres,
    target: &Host,
    pooled: bool,
    facts: &mut Facts,
) -> Vec<Entry<'static>> {
    let db = &m.django.database;
    let local = target.name == m.host.name;
    let mut out = Vec::new();
    let mut add = |key: &'static str, value: Py<'static>, origin: Origin| {
        let value = facts.add(key, value, origin);
        out.push(Entry { key, value });
    };
    add(
        "ENGINE",
        Py::Text("django.db.backends.postgresql".to_owned()),
        Origin::default("the site's database is PostgreSQL"),
    );
    add(
        "NAME",
        Py::Text(db.name.to_string()),
        Origin::spec("/django/database/name"),
    );
    add(
        "USER",
        Py::Text(db.user.to_string()),
        Origin::spec("/django/database/user"),
    );
    add(
        "PASSWORD",
        Py::Code(runtime_read(&db.password)),
        Origin::spec("/django/database/password").because("read when Django starts"),
    );
    if let (true, Some(pgb)) = (pooled, &m.site.pgbouncer) {
        pgbouncer_entries(m, pgb, &mut add);
        return out;
    }
    let (address, origin) = if local {
        let why = "this host's own server, over loopback";
        ("127.0.0.1".to_owned(), Origin::derived(None, why))
    } else {
        let pointer = m.host_pointer(target, "address");
        let why = if target.has(Role::PostgresPrimary) {
            "the primary's address"
        } else {
            "the replica's address"
        };
        (
            target.address.to_string(),
            Origin::derived(Some(&pointer), why),
        )
    };
    add("HOST", Py::Text(address), origin);
    let forwarded = pg
        .replication
        .as_ref()
        .and_then(|r| r.public_port)
        .filter(|_| target.has(Role::PostgresPrimary) && !local);
    let (port, origin) = match forwarded {
        Some(port) => (
            port,
            Origin::derived(
                Some("/postgres/replication/public_port"),
                "nginx's port forwarded to the primary",
            ),
        ),
        None => (
            pg.port,
            Origin::spec("/postgres/port").because("the server's own port"),
        ),
    };
    add("PORT", Py::Int(port.0.into()), origin);
    let conn_max_age = db.conn_max_age.and_then(|d| d.whole_secs());
    if let Some(age) = conn_max_age {
        let origin = Origin::derived(Some("/django/database/conn_max_age"), "in seconds");
        add("CONN_MAX_AGE", Py::Int(age), origin);
    }
    if crate::versions::DjangoRelease(&m.django.version).has_health_checks()
        && conn_max_age.is_some_and(|a| a > 0)
    {
        let why =
            "from Django 4.1, with persistent connections: a reused connection is tested first";
        add(
            "CONN_HEALTH_CHECKS",
            Py::Bool(true),
            Origin::version("/django/version", why),
        );
    }
    if let Some(tls) = super::postgres::client_tls(pg).filter(|_| !local) {
        let mut options = BTreeMap::from([("sslmode", tls.sslmode.to_owned())]);
        let origin = match tls.sslrootcert {
            Some(ca) => {
                options.insert("sslrootcert", ca.to_owned());
                Origin::derived(
                    Some("/postgres/ssl/ca"),
                    "SSL to a remote database, its certificate verified against the CA",
                )
            }
            None => Origin::derived(Some("/postgres/ssl"), "SSL to a remote database"),
        };
        add("OPTIONS", Py::Dict(options), origin);
    }
    out
}

/// HOST, PORT and the rest of the default connection when it goes through PgBouncer: on this
/// host when it runs PgBouncer, else on the first host that does.
fn pgbouncer_entries(
    m: &Module,
    pgb: &crate::spec::Pgbouncer,
    add: &mut impl FnMut(&'static str, Py<'static>, Origin),
) {
    let own = pgb.hosts.iter().position(|h| *h == m.host.name);
    let (index, why) = match own {
        Some(i) => (i, "PgBouncer on this host"),
        None => (0, "the first host that runs PgBouncer"),
    };
    let pooler = m
        .site
        .host(pgb.hosts[index].as_str())
        .expect("check: PgBouncer's hosts are the site's");
    add(
        "HOST",
        Py::Text(pooler.address.to_string()),
        Origin::derived(
            Some(&m.host_pointer(pooler, "address")),
            format!("{why}, at its address"),
        ),
    );
    add(
        "PORT",
        Py::Int(pgb.port.0.into()),
        Origin::spec("/pgbouncer/port").because("PgBouncer's port"),
    );
    let conn_max_age = m.django.database.conn_max_age.and_then(|d| d.whole_secs());
    if let Some(age) = conn_max_age {
        let origin = Origin::derived(Some("/django/database/conn_max_age"), "in seconds");
        add("CONN_MAX_AGE", Py::Int(age), origin);
    }
    if pgb.pool_mode != crate::spec::PoolMode::Session {
        add(
            "DISABLE_SERVER_SIDE_CURSORS",
            Py::Bool(true),
            Origin::derived(
                Some("/pgbouncer/pool_mode"),
                "a server-side cursor does not outlive the transaction PgBouncer pools by",
            ),
        );
    }
    if let Some(tls) = &pgb.tls {
        let mut options = BTreeMap::from([("sslmode", "require".to_owned())]);
        let origin = match &tls.ca {
            Some(ca) => {
                options.insert("sslmode", "verify-full".to_owned());
                options.insert("sslrootcert", ca.to_string());
                Origin::derived(
                    Some("/pgbouncer/tls/ca"),
                    "TLS to PgBouncer, its certificate verified against the CA",
                )
            }
            None => Origin::derived(
                Some("/pgbouncer/tls"),
                "TLS to PgBouncer, which requires it",
            ),
        };
        add("OPTIONS", Py::Dict(options), origin);
    }
}

/// The servers Django on `host` connects to, as (alias, host, why): the default database, then
/// the replicas the spec names.
pub(crate) fn targets<'a>(
    site: &'a Site,
    django: &'a Django,
    host: &'a Host,
) -> Vec<(&'a str, &'a Host, &'static str)> {
    let db = &django.database;
    let primary = site.hosts_with(Role::PostgresPrimary).next();
    let default = if read_only(host) {
        Some((
            "default",
            host,
            "this host's own replica: the instance is read-only",
        ))
    } else {
        db.host
            .as_ref()
            .and_then(|name| site.host(name.as_str()))
            .or(primary)
            .map(|target| ("default", target, "the primary"))
    };
    let mut out: Vec<_> = default.into_iter().collect();
    for name in &db.replicas {
        if let Some(replica) = site.host(name.as_str()) {
            out.push((
                name.as_str(),
                replica,
                "a read-only replica, for a database router",
            ));
        }
    }
    out
}
