//! Many literals searched at once, ASCII case aside, reporting every occurrence (overlapping ones
//! too): the Sigma prefilter and keyword lists.
//!
//! A set of up to [`SCREEN_MAX`] literals of at least three bytes is searched with a screen, in
//! the manner of Hyperscan's Teddy. Each literal is represented by its rarest window of up to four
//! bytes (rarest by the byte frequencies of log text). The windows are spread over 16 buckets of
//! nibble fingerprints ([`Fingerprints`]), so that one vector pass over the text flags the few
//! positions where a window may start. A flagged position's window is looked up in a small hash
//! table, and the literals with that window are compared in full. Other sets go to an
//! Aho-Corasick automaton, a full DFA for up to [`DFA_MAX_PATTERNS`] literals.
//!
//! Why: the SigmaHQ Linux rules have 133 literals. An overlapping scan of their full DFA costs
//! about five cycles a byte, one dependent table lookup after another, while the screen looks at
//! 32 positions in a few dozen instructions (AVX2). `bench detect`, interleaved runs: 4.8-5.3
//! million events/s for the prefiltered SigmaHQ set with the DFA, 14.5-20.9 million with the
//! screen. Without AVX2 the screen runs 16 positions per SSSE3 step: 15.3-15.6 million
//! (`DETECTOR_SIMD=sse`), against 20.3-20.9 million with AVX2 and 3.8-6.1 million for the scalar
//! version (`DETECTOR_SIMD=off`), three interleaved runs each.

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use crate::simd::{Fingerprints, SCREEN_BLOCKS, WINDOW_MAX, fold, screen};

/// Most literals searched with the screen. The more windows share 16 buckets, the more positions
/// each bucket lets through, yet the screen still beats the automaton well past a thousand
/// literals: with ten times the shipped rules (1,591 literals; `bench detect`, 2026-12-07) one
/// set's screen ran 3.1 million events/s against the DFA's 2.0 million, and per route (up to
/// about a thousand literals each) 10.0-10.8 million against 1.7 million, interleaved. Beyond
/// what was measured, the automaton.
pub const SCREEN_MAX: usize = 2048;

/// Shortest literal the screen takes: a set with a shorter one uses the automaton.
pub const SCREEN_MIN_LEN: usize = 3;

/// Most literals for which an automaton is built as a full DFA (one table lookup per byte; its
/// memory grows with the patterns), else the automatic choice.
pub const DFA_MAX_PATTERNS: usize = 2000;

/// Buckets of the screen.
const BUCKETS: usize = 16;

/// How often each byte value occurs in log text, in parts of 65,536 (at least 1): the byte counts
/// of the four LogHub samples in `detector/tests/data/loghub/`, 900,788 bytes in all. It picks
/// each literal's rarest window and spreads the windows over the buckets.
#[rustfmt::skip]
const BYTE_FREQUENCY: [u16; 256] = [
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 582, 1, 1, 582, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    7120, 6, 1, 1, 77, 1, 1, 2, 291, 291, 48, 1, 1, 227, 1478, 435,
    3278, 3328, 2408, 1377, 1444, 1756, 1090, 975, 1234, 979, 1843, 91, 1, 499, 1, 1,
    1, 27, 154, 58, 481, 139, 316, 6, 1, 165, 212, 56, 205, 108, 364, 233,
    84, 1, 159, 436, 30, 1, 37, 13, 33, 1, 146, 628, 1, 628, 1, 465,
    1, 1766, 705, 1592, 1769, 3038, 692, 184, 834, 1779, 102, 727, 1054, 858, 1849, 2652,
    658, 12, 2008, 2149, 2261, 1276, 270, 210, 136, 273, 51, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
];

/// The bytes that equal `b` ASCII case aside: `b` itself, and its other case for a letter.
fn case_variants(b: u8) -> impl Iterator<Item = u8> {
    let other = if b.is_ascii_alphabetic() { b ^ 0x20 } else { b };
    std::iter::once(b).chain((other != b).then_some(other))
}

/// How often a lowercased byte occurs in either case, as a fraction.
pub(crate) fn frequency(b: u8) -> f64 {
    case_variants(b)
        .map(|v| f64::from(BYTE_FREQUENCY[usize::from(v)]))
        .sum::<f64>()
        / 65536.0
}

/// A window of up to four bytes as one key, each byte [`fold`]ed as the screen sees it. A
/// folded byte is never 0, so a shorter window's key (zero above its bytes) is never a longer
/// one's.
#[inline(always)]
fn window_key(window: &[u8]) -> u32 {
    let mut key = [0u8; WINDOW_MAX];
    for (k, &b) in key.iter_mut().zip(window) {
        *k = fold(b);
    }
    u32::from_le_bytes(key)
}

/// The key of the `len`-byte window at the start of `four` (four bytes of the haystack).
#[inline(always)]
fn window_key_of(four: u32, len: usize) -> u32 {
    let keep = if len >= WINDOW_MAX {
        u32::MAX
    } else {
        (1u32 << (8 * len)) - 1
    };
    (four | 0x2020_2020) & keep
}

/// A set of literals, compiled for search. See the module documentation.
#[derive(Clone, Debug)]
pub struct LiteralSet {
    search: Search,
    /// Empty literals: found in every text.
    empty: Vec<u32>,
}

#[derive(Clone, Debug)]
enum Search {
    Nothing,
    Screen(Box<Screen>),
    /// Pattern index -> literal index (the automaton holds the non-empty ones).
    Automaton(AhoCorasick, Vec<u32>),
}

/// One slot of the window table: the window and its run of [`Entry`]s (`len` 0: free).
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    key: u32,
    start: u32,
    len: u32,
}

/// A literal and where its window starts in it.
#[derive(Clone, Copy, Debug)]
struct Entry {
    literal: u32,
    offset: u32,
}

#[derive(Clone, Debug)]
struct Screen {
    fingerprints: Fingerprints,
    /// The window lengths the literals have, longest first (a literal shorter than
    /// `window` is its own window, its bucket open to any byte past it).
    lens: Vec<usize>,
    /// Open addressing, linear probing; a power of two long, at most half full.
    slots: Vec<Slot>,
    shift: u32,
    entries: Vec<Entry>,
    /// The literals, lowercased, by index.
    literals: Vec<Vec<u8>>,
}

impl LiteralSet {
    /// Compiles `literals`; what the search reports is an index into this list.
    pub fn new<L: AsRef<[u8]>>(literals: &[L]) -> Self {
        let empty: Vec<u32> = (0..literals.len() as u32)
            .filter(|&i| literals[i as usize].as_ref().is_empty())
            .collect();
        let nonempty: Vec<u32> = (0..literals.len() as u32)
            .filter(|&i| !literals[i as usize].as_ref().is_empty())
            .collect();
        let shortest = nonempty
            .iter()
            .map(|&i| literals[i as usize].as_ref().len())
            .min();
        let search = match shortest {
            None => Search::Nothing,
            Some(len) if len >= SCREEN_MIN_LEN && nonempty.len() <= SCREEN_MAX => {
                Search::Screen(Box::new(Screen::new(literals, &nonempty)))
            }
            Some(_) => {
                let patterns: Vec<&[u8]> = nonempty
                    .iter()
                    .map(|&i| literals[i as usize].as_ref())
                    .collect();
                let ac = AhoCorasick::builder()
                    .kind((patterns.len() <= DFA_MAX_PATTERNS).then_some(AhoCorasickKind::DFA))
                    .ascii_case_insensitive(true)
                    .build(&patterns)
                    .expect("literal patterns always build");
                Search::Automaton(ac, nonempty)
            }
        };
        Self { search, empty }
    }

    /// Whether the set is searched with the screen (else with an automaton, or it is empty).
    pub fn uses_screen(&self) -> bool {
        matches!(self.search, Search::Screen(_))
    }

    /// Calls `f` with the index of the literal of every occurrence in `hay`, overlapping ones
    /// included (so a literal may come more than once), until `f` returns true. Returns whether
    /// it did. Empty literals come first, once.
    #[inline]
    pub fn find_each(&self, hay: &[u8], mut f: impl FnMut(usize) -> bool) -> bool {
        if self.empty.iter().any(|&i| f(i as usize)) {
            return true;
        }
        match &self.search {
            Search::Nothing => false,
            Search::Screen(screen) => screen.find_each(hay, f),
            Search::Automaton(ac, index) => ac
                .find_overlapping_iter(hay)
                .any(|m| f(index[m.pattern().as_usize()] as usize)),
        }
    }

    /// Whether `hay` contains any of the literals.
    #[inline]
    pub fn is_match(&self, hay: &[u8]) -> bool {
        match &self.search {
            Search::Automaton(ac, _) if self.empty.is_empty() => ac.is_match(hay),
            _ => self.find_each(hay, |_| true),
        }
    }
}

impl Screen {
    fn new<L: AsRef<[u8]>>(all: &[L], nonempty: &[u32]) -> Self {
        let literals: Vec<Vec<u8>> = all
            .iter()
            .map(|l| l.as_ref().to_ascii_lowercase())
            .collect();
        let longest = nonempty
            .iter()
            .map(|&i| literals[i as usize].len())
            .max()
            .unwrap_or(1);
        let window = longest.min(WINDOW_MAX);
        let rarity = |w: &[u8]| w.iter().map(|&b| frequency(b)).product::<f64>();
        // Each literal's rarest window, as long as the screen's or the whole literal.
        let mut entries: Vec<(u32, Entry)> = nonempty
            .iter()
            .map(|&i| {
                let lit = &literals[i as usize];
                let len = lit.len().min(window);
                let offset = (0..=lit.len() - len)
                    .min_by(|&a, &b| rarity(&lit[a..a + len]).total_cmp(&rarity(&lit[b..b + len])))
                    .expect("a literal at least its window long");
                let entry = Entry {
                    literal: i,
                    offset: offset as u32,
                };
                (window_key(&lit[offset..offset + len]), entry)
            })
            .collect();
        entries.sort_by_key(|&(key, e)| (key, e.literal));
        let mut windows: Vec<u32> = entries.iter().map(|&(key, _)| key).collect();
        windows.dedup();
        let len_of = |key: u32| key.to_le_bytes().iter().take_while(|&&b| b != 0).count();
        let mut lens: Vec<usize> = windows.iter().map(|&k| len_of(k)).collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        lens.dedup();

        // Greedy bucket choice: the commonest windows first, each into the bucket whose chance
        // of passing a random position (bytes independent, at log text's frequencies) grows
        // least. A window shorter than the screen's lets any byte through past its end.
        let common = |k: u32| rarity(&k.to_le_bytes()[..len_of(k)]);
        windows.sort_by(|&a, &b| common(b).total_cmp(&common(a)));
        let mut fingerprints = Fingerprints::new(window);
        // Per bucket and window byte: the folded bytes it lets through, as low and high nibble
        // masks.
        let mut nibbles = [[[0u16; 2]; WINDOW_MAX]; BUCKETS];
        // The chance that a bucket passes a position: per window byte, the frequencies of the
        // bytes that fold to one whose nibbles it lets through, multiplied.
        let pass_chance = |n: &[[u16; 2]; WINDOW_MAX]| -> f64 {
            n[..window]
                .iter()
                .map(|&[lo, hi]| {
                    (0..=255u8)
                        .filter(|&v| {
                            let f = fold(v);
                            lo & 1 << (f & 15) != 0 && hi & 1 << (f >> 4) != 0
                        })
                        .map(|v| f64::from(BYTE_FREQUENCY[usize::from(v)]) / 65536.0)
                        .sum::<f64>()
                })
                .product()
        };
        let mut chance = [0.0f64; BUCKETS];
        for key in windows {
            let bytes = key.to_le_bytes();
            let len = len_of(key);
            let with = |n: &[[u16; 2]; WINDOW_MAX]| {
                let mut n = *n;
                for (j, slot) in n.iter_mut().enumerate().take(window) {
                    if j < len {
                        slot[0] |= 1 << (bytes[j] & 15);
                        slot[1] |= 1 << (bytes[j] >> 4);
                    } else {
                        *slot = [u16::MAX; 2];
                    }
                }
                n
            };
            let after: [f64; BUCKETS] = std::array::from_fn(|k| pass_chance(&with(&nibbles[k])));
            let bucket = (0..BUCKETS)
                .min_by(|&a, &b| (after[a] - chance[a]).total_cmp(&(after[b] - chance[b])))
                .expect("16 buckets");
            nibbles[bucket] = with(&nibbles[bucket]);
            chance[bucket] = after[bucket];
            for (j, &b) in bytes.iter().enumerate().take(window) {
                if j < len {
                    fingerprints.allow(bucket, j, b);
                } else {
                    for v in 0..=255u8 {
                        fingerprints.allow(bucket, j, v);
                    }
                }
            }
        }

        // The window table.
        let distinct = entries.windows(2).filter(|w| w[0].0 != w[1].0).count() + 1;
        let size = (distinct * 2).next_power_of_two().max(16);
        let mut screen = Self {
            fingerprints,
            lens,
            slots: vec![Slot::default(); size],
            shift: 32 - size.trailing_zeros(),
            entries: entries.iter().map(|&(_, e)| e).collect(),
            literals,
        };
        let mut start = 0;
        while start < entries.len() {
            let key = entries[start].0;
            let len = entries[start..].iter().take_while(|e| e.0 == key).count();
            let mut s = screen.slot_of(key);
            while screen.slots[s].len != 0 {
                s = (s + 1) & (size - 1);
            }
            screen.slots[s] = Slot {
                key,
                start: start as u32,
                len: len as u32,
            };
            start += len;
        }
        screen
    }

    #[inline(always)]
    fn slot_of(&self, key: u32) -> usize {
        (key.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// The literals whose window is `key`.
    #[inline]
    fn with_window(&self, key: u32) -> &[Entry] {
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(key);
        loop {
            let slot = self.slots[s];
            if slot.len == 0 {
                return &[];
            }
            if slot.key == key {
                return &self.entries[slot.start as usize..(slot.start + slot.len) as usize];
            }
            s = (s + 1) & mask;
        }
    }

    #[inline]
    fn find_each(&self, hay: &[u8], mut f: impl FnMut(usize) -> bool) -> bool {
        let shortest = *self.lens.last().expect("a screen has literals");
        if hay.len() < shortest {
            return false;
        }
        // Positions where the shortest window fits; past the end the screen reads zeros, which
        // the full comparison below never accepts.
        let positions = hay.len() - shortest + 1;
        let mut masks = [0u64; SCREEN_BLOCKS];
        let mut base = 0;
        while base < positions {
            let n = (positions - base).min(SCREEN_BLOCKS * 64);
            screen(&hay[base..], n, &self.fingerprints, &mut masks);
            for (k, &m) in masks[..n.div_ceil(64)].iter().enumerate() {
                let mut mask = m;
                while mask != 0 {
                    let p = base + 64 * k + mask.trailing_zeros() as usize;
                    mask &= mask - 1;
                    let four = match hay.get(p..p + WINDOW_MAX) {
                        Some(w) => u32::from_le_bytes(w.try_into().expect("four bytes")),
                        None => {
                            let mut w = [0u8; WINDOW_MAX];
                            w[..hay.len() - p].copy_from_slice(&hay[p..]);
                            u32::from_le_bytes(w)
                        }
                    };
                    for &len in &self.lens {
                        for e in self.with_window(window_key_of(four, len)) {
                            let lit = &self.literals[e.literal as usize];
                            let Some(start) = p.checked_sub(e.offset as usize) else {
                                continue;
                            };
                            if hay
                                .get(start..start + lit.len())
                                .is_some_and(|h| h.eq_ignore_ascii_case(lit))
                                && f(e.literal as usize)
                            {
                                return true;
                            }
                        }
                    }
                }
            }
            base += n;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The oracle: every occurrence's literal, by the aho-corasick crate's overlapping search.
    fn oracle(literals: &[Vec<u8>], hay: &[u8]) -> Vec<usize> {
        let mut out: Vec<usize> = literals
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_empty())
            .map(|(i, _)| i)
            .collect();
        let nonempty: Vec<usize> = (0..literals.len())
            .filter(|&i| !literals[i].is_empty())
            .collect();
        if !nonempty.is_empty() {
            let ac = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(nonempty.iter().map(|&i| &literals[i]))
                .unwrap();
            out.extend(
                ac.find_overlapping_iter(hay)
                    .map(|m| nonempty[m.pattern().as_usize()]),
            );
        }
        out.sort_unstable();
        out
    }

    fn found(set: &LiteralSet, hay: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        assert!(!set.find_each(hay, |i| {
            out.push(i);
            false
        }));
        out.sort_unstable();
        out
    }

    #[test]
    fn every_occurrence_at_every_position_and_length() {
        let literals: Vec<Vec<u8>> = ["sshd", "Failed password", "/dev/tcp/", "ssh", "dev/t"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let set = LiteralSet::new(&literals);
        assert!(set.uses_screen());
        for len in 0..150 {
            for pos in 0..len {
                for lit in ["FAILED PASSWORD", "echo >/Dev/TCP/x", "sshd"] {
                    let mut hay = vec![b'.'; len];
                    let end = (pos + lit.len()).min(len);
                    hay[pos..end].copy_from_slice(&lit.as_bytes()[..end - pos]);
                    assert_eq!(
                        found(&set, &hay),
                        oracle(&literals, &hay),
                        "{lit} at {pos} of {len}"
                    );
                }
            }
        }
    }

    /// The screen folds bit 5 of every byte, so it takes `@` for a backquote, `[` for `{`, a
    /// control byte for the punctuation above it: the full comparison must tell them apart.
    #[test]
    fn bytes_that_only_fold_alike_are_not_reported() {
        let literals: Vec<&[u8]> = vec![b"a@b[c", b"x_y", b"\x01\x02\x03", b"\xc3\xa9t\xc3\xa9"];
        let set = LiteralSet::new(&literals);
        assert!(set.uses_screen());
        for hay in [
            &b"..a`b{c..x\x7fy.."[..],
            b"!\"#",
            b"\xe3\xa9T\xe3\xa9",
            b"A@B[C x_Y \x01\x02\x03 \xc3\xa9T\xc3\xa9",
        ] {
            assert_eq!(
                found(&set, hay),
                oracle(
                    &literals.iter().map(|l| l.to_vec()).collect::<Vec<_>>(),
                    hay
                ),
                "{hay:?}"
            );
        }
        assert_eq!(found(&set, b"A@B[C x_Y"), [0, 1]);
    }

    #[test]
    fn short_large_and_empty_sets_use_the_automaton() {
        let short = LiteralSet::new(&[&b"ab"[..], b"sshd"]);
        assert!(!short.uses_screen());
        assert_eq!(found(&short, b"xAbx sshd"), [0, 1]);
        let many: Vec<Vec<u8>> = (0..=SCREEN_MAX)
            .map(|i| format!("lit{i}").into_bytes())
            .collect();
        let large = LiteralSet::new(&many);
        assert!(!large.uses_screen());
        assert_eq!(
            found(&large, b"LIT7 lit256"),
            [2, 7, 25, 256],
            "lit2 and lit25 are in lit256"
        );
        // As many as the screen takes: it reports what the automaton would.
        let screened = LiteralSet::new(&many[..SCREEN_MAX]);
        assert!(screened.uses_screen());
        for hay in [
            &b"LIT7 lit256"[..],
            b"x lit2047 lit1999 -lit0- LiT1024lit3",
            b"no literal here, only li t and 12345",
        ] {
            assert_eq!(
                found(&screened, hay),
                oracle(&many[..SCREEN_MAX], hay),
                "{hay:?}"
            );
        }
        let empty = LiteralSet::new(&[&b""[..], b"sshd"]);
        assert_eq!(
            found(&empty, b"nothing"),
            [0],
            "the empty literal is in every text"
        );
        assert!(empty.is_match(b""));
        let none = LiteralSet::new::<&[u8]>(&[]);
        assert!(!none.is_match(b"anything"));
    }

    #[test]
    fn is_match_stops_at_the_first() {
        let set = LiteralSet::new(&[&b"abc"[..], b"bcd"]);
        assert!(set.is_match(b"xxABCD"));
        assert!(!set.is_match(b"xxABxCD"));
        let mut calls = 0;
        assert!(set.find_each(b"abcd abcd", |_| {
            calls += 1;
            true
        }));
        assert_eq!(calls, 1);
    }

    proptest! {
        #[test]
        fn reports_what_the_automaton_reports(
            literals in proptest::collection::vec("[a-dA-D /:]{0,9}", 1..60),
            hay in "[a-dA-D /:x]{0,300}",
        ) {
            let literals: Vec<Vec<u8>> = literals.into_iter().map(String::into_bytes).collect();
            let set = LiteralSet::new(&literals);
            prop_assert_eq!(found(&set, hay.as_bytes()), oracle(&literals, hay.as_bytes()));
            prop_assert_eq!(set.is_match(hay.as_bytes()), !oracle(&literals, hay.as_bytes()).is_empty());
        }

        #[test]
        fn the_screen_reports_what_the_automaton_reports(
            literals in proptest::collection::vec("[a-dA-D /:\\-]{3,12}", 1..80),
            hay in proptest::collection::vec(prop_oneof![
                Just(b'a'), Just(b'B'), Just(b'c'), Just(b' '), Just(b'/'), any::<u8>()
            ], 0..400),
        ) {
            let literals: Vec<Vec<u8>> = literals.into_iter().map(String::into_bytes).collect();
            let set = LiteralSet::new(&literals);
            prop_assert!(set.uses_screen());
            prop_assert_eq!(found(&set, &hay), oracle(&literals, &hay));
        }
    }
}
