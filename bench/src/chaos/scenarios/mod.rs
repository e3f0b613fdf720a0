//! The scenarios of `bench chaos`, by what they stress: the datapath (malformed frames,
//! denied fragments, reloads and a SIGTERM under load), the outputs (the alert ring, the
//! sinks, NATS), and the streams (TLS and plaintext TCP gone wrong); and what they share.

use super::rig::Rig;

mod datapath;
mod outputs;
mod streams;

pub(super) use datapath::{
    denied_fragments_socket, denied_fragments_xdp, malformed_flood, reload_under_load,
    sigterm_under_load,
};
pub(super) use outputs::{alert_ring_full, nats_restart, sink_down_and_back};
pub(super) use streams::{tcp_abuse, tls_wrong_certificate};

/// The accounting check: every datagram sent was received, or dropped under a name.
pub(super) fn datagrams_close(
    sent: u64,
    received: u64,
    drops: &std::collections::BTreeMap<String, u64>,
) -> super::Check {
    super::Check::new(
        "datagrams: sent = received + drops",
        sent,
        received + drops_sum(drops),
    )
}

/// The sum of every named drop.
pub(super) fn drops_sum(drops: &std::collections::BTreeMap<String, u64>) -> u64 {
    drops.values().sum()
}

/// A rule that matches every message carrying `marker`, in `dir`.
pub(super) fn marker_rule(
    dir: &std::path::Path,
    marker: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules)?;
    std::fs::write(
        rules.join("marker.yml"),
        format!(
            "title: Chaos marker\nid: chaos-marker\nlogsource: {{product: linux}}\n\
             detection: {{keywords: ['{marker}'], condition: keywords}}\nlevel: high\n"
        ),
    )?;
    Ok(rules)
}

pub(super) fn marked(i: u64) -> String {
    format!("<14>Dec  7 10:00:00 chaos app[1]: chaos-marker {i}")
}

/// The sink's counters in the final report.
pub(super) fn sink_report(stopped: &crate::chaos::rig::Stopped) -> serde_json::Value {
    stopped.report["sinks"][0].clone()
}

pub(super) fn field(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// Sends `count` marked messages on a thread while `during` runs; returns what was sent.
pub(super) fn under_load<T>(
    rig: &Rig,
    count: u64,
    rate: f64,
    during: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<(u64, T)> {
    std::thread::scope(|s| {
        let sender = s.spawn(|| rig.send_udp(testbed::netns::ADDR_A.into(), count, rate, marked));
        let result = during();
        let sent = sender
            .join()
            .map_err(|_| anyhow::anyhow!("the sender panicked"))??;
        Ok((sent, result?))
    })
}
