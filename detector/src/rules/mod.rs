//! Detection rules: Sigma rules ([`sigma`]) with their correlations ([`correlation`]), both
//! read from a folder by [`load`], and
//! native rules in TOML: thresholds ([`threshold`]) and silences ([`silence`]). Literal lists are
//! searched all at once with [`literals`].

pub mod correlation;
mod key_regex;
pub mod literals;
pub mod load;
mod pattern;
pub mod sigma;
pub mod silence;
pub mod threshold;

/// A duration as rules write it (`500ms`, `120s`, `5m`, `1h`, `1d`), in nanoseconds.
pub(crate) fn duration_ns(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s[..digits].parse().ok()?;
    let unit: u64 = match &s[digits..] {
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}
