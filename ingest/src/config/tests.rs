use super::*;

#[test]
fn the_example_file_is_the_defaults() {
    let text = include_str!("../../../deploy/ingest.toml");
    // Read as the file says (its rule folder exists on an installed host, not here).
    let example: Config = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        example.iface, None,
        "no interface named: every host's differs"
    );
    assert_eq!(
        example.rules,
        [std::path::PathBuf::from("/etc/ingest/rules")],
        "the shipped rules, where the unit's installation steps put them"
    );
    let defaults = Config {
        rules: example.rules.clone(),
        ..Config::default()
    };
    assert_eq!(
        toml::to_string(&example).unwrap(),
        toml::to_string(&defaults).unwrap(),
        "deploy/ingest.toml documents every default"
    );
}

#[test]
fn syntax_and_type_errors_have_a_line_and_column() {
    let e = Config::parse("iface = \"eth0\"\nqueues = [0, 1\n").unwrap_err();
    assert_eq!((e.len(), e[0].line), (1, 2), "{e:?}");
    let e = Config::parse("iface = \"eth0\"\nbatch_size = \"big\"\n").unwrap_err();
    assert_eq!((e[0].line, e[0].column), (2, 14), "{e:?}");
    let e = Config::parse("ifcae = \"eth0\"\n").unwrap_err();
    assert!(e[0].message.contains("unknown field"), "{e:?}");
}

#[test]
fn every_bad_value_is_reported_at_its_key() {
    let text = "iface = \"eth0\"\nports = [0]\n  deny_source = [\"10.0.0.0/33\"]\nframe_count = 1000\nmetrics_addr = \"localhost\"\n";
    let e = Config::parse(text).unwrap_err();
    let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(at, [(2, 1), (3, 3), (4, 1), (5, 1)], "{e:?}");
    assert!(e[3].message.starts_with("metrics_addr:"), "{e:?}");
    assert!(e[1].message.starts_with("deny_source: bad prefix"), "{e:?}");
}

#[test]
fn a_source_both_allowed_and_denied_is_a_problem() {
    let e =
        Config::parse("allow_source = [\"198.18.0.0/24\"]\ndeny_source = [\"198.18.0.9/24\"]\n")
            .unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(
        e[0].message,
        "deny_source: 198.18.0.0/24 is both allowed and denied"
    );
    assert_eq!(e[0].line, 2);
}

#[test]
fn tls_problems_point_at_the_key_to_fix() {
    let e = Config::parse("tls_ports = [6514]\n").unwrap_err();
    assert_eq!(
        e[0].message,
        "tls_ports: tls_ports needs tls_cert and tls_key"
    );
    let e = Config::parse("tls_cert = \"/x.pem\"\n").unwrap_err();
    assert_eq!(
        e[0].message,
        "tls_ports: tls_cert is set but tls_ports is empty"
    );
    let text =
        "tls_ports = [6514]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n";
    let e = Config::parse(text).unwrap_err();
    assert_eq!((e.len(), e[0].line), (1, 2), "{e:?}");
    assert!(
        e[0].message.starts_with("tls_cert: /nonexistent/c.pem"),
        "{e:?}"
    );
    let e =
        Config::parse("ports = [6514]\ntls_ports = [6514]\ntls_cert = \"/c\"\ntls_key = \"/k\"\n")
            .unwrap_err();
    assert!(
        e.iter().any(|e| e.message.contains("also a log port")),
        "{e:?}"
    );
}

#[test]
fn nats_credentials_are_one_kind_and_never_printed() {
    let nats = "[[sink]]\nkind = \"nats\"\naddress = \"nats://198.18.0.1:4222\"\n";
    let c = Config::parse(&format!("{nats}user = \"ingest\"\npassword = \"s3cret\"\n")).unwrap();
    let shown = toml::to_string(&c.redacted()).unwrap();
    assert!(
        !shown.contains("s3cret") && shown.contains("(redacted)"),
        "{shown}"
    );
    assert_eq!(
        c.sink[0].password.as_deref(),
        Some("s3cret"),
        "only the copy is redacted"
    );
    let e = Config::parse(&format!("{nats}user = \"ingest\"\ntoken = \"t\"\n")).unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.message.contains("one way to authenticate")),
        "{e:?}"
    );
    let e = Config::parse(&format!("{nats}user = \"ingest\"\n")).unwrap_err();
    assert!(
        e[0].message.contains("user and password come together"),
        "{e:?}"
    );
    let e = Config::parse(
        "[[sink]]\nkind = \"syslog\"\naddress = \"198.18.0.1:514\"\ntls_ca = \"/c\"\n",
    )
    .unwrap_err();
    assert!(e[0].message.contains("protocol = \"tls\""), "{e:?}");
}

#[test]
fn sink_problems_point_into_their_table() {
    let text = "iface = \"eth0\"\n\n[[sink]]\nkind = \"file\"\npath = \"/tmp/a\"\n\n[[sink]]\nkind = \"syslog\"\n  facility = 99\n";
    let e = Config::parse(text).unwrap_err();
    let at: Vec<(usize, usize)> = e.iter().map(|e| (e.line, e.column)).collect();
    // The second sink: its header for the missing address, the line of the bad facility.
    assert_eq!(at, [(7, 1), (9, 3)], "{e:?}");
    assert_eq!(
        e[0].message,
        "sink 2: address: a syslog sink needs an address"
    );
    assert!(e[1].message.starts_with("sink 2: facility:"), "{e:?}");
    let e = Config::parse("[[sink]]\nkind = \"file\"\npth = \"x\"\n").unwrap_err();
    assert!(e[0].message.contains("unknown field"), "{e:?}");
    assert_eq!(e[0].line, 3, "{e:?}");
}

#[test]
fn port_formats_parse_or_say_what_is_wrong() {
    use detector::parse::{FormatHint, Payload};
    assert_eq!(
        PortFormat::parse("5514=rfc3164/cef"),
        Ok(PortFormat {
            port: 5514,
            format: FormatHint::Rfc3164,
            payload: Some(Payload::Cef)
        })
    );
    let auto = PortFormat::parse("514=auto/auto").unwrap();
    assert_eq!((auto.format, auto.payload), (FormatHint::Auto, None));
    for (bad, why) in [
        ("514", "is not PORT=FORMAT"),
        ("x=rfc3164", "is not a port"),
        ("0=raw", "is not a port"),
        ("70000=raw", "is not a port"),
        ("514=xml", "format \"xml\""),
        ("514=rfc3164/yaml", "payload \"yaml\""),
    ] {
        let e = PortFormat::parse(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
    let e = Config::parse("format_for = [\"514=xml\"]\n").unwrap_err();
    assert!(
        e[0].message.starts_with("format_for: \"514=xml\": format"),
        "{e:?}"
    );
}

#[test]
fn time_zones_are_checked_with_the_key_that_names_them() {
    let c = Config::parse(
        "timezone = \"Europe/Berlin\"\n\
         timezone_for = [\"5514=America/New_York\", \"198.18.0.0/16=+05:30\"]\n",
    )
    .unwrap();
    assert_eq!(c.timezone, "Europe/Berlin");
    assert_eq!(c.timezone_for.len(), 2);
    assert_eq!(Config::default().timezone, "UTC");
    let e = Config::parse("timezone = \"Europe/Atlantis\"\n").unwrap_err();
    assert!(
        e[0].message
            .starts_with("timezone: \"Europe/Atlantis\" is not a time zone"),
        "{e:?}"
    );
    let e = Config::parse("timezone_for = [\"514=UTC\", \"198.18.0.0/99=UTC\"]\n").unwrap_err();
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].message
            .starts_with("timezone_for: \"198.18.0.0/99=UTC\""),
        "{e:?}"
    );
}
