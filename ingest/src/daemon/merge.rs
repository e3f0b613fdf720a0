//! Every worker's counters merged into one [`Report`], for the final report and for a live
//! read.

use std::collections::BTreeMap;

use detector::engine::{EngineStats, TOP_SOURCES_SAMPLE, source_of_key};

use super::{
    Backend, Daemon, DaemonError, LatencyReport, Percentiles, QueueReport, Report,
    TOP_SOURCES_REPORTED, TopSource, encode_histogram,
};
use crate::{
    datapath::frame::FrameError,
    datapath::live::{SlowStats, WorkerStats},
    datapath::pipeline::{PipelineCounters, Stage},
    datapath::socket::{TcpCounters, UdpCounters},
    datapath::xdp::XdpSteering,
};

impl Daemon {
    /// Merges the workers' counters (in worker order) into one report.
    pub(super) fn report_from(
        &self,
        stats: &[(WorkerStats, SlowStats)],
        errors: Vec<String>,
    ) -> Result<Report, DaemonError> {
        let xdp = self
            .steering
            .as_ref()
            .map(XdpSteering::counters)
            .transpose()?;
        let mut pipeline = PipelineCounters::default();
        let mut tcp = TcpCounters::default();
        let mut udp = UdpCounters::default();
        let mut engine = EngineStats::default();
        let mut sources: BTreeMap<u128, (u64, u64)> = BTreeMap::new();
        let mut distinct = detector::engine::SourceCount::default();
        let mut frame_drops = [0u64; FrameError::ALL.len()];
        let mut queues = Vec::new();
        for (info, (w, slow)) in self.infos.iter().zip(stats) {
            pipeline.add(&w.pipeline);
            engine.add(&slow.engine);
            distinct.merge(&slow.distinct_sources);
            for h in slow.top_sources.iter() {
                let e = sources.entry(h.key).or_default();
                e.0 += h.count;
                e.1 += h.error;
            }
            if let Some(t) = &w.tcp {
                tcp.add(t);
            }
            if let Some(u) = &w.udp {
                udp.add(u);
            }
            if let Some(x) = &w.xdp {
                for (total, n) in frame_drops.iter_mut().zip(x.frame_drops) {
                    *total += n;
                }
                queues.push(QueueReport {
                    info: info.clone(),
                    counters: *x,
                    messages: w.pipeline.received_xdp,
                });
            }
        }
        let mut top_sources: Vec<TopSource> = sources
            .into_iter()
            .map(|(key, (count, error))| TopSource {
                source: source_of_key(key),
                messages: count * TOP_SOURCES_SAMPLE,
                error: error * TOP_SOURCES_SAMPLE,
            })
            .collect();
        top_sources.sort_by_key(|t| std::cmp::Reverse(t.messages));
        top_sources.truncate(TOP_SOURCES_REPORTED);

        let mut drops = BTreeMap::new();
        if let Some(x) = &xdp {
            for (counter, value) in x.iter().filter(|(c, _)| c.is_drop()) {
                drops.insert(counter.name(), value);
            }
        }
        if self.opts.backend == Backend::Xdp {
            let sum = |f: fn(&QueueReport) -> u64| queues.iter().map(f).sum::<u64>();
            drops.insert("xsk_rx_dropped", sum(|q| q.counters.kernel_xsk.rx_dropped));
            drops.insert(
                "xsk_rx_ring_full",
                sum(|q| q.counters.kernel_xsk.rx_ring_full),
            );
            drops.insert(
                "xsk_rx_invalid_descs",
                sum(|q| q.counters.kernel_xsk.rx_invalid_descs),
            );
            for e in FrameError::ALL {
                drops.insert(e.counter_name(), frame_drops[e.index()]);
            }
        }
        // The socket path's own filter: datagrams of denied senders that reached a socket.
        drops.insert("udp_dropped_denied", udp.dropped_denied);
        drops.insert("udp_dropped_truncated", udp.dropped_truncated);
        drops.insert("udp_dropped_no_source", udp.dropped_no_source);
        // What the kernel dropped at the sockets themselves: full buffers, bad checksums.
        drops.insert("udp_dropped_socket", udp.dropped_socket);
        // The interface's own losses, in frames: what the NIC lost before XDP saw it, and what
        // XDP passed on that the kernel then dropped as not for this host (VLAN-tagged
        // fragments without a VLAN device). A failed read counts nothing and says so.
        let link = match crate::sys::link::link_stats(&self.opts.iface) {
            Ok(now) => Some(now.since(self.link_before)),
            Err(e) => {
                tracing::debug!(
                    "link counters of {}: {}",
                    self.opts.iface,
                    crate::error_chain(&e)
                );
                None
            }
        };
        let l = link.unwrap_or_default();
        drops.insert("iface_rx_missed", l.rx_missed);
        drops.insert("iface_rx_fifo", l.rx_fifo);
        drops.insert("iface_rx_over", l.rx_over);
        drops.insert("iface_rx_crc_frame_length", l.rx_crc_frame_length);
        drops.insert("iface_rx_otherhost_dropped", l.rx_otherhost_dropped);
        // What the kernel dropped of what XDP passed on: its own counters, kept apart.
        let reassembly = crate::sys::snmp::Reassembly::read()
            .unwrap_or_default()
            .since(self.reassembly_before);
        let mut kernel_drops = BTreeMap::new();
        kernel_drops.insert("iface_rx_dropped", l.rx_dropped);
        kernel_drops.insert("iface_rx_nohandler", l.rx_nohandler);
        kernel_drops.insert("ip_reassembly_failed", reassembly.failed());
        drops.insert("tcp_dropped_too_long", tcp.dropped_too_long);
        drops.insert("tcp_dropped_bad_framing", tcp.dropped_bad_framing);
        drops.insert("tcp_dropped_partial_at_close", tcp.dropped_partial_at_close);

        let mut parse_errors = BTreeMap::new();
        for e in detector::parse::ParseError::ALL {
            parse_errors.insert(e.name(), pipeline.parse_errors[e.index()]);
        }

        let mut gelf = BTreeMap::new();
        gelf.insert("gelf_messages", pipeline.gelf_messages);
        gelf.insert("gelf_chunks_held", pipeline.gelf_chunks_held);
        gelf.insert("gelf_expired", pipeline.gelf_expired);
        for (i, why) in detector::parse::gelf::GelfDrop::ALL.iter().enumerate() {
            gelf.insert(why.name(), pipeline.gelf_dropped[i]);
        }

        Ok(Report {
            backend: self.opts.backend,
            mode: self.mode,
            iface: self.opts.iface.clone(),
            xdp_mode: self.attach_mode,
            messages_received_total: pipeline.received(),
            messages_received_xdp_total: pipeline.received_xdp,
            messages_received_socket_total: pipeline.received_udp + pipeline.received_tcp,
            messages_received_udp_total: pipeline.received_udp,
            messages_received_tcp_total: pipeline.received_tcp,
            bytes_received: crate::report::PathBytes {
                xdp: pipeline.bytes_xdp,
                udp: pipeline.bytes_udp,
                tcp: pipeline.bytes_tcp,
            },
            alerts_raised_total: pipeline.alerts_raised,
            messages_parsed_total: pipeline.parsed,
            parse_errors,
            drops,
            kernel_drops,
            alerts_dropped_buffer_full: pipeline.alerts_dropped_buffer_full,
            alerts_dropped_ring_full: pipeline.alerts_dropped_ring_full,
            samples_dropped_ring_full: pipeline.samples_dropped_ring_full,
            xdp,
            queues,
            workers: self.infos.clone(),
            udp,
            link,
            tcp,
            gelf,
            latency_ns: LatencyReport {
                xdp_to_detected: Percentiles::of_stage(&self.latency.all, Stage::Detected),
                recent_xdp_to_detected: Percentiles::of(&self.latency.recent()),
                unmeasured: pipeline.latency_unmeasured,
                sample_every: crate::datapath::pipeline::LATENCY_SAMPLE,
                stages: Stage::ALL
                    .iter()
                    .map(|s| (s.name(), Percentiles::of_stage(&self.latency.all, *s)))
                    .collect(),
                histograms: Stage::ALL
                    .iter()
                    .map(|s| (s.name(), encode_histogram(self.latency.all.histogram(*s))))
                    .collect(),
            },
            detector: engine,
            top_sources,
            distinct_sources: distinct.estimate(),
            rules_generation: stats.iter().map(|(w, _)| w.generation).min().unwrap_or(0),
            sinks: Vec::new(),
            reloads: crate::report::ReloadState::default(),
            process: None,
            errors,
        })
    }
}
