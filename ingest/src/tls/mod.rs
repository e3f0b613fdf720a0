//! TLS for syslog in and out (RFC 5425) and for NATS: certificates and keys read from PEM
//! files, the server's configuration with its client-certificate check, and the client's. One
//! crypto provider, rustls with ring, the stack async-nats already uses.
//!
//! Everything here is read when the daemon starts and again at each reload, so renewed
//! certificates take effect without a restart.

mod client;
mod server;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{RootCertStore, crypto::CryptoProvider};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

pub use client::ClientSettings;
pub use server::{Acceptor, ClientAllowList, Refusal, ServerSettings, ServerTls};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or decoded.
    #[error("{}: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// A certificate file held no certificate.
    #[error("{}: no certificate in the file", .0.display())]
    NoCertificate(PathBuf),
    /// A CA file held no certificate a trust anchor could be made of.
    #[error("{}: no usable CA certificate ({why})", path.display())]
    NoTrustAnchor {
        /// The file.
        path: PathBuf,
        /// What was wrong with its certificates.
        why: String,
    },
    /// An entry of the client allow-list is neither a name nor a `sha256:` fingerprint.
    #[error("allowed client {0:?}: {1}")]
    AllowEntry(String, &'static str),
    /// A setting needs another that is missing.
    #[error("{0}")]
    Incomplete(&'static str),
    /// rustls refused the certificates or the key (a key that does not match its
    /// certificate, an unsupported key type).
    #[error("the certificate and key")]
    Rustls(#[source] rustls::Error),
}

/// The crypto provider of every TLS configuration here.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of a PEM file (a chain: the end entity first).
fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem {
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_path_buf()));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Pem {
        path: path.to_path_buf(),
        source,
    })
}

/// The CA certificates of a PEM file, as trust anchors.
fn load_roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut refused = Vec::new();
    for cert in load_certs(path)? {
        if let Err(e) = roots.add(cert) {
            refused.push(e.to_string());
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoTrustAnchor {
            path: path.to_path_buf(),
            why: refused.join("; "),
        });
    }
    Ok(Arc::new(roots))
}

#[cfg(test)]
mod tests;
