//! Alerts scored against the capture's labels: per anomaly kind, recall over the injected
//! anomalies and precision over every alert of the kind.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
};

use serde::Serialize;
use serde_json::Value;

use crate::traffic::Label;

/// Precision and recall of one anomaly kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct KindScore {
    /// Alerts of the kind that match a label (injected or background).
    pub true_positives: u64,
    /// Alerts of the kind.
    pub alerts: u64,
    /// true_positives / alerts (1 when there is no alert).
    pub precision: f64,
    /// Injected anomalies of the kind.
    pub injected: u64,
    /// Injected anomalies some alert found.
    pub found: u64,
    /// found / injected.
    pub recall: f64,
    /// Background anomalies of the kind (labelled, not injected) some alert found, of those
    /// labelled.
    pub background_found: u64,
    /// Background anomalies labelled.
    pub background: u64,
    /// Alerts that matched no label, as `rule: message` (the first few).
    pub false_positives: Vec<String>,
}

impl KindScore {
    /// Precision and recall from the counts.
    pub(super) fn finish(&mut self) {
        self.precision = if self.alerts == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.alerts as f64
        };
        self.recall = if self.injected == 0 {
            1.0
        } else {
            self.found as f64 / self.injected as f64
        };
    }
}

/// The alert's sender address.
fn src_of(alert: &Value) -> Option<IpAddr> {
    alert["src"]
        .as_str()
        .and_then(|s| s.parse::<SocketAddr>().ok())
        .map(|s| s.ip())
}

/// Which label kind an alert is about, and whether it matches `label`.
fn alert_kind(alert: &Value) -> Option<&'static str> {
    match alert["kind"].as_str()? {
        "threshold" if alert["id"] == "ssh-brute-force" => Some("brute_force"),
        "sigma" => Some("sigma"),
        "new_template" => Some("new_template"),
        "rate_spike" => Some("rate_spike"),
        "silence" => Some("silence"),
        _ => None,
    }
}

fn matches(alert: &Value, label: &Label) -> bool {
    let key = alert["key"].as_str().unwrap_or("");
    let message = alert["message"].as_str().unwrap_or("");
    match label.kind.as_str() {
        "brute_force" => key == label.key,
        "sigma" => alert["id"] == label.rule.as_str() && src_of(alert) == Some(label.sender),
        "new_template" => message.contains(&label.key),
        "rate_spike" => src_of(alert) == Some(label.sender),
        "silence" => key == label.key,
        _ => false,
    }
}

/// Precision and recall per anomaly kind.
pub fn score(alerts: &[Value], labels: &[Label]) -> BTreeMap<String, KindScore> {
    let mut scores: BTreeMap<String, KindScore> = BTreeMap::new();
    for l in labels {
        let s = scores.entry(l.kind.clone()).or_default();
        let found = alerts
            .iter()
            .any(|a| alert_kind(a) == Some(l.kind.as_str()) && matches(a, l));
        if l.injected {
            s.injected += 1;
            s.found += u64::from(found);
        } else {
            s.background += 1;
            s.background_found += u64::from(found);
        }
    }
    for a in alerts {
        let Some(kind) = alert_kind(a) else { continue };
        let s = scores.entry(kind.to_string()).or_default();
        s.alerts += 1;
        if labels.iter().any(|l| l.kind == kind && matches(a, l)) {
            s.true_positives += 1;
        } else if s.false_positives.len() < 5 {
            s.false_positives.push(format!(
                "{}: {}",
                a["rule"].as_str().unwrap_or("?"),
                a["message"]
                    .as_str()
                    .filter(|m| !m.is_empty())
                    .or(a["key"].as_str())
                    .unwrap_or("")
            ));
        }
    }
    scores.values_mut().for_each(KindScore::finish);
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(kind: &str, key: &str, injected: bool) -> Label {
        Label {
            kind: kind.into(),
            rule: "r".into(),
            sender: "198.18.1.5".parse().unwrap(),
            key: key.into(),
            start_s: 0.0,
            end_s: 1.0,
            messages: 1,
            injected,
        }
    }

    #[test]
    fn alerts_are_scored_per_kind_against_injected_and_background_labels() {
        let labels = [
            label("brute_force", "203.0.113.66", true),
            label("brute_force", "198.51.100.23", true),
            label("brute_force", "5.188.10.180", false),
            label("rate_spike", "host0007", true),
            label("silence", "host0500", true),
        ];
        let alerts: Vec<Value> = [
            r#"{"kind":"threshold","id":"ssh-brute-force","key":"203.0.113.66","message":"m"}"#,
            r#"{"kind":"threshold","id":"ssh-brute-force","key":"5.188.10.180","message":"m"}"#,
            r#"{"kind":"threshold","id":"ssh-brute-force","key":"10.9.9.9","message":"m"}"#,
            r#"{"kind":"rate_spike","src":"198.18.1.5:514","key":"t","message":"m"}"#,
            r#"{"kind":"sigma","id":"x","rule":"X","src":"198.18.1.6:514","message":"m"}"#,
            r#"{"kind":"correlation","id":"c","message":"m"}"#,
        ]
        .iter()
        .map(|a| serde_json::from_str(a).unwrap())
        .collect();
        let s = score(&alerts, &labels);
        let bf = &s["brute_force"];
        assert_eq!(
            (bf.injected, bf.found, bf.background, bf.background_found),
            (2, 1, 1, 1)
        );
        assert_eq!((bf.alerts, bf.true_positives), (3, 2));
        assert!((bf.recall - 0.5).abs() < 1e-9 && (bf.precision - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(bf.false_positives.len(), 1);
        assert_eq!(
            (s["rate_spike"].recall, s["rate_spike"].precision),
            (1.0, 1.0)
        );
        assert_eq!((s["silence"].recall, s["silence"].alerts), (0.0, 0));
        let sigma = &s["sigma"];
        assert_eq!(
            (sigma.alerts, sigma.true_positives, sigma.precision),
            (1, 0, 0.0)
        );
        assert!(
            !s.contains_key("correlation"),
            "unlabelled kinds are not scored"
        );
    }
}
