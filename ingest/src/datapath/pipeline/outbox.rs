//! What leaves a worker for the housekeeping thread: alerts and, when printing, copies of the
//! messages, each kind through a bounded ring of its own. When a ring is full the item is
//! dropped and counted under its own name; the worker never waits.

use std::net::SocketAddr;

use detector::engine::Alert;

use super::message::{Message, Path};

/// Longest message copied into a [`MessageCopy`]; longer ones are cut and flagged.
pub const SAMPLE_LEN: usize = 2048;

/// A fixed-size copy of a message that leaves the worker (for `--print`, and with alerts).
#[derive(Clone, Debug)]
pub struct MessageCopy {
    /// Worker that handled it.
    pub worker: usize,
    /// Path it came by.
    pub path: Path,
    /// Sender.
    pub src: SocketAddr,
    /// Destination port.
    pub dst_port: u16,
    /// VLAN id.
    pub vlan: Option<u16>,
    /// Length of the whole message (may exceed what was copied).
    pub len: usize,
    bytes: [u8; SAMPLE_LEN],
}

impl MessageCopy {
    /// A sample of no message (for alerts about silence).
    pub fn empty(worker: usize) -> Self {
        MessageCopy {
            worker,
            path: Path::Udp,
            src: SocketAddr::from(([0, 0, 0, 0], 0)),
            dst_port: 0,
            vlan: None,
            len: 0,
            bytes: [0; SAMPLE_LEN],
        }
    }

    /// Copies `bytes` (the message of `msg`, or its first [`SAMPLE_LEN`] bytes).
    pub fn copy(worker: usize, msg: &Message<'_>, bytes: &[u8]) -> Self {
        let mut sample = MessageCopy {
            worker,
            path: msg.path,
            src: msg.src,
            dst_port: msg.dst_port,
            vlan: msg.vlan,
            len: bytes.len(),
            bytes: [0; SAMPLE_LEN],
        };
        let n = bytes.len().min(SAMPLE_LEN);
        sample.bytes[..n].copy_from_slice(&bytes[..n]);
        sample
    }

    /// The copied bytes: the message, or its first [`SAMPLE_LEN`] bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len.min(SAMPLE_LEN)]
    }

    /// Whether the message was longer than what was copied.
    pub fn truncated(&self) -> bool {
        self.len > SAMPLE_LEN
    }
}

/// An alert as it leaves a worker: what the engine raised, the rule set it came from, and the
/// one copy of its message that outlives the frame.
#[derive(Clone, Debug)]
pub struct WorkerAlert {
    /// What the engine raised.
    pub alert: Alert,
    /// The rule set it belongs to: 0 at start, then one more per reload.
    pub generation: u32,
    /// The message (for a threshold, the one that crossed it; empty for a silence).
    pub sample: MessageCopy,
}

/// The worker's ends of its two output rings.
#[derive(Debug)]
pub struct Outbox {
    /// Alerts.
    pub alerts: rtrb::Producer<WorkerAlert>,
    /// Copies of messages, when printing.
    pub samples: rtrb::Producer<MessageCopy>,
}

/// The housekeeping thread's ends of a worker's two output rings.
#[derive(Debug)]
pub struct Inbox {
    /// Alerts.
    pub alerts: rtrb::Consumer<WorkerAlert>,
    /// Copies of messages.
    pub samples: rtrb::Consumer<MessageCopy>,
}

/// A connected outbox and inbox: `alerts` slots for alerts, `samples` for copies of messages.
pub fn outbox(alerts: usize, samples: usize) -> (Outbox, Inbox) {
    let (alert_tx, alert_rx) = rtrb::RingBuffer::new(alerts.max(1));
    let (sample_tx, sample_rx) = rtrb::RingBuffer::new(samples.max(1));
    (
        Outbox {
            alerts: alert_tx,
            samples: sample_tx,
        },
        Inbox {
            alerts: alert_rx,
            samples: sample_rx,
        },
    )
}
