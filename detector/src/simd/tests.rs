use super::{
    marks::{MARK_BLOCKS, MarksFn, marks_scalar},
    *,
};
use proptest::prelude::*;

/// The scans the property tests compare, each implementation with its name.
type Find = fn(&[u8], &ByteSet) -> Option<usize>;
type Mask = fn(&[u8; 64], u8) -> u64;
type Screen = fn(&[u8], usize, &Fingerprints, &mut [u64; SCREEN_BLOCKS]);

fn implementations() -> Vec<(&'static str, Find)> {
    let mut v: Vec<(&'static str, Find)> = vec![("dispatched", find)];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(("sse2", x86::find_sse2));
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(("avx2", x86::find_avx2));
        }
    }
    v
}

proptest! {
    #[test]
    fn class_masks_match_the_scalar_oracle(
        bytes in proptest::collection::vec(any::<u8>(), 64),
        lo in any::<[u8; 16]>(),
        hi in any::<[u8; 16]>(),
        select in any::<[u8; 4]>(),
    ) {
        let block: [u8; 64] = bytes.try_into().unwrap();
        let t = ClassTable { lo, hi, select };
        let want = classes64_scalar(&block, &t);
        prop_assert_eq!(classes64(&block, &t), want);
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("ssse3") {
                prop_assert_eq!(x86::classes64_ssse3(&block, &t), want);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                prop_assert_eq!(x86::classes64_avx2(&block, &t), want);
            }
        }
    }
}

#[test]
fn finds_at_every_position_and_length() {
    let set = ByteSet::new(b" =\"");
    for len in 0..100 {
        for pos in 0..=len {
            let mut hay = vec![b'a'; len];
            if pos < len {
                hay[pos] = b'=';
            }
            let want = (pos < len).then_some(pos);
            for (name, f) in implementations() {
                assert_eq!(f(&hay, &set), want, "{name} len {len} pos {pos}");
            }
        }
    }
}

fn mask_implementations() -> Vec<(&'static str, Mask)> {
    let mut v: Vec<(&'static str, Mask)> = vec![("scalar", mask64_scalar)];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(("sse2", x86::mask64_sse2));
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(("avx2", x86::mask64_avx2));
        }
    }
    v
}

/// Every vector version of [`fill_marks`] this CPU runs, and the dispatched one.
fn marks_implementations() -> Vec<(&'static str, MarksFn)> {
    let mut v: Vec<(&'static str, MarksFn)> = vec![("dispatched", dispatch::chosen().marks)];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(("sse2", x86::marks_sse2));
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(("avx2", x86::marks_avx2));
        }
    }
    v
}

/// Every position of every kind in `hay`, found with [`Marks::find`] from each start.
fn all_marks(hay: &[u8], bytes: [u8; 4], kinds: u8) -> Vec<Option<usize>> {
    let mut marks = crate::simd::marks(hay, bytes);
    (0..=hay.len() + 1)
        .map(|from| marks.find(from, kinds))
        .collect()
}

fn all_marks_scalar(hay: &[u8], bytes: [u8; 4], kinds: u8) -> Vec<Option<usize>> {
    let hit = |b: u8| (0..4).any(|k| kinds & (1 << k) != 0 && bytes[k] == b);
    (0..=hay.len() + 1)
        .map(|from| {
            let rest = hay.get(from..).unwrap_or(&[]);
            rest.iter().position(|&b| hit(b)).map(|i| from + i)
        })
        .collect()
}

#[test]
fn marks_are_found_at_every_position_of_short_and_long_input() {
    // Past the blocks computed at once (256 bytes) too.
    let lens = (0..200usize).chain([255, 256, 257, 300, 319, 320, 321, 511, 512, 513, 600]);
    for len in lens {
        let edges = [
            0, 1, 31, 32, 63, 64, 65, 127, 128, 255, 256, 257, 320, 511, 512,
        ];
        for pos in edges.into_iter().chain([len.saturating_sub(1)]) {
            let mut hay = vec![b'a'; len];
            if pos < len {
                hay[pos] = b'|';
            }
            if len > 3 {
                hay[len - 3] = b'=';
            }
            let bytes = [b'|', b'\\', b'=', 0];
            for kinds in [0b1, 0b100, 0b101, 0b1000, 0b1111] {
                assert_eq!(
                    all_marks(&hay, bytes, kinds),
                    all_marks_scalar(&hay, bytes, kinds),
                    "len {len} pos {pos} kinds {kinds:b}"
                );
            }
        }
    }
}

#[test]
fn masks_of_short_and_long_input() {
    assert_eq!(mask64(b"a b  c", b' '), 0b1_1010);
    assert_eq!(mask64(&[b' '; 100], b' '), u64::MAX);
    assert_eq!(mask64(b"", b' '), 0);
    assert_eq!(mask64(&[0xff; 3], 0xff), 0b111, "padding never matches");
}

fn screen_implementations() -> Vec<(&'static str, Screen)> {
    let mut v: Vec<(&'static str, Screen)> =
        vec![("scalar", screen_scalar), ("dispatched", screen)];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("ssse3") {
            v.push(("ssse3", x86::screen_ssse3));
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(("avx2", x86::screen_avx2));
        }
    }
    v
}

/// The positions `f` flags in the first `positions` of `hay`.
fn flagged(f: Screen, hay: &[u8], positions: usize, fp: &Fingerprints) -> Vec<usize> {
    let mut out = [0; SCREEN_BLOCKS];
    f(hay, positions, fp, &mut out);
    (0..SCREEN_BLOCKS * 64)
        .filter(|&p| out[p / 64] >> (p % 64) & 1 == 1)
        .collect()
}

#[test]
fn the_screen_passes_its_windows_at_every_position() {
    let mut fp = Fingerprints::new(4);
    for (j, &b) in b"sshd".iter().enumerate() {
        fp.allow(3, j, b);
    }
    for (j, &b) in b"Root".iter().enumerate() {
        fp.allow(12, j, b);
    }
    // Texts shorter than a vector, between steps, and longer than one call screens.
    for len in [4, 15, 19, 34, 35, 36, 64, 67, 100, 530] {
        for p in 0..=len - 4 {
            let mut hay = vec![b'.'; len];
            hay[p..p + 4].copy_from_slice(b"sshd");
            let want = if p < SCREEN_BLOCKS * 64 {
                vec![p]
            } else {
                vec![]
            };
            for (name, f) in screen_implementations() {
                assert_eq!(
                    flagged(f, &hay, len, &fp),
                    want,
                    "{name}: {len} bytes, at {p}"
                );
            }
            // Either case passes, whichever case was allowed.
            hay[p..p + 4].copy_from_slice(b"SShD");
            for (name, f) in screen_implementations() {
                assert_eq!(flagged(f, &hay, len, &fp), want, "{name}: case, {len}, {p}");
            }
            hay[p..p + 4].copy_from_slice(b"rOOT");
            for (name, f) in screen_implementations() {
                assert_eq!(
                    flagged(f, &hay, len, &fp),
                    want,
                    "{name}: high bucket, {len}, {p}"
                );
            }
            // Positions past `positions` are not reported.
            for (name, f) in screen_implementations() {
                assert_eq!(flagged(f, &hay, p, &fp), vec![], "{name}: {len}, {p} cut");
            }
        }
        for (name, f) in screen_implementations() {
            assert_eq!(flagged(f, &vec![b'.'; len], len, &fp), vec![], "{name}");
        }
    }
}

#[test]
fn a_window_past_the_end_reads_zeros() {
    // "ssh" then a zero: passes at the last three positions of any text ending in "ssh".
    let mut fp = Fingerprints::new(4);
    for (j, &b) in b"ssh\0".iter().enumerate() {
        fp.allow(7, j, b);
    }
    for len in [3, 20, 40, 70, 100] {
        let mut hay = vec![b'-'; len];
        hay[len - 3..].copy_from_slice(b"ssh");
        for (name, f) in screen_implementations() {
            assert_eq!(
                flagged(f, &hay, len, &fp),
                vec![len - 3],
                "{name}: {len} bytes"
            );
        }
    }
}

proptest! {
    #[test]
    fn vector_screens_agree_with_the_scalar_oracle(
        hay in proptest::collection::vec(any::<u8>(), 0..700),
        cut in any::<proptest::sample::Index>(),
        allowed in proptest::collection::vec((0..16usize, 0..WINDOW_MAX, any::<u8>()), 0..200),
        window in 1..=WINDOW_MAX,
    ) {
        let positions = cut.index(hay.len() + 1);
        let mut fp = Fingerprints::new(window);
        for (bucket, j, b) in allowed {
            fp.allow(bucket, j, b);
        }
        let mut want = [0; SCREEN_BLOCKS];
        screen_scalar(&hay, positions, &fp, &mut want);
        for (name, f) in screen_implementations() {
            let mut got = [u64::MAX; SCREEN_BLOCKS];
            f(&hay, positions, &fp, &mut got);
            prop_assert_eq!(got, want, "{}", name);
        }
    }

    #[test]
    fn vector_masks_agree_with_the_scalar_oracle(
        block in proptest::collection::vec(any::<u8>(), 64),
        byte in any::<u8>(),
    ) {
        let block: [u8; 64] = block.try_into().unwrap();
        let want = mask64_scalar(&block, byte);
        for (name, f) in mask_implementations() {
            prop_assert_eq!(f(&block, byte), want, "{}", name);
        }
    }

    #[test]
    fn vector_masks_of_four_bytes_agree_with_the_scalar_oracle(
        hay in proptest::collection::vec(any::<u8>(), 1..700),
        from in any::<proptest::sample::Index>(),
        bytes in any::<[u8; 4]>(),
    ) {
        let from = from.index(hay.len());
        let mut want = [[0u64; 4]; MARK_BLOCKS];
        marks_scalar(&hay, from, &bytes, &mut want);
        for (name, f) in marks_implementations() {
            let mut got = [[0u64; 4]; MARK_BLOCKS];
            f(&hay, from, &bytes, &mut got);
            prop_assert_eq!(got, want, "{}", name);
        }
    }

    /// Windows asked for in any order, aligned to the loaded blocks or not, near the end or
    /// not, hold the bits of exactly the bytes of each kind.
    #[test]
    fn mark_windows_hold_the_bits_of_their_64_bytes(
        hay in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'|'), Just(b'='), any::<u8>()], 1..700),
        starts in proptest::collection::vec(any::<proptest::sample::Index>(), 1..12),
        step in prop_oneof![Just(None), (1usize..130).prop_map(Some)],
    ) {
        let bytes = [b'"', b'|', b'=', b'\\'];
        let mut marks = crate::simd::marks(&hay, bytes);
        let mut at = starts[0].index(hay.len());
        for (n, start) in starts.iter().enumerate() {
            // Either jump anywhere, or walk forward by `step` (as a reader does).
            at = match step {
                Some(s) if n > 0 && at + s < hay.len() => at + s,
                _ => start.index(hay.len()),
            };
            let got = marks.window(at);
            for (k, &b) in bytes.iter().enumerate() {
                let want = hay[at..].iter().take(64).enumerate()
                    .filter(|&(_, &h)| h == b)
                    .fold(0u64, |m, (i, _)| m | 1 << i);
                prop_assert_eq!(got[k], want, "kind {} at {}", k, at);
            }
        }
    }

    #[test]
    fn marks_agree_with_a_byte_at_a_time_search(
        hay in proptest::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'|'), any::<u8>()], 0..700),
        bytes in any::<[u8; 4]>(),
        kinds in 0u8..16,
    ) {
        prop_assert_eq!(all_marks(&hay, bytes, kinds), all_marks_scalar(&hay, bytes, kinds));
    }

    #[test]
    fn vector_versions_agree_with_the_scalar_oracle(
        hay in proptest::collection::vec(any::<u8>(), 0..300),
        set in proptest::collection::vec(any::<u8>(), 1..=8),
    ) {
        let set = ByteSet::new(&set);
        let want = find_scalar(&hay, &set);
        for (name, f) in implementations() {
            prop_assert_eq!(f(&hay, &set), want, "{}", name);
        }
    }

    #[test]
    fn structural_bytes_in_text(hay in "[a-z \\[\\]\"=\\\\\n]{0,200}") {
        let set = ByteSet::new(b" []\"=\\\n");
        let want = find_scalar(hay.as_bytes(), &set);
        for (name, f) in implementations() {
            prop_assert_eq!(f(hay.as_bytes(), &set), want, "{}", name);
        }
    }
}

type DigitSum = fn(&[u8]) -> [u64; 4];

fn digit_sum_implementations() -> Vec<(&'static str, DigitSum)> {
    let mut v: Vec<(&'static str, DigitSum)> = vec![("dispatched", digit_sum)];
    #[cfg(target_arch = "x86_64")]
    {
        v.push(("sse2", x86::digit_sum_sse2));
        if std::arch::is_x86_feature_detected!("avx2") {
            v.push(("avx2", x86::digit_sum_avx2));
        }
    }
    v
}

#[test]
fn digit_sums_take_every_length_and_read_digits_as_zeros() {
    // Every length around the stripe and overlap bounds, a digit at every position.
    let text: Vec<u8> = (0..200u8).map(|i| b'a' + i % 26).collect();
    for len in 0..text.len() {
        let plain = &text[..len];
        let want = digit_sum_scalar(plain);
        for (name, f) in digit_sum_implementations() {
            assert_eq!(f(plain), want, "{name} at length {len}");
        }
        for p in 0..len {
            let mut digits = plain.to_vec();
            digits[p] = b'0' + (p % 10) as u8;
            let mut zero = plain.to_vec();
            zero[p] = b'0';
            assert_eq!(
                digit_sum_scalar(&digits),
                digit_sum_scalar(&zero),
                "{len} {p}"
            );
            assert_ne!(digit_sum_scalar(&digits), want, "{len} {p}");
            for (name, f) in digit_sum_implementations() {
                assert_eq!(f(&digits), digit_sum_scalar(&zero), "{name} {len} {p}");
            }
        }
    }
}

proptest! {
    #[test]
    fn vector_digit_sums_agree_with_the_scalar_oracle(
        hay in proptest::collection::vec(any::<u8>(), 0..700),
    ) {
        let want = digit_sum_scalar(&hay);
        for (name, f) in digit_sum_implementations() {
            prop_assert_eq!(f(&hay), want, "{}", name);
        }
    }

    #[test]
    fn stripes_that_trade_places_sum_apart(
        a in proptest::collection::vec(any::<u8>(), 32),
        b in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let zero = |v: &[u8]| -> Vec<u8> {
            v.iter().map(|&c| if c.is_ascii_digit() { b'0' } else { c }).collect()
        };
        prop_assume!(zero(&a) != zero(&b));
        let ab = [a.as_slice(), b.as_slice()].concat();
        let ba = [b.as_slice(), a.as_slice()].concat();
        prop_assert_ne!(digit_sum_scalar(&ab), digit_sum_scalar(&ba));
    }
}
