//! The families of what runs and what moves: identity, received, dropped (by unit, stage and
//! reason), queues, connections.

use std::fmt;

use super::{Families, labels, queue_label};
use crate::{
    datapath::{frame::FrameError, xdp::AttachMode},
    report::Report,
    tls::Refusal,
};

/// What runs: the build, the interface and modes, each queue's worker, the rule set.
pub(super) fn identity(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    f.info(
        "ingest_build",
        "The running binary: version and source revision.",
        [labels([
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", env!("INGEST_REVISION")),
        ])],
    )?;
    let xdp_mode = report.xdp_mode.map_or("none", |m| match m {
        AttachMode::Native => "native",
        AttachMode::Generic => "generic",
    });
    f.info(
        "ingest",
        "The running appliance: interface, backend, worker mode and XDP attach mode.",
        [labels([
            ("iface", &report.iface),
            ("backend", &crate::metrics::name_of(&report.backend)),
            ("mode", &crate::metrics::name_of(&report.mode)),
            ("xdp_mode", xdp_mode),
        ])],
    )?;
    f.info(
        "ingest_queue",
        "Each AF_XDP queue's worker: CPU, wait mode, bind mode (zero-copy or copy), huge pages.",
        report.queues.iter().map(|q| {
            let bind = q
                .info
                .bind_mode
                .as_ref()
                .map(crate::metrics::name_of)
                .unwrap_or_default();
            labels([
                ("queue", &queue_label(q)),
                ("cpus", &format!("{:?}", q.info.cpus)),
                ("mode", &crate::metrics::name_of(&q.info.mode)),
                (
                    "zero_copy",
                    if bind == "zero-copy" { "true" } else { "false" },
                ),
                ("bind", &bind),
                ("hugepages", &q.info.hugepages.unwrap_or(false).to_string()),
            ])
        }),
    )?;
    f.gauge(
        "ingest_rules_generation",
        "The rule set every worker detects with: 0 at start, one more per reload.",
        [(vec![], report.rules_generation)],
    )?;
    f.gauge(
        "ingest_config_last_reload_successful",
        "Whether the last reload of the configuration and rules succeeded (1 at start).",
        [(vec![], u32::from(report.reloads.last_successful))],
    )?;
    f.gauge(
        "ingest_config_last_reload_success_timestamp_seconds",
        "When the configuration in effect was loaded, seconds since the Unix epoch.",
        [(vec![], report.reloads.last_success_unix)],
    )?;
    f.counter(
        "ingest_config_reloads",
        "Reloads, by result: applied, or refused (the running configuration stayed).",
        [
            (labels([("result", "applied")]), report.reloads.applied),
            (labels([("result", "refused")]), report.reloads.refused),
        ],
    )?;
    f.gauge(
        "ingest_worker_errors",
        "Workers that ended with an error.",
        [(vec![], report.errors.len() as u64)],
    )
}

/// Messages and bytes in, by path; the interface's own counts.
pub(super) fn received(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    let tls = report.tcp.tls_messages;
    let paths = [
        ("xdp", report.messages_received_xdp_total),
        ("udp", report.messages_received_udp_total),
        (
            "tcp",
            report.messages_received_tcp_total.saturating_sub(tls),
        ),
        ("tls", tls),
    ];
    f.counter(
        "ingest_messages_received",
        "Log messages received, by path: xdp (AF_XDP), udp, tcp and tls (the kernel socket path). The paths add up to every message received.",
        paths.map(|(p, n)| (labels([("path", p)]), n)),
    )?;
    f.counter(
        "ingest_received_bytes",
        "Bytes of log messages received, by path (tcp includes tls).",
        [
            ("xdp", report.bytes_received.xdp),
            ("udp", report.bytes_received.udp),
            ("tcp", report.bytes_received.tcp),
        ]
        .map(|(p, n)| (labels([("path", p)]), n)),
    )?;
    f.counter(
        "ingest_messages_parsed",
        "Messages parsed without error.",
        [(vec![], report.messages_parsed_total)],
    )?;
    f.counter(
        "ingest_messages_parse_errors",
        "Messages read only in part, by reason (still detected on; not drops).",
        report
            .parse_errors
            .iter()
            .map(|(r, n)| (labels([("reason", r)]), *n)),
    )?;
    f.counter(
        "ingest_gelf_messages",
        "What became of chunked or compressed GELF messages, by outcome (their datagrams are received).",
        report
            .gelf
            .iter()
            .map(|(o, n)| (labels([("outcome", o.trim_start_matches("gelf_"))]), *n)),
    )?;
    f.counter(
        "ingest_udp_batches_received",
        "recvmmsg calls of the socket path that returned at least one datagram.",
        [(vec![], report.udp.batches)],
    )?;
    if let Some(l) = &report.link {
        let iface = &report.iface;
        f.counter(
            "ingest_iface_received_frames",
            "Frames the log interface received during the run (rtnetlink IFLA_STATS64).",
            [(labels([("iface", iface)]), l.rx_packets)],
        )?;
        f.counter(
            "ingest_iface_received_bytes",
            "Bytes the log interface received during the run.",
            [(labels([("iface", iface)]), l.rx_bytes)],
        )?;
    }
    if let Some(xdp) = &report.xdp {
        f.counter(
            "ingest_xdp_frames",
            "The XDP program's decisions, in frames, by action (steered, passed to the kernel, dropped) and reason.",
            xdp.iter().map(|(c, n)| {
                let name = c.name().trim_start_matches("xdp_");
                let (action, reason) = match name.split_once('_') {
                    Some((a, r)) => (a, r),
                    None => (name, ""),
                };
                (labels([("action", action), ("reason", reason)]), n)
            }),
        )?;
    }
    Ok(())
}

/// The unit a named drop is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// Log datagrams (an unfragmented one is one frame and one message).
    Datagrams,
    /// Link frames.
    Frames,
    /// Messages of a TCP stream.
    Messages,
}

/// Where a drop of the report (`drops`) belongs: its unit, stage and reason. Every name the
/// report uses has a place (a test holds this).
fn drop_place(name: &str) -> Option<(Unit, &'static str, &str)> {
    let (unit, stage, reason) = if let Some(r) = name.strip_prefix("xdp_dropped_") {
        (Unit::Datagrams, "xdp", r)
    } else if let Some(r) = name.strip_prefix("xsk_rx_") {
        // The socket's own rx_dropped: "dropped for other reasons" (XDP_STATISTICS).
        (
            Unit::Datagrams,
            "xsk",
            if r == "dropped" { "other" } else { r },
        )
    } else if let Some(r) = name.strip_prefix("frame_dropped_") {
        (Unit::Datagrams, "frame", r)
    } else if let Some(r) = name.strip_prefix("udp_dropped_") {
        // udp_dropped_socket: what the kernel dropped at the socket (full buffer, checksum).
        (
            Unit::Datagrams,
            "socket",
            if r == "socket" { "kernel" } else { r },
        )
    } else if let Some(r) = name.strip_prefix("iface_rx_") {
        (Unit::Frames, "interface", r.trim_end_matches("_dropped"))
    } else if let Some(r) = name.strip_prefix("tcp_dropped_") {
        (Unit::Messages, "tcp", r)
    } else {
        return None;
    };
    Some((unit, stage, reason))
}

/// Every named drop, one family per unit; the kernel's drops of what XDP passed on apart.
pub(super) fn dropped(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    let of = |unit: Unit| {
        report.drops.iter().filter_map(move |(name, n)| {
            let (u, stage, reason) = drop_place(name)?;
            (u == unit).then(|| (labels([("stage", stage), ("reason", reason)]), *n))
        })
    };
    f.counter(
        "ingest_datagrams_dropped",
        "Log datagrams dropped, by stage (xdp: the XDP program; xsk: the kernel's AF_XDP socket; frame: user space's checks of a frame; socket: the kernel socket path) and reason. With the other two drop families and the messages received, the sum of everything that reached the log ports.",
        of(Unit::Datagrams),
    )?;
    f.counter(
        "ingest_frames_dropped",
        "Frames the log interface lost (stage interface): before XDP saw them (missed, fifo, over, crc_frame_length), or passed on by XDP and refused by the kernel as not for this host (otherhost).",
        of(Unit::Frames),
    )?;
    f.counter(
        "ingest_messages_dropped",
        "Messages of TCP and TLS streams dropped (stage tcp), by reason.",
        of(Unit::Messages),
    )?;
    f.counter(
        "ingest_kernel_dropped",
        "What the kernel dropped of what XDP passed on to it, by its own counters: frames no protocol took (rx_dropped, rx_nohandler) and datagrams it could not reassemble (reassembly_failed). All traffic, not only log traffic, so apart from the drop families above.",
        report
            .kernel_drops
            .iter()
            .map(|(r, n)| (labels([("reason", r.trim_start_matches("iface_").trim_start_matches("ip_"))]), *n)),
    )
}

/// Per AF_XDP queue.
pub(super) fn queues(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    f.counter(
        "ingest_queue_messages_received",
        "Log messages received through each AF_XDP queue.",
        report
            .queues
            .iter()
            .map(|q| (labels([("queue", &queue_label(q))]), q.messages)),
    )?;
    f.counter(
        "ingest_queue_datagrams_dropped",
        "Datagrams each AF_XDP queue dropped: the kernel's socket counters (stage xsk) and frames that failed user space's checks (stage frame).",
        report.queues.iter().flat_map(|q| {
            let queue = queue_label(q);
            let k = &q.counters.kernel_xsk;
            let xsk = [
                ("other", k.rx_dropped),
                ("ring_full", k.rx_ring_full),
                ("invalid_descs", k.rx_invalid_descs),
            ]
            .map(|(r, n)| (labels([("queue", &queue), ("stage", "xsk"), ("reason", r)]), n));
            let frame = FrameError::ALL.map(|e| {
                let reason = e.counter_name().trim_start_matches("frame_dropped_");
                (
                    labels([("queue", &queue), ("stage", "frame"), ("reason", reason)]),
                    q.counters.frame_drops[e.index()],
                )
            });
            xsk.into_iter().chain(frame)
        }),
    )?;
    f.counter(
        "ingest_queue_fill_ring_empty",
        "Times the kernel found a queue's fill ring empty (a sign the worker falls behind).",
        report.queues.iter().map(|q| {
            (
                labels([("queue", &queue_label(q))]),
                q.counters.kernel_xsk.rx_fill_ring_empty_descs,
            )
        }),
    )?;
    f.counter(
        "ingest_queue_kick_errors",
        "Busy-poll kicks and fill-ring wakeups of a queue's AF_XDP socket that the kernel refused with an error other than a transient one.",
        report
            .queues
            .iter()
            .map(|q| (labels([("queue", &queue_label(q))]), q.counters.xsk.kick_errors)),
    )?;
    f.counter(
        "ingest_queue_socket_reopens",
        "Times a queue's AF_XDP socket was closed and opened anew after the kernel kept refusing its kicks (its interface was unregistered or left the namespace).",
        report
            .queues
            .iter()
            .map(|q| (labels([("queue", &queue_label(q))]), q.counters.socket_reopens)),
    )
}

/// TCP and TLS connections: each family counts one event, so none is a sum of unlike things.
pub(super) fn connections(report: &Report, f: &mut Families<'_>) -> fmt::Result {
    let t = &report.tcp;
    f.counter(
        "ingest_tcp_connections_accepted",
        "TCP and TLS syslog connections accepted.",
        [(vec![], t.connections_accepted)],
    )?;
    f.counter(
        "ingest_tcp_connections_rejected",
        "TCP and TLS syslog connections closed at once, unread, by reason: denied (the source filter), limit (too many open).",
        [
            (labels([("reason", "denied")]), t.connections_denied),
            (labels([("reason", "limit")]), t.connections_refused),
        ],
    )?;
    f.counter(
        "ingest_tcp_connections_closed",
        "Accepted TCP and TLS syslog connections that ended, by reason: peer (closed by the sender or an error), idle (the idle timeout), tls_refused (refused in the TLS handshake, see ingest_tls_connections_refused_total).",
        [
            (labels([("reason", "peer")]), t.connections_closed),
            (labels([("reason", "idle")]), t.connections_idle_closed),
            (
                labels([("reason", "tls_refused")]),
                Refusal::ALL.iter().map(|&r| t.tls_refused(r)).sum(),
            ),
        ],
    )?;
    f.counter(
        "ingest_tls_handshakes",
        "TLS syslog handshakes completed.",
        [(vec![], t.tls_handshakes)],
    )?;
    f.counter(
        "ingest_tls_connections_refused",
        "TLS syslog connections refused in the handshake, by reason: certificate (none, or not from the client CA), not_allowed (not on the allow-list), handshake (protocol, version, plaintext), timeout.",
        Refusal::ALL.map(|r| {
            let reason = r.name().trim_start_matches("tls_refused_");
            (labels([("reason", reason)]), t.tls_refused(r))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_drop_name_has_a_unit_stage_and_reason() {
        let mut names: Vec<&str> = vec![
            "xsk_rx_dropped",
            "xsk_rx_ring_full",
            "xsk_rx_invalid_descs",
            "udp_dropped_denied",
            "udp_dropped_truncated",
            "udp_dropped_no_source",
            "udp_dropped_socket",
            "iface_rx_missed",
            "iface_rx_fifo",
            "iface_rx_over",
            "iface_rx_crc_frame_length",
            "iface_rx_otherhost_dropped",
            "tcp_dropped_too_long",
            "tcp_dropped_bad_framing",
            "tcp_dropped_partial_at_close",
        ];
        names.extend(FrameError::ALL.map(FrameError::counter_name));
        names.extend(
            xdp_common::XdpCounter::ALL
                .iter()
                .filter(|c| c.is_drop())
                .map(|c| c.name()),
        );
        for name in names {
            let (_, stage, reason) = drop_place(name).unwrap_or_else(|| panic!("{name}"));
            assert!(!reason.is_empty() && !reason.contains(stage), "{name}");
            assert!(!reason.contains("dropped"), "{name}: {reason}");
        }
        assert_eq!(
            drop_place("iface_rx_otherhost_dropped"),
            Some((Unit::Frames, "interface", "otherhost"))
        );
        assert_eq!(drop_place("something_new"), None);
    }
}
