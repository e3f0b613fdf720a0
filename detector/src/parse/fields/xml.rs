//! Events in the Windows event XML schema, as Sysmon for Linux writes them.

use super::walker::{Field, Fields, State};

use crate::simd::find_byte;

impl<'a> Fields<'a> {
    /// An event in the Windows event XML schema: its `<EventID>` as the field `EventID`, then
    /// each `<Data Name="K">V</Data>` as the field `K` (an empty `<Data Name="K"/>` as an
    /// empty value). Values are as written: XML entities (`&quot;`, `&amp;`) are not decoded.
    pub(super) fn xml_field(&mut self) -> Option<Field<'a>> {
        loop {
            let s = self.rest;
            let Some(lt) = find_byte(s, b'<') else {
                self.rest = &s[s.len()..];
                self.state = State::Done;
                return None;
            };
            let t = &s[lt..];
            let id = t
                .strip_prefix(b"<EventID")
                .filter(|r| matches!(r.first(), Some(b'>' | b' ')));
            if let Some(r) = id
                && let Some(gt) = find_byte(r, b'>')
            {
                let v = &r[gt + 1..];
                let end = find_byte(v, b'<').unwrap_or(v.len());
                self.rest = &v[end..];
                return Some(Field {
                    key: &t[1..8],
                    value: &v[..end],
                    escaped: false,
                });
            }
            if let Some(r) = t.strip_prefix(b"<Data Name=\"")
                && let Some(q) = find_byte(r, b'"')
            {
                let (key, after) = (&r[..q], &r[q + 1..]);
                if let Some(rest) = after.strip_prefix(b"/>") {
                    self.rest = rest;
                    return Some(Field {
                        key,
                        value: &after[..0],
                        escaped: false,
                    });
                }
                if let Some(v) = after.strip_prefix(b">") {
                    let end = find_byte(v, b'<').unwrap_or(v.len());
                    self.rest = &v[end..];
                    return Some(Field {
                        key,
                        value: &v[..end],
                        escaped: false,
                    });
                }
            }
            self.rest = &t[1..];
        }
    }
}
