//! The HTTP endpoint: `GET /metrics` and `POST /-/reload`, answered by the housekeeping loop.

use std::{
    io::{self, BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    sync::mpsc,
    time::Duration,
};

/// Why the housekeeping loop answers a request without what it asked for (a reload refused, the
/// counters unreadable), in words for the operator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

/// Where the housekeeping loop answers a request: the text, or why there is none.
pub type Reply = mpsc::SyncSender<Result<String, Refusal>>;

/// What the server asks the housekeeping loop for.
#[derive(Debug)]
pub enum Request {
    /// `GET /metrics`: the exposition.
    Metrics(Reply),
    /// `POST /-/reload`: reload configuration and rules; the answer says what changed or why
    /// nothing did.
    Reload(Reply),
}

/// The endpoint, bound but not yet serving.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
}

/// Largest request head read; anything longer is answered 431.
const MAX_REQUEST: usize = 8192;
/// How long a client may take to send its request, and the housekeeping loop to answer.
pub(super) const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a reload may take (reading and compiling every rule).
pub(super) const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

impl MetricsServer {
    /// Binds `addr` (before privileges are dropped; any port works unprivileged anyway).
    pub fn bind(addr: &str) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("binding the metrics endpoint {addr}: {e}"),
            )
        })?;
        Ok(Self { listener })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves scrapes on a thread of its own, one connection at a time, each answered with the
    /// text that `requests` hands back.
    pub fn spawn(self, requests: mpsc::Sender<Request>) -> io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in self.listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    if let Err(e) = serve_one(stream, &requests) {
                        log::debug!("metrics request: {e}");
                    }
                }
            })
    }
}

fn serve_one(mut stream: TcpStream, requests: &mpsc::Sender<Request>) -> io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut head = Vec::new();
    let mut reader = BufReader::new((&stream).take(MAX_REQUEST as u64));
    loop {
        let before = head.len();
        reader.read_until(b'\n', &mut head)?;
        if head.len() == before || head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            break;
        }
        if head.len() >= MAX_REQUEST {
            return respond(&mut stream, "431 Request Header Fields Too Large", "", "");
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    match (method, path) {
        ("POST", "/-/reload") => {
            let (tx, rx) = mpsc::sync_channel(1);
            let answer = requests
                .send(Request::Reload(tx))
                .ok()
                .and_then(|()| rx.recv_timeout(RELOAD_TIMEOUT).ok());
            match answer {
                Some(Ok(summary)) => respond(&mut stream, "200 OK", "text/plain", &summary),
                Some(Err(why)) => respond(
                    &mut stream,
                    "422 Unprocessable Content",
                    "text/plain",
                    &why.0,
                ),
                None => respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "no answer from the appliance",
                ),
            }
        }
        ("GET" | "HEAD", "/metrics") => {
            let (tx, rx) = mpsc::sync_channel(1);
            let body = requests
                .send(Request::Metrics(tx))
                .ok()
                .and_then(|()| rx.recv_timeout(TIMEOUT).ok());
            match body {
                Some(Err(why)) => respond(
                    &mut stream,
                    "500 Internal Server Error",
                    "text/plain",
                    &format!("{why}\n"),
                ),
                Some(Ok(body)) => {
                    let body = if method == "HEAD" { "" } else { &body };
                    respond(
                        &mut stream,
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        body,
                    )
                }
                None => respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "the appliance is stopping\n",
                ),
            }
        }
        ("GET" | "HEAD", "/") => respond(
            &mut stream,
            "200 OK",
            "text/html",
            "<html><body><a href=\"/metrics\">metrics</a></body></html>\n",
        ),
        (_, "/metrics" | "/" | "/-/reload") => {
            respond(&mut stream, "405 Method Not Allowed", "text/plain", "")
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", "not found\n"),
    }
}

fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &str) -> io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
