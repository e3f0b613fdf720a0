//! Reading a message: the PRI, the header format (given or detected), the header, then the
//! payload format of the body.

use super::{
    event::{Event, Format, FormatHint, ParseError, ParseOptions, strip_bom},
    fields::{self, FieldIndex, Payload, detect_payload},
    pri::{PriError, parse_pri},
    rfc3164::rfc3164,
    rfc5424::{looks_like_5424, rfc5424},
    time,
};

/// Parses one message. The payload is validated by a walk over its fields; [`Event::fields`]
/// walks them again when asked.
///
/// Inlined, so the event is filled where the caller keeps it: returned by value from a call,
/// it was copied (224 bytes) on the way out, and that copy cost as much as a JSON line's whole
/// header.
#[inline]
pub fn parse<'a>(input: &'a [u8], opts: &ParseOptions) -> Event<'a> {
    let mut ev = Event::empty(input, Format::Raw);
    parse_header(&mut ev, input, opts);
    // A plain body is valid as it is: no call.
    if ev.error.is_none() && ev.payload != Payload::Plain && !fields::valid(ev.payload, ev.body) {
        ev.error = Some(ParseError::BadPayload);
    }
    ev
}

/// [`parse`], keeping the fields that validating the payload finds in `index` (the caller's,
/// reused from message to message): [`Event::fields`] then reads them from there. For a caller
/// that reads the fields, often more than once, as a rule set does. Inlined as [`parse`] is.
#[inline]
pub fn parse_indexed<'a>(
    input: &'a [u8],
    opts: &ParseOptions,
    index: &'a mut FieldIndex,
) -> Event<'a> {
    let mut ev = Event::default();
    parse_indexed_into(&mut ev, input, opts, index);
    ev
}

/// [`parse_indexed`] into `ev`, whatever it held: for a caller that keeps its events in place
/// (a batch's slots), so that the event is written where it is read, not built elsewhere and
/// copied there.
#[inline]
pub fn parse_indexed_into<'a>(
    ev: &mut Event<'a>,
    input: &'a [u8],
    opts: &ParseOptions,
    index: &'a mut FieldIndex,
) {
    *ev = Event::empty(input, Format::Raw);
    parse_header(ev, input, opts);
    // A plain body has no fields to keep.
    if ev.payload != Payload::Plain {
        if !index.fill(ev.payload, ev.body) && ev.error.is_none() {
            ev.error = Some(ParseError::BadPayload);
        }
        ev.index = Some(index);
    }
}

/// [`parse`] up to detecting the payload format, which is not validated, written into `ev`
/// (fresh from [`Event::empty`]). Not inlined: one copy serves both callers, and the header
/// parsers stay inlined in it.
#[inline(never)]
fn parse_header<'a>(ev: &mut Event<'a>, input: &'a [u8], opts: &ParseOptions) {
    let mut error = None;
    let mut input = input;
    if input.len() > opts.max_len {
        input = &input[..opts.max_len];
        error = Some(ParseError::TooLong);
    }
    while let Some((&last, rest)) = input.split_last() {
        if matches!(last, b'\n' | b'\r' | b'\0') {
            input = rest;
        } else {
            break;
        }
    }
    ev.input = input;
    if input.iter().all(u8::is_ascii_whitespace) {
        ev.error = Some(ParseError::Empty);
        return;
    }

    let pri = parse_pri(input);
    let format = match (opts.format, &pri) {
        (FormatHint::Auto, Ok((_, rest))) => {
            if looks_like_5424(rest) {
                Format::Rfc5424
            } else {
                Format::Rfc3164
            }
        }
        (FormatHint::Auto, Err(_)) => {
            let t = input.strip_prefix(b"*").unwrap_or(input);
            // An RFC 3339 timestamp starts with a digit: a JSON line is not read as one.
            let rfc3339 = || {
                t.first().is_some_and(u8::is_ascii_digit) && time::parse_rfc3339_prefix(t).is_some()
            };
            if time::month(t).is_some() || rfc3339() {
                Format::Rfc3164
            } else {
                Format::Raw
            }
        }
        (FormatHint::Rfc5424, _) => Format::Rfc5424,
        (FormatHint::Rfc3164, _) => Format::Rfc3164,
        (FormatHint::Raw, _) => Format::Raw,
    };

    ev.format = format;
    match format {
        Format::Raw => {
            ev.body = strip_bom(input);
            // Starting with `<` but not a PRI: a broken syslog header, not a raw message.
            if let (FormatHint::Auto, Err(e @ (PriError::Malformed | PriError::OutOfRange))) =
                (opts.format, pri)
            {
                error = error.or(Some(ParseError::Pri(e)));
            }
        }
        Format::Rfc5424 => match pri {
            Ok((p, rest)) => {
                ev.pri = Some(p);
                if let Err(e) = rfc5424(ev, rest) {
                    error = error.or(Some(e));
                    if ev.body.is_empty() {
                        ev.body = rest;
                    }
                }
            }
            Err(e) => {
                error = error.or(Some(ParseError::Pri(e)));
                ev.body = input;
            }
        },
        Format::Rfc3164 => {
            let rest = match pri {
                Ok((p, rest)) => {
                    ev.pri = Some(p);
                    rest
                }
                // A BSD message without PRI is common (files, some devices); a broken one is not.
                Err(PriError::Missing) => input,
                Err(e) => {
                    error = error.or(Some(ParseError::Pri(e)));
                    input
                }
            };
            rfc3164(ev, rest, opts);
        }
    }
    ev.payload = opts
        .payload
        .unwrap_or_else(|| match detect_payload(ev.body) {
            // The kernel's netfilter log lines put their pairs after a prefix.
            Payload::Plain
                if ev.app.is_some_and(|a| a.eq_ignore_ascii_case(b"kernel"))
                    && fields::is_netfilter_log(ev.body) =>
            {
                Payload::Kv
            }
            p => p,
        });
    ev.error = error;
}
