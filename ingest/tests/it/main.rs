//! The ingest crate's integration tests, one binary: the appliance as its users run it, most of
//! them as root in network namespaces each test makes and removes itself (`common`). Tests that
//! push traffic take `common::test_network`'s lock, so they run one at a time as they did as
//! binaries of their own; the rest run beside them.

mod common;

mod accounting;
mod detect;
mod exit_codes;
mod first_packet;
mod host_scripts;
mod logging;
mod metrics;
mod nats;
mod reload;
mod reopen;
mod sinks;
mod steering;
mod time_zones;
mod tls;
mod web;
mod workers;
