//! Compiling a detection's searches: keyword lists and maps of `field|modifiers: values`.

use std::net::IpAddr;

use serde_yaml_ng::Value;

use super::super::pattern::{StrKind, StrPattern};
use super::matcher::*;

pub(super) type CompileError = (String, String);

/// The values of the placeholders `expand` fills (`%admins%`): a pipeline's `vars`.
pub(super) type Vars = [(String, Vec<String>)];

pub(super) fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn compile_search(v: &Value, vars: &Vars) -> Result<Search, CompileError> {
    match v {
        Value::Sequence(items) if items.iter().all(|i| !i.is_mapping()) => {
            let mut ks = Vec::new();
            for item in items {
                let text = scalar_text(item)
                    .ok_or_else(|| (String::new(), "a keyword that is not a string".into()))?;
                ks.push(Matcher::Str(StrPattern::new(
                    &text,
                    StrKind::Contains,
                    false,
                )));
            }
            Ok(Search::Keywords(Keywords::new(ks)))
        }
        Value::Sequence(items) => {
            let mut maps = Vec::new();
            for item in items {
                let map = item
                    .as_mapping()
                    .ok_or_else(|| (String::new(), "a list mixing maps and values".into()))?;
                maps.push(compile_map(map, vars)?);
            }
            Ok(Search::Maps(maps))
        }
        Value::Mapping(map) => Ok(Search::Maps(vec![compile_map(map, vars)?])),
        Value::String(_) | Value::Number(_) => {
            Ok(Search::Keywords(Keywords::new(vec![Matcher::Str(
                StrPattern::new(&scalar_text(v).expect("scalar"), StrKind::Contains, false),
            )])))
        }
        _ => Err((String::new(), "not a list or a map".into())),
    }
}

pub(super) fn compile_map(
    map: &serde_yaml_ng::Mapping,
    vars: &Vars,
) -> Result<Vec<FieldMatch>, CompileError> {
    let mut out = Vec::new();
    for (k, v) in map {
        let key = k
            .as_str()
            .ok_or_else(|| (String::new(), "a non-string field name".into()))?;
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default();
        let ctx = |m: String| (format!(".{key}"), m);
        // A key of modifiers only (`'|all'`, `'|re|i'`) is a keyword search: its values are
        // looked for anywhere in the message, as a keyword list's are.
        let keyword = field.is_empty();
        let mut kind = if keyword {
            StrKind::Contains
        } else {
            StrKind::Exact
        };
        let (mut all, mut re, mut cidr, mut cased, mut exists) =
            (false, false, false, false, false);
        let (mut b64, mut b64off, mut windash) = (false, false, false);
        let (mut neq, mut fieldref, mut expand) = (false, false, false);
        let mut utf16 = None;
        let mut re_flags = String::new();
        let mut compare = None;
        for modifier in parts {
            if let Some(c) = Compare::from_modifier(modifier) {
                if keyword {
                    return Err(ctx(format!("`{modifier}` needs a field name")));
                }
                compare = Some(c);
                continue;
            }
            match modifier {
                "contains" => kind = StrKind::Contains,
                "startswith" => kind = StrKind::StartsWith,
                "endswith" => kind = StrKind::EndsWith,
                "all" => all = true,
                "re" => re = true,
                "cidr" => cidr = true,
                "cased" => cased = true,
                "exists" => exists = true,
                "base64" => b64 = true,
                "base64offset" => b64off = true,
                "windash" => windash = true,
                "neq" => neq = true,
                "fieldref" => fieldref = true,
                // `%name%` placeholders, filled with each value of a pipeline's `vars`.
                "expand" => expand = true,
                // The text's UTF-16 encoding, for the base64 modifiers that follow (PowerShell
                // `-EncodedCommand` is base64 of UTF-16LE): `wide` is `utf16le`; `utf16` has a
                // byte-order mark, little-endian.
                "utf16le" | "wide" => utf16 = Some(Utf16::Le),
                "utf16be" => utf16 = Some(Utf16::Be),
                "utf16" => utf16 = Some(Utf16::Bom),
                // The regex flags of the Sigma specification: `re|i` (ignore case), `re|m`
                // (multi-line: `^` and `$` at lines), `re|s` (`.` takes newlines).
                "i" | "m" | "s" if re => re_flags.push_str(&format!("(?{modifier})")),
                other => return Err(ctx(format!("modifier {other:?} is not supported"))),
            }
        }
        if utf16.is_some() && !(b64 || b64off) {
            return Err(ctx(
                "utf16le, utf16be, utf16 and wide encode for base64 or base64offset, which must \
                 follow"
                    .into(),
            ));
        }
        if expand && (re || cidr || fieldref || compare.is_some()) {
            return Err(ctx("`expand` fills plain string values only".into()));
        }
        if keyword && (neq || fieldref) {
            return Err(ctx("`neq` and `fieldref` need a field name".into()));
        }
        let values: Vec<&Value> = match v {
            Value::Sequence(list) => list.iter().collect(),
            other => vec![other],
        };
        if exists {
            let want = values
                .first()
                .and_then(|v| v.as_bool())
                .ok_or_else(|| ctx("`exists` takes true or false".into()))?;
            if keyword {
                return Err(ctx("`exists` needs a field name".into()));
            }
            out.push(FieldMatch {
                field: Field::from_name(field),
                values: Vec::new(),
                all: false,
                exists: Some(want),
            });
            continue;
        }
        let mut compiled = Vec::new();
        for value in values {
            if value.is_null() {
                compiled.push(vec![Matcher::Null]);
                continue;
            }
            let text =
                scalar_text(value).ok_or_else(|| ctx("a value that is not a scalar".into()))?;
            let alts = if fieldref {
                // The value names another field, whose value this one's is compared with.
                vec![Matcher::FieldRef(
                    Field::from_name(&text),
                    FieldRefKind::from(kind.clone()),
                    cased,
                )]
            } else if let Some(cmp) = compare {
                let bound: f64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| ctx(format!("{text:?} is not a number")))?;
                vec![Matcher::Num(cmp, bound)]
            } else if re {
                // As written: Sigma regexes are case-sensitive unless they say `(?i)`.
                let regex = regex::bytes::Regex::new(&format!("{re_flags}{text}"))
                    .map_err(|e| ctx(format!("bad regular expression: {e}")))?;
                vec![Matcher::Re(Re { regex, slot: None })]
            } else if cidr {
                let (net, len) = text
                    .split_once('/')
                    .ok_or_else(|| ctx(format!("{text:?} is not a CIDR")))?;
                let net: IpAddr = net
                    .parse()
                    .map_err(|_| ctx(format!("{text:?} is not a CIDR")))?;
                let len: u8 = len
                    .parse()
                    .map_err(|_| ctx(format!("{text:?} is not a CIDR")))?;
                if len > if net.is_ipv4() { 32 } else { 128 } {
                    return Err(ctx(format!("{text:?}: prefix too long")));
                }
                vec![Matcher::Cidr(net, len)]
            } else {
                let mut variants = if expand {
                    expand_placeholders(&text, vars).map_err(ctx)?
                } else {
                    vec![text]
                };
                if windash {
                    variants = variants.iter().flat_map(|t| windash_variants(t)).collect();
                }
                let encoded = |t: &String| -> Vec<u8> {
                    match utf16 {
                        None => t.as_bytes().to_vec(),
                        Some(form) => form.encode(t),
                    }
                };
                if b64 {
                    variants = variants.iter().map(|t| base64(&encoded(t), 0)).collect();
                    // Encoded text is matched as written.
                    cased = true;
                } else if b64off {
                    variants = variants
                        .iter()
                        .flat_map(|t| {
                            let bytes = encoded(t);
                            (0..3).map(move |o| base64(&bytes, o))
                        })
                        .collect();
                    cased = true;
                    kind = StrKind::Contains;
                }
                variants
                    .iter()
                    .map(|t| Matcher::Str(StrPattern::new(t, kind.clone(), cased)))
                    .collect()
            };
            // `neq`: a value of the field that is not this one.
            let alts = if neq {
                alts.into_iter()
                    .map(|m| Matcher::Not(Box::new(m)))
                    .collect()
            } else {
                alts
            };
            compiled.push(alts);
        }
        out.push(FieldMatch {
            field: if keyword {
                Field::Message
            } else {
                Field::from_name(field)
            },
            values: compiled,
            all,
            exists: None,
        });
    }
    Ok(out)
}

/// `text` with every `%name%` placeholder filled with each value of the variable `name` (all
/// combinations when there are several placeholders).
fn expand_placeholders(text: &str, vars: &Vars) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let values = vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                format!("placeholder %{name}% has no values: give them as `vars` in a pipeline")
            })?;
        let before = &rest[..start];
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{before}{v}")))
            .collect();
        rest = &rest[start + len + 2..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

/// The UTF-16 encodings of the `utf16le` (`wide`), `utf16be` and `utf16` modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Utf16 {
    Le,
    Be,
    /// A byte-order mark, then little-endian.
    Bom,
}

impl Utf16 {
    fn encode(self, t: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 * t.len() + 2);
        if self == Utf16::Bom {
            out.extend_from_slice(&[0xff, 0xfe]);
        }
        for unit in t.encode_utf16() {
            out.extend_from_slice(&match self {
                Utf16::Be => unit.to_be_bytes(),
                Utf16::Le | Utf16::Bom => unit.to_le_bytes(),
            });
        }
        out
    }
}

/// `windash`: a command-line flag written with `-` may also be written with `/`, `–`, `—` or
/// `―` on Windows; each leading dash of a word is varied.
pub(super) fn windash_variants(t: &str) -> Vec<String> {
    ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"]
        .iter()
        .map(|d| {
            t.split(' ')
                .map(|w| match w.strip_prefix('-') {
                    Some(rest) => format!("{d}{rest}"),
                    None => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Base64 of `data` as it appears when preceded by `offset` (0-2) other bytes, trimmed to the
/// characters that do not depend on its neighbours (Sigma's base64offset).
pub(super) fn base64(data: &[u8], offset: usize) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut padded = vec![0u8; offset];
    padded.extend_from_slice(data);
    let mut out = String::new();
    for chunk in padded.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    if offset == 0 && data.len().is_multiple_of(3) {
        return out;
    }
    // Drop the characters mixed with the unknown bytes before and after.
    let start = [0, 2, 3][offset];
    let total = offset + data.len();
    let end_trim = [0, 3, 2][total % 3];
    let end = out.len().saturating_sub(end_trim).max(start);
    out[start..end].to_string()
}
