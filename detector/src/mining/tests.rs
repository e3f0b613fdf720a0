use super::*;
use crate::table;

#[test]
fn memory_is_bounded_under_a_flood_of_new_kinds() {
    let opts = MinerOptions {
        max_templates: 1000,
        max_template_bytes: 64 << 20,
        max_nodes: 500,
        ..MinerOptions::default()
    };
    let mut m = Miner::new(opts);
    let bytes = m.state_bytes();
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
    }
    assert!(new > 10_000, "most are new kinds: {new}");
    assert!(m.len() <= 1000);
    assert!(m.nodes() <= 2 * 500, "{} nodes", m.nodes());
    assert_eq!(m.state_bytes(), bytes, "nothing grew");
    assert_eq!(
        m.evicted() + m.len() as u64,
        new,
        "every template kept or counted out"
    );
}

#[test]
fn a_word_with_few_values_keeps_kinds_apart_until_it_proves_a_variable() {
    let mut m = Miner::new(MinerOptions::default());
    let users = ["admin", "oracle", "test"];
    let kinds: Vec<Mined> = users
        .iter()
        .map(|u| m.add(format!("Invalid user {u} from 198.51.100.7")))
        .collect();
    // Three values: three kinds, each new, each a template of its own.
    assert!(kinds.iter().all(|k| k.new));
    assert_eq!(m.len(), 3);
    assert_eq!(
        m.template(kinds[1].id).unwrap().text(),
        "Invalid user oracle from <*>"
    );
    // Seen again, each goes to its own.
    let again = m.add("Invalid user test from 203.0.113.9");
    assert_eq!((again.id, again.new), (kinds[2].id, false));
    // A fourth value: the position is a variable, and the three merge into the oldest.
    let fourth = m.add("Invalid user guest from 203.0.113.9");
    assert_eq!((fourth.id, fourth.new), (kinds[0].id, false));
    assert_eq!(m.len(), 1);
    for k in &kinds {
        assert_eq!(m.canonical(k.id), kinds[0].id);
    }
    let t = m.template(kinds[2].id).unwrap();
    assert_eq!((t.id, t.count), (kinds[0].id, 5));
    assert_eq!(t.text(), "Invalid user <*> from <*>");
    // The merged kinds' messages, even by the fast paths, go to the one left.
    for u in users {
        let again = m.add(format!("Invalid user {u} from 192.0.2.1"));
        assert_eq!((again.id, again.new), (kinds[0].id, false));
    }
    let c = m.add("Connection closed by 198.51.100.7 [preauth]");
    assert!(c.new);
    assert_ne!(c.id, kinds[0].id);
    assert_eq!(m.template(kinds[0].id).unwrap().count, 8);
    // An id that never merged is its own.
    assert_eq!(m.canonical(c.id), c.id);
}

#[test]
fn two_shapes_of_a_masked_variable_are_one_template_at_once() {
    let mut m = Miner::new(MinerOptions::default());
    let a = m.add("Accepted password for alice from host7.example.net");
    let b = m.add("Accepted password for alice from 203.0.113.9");
    assert!(a.new && !b.new);
    assert_eq!(a.id, b.id);
    assert_eq!(
        m.template(a.id).unwrap().text(),
        "Accepted password for alice from <*>"
    );
}

#[test]
fn a_key_without_a_value_is_a_kind_of_its_own() {
    let mut m = Miner::new(MinerOptions::default());
    let ip = m.add("authentication failure; tty=ssh ruser= rhost=203.0.113.9");
    let host = m.add("authentication failure; tty=ssh ruser= rhost=host7.example.net");
    assert_eq!(ip.id, host.id, "two shapes of one value");
    let none = m.add("authentication failure; tty=ssh ruser= rhost=");
    assert!(none.new, "no value is not a value: {none:?}");
    assert_ne!(m.canonical(none.id), m.canonical(ip.id));
    assert_eq!(
        m.add("authentication failure; tty=ssh ruser= rhost=").id,
        none.id
    );
    let again = m.add("authentication failure; tty=ssh ruser= rhost=198.51.100.7");
    assert_eq!(m.canonical(again.id), m.canonical(ip.id));
}

#[test]
fn masked_tokens_with_different_keys_are_different_words() {
    let mut m = Miner::new(MinerOptions::default());
    let a = m.add("session opened for user alice by (uid=0)");
    let b = m.add("session opened for user alice by (uid=509)");
    assert_eq!(a.id, b.id, "one key, two values");
    let login = m.add("session opened for user alice by LOGIN(uid=0)");
    assert!(login.new);
    assert_ne!(m.canonical(login.id), m.canonical(a.id));
    assert_eq!(
        m.add("session opened for user alice by LOGIN(uid=7)").id,
        login.id
    );
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
    // One bucket of eight templates is the least there is.
    let ids: Vec<u64> = (0..20).map(|i| m.add("word ".repeat(i + 1)).id).collect();
    assert_eq!(m.len(), table::WAYS);
    assert_eq!(m.evicted(), 20 - table::WAYS as u64);
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids);
    // An evicted template's messages start a new one, with a new id.
    let again = m.add("word");
    assert!(again.new && again.id > ids[19]);
}

#[test]
fn a_full_leaf_evicts_its_least_recently_seen_group() {
    let mut m = Miner::new(MinerOptions {
        max_leaf_groups: 2,
        ..MinerOptions::default()
    });
    // Same length and first two tokens: one leaf; too different to join.
    let a = m.add("svc start alpha beta gamma delta");
    let b = m.add("svc start one two three four");
    assert_eq!(m.add("svc start alpha beta gamma delta").id, a.id);
    let c = m.add("svc start red green blue white");
    assert!(c.new);
    assert!(m.template(b.id).is_none(), "b was seen least recently");
    assert!(m.template(a.id).is_some());
    assert_eq!(m.evicted(), 1);
}

/// A word that proves a variable after two tokens (`for user`, four values) is one after them
/// in every family: the groups another family split by three values merge into its oldest,
/// and new messages after that context join at once. Elsewhere three values stay constants.
#[test]
fn a_variable_proven_after_a_context_is_one_there_in_every_family() {
    let mut m = Miner::new(MinerOptions::default());
    let opened: Vec<u64> = ["cyrus", "news", "test"]
        .iter()
        .map(|u| m.add(format!("session opened for user {u} by (uid=0)")).id)
        .collect();
    assert_eq!(
        opened
            .iter()
            .map(|&id| m.canonical(id))
            .collect::<std::collections::HashSet<_>>()
            .len(),
        3,
        "three values: three kinds"
    );
    let other: Vec<u64> = ["root", "guest", "test"]
        .iter()
        .map(|u| {
            m.add(format!("authentication failure; rhost=h user={u}"))
                .id
        })
        .collect();
    for u in ["cyrus", "news", "test", "root"] {
        m.add(format!("session closed for user {u}"));
    }
    let merged: std::collections::HashSet<u64> = opened.iter().map(|&id| m.canonical(id)).collect();
    assert_eq!(merged.len(), 1, "the opened groups merged: {merged:?}");
    assert_eq!(m.canonical(opened[1]), opened[0], "into the oldest");
    let later = m.add("session opened for user mail by (uid=0)");
    assert!(!later.new);
    assert_eq!(m.canonical(later.id), opened[0]);
    let kept: std::collections::HashSet<u64> = other.iter().map(|&id| m.canonical(id)).collect();
    assert_eq!(kept.len(), 3, "another context keeps its three kinds");
}
