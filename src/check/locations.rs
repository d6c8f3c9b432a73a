//! Rules of the HTTPS server's own locations: each does one thing nginx can serve, none hides
//! another, and a folder is served only under a URL that keeps its neighbours out.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::rules::Rule;
use crate::source::Document;
use crate::spec::{Location, Site};

/// The redirect statuses: `return` takes a URL after them, and text after any other.
const REDIRECTS: &[u16] = &[301, 302, 303, 307, 308];

pub(super) fn check(site: &Site, doc: &Document, out: &mut Vec<Diagnostic>) {
    let Some(https) = site.nginx.as_ref().and_then(|n| n.https.as_ref()) else {
        return;
    };
    let mut urls: BTreeMap<&str, String> = https
        .static_locations
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.url.as_str(),
                format!("/nginx/https/static_locations/{i}/url"),
            )
        })
        .collect();
    let header_lists = std::iter::once(("/nginx/https/headers".to_owned(), &https.headers)).chain(
        https
            .locations
            .iter()
            .enumerate()
            .map(|(i, l)| (format!("/nginx/https/locations/{i}/headers"), &l.headers)),
    );
    for (pointer, headers) in header_lists {
        for name in headers.keys() {
            if name.0.eq_ignore_ascii_case("Strict-Transport-Security") {
                out.push(
                    Diagnostic::error(
                        doc.key_pos(&format!("{pointer}/{}", name.0)),
                        "sitewright writes Strict-Transport-Security itself, from `tls.hsts`, and repeats it wherever a location adds headers: set it there",
                    )
                    .rule(Rule::NGX018),
                );
            }
        }
    }
    for (i, location) in https.locations.iter().enumerate() {
        let at = |key: &str| format!("/nginx/https/locations/{i}/{key}");
        let mut refuse = |pointer: String, message: String| {
            out.push(Diagnostic::error(doc.value_pos(&pointer), message).rule(Rule::NGX015));
        };
        if location.url == "/" {
            refuse(
                at("url"),
                "`location /` is the application's, which sitewright writes: put what it needs in `nginx.https.directives`, which it inherits".to_owned(),
            );
        } else if let Some(first) = urls.get(location.url.as_str()) {
            refuse(
                at("url"),
                format!(
                    "{} already has a location (line {}): nginx refuses a duplicate location",
                    location.url,
                    doc.value_pos(first).line
                ),
            );
        } else {
            urls.insert(&location.url, at("url"));
        }
        shape(location, &at, &mut refuse);
    }
}

/// One of `proxy`, `alias` and `return`, with what each needs.
fn shape(location: &Location, at: &dyn Fn(&str) -> String, refuse: &mut dyn FnMut(String, String)) {
    let given: Vec<&str> = [
        location.proxy.as_ref().map(|_| "proxy"),
        location.alias.as_ref().map(|_| "alias"),
        location.answer.as_ref().map(|_| "return"),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.as_slice() {
        [] => refuse(
            at("url"),
            format!(
                "location {} does nothing: give it one of `proxy` (app, or servers), `alias` (a folder) or `return`",
                location.url
            ),
        ),
        [_] => {}
        [first, second, ..] => refuse(
            at(second),
            format!(
                "location {} has both `{first}` and `{second}`: a location does one of proxy, alias and return; split it in two",
                location.url
            ),
        ),
    }
    if location.alias.is_some() && !location.url.ends_with('/') {
        refuse(
            at("url"),
            format!(
                "an alias location's URL must end with `/` ({}/): without it, {}-anything would reach the folder's neighbours (nginx's alias is a plain prefix swap)",
                location.url, location.url
            ),
        );
    }
    if !location.try_files.is_empty() && location.alias.is_none() {
        refuse(
            at("try_files"),
            "`try_files` looks for files, so it needs `alias`: the folder they are in".to_owned(),
        );
    }
    if let Some(answer) = &location.answer {
        let redirect = REDIRECTS.contains(&answer.code);
        if redirect && answer.url.is_none() {
            refuse(
                at("return/code"),
                format!(
                    "{} is a redirect: give `url`, where it sends the client",
                    answer.code
                ),
            );
        }
        if redirect && answer.text.is_some() {
            refuse(
                at("return/text"),
                format!(
                    "{} is a redirect: it takes a `url`, not a `text`",
                    answer.code
                ),
            );
        }
        if !redirect && answer.url.is_some() {
            refuse(
                at("return/url"),
                format!(
                    "nginx sends a URL only with a redirect (301, 302, 303, 307, 308), not with {}: give `text` for a body",
                    answer.code
                ),
            );
        }
    }
}
