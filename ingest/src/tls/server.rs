//! The TLS syslog listener's side: its certificate, the optional client-certificate check
//! against a CA and an allow-list, and the configuration shared with the socket worker so a
//! reload can replace it.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
};

use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, ServerConfig,
    ServerConnection, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    server::{
        WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::{TlsError, load_certs, load_key, load_roots, provider};

/// The TLS listener's settings, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSettings {
    /// The listener's certificate chain (PEM, its own certificate first).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// When set, every client must present a certificate this CA bundle (PEM) vouches for.
    pub client_ca: Option<PathBuf>,
    /// When not empty, only these clients: subject names or `sha256:` fingerprints (see
    /// [`ClientAllowList`]).
    pub allowed_clients: Vec<String>,
}

impl ServerSettings {
    /// Reads the files and builds the configuration, or says what is wrong with them.
    pub fn load(&self) -> Result<ServerTls, TlsError> {
        let allow = ClientAllowList::parse(&self.allowed_clients)?;
        if !allow.is_empty() && self.client_ca.is_none() {
            return Err(TlsError::Incomplete(
                "an allow-list of TLS clients needs a client CA (tls_client_ca): without one no \
                 client certificate is asked for",
            ));
        }
        let certs = load_certs(&self.cert)?;
        let key = load_key(&self.key)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?;
        let builder = match &self.client_ca {
            Some(ca) => {
                let inner =
                    WebPkiClientVerifier::builder_with_provider(load_roots(ca)?, provider())
                        .build()
                        .map_err(|e| TlsError::NoTrustAnchor {
                            path: ca.clone(),
                            why: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(Arc::new(AllowListVerifier { inner, allow }))
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder
            .with_single_cert(certs, key)
            .map_err(TlsError::Rustls)?;
        Ok(ServerTls {
            config: Arc::new(config),
        })
    }
}

/// A loaded listener configuration.
#[derive(Clone, Debug)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

/// The listener's configuration as the socket worker uses it: shared with the housekeeping
/// thread, which puts a new one in place at a reload. Connections already open keep the one
/// they started with.
#[derive(Clone, Debug)]
pub struct Acceptor {
    current: Arc<RwLock<ServerTls>>,
}

impl Acceptor {
    /// Starts with `tls`.
    pub fn new(tls: ServerTls) -> Self {
        Self {
            current: Arc::new(RwLock::new(tls)),
        }
    }

    /// Puts `tls` in place for the connections accepted from now on.
    pub fn replace(&self, tls: ServerTls) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = tls;
    }

    /// A server session for a new connection.
    pub fn session(&self) -> Result<ServerConnection, Error> {
        let config = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .config
            .clone();
        ServerConnection::new(config)
    }
}

/// Why a TLS connection was refused: each its own counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The client presented no certificate, or one the CA does not vouch for (unknown
    /// issuer, expired, revoked, wrong use).
    Certificate,
    /// The certificate was good but its subject is not on the allow-list.
    NotAllowed,
    /// The handshake failed otherwise: no common version or cipher, a client speaking
    /// plaintext, a protocol error.
    Handshake,
    /// The handshake did not finish in time.
    Timeout,
}

impl Refusal {
    /// Every reason, in counter order.
    pub const ALL: [Refusal; 4] = [
        Refusal::Certificate,
        Refusal::NotAllowed,
        Refusal::Handshake,
        Refusal::Timeout,
    ];

    /// The reason a handshake error stands for.
    pub fn of(error: &Error) -> Self {
        match error {
            Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure) => {
                Refusal::NotAllowed
            }
            Error::InvalidCertificate(_) | Error::NoCertificatesPresented => Refusal::Certificate,
            _ => Refusal::Handshake,
        }
    }

    /// Its counter's name.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Certificate => "tls_refused_certificate",
            Refusal::NotAllowed => "tls_refused_not_allowed",
            Refusal::Handshake => "tls_refused_handshake",
            Refusal::Timeout => "tls_refused_timeout",
        }
    }

    /// Its place in [`Refusal::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The clients allowed once their CA has vouched for them: subject names and certificate
/// fingerprints, as RFC 5425 (section 5.2) describes.
///
/// A name entry matches a certificate's subjectAltName DNS names when it has any, else its
/// subject common names, compared without regard to ASCII case. A fingerprint entry,
/// `sha256:` and 64 hexadecimal digits (colons between bytes allowed, as `openssl x509
/// -fingerprint` prints them), matches the certificate with that SHA-256 digest. An empty list
/// admits every client the CA vouches for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientAllowList {
    names: Vec<String>,
    fingerprints: Vec<[u8; 32]>,
}

impl ClientAllowList {
    /// Reads the configured entries.
    pub fn parse(entries: &[String]) -> Result<Self, TlsError> {
        let mut list = Self::default();
        for entry in entries {
            let e = entry.trim();
            let bad = |why| TlsError::AllowEntry(entry.clone(), why);
            if e.is_empty() {
                return Err(bad("empty"));
            }
            match e.get(..7) {
                Some(p) if p.eq_ignore_ascii_case("sha256:") => {
                    let hex: String = e[7..].chars().filter(|&c| c != ':').collect();
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(bad("a SHA-256 fingerprint is 64 hexadecimal digits"));
                    }
                    let mut digest = [0u8; 32];
                    for (i, d) in digest.iter_mut().enumerate() {
                        *d = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                            .map_err(|_| bad("not hexadecimal"))?;
                    }
                    list.fingerprints.push(digest);
                }
                _ => list.names.push(e.to_ascii_lowercase()),
            }
        }
        Ok(list)
    }

    /// Whether the list has no entry (and so admits every vouched-for client).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.fingerprints.is_empty()
    }

    /// Whether the certificate `der` is admitted.
    pub fn admits(&self, der: &[u8]) -> bool {
        if self.is_empty() {
            return true;
        }
        if !self.fingerprints.is_empty() {
            let digest = ring::digest::digest(&ring::digest::SHA256, der);
            if self.fingerprints.iter().any(|f| f == digest.as_ref()) {
                return true;
            }
        }
        !self.names.is_empty()
            && subject_names(der)
                .iter()
                .any(|n| self.names.iter().any(|a| a.eq_ignore_ascii_case(n)))
    }
}

/// A certificate's names as RFC 5425 matches them: its subjectAltName DNS names, else its
/// subject common names. None when it does not parse (the CA check has passed by then, so
/// that is a certificate webpki reads and x509-parser does not: refused, not guessed at).
fn subject_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let dns: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !dns.is_empty() {
        return dns;
    }
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect()
}

/// The CA's verifier, then the allow-list: a client the CA vouches for but the list does not
/// name is refused in the handshake, with an alert it can read.
#[derive(Debug)]
struct AllowListVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    allow: ClientAllowList,
}

impl ClientCertVerifier for AllowListVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if self.allow.admits(end_entity) {
            Ok(verified)
        } else {
            Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
