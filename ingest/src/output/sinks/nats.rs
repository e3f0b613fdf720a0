//! The NATS JetStream destination: every alert acknowledged, or spooled and published again.

use std::{io, time::Duration};

use super::{
    config::SinkConfig,
    destination::{CONNECT_TIMEOUT, Destination, closed},
    outgoing::Outgoing,
};
use crate::tls::ClientSettings;

/// How the sink proves who it is to the NATS server.
#[derive(Clone, Debug)]
enum Credentials {
    /// Nothing (or only a client certificate, with TLS).
    None,
    /// User name and password.
    Password(String, String),
    /// A token.
    Token(String),
    /// A file holding an nkey seed.
    NkeySeedFile(std::path::PathBuf),
    /// A credentials file (JWT and seed).
    CredsFile(std::path::PathBuf),
}

impl Credentials {
    fn of(c: &SinkConfig) -> Self {
        if let (Some(u), Some(p)) = (&c.user, &c.password) {
            Credentials::Password(u.clone(), p.clone())
        } else if let Some(t) = &c.token {
            Credentials::Token(t.clone())
        } else if let Some(f) = &c.nkey_seed_file {
            Credentials::NkeySeedFile(f.clone())
        } else if let Some(f) = &c.creds_file {
            Credentials::CredsFile(f.clone())
        } else {
            Credentials::None
        }
    }

    /// `options` with these credentials; files are read now, so a rotated one is taken up at
    /// the next connection.
    async fn apply(
        &self,
        options: async_nats::ConnectOptions,
    ) -> io::Result<async_nats::ConnectOptions> {
        Ok(match self {
            Credentials::None => options,
            Credentials::Password(u, p) => options.user_and_password(u.clone(), p.clone()),
            Credentials::Token(t) => options.token(t.clone()),
            Credentials::NkeySeedFile(f) => {
                let seed = std::fs::read_to_string(f)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
                options.nkey(seed.trim().to_string())
            }
            Credentials::CredsFile(f) => options
                .credentials_file(f)
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))?,
        })
    }
}

/// NATS JetStream: each alert published to `<prefix>.alerts.<level>` with its id as
/// `Nats-Msg-Id`, up to `max_in_flight` awaiting their acknowledgement.
pub(super) struct NatsDestination {
    servers: String,
    credentials: Credentials,
    tls: Option<ClientSettings>,
    stream: String,
    prefix: String,
    max_in_flight: usize,
    ack_timeout: Duration,
    runtime: tokio::runtime::Runtime,
    jetstream: Option<async_nats::jetstream::Context>,
    in_flight:
        std::collections::VecDeque<(Outgoing, async_nats::jetstream::context::PublishAckFuture)>,
    /// An alert whose acknowledgement failed, until `unconfirmed` takes it.
    failed: Vec<Outgoing>,
}

impl NatsDestination {
    pub(super) fn new(c: &SinkConfig) -> io::Result<Self> {
        Ok(Self {
            servers: c.address.clone().unwrap_or_default(),
            credentials: Credentials::of(c),
            tls: c.tls(),
            stream: c.stream.clone(),
            prefix: c.subject_prefix.clone(),
            max_in_flight: c.max_in_flight.max(1),
            ack_timeout: Duration::from_millis(c.ack_timeout_ms.max(1)),
            // The sink's own thread drives it; nothing else runs on it.
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            jetstream: None,
            in_flight: std::collections::VecDeque::new(),
            failed: Vec::new(),
        })
    }

    /// Waits for the oldest acknowledgement.
    fn confirm_oldest(&mut self) -> io::Result<u64> {
        let Some((alert, ack)) = self.in_flight.pop_front() else {
            return Ok(0);
        };
        match self.runtime.block_on(ack.into_future()) {
            Ok(_) => Ok(1),
            Err(e) => {
                self.failed.push(alert);
                Err(io::Error::other(format!("no acknowledgement: {e}")))
            }
        }
    }
}

impl Destination for NatsDestination {
    fn open(&mut self) -> io::Result<()> {
        use async_nats::jetstream::stream;
        let servers: Vec<async_nats::ServerAddr> = self
            .servers
            .split(',')
            .map(|s| s.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| io::Error::other(format!("{}: {e}", self.servers)))?;
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.prefix)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let ack_timeout = self.ack_timeout;
        let mut options = async_nats::ConnectOptions::new().connection_timeout(CONNECT_TIMEOUT);
        if let Some(tls) = &self.tls {
            let config = tls
                .load()
                .map_err(|e| io::Error::other(crate::error_chain(&e)))?;
            options = options
                .require_tls(true)
                .tls_client_config((*config).clone());
        }
        let credentials = self.credentials.clone();
        let jetstream = self.runtime.block_on(async move {
            let client = credentials
                .apply(options)
                .await?
                .connect(servers)
                .await
                .map_err(io::Error::other)?;
            let mut js = async_nats::jetstream::new(client);
            js.set_timeout(ack_timeout);
            js.get_or_create_stream(config)
                .await
                .map_err(|e| io::Error::other(format!("stream: {e}")))?;
            io::Result::Ok(js)
        })?;
        self.jetstream = Some(jetstream);
        Ok(())
    }

    fn write(&mut self, alert: &Outgoing) -> io::Result<u64> {
        let mut confirmed = 0;
        while self.in_flight.len() >= self.max_in_flight {
            confirmed += self.confirm_oldest()?;
        }
        let js = self.jetstream.as_ref().ok_or_else(closed)?;
        let subject = match &alert.event_host {
            Some(host) => format!("{}.events.{host}", self.prefix),
            None => format!("{}.alerts.{}", self.prefix, alert.level),
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", alert.id.as_str());
        let payload = alert.json.clone().into_bytes().into();
        let ack = self
            .runtime
            .block_on(js.publish_with_headers(subject, headers, payload))
            .map_err(|e| io::Error::other(format!("publishing: {e}")))?;
        self.in_flight.push_back((alert.clone(), ack));
        Ok(confirmed)
    }

    fn flush(&mut self) -> io::Result<u64> {
        let mut confirmed = 0;
        while !self.in_flight.is_empty() {
            confirmed += self.confirm_oldest()?;
        }
        Ok(confirmed)
    }

    fn unconfirmed(&mut self) -> Vec<Outgoing> {
        let mut all = std::mem::take(&mut self.failed);
        all.extend(self.in_flight.drain(..).map(|(a, _)| a));
        all
    }

    fn close(&mut self) {
        // Dropping the context closes the client once nothing else holds it. The sink took
        // what was unconfirmed before.
        self.jetstream = None;
    }
}
