//! The HTTP endpoint (tiny_http): `GET /metrics` (the exposition), `GET /` (the live web view)
//! and `GET /api/state` (its numbers as JSON), `GET /-/healthy`, and `POST /-/reload` when the
//! configuration allows it. Every answer comes from the housekeeping loop.

use std::{io, net::SocketAddr, sync::mpsc, time::Duration};

use tiny_http::{Header, Method, Response, Server};

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
    /// `GET /api/state`: the web view's numbers, as JSON.
    State(Reply),
    /// `POST /-/reload`: reload configuration and rules; the answer says what changed or why
    /// nothing did.
    Reload(Reply),
}

/// The endpoint, bound but not yet serving.
pub struct MetricsServer {
    server: Server,
    allow_reload: bool,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.local_addr().ok())
            .field("allow_reload", &self.allow_reload)
            .finish()
    }
}

/// How long the housekeeping loop may take to answer.
pub(super) const TIMEOUT: Duration = Duration::from_secs(2);
/// How long a reload may take (reading and compiling every rule).
pub(super) const RELOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The web view: one page, no external assets, no build step.
const PAGE: &str = include_str!("web/index.html");

impl MetricsServer {
    /// Binds `addr` (before privileges are dropped; any port works unprivileged anyway). With
    /// `allow_reload`, `POST /-/reload` reloads; without, it is refused (403).
    pub fn bind(addr: &str, allow_reload: bool) -> io::Result<Self> {
        let server = Server::http(addr)
            .map_err(|e| io::Error::other(format!("binding the metrics endpoint {addr}: {e}")))?;
        Ok(Self {
            server,
            allow_reload,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("the endpoint has no IP address"))
    }

    /// Serves requests on a thread of its own, one at a time, each answered with what
    /// `requests` hands back.
    pub fn spawn(self, requests: mpsc::Sender<Request>) -> io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for request in self.server.incoming_requests() {
                    let response = answer(
                        request.method(),
                        request.url(),
                        &requests,
                        self.allow_reload,
                    );
                    if let Err(e) = request.respond(response) {
                        tracing::debug!("metrics request: {e}");
                    }
                }
            })
    }
}

type Answer = Response<io::Cursor<Vec<u8>>>;

fn text(status: u16, kind: &str, body: impl Into<String>) -> Answer {
    let header = Header::from_bytes(&b"Content-Type"[..], kind.as_bytes())
        .expect("a constant header is valid");
    Response::from_string(body.into())
        .with_status_code(status)
        .with_header(header)
}

/// Asks the housekeeping loop with `make` and waits up to `timeout`.
fn ask(
    requests: &mpsc::Sender<Request>,
    make: impl FnOnce(Reply) -> Request,
    timeout: Duration,
) -> Option<Result<String, Refusal>> {
    let (tx, rx) = mpsc::sync_channel(1);
    requests.send(make(tx)).ok()?;
    rx.recv_timeout(timeout).ok()
}

fn answer(
    method: &Method,
    url: &str,
    requests: &mpsc::Sender<Request>,
    allow_reload: bool,
) -> Answer {
    let path = url.split('?').next().unwrap_or(url);
    let stopping = || text(503, "text/plain", "the appliance is stopping\n");
    match (method, path) {
        (Method::Get | Method::Head, "/metrics") => {
            match ask(requests, Request::Metrics, TIMEOUT) {
                Some(Ok(body)) => text(
                    200,
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                    body,
                ),
                Some(Err(why)) => text(500, "text/plain", format!("{why}\n")),
                None => stopping(),
            }
        }
        (Method::Get | Method::Head, "/api/state") => {
            match ask(requests, Request::State, TIMEOUT) {
                Some(Ok(body)) => text(200, "application/json", body),
                Some(Err(why)) => text(500, "text/plain", format!("{why}\n")),
                None => stopping(),
            }
        }
        (Method::Get | Method::Head, "/" | "/index.html") => {
            text(200, "text/html; charset=utf-8", PAGE)
        }
        (Method::Get | Method::Head, "/-/healthy") => text(200, "text/plain", "ok\n"),
        (Method::Post, "/-/reload") if !allow_reload => text(
            403,
            "text/plain",
            "reloading over HTTP is off (metrics_reload = false): send SIGHUP, or run \
             `ingest reload --pid PID`\n",
        ),
        (Method::Post, "/-/reload") => match ask(requests, Request::Reload, RELOAD_TIMEOUT) {
            Some(Ok(summary)) => text(200, "text/plain", summary),
            Some(Err(why)) => text(422, "text/plain", why.0),
            None => text(503, "text/plain", "no answer from the appliance"),
        },
        (_, "/metrics" | "/" | "/api/state" | "/-/reload" | "/-/healthy") => {
            text(405, "text/plain", "")
        }
        _ => text(404, "text/plain", "not found\n"),
    }
}
