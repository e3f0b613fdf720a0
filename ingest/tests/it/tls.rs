//! Syslog over TLS (RFC 5425): a client with a certificate the CA vouches for and the
//! allow-list names has every message received; a client of another CA, one the allow-list
//! does not name, one without a certificate and one speaking plaintext are each refused in the
//! handshake and counted by reason. Then a reload reads the certificates and the allow-list
//! again: the refused client is let in and the admitted one refused, with no restart.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use crate::common::{Ingest, TempDir, scrape_until, test_network};
use testbed::{
    netns::{self, VethPair},
    tls::{Issued, Pki, client_config, send_messages},
};

const PORT: u16 = 6514;
const METRICS: &str = "127.0.0.1:9516";

fn config(dir: &std::path::Path, server: &Issued, ca: &Pki, allowed: &str) -> String {
    format!(
        "tls_ports = [{PORT}]\ntls_cert = {:?}\ntls_key = {:?}\ntls_client_ca = {:?}\n\
         tls_allowed_clients = [{allowed:?}]\nrules = [{:?}]\n",
        server.cert,
        server.key,
        ca.ca(),
        dir.join("rules"),
    )
}

/// Sends `count` messages from namespace A as `identity` (none: no client certificate),
/// trusting `trust`; whether the server took them.
fn send(pair: &VethPair, trust: &Pki, identity: Option<&Issued>, tag: &str, count: usize) -> bool {
    let addr = SocketAddr::from((netns::ADDR_B, PORT));
    let config = client_config(&trust.ca(), identity);
    let messages: Vec<String> = (0..count)
        .map(|i| format!("<14>1 2026-12-07T10:00:00Z router ingest-test - - - {tag} {i}"))
        .collect();
    VethPair::run_in(&pair.ns_a, || send_messages(addr, config, &messages))
        .expect("entering the namespace")
        .is_ok()
}

/// Writes syslog in plaintext to the TLS port and waits for the server to close.
fn send_plaintext(pair: &VethPair) {
    VethPair::run_in(&pair.ns_a, || {
        let mut s = TcpStream::connect_timeout(
            &SocketAddr::from((netns::ADDR_B, PORT)),
            Duration::from_secs(5),
        )
        .expect("connecting");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"14 <14>plaintext\n");
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    })
    .expect("entering the namespace");
}

#[test]
fn tls_admits_vouched_and_allowed_clients_and_counts_every_refusal() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = TempDir::new("tls-input");
    std::fs::create_dir_all(dir.0.join("rules")).unwrap();
    let ca = Pki::new(&dir.0, "site");
    let rogue = Pki::new(&dir.0, "rogue");
    let server = ca.issue("server", "collector", &[&netns::ADDR_B.to_string()]);
    let router1 = ca.issue("router1", "router-1.example", &["router-1.example"]);
    let router2 = ca.issue("router2", "router-2.example", &["router-2.example"]);
    let forged = rogue.issue("forged", "router-1.example", &["router-1.example"]);
    let file = dir.0.join("ingest.toml");
    std::fs::write(&file, config(&dir.0, &server, &ca, "router-1.example")).unwrap();
    let ingest = Ingest::start(
        &pair,
        "tls-input",
        &[
            "--backend",
            "socket",
            "--config",
            file.to_str().unwrap(),
            "--metrics-addr",
            METRICS,
        ],
    );

    assert!(
        send(&pair, &ca, Some(&router1), "admitted", 20),
        "router-1 refused"
    );
    assert!(
        !send(&pair, &ca, Some(&router2), "not-allowed", 3),
        "router-2 let in"
    );
    assert!(
        !send(&pair, &ca, Some(&forged), "forged", 3),
        "a rogue CA's client let in"
    );
    assert!(
        !send(&pair, &ca, None, "anonymous", 3),
        "a client without a certificate let in"
    );
    send_plaintext(&pair);
    let scrape = scrape_until(
        &pair,
        METRICS,
        "the refusals",
        Duration::from_secs(10),
        |s| {
            s.sum("ingest_tls_connections_refused_total", &[]) >= 4.0
                && s.sum("ingest_messages_received_total", &[("path", "tls")]) >= 20.0
        },
    );
    let refused = |reason| {
        scrape.sum(
            "ingest_tls_connections_refused_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(refused("not_allowed"), 1.0, "{scrape:#?}");
    assert_eq!(
        refused("certificate"),
        2.0,
        "the rogue CA's and the anonymous client"
    );
    assert_eq!(refused("handshake"), 1.0, "the plaintext client");
    assert_eq!(scrape.sum("ingest_tls_handshakes_total", &[]), 1.0);

    // The allow-list now names router-2 only; a reload reads it, and the files, again.
    std::fs::write(&file, config(&dir.0, &server, &ca, "router-2.example")).unwrap();
    // Reloading over HTTP is off unless the configuration allows it; the signal always works.
    let post = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args(["reload", "--addr", METRICS])
        .output()
        .unwrap();
    assert!(!post.status.success());
    assert!(
        String::from_utf8_lossy(&post.stderr).contains("403"),
        "{post:?}"
    );
    let pid = ingest.pid().to_string();
    let out = VethPair::command(&pair.ns_b, env!("CARGO_BIN_EXE_ingest"))
        .args([
            "reload",
            "--config",
            file.to_str().unwrap(),
            "--addr",
            METRICS,
        ])
        .args(["--pid", &pid])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("TLS certificates read again"), "{said}");
    assert!(!said.contains("restart"), "{said}");
    assert!(
        send(&pair, &ca, Some(&router2), "after-reload", 5),
        "router-2 refused after reload"
    );
    assert!(
        !send(&pair, &ca, Some(&router1), "revoked", 3),
        "router-1 let in after reload"
    );

    let outcome = ingest.stop_after(25);
    let texts: Vec<&str> = outcome
        .messages
        .iter()
        .filter_map(|m| m["parsed"]["message"].as_str())
        .collect();
    assert_eq!(outcome.messages.len(), 25, "{:#?}", outcome.lines);
    assert_eq!(
        texts.iter().filter(|t| t.starts_with("admitted")).count(),
        20
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("after-reload"))
            .count(),
        5
    );
    let tcp = &outcome.report["tcp"];
    assert_eq!(tcp["tls_messages"], 25, "{tcp:#}");
    assert_eq!(tcp["tls_handshakes"], 2, "{tcp:#}");
    assert_eq!(tcp["tls_refused_not_allowed"], 2, "{tcp:#}");
    assert_eq!(tcp["tls_refused_certificate"], 2, "{tcp:#}");
    assert_eq!(tcp["tls_refused_handshake"], 1, "{tcp:#}");
    // Every connection accounted for: two admitted and closed, five refused.
    assert_eq!(tcp["connections_accepted"], 7, "{tcp:#}");
    assert_eq!(tcp["connections_closed"], 2, "{tcp:#}");
    assert_eq!(outcome.report["messages_received_tcp_total"], 25);
}
