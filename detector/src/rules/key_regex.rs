//! A rule's key taken from a message by a regex: the first capture group of the leftmost-first
//! match.
//!
//! Most such regexes are a literal, one captured run of a byte class, and a literal
//! (`from ([0-9a-fA-F:.]+) port`, `user=([a-z0-9_]+)`). For those the capture is found directly:
//! each place the first literal occurs, in order, then the longest run of the class (within the
//! repetition's bounds), then the second literal. When the second literal does not start with a
//! byte of the class, a shorter run is always followed by a class byte, so it could never match,
//! and that direct search finds the very span the regex engine's leftmost-first search does.
//! Every other regex goes to the regex engine (`regex_automata`'s meta engine, with a cache and
//! capture space made once). The direct search costs a substring search and a pass over the run;
//! the engine's forward, reverse and one-pass searches cost about 2,200 instructions for an
//! SSH log line (`bench detect`, callgrind, 2026-12-08).

use memchr::memmem;
use regex_automata::{meta, util::captures::Captures};
use regex_syntax::hir::{Class, Hir, HirKind};

/// A compiled key regex. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct KeyRegex {
    re: meta::Regex,
    direct: Option<Direct>,
}

/// The search space of a [`KeyRegex`] that needs the regex engine, made once.
#[derive(Clone, Debug)]
pub(crate) struct KeySearch {
    cache: meta::Cache,
    captures: Captures,
}

/// A regex of the shape `prefix (class{min,max}) suffix`, searched directly.
#[derive(Clone, Debug)]
struct Direct {
    prefix: memmem::Finder<'static>,
    /// The class, a bit per byte value.
    class: [u64; 4],
    min: usize,
    max: usize,
    suffix: Vec<u8>,
}

impl Direct {
    /// The shape of `hir`, if it has it and the direct search is exact for it.
    fn of(hir: &Hir) -> Option<Self> {
        let HirKind::Concat(parts) = hir.kind() else {
            return None;
        };
        let (prefix, capture, suffix) = match parts.as_slice() {
            [p, c] => (p, c, None),
            [p, c, s] => (p, c, Some(s)),
            _ => return None,
        };
        let literal = |h: &Hir| match h.kind() {
            HirKind::Literal(l) => Some(l.0.to_vec()),
            _ => None,
        };
        let prefix = literal(prefix)?;
        let suffix = match suffix {
            Some(s) => literal(s)?,
            None => Vec::new(),
        };
        let HirKind::Capture(cap) = capture.kind() else {
            return None;
        };
        let HirKind::Repetition(rep) = cap.sub.kind() else {
            return None;
        };
        if cap.index != 1 || !rep.greedy || prefix.is_empty() {
            return None;
        }
        let mut bits = [0u64; 4];
        match rep.sub.kind() {
            // One byte, repeated.
            HirKind::Literal(l) if l.0.len() == 1 => {
                bits[usize::from(l.0[0] / 64)] |= 1 << (l.0[0] % 64);
            }
            HirKind::Class(Class::Bytes(c)) => {
                for r in c.iter() {
                    for b in r.start()..=r.end() {
                        bits[usize::from(b / 64)] |= 1 << (b % 64);
                    }
                }
            }
            HirKind::Class(Class::Unicode(c)) => {
                for r in c.iter() {
                    // A class beyond ASCII matches several bytes at a time: the engine's.
                    let (Ok(start), Ok(end)) = (u8::try_from(r.start()), u8::try_from(r.end()))
                    else {
                        return None;
                    };
                    if end > 0x7f {
                        return None;
                    }
                    for b in start..=end {
                        bits[usize::from(b / 64)] |= 1 << (b % 64);
                    }
                }
            }
            _ => return None,
        }
        let direct = Self {
            prefix: memmem::Finder::new(&prefix).into_owned(),
            class: bits,
            min: usize::try_from(rep.min).ok()?,
            max: rep
                .max
                .map_or(Some(usize::MAX), |m| usize::try_from(m).ok())?,
            suffix,
        };
        // A suffix that starts with a class byte could end a shorter run: the engine's.
        match direct.suffix.first() {
            Some(&b) if direct.in_class(b) => None,
            _ => Some(direct),
        }
    }

    #[inline]
    fn in_class(&self, b: u8) -> bool {
        self.class[usize::from(b / 64)] >> (b % 64) & 1 == 1
    }

    fn capture<'h>(&self, hay: &'h [u8]) -> Option<&'h [u8]> {
        let mut from = 0;
        while let Some(i) = self.prefix.find(&hay[from..]) {
            let start = from + i + self.prefix.needle().len();
            let run = hay[start..]
                .iter()
                .take(self.max)
                .take_while(|&&b| self.in_class(b))
                .count();
            let end = start + run;
            if run >= self.min && hay[end..].starts_with(&self.suffix) {
                return Some(&hay[start..end]);
            }
            from += i + 1;
        }
        None
    }
}

impl KeyRegex {
    /// Compiles `pattern` (bytes that are not UTF-8 allowed, as `regex::bytes::Regex` does);
    /// an error when it does not compile or has no capture group.
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        let re = meta::Builder::new()
            .configure(meta::Config::new().utf8_empty(false))
            .syntax(regex_automata::util::syntax::Config::new().utf8(false))
            .build(pattern)
            .map_err(|e| e.to_string())?;
        if re.captures_len() < 2 {
            return Err("needs a capture group".into());
        }
        let direct = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(pattern)
            .ok()
            .and_then(|hir| Direct::of(&hir));
        Ok(Self { re, direct })
    }

    /// The search space the regex engine needs, or none when this regex is searched directly.
    pub(crate) fn search(&self) -> Option<KeySearch> {
        self.direct.is_none().then(|| KeySearch {
            cache: self.re.create_cache(),
            captures: self.re.create_captures(),
        })
    }

    /// The first capture group of the leftmost-first match in `hay`. `search` is what
    /// [`search`](Self::search) made for this regex.
    pub(crate) fn capture<'h>(
        &self,
        hay: &'h [u8],
        search: &mut Option<KeySearch>,
    ) -> Option<&'h [u8]> {
        if let Some(d) = &self.direct {
            return d.capture(hay);
        }
        let KeySearch { cache, captures } = search.as_mut()?;
        self.re
            .search_captures_with(cache, &regex_automata::Input::new(hay), captures);
        let span = captures.get_group(1)?;
        hay.get(span.start..span.end)
    }

    /// Whether this regex is searched directly, not by the regex engine.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.direct.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the regex engine captures, every time.
    fn engine(pattern: &str, hay: &[u8]) -> Option<Vec<u8>> {
        let re = regex::bytes::Regex::new(pattern).unwrap();
        re.captures(hay)
            .and_then(|c| c.get(1))
            .map(|m| m.as_bytes().to_vec())
    }

    fn direct(pattern: &str, hay: &[u8]) -> Option<Vec<u8>> {
        let k = KeyRegex::new(pattern).unwrap();
        assert!(k.is_direct(), "{pattern} is searched directly");
        k.capture(hay, &mut k.search()).map(<[u8]>::to_vec)
    }

    /// Shapes searched directly, over text made of the bytes they care about.
    const DIRECT: [&str; 6] = [
        "from ([0-9a-fA-F:.]+) port",
        "user=([a-z0-9_]+)",
        "aa([ab]*)c",
        "x(a{2,3})y",
        "ab([0-9]+)",
        "(?-u:k=([\\x00-\\x3a]*);)",
    ];

    #[test]
    fn common_shapes_are_searched_directly_and_others_are_not() {
        for p in DIRECT {
            assert!(KeyRegex::new(p).unwrap().is_direct(), "{p}");
        }
        for p in [
            r"from (\S+) port", // beyond ASCII
            "(?i)user=([a-z]+)",
            "a([ab]+)b", // the suffix starts with a class byte
            "^from ([0-9.]+)",
            "([0-9]+) failures",
            "x([a-z]+?)y", // lazy
            "x(?:y|z)([a-z]+)",
        ] {
            let k = KeyRegex::new(p).unwrap();
            assert!(!k.is_direct(), "{p}");
            // And still captures as the engine does.
            let hay = b"from 10.0.0.1 port 22 user=root 12 failures xya";
            assert_eq!(
                k.capture(hay, &mut k.search()).map(<[u8]>::to_vec),
                engine(p, hay),
                "{p}"
            );
        }
        assert!(KeyRegex::new("no group").is_err());
        assert!(KeyRegex::new("(").is_err());
    }

    #[test]
    fn a_later_occurrence_of_the_prefix_can_match() {
        let p = "from ([0-9a-fA-F:.]+) port";
        let hay = b"message from sshd: Failed password from 198.18.0.7 port 22 ssh2";
        assert_eq!(direct(p, hay), Some(b"198.18.0.7".to_vec()));
        assert_eq!(direct(p, b"from 1.2.3.4port 22"), None);
        assert_eq!(direct(p, b"from  port"), None);
        // Overlapping occurrences of the prefix.
        assert_eq!(direct("aa([ab]*)c", b"aaabc"), Some(b"ab".to_vec()));
    }

    proptest! {
        #[test]
        fn direct_searches_capture_what_the_engine_captures(
            which in 0..DIRECT.len(),
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "from ", " port", "user=", "k=", ";", "a", "b", "c", "x", "y", "ab", "0",
                    "19", ".", ":", "F", " ", "_", "\u{e9}",
                ]),
                0..24,
            ),
        ) {
            let p = DIRECT[which];
            let hay = parts.concat().into_bytes();
            prop_assert_eq!(direct(p, &hay), engine(p, &hay), "{} in {:?}", p, hay);
        }
    }
}
