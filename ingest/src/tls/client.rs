//! The client's side, for the syslog sink: which CAs to trust for the receiver, and the
//! certificate to show when the receiver asks for one.

use std::{path::PathBuf, sync::Arc};

use rustls::{ClientConfig, RootCertStore};

use super::{TlsError, load_certs, load_key, load_roots, provider};

/// A TLS client's settings, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSettings {
    /// CA bundle (PEM) the server's certificate must chain to; none: the system's trust
    /// store.
    pub ca: Option<PathBuf>,
    /// Certificate chain (PEM) to present when the server asks for one.
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub key: Option<PathBuf>,
}

impl ClientSettings {
    /// Reads the files and builds the configuration, or says what is wrong with them.
    pub fn load(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let roots = match &self.ca {
            Some(ca) => load_roots(ca)?,
            None => Arc::new(system_roots()?),
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Rustls)?
            .with_root_certificates(roots);
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
                .map_err(TlsError::Rustls)?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(TlsError::Incomplete(
                    "a client certificate needs both tls_cert and tls_key",
                ));
            }
        };
        Ok(Arc::new(config))
    }
}

/// The system's trust store (as OpenSSL on this host finds it).
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(TlsError::NoTrustAnchor {
            path: "the system trust store".into(),
            why: if why.is_empty() { "empty".into() } else { why },
        });
    }
    Ok(roots)
}
