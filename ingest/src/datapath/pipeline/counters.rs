//! What one worker's pipeline counts. Summed over workers for the report.

use detector::parse::{ParseError, gelf::GelfDrop};

/// Counters of one worker's pipeline.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct PipelineCounters {
    /// Messages through AF_XDP.
    pub received_xdp: u64,
    /// Messages through the kernel's UDP stack.
    pub received_udp: u64,
    /// Messages through TCP connections.
    pub received_tcp: u64,
    /// Bytes of the messages received, by path (UDP payloads, TCP messages).
    pub bytes_xdp: u64,
    /// See `bytes_xdp`.
    pub bytes_udp: u64,
    /// See `bytes_xdp`.
    pub bytes_tcp: u64,
    /// Messages parsed without error.
    pub parsed: u64,
    /// Messages the parser read only in part, by [`ParseError::index`]; they still went to the
    /// detector with what could be read.
    pub parse_errors: [u64; ParseError::ALL.len()],
    /// Alerts the engine raised (including those dropped below).
    pub alerts_raised: u64,
    /// Alerts the engine could not keep because its alert buffer was full.
    pub alerts_dropped_buffer_full: u64,
    /// Alerts dropped because the worker's alert ring was full.
    pub alerts_dropped_ring_full: u64,
    /// Printed copies of messages dropped because the sample ring was full.
    pub samples_dropped_ring_full: u64,
    /// XDP messages without an arrival time, so without a latency sample.
    pub latency_unmeasured: u64,
    /// GELF messages completed from chunks or inflated from compressed datagrams.
    pub gelf_messages: u64,
    /// GELF chunks held until their message is complete (their datagrams are received; the
    /// message counts once, in `gelf_messages`).
    pub gelf_chunks_held: u64,
    /// GELF datagrams or messages given up, by [`GelfDrop`] (index in [`GelfDrop::ALL`]).
    pub gelf_dropped: [u64; GelfDrop::ALL.len()],
    /// GELF messages given up because their chunks did not all arrive within 5 s.
    pub gelf_expired: u64,
}

impl PipelineCounters {
    /// Messages received on every path.
    pub fn received(&self) -> u64 {
        self.received_xdp + self.received_udp + self.received_tcp
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, o: &Self) {
        self.received_xdp += o.received_xdp;
        self.received_udp += o.received_udp;
        self.received_tcp += o.received_tcp;
        self.bytes_xdp += o.bytes_xdp;
        self.bytes_udp += o.bytes_udp;
        self.bytes_tcp += o.bytes_tcp;
        self.parsed += o.parsed;
        for (a, b) in self.parse_errors.iter_mut().zip(o.parse_errors) {
            *a += b;
        }
        self.alerts_raised += o.alerts_raised;
        self.alerts_dropped_buffer_full += o.alerts_dropped_buffer_full;
        self.alerts_dropped_ring_full += o.alerts_dropped_ring_full;
        self.samples_dropped_ring_full += o.samples_dropped_ring_full;
        self.latency_unmeasured += o.latency_unmeasured;
        self.gelf_messages += o.gelf_messages;
        self.gelf_chunks_held += o.gelf_chunks_held;
        for (a, b) in self.gelf_dropped.iter_mut().zip(o.gelf_dropped) {
            *a += b;
        }
        self.gelf_expired += o.gelf_expired;
    }
}
