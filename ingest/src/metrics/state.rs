//! The web view's numbers (`GET /api/state`): the same report the exposition renders, as one
//! JSON object shaped for the page, with the latest alerts. The page computes rates from two
//! of these a known time apart, as `ingest status` does from two scrapes.

use std::collections::VecDeque;

use serde_json::{Value, json};

use crate::report::Report;

/// How many of the latest alerts the view shows.
pub const RECENT_ALERTS: usize = 20;

/// The latest alerts, newest last, at most [`RECENT_ALERTS`].
#[derive(Clone, Debug, Default)]
pub struct RecentAlerts(VecDeque<Value>);

impl RecentAlerts {
    /// Keeps `alert` (its JSON line), forgetting the oldest beyond the limit.
    pub fn push(&mut self, alert: &Value) {
        if self.0.len() == RECENT_ALERTS {
            self.0.pop_front();
        }
        let keep = |k: &str| alert.get(k).cloned().unwrap_or(Value::Null);
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.0.push_back(json!({
            "time_unix": time,
            "rule": keep("rule"),
            "kind": keep("kind"),
            "level": keep("level"),
            "src": keep("src"),
            "message": keep("message"),
        }));
    }
}

/// The state object for `report` and the latest `alerts`.
pub fn state_json(report: &Report, alerts: &RecentAlerts) -> String {
    let tls = report.tcp.tls_messages;
    let drops: serde_json::Map<String, Value> = report
        .drops
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    let queues: Vec<Value> = report
        .queues
        .iter()
        .map(|q| {
            let k = &q.counters.kernel_xsk;
            let dropped = k.rx_dropped
                + k.rx_ring_full
                + k.rx_invalid_descs
                + q.counters.frame_drops.iter().sum::<u64>();
            let bind = q.info.bind_mode.as_ref().map(super::name_of);
            json!({
                "queue": q.info.queue,
                "cpus": q.info.cpus,
                "mode": super::name_of(&q.info.mode),
                "bind": bind,
                "zero_copy": bind.as_deref() == Some("zero-copy"),
                "hugepages": q.info.hugepages.unwrap_or(false),
                "received": q.messages,
                "dropped": dropped,
            })
        })
        .collect();
    let latency: serde_json::Map<String, Value> = report
        .latency_ns
        .stages
        .iter()
        .map(|(stage, p)| {
            (
                stage.to_string(),
                json!({
                    "count": p.count,
                    "p50": p.p50, "p90": p.p90, "p99": p.p99, "p999": p.p999,
                    "p9999": p.p9999, "max": p.max,
                }),
            )
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    json!({
        "time_unix": now,
        "info": {
            "iface": report.iface,
            "backend": super::name_of(&report.backend),
            "mode": super::name_of(&report.mode),
            "xdp_mode": report.xdp_mode.as_ref().map(super::name_of),
            "version": env!("CARGO_PKG_VERSION"),
            "revision": env!("INGEST_REVISION"),
            "started_unix": report.process.map(|p| p.start_time_seconds),
            "rules_generation": report.rules_generation,
        },
        "received": {
            "xdp": report.messages_received_xdp_total,
            "udp": report.messages_received_udp_total,
            "tcp": report.messages_received_tcp_total.saturating_sub(tls),
            "tls": tls,
            "total": report.messages_received_total,
        },
        "drops": drops,
        "drops_total": report.drops_total(),
        "kernel_drops": report.kernel_drops,
        "queues": queues,
        "latency_ns": latency,
        "top_sources": report.top_sources.iter().take(10).map(|t| json!({
            "source": t.source.to_string(),
            "messages": t.messages,
        })).collect::<Vec<_>>(),
        "distinct_sources": report.distinct_sources,
        "alerts": {
            "raised": report.alerts_raised_total,
            "dropped": report.alerts_dropped_buffer_full + report.alerts_dropped_ring_full,
            "recent": alerts.0,
        },
        "sinks": report.sinks,
        "reloads": report.reloads,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_alerts_are_kept_newest_last() {
        let mut r = RecentAlerts::default();
        for i in 0..RECENT_ALERTS + 5 {
            r.push(&json!({"rule": format!("r{i}"), "level": "high", "extra": 1}));
        }
        assert_eq!(r.0.len(), RECENT_ALERTS);
        assert_eq!(r.0[0]["rule"], "r5");
        assert_eq!(
            r.0[RECENT_ALERTS - 1]["rule"],
            format!("r{}", RECENT_ALERTS + 4)
        );
        assert!(r.0[0].get("extra").is_none(), "only what the view shows");
    }
}
