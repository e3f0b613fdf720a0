use super::*;
use std::time::Duration;

use crate::{
    datapath::{
        live,
        pipeline::{Inbox, outbox},
    },
    sys::fake::FakeRings,
};
use detector::{
    engine::{Blueprint, EngineOptions, Rules},
    rules::sigma::{LogsourceMap, SigmaRule},
};

/// A frame from `src` to the log port carrying `payload`, its checksums right.
fn frame(src: &str, payload: &str) -> Vec<u8> {
    let src: std::net::SocketAddr = src.parse().unwrap();
    let dst = if src.is_ipv4() {
        "198.18.0.2:514"
    } else {
        "[2001:2::2]:514"
    };
    testbed::craft::UdpFrame {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        vlans: &[],
        src,
        dst: dst.parse().unwrap(),
        payload: payload.as_bytes(),
    }
    .build()
}

/// A pipeline whose engine has one Sigma rule, firing on `Failed password`.
fn pipeline() -> (Pipeline, Inbox) {
    let rule = SigmaRule::from_yaml(
        "f.yml",
        "title: f\nlogsource: {product: linux}\n\
         detection: {keywords: ['Failed password'], condition: keywords}\n",
        &LogsourceMap::default(),
    )
    .unwrap();
    let rules = Rules {
        sigma: vec![rule],
        ..Rules::default()
    };
    let opts = EngineOptions {
        budget_bytes: 1 << 20,
        ..EngineOptions::default()
    };
    let engine = Box::new(Blueprint::new(&rules, opts).engine());
    let (out, inbox) = outbox(64, 64);
    (Pipeline::new(0, false, engine, out), inbox)
}

/// The worker loop, unprivileged: frames from a fake ring, a batch at a time, through the
/// loop, the frame decoder, the pipeline and the engine; the counters published as it
/// goes; frames still queued when the stop comes read by the drain, not lost.
#[test]
fn the_worker_loop_runs_on_a_fake_ring_and_drains_at_stop() {
    let mut rings = FakeRings::default();
    let t = monotonic_ns();
    let good: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            frame(
                "198.18.0.1:4000",
                &format!("<38>Nov 22 10:00:00 h sshd[1]: ok {i}"),
            )
        })
        .collect();
    rings.push_batch(&good, t);
    let mut bad = frame("198.18.0.1:4000", "<38>Nov 22 10:00:00 h sshd[1]: x");
    let at = bad.len() - 1;
    bad[at] ^= 0xff; // the UDP checksum no longer holds
    rings.push_batch(
        &[
            frame(
                "[2001:2::1]:4000",
                "<38>Nov 22 10:00:00 h sshd[1]: Failed password",
            ),
            bad,
            vec![0u8; 10],
        ],
        t,
    );
    let mut source = Source::Xdp(XdpSource::new(rings, Checksums::Verify));
    let (mut p, mut inbox) = pipeline();
    let (mut publisher, mut reader) = live::channel();
    let stop = AtomicBool::new(false);
    let waiting = Waiting {
        mode: Mode::Poll,
        poll_timeout_ms: 1,
        coalesce: Duration::ZERO,
        batch_size: 64,
        reopen_after: Duration::from_secs(1),
    };
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| run(&mut source, &mut p, &mut publisher, &stop, waiting));
        // The loop takes both batches and publishes as it goes.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while reader.read().xdp.is_none_or(|x| x.xsk.frames_received < 67) {
            assert!(std::time::Instant::now() < deadline, "{:?}", reader.read());
            std::thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Relaxed);
        assert_eq!(worker.join().unwrap().unwrap(), Ended::Stopped);
    });
    let Source::Xdp(x) = &mut source else {
        unreachable!()
    };
    // Queued after the stop: the drain reads them.
    x.queue.push_batch(&good[..3], t);
    let stop = AtomicBool::new(true);
    run(&mut source, &mut p, &mut publisher, &stop, waiting).unwrap();

    let c = p.counters();
    assert_eq!((c.received_xdp, c.parsed), (65 + 3, 65 + 3));
    assert_eq!(
        c.latency_unmeasured, 0,
        "every frame carried its arrival time"
    );
    let Source::Xdp(x) = &source else {
        unreachable!()
    };
    assert_eq!(x.frame_drops[FrameError::BadUdpChecksum.index()], 1);
    assert_eq!(x.frame_drops[FrameError::Malformed.index()], 1);
    let counters = x.queue.counters();
    assert_eq!((counters.frames_received, counters.batches), (70, 3));
    assert!(x.queue.waits > 0, "poll mode sleeps when the ring is empty");
    assert_eq!(
        x.queue.kicks,
        2 * u64::from(DRAIN_EMPTY_ROUNDS),
        "poll mode kicks only while draining, once each empty look"
    );
    // The Sigma rule fired once, on the IPv6 message, and its alert left the worker.
    let alerts: Vec<_> = std::iter::from_fn(|| inbox.alerts.pop().ok()).collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].sample.src, "[2001:2::1]:4000".parse().unwrap());
}

#[test]
fn only_a_sustained_run_of_refused_kicks_breaks_a_socket() {
    let after = Duration::from_millis(100);
    let ms = 1_000_000;
    let mut s = KickStreak::default();
    // Refused, but not for long enough.
    assert!(!s.broken(1, 0, after));
    assert!(!s.broken(2, 50 * ms, after));
    // A kick that went through ends the streak.
    assert!(!s.broken(2, 60 * ms, after));
    assert!(!s.broken(3, 70 * ms, after));
    assert!(!s.broken(4, 120 * ms, after));
    assert!(!s.broken(5, 169 * ms, after), "99 ms of refusals");
    assert!(s.broken(6, 170 * ms, after), "100 ms of refusals");
    // However long, two refusals are not enough.
    let mut s = KickStreak::default();
    assert!(!s.broken(1, 0, after));
    assert!(!s.broken(2, 10_000 * ms, after));
    assert!(s.broken(3, 10_001 * ms, after));
}

/// A socket the kernel keeps refusing is drained and handed back for a reopen; the new
/// socket's counters carry on from the old one's, so none goes backwards.
#[test]
fn a_refused_socket_is_drained_then_reopened_with_its_counts_carried() {
    let t = monotonic_ns();
    let frames: Vec<Vec<u8>> = (0..4)
        .map(|i| frame("198.18.0.1:4000", &format!("<38>h sshd[1]: n {i}")))
        .collect();
    let mut rings = FakeRings::refusing();
    rings.push_batch(&frames, t);
    let (mut p, _inbox) = pipeline();
    let (mut publisher, mut reader) = live::channel();
    let stop = AtomicBool::new(false);
    for mode in [Mode::BusyPoll, Mode::Poll] {
        let waiting = Waiting {
            mode,
            poll_timeout_ms: 1,
            coalesce: Duration::ZERO,
            batch_size: 64,
            reopen_after: Duration::from_millis(5),
        };
        let mut source = Source::Xdp(XdpSource::new(FakeRings::refusing(), Checksums::Verify));
        let ended = run(&mut source, &mut p, &mut publisher, &stop, waiting).unwrap();
        assert_eq!(ended, Ended::Reopen, "{mode:?}");
    }

    let waiting = Waiting {
        mode: Mode::BusyPoll,
        poll_timeout_ms: 1,
        coalesce: Duration::ZERO,
        batch_size: 64,
        reopen_after: Duration::from_millis(5),
    };
    let mut source = Source::Xdp(XdpSource::new(rings, Checksums::Verify));
    assert_eq!(
        run(&mut source, &mut p, &mut publisher, &stop, waiting).unwrap(),
        Ended::Reopen
    );
    let Source::Xdp(old) = source else {
        unreachable!()
    };
    let kick_errors = old.queue().counters().kick_errors;
    assert!(kick_errors >= u64::from(KickStreak::MIN_REFUSALS));
    let earlier = old.retire();
    assert_eq!(earlier.xsk.frames_received, 4, "read before the reopen");
    assert_eq!(earlier.socket_reopens, 1);

    // The new socket: its frames count on top of the old one's.
    let mut rings = FakeRings::default();
    rings.push_batch(&frames[..2], t);
    let mut source = Source::Xdp(XdpSource::resumed(rings, Checksums::Verify, earlier));
    let stop = AtomicBool::new(true);
    assert_eq!(
        run(&mut source, &mut p, &mut publisher, &stop, waiting).unwrap(),
        Ended::Stopped
    );
    publisher.publish(&mut source, &mut p, monotonic_ns());
    let x = reader.read().xdp.unwrap();
    assert_eq!(x.xsk.frames_received, 6);
    assert_eq!(x.xsk.kick_errors, kick_errors);
    assert_eq!(x.socket_reopens, 1);
    assert_eq!(p.counters().received_xdp, 6);
}

#[test]
fn the_pause_fills_a_batch_at_the_measured_rate_and_no_longer() {
    let max = Duration::from_micros(50);
    let mut p = Pacer::new(64, max);
    // A trickle: one message every millisecond gets the whole pause.
    for i in 1..20u64 {
        assert_eq!(p.after_batch(1, i * 1_000_000), max);
    }
    // Full batches: no pause.
    assert_eq!(p.after_batch(64, 20_000_000), Duration::ZERO);
    // 32 messages every 10 µs (3.2 per µs): the other 32 arrive in about 10 µs.
    let mut t = 30_000_000;
    let mut pause = Duration::ZERO;
    for _ in 0..50 {
        t += 10_000;
        pause = p.after_batch(32, t);
    }
    assert!(
        (Duration::from_micros(8)..Duration::from_micros(12)).contains(&pause),
        "{pause:?}"
    );
    // Half a batch at 100 messages per µs: filled in well under the floor, so none.
    for _ in 0..50 {
        t += 320;
        pause = p.after_batch(32, t);
    }
    assert_eq!(pause, Duration::ZERO);
}
