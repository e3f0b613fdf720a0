use super::*;
use crate::parse::{ParseOptions, parse};

const SYSCALL: &str = "<85>Nov 22 10:00:00 web1 audisp-syslog: type=SYSCALL \
    msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 \
    a0=55d0c0a1b2c0 a1=55d0c0a1b300 ppid=1000 pid=1234 auid=1000 uid=0 comm=\"curl\" \
    exe=\"/usr/bin/curl\" key=(null)";

fn record(kind: &str, serial: u32, rest: &str) -> String {
    format!(
        "<85>Nov 22 10:00:00 web1 audisp-syslog: type={kind} \
         msg=audit(1700000000.123:{serial}): {rest}"
    )
}

fn execve(serial: u32, args: &str) -> String {
    record("EXECVE", serial, &format!("argc=3 {args}"))
}

fn add(j: &mut AuditJoin, line: &str, now: u64) -> Option<String> {
    let e = parse(line.as_bytes(), &ParseOptions::default());
    j.add(&e, now)
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn values(joined: &str, key: &str) -> Vec<String> {
    let e = parse(joined.as_bytes(), &ParseOptions::default());
    e.fields()
        .filter(|f| f.key == key.as_bytes())
        .map(|f| {
            let mut v = Vec::new();
            crate::parse::unescape_into(f.value, &mut v);
            String::from_utf8(v).unwrap()
        })
        .collect()
}

#[test]
fn the_records_of_an_execve_make_one_process_creation() {
    let mut j = AuditJoin::new();
    assert_eq!(add(&mut j, SYSCALL, 0), None);
    assert_eq!(j.waiting(), 1);
    let args = "a0=\"curl\" a1=\"-s\" a2=687474703A2F2F782F6120622E7368";
    assert_eq!(
        add(&mut j, &execve(4242, args), 1),
        None,
        "CWD and PATH follow"
    );
    assert_eq!(
        add(&mut j, &record("CWD", 4242, "cwd=\"/home/ann\""), 2),
        None
    );
    let path = |item: u32, name: &str| {
        record(
            "PATH",
            4242,
            &format!("item={item} name=\"{name}\" inode=42 mode=0100755 nametype=NORMAL"),
        )
    };
    assert_eq!(add(&mut j, &path(0, "/usr/bin/curl"), 3), None);
    assert_eq!(
        add(&mut j, &path(1, "/lib64/ld-linux-x86-64.so.2"), 3),
        None
    );
    let joined = add(
        &mut j,
        &record("PROCTITLE", 4242, "proctitle=6375726C002D73"),
        4,
    )
    .expect("the PROCTITLE ends the event");
    assert_eq!(j.waiting(), 0, "written once");
    assert!(
        joined.starts_with(
            "<14>1 - web1 audit - - - type=PROCESS_CREATION msg=audit(1700000000.123:4242): \
             Image=\"/usr/bin/curl\" ProcessId=\"1234\" ParentProcessId=\"1000\" User=\"0\" \
             LogonUser=\"1000\" CommandName=\"curl\" arch=\"c000003e\" syscall=\"execve\""
        ),
        "{joined}"
    );
    let e = parse(joined.as_bytes(), &ParseOptions::default());
    assert_eq!(e.payload, Payload::Audit);
    assert_eq!(e.host, Some(&b"web1"[..]));
    for (key, want) in [
        ("type", &["PROCESS_CREATION"][..]),
        ("CommandLine", &["curl -s http://x/a b.sh"]),
        ("CurrentDirectory", &["/home/ann"]),
        ("cwd", &["/home/ann"]),
        ("name", &["/usr/bin/curl", "/lib64/ld-linux-x86-64.so.2"]),
        ("exe", &["/usr/bin/curl"]),
        ("proctitle", &["curl -s"]),
        // EXECVE's arguments, not the SYSCALL's registers.
        ("a0", &["curl"]),
        ("a2", &["http://x/a b.sh"]),
        ("argc", &["3"]),
    ] {
        assert_eq!(values(&joined, key), want, "{key}");
    }
}

#[test]
fn an_event_ends_at_its_eoe_or_a_second_after_its_last_record() {
    let mut j = AuditJoin::new();
    add(&mut j, SYSCALL, 0);
    add(&mut j, &execve(4242, "a0=\"ls\""), 1);
    let joined = add(&mut j, &record("EOE", 4242, ""), 2).expect("the EOE ends it");
    assert_eq!(values(&joined, "CommandLine"), ["ls"]);

    add(&mut j, SYSCALL, 10);
    add(&mut j, &execve(4242, "a0=\"ls\""), 20);
    let mut out = Vec::new();
    j.flush(20 + SETTLE_NS, |r, at| {
        out.push((String::from_utf8_lossy(r).into_owned(), at))
    });
    assert!(out.is_empty(), "not settled yet");
    j.flush(21 + SETTLE_NS, |r, at| {
        out.push((String::from_utf8_lossy(r).into_owned(), at))
    });
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, 20, "its time: the last record's");
    assert_eq!(j.waiting(), 0);
    // At the end of the input, whatever has its EXECVE is written out.
    add(&mut j, SYSCALL, 30);
    add(&mut j, &execve(4242, "a0=\"ls\""), 31);
    let mut n = 0;
    j.flush(u64::MAX, |_, _| n += 1);
    assert_eq!(n, 1);
}

#[test]
fn other_events_late_records_and_other_calls_do_not_join() {
    let mut j = AuditJoin::new();
    add(&mut j, SYSCALL, 0);
    assert_eq!(add(&mut j, &execve(4243, "a0=\"ls\""), 1), None);
    assert_eq!(
        add(&mut j, &record("EOE", 4243, ""), 1),
        None,
        "another serial"
    );
    // Without its EXECVE, an event is let go after the window, unwritten.
    j.flush(WINDOW_NS + 1, |_, _| panic!("nothing to write"));
    assert_eq!(j.waiting(), 0);
    assert_eq!(add(&mut j, &execve(4242, "a0=\"ls\""), WINDOW_NS + 2), None);
    assert_eq!(
        add(&mut j, &record("EOE", 4242, ""), WINDOW_NS + 2),
        None,
        "too late"
    );
    // Another host, same serial.
    let mut j = AuditJoin::new();
    add(&mut j, &SYSCALL.replace("web1", "web2"), 0);
    add(&mut j, &execve(4242, "a0=\"ls\""), 1);
    assert_eq!(add(&mut j, &record("EOE", 4242, ""), 1), None);
    // A system call other than execve is not gathered; enriched records name it.
    let mut j = AuditJoin::new();
    add(&mut j, &SYSCALL.replace("syscall=59", "syscall=2"), 0);
    assert_eq!(j.waiting(), 0, "open(2)");
    add(&mut j, &format!("{SYSCALL} SYSCALL=execve"), 0);
    add(
        &mut j,
        &SYSCALL
            .replace("4242", "1")
            .replace("syscall=59", "syscall=2 SYSCALL=open"),
        0,
    );
    assert_eq!(j.waiting(), 1);
    // A plain message: nothing.
    assert_eq!(add(&mut j, "<13>Nov 22 10:00:00 h app: hello", 0), None);
}

#[test]
fn a_full_table_writes_out_what_is_complete_and_counts_the_rest() {
    let mut j = AuditJoin::new();
    for serial in 0..(2 * SLOTS as u32) {
        add(&mut j, &SYSCALL.replace("4242", &serial.to_string()), 0);
    }
    assert!(j.evicted() > 0 && j.waiting() <= SLOTS);
    let mut j = AuditJoin::new();
    let mut written = 0;
    for serial in 0..(2 * SLOTS as u32) {
        written +=
            usize::from(add(&mut j, &SYSCALL.replace("4242", &serial.to_string()), 0).is_some());
        add(&mut j, &execve(serial, "a0=\"ls\""), 0);
    }
    let mut rest = 0;
    j.flush(u64::MAX, |_, _| rest += 1);
    assert_eq!(written + rest, 2 * SLOTS, "every event written, none lost");
    assert_eq!(j.evicted(), 0);
}

#[test]
fn quotes_in_values_stay_inside_them_and_long_ones_are_cut_closed() {
    let mut j = AuditJoin::new();
    add(&mut j, SYSCALL, 0);
    // `sh -c 'echo "x\"'`: hex, as auditd writes an argument with quotes.
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
    let args = format!("a0=\"sh\" a1=\"-c\" a2={}", hex("echo \"x\\\""));
    add(&mut j, &execve(4242, &args), 1);
    let joined = add(&mut j, &record("EOE", 4242, ""), 2).unwrap();
    assert_eq!(values(&joined, "CommandLine"), ["sh -c echo \"x\\\""]);
    // An argument longer than the record: cut, its quotes closed, the record whole.
    add(&mut j, SYSCALL, 3);
    let long = "y".repeat(3 * PART_MAX);
    add(
        &mut j,
        &execve(4242, &format!("a0=\"echo\" a1=\"{long}\"")),
        4,
    );
    let joined = add(&mut j, &record("EOE", 4242, ""), 5).unwrap();
    assert!(joined.len() <= JOINED_MAX);
    let cl = values(&joined, "CommandLine");
    assert!(cl.len() == 1 && cl[0].starts_with("echo yyy"), "{cl:?}");
    assert_eq!(values(&joined, "Image"), ["/usr/bin/curl"]);
}
