//! Test rigs, shared by the integration tests and `bench`: Ethernet frames crafted byte for
//! byte ([`craft`]), two network namespaces joined by a veth pair and processes started in them
//! ([`netns`]), a test's own folder ([`TempDir`]), certificates and a TLS syslog client ([`tls`]), and senders that put frames on a link as no socket would: an AF_PACKET socket
//! ([`packet`]) and an AF_XDP socket's TX ring ([`xsk_sender`]).
//!
//! A dev-dependency of the product crates, never a dependency: nothing here ships in the
//! appliance. The unsafe system calls of the senders carry their `// SAFETY:` reasons as the
//! product's do.

#![warn(missing_docs)]

pub mod craft;
pub mod netns;
pub mod packet;
mod tempdir;
pub mod tls;
pub mod xsk_sender;

pub use tempdir::TempDir;
