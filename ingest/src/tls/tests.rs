use testbed::{TempDir, tls::Pki};

use super::*;

fn entries(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn allow_list_entries_are_names_or_fingerprints_and_bad_ones_are_named() {
    let hex = "AB".repeat(32);
    let colons = vec!["ab"; 32].join(":");
    let list = ClientAllowList::parse(&entries(&[
        "Router-1.Example",
        &format!("sha256:{hex}"),
        &format!("SHA256:{colons}"),
    ]))
    .unwrap();
    assert!(!list.is_empty());
    for bad in ["", "sha256:abcd", &format!("sha256:{}", "zz".repeat(32))] {
        let err = ClientAllowList::parse(&entries(&[bad])).unwrap_err();
        assert!(matches!(err, TlsError::AllowEntry(..)), "{bad:?}: {err}");
    }
    assert!(ClientAllowList::parse(&[]).unwrap().is_empty());
}

#[test]
fn names_match_dns_alt_names_first_then_the_common_name() {
    let dir = TempDir::new("tls-names");
    let ca = Pki::new(&dir.0, "names");
    // Alt names present: the common name does not count (RFC 5425, section 5.2).
    let with_san = ca.issue("san", "cn-only.example", &["alt.example"]);
    let cn_only = ca.issue("cn", "Router-9.Example", &[]);
    let list = |names: &[&str]| ClientAllowList::parse(&entries(names)).unwrap();
    assert!(list(&["ALT.example"]).admits(&with_san.der));
    assert!(!list(&["cn-only.example"]).admits(&with_san.der));
    assert!(list(&["router-9.example"]).admits(&cn_only.der));
    assert!(!list(&["router-1.example"]).admits(&cn_only.der));
    // A fingerprint admits exactly one certificate, whatever its names.
    let by_print = list(&[&cn_only.fingerprint()]);
    assert!(by_print.admits(&cn_only.der));
    assert!(!by_print.admits(&with_san.der));
    assert!(list(&[]).admits(&with_san.der), "no list: the CA decides");
    assert!(!list(&["x.example"]).admits(b"not a certificate"));
}

#[test]
fn settings_that_cannot_work_say_what_is_wrong() {
    let dir = TempDir::new("tls-settings");
    let ca = Pki::new(&dir.0, "settings");
    let server = ca.issue("server", "collector", &["collector.example"]);
    let other = ca.issue("other", "other", &["other.example"]);
    let good = ServerSettings {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: Some(ca.ca()),
        allowed_clients: entries(&["router.example"]),
    };
    good.load().expect("a complete configuration loads");
    let missing = ServerSettings {
        cert: dir.0.join("absent.pem"),
        ..good.clone()
    };
    let err = missing.load().unwrap_err();
    assert!(err.to_string().contains("absent.pem"), "{err}");
    let no_ca = ServerSettings {
        client_ca: None,
        ..good.clone()
    };
    assert!(matches!(no_ca.load(), Err(TlsError::Incomplete(_))));
    let wrong_key = ServerSettings {
        key: other.key.clone(),
        ..good.clone()
    };
    assert!(matches!(wrong_key.load(), Err(TlsError::Rustls(_))));
    let key_as_ca = ServerSettings {
        client_ca: Some(server.key.clone()),
        ..good.clone()
    };
    assert!(matches!(key_as_ca.load(), Err(TlsError::NoCertificate(_))));
    let client = ClientSettings {
        ca: Some(ca.ca()),
        cert: Some(other.cert.clone()),
        key: None,
    };
    assert!(matches!(client.load(), Err(TlsError::Incomplete(_))));
    ClientSettings {
        key: Some(other.key.clone()),
        ..client
    }
    .load()
    .expect("a client certificate with its key");
}

/// Runs a handshake between `client` and the server of `acceptor` in memory; the server's
/// error, if it refused.
fn handshake(acceptor: &Acceptor, client: Arc<rustls::ClientConfig>) -> Option<rustls::Error> {
    let name = rustls_pki_types::ServerName::try_from("collector.example").unwrap();
    let mut c = rustls::ClientConnection::new(client, name).unwrap();
    let mut s = acceptor.session().unwrap();
    for _ in 0..10 {
        let mut wire = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut wire).unwrap();
        }
        let mut rd = &wire[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).unwrap();
        }
        if let Err(e) = s.process_new_packets() {
            return Some(e);
        }
        let mut back = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut back).unwrap();
        }
        let mut rd = &back[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).unwrap();
        }
        let _ = c.process_new_packets();
        if !s.is_handshaking() && !c.is_handshaking() && !c.wants_write() {
            return None;
        }
    }
    panic!("the handshake did not end");
}

#[test]
fn refusals_are_told_apart_and_a_replaced_configuration_applies_to_new_sessions() {
    let dir = TempDir::new("tls-refusals");
    let ca = Pki::new(&dir.0, "site");
    let rogue = Pki::new(&dir.0, "rogue");
    let server = ca.issue("server", "collector", &["collector.example"]);
    let allowed = ca.issue("allowed", "a", &["allowed.example"]);
    let stranger = ca.issue("stranger", "s", &["stranger.example"]);
    let forged = rogue.issue("forged", "a", &["allowed.example"]);
    let settings = |allowed: &str| ServerSettings {
        cert: server.cert.clone(),
        key: server.key.clone(),
        client_ca: Some(ca.ca()),
        allowed_clients: entries(&[allowed]),
    };
    let acceptor = Acceptor::new(settings("allowed.example").load().unwrap());
    let client = |id| testbed::tls::client_config(&ca.ca(), id);
    let refusal = |id| handshake(&acceptor, client(id)).map(|e| Refusal::of(&e));
    assert_eq!(refusal(Some(&allowed)), None);
    assert_eq!(refusal(Some(&stranger)), Some(Refusal::NotAllowed));
    assert_eq!(refusal(Some(&forged)), Some(Refusal::Certificate));
    assert_eq!(refusal(None), Some(Refusal::Certificate));

    acceptor.replace(settings("stranger.example").load().unwrap());
    assert_eq!(refusal(Some(&stranger)), None);
    assert_eq!(refusal(Some(&allowed)), Some(Refusal::NotAllowed));
    assert_eq!(
        Refusal::ALL.map(Refusal::name),
        [
            "tls_refused_certificate",
            "tls_refused_not_allowed",
            "tls_refused_handshake",
            "tls_refused_timeout"
        ]
    );
}
