//! A kept template, as callers see it.

use super::{
    mask::{TEXT_MAX, WILD, token_text},
    record::Record,
};

/// A kept template, borrowed from the miner.
#[derive(Clone, Copy, Debug)]
pub struct Template<'m> {
    /// Its id.
    pub id: u64,
    /// Messages that joined it.
    pub count: u64,
    pub(super) record: &'m Record,
}

impl Template<'_> {
    /// Tokens.
    pub fn len(&self) -> usize {
        usize::from(self.record.n)
    }

    /// Whether it has no token (an empty message's).
    pub fn is_empty(&self) -> bool {
        self.record.n == 0
    }

    /// The template as text: its first message's masked tokens, `<*>` where messages differ
    /// (bytes that are not UTF-8 replaced; tokens past [`TEXT_MAX`] bytes shown as `…`).
    pub fn text(&self) -> String {
        let mut out = [0u8; 2 * TEXT_MAX];
        let n = self.write_text(&mut out);
        String::from_utf8_lossy(&out[..n]).into_owned()
    }

    /// [`Template::text`] as bytes into `out`, cut where `out` ends; returns the length. No
    /// allocation: for an alert's fixed key.
    pub fn write_text(&self, out: &mut [u8]) -> usize {
        let r = self.record;
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            let n = bytes.len().min(out.len() - len);
            out[len..len + n].copy_from_slice(&bytes[..n]);
            len += n;
        };
        for i in 0..usize::from(r.n) {
            if i > 0 {
                put(b" ");
            }
            let t = token_text(&r.text, &r.ends, i);
            if r.wild & (1 << i) != 0 {
                put(WILD);
            } else if t.is_empty() {
                put("…".as_bytes());
            } else {
                put(t);
            }
        }
        len
    }
}
