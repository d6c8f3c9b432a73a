//! A small HTTP application server for the nginx tests: it answers every request with a body that
//! names the request and counts it, sends headers a cache must ignore (`Cache-Control: no-store`,
//! `Set-Cookie`, `Vary`) and an HSTS header of its own, as Django does, and remembers the headers
//! nginx sent it.

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
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
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
                let proto = headers
                    .get("x-forwarded-proto")
                    .cloned()
                    .unwrap_or_default();
                let body = format!("{name} {path} #{count} proto={proto}\n");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n\
                     Set-Cookie: sessionid=from-{name}\r\nVary: Cookie\r\nStrict-Transport-Security: max-age=1\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, seen }
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
