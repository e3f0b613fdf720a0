//! The live web view in a real browser: headless chromium (Debian's) loads `/` from a running
//! appliance with traffic, a denied sender and a rule that fires. The page must render, refresh
//! by itself, show the numbers `/metrics` shows (received, the accounting sum, drops by name,
//! alerts), draw the latency plot, and show new traffic on the next load.
//!
//! Runs as root (CI does). Skips, saying why, only on a kernel without BPF or AF_XDP.

use std::{net::UdpSocket, time::Duration};

use crate::common::{Ingest, TempDir, scrape_until, test_network};
use testbed::netns::{self, VethPair};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules");
const SHELLSHOCK: &str = "<13>Nov 22 10:00:00 web1 httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id";
const DENIED: &str = "198.18.0.67";
const ADDR: &str = "127.0.0.1:9518";

/// Sends `count` messages (the first a Shellshock attempt) and `denied` from the denied sender.
fn send(pair: &VethPair, count: u64, denied: u64) {
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for i in 0..count {
            let m = if i == 0 {
                SHELLSHOCK.to_string()
            } else {
                format!("<14>Nov 22 10:00:00 web1 app[1]: hello {i}")
            };
            sock.send_to(m.as_bytes(), (netns::ADDR_B, 514))?;
        }
        let other = UdpSocket::bind((DENIED, 0))?;
        for _ in 0..denied {
            other.send_to(b"<14>denied", (netns::ADDR_B, 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
}

/// The page's DOM after headless chromium ran it for `virtual_ms` of virtual time.
fn render(pair: &VethPair, profile: &std::path::Path, virtual_ms: u32) -> String {
    let out = VethPair::command(&pair.ns_b, "chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={virtual_ms}"))
        .args(["--dump-dom", &format!("http://{ADDR}/")])
        .output()
        .expect("chromium (Debian's package; deploy/bootstrap.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `data-value` of the element with `id` in `dom`.
fn value_of(dom: &str, id: &str) -> u64 {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page: {dom}"));
    let rest = &dom[at..];
    let v = rest.find("data-value=\"").expect("a data-value") + "data-value=\"".len();
    rest[v..].split('"').next().unwrap().parse().unwrap()
}

#[test]
fn the_web_view_renders_refreshes_and_matches_the_metrics() {
    let Some(pair) = test_network() else {
        return;
    };
    pair.add_address(&pair.ns_a, &format!("{DENIED}/24"))
        .unwrap();
    let ingest = Ingest::start_with(
        &pair,
        "web",
        &[
            "--rules",
            RULES,
            "--deny-source",
            &format!("{DENIED}/32"),
            "--metrics-addr",
            ADDR,
        ],
        false,
    );
    let profile = TempDir::new("web-chromium");
    send(&pair, 120, 5);
    let scrape = scrape_until(&pair, ADDR, "the traffic", Duration::from_secs(10), |s| {
        s.sum("ingest_messages_received_total", &[]) == 120.0
            && s.sum("ingest_alerts_raised_total", &[]) == 1.0
    });
    let drops = scrape.sum("ingest_datagrams_dropped_total", &[]) as u64;
    assert_eq!(drops, 5);

    let dom = render(&pair, &profile.0, 4000);
    assert!(dom.contains("veth-b"), "the identity line: {dom}");
    assert_eq!(value_of(&dom, "received-total"), 120);
    assert_eq!(value_of(&dom, "drops-total"), drops);
    assert_eq!(value_of(&dom, "accounted"), 125, "received + named drops");
    assert_eq!(value_of(&dom, "alerts-raised"), 1);
    assert!(
        dom.contains("data-drop=\"xdp_dropped_denied\" data-value=\"5\""),
        "the drop by name: {dom}"
    );
    assert!(dom.contains("data-rule=\""), "the recent alert: {dom}");
    assert!(dom.contains("() { :; }"), "its message: {dom}");
    assert!(
        dom.contains("<polyline") && dom.contains("data-stage=\"xdp_to_detected\""),
        "the latency plot: {dom}"
    );
    assert!(dom.contains("data-queue=\"0\""), "the queue: {dom}");
    assert!(
        dom.contains(">copy (not zero-copy)<"),
        "its bind mode: {dom}"
    );
    // It refreshed by itself, about once a (virtual) second.
    let refreshes = dom
        .split("data-refreshes=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap();
    assert!(refreshes >= 3, "{refreshes} refreshes");
    assert!(
        dom.contains("<span id=\"error\" class=\"bad\"></span>"),
        "no error shown: {dom}"
    );

    // New traffic shows on the next look.
    send(&pair, 30, 0);
    scrape_until(&pair, ADDR, "more traffic", Duration::from_secs(10), |s| {
        s.sum("ingest_messages_received_total", &[]) == 150.0
    });
    let dom = render(&pair, &profile.0, 1500);
    assert_eq!(value_of(&dom, "received-total"), 150);
    assert_eq!(value_of(&dom, "accounted"), 155);

    // The page is one file: nothing fetched from elsewhere.
    assert!(
        !dom.contains("src=\"http") && !dom.contains("href=\"http"),
        "{dom}"
    );
    drop(ingest);
}
