//! The slow path of a message no cache knows: Drain's tree down to a leaf, the most similar
//! group there, and the families (positions with few values split a group, a variable merges
//! its family).

use super::{
    mask::{KEY_MAX, MAX_TOKENS},
    miner::{END_OF_MESSAGE, Miner, path, short},
    options::{MAX_ROOT_TOKENS, Mined},
    record::Record,
};

/// Seeds the hash of a context, apart from the tree's paths.
const CONTEXT: u64 = 0x636f_6e74_6578_7431;

/// The context of a position: its two tokens before (their kept hashes).
fn context_of(a: u32, b: u32) -> u64 {
    path(path(CONTEXT, u64::from(a)), u64::from(b))
}

impl Miner {
    /// The leaf of the message in `tokens`: descends by its token count, then its first
    /// `depth - 2` tokens, making nodes as it goes.
    fn leaf(&mut self) -> usize {
        let t = &self.tokens;
        let n = t.n.min(MAX_ROOT_TOKENS);
        let mut key = path(0, n as u64);
        let depth = self.opts.depth.saturating_sub(2);
        let token = |i: usize| {
            if i < t.n {
                (t.hashes[i], t.wild & (1 << i) != 0)
            } else {
                (END_OF_MESSAGE, false)
            }
        };
        for level in 0..depth {
            let (hash, wild) = token(level);
            let is_leaf = level + 1 == depth;
            let own = path(key, hash);
            let table = if is_leaf {
                &self.leaves
            } else {
                &self.levels[level].table
            };
            let known = table.peek(own).is_some();
            let children = if level == 0 {
                self.root_children[n]
            } else {
                let parent = &self.levels[level - 1];
                parent.table.peek(key).map_or(0, |s| parent.children[s])
            };
            let room = (children as usize) + 1 < self.opts.max_children && !wild;
            let next = if known || room {
                own
            } else {
                path(key, self.wild)
            };
            if !known && next == own {
                // A new child of this node.
                if level == 0 {
                    self.root_children[n] += 1;
                } else {
                    let parent = &mut self.levels[level - 1];
                    if let Some(s) = parent.table.peek(key) {
                        parent.children[s] += 1;
                    }
                }
            }
            key = next;
            if is_leaf {
                let e = self.leaves.entry(key);
                if e.fresh {
                    // A leaf evicted to make room takes its groups with it from the tree (their
                    // templates stay, and the fast path still finds them).
                    self.leaf_len[e.slot] = 0;
                }
                return e.slot;
            }
            let e = self.levels[level].table.entry(key);
            if e.fresh {
                self.levels[level].children[e.slot] = 0;
            }
        }
        // Depth 2: every message of a length shares one leaf.
        let e = self.leaves.entry(key);
        if e.fresh {
            self.leaf_len[e.slot] = 0;
        }
        e.slot
    }

    /// The slow path: Drain's tree and leaf comparison, then the family's value counts. Returns
    /// the template's slot.
    pub(super) fn add_slow(&mut self, message: &[u8]) -> (usize, Mined) {
        let leaf = self.leaf();
        let leaf_key = self.leaves.key_at(leaf).unwrap_or(0);
        // Each round that does not settle the message makes at least one more position a
        // variable, so the rounds are few; the bound is for safety.
        for _ in 0..MAX_TOKENS {
            let Some((slot, sim)) = self.most_similar(leaf, leaf_key, message) else {
                break;
            };
            if sim < self.opts.similarity {
                break;
            }
            let r = &self.records[slot];
            let differ = self.differing(r);
            if differ == 0 {
                let r = &mut self.records[slot];
                r.count += 1;
                r.last_seen = self.clock;
                let id = r.id;
                self.ids.touch(slot);
                return (slot, Mined { id, new: false });
            }
            let variable = self.variables(leaf, r, differ, message);
            // Words that proved a variable: what comes after their context is one anywhere.
            let words = variable & !(r.masked | self.tokens.wild);
            let family = r.family;
            for p in (0..self.tokens.n).filter(|&p| words & (1 << p) != 0) {
                if let Some(c) = self.context(p) {
                    self.learn_context(c);
                }
            }
            let Some(r) = self
                .records
                .get(slot)
                .filter(|r| r.family == family && r.id != 0)
            else {
                // The candidate merged away while the context spread: look again.
                continue;
            };
            if variable == 0 {
                // Positions with few values: another kind of message of the same family (where
                // it has a key without a value, not a variable there).
                let (family, wild) = (r.family, r.wild & !differ);
                let slot = self.new_template(message, leaf, leaf_key, Some((family, wild)));
                return (slot, self.fresh(slot));
            }
            self.generalise(leaf, r.family, self.tokens.n, variable);
        }
        let slot = self.new_template(message, leaf, leaf_key, None);
        (slot, self.fresh(slot))
    }

    /// What [`Miner::add`] says of a message that started the template in `slot`.
    fn fresh(&self, slot: usize) -> Mined {
        Mined {
            id: self.records[slot].id,
            new: true,
        }
    }

    /// The most similar group of the message's length in `leaf` and its similarity (ties: more
    /// variable positions). Groups whose template was evicted are dropped from the leaf when
    /// met.
    fn most_similar(&mut self, leaf: usize, leaf_key: u64, message: &[u8]) -> Option<(usize, f64)> {
        let n = self.tokens.n;
        let stride = self.leaf_stride;
        let mut best: Option<(usize, f64, u32)> = None;
        let mut i = 0;
        while i < usize::from(self.leaf_len[leaf]) {
            let slot = self.leaf_groups[leaf * stride + i] as usize;
            let r = &self.records[slot];
            if self.ids.key_at(slot) != Some(r.id.max(1)) || r.leaf != leaf_key {
                self.leave(leaf, i);
                continue;
            }
            i += 1;
            if usize::from(r.n) != n {
                continue;
            }
            let (sim, wild) = self.similarity(r, message);
            if best.is_none_or(|(_, s, w)| sim > s || (sim == s && wild > w)) {
                best = Some((slot, sim, wild));
            }
        }
        best.map(|(slot, sim, _)| (slot, sim))
    }

    /// Takes the `i`th group out of `leaf`'s list.
    fn leave(&mut self, leaf: usize, i: usize) {
        let stride = self.leaf_stride;
        let len = usize::from(self.leaf_len[leaf]);
        self.leaf_groups.copy_within(
            leaf * stride + i + 1..leaf * stride + len,
            leaf * stride + i,
        );
        self.leaf_len[leaf] -= 1;
    }

    /// Takes the template in `slot` out of `leaf`'s list, if it is there.
    fn leave_slot(&mut self, leaf: usize, slot: usize) {
        let stride = self.leaf_stride;
        let len = usize::from(self.leaf_len[leaf]);
        if let Some(i) = self.leaf_groups[leaf * stride..leaf * stride + len]
            .iter()
            .position(|&s| s as usize == slot)
        {
            self.leave(leaf, i);
        }
    }

    /// Positions where the message in `tokens` differs from `r`'s template: not counting the
    /// positions that are variables there, unless the message has a key without a value
    /// (`rhost=`) where the variable's values were not ([`Miner::open_at_variable`]).
    fn differing(&self, r: &Record) -> u64 {
        let t = &self.tokens;
        let open = self.open_at_variable(r);
        (0..t.n)
            .filter(|&p| r.wild & (1 << p) == 0 && r.hashes[p] != short(t.hashes[p]))
            .fold(open, |m, p| m | 1 << p)
    }

    /// Positions where `r` has a variable and the message a key without a value (`rhost=`)
    /// while the template's first message had one there: an empty value is another kind of
    /// message, not a value of the variable.
    fn open_at_variable(&self, r: &Record) -> u64 {
        r.wild & self.tokens.open & !r.open
    }

    /// Which of the positions in `differ` (where the message differs from `r`) are variables:
    /// those where a token held a masked variable (two shapes of one variable, `rhost=<*>`
    /// and `rhost=<*>.example.net`), neither is a key without a value (`rhost=` is another
    /// kind of message, not a shape of `rhost=<*>`) and both have the same key
    /// ([`Miner::same_key`]); and those that take more than `max_constant_values` values, the
    /// message's included, among the groups of `r`'s family in `leaf`.
    fn variables(&self, leaf: usize, r: &Record, differ: u64, message: &[u8]) -> u64 {
        let t = &self.tokens;
        let family = r.family;
        let mut shapes = differ & (r.masked | t.wild) & !(r.open | t.open);
        for p in 0..t.n {
            if shapes & (1 << p) != 0 && !self.same_key(r, p, message) {
                shapes &= !(1 << p);
            }
        }
        let stride = self.leaf_stride;
        let groups =
            &self.leaf_groups[leaf * stride..leaf * stride + usize::from(self.leaf_len[leaf])];
        let most = self.opts.max_constant_values.min(MAX_TOKENS);
        let mut variable = shapes;
        for p in (0..t.n).filter(|&p| (differ & !shapes) & (1 << p) != 0) {
            if self
                .context(p)
                .is_some_and(|c| self.contexts.peek(c).is_some())
            {
                // After these two tokens, a word proved a variable in another family.
                variable |= 1 << p;
                continue;
            }
            let mut values = [0u32; MAX_TOKENS + 1];
            values[0] = short(t.hashes[p]);
            let mut distinct = 1;
            for &g in groups {
                let r = &self.records[g as usize];
                if r.family != family || usize::from(r.n) != t.n || r.wild & (1 << p) != 0 {
                    continue;
                }
                if !values[..distinct].contains(&r.hashes[p]) {
                    values[distinct] = r.hashes[p];
                    distinct += 1;
                    if distinct > most {
                        variable |= 1 << p;
                        break;
                    }
                }
            }
        }
        variable
    }

    /// The context of the message's position `p`: its two tokens before, masked (`None`
    /// before the third token).
    fn context(&self, p: usize) -> Option<u64> {
        let t = &self.tokens;
        (p >= 2).then(|| context_of(short(t.hashes[p - 2]), short(t.hashes[p - 1])))
    }

    /// Remembers context `c`, and, the first time, makes the word after it a variable in
    /// every group that has one there (merging those that are then one). A rare, slow step:
    /// once per context, a look at every template of the tree.
    fn learn_context(&mut self, c: u64) {
        if self.contexts.peek(c).is_some() {
            return;
        }
        self.contexts.entry(c);
        let stride = self.leaf_stride;
        for leaf in 0..self.leaves.capacity() {
            let Some(leaf_key) = self.leaves.key_at(leaf) else {
                continue;
            };
            // (family, length, positions) to widen in this leaf.
            const WIDEN_MAX: usize = 16;
            let mut widen = [(0u64, 0u8, 0u64); WIDEN_MAX];
            let mut k = 0;
            for i in 0..usize::from(self.leaf_len[leaf]) {
                let r = &self.records[self.leaf_groups[leaf * stride + i] as usize];
                if r.id == 0 || r.leaf != leaf_key {
                    continue;
                }
                let at = (2..usize::from(r.n))
                    .filter(|&q| {
                        (r.wild | r.masked) & (1 << q) == 0
                            && context_of(r.hashes[q - 2], r.hashes[q - 1]) == c
                    })
                    .fold(0u64, |m, q| m | 1 << q);
                if at == 0 {
                    continue;
                }
                match widen[..k]
                    .iter_mut()
                    .find(|(f, n, _)| *f == r.family && *n == r.n)
                {
                    Some(w) => w.2 |= at,
                    None if k < WIDEN_MAX => {
                        widen[k] = (r.family, r.n, at);
                        k += 1;
                    }
                    None => {}
                }
            }
            for &(family, n, at) in &widen[..k] {
                self.generalise(leaf, family, usize::from(n), at);
            }
        }
    }

    /// Makes `positions` variables in every group of `family` in `leaf` of `n` tokens, and
    /// merges the groups that then have one template into the oldest of them.
    fn generalise(&mut self, leaf: usize, family: u64, n: usize, positions: u64) {
        let stride = self.leaf_stride;
        let members = |m: &Self| {
            let len = usize::from(m.leaf_len[leaf]);
            let mut out = [0u32; 256];
            let mut k = 0;
            for &g in &m.leaf_groups[leaf * stride..leaf * stride + len] {
                let r = &m.records[g as usize];
                if r.family == family && usize::from(r.n) == n && r.id != 0 {
                    out[k] = g;
                    k += 1;
                }
            }
            (out, k)
        };
        let (list, k) = members(self);
        for &g in &list[..k] {
            self.records[g as usize].wild |= positions;
        }
        // Merge each group into the oldest one before it that it now equals.
        for j in 1..k {
            let b = list[j] as usize;
            let Some(&a) = list[..j].iter().find(|&&a| {
                let (a, b) = (&self.records[a as usize], &self.records[b]);
                a.id != 0 && Self::same_template(a, b)
            }) else {
                continue;
            };
            self.merge(leaf, a as usize, b);
        }
    }

    /// Whether two groups' templates are one: equal wherever neither has a variable.
    fn same_template(a: &Record, b: &Record) -> bool {
        a.n == b.n
            && (0..usize::from(a.n))
                .all(|p| (a.wild | b.wild) & (1 << p) != 0 || a.hashes[p] == b.hashes[p])
    }

    /// Merges the group in slot `from` into the one in slot `into`; the older id is kept and
    /// the other becomes its alias.
    fn merge(&mut self, leaf: usize, mut into: usize, mut from: usize) {
        if self.records[from].id < self.records[into].id {
            std::mem::swap(&mut into, &mut from);
        }
        let gone = self.records[from];
        let keep = &mut self.records[into];
        keep.wild |= gone.wild;
        keep.count += gone.count;
        keep.last_seen = keep.last_seen.max(gone.last_seen);
        let kept = keep.id;
        let a = self.aliases.entry(gone.id);
        self.alias_of[a.slot] = kept;
        self.ids.remove(gone.id);
        self.records[from].id = 0;
        self.leave_slot(leaf, from);
    }

    /// Whether the message's token `p` and `r`'s first message's have the same key (the part
    /// up to `=`, masked: `rhost=`, `LOGIN(uid=`), or neither has one: then two shapes of a
    /// masked token are one variable; `(uid=<*>)` and `LOGIN(uid=<*>)` are two kinds of
    /// message. A token cut from the template's text compares as the same.
    fn same_key(&self, r: &Record, p: usize, message: &[u8]) -> bool {
        let theirs = super::mask::token_text(&r.text, &r.ends, p);
        if theirs.is_empty() {
            return true;
        }
        let (mut a, mut b) = ([0u8; KEY_MAX], [0u8; KEY_MAX]);
        super::mask::masked_key(theirs, &mut a) == self.tokens.key(message, p, &mut b)
    }

    /// Similarity of the message in `tokens` to `r` (same length): equal tokens over tokens,
    /// and the number of variable positions of `r` where they differ.
    fn similarity(&self, r: &Record, message: &[u8]) -> (f64, u32) {
        let t = &self.tokens;
        let wild_hash = short(self.wild);
        let open = self.open_at_variable(r);
        let mut equal = 0u32;
        let mut wild = 0u32;
        for p in 0..t.n {
            let h = short(t.hashes[p]);
            // A position that became a variable reads as `<*>`: it matches a masked variable,
            // but not a key without a value.
            let variable =
                (r.wild & (1 << p) != 0 || r.hashes[p] == wild_hash) && open & (1 << p) == 0;
            let template = if variable { wild_hash } else { r.hashes[p] };
            // A masked variable of another shape (`LOGIN(uid=<*>)` where the template has
            // `(uid=<*>)`, or has made the position a variable) counts as equal too: the
            // position is a variable whichever way the message goes.
            let masked = t.wild & (1 << p) != 0;
            let shapes = template != h
                && masked
                && (variable || r.masked & (1 << p) != 0)
                && self.same_key(r, p, message);
            if template == h || shapes {
                equal += 1;
            } else if variable {
                wild += 1;
            }
        }
        (f64::from(equal) / t.n.max(1) as f64, wild)
    }

    /// Starts a template for `message` (the one in `tokens`) in `leaf`: a family of its own, or
    /// a member of `family` (its id, and the positions that are variables in it). Returns its
    /// slot.
    fn new_template(
        &mut self,
        message: &[u8],
        leaf: usize,
        leaf_key: u64,
        family: Option<(u64, u64)>,
    ) -> usize {
        let stride = self.leaf_stride;
        if usize::from(self.leaf_len[leaf]) >= stride {
            // Make room in the leaf: its least recently seen group goes.
            let groups = &self.leaf_groups[leaf * stride..(leaf + 1) * stride];
            let (i, &oldest) = groups
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| self.records[**s as usize].last_seen)
                .expect("a full leaf");
            let gone = self.records[oldest as usize].id;
            self.ids.remove(gone);
            self.records[oldest as usize].id = 0;
            self.leaf_evicted += 1;
            self.leave(leaf, i);
        }
        let id = self.next_id;
        self.next_id += 1;
        let e = self.ids.entry(id);
        if e.evicted {
            // The template that had this slot leaves its leaf.
            if let Some(l) = self.leaves.peek(self.records[e.slot].leaf) {
                self.leave_slot(l, e.slot);
            }
        }
        let t = &self.tokens;
        let r = &mut self.records[e.slot];
        r.id = id;
        r.count = 1;
        r.last_seen = self.clock;
        r.leaf = leaf_key;
        (r.family, r.wild) = family.unwrap_or((id, 0));
        r.masked = t.wild;
        r.open = t.open;
        r.n = t.n as u8;
        for p in 0..t.n {
            r.hashes[p] = short(t.hashes[p]);
        }
        t.render(message, &mut r.text, &mut r.ends);
        let len = usize::from(self.leaf_len[leaf]);
        self.leaf_groups[leaf * stride + len] = e.slot as u32;
        self.leaf_len[leaf] += 1;
        e.slot
    }
}
