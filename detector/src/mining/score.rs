//! Scoring a miner against labelled logs, the way Zhu et al. ("Tools and Benchmarks for
//! Automated Log Parsing", ICSE-SEIP 2019) score log parsers: grouping accuracy, the share of
//! lines whose predicted group holds exactly the lines of their true event. For the tests and
//! `bench templates`; nothing on the worker uses it.

use std::collections::HashMap;

use super::{miner::Miner, options::MinerOptions};

/// Why a labelled file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LabelledError {
    /// The file has no header line.
    #[error("the labelled file is empty")]
    Empty,
    /// The header lacks a column the score needs.
    #[error("the labelled file has no {0:?} column")]
    NoColumn(&'static str),
    /// A record has fewer fields than the header says.
    #[error("line {line} of the labelled file has {fields} fields, too few")]
    ShortRecord {
        /// Its line number (the header is line 1).
        line: usize,
        /// How many fields it has.
        fields: usize,
    },
}

/// Messages with the event each truly belongs to.
#[derive(Clone, Debug, Default)]
pub struct Labelled {
    /// The message bodies, in order.
    pub contents: Vec<String>,
    /// The true event of each.
    pub events: Vec<String>,
}

impl Labelled {
    /// Reads a LogHub `*_structured.csv`: a header line, then one record a line, with the
    /// columns `Content` and `EventId` among others.
    pub fn from_structured_csv(text: &str) -> Result<Self, LabelledError> {
        let mut lines = text.lines();
        let header = csv_record(lines.next().ok_or(LabelledError::Empty)?);
        let col = |name: &'static str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or(LabelledError::NoColumn(name))
        };
        let (content, event) = (col("Content")?, col("EventId")?);
        let mut out = Self::default();
        for (i, line) in lines.enumerate() {
            let mut f = csv_record(line);
            if f.len() <= content.max(event) {
                return Err(LabelledError::ShortRecord {
                    line: i + 2,
                    fields: f.len(),
                });
            }
            out.events.push(std::mem::take(&mut f[event]));
            out.contents.push(std::mem::take(&mut f[content]));
        }
        Ok(out)
    }

    /// Mines the messages in order with a new miner and scores the groups.
    pub fn mine(&self, opts: MinerOptions) -> Scored {
        let mut miner = Miner::new(opts);
        let mut predicted: Vec<u64> = self.contents.iter().map(|c| miner.add(c).id).collect();
        let at_arrival = grouping_accuracy(&predicted, &self.events);
        for p in &mut predicted {
            *p = miner.canonical(*p);
        }
        let at_end = grouping_accuracy(&predicted, &self.events);
        Scored {
            accuracy: Accuracy { at_end, at_arrival },
            groups: predicted,
            miner,
        }
    }
}

/// What [`Labelled::mine`] found.
#[derive(Clone, Debug)]
pub struct Scored {
    /// The score.
    pub accuracy: Accuracy,
    /// Each message's group at the end.
    pub groups: Vec<u64>,
    /// The miner, with its templates.
    pub miner: Miner,
}

/// Grouping accuracy of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Accuracy {
    /// Of the groups as they are at the end: a group that merged into an older one counts as
    /// that one ([`Miner::canonical`]).
    pub at_end: f64,
    /// Of the ids given as the lines arrived, before any later merge.
    pub at_arrival: f64,
}

/// Grouping accuracy of `predicted` group ids against `truth` event names (same length): the
/// share of lines whose predicted group is exactly the set of lines of their true event.
pub fn grouping_accuracy<S: AsRef<str>>(predicted: &[u64], truth: &[S]) -> f64 {
    let mut by_pred: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut by_truth: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, (p, t)) in predicted.iter().zip(truth).enumerate() {
        by_pred.entry(*p).or_default().push(i);
        by_truth.entry(t.as_ref()).or_default().push(i);
    }
    let n = predicted.len().min(truth.len());
    let correct = (0..n)
        .filter(|&i| by_pred[&predicted[i]] == by_truth[truth[i].as_ref()])
        .count();
    correct as f64 / n.max(1) as f64
}

/// One CSV record, with quoted fields (`""` for a quote inside one).
pub fn csv_record(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        let field = out.last_mut().expect("never empty");
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_a_line_right_only_when_its_whole_group_is() {
        // Events a a b b; groups 1 1 2 3: the a lines are right, the b lines split.
        assert_eq!(grouping_accuracy(&[1, 1, 2, 3], &["a", "a", "b", "b"]), 0.5);
        // Groups 1 1 1 2: the a lines' group holds a b line, and the last b's lacks the other
        // b: none right.
        assert_eq!(grouping_accuracy(&[1, 1, 1, 2], &["a", "a", "b", "b"]), 0.0);
        assert_eq!(grouping_accuracy(&[7, 7, 9, 9], &["a", "a", "b", "b"]), 1.0);
    }

    #[test]
    fn a_structured_csv_reads_with_quotes_and_names_what_is_missing() {
        let text = "LineId,Content,EventId\n1,\"a, \"\"quoted\"\" one\",E1\n2,plain,E2\n";
        let l = Labelled::from_structured_csv(text).unwrap();
        assert_eq!(l.contents, ["a, \"quoted\" one", "plain"]);
        assert_eq!(l.events, ["E1", "E2"]);
        assert!(matches!(
            Labelled::from_structured_csv("LineId,Content\n1,x\n"),
            Err(LabelledError::NoColumn("EventId"))
        ));
        assert!(matches!(
            Labelled::from_structured_csv("Content,EventId\nonly\n"),
            Err(LabelledError::ShortRecord { line: 2, fields: 1 })
        ));
        assert!(matches!(
            Labelled::from_structured_csv(""),
            Err(LabelledError::Empty)
        ));
    }
}
