//! What the engine raises: alerts as plain data, in a buffer the caller owns and sizes once.

/// Longest key an alert keeps (a threshold's group, a correlation's group-by values, a
/// template's text, what went quiet), bytes; longer ones are cut.
pub const KEY_LEN: usize = 256;

/// Which rule raised an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuleRef {
    /// A Sigma rule, by index.
    Sigma(u32),
    /// A threshold rule, by index.
    Threshold(u32),
    /// A Sigma correlation rule, by index.
    Correlation(u32),
    /// A silence rule, by index.
    Silence(u32),
    /// A message of a template never seen before (after the warm-up); the id is the template's.
    NewTemplate(u64),
    /// A (host, app, template) far above its usual rate; the id is the template's.
    RateSpike(u64),
}

/// A rule that fired. Plain data: no message bytes (the caller still holds the batch, and
/// [`Alert::input`] says which of its messages the alert is about).
#[derive(Clone, Copy, Debug)]
pub struct Alert {
    /// The rule.
    pub rule: RuleRef,
    /// The message of the batch it is about (for a threshold or correlation, the one that
    /// completed it); none for a silence, which is about no message.
    pub input: Option<u16>,
    /// Events counted (1 for a match; seconds of quiet for a silence).
    pub count: u32,
    /// Earlier crossings folded into this alert during a suppression.
    pub folded: u64,
    /// The first event counted, nanoseconds: since the epoch when the events carried their own
    /// time, else the caller's arrival clock.
    pub first_ns: u64,
    /// The last event counted.
    pub last_ns: u64,
    /// The message's template, when the engine mines them.
    pub template: Option<u64>,
    key: [u8; KEY_LEN],
    key_len: u16,
}

impl Alert {
    /// An alert of `rule` about input `input`, with nothing counted yet.
    pub fn new(rule: RuleRef, input: Option<u16>, t_ns: u64, template: Option<u64>) -> Self {
        Self {
            rule,
            input,
            count: 1,
            folded: 0,
            first_ns: t_ns,
            last_ns: t_ns,
            template,
            key: [0; KEY_LEN],
            key_len: 0,
        }
    }

    /// Sets the key (cut at [`KEY_LEN`]).
    pub fn with_key(mut self, key: &[u8]) -> Self {
        let n = key.len().min(KEY_LEN);
        self.key[..n].copy_from_slice(&key[..n]);
        self.key_len = n as u16;
        self
    }

    /// The key: what was counted (empty for a match).
    pub fn key(&self) -> &[u8] {
        &self.key[..usize::from(self.key_len)]
    }

    /// Room to write the key in place (see [`Alert::set_key_len`]).
    pub(crate) fn key_space(&mut self) -> &mut [u8; KEY_LEN] {
        &mut self.key
    }

    /// How much of [`Alert::key_space`] was written.
    pub(crate) fn set_key_len(&mut self, n: usize) {
        self.key_len = n.min(KEY_LEN) as u16;
    }
}

/// A fixed-capacity buffer of raised alerts, owned by the caller and reused: the engine adds,
/// the caller drains. When it is full an alert is dropped and counted, never waited for.
#[derive(Clone, Debug)]
pub struct Alerts {
    items: Vec<Alert>,
    capacity: usize,
    overflowed: u64,
}

impl Alerts {
    /// A buffer for `capacity` alerts, allocated now.
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Vec::with_capacity(capacity),
            capacity,
            overflowed: 0,
        }
    }

    /// Adds `alert`, or counts it as dropped when the buffer is full. Returns whether it was
    /// kept.
    #[inline]
    pub fn push(&mut self, alert: Alert) -> bool {
        if self.items.len() >= self.capacity {
            self.overflowed += 1;
            return false;
        }
        self.items.push(alert);
        true
    }

    /// The alerts held, oldest first.
    pub fn as_slice(&self) -> &[Alert] {
        &self.items
    }

    /// Empties the buffer (keeping its memory).
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Alerts held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Alerts dropped so far because the buffer was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_buffer_drops_and_counts() {
        let mut a = Alerts::new(2);
        for i in 0..5 {
            let kept = a.push(Alert::new(RuleRef::Sigma(i), Some(0), 1, None));
            assert_eq!(kept, i < 2);
        }
        assert_eq!((a.len(), a.overflowed()), (2, 3));
        a.clear();
        assert!(a.is_empty());
        assert_eq!(a.overflowed(), 3, "the count stays");
    }

    #[test]
    fn keys_are_cut_at_their_room() {
        let long = vec![b'k'; KEY_LEN + 9];
        let a = Alert::new(RuleRef::Threshold(0), None, 5, None).with_key(&long);
        assert_eq!(a.key(), &long[..KEY_LEN]);
        assert_eq!((a.first_ns, a.last_ns, a.count), (5, 5, 1));
    }
}
