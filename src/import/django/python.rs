//! Python source read only as far as a settings module of plain literals needs: its top-level
//! statements, and each assignment's value when it is a literal. Anything else is refused with a
//! reason rather than evaluated, since a settings module is code and the import must not guess
//! what code computes.

/// A value of a settings module: a plain literal, or one of the few run-time reads sitewright's
/// own module writes (a secret from the environment or a file, a list that extends another).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `os.environ["NAME"]`.
    Env(String),
    /// `_secret_file("PATH")`.
    File(String),
    /// `[*NAME, ...]` or `[*globals().get("NAME", []), ...]`: NAME's items, then these.
    Extend(String, Vec<Value>),
    /// A dict's value that is not a literal, and why: the dict's other values are still read,
    /// so that what can be kept is kept.
    Unknown(String),
}

impl Value {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value of `key` when this is a dict.
    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The items of a list or a tuple.
    pub(super) fn items(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) | Value::Tuple(items) => Some(items),
            _ => None,
        }
    }
}

/// One top-level statement of a module.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Statement {
    /// A string on its own: the module's docstring, or a comment written as one.
    Docstring(String),
    /// `from MODULE import *`.
    StarImport(String),
    /// Any other `import` or `from … import …`.
    Import,
    /// `NAME = value`, the value or why it is not a literal.
    Assign(String, Result<Value, String>),
    /// Anything else: a compound statement with its block, an augmented or annotated
    /// assignment, a call on its own.
    Other,
}

/// A statement, the line it starts on (from 1) and its first line's text.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Line {
    pub(super) line: usize,
    pub(super) text: String,
    pub(super) statement: Statement,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    /// A number, or why it is not one the import takes.
    Num(Result<Value, String>),
    /// A string's value, or why it is not a plain string (an f-string, bytes).
    Str(Result<String, String>),
    Op(&'static str),
    /// A character Python does not know outside a string.
    Bad(char),
}

/// A logical line: its tokens, the column of its first one and the line it starts on.
struct Logical {
    line: usize,
    indent: usize,
    toks: Vec<Tok>,
}

const OPS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "==", "!=", "<=", ">=", "**", "//", "->", ":=", "+=", "-=",
    "*=", "/=", "%=", "&=", "|=", "^=", "@=", ">>", "<<", "(", ")", "[", "]", "{", "}", ",", ":",
    ";", ".", "=", "+", "-", "*", "/", "%", "&", "|", "^", "~", "<", ">", "@",
];

/// Splits `source` into logical lines, as Python's tokenizer does: brackets and a backslash
/// join physical lines, comments and blank lines are dropped.
fn logical_lines(source: &str) -> Vec<Logical> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut depth: usize = 0;
    let mut current: Option<Logical> = None;
    let mut column = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                column = 0;
                i += 1;
                if depth == 0
                    && let Some(done) = current.take()
                {
                    out.push(done);
                }
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                i += 2;
                line += 1;
                column = 0;
                continue;
            }
            '\\' if chars.get(i + 1) == Some(&'\r') && chars.get(i + 2) == Some(&'\n') => {
                i += 3;
                line += 1;
                column = 0;
                continue;
            }
            ' ' | '\t' | '\r' | '\x0c' => {
                column += 1;
                i += 1;
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        let logical = current.get_or_insert_with(|| Logical {
            line,
            indent: column,
            toks: Vec::new(),
        });
        let start = i;
        let tok = if c.is_alphabetic() || c == '_' {
            let mut end = i;
            while end < chars.len() && (chars[end].is_alphanumeric() || chars[end] == '_') {
                end += 1;
            }
            let word: String = chars[i..end].iter().collect();
            let quote = chars.get(end).is_some_and(|q| *q == '"' || *q == '\'');
            if quote && word.len() <= 2 && word.chars().all(|p| "rRbBuUfF".contains(p)) {
                let (tok, next, lines) = string(&chars, end, &word.to_ascii_lowercase());
                i = next;
                line += lines;
                tok
            } else {
                i = end;
                Tok::Name(word)
            }
        } else if c == '"' || c == '\'' {
            let (tok, next, lines) = string(&chars, i, "");
            i = next;
            line += lines;
            tok
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let mut end = i;
            while end < chars.len() {
                let d = chars[end];
                let exponent_sign = (d == '+' || d == '-')
                    && end > i
                    && matches!(chars[end - 1], 'e' | 'E')
                    && !matches!(chars.get(i + 1), Some('x' | 'X'));
                if d.is_ascii_alphanumeric() || d == '_' || d == '.' || exponent_sign {
                    end += 1;
                } else {
                    break;
                }
            }
            let text: String = chars[i..end].iter().collect();
            i = end;
            Tok::Num(number(&text))
        } else {
            let rest: String = chars[i..(i + 3).min(chars.len())].iter().collect();
            match OPS.iter().find(|op| rest.starts_with(**op)) {
                Some(op) => {
                    i += op.chars().count();
                    match *op {
                        "(" | "[" | "{" => depth += 1,
                        ")" | "]" | "}" => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    Tok::Op(op)
                }
                None => {
                    i += 1;
                    Tok::Bad(c)
                }
            }
        };
        column += i - start;
        logical.toks.push(tok);
    }
    out.extend(current);
    out
}

/// The string starting at `chars[at]` (its opening quote) with `prefix` before it: the token,
/// where it ends, and how many line breaks it holds. An unterminated string runs to the end.
fn string(chars: &[char], at: usize, prefix: &str) -> (Tok, usize, usize) {
    let quote = chars[at];
    let triple = chars.get(at + 1) == Some(&quote) && chars.get(at + 2) == Some(&quote);
    let mut i = at + if triple { 3 } else { 1 };
    let raw = prefix.contains('r');
    let mut value = String::new();
    let mut lines = 0;
    let mut error: Option<String> = None;
    let mut closed = false;
    while i < chars.len() {
        let c = chars[i];
        if c == quote
            && (!triple || (chars.get(i + 1) == Some(&quote) && chars.get(i + 2) == Some(&quote)))
        {
            i += if triple { 3 } else { 1 };
            closed = true;
            break;
        }
        if c == '\n' {
            lines += 1;
            if !triple {
                error.get_or_insert_with(|| "a string left open at the end of its line".to_owned());
                break;
            }
        }
        if c == '\\' && i + 1 < chars.len() {
            if raw {
                value.push('\\');
                value.push(chars[i + 1]);
                if chars[i + 1] == '\n' {
                    lines += 1;
                }
                i += 2;
                continue;
            }
            let (consumed, escaped) = escape(&chars[i + 1..]);
            match escaped {
                Ok(Some(text)) => value.push_str(&text),
                Ok(None) => {}
                Err(why) => {
                    error.get_or_insert(why);
                }
            }
            if chars[i + 1] == '\n' {
                lines += 1;
            }
            i += 1 + consumed;
            continue;
        }
        value.push(c);
        i += 1;
    }
    if !closed {
        error.get_or_insert_with(|| "a string left open".to_owned());
    }
    if prefix.contains('f') {
        error = Some("an f-string, which is computed when the module runs".to_owned());
    } else if prefix.contains('b') {
        error = Some("bytes, not a str".to_owned());
    }
    let tok = match error {
        Some(why) => Tok::Str(Err(why)),
        None => Tok::Str(Ok(value)),
    };
    (tok, i.min(chars.len()), lines)
}

/// The escape after a backslash, `rest` starting with the character after it: how many
/// characters it takes, and its text (none for a line continuation).
fn escape(rest: &[char]) -> (usize, Result<Option<String>, String>) {
    let Some(&c) = rest.first() else {
        return (0, Ok(Some("\\".to_owned())));
    };
    let simple = |s: &str| (1, Ok(Some(s.to_owned())));
    match c {
        '\n' => (1, Ok(None)),
        '\\' => simple("\\"),
        '\'' => simple("'"),
        '"' => simple("\""),
        'a' => simple("\x07"),
        'b' => simple("\x08"),
        'f' => simple("\x0c"),
        'n' => simple("\n"),
        'r' => simple("\r"),
        't' => simple("\t"),
        'v' => simple("\x0b"),
        '0'..='7' => {
            let digits: String = rest
                .iter()
                .take(3)
                .take_while(|d| ('0'..='7').contains(*d))
                .collect();
            let code = u32::from_str_radix(&digits, 8).unwrap_or(0);
            (digits.len(), code_point(code))
        }
        'x' | 'u' | 'U' => {
            let width = match c {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let digits: String = rest.iter().skip(1).take(width).collect();
            if digits.chars().count() != width || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                return (
                    1 + digits.chars().count(),
                    Err(format!("a truncated \\{c} escape")),
                );
            }
            let code = u32::from_str_radix(&digits, 16).unwrap_or(u32::MAX);
            (1 + width, code_point(code))
        }
        'N' => (1, Err("a \\N{…} escape, by Unicode name".to_owned())),
        // Python keeps the backslash of an escape it does not know.
        other => (1, Ok(Some(format!("\\{other}")))),
    }
}

fn code_point(code: u32) -> Result<Option<String>, String> {
    char::from_u32(code)
        .map(|c| Some(c.to_string()))
        .ok_or_else(|| format!("the escape of {code:#x}, which is no character"))
}

/// A number literal: an int that fits 64 bits, or a finite float.
fn number(text: &str) -> Result<Value, String> {
    let clean = text.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let not = || format!("`{text}`, which is not a number the import reads");
    if lower.ends_with('j') {
        return Err(format!("`{text}`, a complex number"));
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return i64::from_str_radix(digits, radix)
                .map(Value::Int)
                .map_err(|_| not());
        }
    }
    if lower.contains(['.', 'e']) {
        return match lower.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(not()),
        };
    }
    if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|d| d != '0') {
        return Err(not());
    }
    if !lower.chars().all(|d| d.is_ascii_digit()) {
        return Err(not());
    }
    lower
        .parse::<i64>()
        .map(Value::Int)
        .map_err(|_| format!("`{text}`, an int beyond 64 bits"))
}

/// The top-level statements of `source`; the lines of a compound statement's block belong to it.
pub(super) fn statements(source: &str) -> Vec<Line> {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for logical in logical_lines(source) {
        if logical.indent > 0 && !out.is_empty() {
            continue;
        }
        let text = lines
            .get(logical.line - 1)
            .map_or_else(String::new, |l| l.trim().to_owned());
        out.push(Line {
            line: logical.line,
            text,
            statement: statement(&logical.toks),
        });
    }
    out
}

fn statement(toks: &[Tok]) -> Statement {
    match toks {
        [Tok::Str(Ok(text))] => Statement::Docstring(text.clone()),
        [Tok::Name(from), rest @ ..] if from == "from" => {
            let star = rest
                .iter()
                .position(|t| *t == Tok::Name("import".to_owned()));
            match star.map(|at| rest.split_at(at)) {
                Some((module, [_, Tok::Op("*")])) => {
                    let mut name = String::new();
                    for t in module {
                        match t {
                            Tok::Name(n) => name.push_str(n),
                            Tok::Op(".") => name.push('.'),
                            _ => return Statement::Import,
                        }
                    }
                    Statement::StarImport(name)
                }
                _ => Statement::Import,
            }
        }
        [Tok::Name(import), ..] if import == "import" => Statement::Import,
        [Tok::Name(name), Tok::Op("="), rest @ ..] if !is_keyword(name) => {
            let mut parser = Parser { toks: rest, at: 0 };
            let value = parser.top().and_then(|v| match parser.peek() {
                None => Ok(v),
                Some(t) => Err(format!("an expression ({})", describe(t))),
            });
            Statement::Assign(name.clone(), value)
        }
        _ => Statement::Other,
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "False"
            | "None"
            | "True"
            | "and"
            | "as"
            | "assert"
            | "async"
            | "await"
            | "break"
            | "class"
            | "continue"
            | "def"
            | "del"
            | "elif"
            | "else"
            | "except"
            | "finally"
            | "for"
            | "from"
            | "global"
            | "if"
            | "import"
            | "in"
            | "is"
            | "lambda"
            | "nonlocal"
            | "not"
            | "or"
            | "pass"
            | "raise"
            | "return"
            | "try"
            | "while"
            | "with"
            | "yield"
    )
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Name(n) => format!("`{n}`"),
        Tok::Num(_) => "a number".to_owned(),
        Tok::Str(_) => "a string".to_owned(),
        Tok::Op(op) => format!("`{op}`"),
        Tok::Bad(c) => format!("`{c}`"),
    }
}

/// The value of a literal written alone, as `statements` reads an assignment's.
#[cfg(test)]
pub(super) fn literal(text: &str) -> Result<Value, String> {
    let lines = logical_lines(text);
    let [only] = lines.as_slice() else {
        return Err("not one logical line".to_owned());
    };
    let mut parser = Parser {
        toks: &only.toks,
        at: 0,
    };
    let value = parser.top()?;
    match parser.peek() {
        None => Ok(value),
        Some(t) => Err(format!("an expression ({})", describe(t))),
    }
}

/// How deep containers may nest: a settings value is shallow, and a bound keeps a hostile file
/// from exhausting the stack.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    toks: &'a [Tok],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<&Tok> {
        let tok = self.toks.get(self.at);
        self.at += 1;
        tok
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Op(o)) if *o == op) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(match self.peek() {
                Some(t) => format!("{} where `{op}` was expected", describe(t)),
                None => format!("the end where `{op}` was expected"),
            })
        }
    }

    /// An assignment's value: one item, or a tuple without brackets.
    fn top(&mut self) -> Result<Value, String> {
        let first = self.item(0)?;
        if !self.eat(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.peek().is_some() {
            items.push(self.item(0)?);
            if !self.eat(",") {
                break;
            }
        }
        Ok(Value::Tuple(items))
    }

    /// One value, and nothing applied to it after.
    fn item(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err("containers nested too deep".to_owned());
        }
        let value = self.atom(depth)?;
        match self.peek() {
            Some(Tok::Op(op @ ("(" | "[" | "."))) => Err(match *op {
                "(" => "a call".to_owned(),
                "[" => "a subscript".to_owned(),
                _ => "an attribute".to_owned(),
            }),
            Some(Tok::Op(
                op @ ("+" | "-" | "*" | "/" | "//" | "%" | "**" | "|" | "&" | "^" | "<<" | ">>"
                | "@" | "==" | "!=" | "<" | ">" | "<=" | ">="),
            )) => Err(format!("an expression (`{op}`)")),
            Some(Tok::Name(word))
                if matches!(
                    word.as_str(),
                    "if" | "and" | "or" | "in" | "is" | "not" | "for"
                ) =>
            {
                Err(format!("an expression (`{word}`)"))
            }
            _ => Ok(value),
        }
    }

    fn atom(&mut self, depth: usize) -> Result<Value, String> {
        let Some(tok) = self.next().cloned() else {
            return Err("nothing where a value was expected".to_owned());
        };
        match tok {
            Tok::Str(first) => {
                let mut text = first?;
                // Adjacent strings are one string, as Python joins them.
                while let Some(Tok::Str(more)) = self.peek().cloned() {
                    self.at += 1;
                    text.push_str(&more?);
                }
                Ok(Value::Str(text))
            }
            Tok::Num(n) => n,
            Tok::Op(sign @ ("-" | "+")) => match self.next().cloned() {
                Some(Tok::Num(n)) => match (n?, sign) {
                    (Value::Int(i), "-") => i
                        .checked_neg()
                        .map(Value::Int)
                        .ok_or_else(|| "an int beyond 64 bits".to_owned()),
                    (Value::Float(f), "-") => Ok(Value::Float(-f)),
                    (v, _) => Ok(v),
                },
                _ => Err(format!("an expression (`{sign}`)")),
            },
            Tok::Name(name) => match name.as_str() {
                "True" => Ok(Value::Bool(true)),
                "False" => Ok(Value::Bool(false)),
                "None" => Ok(Value::None),
                "os" => self.environ(),
                "_secret_file" => self.secret_file(),
                "lambda" => Err("a lambda".to_owned()),
                _ => Err(match self.peek() {
                    Some(Tok::Op("(")) => format!("a call of `{name}`"),
                    _ => format!("the name `{name}`"),
                }),
            },
            Tok::Op("[") => {
                let mut extend = None;
                if self.eat("*") {
                    extend = Some(self.starred()?);
                    if !self.eat(",") {
                        self.expect("]")?;
                        return Ok(Value::Extend(extend.unwrap_or_default(), Vec::new()));
                    }
                }
                let items = self.sequence("]", depth)?;
                Ok(match extend {
                    Some(name) => Value::Extend(name, items),
                    None => Value::List(items),
                })
            }
            Tok::Op("(") => {
                if self.eat(")") {
                    return Ok(Value::Tuple(Vec::new()));
                }
                let first = self.item(depth + 1)?;
                if self.eat(")") {
                    return Ok(first);
                }
                self.expect(",")?;
                let mut items = vec![first];
                items.extend(self.sequence(")", depth)?);
                Ok(Value::Tuple(items))
            }
            Tok::Op("{") => {
                let mut items = Vec::new();
                loop {
                    if self.eat("}") {
                        return Ok(Value::Dict(items));
                    }
                    if self.eat("**") {
                        return Err("a dict unpacked into another (`**`)".to_owned());
                    }
                    let key = self.item(depth + 1)?;
                    if !self.eat(":") {
                        return Err(match self.peek() {
                            Some(Tok::Op(",") | Tok::Op("}")) => "a set".to_owned(),
                            _ => "a dict without `:` after a key".to_owned(),
                        });
                    }
                    let start = self.at;
                    let value = match self.item(depth + 1) {
                        Ok(value) => value,
                        Err(why) => {
                            self.at = start;
                            self.skip_item()?;
                            Value::Unknown(why)
                        }
                    };
                    items.push((key, value));
                    if !self.eat(",") {
                        self.expect("}")?;
                        return Ok(Value::Dict(items));
                    }
                }
            }
            Tok::Op("*") => Err("an unpacking (`*`)".to_owned()),
            other => Err(format!("{} where a value was expected", describe(&other))),
        }
    }

    /// Past one item of a container, to the `,` or the closing bracket after it: an error when
    /// the container is never closed.
    fn skip_item(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        while let Some(tok) = self.peek() {
            match tok {
                Tok::Op("(" | "[" | "{") => depth += 1,
                Tok::Op(")" | "]" | "}") if depth == 0 => return Ok(()),
                Tok::Op(")" | "]" | "}") => depth -= 1,
                Tok::Op(",") if depth == 0 => return Ok(()),
                _ => {}
            }
            self.at += 1;
        }
        Err("a dict left open".to_owned())
    }

    /// The items up to `close`, each followed by a comma but the last.
    fn sequence(&mut self, close: &str, depth: usize) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.item(depth + 1)?);
            if !self.eat(",") {
                self.expect(close)?;
                return Ok(items);
            }
        }
    }

    /// After `[*`: `NAME` or `globals().get("NAME", [])`, the list a list extends.
    fn starred(&mut self) -> Result<String, String> {
        match self.next().cloned() {
            Some(Tok::Name(name)) if name == "globals" => {
                self.expect("(")?;
                self.expect(")")?;
                self.expect(".")?;
                match self.next() {
                    Some(Tok::Name(get)) if get == "get" => {}
                    _ => return Err("a call on `globals()`".to_owned()),
                }
                self.expect("(")?;
                let Some(Tok::Str(Ok(name))) = self.next().cloned() else {
                    return Err("a call on `globals()`".to_owned());
                };
                self.expect(",")?;
                self.expect("[")?;
                self.expect("]")?;
                self.expect(")")?;
                Ok(name)
            }
            Some(Tok::Name(name)) if !is_keyword(&name) => {
                if matches!(self.peek(), Some(Tok::Op("(" | "[" | "."))) {
                    return Err("an unpacking (`*`) of an expression".to_owned());
                }
                Ok(name)
            }
            _ => Err("an unpacking (`*`)".to_owned()),
        }
    }

    /// After `os`: `.environ["NAME"]`.
    fn environ(&mut self) -> Result<Value, String> {
        let what = "a read of the environment other than `os.environ[\"NAME\"]`";
        if !self.eat(".") {
            return Err("the name `os`".to_owned());
        }
        match self.next() {
            Some(Tok::Name(n)) if n == "environ" => {}
            _ => return Err("an attribute of `os`".to_owned()),
        }
        if !self.eat("[") {
            return Err(what.to_owned());
        }
        let Some(Tok::Str(Ok(name))) = self.next().cloned() else {
            return Err(what.to_owned());
        };
        if !self.eat("]") {
            return Err(what.to_owned());
        }
        Ok(Value::Env(name))
    }

    /// After `_secret_file`: `("PATH")`.
    fn secret_file(&mut self) -> Result<Value, String> {
        self.expect("(")?;
        let Some(Tok::Str(Ok(path))) = self.next().cloned() else {
            return Err("a call of `_secret_file`".to_owned());
        };
        self.expect(")")?;
        Ok(Value::File(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::Str(text.to_owned())
    }

    #[test]
    fn strings_are_read_with_pythons_escapes() {
        assert_eq!(literal(r#""a\"b\\c\n""#), Ok(s("a\"b\\c\n")));
        assert_eq!(literal(r"'it\'s'"), Ok(s("it's")));
        assert_eq!(literal(r#""\x41\u00e9\U0001F600\101\0""#), Ok(s("Aé😀A\0")));
        assert_eq!(literal(r#""\d\q""#), Ok(s("\\d\\q")));
        assert_eq!(literal(r#"r"\d\n""#), Ok(s("\\d\\n")));
        assert_eq!(literal(r#""a" 'b' "c""#), Ok(s("abc")));
        assert_eq!(literal("'''one\ntwo'''"), Ok(s("one\ntwo")));
        assert_eq!(literal("\"a\\\nb\""), Ok(s("ab")));
        assert_eq!(literal("u'é'"), Ok(s("é")));
        assert!(literal(r#""\x4""#).is_err());
        assert!(literal(r#""\N{BULLET}""#).is_err());
        assert!(literal(r#"b"bytes""#).is_err());
        assert!(literal(r#"f"{x}""#).is_err());
    }

    #[test]
    fn numbers_booleans_and_none() {
        assert_eq!(literal("20000"), Ok(Value::Int(20000)));
        assert_eq!(literal("1_000"), Ok(Value::Int(1000)));
        assert_eq!(literal("-5"), Ok(Value::Int(-5)));
        assert_eq!(literal("0x1F"), Ok(Value::Int(31)));
        assert_eq!(literal("0"), Ok(Value::Int(0)));
        assert_eq!(literal("1.5"), Ok(Value::Float(1.5)));
        assert_eq!(literal("-2e3"), Ok(Value::Float(-2000.0)));
        assert_eq!(literal("True"), Ok(Value::Bool(true)));
        assert_eq!(literal("None"), Ok(Value::None));
        assert!(literal("99999999999999999999").is_err());
        assert!(literal("017").is_err());
        assert!(literal("1j").is_err());
    }

    #[test]
    fn containers_nest_and_tuples_are_not_lists() {
        assert_eq!(
            literal("[1, (2,), (3), ()]"),
            Ok(Value::List(vec![
                Value::Int(1),
                Value::Tuple(vec![Value::Int(2)]),
                Value::Int(3),
                Value::Tuple(vec![]),
            ]))
        );
        assert_eq!(
            literal("{'a': {'b': [True, None]}, 'c': ('x', 'y',),}"),
            Ok(Value::Dict(vec![
                (
                    s("a"),
                    Value::Dict(vec![(
                        s("b"),
                        Value::List(vec![Value::Bool(true), Value::None])
                    )])
                ),
                (s("c"), Value::Tuple(vec![s("x"), s("y")])),
            ]))
        );
        assert_eq!(
            literal("{'A': f(1, [2]), 'B': 3}"),
            Ok(Value::Dict(vec![
                (s("A"), Value::Unknown("a call of `f`".to_owned())),
                (s("B"), Value::Int(3)),
            ]))
        );
        assert_eq!(
            literal("1, 'a'"),
            Ok(Value::Tuple(vec![Value::Int(1), s("a")]))
        );
        assert_eq!(
            literal("[\n  'a',  # a comment\n  'b',\n]"),
            Ok(Value::List(vec![s("a"), s("b")]))
        );
    }

    #[test]
    fn what_is_not_a_literal_is_refused() {
        for text in [
            "os.environ['X'].strip()",
            "os.environ.get('X')",
            "os.getenv('X')",
            "BASE_DIR / 'static'",
            "get_secret('x')",
            "f'{BASE}/x'",
            "1 + 2",
            "[x for x in y]",
            "{1, 2}",
            "{**BASE, 'a': 1}",
            "'a' if DEBUG else 'b'",
            "lambda: 1",
            "NAME",
            "'a'.upper()",
            "[1, 2][0]",
        ] {
            assert!(literal(text).is_err(), "{text} must be refused");
        }
        assert_eq!(literal("os.environ['X']"), Ok(Value::Env("X".to_owned())));
        assert_eq!(
            literal("_secret_file('/run/key')"),
            Ok(Value::File("/run/key".to_owned()))
        );
        assert_eq!(
            literal("[*INSTALLED_APPS, 'nolastlogin']"),
            Ok(Value::Extend(
                "INSTALLED_APPS".to_owned(),
                vec![s("nolastlogin")]
            ))
        );
        assert_eq!(
            literal(r#"[*globals().get("S", []), "security.W021"]"#),
            Ok(Value::Extend("S".to_owned(), vec![s("security.W021")]))
        );
    }

    #[test]
    fn truncated_or_hostile_input_never_panics() {
        let module = "X = {'a': [1, (2, \"three\\x4\"), {'b': r'\\'}], 'c': 0x}\n";
        for end in 0..=module.len() {
            if module.is_char_boundary(end) {
                let _ = statements(&module[..end]);
                let _ = literal(&module[..end]);
            }
        }
        for text in [
            "\"", "'''", "\\", "[", "(", "{", "-", "0x", "'\\", "((((", "é", "\r\n",
        ] {
            let _ = statements(text);
            let _ = literal(text);
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(literal(&deep).is_err());
    }

    #[test]
    fn statements_are_the_modules_top_level() {
        let module = "\"\"\"Doc.\n\nMore.\n\"\"\"\n\nfrom mysite.settings import *  # noqa\nimport os\n\n\ndef f(path):\n    return 1\n\n\nA = [\n    1,\n]\nB = os.environ['K']\nif A:\n    C = 1\nD: int = 2\nE += 1\n";
        let got: Vec<(usize, Statement)> = statements(module)
            .into_iter()
            .map(|l| (l.line, l.statement))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, Statement::Docstring("Doc.\n\nMore.\n".to_owned())),
                (6, Statement::StarImport("mysite.settings".to_owned())),
                (7, Statement::Import),
                (10, Statement::Other),
                (
                    14,
                    Statement::Assign("A".to_owned(), Ok(Value::List(vec![Value::Int(1)])))
                ),
                (
                    17,
                    Statement::Assign("B".to_owned(), Ok(Value::Env("K".to_owned())))
                ),
                (18, Statement::Other),
                (20, Statement::Other),
                (21, Statement::Other),
            ]
        );
    }
}
