//! Sigma rules in the appliance: offline (`ingest detect`) and on live traffic through AF_XDP
//! (`ingest run --rules`), using the SigmaHQ Linux rules shipped in `detector/rules/`.

use std::{
    io::Write,
    net::UdpSocket,
    process::{Command, Stdio},
};

use crate::common::{Ingest, Outcome, drops_total, test_network};
use serde_json::Value;
use testbed::netns::{self, VethPair};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules/sigma-linux");
const ALL_RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../detector/rules");
const FAILED: &str =
    "<38>Nov 22 10:00:00 web1 sshd[9]: Failed password for root from 203.0.113.5 port 4711 ssh2";
const SHELLSHOCK: &str = "<13>Nov 22 10:00:00 web1 httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id";
const BENIGN: &str = "<13>Nov 22 10:00:00 web1 httpd[3]: GET /index.html";

/// Runs `ingest ARGS` with `input` on stdin, asserts it succeeds, and returns its JSON lines.
fn ingest_offline(args: &[&str], input: &str) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ingest exited with {}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A folder of rules for one test, holding one file; removed when dropped, also on failure.
struct RulesDir(std::path::PathBuf);

impl RulesDir {
    fn new(test: &str, file: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ingest-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
        RulesDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for RulesDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn offline_detection_prints_one_alert_per_rule_that_fires() {
    let alerts = ingest_offline(
        &["detect", "--rules", RULES],
        &format!(
            "{SHELLSHOCK}\n{BENIGN}\n<38>Nov 22 10:00:00 h sshd[1]: error: incorrect signature\n"
        ),
    );
    let rules: Vec<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        ["Shellshock Expression", "Suspicious OpenSSH Daemon Error"]
    );
    assert_eq!(alerts[0]["level"], "high");
    assert_eq!(alerts[0]["message"], SHELLSHOCK);
}

#[test]
fn a_rule_that_cannot_load_stops_the_start() {
    let dir = RulesDir::new(
        "bad-rules",
        "bad.yml",
        "title: t\nlogsource: {product: linux}\ndetection: {sel: {a|nosuch: x}, condition: sel}\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["run", "--iface", "lo", "--backend", "socket", "--rules"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml: sel.a|nosuch: modifier \"nosuch\""),
        "{err}"
    );
}

#[test]
fn offline_thresholds_find_the_brute_force_in_the_loghub_sample() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../detector/tests/data/loghub/OpenSSH_2k.log"
    );
    let alerts = ingest_offline(&["detect", "--rules", ALL_RULES, "--input", sample], "");
    assert!(!alerts.is_empty());
    assert!(
        alerts
            .iter()
            .all(|a| a["kind"] == "threshold" && a["count"] == 8),
        "{alerts:#?}"
    );
    assert!(
        alerts.iter().any(|a| a["key"] == "183.62.140.253"),
        "the sample's main attacker"
    );
}

#[test]
fn live_traffic_raises_alerts_with_the_sender() {
    let Some(pair) = test_network() else {
        return;
    };
    let ingest = Ingest::start(&pair, "detect", &["--rules", ALL_RULES]);
    assert_eq!(ingest.ready["xdp_mode"], "native", "{}", ingest.ready);
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for m in [BENIGN, SHELLSHOCK].into_iter().chain([FAILED; 8]) {
            sock.send_to(m.as_bytes(), (netns::ADDR_B, 514))?;
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
    // Ten message lines and two alert lines.
    let Outcome {
        messages,
        lines,
        report,
    } = ingest.stop_after(12);
    assert_eq!(messages.len(), 10, "{lines:#?}");
    let alerts: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 2, "{lines:#?}");
    let sigma = alerts.iter().find(|a| a["kind"] == "sigma").unwrap();
    assert_eq!(sigma["rule"], "Shellshock Expression");
    assert_eq!(sigma["message"], SHELLSHOCK);
    assert!(sigma["src"].as_str().unwrap().starts_with("198.18.0.1:"));
    assert_eq!(
        sigma["tags"],
        serde_json::json!(["attack.persistence", "attack.t1505.003"]),
        "ATT&CK tags from the rule"
    );
    // The message's own time (this year's Nov 22 10:00:00, read as UTC).
    let seen = sigma["first_seen"].as_str().unwrap();
    assert!(seen.ends_with("-11-22T10:00:00.000000Z"), "{sigma}");
    assert_eq!(sigma["last_seen"], sigma["first_seen"]);
    assert!(sigma["template"].is_null(), "no mining without --learn");
    let brute = alerts.iter().find(|a| a["kind"] == "threshold").unwrap();
    assert_eq!(
        (&brute["key"], &brute["count"]),
        (&Value::from("203.0.113.5"), &Value::from(8))
    );
    assert_eq!(brute["id"], "ssh-brute-force");
    assert!(
        brute["first_seen"].as_str().unwrap() <= brute["last_seen"].as_str().unwrap(),
        "{brute}"
    );
    assert_eq!(report["alerts_raised_total"], 2, "{report:#}");
    assert_eq!(report["messages_received_xdp_total"], 10, "{report:#}");
    assert_eq!(drops_total(&report), 0, "{report:#}");
}

#[test]
fn templates_are_printed_per_line_in_order() {
    let out = Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["templates", "--input"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../detector/tests/data/loghub/OpenSSH_2k.log"
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<(u64, &str)> = text
        .lines()
        .map(|l| {
            let (id, t) = l.split_once('\t').expect("id<TAB>template");
            (id.parse().unwrap(), t)
        })
        .collect();
    assert_eq!(rows.len(), 2000);
    let invalid: Vec<u64> = rows
        .iter()
        .filter(|(_, t)| t.starts_with("Invalid user "))
        .map(|(id, _)| *id)
        .collect();
    assert!(invalid.len() > 10);
    assert!(
        invalid.iter().all(|id| *id == invalid[0]),
        "one template for every `Invalid user`"
    );
    let distinct: std::collections::BTreeSet<u64> = rows.iter().map(|(id, _)| *id).collect();
    assert!(
        (20..=40).contains(&distinct.len()),
        "{} templates",
        distinct.len()
    );
}

#[test]
fn correlation_rules_fire_offline() {
    let dir = RulesDir::new(
        "corr",
        "brute.yml",
        "title: Failed password\nname: failed_password\nlogsource: {product: linux, service: sshd}\n\
         detection: {keywords: ['Failed password'], condition: keywords}\n---\n\
         title: Brute force per host\nid: corr-1\ncorrelation:\n    type: event_count\n    \
         rules: [failed_password]\n    group-by: [host]\n    timespan: 1m\n    condition: {gte: 3}\nlevel: high\n",
    );
    let alerts = ingest_offline(
        &["detect", "--rules", dir.path()],
        &format!("{FAILED}\n").repeat(3),
    );
    let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sigma", "sigma", "sigma", "correlation"]);
    let c = &alerts[3];
    assert!(
        c["first_seen"].is_string() && c["last_seen"].is_string(),
        "{c}"
    );
    assert_eq!(
        (&c["rule"], &c["key"], &c["count"]),
        (
            &Value::from("Brute force per host"),
            &Value::from("web1"),
            &Value::from(3)
        )
    );
}

#[test]
fn a_host_that_goes_quiet_raises_a_silence_alert() {
    let Some(pair) = test_network() else {
        return;
    };
    let dir = RulesDir::new(
        "silence",
        "silence.toml",
        "[[silence]]\nid = \"quiet-host\"\ntitle = \"A host stopped sending\"\ngroup_by = \"host\"\n\
         factor = 5\nmin_events = 4\nmin_quiet = \"1s\"\n",
    );
    let ingest = Ingest::start(&pair, "silence", &["--rules", dir.path(), "--mode", "poll"]);
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for _ in 0..6 {
            sock.send_to(b"<14>1 - quiet1 app - - - heartbeat", (netns::ADDR_B, 514))?;
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
    // Six messages, then (after about a second of quiet) one alert.
    let Outcome { lines, report, .. } = ingest.stop_after(7);
    let alert = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["event"] == "alert")
        .unwrap_or_else(|| panic!("no silence alert: {lines:#?}"));
    assert_eq!(
        (&alert["kind"], &alert["key"]),
        (&Value::from("silence"), &Value::from("quiet1"))
    );
    assert_eq!(alert["src"], Value::Null, "a silence has no message");
    assert!(
        alert["count"].as_u64().unwrap() >= 1,
        "seconds of quiet: {alert}"
    );
    assert_eq!(report["alerts_raised_total"], 1, "{report:#}");
}

#[test]
fn learning_alerts_on_a_new_kind_of_message_after_the_warm_up() {
    let Some(pair) = test_network() else {
        return;
    };
    let ingest = Ingest::start(&pair, "learn", &["--learn", "--learn-warmup", "3"]);
    VethPair::run_in(&pair.ns_a, || {
        let sock = UdpSocket::bind((netns::ADDR_A, 0))?;
        for user in ["admin", "bob", "carol", "dave"] {
            let m = format!("<38>Nov 22 10:00:00 h1 sshd[7]: Invalid user {user} from 203.0.113.5");
            sock.send_to(m.as_bytes(), (netns::ADDR_B, 514))?;
        }
        sock.send_to(
            b"<38>Nov 22 10:00:00 h1 sshd[7]: Accepted publickey for root",
            (netns::ADDR_B, 514),
        )?;
        std::io::Result::Ok(())
    })
    .unwrap()
    .unwrap();
    let Outcome { lines, report, .. } = ingest.stop_after(6);
    let alerts: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["event"] == "alert")
        .collect();
    assert_eq!(alerts.len(), 1, "{lines:#?}");
    assert_eq!(alerts[0]["kind"], "new_template");
    assert_eq!(alerts[0]["key"], "Accepted publickey for root");
    assert!(alerts[0]["template"].as_u64().is_some(), "{}", alerts[0]);
    assert_eq!(report["alerts_raised_total"], 1, "{report:#}");
}

#[test]
fn detect_with_line_format_reads_no_header() {
    let run = |format: &str| {
        let input =
            format!("{SHELLSHOCK}\n<38>Nov 22 10:00:00 h sshd[1]: error: incorrect signature\n");
        ingest_offline(&["detect", "--rules", RULES, "--format", format], &input).len()
    };
    assert_eq!(run("auto"), 2);
    // As plain lines there is no app, so the sshd rule cannot fire; the keyword rule still does.
    assert_eq!(run("line"), 1);
}

/// A filter in a folder of its own tunes a shipped rule of another folder: the Shellshock rule
/// stays silent for the scanner the SOC runs, and fires for everyone else.
#[test]
fn a_filter_folder_tunes_the_shipped_rules() {
    let shellshock = std::fs::read_to_string(format!("{RULES}/lnx_shellshock.yml")).unwrap();
    let id = shellshock
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .expect("the rule has an id")
        .trim();
    let filters = RulesDir::new(
        "filters",
        "scanner.yml",
        &format!(
            "title: Our vulnerability scanner\n\
             logsource: {{product: linux}}\n\
             filter:\n  rules: [{id}]\n  scanner: {{host: scan1}}\n  condition: not scanner\n"
        ),
    );
    let from_scanner = SHELLSHOCK.replace("web1", "scan1");
    let alerts = ingest_offline(
        &["detect", "--rules", RULES, "--rules", filters.path()],
        &format!("{SHELLSHOCK}\n{from_scanner}\n"),
    );
    let messages: Vec<&str> = alerts
        .iter()
        .map(|a| a["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, [SHELLSHOCK]);
}

/// The ECS reference of `tests/data/ecs/fields.csv`: field name -> (type, is an array).
fn ecs_reference() -> std::collections::HashMap<String, (String, bool)> {
    let csv = include_str!("../data/ecs/fields.csv");
    csv.lines()
        .skip(1)
        .map(|l| {
            let mut cols = l.split(',');
            let name = cols.next().unwrap().to_string();
            let ty = cols.next().unwrap().to_string();
            (name, (ty, cols.next() == Some("array")))
        })
        .collect()
}

/// Every leaf of an ECS line, by its dotted name. `labels` (custom key/value pairs) and
/// `flattened` fields are leaves themselves; other objects are walked into.
fn ecs_leaves<'a>(
    v: &'a Value,
    prefix: &str,
    reference: &std::collections::HashMap<String, (String, bool)>,
    out: &mut Vec<(String, &'a Value)>,
) {
    match v {
        Value::Object(map)
            if prefix.is_empty()
                || (prefix != "labels"
                    && reference.get(prefix).is_none_or(|(t, _)| t != "flattened")) =>
        {
            for (k, child) in map {
                assert!(
                    !k.contains('.'),
                    "{prefix}: a dotted key {k:?}: ECS nests objects"
                );
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                ecs_leaves(child, &name, reference, out);
            }
        }
        _ => out.push((prefix.to_string(), v)),
    }
}

/// Whether `v` is a value of the ECS type `ty`.
fn of_ecs_type(ty: &str, v: &Value) -> bool {
    match ty {
        "keyword" | "match_only_text" | "wildcard" => v.is_string(),
        "long" => v.is_i64() || v.is_u64(),
        "float" => v.is_number(),
        "date" => v
            .as_str()
            .is_some_and(|s| humantime::parse_rfc3339(s).is_ok()),
        "ip" => v
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
        // Custom keywords: a flat map of strings, names without dots.
        "object" => v
            .as_object()
            .is_some_and(|m| m.iter().all(|(k, x)| !k.contains('.') && x.is_string())),
        "flattened" => v.is_object(),
        _ => false,
    }
}

/// ECS alert lines, held against the ECS reference: every field is ECS's own, of its type
/// (arrays where ECS says array), nested as ECS nests them; the rule, ATT&CK, sender, device and
/// counted facts are where a SIEM's ECS mapping looks for them.
#[test]
fn ecs_alert_lines_use_only_ecs_fields_of_their_types() {
    let dir = RulesDir::new(
        "ecs",
        "rules.yml",
        "title: Failed password\nname: failed_password\nid: 5c1c3c36-0000-4000-8000-00000000a001\n\
         description: A login failed\nauthor: The SOC\nlicense: DRL-1.1\n\
         references: ['https://attack.mitre.org/techniques/T1110/001/']\n\
         tags: [attack.credential-access, attack.t1110.001, attack.ta0006, attack.g0016]\n\
         logsource: {product: linux, service: sshd}\n\
         detection: {keywords: ['Failed password'], condition: keywords}\nlevel: medium\n---\n\
         title: Brute force per host\nid: corr-1\ncorrelation:\n    type: event_count\n    \
         rules: [failed_password]\n    group-by: [host]\n    timespan: 1m\n    condition: {gte: 2}\nlevel: high\n",
    );
    let rfc5424 = "<38>1 2026-12-07T10:00:00.5Z web1 sshd 42 AUTH [origin ip=\"198.51.100.2\" \
                   software=\"OpenSSH\"] action=login result=\"Failed password\" user=root \
                   src.ip=203.0.113.5";
    let alerts = ingest_offline(
        &["detect", "--rules", dir.path(), "--alert-format", "ecs"],
        &format!("{rfc5424}\n{FAILED}\n"),
    );
    assert_eq!(alerts.len(), 3, "{alerts:#?}");
    let reference = ecs_reference();
    let mut ids = std::collections::HashSet::new();
    for a in &alerts {
        let mut leaves = Vec::new();
        ecs_leaves(a, "", &reference, &mut leaves);
        for (name, v) in &leaves {
            let (ty, array) = reference
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not an ECS field: {a}"));
            let ok = match v.as_array() {
                Some(items) => *array && items.iter().all(|x| of_ecs_type(ty, x)),
                None => !*array && of_ecs_type(ty, v),
            };
            assert!(
                ok,
                "{name} = {v} is not a {ty}{}",
                if *array { " array" } else { "" }
            );
        }
        assert_eq!(a["ecs"]["version"], "8.11.0");
        assert_eq!(a["event"]["kind"], "alert");
        assert!(
            ids.insert(a["event"]["id"].as_str().unwrap().to_string()),
            "ids are unique"
        );
    }
    let first = &alerts[0];
    assert_eq!(first["rule"]["name"], "Failed password");
    assert_eq!(first["rule"]["uuid"], first["rule"]["id"]);
    assert_eq!(first["rule"]["author"], serde_json::json!(["The SOC"]));
    assert_eq!(first["event"]["severity"], 47);
    assert_eq!(first["threat"]["framework"], "MITRE ATT&CK");
    assert_eq!(
        first["threat"]["tactic"]["id"],
        serde_json::json!(["TA0006"])
    );
    assert_eq!(
        first["threat"]["tactic"]["name"],
        serde_json::json!(["Credential Access"])
    );
    assert_eq!(
        first["threat"]["technique"]["id"],
        serde_json::json!(["T1110"])
    );
    assert_eq!(
        first["threat"]["technique"]["subtechnique"]["id"],
        serde_json::json!(["T1110.001"])
    );
    assert_eq!(first["host"]["hostname"], "web1");
    let syslog = &first["log"]["syslog"];
    assert_eq!(
        (
            &syslog["priority"],
            &syslog["facility"]["name"],
            &syslog["severity"]["code"]
        ),
        (&Value::from(38), &Value::from("auth"), &Value::from(6))
    );
    assert_eq!(syslog["structured_data"]["origin"]["ip"], "198.51.100.2");
    assert_eq!(first["labels"]["user"], "root");
    assert_eq!(first["labels"]["src_ip"], "203.0.113.5", "dots become _");
    assert_eq!(first["event"]["original"], rfc5424);
    let correlation = &alerts[2];
    assert_eq!(correlation["rule"]["category"], "correlation");
    assert_eq!(
        (
            &correlation["labels"]["key"],
            &correlation["labels"]["count"]
        ),
        (&Value::from("web1"), &Value::from("2"))
    );
    assert!(correlation["event"]["start"].is_string());
}

/// Sigma's `process_creation` rules on a host with only auditd: the records of one `execve`
/// (SYSCALL, EXECVE, CWD, PATH, PROCTITLE) are joined (the arguments decoded from auditd's hex)
/// and the shipped Sysmon-for-Linux rules run on the joined record; the alert shows the record
/// that completed it. An event whose PROCTITLE never comes is joined all the same, when the
/// input ends. Without its SYSCALL, an EXECVE alone is no process creation.
#[test]
fn process_creation_rules_run_on_auditd_records() {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
    let syscall = "<85>Dec  7 10:00:00 web1 audisp-syslog: type=SYSCALL \
        msg=audit(1765101600.120:777): arch=c000003e syscall=59 success=yes exit=0 ppid=900 \
        pid=901 auid=1000 uid=1000 comm=\"gawk\" exe=\"/usr/bin/gawk\" key=(null)";
    let execve = format!(
        "<85>Dec  7 10:00:00 web1 audisp-syslog: type=EXECVE \
         msg=audit(1765101600.120:777): argc=2 a0=\"gawk\" a1={}",
        hex("BEGIN {system(\"/bin/sh -i\")}")
    );
    let record = |kind: &str, rest: &str| {
        format!(
            "<85>Dec  7 10:00:00 web1 audisp-syslog: type={kind} \
             msg=audit(1765101600.120:777): {rest}"
        )
    };
    let cwd = record("CWD", "cwd=\"/tmp\"");
    let path = record(
        "PATH",
        "item=0 name=\"/usr/bin/gawk\" inode=7 nametype=NORMAL",
    );
    let proctitle = record("PROCTITLE", &format!("proctitle={}", hex("gawk\0BEGIN")));
    let alerts = ingest_offline(
        &["detect", "--rules", ALL_RULES],
        &format!("{syscall}\n{execve}\n{cwd}\n{path}\n{proctitle}\n"),
    );
    let rules: Vec<&str> = alerts.iter().map(|a| a["rule"].as_str().unwrap()).collect();
    assert!(
        rules.contains(&"Suspicious Invocation of Shell via AWK - Linux"),
        "{alerts:#?}"
    );
    let alert = alerts
        .iter()
        .find(|a| a["rule"] == "Suspicious Invocation of Shell via AWK - Linux")
        .unwrap();
    assert_eq!(alert["message"], proctitle.as_str());
    // Without its PROCTITLE (a forwarder that drops it): joined when the input ends.
    let cut = ingest_offline(
        &["detect", "--rules", ALL_RULES],
        &format!("{syscall}\n{execve}\n"),
    );
    assert!(
        cut.iter()
            .any(|a| a["rule"] == "Suspicious Invocation of Shell via AWK - Linux"),
        "{cut:#?}"
    );
    // The EXECVE alone (its SYSCALL lost): no process creation.
    let alone = ingest_offline(&["detect", "--rules", ALL_RULES], &format!("{execve}\n"));
    assert!(
        alone
            .iter()
            .all(|a| a["rule"] != "Suspicious Invocation of Shell via AWK - Linux"),
        "{alone:#?}"
    );
}

/// `ingest detect` judges correlation windows still open when its input ends: a host that
/// logged in once in a window with `lt: 3` is reported, one that logged in three times is not.
#[test]
fn offline_detection_judges_open_windows_at_the_end_of_its_input() {
    let dir = RulesDir::new(
        "windows",
        "few.yml",
        "title: Login\nname: login\nlogsource: {product: linux}\n\
         detection: {sel: {action: login}, condition: sel}\n---\n\
         title: Few logins\ncorrelation:\n    type: event_count\n    rules: [login]\n    \
         group-by: [host]\n    timespan: 1h\n    condition: {lt: 3}\n",
    );
    let line = |host: &str, min: u32| {
        format!("<14>1 2026-12-07T10:{min:02}:00Z {host} app - - - action=login user=x\n")
    };
    let input: String = [
        line("quiet", 0),
        line("busy", 1),
        line("busy", 2),
        line("busy", 3),
    ]
    .concat();
    let alerts = ingest_offline(&["detect", "--rules", dir.path()], &input);
    let windows: Vec<(&str, u64)> = alerts
        .iter()
        .filter(|a| a["kind"] == "correlation")
        .map(|a| (a["key"].as_str().unwrap(), a["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(windows, [("quiet", 1)], "{alerts:#?}");
}
