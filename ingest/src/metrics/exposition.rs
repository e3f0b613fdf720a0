//! The text exposition format (version 0.0.4): families, samples, escaped labels.

use std::fmt::Write as _;

/// Writes metric families in the text format: `# HELP` and `# TYPE` once per family.
#[derive(Debug, Default)]
pub(super) struct Exposition {
    pub(super) out: String,
    family: &'static str,
}

impl Exposition {
    pub(super) fn family(&mut self, name: &'static str, kind: &str, help: &str) {
        self.family = name;
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    pub(super) fn sample(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        value: impl std::fmt::Display,
    ) {
        self.out.push_str(self.family);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    pub(super) fn value(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.sample("", labels, value);
    }
}

/// A value's serde name (`busy-poll`, `copy`, ...): how the report spells it, so labels do too.
pub(super) fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
