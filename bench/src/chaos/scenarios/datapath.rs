//! Scenarios of the datapath: malformed frames, a denied source's fragments, reloads and a
//! SIGTERM under load.

use std::time::Duration;

use super::{datagrams_close, drops_sum, marker_rule, under_load};
use crate::chaos::{Check, Outcome, Scale, frames::Kind, rig::Rig};

/// A flood of malformed frames among well-formed log datagrams: every malformed one is dropped
/// with its reason (in XDP, in user space, by the kernel with a counter read back) or, when the
/// kernel can still read it (a long IPv6 extension chain, tiny fragments), received on the
/// socket path; every well-formed one is received through AF_XDP.
pub(in crate::chaos) fn malformed_flood(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let daemon = rig.start(&[])?;
    let link = rig.link()?;
    let per_kind = (scale.messages / 40).max(20);
    let bad: Vec<Vec<Vec<u8>>> = Kind::ALL
        .iter()
        .flat_map(|&k| (0..per_kind).map(move |i| (k, i)))
        .map(|(k, i)| link.malformed(k, i))
        .collect();
    // Interleaved: a malformed datagram every few well-formed ones.
    let stride = (scale.messages as usize / bad.len()).max(1);
    let mut frames = Vec::new();
    let mut bad_iter = bad.iter();
    for i in 0..scale.messages {
        frames.push(link.valid(i));
        if (i as usize).is_multiple_of(stride)
            && let Some(group) = bad_iter.next()
        {
            frames.extend(group.iter().cloned());
        }
    }
    for group in bad_iter {
        frames.extend(group.iter().cloned());
    }
    let datagrams = scale.messages + bad.len() as u64;
    rig.send_frames(&frames, scale.rate)?;
    std::thread::sleep(Duration::from_millis(500));
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let xdp = &stopped.report["xdp"];
    let decisions: Vec<String> = xdp
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
                .map(|(k, v)| format!("{k} {v}"))
                .collect()
        })
        .unwrap_or_default();
    Ok(Outcome {
        name: "malformed-flood",
        sent: datagrams,
        received,
        checks: vec![
            Check::new(
                "datagrams: sent = received + drops (the kernel's too)",
                datagrams,
                received + drops_sum(&drops),
            ),
            Check::new(
                "well-formed: sent = received through AF_XDP",
                scale.messages,
                stopped.get("/messages_received_xdp_total"),
            ),
        ],
        drops,
        notes: vec![
            format!(
                "{per_kind} of each of {} kinds: {}",
                Kind::ALL.len(),
                Kind::ALL.map(Kind::name).join(", ")
            ),
            format!("XDP decisions (frames): {}", decisions.join(", ")),
        ],
    })
}

/// A sender the filter denies sends small and fragmented datagrams (4,000 bytes over a
/// 1,500-byte link) beside an allowed sender: every denied one is dropped and counted, none is
/// received. `backend` is `xdp` or `socket`.
fn denied_fragments(
    rig: &Rig,
    scale: Scale,
    backend: &str,
    name: &'static str,
) -> anyhow::Result<Outcome> {
    let denied: std::net::IpAddr = "198.18.0.200".parse()?;
    rig.pair.add_address(&rig.pair.ns_a, "198.18.0.200/24")?;
    let daemon = rig.start(&["--backend", backend, "--deny-source", "198.18.0.200/32"])?;
    let n = (scale.messages / 4).max(50);
    let message = |tag: &'static str| {
        move |i: u64| {
            let body = format!("<14>Dec  7 10:00:00 chaos app[1]: {tag} {i} ");
            if i % 2 == 1 {
                // Odd ones are fragmented.
                format!("{body}{}", "x".repeat(4000))
            } else {
                body
            }
        }
    };
    let rate = scale.rate.min(10_000.0);
    let from_allowed = rig.send_udp(testbed::netns::ADDR_A.into(), n, rate, message("allowed"))?;
    let from_denied = rig.send_udp(denied, n, rate, message("denied"))?;
    std::thread::sleep(Duration::from_millis(500));
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let sent = from_allowed + from_denied;
    Ok(Outcome {
        name,
        sent,
        received,
        checks: vec![
            datagrams_close(sent, received, &drops),
            Check::new(
                "nobody let in: received = the allowed sender's",
                from_allowed,
                received,
            ),
        ],
        drops,
        notes: vec![format!(
            "{n} datagrams from each sender, every other one fragmented"
        )],
    })
}

/// [`denied_fragments`] on the XDP backend.
pub(in crate::chaos) fn denied_fragments_xdp(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    denied_fragments(rig, scale, "xdp", "denied-fragments-xdp")
}

/// [`denied_fragments`] on the socket backend.
pub(in crate::chaos) fn denied_fragments_socket(
    rig: &Rig,
    scale: Scale,
) -> anyhow::Result<Outcome> {
    denied_fragments(rig, scale, "socket", "denied-fragments-socket")
}

/// Three reloads while messages stream in: every message is received or counted, across every
/// engine swap.
pub(in crate::chaos) fn reload_under_load(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let rules = marker_rule(&rig.dir.0, "chaos-marker")?;
    let daemon = rig.start(&["--rules", rules.to_str().unwrap_or_default()])?;
    let n = scale.messages.max(6_000);
    let rate = scale.rate.min(10_000.0);
    let seconds = n as f64 / rate;
    let (sent, said) = under_load(rig, n, rate, || {
        let mut said = Vec::new();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_secs_f64(seconds / 4.0));
            said.push(rig.ingest_command(&[
                "reload",
                "--addr",
                crate::chaos::rig::METRICS,
                "--pid",
                &daemon.process.pid().to_string(),
            ])?);
        }
        Ok(said)
    })?;
    std::thread::sleep(Duration::from_millis(500));
    let generation = rig.metric("ingest_rules_generation", &[])?;
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    Ok(Outcome {
        name: "reload-under-load",
        sent,
        received,
        checks: vec![
            datagrams_close(sent, received, &drops),
            Check::new("reloads applied", 3, generation as u64),
        ],
        drops,
        notes: vec![
            said.last()
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        ],
    })
}

/// SIGTERM while messages stream in: the steering goes off first, then the rings and socket
/// buffers are drained. Every datagram the XDP program steered is received or counted, and so
/// is every one the sockets took; what arrives after the steering is off is the kernel's (no
/// listener), not a loss inside the appliance.
pub(in crate::chaos) fn sigterm_under_load(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    let daemon = rig.start(&[])?;
    let n = scale.messages.max(6_000);
    let rate = scale.rate.min(20_000.0);
    let (sent, stopped) = under_load(rig, n, rate, || {
        std::thread::sleep(Duration::from_secs_f64(n as f64 / rate / 2.0));
        daemon.stop()
    })?;
    let drops = stopped.drops();
    let received = stopped.received();
    let after_close = sent.saturating_sub(received + drops_sum(&drops));
    let xdp = |name: &str| stopped.get(&format!("/xdp/{name}"));
    let queue_drops: u64 = drops
        .iter()
        .filter(|(k, _)| k.starts_with("xsk_") || k.starts_with("frame_"))
        .map(|(_, v)| v)
        .sum();
    let udp_drops: u64 = drops
        .iter()
        .filter(|(k, _)| k.starts_with("udp_"))
        .map(|(_, v)| v)
        .sum();
    Ok(Outcome {
        name: "sigterm-under-load",
        sent,
        received,
        checks: vec![
            Check::new(
                "steered by XDP = received through AF_XDP + ring and frame drops",
                xdp("xdp_steered"),
                stopped.get("/messages_received_xdp_total") + queue_drops,
            ),
            Check::new(
                "taken by the sockets = received on them + socket drops",
                stopped.get("/udp/datagrams") + stopped.get("/udp/dropped_socket"),
                stopped.get("/messages_received_udp_total") + udp_drops,
            ),
        ],
        drops,
        notes: vec![format!(
            "stopped half way: {} received through AF_XDP before the steering went off, {} by \
             the sockets while draining; the other {} arrived after the sockets closed",
            stopped.get("/messages_received_xdp_total"),
            stopped.get("/messages_received_udp_total"),
            after_close
        )],
    })
}
