use super::*;
use proptest::prelude::*;

/// The masking rules a byte at a time, token by token, as the miner first wrote them: the
/// oracle of [`Tokens::read`].
fn oracle(message: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for t in message
        .split(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|t| !t.is_empty())
    {
        let digit = t.iter().any(u8::is_ascii_digit);
        let numeric = t.iter().all(|&b| {
            b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'x' | b'X' | b'-' | b'/' | b',')
        });
        let mut m = Vec::new();
        if (digit && numeric) || (t.len() == 3 && DATE_WORDS.contains(&t)) {
            m.extend_from_slice(WILD);
        } else if !digit {
            m.extend_from_slice(t);
        } else {
            let mut in_run = false;
            for (i, &b) in t.iter().enumerate() {
                let next_digit = t.get(i + 1).is_some_and(u8::is_ascii_digit);
                let inner =
                    next_digit && ((matches!(b, b'.' | b':') && in_run) || (b == b'-' && !in_run));
                if b.is_ascii_digit() || inner {
                    if !in_run {
                        m.extend_from_slice(WILD);
                        in_run = true;
                    }
                } else {
                    in_run = false;
                    m.push(b);
                }
            }
        }
        let wild = m.windows(3).any(|w| w == WILD);
        if wild && out.last() == Some(&m) {
            continue;
        }
        out.push(m);
    }
    out
}

/// Messages of tokens that exercise every rule: words, numbers, addresses, hex, dates,
/// brackets, `<*>`, lists, all kinds of white space, bytes that are not ASCII.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        "[a-zA-Z_]{1,12}",
        "[0-9]{1,6}",
        "[0-9a-fx.:/,-]{1,10}",
        "[a-z=\\[\\]:-]{0,4}[0-9.:-]{1,5}[a-z\\]:]{0,3}",
        Just("Jan".to_string()),
        Just("<*>".to_string()),
        Just("blk_1".to_string()),
        "\\PC{1,4}",
    ];
    let gap = prop_oneof![
        Just(" ".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        Just("\r\n".to_string()),
        Just("\x0b\x0c".to_string()),
    ];
    proptest::collection::vec((token, gap), 0..40).prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(t, g)| [t, g])
            .collect::<String>()
            .into_bytes()
    })
}

proptest! {
    #[test]
    fn the_quick_key_sees_digits_as_zeros_and_nothing_else(m in message(), i in any::<usize>()) {
        let zeroed: Vec<u8> = m.iter().map(|&b| if b.is_ascii_digit() { b'0' } else { b }).collect();
        prop_assert_eq!(quick_key(&m), quick_key(&zeroed));
        // Equal keys: equal masked tokens.
        let (mut a, mut b) = (Tokens::default(), Tokens::default());
        a.read(&m);
        b.read(&zeroed);
        prop_assert_eq!(a.sequence, b.sequence);
        // Any other byte changed changes the key.
        if !m.is_empty() {
            let at = i % m.len();
            let mut other = m.clone();
            other[at] = if m[at].is_ascii_digit() { b'x' } else { m[at] ^ 0x40 };
            if other[at].is_ascii_digit() != m[at].is_ascii_digit() || !m[at].is_ascii_digit() {
                prop_assert_ne!(quick_key(&m), quick_key(&other));
            }
        }
    }

    #[test]
    fn reading_agrees_with_the_byte_at_a_time_oracle(m in message()) {
        let want = oracle(&m);
        let mut t = Tokens::default();
        t.read(&m);
        prop_assert_eq!(t.n, want.len().min(MAX_TOKENS));
        for (i, w) in want.iter().enumerate().take(MAX_TOKENS - 1) {
            let shown = t.token_text(&m, i);
            if !shown.is_empty() {
                prop_assert_eq!(&shown[..], &w[..], "token {}", i);
            }
            // The same masked bytes hash the same, whichever way they were masked.
            let mut alone = Tokens::default();
            alone.read(w);
            prop_assert_eq!(t.hashes[i], alone.hashes[0], "token {}", i);
            prop_assert_eq!(t.wild & (1 << i) != 0, w.windows(3).any(|x| x == WILD));
        }
    }
}

fn read(m: &str) -> Tokens {
    let mut t = Tokens::default();
    t.read(m.as_bytes());
    t
}

/// The masked tokens of `m`, rendered.
fn texts(m: &str) -> Vec<String> {
    let t = read(m);
    (0..t.n)
        .map(|i| String::from_utf8_lossy(&t.token_text(m.as_bytes(), i)).into_owned())
        .collect()
}

#[test]
fn tokens_are_masked_generically() {
    let m = "sshd[24200]: Invalid user admin from 198.51.100.7 port 22 uid=0 Jun ab-1z";
    let t = read(m);
    assert_eq!(
        texts(m),
        [
            "sshd[<*>]:",
            "Invalid",
            "user",
            "admin",
            "from",
            "<*>",
            "port",
            "<*>",
            "uid=<*>",
            "<*>",
            "ab<*>z"
        ]
    );
    assert_eq!(t.wild, 0b111_1010_0001);
    // A token that is the wildcard as written hashes as a masked variable.
    assert_eq!(read("<*>").hashes[0], wild_hash());
    assert_eq!(read("42").hashes[0], wild_hash());
}

#[test]
fn a_list_of_one_shape_is_one_token() {
    let one = read("delete blk_-1608999687919862906");
    let three = read("delete blk_1 blk_-2 blk_3");
    assert_eq!((one.n, three.n), (2, 2));
    assert_eq!(one.sequence, three.sequence);
    assert_eq!(texts("delete blk_1 blk_-2 blk_3"), ["delete", "blk_<*>"]);
    // Repeated words stay: only variables fold.
    assert_eq!(read("very very slow").n, 3);
}

#[test]
fn equal_masked_tokens_hash_equal_and_others_do_not() {
    let a = read("Invalid user admin from 198.51.100.7");
    let b = read("Invalid  user\tadmin from 203.0.113.9");
    assert_eq!(a.sequence, b.sequence);
    assert_eq!(a.hashes[..a.n], b.hashes[..b.n]);
    let c = read("Invalid user oracle from 203.0.113.9");
    assert_ne!(a.sequence, c.sequence);
    assert_ne!(a.hashes[2], c.hashes[2]);
    // Tokens that differ only past eight bytes, or in length.
    assert_ne!(read("abcdefgh1x").hashes[0], read("abcdefgh1y").hashes[0]);
    assert_ne!(read("abcdefgh").hashes[0], read("abcdefgh\0").hashes[0]);
}

#[test]
fn long_messages_fold_into_the_last_position_and_text_is_cut() {
    let words: Vec<String> = (0..100)
        .map(|i| format!("w{}", char::from(b'a' + i % 26)))
        .collect();
    let long = words.join(" ");
    let t = read(&long);
    assert_eq!(t.n, MAX_TOKENS);
    let mut other = words.clone();
    other[90] = "changed".into();
    let u = read(&other.join(" "));
    assert_eq!(t.hashes[..MAX_TOKENS - 1], u.hashes[..MAX_TOKENS - 1]);
    assert_ne!(t.hashes[MAX_TOKENS - 1], u.hashes[MAX_TOKENS - 1]);
    let big = "x".repeat(TEXT_MAX + 10);
    let m = format!("start {big} end");
    let t = read(&m);
    assert_eq!(t.n, 3);
    assert_eq!(texts(&m), ["start", "", ""], "past the cut: no text");
    assert_ne!(t.hashes[1], t.hashes[2]);
}
