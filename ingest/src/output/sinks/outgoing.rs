//! What goes to the sinks, and what each counts of it.

use std::sync::atomic::AtomicU64;

use serde::Serialize;

/// One alert, or one parsed event for a sink that publishes events, on its way to the sinks,
/// shared by all of them.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Unique across runs (the run's start and a sequence): how a receiver drops duplicates.
    pub id: String,
    /// The alert as one JSON object (no newline), native shape.
    pub json: String,
    /// The alert as an ECS line, for sinks that take that shape (none for a parsed event).
    pub ecs: Option<String>,
    /// The rule's level (`high`, ...).
    pub level: String,
    /// Syslog severity (0 emergency .. 7 debug), from the rule's level.
    pub severity: u8,
    /// When it was raised.
    pub time: std::time::SystemTime,
    /// For a parsed event rather than an alert: the sending host, as a subject token.
    pub event_host: Option<String>,
}

/// What one sink counted. Written by its thread, read by the metrics.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// Alerts written to the destination.
    pub delivered: AtomicU64,
    /// Alerts put in the spool because the destination failed.
    pub spooled: AtomicU64,
    /// Spooled alerts delivered later (also counted in `delivered`).
    pub replayed: AtomicU64,
    /// Alerts dropped because the sink's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Alerts dropped because delivery failed and the spool was full (or there is none).
    pub dropped_undeliverable: AtomicU64,
    /// Failed attempts to deliver (each followed by a reconnect or reopen).
    pub failures: AtomicU64,
    /// Alerts in the spool now.
    pub spool_pending: AtomicU64,
}

/// A snapshot of [`SinkCounters`] with the sink's name.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SinkReport {
    /// The sink's name.
    pub name: String,
    /// Alerts written to the destination.
    pub delivered: u64,
    /// Alerts that went to the spool.
    pub spooled: u64,
    /// Spooled alerts delivered later.
    pub replayed: u64,
    /// Dropped: queue full.
    pub dropped_queue_full: u64,
    /// Dropped: could not deliver and could not spool.
    pub dropped_undeliverable: u64,
    /// Failed delivery attempts.
    pub failures: u64,
    /// Alerts waiting in the spool.
    pub spool_pending: u64,
}
