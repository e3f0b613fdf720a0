//! The condition of a rule: `and`, `or`, `not`, parentheses, `1 of`, `all of`, `them` and
//! name patterns, parsed into an expression over the rule's searches.

use super::super::pattern::{StrKind, StrPattern};
use super::error::Invalid;
use super::matcher::{Expr, Search};

/// Condition grammar: `or` < `and` < `not` < atoms (`name`, `name*`, `1 of X`, `all of X`,
/// `them`, parentheses).
pub(super) fn parse_condition(text: &str, searches: &[(String, Search)]) -> Result<Expr, Invalid> {
    if text.contains('|') {
        return Err(Invalid(
            "aggregations (`| count()` ...) are not supported; use a correlation rule".into(),
        ));
    }
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut p = CondParser {
        tokens,
        at: 0,
        searches,
    };
    let expr = p.or()?;
    if p.at != p.tokens.len() {
        return Err(Invalid(format!("unexpected {:?}", p.tokens[p.at])));
    }
    Ok(expr)
}

pub(super) struct CondParser<'a> {
    pub(super) tokens: Vec<&'a str>,
    pub(super) at: usize,
    pub(super) searches: &'a [(String, Search)],
}

impl<'a> CondParser<'a> {
    pub(super) fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).copied()
    }

    pub(super) fn next(&mut self) -> Option<&'a str> {
        let t = self.tokens.get(self.at).copied();
        self.at += 1;
        t
    }

    pub(super) fn or(&mut self) -> Result<Expr, Invalid> {
        let mut xs = vec![self.and()?];
        while self.peek() == Some("or") {
            self.at += 1;
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().expect("one")
        } else {
            Expr::Or(xs)
        })
    }

    pub(super) fn and(&mut self) -> Result<Expr, Invalid> {
        let mut xs = vec![self.not()?];
        while self.peek() == Some("and") {
            self.at += 1;
            xs.push(self.not()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().expect("one")
        } else {
            Expr::And(xs)
        })
    }

    pub(super) fn not(&mut self) -> Result<Expr, Invalid> {
        if self.peek() == Some("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    pub(super) fn matching(&self, pattern: &str) -> Result<Vec<Expr>, Invalid> {
        let glob = StrPattern::new(pattern, StrKind::Exact, true);
        let found: Vec<Expr> = self
            .searches
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| {
                (pattern == "them" && !name.starts_with('_')) || glob.matches(name.as_bytes())
            })
            .map(|(i, _)| Expr::Search(i))
            .collect();
        if found.is_empty() {
            return Err(Invalid(format!("no search matches {pattern:?}")));
        }
        Ok(found)
    }

    pub(super) fn atom(&mut self) -> Result<Expr, Invalid> {
        match self.next() {
            Some("(") => {
                let x = self.or()?;
                if self.next() != Some(")") {
                    return Err(Invalid("a missing `)`".into()));
                }
                Ok(x)
            }
            Some(q @ ("1" | "all")) => {
                let all = q == "all";
                if self.next() != Some("of") {
                    return Err(Invalid(format!("`{q}` without `of`")));
                }
                let pattern = self
                    .next()
                    .ok_or_else(|| Invalid("`of` without a name".into()))?
                    .to_string();
                let xs = self.matching(&pattern)?;
                Ok(if all { Expr::And(xs) } else { Expr::Or(xs) })
            }
            Some(name) if !matches!(name, "and" | "or" | "not" | ")") => {
                if name.contains('*') {
                    return Ok(Expr::Or(self.matching(name)?));
                }
                self.searches
                    .iter()
                    .position(|(n, _)| n == name)
                    .map(Expr::Search)
                    .ok_or_else(|| Invalid(format!("no search named {name:?}")))
            }
            Some(t) => Err(Invalid(format!("unexpected {t:?}"))),
            None => Err(Invalid("it ends too early".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Searches named `names`, each any keyword (what they match does not matter here).
    fn searches(names: &[&str]) -> Vec<(String, Search)> {
        names
            .iter()
            .map(|n| {
                let v: serde_yaml_ng::Value = serde_yaml_ng::from_str("['x']").unwrap();
                (
                    n.to_string(),
                    super::super::compile::compile_search(&v, &[]).unwrap(),
                )
            })
            .collect()
    }

    /// The expression written back with the searches' names, fully parenthesised.
    fn show(x: &Expr, s: &[(String, Search)]) -> String {
        let list = |xs: &[Expr], op: &str| {
            let parts: Vec<String> = xs.iter().map(|x| show(x, s)).collect();
            format!("({})", parts.join(op))
        };
        match x {
            Expr::Search(i) => s[*i].0.clone(),
            Expr::Not(x) => format!("!{}", show(x, s)),
            Expr::And(xs) => list(xs, " & "),
            Expr::Or(xs) => list(xs, " | "),
        }
    }

    fn parse(text: &str, names: &[&str]) -> Result<String, String> {
        let s = searches(names);
        parse_condition(text, &s)
            .map(|x| show(&x, &s))
            .map_err(|e| e.0)
    }

    #[test]
    fn not_binds_tighter_than_and_than_or() {
        let names = ["a", "b", "c", "d"];
        assert_eq!(parse("a or b and not c", &names).unwrap(), "(a | (b & !c))");
        assert_eq!(
            parse("not a and b or c and d", &names).unwrap(),
            "((!a & b) | (c & d))"
        );
        assert_eq!(parse("not not a", &names).unwrap(), "!!a");
        assert_eq!(parse("a", &names).unwrap(), "a");
    }

    #[test]
    fn parentheses_group_and_need_not_be_spaced() {
        let names = ["a", "b", "c"];
        assert_eq!(parse("(a or b) and c", &names).unwrap(), "((a | b) & c)");
        assert_eq!(
            parse("a and(b or not(c))", &names).unwrap(),
            "(a & (b | !c))"
        );
        assert_eq!(parse("((a))", &names).unwrap(), "a");
    }

    #[test]
    fn quantifiers_take_name_patterns_and_them() {
        let names = ["selection_a", "selection_b", "filter", "_hidden"];
        assert_eq!(
            parse("1 of selection_* and not filter", &names).unwrap(),
            "((selection_a | selection_b) & !filter)"
        );
        assert_eq!(
            parse("all of selection_*", &names).unwrap(),
            "(selection_a & selection_b)"
        );
        assert_eq!(
            parse("all of them", &names).unwrap(),
            "(selection_a & selection_b & filter)",
            "`them` leaves out names starting with _"
        );
        assert_eq!(
            parse("selection_*", &names).unwrap(),
            "(selection_a | selection_b)"
        );
    }

    #[test]
    fn what_is_not_a_condition_is_named() {
        let names = ["a", "b"];
        let err = |t: &str| parse(t, &names).unwrap_err();
        assert_eq!(err("a and (b"), "a missing `)`");
        assert_eq!(err("a b"), "unexpected \"b\"");
        assert_eq!(err("a and"), "it ends too early");
        assert_eq!(err("a or or b"), "unexpected \"or\"");
        assert_eq!(err("c"), "no search named \"c\"");
        assert_eq!(err("1 of x*"), "no search matches \"x*\"");
        assert_eq!(err("1 a"), "`1` without `of`");
        assert_eq!(err("all of"), "`of` without a name");
        assert!(err("a | count() > 5").starts_with("aggregations"));
    }
}
