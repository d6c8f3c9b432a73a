//! nginx files: the stream forward to PostgreSQL on the primary, the HTTPS front end of the web
//! hosts and the caching proxy of the proxy hosts, each in the form that the spec's nginx and
//! OpenSSL versions accept, and each placed where the distribution's nginx.conf includes it.
//!
//! Every value the templates print is a [`Fact`] recorded here with its origin, the constants
//! sitewright chooses for every site among them, so the templates lay text out and decide nothing.

use serde::{Serialize, Serializer};

use super::{Fact, Facts, FileMeta, Mode, NginxLevel, OnChange, Origin, PlannedFile, Service};
use crate::spec::{Host, NginxLayout, Role, Site};

mod cache;
mod extra;

pub(crate) use extra::{LocationKind, Place, written_at};
mod front;
mod https;
mod proxy;
mod stream;

use cache::cache_context;
use https::https_context;
use stream::{ModuleContext, StreamContext, stream_forwards};

/// Where a distribution's nginx.conf looks for files, and where sitewright puts each kind.
struct Layout {
    /// Included at main level before events/http: the load_module line.
    module_file: &'static str,
    /// The stream module, as that load_module line names it.
    module: &'static str,
    /// The one `stream {}` block; nginx.conf includes it at main level.
    stream_file: &'static str,
    /// Included inside http {}.
    http_dir: &'static str,
}

fn layout(kind: NginxLayout) -> Layout {
    match kind {
        // The file libnginx-mod-stream installs, so the module is never loaded twice.
        NginxLayout::Debian => Layout {
            module_file: "/etc/nginx/modules-enabled/50-mod-stream.conf",
            module: "modules/ngx_stream_module.so",
            stream_file: "/etc/nginx/sitewright-stream.conf",
            http_dir: "/etc/nginx/conf.d",
        },
        // The file nginx-mod-stream installs, for the same reason.
        NginxLayout::Rhel => Layout {
            module_file: "/usr/share/nginx/modules/mod-stream.conf",
            module: "/usr/lib64/nginx/modules/ngx_stream_module.so",
            stream_file: "/etc/nginx/sitewright-stream.conf",
            http_dir: "/etc/nginx/conf.d",
        },
    }
}

/// nginx text that names variables (`$host`), written as it is. The nginx format refuses `$` in a
/// value so that no spec value can name a variable; this text is sitewright's own, and the only
/// spec text in it is the site's name, which the schema keeps to letters, digits and `-` (`_` here).
#[derive(Debug, Clone)]
struct Raw(String);

impl Raw {
    fn var(name: &str) -> Self {
        Self(format!("${name}"))
    }
}

impl Serialize for Raw {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        minijinja::Value::from_safe_string(self.0.clone()).serialize(serializer)
    }
}

/// A directive's argument: text escaped as the nginx format escapes spec values, or sitewright's
/// own text with variables in it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
enum Arg {
    Text(String),
    Raw(Raw),
}

/// The origin of a value the spec may leave out. The plan sees the spec with its defaults filled
/// in; a value equal to its default carries the default's reason, which `explain` gives when the
/// spec does not hold the value (a left-out value has no line of its own, and the nearest line
/// the spec does have is a neighbour's: `access_log off;` was once credited to `server_name`),
/// while a default written out in the spec is credited to its line.
fn given(pointer: &str, is_default: bool, default_why: impl Into<String>) -> Origin {
    let origin = Origin::spec(pointer);
    if is_default {
        origin.unless_written(default_why)
    } else {
        origin
    }
}

/// [`given`], for a value worked out from the one at `pointer`.
fn given_derived(
    pointer: &str,
    is_default: bool,
    why: impl Into<String>,
    default_why: impl Into<String>,
) -> Origin {
    let origin = Origin::derived(Some(pointer), why);
    if is_default {
        origin.unless_written(default_why)
    } else {
        origin
    }
}

/// The section of the spec a server comes from: `https` or `cache_proxy`.
#[derive(Clone, Copy)]
struct Section(&'static str);

impl Section {
    fn at(self, key: &str) -> String {
        format!("/nginx/{}/{key}", self.0)
    }

    fn dotted(self, key: &str) -> String {
        format!("nginx.{}.{key}", self.0)
    }
}

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let Some(nginx) = &site.nginx else {
        return Vec::new();
    };
    let paths = layout(nginx.layout);
    let mut out = Vec::new();
    let mut facts = Facts::default();
    let forwards = stream_forwards(site, nginx, host, &mut facts);
    if !forwards.is_empty() {
        let mut module_facts = Facts::default();
        let module = ModuleContext {
            module: module_facts.add(
                "load_module",
                paths.module,
                given_derived(
                    "/nginx/layout",
                    nginx.layout == NginxLayout::default(),
                    "the name the distribution's stream-module package uses, so it is loaded once",
                    "Debian's name for the stream module (debian is the default of nginx.layout), so it is loaded once",
                ),
            ),
        };
        out.push(nginx_file(
            host,
            paths.module_file,
            "nginx/mod-stream.conf.nginx",
            &module,
            module_facts,
            NginxLevel::Module,
        ));
        let stream = StreamContext {
            site: &site.site,
            host: host.name.as_str(),
            directives: extra::directives(
                &nginx.stream_directives,
                "/nginx/stream_directives",
                &mut facts,
            ),
            forwards,
        };
        out.push(nginx_file(
            host,
            paths.stream_file,
            "nginx/stream.conf.nginx",
            &stream,
            std::mem::take(&mut facts),
            NginxLevel::Main,
        ));
    }
    let serves_http = (host.has(Role::Web) && nginx.https.is_some())
        || (host.has(Role::Proxy) && nginx.cache_proxy.is_some());
    if serves_http && !nginx.http_directives.is_empty() {
        let context = HttpContext {
            site: &site.site,
            directives: extra::directives(
                &nginx.http_directives,
                "/nginx/http_directives",
                &mut facts,
            ),
        };
        let path = format!("{}/{}-http.conf", paths.http_dir, site.site);
        let facts = std::mem::take(&mut facts);
        out.push(nginx_file(
            host,
            &path,
            "nginx/http.conf.nginx",
            &context,
            facts,
            NginxLevel::Http,
        ));
    }
    if let (true, Some(https)) = (host.has(Role::Web), &nginx.https) {
        let context = https_context(site, nginx, https, host, &mut facts);
        let path = format!("{}/{}.conf", paths.http_dir, site.site);
        let facts = std::mem::take(&mut facts);
        out.push(nginx_file(
            host,
            &path,
            "nginx/https.conf.nginx",
            &context,
            facts,
            NginxLevel::Http,
        ));
    }
    if let (true, Some(proxy)) = (host.has(Role::Proxy), &nginx.cache_proxy) {
        let context = cache_context(site, nginx, proxy, &mut facts);
        let path = format!("{}/{}-cache.conf", paths.http_dir, site.site);
        let facts = std::mem::take(&mut facts);
        out.push(nginx_file(
            host,
            &path,
            "nginx/cache-proxy.conf.nginx",
            &context,
            facts,
            NginxLevel::Http,
        ));
    }
    out
}

/// `nginx.http_directives`, in a file of their own inside http {}.
#[derive(Serialize)]
struct HttpContext<'a> {
    site: &'a str,
    directives: Vec<extra::ExtraDirective>,
}

/// A file of nginx's configuration, laid out by `template`.
fn nginx_file(
    host: &Host,
    path: &str,
    template: &'static str,
    context: &impl Serialize,
    facts: Facts,
    level: NginxLevel,
) -> PlannedFile {
    let mut meta = FileMeta::new(Mode::PUBLIC, "root", Service::Nginx, OnChange::Reload);
    meta.nginx_level = Some(level);
    PlannedFile::new(&host.name, path, template, context, facts, meta)
}

/// `site` as the stem of nginx names (upstreams, zones, variables), which take no `-`.
fn stem(site: &Site) -> String {
    site.site.replace('-', "_")
}

/// A name nginx's configuration gives something of the site's own.
fn named(facts: &mut Facts, key: &str, name: String) -> Fact<String> {
    facts.add(
        key,
        name,
        Origin::derived(
            Some("/site"),
            "the site's name, with `_` for `-` as nginx names need",
        ),
    )
}
