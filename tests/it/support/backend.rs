//! A small HTTP application server for the nginx tests: it answers every request with a body that
//! names the request, counts it and echoes the Host, X-Forwarded-Proto and Cookie headers nginx
//! sent (as an application that builds absolute links or personal pages from them would), sends
//! headers a cache must ignore (`Cache-Control: no-store`, `Set-Cookie`, `Vary`) and an HSTS header
//! of its own, as Django does, and remembers the headers nginx sent it. A request with
//! `X-Sleep: SECONDS` is answered after that long, as a slow page is; each connection has its own
//! thread, so a slow request does not hold up the others.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;

/// What a backend saw: each request's path and headers (names lower-cased).
pub type Seen = Arc<Mutex<Vec<(String, BTreeMap<String, String>)>>>;

pub struct Backend {
    pub port: u16,
    pub seen: Seen,
}

impl Backend {
    /// Starts a backend on 127.0.0.1; `name` goes into every body.
    pub fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let seen: Seen = Arc::default();
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                thread::spawn(move || answer(stream, name, &log));
            }
        });
        Self { port, seen }
    }

    /// Every header value `name` had, in the order of the requests (none where it was not sent).
    pub fn all(&self, name: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, h)| h.get(name).cloned())
            .collect()
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last_header(&self, name: &str) -> Option<String> {
        self.seen
            .lock()
            .unwrap()
            .last()
            .and_then(|(_, h)| h.get(name).cloned())
    }
}

fn answer(mut stream: std::net::TcpStream, name: &str, log: &Seen) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let count = {
        let mut seen = log.lock().unwrap();
        seen.push((path.clone(), headers.clone()));
        seen.len()
    };
    if let Some(seconds) = headers.get("x-sleep").and_then(|s| s.parse::<f64>().ok()) {
        thread::sleep(std::time::Duration::from_secs_f64(seconds));
    }
    let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
    let body = format!(
        "{name} {path} #{count} proto={} base={}://{} cookie={}\n",
        header("x-forwarded-proto"),
        header("x-forwarded-proto"),
        header("host"),
        header("cookie"),
    );
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n\
         Set-Cookie: sessionid=from-{name}\r\nVary: Cookie\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}
