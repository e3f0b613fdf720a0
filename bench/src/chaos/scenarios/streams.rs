//! Scenarios of the streams: TLS clients refused for their certificate, plaintext TCP
//! syslog gone wrong.

use std::time::Duration;

use super::{drops_sum, marked};
use crate::chaos::{Check, Outcome, Scale, rig::Rig};

/// TLS clients with a certificate from another CA, one the allow-list does not name, and one
/// speaking plaintext, beside an admitted client: each refusal counted by reason, every
/// message of the admitted client received.
pub(in crate::chaos) fn tls_wrong_certificate(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    use testbed::tls::{Pki, client_config, send_messages};
    const TLS_PORT: u16 = 6514;
    let site = Pki::new(&rig.dir.0, "site");
    let rogue = Pki::new(&rig.dir.0, "rogue");
    let server = site.issue(
        "collector",
        "collector",
        &[&testbed::netns::ADDR_B.to_string()],
    );
    let admitted = site.issue("router1", "router-1.example", &["router-1.example"]);
    let stranger = site.issue("router2", "router-2.example", &["router-2.example"]);
    let forged = rogue.issue("forged", "router-1.example", &["router-1.example"]);
    let path = |p: &std::path::Path| p.to_str().unwrap_or_default().to_string();
    let (cert, key, ca) = (path(&server.cert), path(&server.key), path(&site.ca()));
    let daemon = rig.start(&[
        "--backend",
        "socket",
        "--tls-ports",
        &TLS_PORT.to_string(),
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-client-ca",
        &ca,
        "--tls-allowed-clients",
        "router-1.example",
    ])?;
    let addr = std::net::SocketAddr::from((testbed::netns::ADDR_B, TLS_PORT));
    let n = (scale.messages / 4).max(100);
    let messages: Vec<String> = (0..n).map(marked).collect();
    let attempt = |config| {
        testbed::netns::VethPair::run_in(&rig.pair.ns_a, || {
            send_messages(addr, config, &messages).is_ok()
        })
    };
    anyhow::ensure!(
        attempt(client_config(&site.ca(), Some(&admitted)))?,
        "the admitted client was refused"
    );
    let tries = 5u64;
    let mut let_in = 0;
    for _ in 0..tries {
        for config in [
            client_config(&site.ca(), Some(&forged)),
            client_config(&site.ca(), Some(&stranger)),
            client_config(&site.ca(), None),
        ] {
            let_in += u64::from(attempt(config)?);
        }
    }
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    let tcp = |k: &str| stopped.get(&format!("/tcp/{k}"));
    let refused = tcp("tls_refused_certificate")
        + tcp("tls_refused_not_allowed")
        + tcp("tls_refused_handshake")
        + tcp("tls_refused_timeout");
    Ok(Outcome {
        name: "tls-wrong-certificate",
        sent: n,
        received,
        checks: vec![
            Check::new(
                "messages of the admitted client = received over TLS",
                n,
                tcp("tls_messages"),
            ),
            Check::new("refused clients let in", 0, let_in),
            Check::new(
                "connections: accepted = handshakes + refusals",
                tcp("connections_accepted"),
                tcp("tls_handshakes") + refused,
            ),
            Check::new(
                "refused: 5 of another CA and 5 without a certificate, 5 not allowed",
                3 * tries,
                refused,
            ),
        ],
        drops,
        notes: vec![format!(
            "refused: certificate {}, not allowed {}, handshake {}, timeout {}",
            tcp("tls_refused_certificate"),
            tcp("tls_refused_not_allowed"),
            tcp("tls_refused_handshake"),
            tcp("tls_refused_timeout")
        )],
    })
}

/// Plaintext TCP syslog gone wrong: well-framed messages, a message longer than the limit, a
/// stream whose octet count is not a number, and a connection closed in the middle of a
/// message. Every message is received or dropped with its reason.
pub(in crate::chaos) fn tcp_abuse(rig: &Rig, scale: Scale) -> anyhow::Result<Outcome> {
    use std::io::Write;
    let daemon = rig.start(&["--backend", "socket", "--tcp-max-message", "4096"])?;
    let n = (scale.messages / 4).max(100);
    let to = std::net::SocketAddr::from((testbed::netns::ADDR_B, crate::chaos::rig::PORT));
    let sent = testbed::netns::VethPair::run_in(&rig.pair.ns_a, || -> anyhow::Result<u64> {
        let connect = || std::net::TcpStream::connect_timeout(&to, Duration::from_secs(5));
        let mut sent = 0;
        // Well framed, with a too-long message in the middle: skipped, the stream goes on.
        let mut good = connect()?;
        for i in 0..n {
            let m = marked(i);
            write!(good, "{} {m}", m.len())?;
            sent += 1;
            if i == n / 2 {
                let long = "y".repeat(5000);
                write!(good, "{} {long}", long.len())?;
                sent += 1;
            }
        }
        drop(good);
        // An octet count that is not a number: the rest of that stream is discarded.
        let mut bad = connect()?;
        bad.write_all(b"12x <14>Dec  7 10:00:00 chaos app[1]: bad count")?;
        sent += 1;
        drop(bad);
        // Closed half way through a message.
        let mut cut = connect()?;
        cut.write_all(b"100 <14>Dec  7 10:00:00 chaos app[1]: cut short")?;
        sent += 1;
        drop(cut);
        Ok(sent)
    })??;
    std::thread::sleep(Duration::from_millis(500));
    let stopped = daemon.stop()?;
    let drops = stopped.drops();
    let received = stopped.received();
    Ok(Outcome {
        name: "tcp-abuse",
        sent,
        received,
        checks: vec![Check::new(
            "messages: sent = received + drops",
            sent,
            received + drops_sum(&drops),
        )],
        drops,
        notes: Vec::new(),
    })
}
