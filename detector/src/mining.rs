//! Online template mining in the spirit of Drain (He et al., ICWS 2017): every message gets a
//! template id, so that "a never-seen kind of message" and "a rate per kind" become questions the
//! detector can ask.
//!
//! A message is split on whitespace; tokens that hold a digit (numbers, addresses, ports, ids,
//! hex, UUIDs, versioned paths) are masked as `<*>`: generic masking, nothing per data set. A run
//! of masked tokens of one shape (`blk_<*> blk_<*> blk_<*>`) counts as one: a list. The
//! fixed-depth tree descends by token count, then by the first `depth - 2` tokens (masked ones,
//! and any beyond `max_children` at a node, go to `<*>`). In the leaf the most similar group wins
//! if its similarity (equal tokens / tokens) reaches the threshold; its template then turns the
//! differing positions into `<*>`. Otherwise a new group starts. Two masked variables in the
//! same position count as equal: they have the same shape.
//!
//! Memory is bounded. Templates are kept in LRU order within a count and a byte limit: when
//! either is reached the least recently seen template is evicted (in constant time, and
//! counted), and its id is never reused. The tree is bounded by a node limit: once reached, a
//! new token goes down the `<*>` branch, as one beyond `max_children` does; token counts above
//! [`MAX_ROOT_TOKENS`] share one root (a leaf only joins templates of the same length).

use std::collections::HashMap;

use lru::LruCache;

/// The tree's maps: foldhash rather than SipHash (their keys are the miner's own tokens; a flood
/// of crafted ones is bounded by the node limit whatever their hashes).
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Token counts above this share one root of the tree.
pub const MAX_ROOT_TOKENS: usize = 255;

/// Parameters.
#[derive(Clone, Copy, Debug)]
pub struct MinerOptions {
    /// Tree depth, counting the root and the leaf (Drain's default: 4).
    pub depth: usize,
    /// Similarity needed to join a group. Drain's default is 0.5; with this masking (which keeps
    /// the constant part of tokens such as `uid=<*>`) 0.75 is better on every LogHub sample we
    /// test, the same value for all of them (see `tests/mining.rs`).
    pub similarity: f64,
    /// Children per internal node before the rest share `<*>` (Drain's default: 100).
    pub max_children: usize,
    /// Most templates kept.
    pub max_templates: usize,
    /// Most bytes the kept templates take (their tokens and bookkeeping, see
    /// [`Miner::template_bytes`]).
    pub max_template_bytes: usize,
    /// Most nodes in the tree.
    pub max_nodes: usize,
    /// Most groups in one leaf: a message is compared with each, so this bounds the work per
    /// message whatever arrives (a flood of never-seen kinds lands in few leaves). When a leaf
    /// is full, its least recently seen group is evicted.
    pub max_leaf_groups: usize,
}

impl Default for MinerOptions {
    fn default() -> Self {
        Self {
            depth: 4,
            similarity: 0.75,
            max_children: 100,
            max_templates: 100_000,
            max_template_bytes: 64 << 20,
            max_nodes: 100_000,
            max_leaf_groups: 64,
        }
    }
}

const WILD: &str = "<*>";

/// One template.
#[derive(Clone, Debug)]
pub struct Template {
    /// Stable id (never reused).
    pub id: u64,
    /// Tokens, `<*>` where messages differ (bytes as sent: a message need not be UTF-8).
    pub tokens: Vec<Vec<u8>>,
    /// Messages that joined it.
    pub count: u64,
    last_seen: u64,
}

impl Template {
    /// The template as text (bytes that are not UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.tokens.join(&b' ')).into_owned()
    }
}

/// What [`Miner::add`] says about a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mined {
    /// The template id.
    pub id: u64,
    /// Whether the message started a new template.
    pub new: bool,
}

#[derive(Debug, Default)]
struct Node {
    children: Map<Vec<u8>, Node>,
    groups: Vec<u64>,
}

/// The miner.
#[derive(Debug)]
pub struct Miner {
    opts: MinerOptions,
    roots: Map<usize, Node>,
    templates: LruCache<u64, Template>,
    /// Bytes the kept templates take.
    bytes: usize,
    /// Nodes in the tree (roots included).
    nodes: usize,
    next_id: u64,
    clock: u64,
    evicted: u64,
    /// The masked tokens of the message being added: bytes and ranges, reused so that adding
    /// a message allocates nothing once its template and tree path exist.
    buf: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
}

const DATE_WORDS: [&[u8]; 19] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
    b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
];

/// Whether a masked token holds a variable.
fn contains_wild(token: &[u8]) -> bool {
    token.windows(WILD.len()).any(|w| w == WILD.as_bytes())
}

/// Generic masking of one token, appended to `out`: a token that is a number, an address, hex
/// or a range becomes `<*>`; in other tokens each run of digits (with the dots and colons inside
/// it, and a minus sign before it) does, so `uid=0` becomes `uid=<*>` and `sshd[24200]:` becomes
/// `sshd[<*>]:`. Month and weekday names are date parts, so they are masked too. Other bytes are
/// copied as they are (valid UTF-8 stays valid).
fn mask_into(t: &[u8], out: &mut Vec<u8>) {
    let digit = t.iter().any(u8::is_ascii_digit);
    let numeric = |t: &[u8]| {
        t.iter().all(|&b| {
            b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b'x' | b'X' | b'-' | b'/' | b',')
        })
    };
    if (digit && numeric(t)) || (t.len() == 3 && DATE_WORDS.contains(&t)) {
        out.extend_from_slice(WILD.as_bytes());
        return;
    }
    if !digit {
        out.extend_from_slice(t);
        return;
    }
    let mut in_run = false;
    for (i, &b) in t.iter().enumerate() {
        let next_digit = t.get(i + 1).is_some_and(u8::is_ascii_digit);
        // Dots and colons inside a number (addresses, times), and a minus sign before one.
        let inner = next_digit && ((matches!(b, b'.' | b':') && in_run) || (b == b'-' && !in_run));
        if b.is_ascii_digit() || inner {
            if !in_run {
                out.extend_from_slice(WILD.as_bytes());
                in_run = true;
            }
        } else {
            in_run = false;
            out.push(b);
        }
    }
}

impl MinerOptions {
    /// What one tree node costs, from above: its key, its child table slot, its group list.
    pub const NODE_BYTES: usize = 160;

    /// These options within `budget_bytes`: three quarters for templates, the rest for the tree.
    pub fn within(self, budget_bytes: usize) -> Self {
        Self {
            max_template_bytes: budget_bytes / 4 * 3,
            max_nodes: crate::bounded::keys_within(budget_bytes / 4, Self::NODE_BYTES),
            ..self
        }
    }
}

impl Miner {
    /// A miner with `opts`.
    pub fn new(opts: MinerOptions) -> Self {
        Self {
            opts,
            roots: Map::default(),
            templates: LruCache::unbounded(),
            bytes: 0,
            nodes: 0,
            next_id: 1,
            clock: 0,
            evicted: 0,
            buf: Vec::new(),
            ranges: Vec::new(),
        }
    }

    /// Templates evicted because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The template with `id`, if still kept.
    pub fn template(&self, id: u64) -> Option<&Template> {
        self.templates.peek(&id)
    }

    /// Bytes the kept templates take: their tokens, plus the entry and its share of the table.
    pub fn template_bytes(&self) -> usize {
        self.bytes
    }

    /// Nodes in the tree.
    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// What one template costs, estimated from above: the token strings and their vector, the
    /// LRU entry, and the hash table slot (with the table's own slack).
    fn cost(tokens: &[Vec<u8>]) -> usize {
        tokens.iter().map(|t| t.capacity() + 24).sum::<usize>()
            + std::mem::size_of::<Template>()
            + 64
    }

    /// Templates kept now.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    /// Whether no template is kept.
    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    fn similarity(
        template: &[Vec<u8>],
        buf: &[u8],
        ranges: &[std::ops::Range<usize>],
    ) -> (f64, usize) {
        let mut equal = 0;
        let mut wild = 0;
        for (a, r) in template.iter().zip(ranges) {
            if a[..] == buf[r.clone()] {
                // Includes a masked variable against a masked variable: the same shape.
                equal += 1;
            } else if a == WILD.as_bytes() {
                wild += 1;
            }
        }
        (equal as f64 / ranges.len().max(1) as f64, wild)
    }

    /// Files `message` under a template and returns its id. Tokens are split at ASCII white
    /// space; the bytes need not be UTF-8.
    pub fn add(&mut self, message: impl AsRef<[u8]>) -> Mined {
        self.clock += 1;
        self.buf.clear();
        self.ranges.clear();
        let tokens = message
            .as_ref()
            .split(|&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
            .filter(|t| !t.is_empty());
        for t in tokens {
            let start = self.buf.len();
            mask_into(t, &mut self.buf);
            // A run of variables of one shape (`blk_<*> blk_<*> ...`) is one list, whatever
            // its length.
            if let Some(prev) = self.ranges.last() {
                let (before, token) = self.buf.split_at(start);
                if token == &before[prev.clone()] && contains_wild(token) {
                    self.buf.truncate(start);
                    continue;
                }
            }
            self.ranges.push(start..self.buf.len());
        }
        let (buf, ranges) = (&self.buf, &self.ranges);
        let n = ranges.len();
        let opts = self.opts;
        // Descend: the token count, then the first depth - 2 tokens.
        let nodes = &mut self.nodes;
        let mut node = self.roots.entry(n.min(MAX_ROOT_TOKENS)).or_insert_with(|| {
            *nodes += 1;
            Node::default()
        });
        for r in ranges.iter().take(opts.depth.saturating_sub(2)) {
            let t = &buf[r.clone()];
            // A known token: one lookup to check, one to descend (the common case). Else the
            // token gets a child if there is room, or goes down the one `<*>` child.
            let key: &[u8] = if node.children.contains_key(t) {
                t
            } else {
                let room = node.children.len() + 1 < opts.max_children
                    && *nodes < opts.max_nodes
                    && !contains_wild(t);
                let key = if room { t } else { WILD.as_bytes() };
                if !node.children.contains_key(key) {
                    node.children.insert(key.to_vec(), Node::default());
                    *nodes += 1;
                }
                key
            };
            node = node.children.get_mut(key).expect("just ensured");
        }
        // The most similar group of the same length in the leaf (ties: more wildcards). Groups
        // whose template was evicted are dropped from the leaf when met.
        let mut best: Option<(u64, f64, usize)> = None;
        let mut stale = false;
        for id in &node.groups {
            let Some(t) = self.templates.peek(id) else {
                stale = true;
                continue;
            };
            if t.tokens.len() != n {
                continue;
            }
            let (sim, wild) = Self::similarity(&t.tokens, buf, ranges);
            if best.is_none_or(|(_, s, w)| sim > s || (sim == s && wild > w)) {
                best = Some((*id, sim, wild));
            }
        }
        if stale {
            node.groups.retain(|id| self.templates.contains(id));
        }
        let mined = match best {
            Some((id, sim, _)) if sim >= opts.similarity => {
                let t = self.templates.get_mut(&id).expect("kept");
                let before = Self::cost(&t.tokens);
                for (a, r) in t.tokens.iter_mut().zip(ranges) {
                    if a != WILD.as_bytes() && a[..] != buf[r.clone()] {
                        *a = WILD.as_bytes().to_vec();
                    }
                }
                self.bytes = self.bytes - before + Self::cost(&t.tokens);
                t.count += 1;
                t.last_seen = self.clock;
                Mined { id, new: false }
            }
            _ => {
                let id = self.next_id;
                self.next_id += 1;
                if node.groups.len() >= opts.max_leaf_groups.max(1) {
                    // Make room in the leaf: its least recently seen group goes.
                    let templates = &self.templates;
                    let oldest = node
                        .groups
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, g)| templates.peek(*g).map_or(0, |t| t.last_seen))
                        .map(|(i, _)| i)
                        .expect("a full leaf");
                    let gone = node.groups.swap_remove(oldest);
                    if let Some(t) = self.templates.pop(&gone) {
                        self.bytes -= Self::cost(&t.tokens);
                        self.evicted += 1;
                    }
                }
                node.groups.push(id);
                let tokens: Vec<Vec<u8>> = ranges.iter().map(|r| buf[r.clone()].to_vec()).collect();
                self.bytes += Self::cost(&tokens);
                self.templates.put(
                    id,
                    Template {
                        id,
                        tokens,
                        count: 1,
                        last_seen: self.clock,
                    },
                );
                Mined { id, new: true }
            }
        };
        // The least recently seen go first; the one just added or joined is the most recent.
        while self.templates.len() > opts.max_templates.max(1)
            || (self.bytes > opts.max_template_bytes && self.templates.len() > 1)
        {
            let Some((_, t)) = self.templates.pop_lru() else {
                break;
            };
            self.bytes -= Self::cost(&t.tokens);
            self.evicted += 1;
        }
        mined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_bounded_under_a_flood_of_new_kinds() {
        let opts = MinerOptions {
            max_templates: 1000,
            max_template_bytes: 64 << 10,
            max_nodes: 500,
            ..MinerOptions::default()
        };
        let mut m = Miner::new(opts);
        // Every message a new kind: words that never repeat, in lengths from 1 to 300 tokens.
        let word = |i: u64| {
            let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (0..6)
                .map(|_| {
                    x = x.rotate_left(7) ^ 0x5851_f42d;
                    char::from(b'a' + (x % 26) as u8)
                })
                .collect::<String>()
        };
        let mut new = 0;
        for i in 0..50_000u64 {
            let len = 1 + (i % 300) as usize;
            let message: Vec<String> = (0..len as u64).map(|k| word(i * 1000 + k)).collect();
            if m.add(message.join(" ")).new {
                new += 1;
            }
            // Each template is far below the limit, so the limit holds after every message.
            assert!(m.template_bytes() <= opts.max_template_bytes);
        }
        assert!(new > 10_000, "most are new kinds: {new}");
        assert!(m.len() <= opts.max_templates);
        assert!(m.template_bytes() <= opts.max_template_bytes);
        assert!(
            m.nodes() <= 2 * opts.max_nodes + MAX_ROOT_TOKENS + 1,
            "{} nodes",
            m.nodes()
        );
        assert_eq!(
            m.evicted() + m.len() as u64,
            new,
            "every template kept or counted out"
        );
    }

    #[test]
    fn variable_parts_become_wildcards() {
        let mut m = Miner::new(MinerOptions::default());
        let a = m.add("Invalid user admin from 198.51.100.7");
        let b = m.add("Invalid user oracle from 203.0.113.9");
        assert!(a.new && !b.new);
        assert_eq!(a.id, b.id);
        assert_eq!(
            m.template(a.id).unwrap().text(),
            "Invalid user <*> from <*>"
        );
        let c = m.add("Connection closed by 198.51.100.7 [preauth]");
        assert!(c.new);
        assert_ne!(c.id, a.id);
        assert_eq!(m.template(a.id).unwrap().count, 2);
    }

    #[test]
    fn a_list_of_variables_is_one_token_whatever_its_length() {
        let mut m = Miner::new(MinerOptions::default());
        let one = m.add("BLOCK* ask 10.250.11.85:50010 to delete blk_-1608999687919862906");
        let three = m.add("BLOCK* ask 10.250.14.38:50010 to delete blk_1 blk_-2 blk_3");
        assert_eq!(one.id, three.id);
        assert_eq!(
            m.template(one.id).unwrap().text(),
            "BLOCK* ask <*> to delete blk_<*>"
        );
        // Repeated words stay: only variables of one shape fold.
        let words = m.add("very very slow");
        let word = m.add("very slow");
        assert_ne!(words.id, word.id);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_mined_as_they_are() {
        let mut m = Miner::new(MinerOptions::default());
        let a = m.add(b"login failed for \xff\xfeuser on tty1");
        let b = m.add(b"login failed for \xff\xfeuser on tty1");
        assert!(a.new && !b.new);
        assert_eq!(a.id, b.id);
        assert_eq!(
            m.template(a.id).unwrap().text(),
            "login failed for \u{fffd}\u{fffd}user on tty<*>"
        );
        // Tabs and other ASCII white space split tokens as spaces do.
        let tabbed = m.add("login\tfailed for \u{ff}user\x0bon tty2");
        let spaced = m.add("login failed for \u{ff}user on tty3");
        assert_eq!(tabbed.id, spaced.id);
    }

    #[test]
    fn the_template_table_is_bounded_and_ids_are_never_reused() {
        let mut m = Miner::new(MinerOptions {
            max_templates: 3,
            ..MinerOptions::default()
        });
        let ids: Vec<u64> = (0..10).map(|i| m.add("word ".repeat(i + 1)).id).collect();
        assert_eq!(m.len(), 3);
        assert_eq!(m.evicted(), 7);
        let mut unique = ids.clone();
        unique.dedup();
        assert_eq!(unique, ids);
    }
}
