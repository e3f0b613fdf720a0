//! The reading side: a scrape parsed back into samples, for `ingest status` and the tests.

use std::{
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::Duration,
};

use super::server::{RELOAD_TIMEOUT, TIMEOUT};

/// A line of a scrape that is not a sample.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not a sample: {text:?}")]
pub struct ScrapeError {
    /// 1-based.
    pub line: usize,
    /// The line.
    pub text: String,
}

/// One sample of a scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name (with `_sum` / `_count` for summaries).
    pub name: String,
    /// Labels, in order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A scrape, parsed.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

impl Scrape {
    /// Parses the text format; a line that does not parse is an error naming it.
    pub fn parse(text: &str) -> Result<Self, ScrapeError> {
        let mut samples = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            samples.push(parse_line(line).ok_or_else(|| ScrapeError {
                line: n + 1,
                text: line.to_string(),
            })?);
        }
        Ok(Self { samples })
    }

    /// Every sample of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of every sample of `name` whose labels include all of `with`.
    pub fn sum(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.all(name)
            .filter(|s| with.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
            .sum()
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            rest = rest.strip_prefix(',').unwrap_or(rest);
            let eq = rest.find('=')?;
            let key = rest[..eq].to_string();
            let mut chars = rest[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            rest = &rest[eq + 1..][end + 2..];
            labels.push((key, value));
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Fetches `/metrics` from `addr` (host:port) and parses it.
pub fn scrape(addr: &str) -> io::Result<Scrape> {
    Scrape::parse(&fetch(addr)?).map_err(io::Error::other)
}

/// Fetches the text of `/metrics` from `addr` (host:port).
pub fn fetch(addr: &str) -> io::Result<String> {
    request(addr, "GET", "/metrics", TIMEOUT * 2)
}

/// Fetches the web view's state (`/api/state`, JSON) from `addr`.
pub fn fetch_state(addr: &str) -> io::Result<String> {
    request(addr, "GET", "/api/state", TIMEOUT * 2)
}

/// Asks the appliance at `addr` to reload its configuration and rules; its answer says what
/// changed, or (as the error) why nothing did.
pub fn reload(addr: &str) -> io::Result<String> {
    request(addr, "POST", "/-/reload", RELOAD_TIMEOUT + TIMEOUT)
}

fn request(addr: &str, method: &str, path: &str, timeout: Duration) -> io::Result<String> {
    let target = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{addr}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&target, TIMEOUT)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| io::Error::other("no HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(io::Error::other(format!("{addr}: {status}: {body}")));
    }
    Ok(body.to_string())
}
