//! What a real site adds to an nginx server: locations of its own (a proxy, a folder, a `return`)
//! and directives sitewright has no field for, checked against nginx's own table of directives.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::scalar::{AbsPath, SocketAddr};
use crate::units::ByteSize;

/// A URL prefix a location matches: `/`, then segments that do not start with `.`.
pub(crate) const LOCATION_URL_PATTERN: &str = r"^((/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+/?|/)$";
pub(crate) const DIRECTIVE_NAME_PATTERN: &str = r"^[a-z][a-z0-9_]*$";
pub(crate) const HEADER_NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9-]*$";
pub(crate) const RATE_PATTERN: &str = r"^[1-9][0-9]{0,6}r/[sm]$";

/// One nginx directive the spec adds: `name args…;`, written where the spec puts it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = directive_example())]
pub(crate) struct Directive {
    /// The directive's name, as nginx's documentation spells it. `check` refuses one that the spec's
    /// nginx version does not have, one not allowed at this level, and one sitewright writes here itself.
    #[schemars(regex(pattern = DIRECTIVE_NAME_PATTERN), example = &"client_body_timeout")]
    pub(crate) name: String,
    /// Its arguments, one nginx word each: sitewright quotes them where nginx needs quotes. `$name`
    /// is a variable, and must be one the spec's nginx version has.
    #[serde(default)]
    #[schemars(example = &["30s"])]
    pub(crate) args: Vec<Word>,
}

fn directive_example() -> serde_json::Value {
    serde_json::json!({"name": "client_body_timeout", "args": ["30s"]})
}

/// One argument of a directive: text, or a whole number written as it is.
#[derive(Debug, Clone, PartialEq, Eq, JsonSchema)]
#[schemars(transparent)]
pub(crate) struct Word(#[schemars(schema_with = "word_schema")] pub(crate) String);

fn word_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "integer"],
        "pattern": super::scalar::NO_NUL_PATTERN,
        "description": "One nginx word: text or a whole number."
    })
}

impl Word {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Word {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WordVisitor;
        impl Visitor<'_> for WordVisitor {
            type Value = Word;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a word or a whole number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Word, E> {
                Ok(Word(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Word, E> {
                Ok(Word(v.to_string()))
            }
        }
        deserializer.deserialize_any(WordVisitor)
    }
}

/// A location of the HTTPS server: requests under `url` are proxied, served from a folder, or
/// answered with `return`; exactly one of `proxy`, `alias` and `return`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = location_example())]
pub(crate) struct Location {
    /// The URL prefix the location matches (nginx's `location /prefix`). Not `/`, which is the
    /// application's: put what it needs in the server's `directives`.
    #[schemars(regex(pattern = LOCATION_URL_PATTERN), example = &"/api/")]
    pub(crate) url: String,
    /// Pass requests to the application (`app`, its upstream and headers) or to other servers (a list of addresses).
    #[serde(default)]
    pub(crate) proxy: Option<ProxyTarget>,
    /// Serve files from this folder, as nginx's `alias`: with `url: /media/`, `/media/a.png` is
    /// `FOLDER/a.png`. The URL must then end with `/`. Never the Django project, a key or PostgreSQL's folders.
    #[serde(default)]
    #[schemars(example = &"/srv/mysite/media")]
    pub(crate) alias: Option<AbsPath>,
    /// Answer every request with this status, and a URL to redirect to (301, 302, 303, 307, 308) or a text.
    #[serde(default, rename = "return")]
    pub(crate) answer: Option<Return>,
    /// With `alias`: the files to try in order, the last being the fallback URI or `=CODE`
    /// (nginx's try_files), such as `[$uri, $uri/, =404]`.
    #[serde(default)]
    #[schemars(example = &["$uri", "=404"])]
    pub(crate) try_files: Vec<Word>,
    /// Response headers added to every answer of the location, errors included (`add_header … always`).
    /// The server's Strict-Transport-Security is repeated with them, as nginx would otherwise drop it.
    #[serde(default)]
    #[schemars(example = &headers_example())]
    pub(crate) headers: BTreeMap<HeaderName, String>,
    /// The largest request body accepted here (nginx's client_max_body_size; 0 for no limit).
    #[serde(default)]
    #[schemars(example = &"1GB")]
    pub(crate) client_max_body_size: Option<ByteSize>,
    /// Requests per client address: over `rate`, with `burst` more served at once, the rest get 429.
    #[serde(default)]
    pub(crate) rate_limit: Option<RateLimit>,
    /// The most connections one client address may have open here at once; more get 429.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100000), example = 10)]
    pub(crate) connection_limit: Option<u32>,
    /// Further directives of this location.
    #[serde(default)]
    pub(crate) directives: Vec<Directive>,
}

fn location_example() -> serde_json::Value {
    serde_json::json!({"url": "/upload/", "proxy": "app", "client_max_body_size": "1GB"})
}

fn headers_example() -> BTreeMap<HeaderName, String> {
    BTreeMap::from([(HeaderName("X-Frame-Options".to_owned()), "DENY".to_owned())])
}

/// A response header's name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize, JsonSchema,
)]
#[serde(transparent)]
pub(crate) struct HeaderName(
    #[schemars(regex(pattern = HEADER_NAME_PATTERN), example = &"X-Frame-Options")]
    pub(crate)  String,
);

/// Where a location passes requests: `app`, or a list of servers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum ProxyTarget {
    /// The Django application, through the upstream and headers of `location /`.
    App(App),
    /// Other servers, as `address:port`, through an upstream of their own.
    Servers(#[schemars(length(min = 1))] Vec<SocketAddr>),
}

/// `app`: the site's own application servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum App {
    /// The application servers of `nginx.https.upstream`.
    App,
}

/// `return CODE [URL or text]`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(example = return_example())]
pub(crate) struct Return {
    /// The HTTP status.
    #[schemars(range(min = 200, max = 599), example = 301)]
    pub(crate) code: u16,
    /// For a redirect (301, 302, 303, 307, 308): where to; `$request_uri` and other variables may be used.
    #[serde(default)]
    #[schemars(example = &"https://new.example.org$request_uri")]
    pub(crate) url: Option<Word>,
    /// For any other status: the response body.
    #[serde(default)]
    #[schemars(example = &"gone")]
    pub(crate) text: Option<Word>,
}

fn return_example() -> serde_json::Value {
    serde_json::json!({"code": 301, "url": "https://new.example.org$request_uri"})
}

/// A request rate limit per client address (nginx's limit_req).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RateLimit {
    /// The average rate, per second (`10r/s`) or per minute (`30r/m`).
    #[schemars(regex(pattern = RATE_PATTERN), example = &"10r/s")]
    pub(crate) rate: String,
    /// Requests over the rate that are still served at once; any more get 429.
    #[serde(default)]
    #[schemars(range(max = 100000), example = 20)]
    pub(crate) burst: u32,
}
