//! Rules of the directives a spec writes itself (and of the typed fields that are directives in
//! all but name, `try_files` and `return`): each must be one the spec's nginx accepts where it is
//! written, must not clash with a line sitewright writes, and should not be hidden by one.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::nginx_directives::{self, Found, Kind, Level, Repeat, What};
use crate::plan::{LocationKind, Place, written_at};
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{Directive, Nginx, ProxyTarget, Role, Site, Version};

/// One list of directives of the spec, and where it lands.
struct Block<'a> {
    list: &'a [Directive],
    pointer: String,
    level: Level,
    place: Place,
}

pub(super) fn check(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(nginx) = &site.nginx else {
        return;
    };
    let blocks = blocks(nginx);
    let defined = defined_variables(&blocks);
    let defined: Vec<&str> = defined.iter().map(String::as_str).collect();
    let judge = Judge {
        version: &nginx.version,
        doc,
        defined: &defined,
    };
    for block in &blocks {
        judge.block(block, out);
    }
    typed_words(nginx, &judge, out);
    nowhere(site, nginx, doc, out);
}

/// Every list of directives the spec has, with the level nginx reads it at.
fn blocks(nginx: &Nginx) -> Vec<Block<'_>> {
    let mut out = vec![
        Block {
            list: &nginx.http_directives,
            pointer: "/nginx/http_directives".to_owned(),
            level: Level::Http,
            place: Place::Http(nginx.layout),
        },
        Block {
            list: &nginx.stream_directives,
            pointer: "/nginx/stream_directives".to_owned(),
            level: Level::Stream,
            place: Place::Stream,
        },
    ];
    for (i, forward) in nginx.stream.iter().enumerate() {
        out.push(Block {
            list: &forward.directives,
            pointer: format!("/nginx/stream/{i}/directives"),
            level: Level::StreamServer,
            place: Place::StreamServer,
        });
    }
    if let Some(https) = &nginx.https {
        out.push(Block {
            list: &https.directives,
            pointer: "/nginx/https/directives".to_owned(),
            level: Level::Server,
            place: Place::HttpsServer,
        });
        for (i, location) in https.locations.iter().enumerate() {
            let kind = match location.proxy {
                Some(ProxyTarget::App(_)) => LocationKind::App,
                Some(ProxyTarget::Servers(_)) => LocationKind::Servers,
                None => LocationKind::Other,
            };
            out.push(Block {
                list: &location.directives,
                pointer: format!("/nginx/https/locations/{i}/directives"),
                level: Level::Location,
                place: Place::Location(kind),
            });
        }
    }
    if let Some(proxy) = &nginx.cache_proxy {
        out.push(Block {
            list: &proxy.directives,
            pointer: "/nginx/cache_proxy/directives".to_owned(),
            level: Level::Server,
            place: Place::CacheServer,
        });
    }
    out
}

/// The variables the spec's own `set` lines define, which nginx's table cannot know.
fn defined_variables(blocks: &[Block<'_>]) -> Vec<String> {
    blocks
        .iter()
        .flat_map(|b| b.list.iter())
        .filter(|d| d.name == "set")
        .filter_map(|d| d.args.first())
        .filter_map(|a| a.as_str().strip_prefix('$'))
        .map(|name| {
            name.trim_start_matches('{')
                .trim_end_matches('}')
                .to_owned()
        })
        .collect()
}

struct Judge<'a> {
    version: &'a Version,
    doc: &'a Document,
    defined: &'a [&'a str],
}

impl Judge<'_> {
    /// nginx's verdict on `name args…` at `level`, as a diagnostic when it refuses: at `name_at`,
    /// the pointer of the directive's name, or in `args_at`, that of its list of arguments.
    fn verdict(
        &self,
        level: Level,
        name: &str,
        args: &[&str],
        (name_at, args_at): (&str, &str),
        out: &mut Vec<Diagnostic>,
    ) -> Option<Found> {
        if let Some(index) = args
            .iter()
            .position(|a| a.contains(|c: char| c.is_control()))
        {
            out.push(
                Diagnostic::error(
                    self.doc.value_pos(&format!("{args_at}/{index}")),
                    format!("`{name}`: argument {} holds a control character, which an nginx word cannot", index + 1),
                )
                .rule(Rule::NGX017),
            );
            return None;
        }
        match nginx_directives::check(self.version, level, name, args, self.defined) {
            Ok(found) => {
                if let Some(note) = found.warning {
                    out.push(
                        Diagnostic::warning(
                            self.doc.value_pos(name_at),
                            format!(
                                "nginx {} warns about `{name}` at every start ({note}): leave it out",
                                self.version
                            ),
                        )
                        .rule(Rule::NGX021),
                    );
                }
                Some(found)
            }
            Err(problem) => {
                let (rule, at) = match &problem.what {
                    What::Unknown { .. } | What::NotInVersion { .. } | What::Module { .. } => {
                        (Rule::NGX016, name_at.to_owned())
                    }
                    What::Value { index, .. } => (Rule::NGX017, format!("{args_at}/{index}")),
                    What::Variable { name, .. } => {
                        let index = args
                            .iter()
                            .position(|a| {
                                a.contains(&format!("${name}"))
                                    || a.contains(&format!("${{{name}}}"))
                            })
                            .or_else(|| args.iter().position(|a| a.contains('$')));
                        match index {
                            Some(index) => (Rule::NGX017, format!("{args_at}/{index}")),
                            None => (Rule::NGX017, args_at.to_owned()),
                        }
                    }
                    What::ArgCount { .. } if !args.is_empty() => (Rule::NGX017, args_at.to_owned()),
                    _ => (Rule::NGX017, name_at.to_owned()),
                };
                out.push(
                    Diagnostic::error(self.doc.value_pos(&at), problem.to_string()).rule(rule),
                );
                None
            }
        }
    }

    fn block(&self, block: &Block<'_>, out: &mut Vec<Diagnostic>) {
        let own = written_at(block.place);
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, directive) in block.list.iter().enumerate() {
            let pointer = format!("{}/{i}", block.pointer);
            let name = directive.name.as_str();
            let args: Vec<&str> = directive.args.iter().map(|a| a.as_str()).collect();
            let places = (format!("{pointer}/name"), format!("{pointer}/args"));
            let Some(found) = self.verdict(block.level, name, &args, (&places.0, &places.1), out)
            else {
                continue;
            };
            let name_pos = self.doc.value_pos(&format!("{pointer}/name"));
            // A line of a list (proxy_set_header) adds to sitewright's; any other would replace
            // or merge with it (bitmasks such as ssl_protocols add up, with a warning).
            let adds = found.repeat == Repeat::Yes
                && !matches!(found.kind, Kind::Bitmask(_))
                && name != "add_header";
            if let Some(w) = own.iter().find(|w| w.name == name)
                && !adds
            {
                let message = match w.field.strip_prefix("nothing: ") {
                    Some(why) => format!("`{name}` is already set here: {why}; leave it out"),
                    None => format!(
                        "sitewright writes `{name}` here itself, from `{}`: set that instead of a directive",
                        w.field
                    ),
                };
                out.push(Diagnostic::error(name_pos, message).rule(Rule::NGX018));
                continue;
            }
            if let Some(first) = seen.insert(name, i)
                && found.repeat == Repeat::No
            {
                out.push(
                    Diagnostic::error(
                        name_pos,
                        format!(
                            "`{name}` is already given at line {}: nginx takes it once in a block (\"is duplicate\")",
                            self.doc.value_pos(&format!("{}/{first}/name", block.pointer)).line
                        ),
                    )
                    .rule(Rule::NGX017),
                );
            }
            self.hidden(block.place, name, name_pos, out);
        }
    }

    /// A directive a lower block sets again, where nginx then uses the lower one.
    fn hidden(
        &self,
        place: Place,
        name: &str,
        pos: crate::diagnostic::Pos,
        out: &mut Vec<Diagnostic>,
    ) {
        let below = match place {
            Place::Http(_) => written_at(Place::HttpsServer)
                .into_iter()
                .chain(written_at(Place::CacheServer))
                .find(|w| w.name == name)
                .map(|_| "every HTTPS server sitewright writes"),
            Place::HttpsServer => written_at(Place::Location(LocationKind::App))
                .into_iter()
                .find(|w| w.name == name)
                .map(|_| "`location /`, which sitewright writes for the application,"),
            _ => None,
        };
        if let Some(below) = below {
            out.push(
                Diagnostic::warning(
                    pos,
                    format!("{below} sets `{name}` itself, so nginx uses that value there and this one only elsewhere, if at all"),
                )
                .rule(Rule::NGX019),
            );
        }
    }
}

/// `try_files`, `return` and the headers of locations: checked as the directives they become.
fn typed_words(nginx: &Nginx, judge: &Judge<'_>, out: &mut Vec<Diagnostic>) {
    let Some(https) = &nginx.https else {
        return;
    };
    let headers = std::iter::once(("/nginx/https/headers".to_owned(), &https.headers)).chain(
        https
            .locations
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("/nginx/https/locations/{i}/headers"), &l.headers)),
    );
    for (pointer, map) in headers {
        for (name, value) in map {
            if value.contains('$') || value.contains(|c: char| c.is_control()) {
                out.push(
                    Diagnostic::error(
                        judge.doc.value_pos(&format!("{pointer}/{}", name.0)),
                        format!("the value of header {} holds a `$` or a control character: nginx would read `$` as a variable, and a header is one line", name.0),
                    )
                    .rule(Rule::NGX017),
                );
            }
        }
    }
    for (i, location) in https.locations.iter().enumerate() {
        let at = |key: &str| format!("/nginx/https/locations/{i}/{key}");
        if !location.try_files.is_empty() {
            let args: Vec<&str> = location.try_files.iter().map(|w| w.as_str()).collect();
            let field = at("try_files");
            judge.verdict(Level::Location, "try_files", &args, (&field, &field), out);
        }
        if let Some(answer) = &location.answer {
            let code = answer.code.to_string();
            let mut args = vec![code.as_str()];
            args.extend(
                answer
                    .url
                    .as_ref()
                    .or(answer.text.as_ref())
                    .map(|w| w.as_str()),
            );
            let field = at(match (&answer.url, &answer.text) {
                (Some(_), _) => "return/url",
                (None, Some(_)) => "return/text",
                (None, None) => "return/code",
            });
            let mut found = Vec::new();
            judge.verdict(
                Level::Location,
                "return",
                &args,
                (&field, &field),
                &mut found,
            );
            relocate(found, judge.doc, &field, out);
        }
    }
}

/// Diagnostics about a typed field, placed at the field rather than at a directive's name.
fn relocate(found: Vec<Diagnostic>, doc: &Document, pointer: &str, out: &mut Vec<Diagnostic>) {
    let pos = doc.value_pos(pointer);
    out.extend(found.into_iter().map(|mut d| {
        d.pos = pos;
        d
    }));
}

/// Directives that no rendered file would hold.
fn nowhere(site: &Site, nginx: &Nginx, doc: &Document, out: &mut Vec<Diagnostic>) {
    let serves_http = (nginx.https.is_some() && site.hosts_with(Role::Web).next().is_some())
        || (nginx.cache_proxy.is_some() && site.hosts_with(Role::Proxy).next().is_some());
    if !nginx.http_directives.is_empty() && !serves_http {
        out.push(
            Diagnostic::warning(
                doc.key_pos("/nginx/http_directives"),
                "no host serves HTTP (a web host with nginx.https, or a proxy host with nginx.cache_proxy), so no file holds these directives",
            )
            .rule(Rule::NGX020),
        );
    }
    let forwards = site.hosts_with(Role::PostgresPrimary).next().is_some()
        && (!nginx.stream.is_empty()
            || site
                .postgres
                .as_ref()
                .and_then(|p| p.replication.as_ref())
                .is_some_and(|r| r.public_port.is_some()));
    if !nginx.stream_directives.is_empty() && !forwards {
        out.push(
            Diagnostic::warning(
                doc.key_pos("/nginx/stream_directives"),
                "no host forwards a port (nginx.stream, or postgres.replication.public_port on the primary), so no stream {} block holds these directives",
            )
            .rule(Rule::NGX020),
        );
    }
}
