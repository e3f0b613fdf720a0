//! `bench parse`: this parser against `syslog_loose` (what Vector uses) and `syslog_rfc5424`, on
//! the same mixed corpus, measured in one run.
//!
//! Every parser is given the same bytes. The other two take `&str`, so their time includes the
//! UTF-8 check they need. `syslog_loose` gets a fixed year, as Vector gives it one; asking the
//! local time zone per message would cost it more. Each parser runs for a set time over the
//! corpus in five interleaved rounds, the best round is reported, and `std::hint::black_box`
//! keeps its results alive.
//!
//! This parser is measured five ways: the header alone (`parse`, which validates the payload
//! too); the syslog layer only (the body taken as plain text: what `syslog_loose` does, which
//! reads no payload format); the header through `parse_indexed`, which keeps the fields it
//! validates in a field index (what the index costs when nothing reads it); every field read
//! as a worker reads them (`parse_indexed`, its index reused from message to message); and
//! every field read from an event without an index, which walks the payload a second time.

use std::{hint::black_box, time::Instant};

use std::cell::RefCell;

use detector::parse::{FieldIndex, ParseOptions, Payload, parse, parse_indexed};
use serde::Serialize;

/// One parser's result.
#[derive(Debug, Clone, Serialize)]
pub struct ParserResult {
    /// Which parser, and what it did per message.
    pub parser: &'static str,
    /// Corpus.
    pub corpus: &'static str,
    /// Nanoseconds per message.
    pub ns_per_msg: f64,
    /// Megabytes (10^6 bytes) of messages per second.
    pub mb_per_s: f64,
    /// Messages the parser accepted, of the corpus.
    pub accepted: usize,
    /// Messages in the corpus.
    pub messages: usize,
}

/// The mixed corpus: RFC 5424 with and without structured data, RFC 3164 (LogHub lines with a
/// PRI), CEF and JSON, in equal parts, about 200 bytes each.
pub fn mixed_corpus() -> Vec<Vec<u8>> {
    let openssh = include_str!("../../detector/tests/data/loghub/OpenSSH_2k.log");
    let linux = include_str!("../../detector/tests/data/loghub/Linux_2k.log");
    let mut out = Vec::new();
    for (i, (a, b)) in openssh.lines().zip(linux.lines()).take(400).enumerate() {
        let body = a.splitn(6, ' ').nth(5).unwrap_or(a);
        out.push(format!(
            "<38>1 2026-11-22T11:00:{:02}.{:06}Z host{} sshd {} - - {body}",
            i % 60,
            i * 7,
            i % 50,
            1000 + i
        ));
        out.push(format!(
            r#"<165>1 2026-11-22T11:00:{:02}.003Z fw{}.example.net evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="{}"] {body}"#,
            i % 60,
            i % 9,
            1000 + i
        ));
        out.push(format!("<38>{a}"));
        out.push(format!("<13>{b}"));
        out.push(format!(
            "<134>Nov 22 11:00:{:02} fw{} CEF:0|Security|threatmanager|1.0|{}|worm successfully stopped|10|src=10.0.{}.1 dst=2.1.2.2 spt={} act=blocked msg=session closed",
            i % 60,
            i % 9,
            100 + i % 7,
            i % 250,
            1024 + i
        ));
        out.push(format!(
            r#"{{"version":"1.1","host":"app{}.example.net","short_message":"{}","level":{},"_user":"u{}","_pid":{}}}"#,
            i % 20,
            body.replace('"', "'"),
            i % 8,
            i,
            2000 + i
        ));
    }
    out.into_iter().map(String::into_bytes).collect()
}

/// The kinds of message in [`mixed_corpus`], in the order it repeats them.
pub const MIXED_KINDS: [&str; 6] = [
    "mixed:5424",
    "mixed:5424-sd",
    "mixed:bsd-ssh",
    "mixed:bsd-linux",
    "mixed:cef",
    "mixed:json",
];

/// The mixed corpus cut into its kinds: each kind's messages on their own.
fn mixed_by_kind(mixed: &[Vec<u8>]) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    MIXED_KINDS
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let msgs = mixed.iter().skip(k).step_by(MIXED_KINDS.len()).cloned();
            (*name, msgs.collect())
        })
        .collect()
}

/// One typical RFC 5424 message of about 200 bytes.
pub fn typical_5424() -> Vec<Vec<u8>> {
    vec![
        br#"<165>1 2026-11-22T11:00:15.003Z fw3.example.net sshd 4123 ID47 [meta@32473 src="198.51.100.7" port="52144"] Failed password for invalid user admin from 198.51.100.7 port 52144 ssh2"#
            .to_vec(),
    ]
}

fn measure(
    parser: &'static str,
    corpus_name: &'static str,
    corpus: &[Vec<u8>],
    seconds: f64,
    mut one: impl FnMut(&[u8]) -> bool,
) -> ParserResult {
    let accepted = corpus.iter().filter(|m| one(m)).count();
    // Read the clock once per at least 1000 messages, so a tiny corpus does not time the clock.
    let repeat = 1000usize.div_ceil(corpus.len());
    let messages = corpus.len();
    let corpus: Vec<&Vec<u8>> = corpus.iter().cycle().take(messages * repeat).collect();
    let bytes: usize = corpus.iter().map(|m| m.len()).sum();
    let start = Instant::now();
    let mut rounds = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        for m in &corpus {
            black_box(one(black_box(m)));
        }
        rounds += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = rounds as f64 * corpus.len() as f64;
    ParserResult {
        parser,
        corpus: corpus_name,
        ns_per_msg: elapsed * 1e9 / n,
        mb_per_s: rounds as f64 * bytes as f64 / elapsed / 1e6,
        accepted,
        messages,
    }
}

/// Runs every parser whose name contains `only` (all when empty) on both corpora for `seconds`
/// each, and on each kind of the mixed corpus too when `kinds`.
pub fn run(seconds: f64, only: &str, kinds: bool) -> Vec<ParserResult> {
    let opts = ParseOptions {
        year: Some(2026),
        ..ParseOptions::default()
    };
    let ours = |m: &[u8]| parse(m, &opts).error.is_none();
    // The syslog layer alone, the work `syslog_loose` does: the body taken as plain text, its
    // payload format neither detected nor checked.
    let syslog_only_opts = ParseOptions {
        payload: Some(Payload::Plain),
        ..opts
    };
    let ours_syslog_only = |m: &[u8]| parse(m, &syslog_only_opts).error.is_none();
    // As a worker reads a message: the fields found while validating are kept in its index.
    let index = RefCell::new(FieldIndex::default());
    let ours_fields = |m: &[u8]| {
        let mut index = index.borrow_mut();
        let e = parse_indexed(m, &opts, &mut index);
        black_box(e.fields().count() + e.sd_params().count());
        e.error.is_none()
    };
    // What keeping the index costs when no field is read.
    let ours_indexed_only = |m: &[u8]| {
        let mut index = index.borrow_mut();
        parse_indexed(m, &opts, &mut index).error.is_none()
    };
    // Without the index: the fields are walked a second time.
    let ours_walked = |m: &[u8]| {
        let e = parse(m, &opts);
        black_box(e.fields().count() + e.sd_params().count());
        e.error.is_none()
    };
    let loose = |m: &[u8]| {
        let Ok(s) = std::str::from_utf8(m) else {
            return false;
        };
        let msg = syslog_loose::parse_message_with_year(s, |_| 2026, syslog_loose::Variant::Either);
        let ok = msg.hostname.is_some() || msg.appname.is_some();
        black_box(msg);
        ok
    };
    let rfc5424 =
        |m: &[u8]| std::str::from_utf8(m).is_ok_and(|s| syslog_rfc5424::parse_message(s).is_ok());
    let parsers: [(&'static str, ParserFn<'_>); 7] = [
        ("detector (header)", &ours),
        ("detector (syslog layer only)", &ours_syslog_only),
        ("detector (header, indexed)", &ours_indexed_only),
        ("detector (header + every field)", &ours_fields),
        ("detector (every field, walked twice)", &ours_walked),
        ("syslog_loose", &loose),
        ("syslog_rfc5424", &rfc5424),
    ];
    let mut results: Vec<ParserResult> = Vec::new();
    let mixed = mixed_corpus();
    let mut corpora = vec![("mixed", mixed.clone()), ("typical-5424", typical_5424())];
    if kinds {
        corpora.extend(mixed_by_kind(&mixed));
    }
    // Rounds interleave the parsers, so a slow spell of the machine hits them all; the best
    // round of each is kept.
    for _ in 0..ROUNDS {
        for (corpus_name, corpus) in &corpora {
            for (name, f) in parsers {
                if !(name.contains(only) || corpus_name.contains(only)) {
                    continue;
                }
                let r = measure(name, corpus_name, corpus, seconds / ROUNDS as f64, f);
                match results
                    .iter_mut()
                    .find(|x| x.parser == name && x.corpus == *corpus_name)
                {
                    Some(best) if best.ns_per_msg <= r.ns_per_msg => {}
                    Some(best) => *best = r,
                    None => results.push(r),
                }
            }
        }
    }
    results
}

/// One parser: takes a message, says whether it accepted it.
type ParserFn<'a> = &'a dyn Fn(&[u8]) -> bool;

/// Rounds per parser and corpus.
const ROUNDS: usize = 5;

/// The readable table.
pub fn print_table(results: &[ParserResult]) {
    println!(
        "{:<34} {:<16} {:>10} {:>10} {:>10}",
        "parser", "corpus", "ns/msg", "MB/s", "accepted"
    );
    for r in results {
        println!(
            "{:<34} {:<16} {:>10.1} {:>10.1} {:>5}/{:<5}",
            r.parser, r.corpus, r.ns_per_msg, r.mb_per_s, r.accepted, r.messages
        );
    }
    let find = |p: &str| {
        results
            .iter()
            .find(|r| r.parser == p && r.corpus == "mixed")
            .map(|r| r.mb_per_s)
    };
    if let (Some(ours), Some(loose)) = (
        find("detector (header + every field)"),
        find("syslog_loose"),
    ) {
        println!(
            "mixed corpus, every field read: {:.1}x syslog_loose's throughput",
            ours / loose
        );
    }
}

/// The arguments of `bench parse`.
#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// Seconds per parser and corpus.
    #[arg(long, default_value_t = 2.0)]
    pub(crate) seconds: f64,
    /// Keep only results whose parser or corpus name contains this.
    #[arg(long, default_value = "")]
    pub(crate) only: String,
    /// Also measure each kind of message of the mixed corpus on its own.
    #[arg(long)]
    pub(crate) kinds: bool,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `bench parse`.
pub fn command(args: ParseArgs) -> anyhow::Result<()> {
    let ParseArgs {
        seconds,
        only,
        kinds,
        json,
    } = args;
    let results = run(seconds, &only, kinds);
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_table(&results);
    }
    Ok(())
}
