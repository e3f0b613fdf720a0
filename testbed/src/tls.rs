//! Certificates for TLS tests, made on the spot (rcgen), and a TLS syslog client (rustls): a
//! test's own small PKI instead of key files checked into the repository.

use std::{
    io::{self, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};

/// A certificate and its key, written as PEM files.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// The certificate (DER), for fingerprints.
    pub der: Vec<u8>,
}

impl Issued {
    /// The certificate's SHA-256 fingerprint as `sha256:` and hexadecimal digits.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.der);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// A certificate authority of a test, writing what it issues into a folder.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
    name: String,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    /// A new CA called `name`, its certificate written to `dir/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("the CA certificate");
        std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).expect("writing the CA");
        Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            ca,
        }
    }

    /// The CA certificate's file.
    pub fn ca(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    /// Issues a certificate for `names` (DNS names or IP addresses, as subjectAltNames) with
    /// `common_name` as its subject, good for servers and clients alike; written to
    /// `dir/<stem>.pem` and `dir/<stem>-key.pem`.
    pub fn issue(&self, stem: &str, common_name: &str, names: &[&str]) -> Issued {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.ca).expect("signing");
        let issued = Issued {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}-key.pem")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&issued.cert, cert.pem()).expect("writing the certificate");
        std::fs::write(&issued.key, key.serialize_pem()).expect("writing the key");
        issued
    }
}

/// A client configuration trusting the CA in `trust` (a PEM file), presenting `identity` when
/// given.
pub fn client_config(trust: &Path, identity: Option<&Issued>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(trust).expect("the CA file") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a trust anchor");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some(id) => {
            let chain = CertificateDer::pem_file_iter(&id.cert)
                .expect("the certificate file")
                .collect::<Result<Vec<_>, _>>()
                .expect("certificates");
            let key = PrivateKeyDer::from_pem_file(&id.key).expect("the key file");
            builder
                .with_client_auth_cert(chain, key)
                .expect("a client certificate")
        }
        None => builder.with_no_client_auth(),
    })
}

/// Connects to `addr` over TLS (checking its certificate for `addr`'s IP address), sends
/// `messages` octet-counted (RFC 5425), and closes with close_notify. An error if the
/// handshake or a write fails: a refused client learns it here.
pub fn send_messages(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    messages: &[String],
) -> io::Result<()> {
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    tcp.set_write_timeout(Some(Duration::from_secs(5)))?;
    let conn = ClientConnection::new(config, ServerName::IpAddress(addr.ip().into()))
        .map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    // The handshake completes, or fails, before any message is written.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    for m in messages {
        write!(tls, "{} {m}", m.len())?;
    }
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.conn.complete_io(&mut tls.sock)?;
    // A TLS 1.3 server refusing the client's certificate says so only after the client's
    // handshake is done: read until the server closes, so that refusal surfaces here.
    let mut rest = Vec::new();
    match io::Read::read_to_end(&mut tls, &mut rest) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(e),
    }
}
