//! Where what the workers raise goes: alerts and events as JSON lines, and the alert sinks
//! (a file, syslog, NATS), each with its own thread, queue and spool.

pub mod json;
pub mod sinks;
