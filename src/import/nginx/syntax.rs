//! nginx's configuration syntax read back into directives and blocks, so that the import works
//! on what nginx reads (words, quotes, blocks) rather than on lines of text.

use std::fmt;

/// One directive: `name args…;` or `name args… { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub(crate) name: String,
    /// The arguments as nginx reads them: quotes removed, escapes resolved.
    pub(crate) args: Vec<String>,
    pub(crate) block: Option<Vec<Directive>>,
    /// The line the directive starts on, for the report.
    pub(crate) line: usize,
    /// The comment lines just before it, each without its `#`: sitewright's own text sometimes
    /// says there what no directive does (the caching proxy's session cookie).
    pub(crate) comments: Vec<String>,
}

impl Directive {
    pub(crate) fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }

    pub(crate) fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// `name args` as one line, for the report.
    pub(crate) fn text(&self) -> String {
        let mut out = self.name.clone();
        for arg in &self.args {
            out.push(' ');
            out.push_str(&word(arg));
        }
        if self.block.is_some() {
            out.push_str(" {…}");
        }
        out
    }
}

/// `text` as nginx would need it written: bare, or in double quotes.
pub(crate) fn word(text: &str) -> String {
    let plain = !text.is_empty()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '{' | '}' | '\\' | '#'));
    if plain {
        text.to_owned()
    } else {
        let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// Why a text is not nginx configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Semicolon,
    Open,
    Close,
    Comment(String),
}

/// The tokens of `text`, each with its line.
fn tokens(text: &str) -> Result<Vec<(Token, usize)>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            ';' => {
                chars.next();
                out.push((Token::Semicolon, line));
            }
            '{' => {
                chars.next();
                out.push((Token::Open, line));
            }
            '}' => {
                chars.next();
                out.push((Token::Close, line));
            }
            '#' => {
                let mut comment = String::new();
                chars.next();
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    comment.push(c);
                    chars.next();
                }
                out.push((Token::Comment(comment), line));
            }
            quote @ ('"' | '\'') => {
                let start = line;
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            // nginx resolves these escapes inside quotes, and keeps any other
                            // backslash as it is.
                            Some(e) if matches!(e, '"' | '\'' | '\\') => {
                                value.push(e);
                            }
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some('n') => value.push('\n'),
                            Some(e) => {
                                if e == '\n' {
                                    line += 1;
                                }
                                value.push('\\');
                                value.push(e);
                            }
                            None => break,
                        },
                        c if c == quote => {
                            closed = true;
                            break;
                        }
                        other => {
                            if other == '\n' {
                                line += 1;
                            }
                            value.push(other);
                        }
                    }
                }
                if !closed {
                    return Err(SyntaxError {
                        line: start,
                        what: "a quote is never closed",
                    });
                }
                // nginx needs a separator after a closing quote.
                if let Some(&next) = chars.peek()
                    && !(next.is_whitespace() || matches!(next, ';' | '{' | '}'))
                {
                    return Err(SyntaxError {
                        line,
                        what: "a quoted word runs into the next one",
                    });
                }
                out.push((Token::Word(value), start));
            }
            _ => {
                let mut value = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, ';' | '}') {
                        break;
                    }
                    if c == '{' {
                        // `${name}` is a variable, not a block.
                        if value.ends_with('$') {
                            for c in chars.by_ref() {
                                value.push(c);
                                if c == '}' {
                                    break;
                                }
                            }
                            continue;
                        }
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        // The next character is never a separator; nginx then resolves the
                        // same escapes as inside quotes and keeps any other backslash.
                        match chars.next() {
                            Some(e @ ('"' | '\'' | '\\')) => value.push(e),
                            Some('t') => value.push('\t'),
                            Some('r') => value.push('\r'),
                            Some('n') => value.push('\n'),
                            Some(e) => {
                                if e == '\n' {
                                    line += 1;
                                }
                                value.push('\\');
                                value.push(e);
                            }
                            None => value.push('\\'),
                        }
                        continue;
                    }
                    value.push(c);
                }
                out.push((Token::Word(value), line));
            }
        }
    }
    Ok(out)
}

/// The directives of `text`, at its top level.
pub(crate) fn parse(text: &str) -> Result<Vec<Directive>, SyntaxError> {
    let tokens = tokens(text)?;
    let mut iter = tokens.into_iter().peekable();
    let (list, end) = block(&mut iter, 0)?;
    match end {
        Some(line) => Err(SyntaxError {
            line,
            what: "a `}` closes no block",
        }),
        None => Ok(list),
    }
}

/// Directives up to the `}` that closes the block (its line returned) or the end of the text.
fn block(
    iter: &mut std::iter::Peekable<std::vec::IntoIter<(Token, usize)>>,
    depth: usize,
) -> Result<(Vec<Directive>, Option<usize>), SyntaxError> {
    // Deeper than any real configuration: a text built to exhaust the stack is refused.
    if depth > 64 {
        return Err(SyntaxError {
            line: iter.peek().map_or(0, |t| t.1),
            what: "blocks nested too deep",
        });
    }
    let mut out = Vec::new();
    let mut comments = Vec::new();
    while let Some((token, line)) = iter.next() {
        match token {
            Token::Comment(text) => comments.push(text),
            Token::Close => return Ok((out, Some(line))),
            Token::Semicolon => {
                return Err(SyntaxError {
                    line,
                    what: "a `;` ends no directive",
                });
            }
            Token::Open => {
                return Err(SyntaxError {
                    line,
                    what: "a block without a directive name",
                });
            }
            Token::Word(name) => {
                let mut args = Vec::new();
                let directive = loop {
                    match iter.next() {
                        Some((Token::Word(w), _)) => args.push(w),
                        // A comment inside a directive's words is still a comment.
                        Some((Token::Comment(_), _)) => {}
                        Some((Token::Semicolon, _)) => {
                            break Directive {
                                name,
                                args,
                                block: None,
                                line,
                                comments: std::mem::take(&mut comments),
                            };
                        }
                        Some((Token::Open, _)) => {
                            let (children, end) = block(iter, depth + 1)?;
                            if end.is_none() {
                                return Err(SyntaxError {
                                    line,
                                    what: "a block is never closed",
                                });
                            }
                            break Directive {
                                name,
                                args,
                                block: Some(children),
                                line,
                                comments: std::mem::take(&mut comments),
                            };
                        }
                        Some((Token::Close, l)) => {
                            return Err(SyntaxError {
                                line: l,
                                what: "a directive is not ended with `;`",
                            });
                        }
                        None => {
                            return Err(SyntaxError {
                                line,
                                what: "the last directive is not ended with `;`",
                            });
                        }
                    }
                };
                out.push(directive);
            }
        }
    }
    Ok((out, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[Directive]) -> Vec<&str> {
        list.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn quotes_are_one_word_and_their_escapes_are_resolved() {
        let parsed = parse(r#"add_header X "a b; c" always; return 200 'it''s'; map "" "\"q\"";"#);
        // 'it''s' is two quoted words with nothing between: nginx refuses it, and so do we.
        assert!(parsed.is_err());
        let parsed = parse(r#"add_header X "a b; c" always; map "" "\"q\" \\ \x";"#).unwrap();
        assert_eq!(parsed[0].args, ["X", "a b; c", "always"]);
        assert_eq!(parsed[1].args, ["", "\"q\" \\ \\x"]);
        assert_eq!(word("a b; c"), "\"a b; c\"");
        assert_eq!(word(""), "\"\"");
        assert_eq!(word("$uri"), "$uri");
    }

    #[test]
    fn a_semicolon_inside_quotes_ends_nothing() {
        let parsed = parse("a 'x;y' \"{z}\";\nb;").unwrap();
        assert_eq!(names(&parsed), ["a", "b"]);
        assert_eq!(parsed[0].args, ["x;y", "{z}"]);
        assert_eq!(parsed[1].line, 2);
    }

    #[test]
    fn comments_are_kept_beside_the_next_directive_and_never_read_as_words() {
        let text = "# one\n# two\nlisten 80; # trailing\nserver_name a#b; # x; y {\n";
        let parsed = parse(text).unwrap();
        assert_eq!(names(&parsed), ["listen", "server_name"]);
        assert_eq!(parsed[0].comments, [" one", " two"]);
        assert_eq!(parsed[1].args, ["a#b"]);
        assert_eq!(parsed[1].comments, [" trailing"]);
    }

    #[test]
    fn nested_blocks_keep_their_directives() {
        let text = "http {\n  server {\n    location / { return 200 \"${host}x\"; }\n    if ($a) { set $b ${c}d; }\n  }\n}\n";
        let parsed = parse(text).unwrap();
        let server = &parsed[0].children()[0];
        assert_eq!(names(server.children()), ["location", "if"]);
        let location = &server.children()[0];
        assert_eq!(location.args, ["/"]);
        assert_eq!(location.children()[0].args, ["200", "${host}x"]);
        assert_eq!(server.children()[1].children()[0].args, ["$b", "${c}d"]);
        assert_eq!(location.line, 3);
    }

    #[test]
    fn broken_text_is_an_error_never_a_panic() {
        for text in [
            "a {",
            "a }",
            "}",
            "a",
            "a \"b",
            "{ }",
            ";",
            "a { b }",
            "a \"b\"c;",
            "a \\",
        ] {
            assert!(parse(text).is_err(), "{text:?} must be refused");
        }
        let deep = "a {".repeat(200) + &"}".repeat(200);
        assert!(parse(&deep).is_err());
        assert_eq!(parse("").unwrap(), Vec::new());
        assert_eq!(parse("a \\;;").unwrap()[0].args, ["\\;"]);
        assert_eq!(
            parse(r"location ~ \.php$ {}").unwrap()[0].args,
            ["~", r"\.php$"]
        );
        assert_eq!(parse(r#"a \"b\";"#).unwrap()[0].args, ["\"b\""]);
    }
}
