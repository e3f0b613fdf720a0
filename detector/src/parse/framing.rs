//! Framing of syslog over a byte stream (RFC 6587), as an incremental decoder that takes the
//! stream in chunks with arbitrary boundaries.
//!
//! Two framings exist, and a sender uses one per connection:
//! - octet counting (section 3.4.1): `MSG-LEN SP SYSLOG-MSG`, `MSG-LEN` a decimal without
//!   leading zeros;
//! - non-transparent framing (section 3.4.2): each message ends with LF. A CR before the LF is
//!   removed too, since many senders end lines with CRLF.
//!
//! The framing is detected from the first byte of the connection: a digit 1-9 starts an octet
//! count (a syslog message starts with `<`, never with a digit), anything else means LF framing.
//!
//! A message is handed out as a slice of the caller's chunk when it lies wholly inside it, and
//! is copied into the decoder's buffer only when it spans chunks. Messages longer than the
//! configured limit are skipped (the rest of their bytes are discarded, never buffered) and
//! reported, so that a sender cannot make the decoder grow without bound.

/// Which framing a connection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `MSG-LEN SP MSG`.
    OctetCounting,
    /// Messages end with LF (or CRLF).
    NonTransparent,
}

/// One result of decoding.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole message, without its framing.
    Message(&'a [u8]),
    /// A message longer than the limit was skipped; `len` is its length when the octet count
    /// said so, else the number of bytes seen before the decoder gave up buffering it.
    TooLong {
        /// Bytes known to belong to the skipped message.
        len: usize,
    },
    /// The octet count was not a number (or too large to be one): the stream cannot be framed
    /// any further, and the decoder ignores the rest of it. The caller should close the
    /// connection.
    BadLength,
}

/// Most digits accepted in an octet count (a count of up to 999 999 999 bytes).
const MAX_LEN_DIGITS: u32 = 9;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing read yet on this connection.
    Start,
    /// Reading the digits of an octet count.
    Len { len: usize, digits: u32 },
    /// Reading the body of an octet-counted message of `len` bytes (some may be in `buf`).
    Body { len: usize },
    /// Discarding `remaining` bytes of an octet-counted message that is too long.
    SkipBody { remaining: usize },
    /// Reading an LF-framed message (partial bytes in `buf`).
    Line,
    /// Discarding an LF-framed message that is too long, up to its LF.
    SkipLine,
    /// The stream is unframeable; everything is ignored.
    Failed,
}

/// The incremental decoder for one connection.
#[derive(Debug)]
pub struct StreamDecoder {
    state: State,
    framing: Option<Framing>,
    buf: Vec<u8>,
    max_len: usize,
}

impl StreamDecoder {
    /// A decoder that accepts messages of up to `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            state: State::Start,
            framing: None,
            buf: Vec::new(),
            max_len,
        }
    }

    /// The framing detected on this connection, once the first byte has arrived.
    pub fn framing(&self) -> Option<Framing> {
        self.framing
    }

    /// Bytes of an unfinished message held back for the next chunk: what would be lost if the
    /// stream ended now.
    pub fn pending(&self) -> usize {
        match self.state {
            State::Body { .. } | State::Line => self.buf.len(),
            _ => 0,
        }
    }

    /// Whether the stream hit an octet count it could not read.
    pub fn failed(&self) -> bool {
        self.state == State::Failed
    }

    /// Decodes `chunk`, calling `on_frame` for every message completed by it.
    pub fn push(&mut self, mut chunk: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        while !chunk.is_empty() {
            chunk = match self.state {
                State::Start => {
                    let framing = if chunk[0].is_ascii_digit() && chunk[0] != b'0' {
                        self.state = State::Len { len: 0, digits: 0 };
                        Framing::OctetCounting
                    } else {
                        self.state = State::Line;
                        Framing::NonTransparent
                    };
                    self.framing = Some(framing);
                    chunk
                }
                State::Len { len, digits } => self.read_len(chunk, len, digits, &mut on_frame),
                State::Body { len } => self.read_body(chunk, len, &mut on_frame),
                State::SkipBody { remaining } => {
                    let k = remaining.min(chunk.len());
                    self.state = if k == remaining {
                        State::Len { len: 0, digits: 0 }
                    } else {
                        State::SkipBody {
                            remaining: remaining - k,
                        }
                    };
                    &chunk[k..]
                }
                State::Line => self.read_line(chunk, &mut on_frame),
                State::SkipLine => match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.state = State::Line;
                        &chunk[i + 1..]
                    }
                    None => &[],
                },
                State::Failed => &[],
            };
        }
    }

    fn read_len<'c>(
        &mut self,
        chunk: &'c [u8],
        mut len: usize,
        mut digits: u32,
        on_frame: &mut impl FnMut(Frame<'_>),
    ) -> &'c [u8] {
        for (i, &b) in chunk.iter().enumerate() {
            match b {
                b'0'..=b'9' if !(digits == 0 && b == b'0') && digits < MAX_LEN_DIGITS => {
                    len = len * 10 + usize::from(b - b'0');
                    digits += 1;
                }
                b' ' if digits > 0 => {
                    self.state = if len > self.max_len {
                        on_frame(Frame::TooLong { len });
                        State::SkipBody { remaining: len }
                    } else {
                        self.buf.clear();
                        State::Body { len }
                    };
                    return &chunk[i + 1..];
                }
                // LF between octet-counted frames is tolerated (some senders add it).
                b'\n' | b'\r' if digits == 0 => {}
                _ => {
                    self.state = State::Failed;
                    on_frame(Frame::BadLength);
                    return &[];
                }
            }
        }
        self.state = State::Len { len, digits };
        &[]
    }

    fn read_body<'c>(
        &mut self,
        chunk: &'c [u8],
        len: usize,
        on_frame: &mut impl FnMut(Frame<'_>),
    ) -> &'c [u8] {
        let need = len - self.buf.len();
        if chunk.len() < need {
            self.buf.extend_from_slice(chunk);
            return &[];
        }
        let (body, rest) = chunk.split_at(need);
        if self.buf.is_empty() {
            on_frame(Frame::Message(body));
        } else {
            self.buf.extend_from_slice(body);
            on_frame(Frame::Message(&self.buf));
            self.buf.clear();
        }
        self.state = State::Len { len: 0, digits: 0 };
        rest
    }

    fn read_line<'c>(&mut self, chunk: &'c [u8], on_frame: &mut impl FnMut(Frame<'_>)) -> &'c [u8] {
        let Some(i) = chunk.iter().position(|&b| b == b'\n') else {
            // One byte more than the limit may be held: a line of the longest length still has
            // its CR to come, which is removed before the line is measured.
            if self.buf.len() + chunk.len() > self.max_len + 1 {
                on_frame(Frame::TooLong {
                    len: self.buf.len() + chunk.len(),
                });
                self.buf.clear();
                self.state = State::SkipLine;
            } else {
                self.buf.extend_from_slice(chunk);
            }
            return &[];
        };
        let (line, rest) = (&chunk[..i], &chunk[i + 1..]);
        if self.buf.is_empty() {
            emit_line(line, self.max_len, on_frame);
        } else {
            self.buf.extend_from_slice(line);
            emit_line(&self.buf, self.max_len, on_frame);
            self.buf.clear();
        }
        rest
    }
}

/// Hands out one LF-framed line without its CR; blank lines carry no message and are skipped.
fn emit_line(line: &[u8], max_len: usize, on_frame: &mut impl FnMut(Frame<'_>)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return;
    }
    if line.len() > max_len {
        on_frame(Frame::TooLong { len: line.len() });
    } else {
        on_frame(Frame::Message(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Owned {
        Message(Vec<u8>),
        TooLong(usize),
        BadLength,
    }

    fn decode_chunks(max_len: usize, chunks: &[&[u8]]) -> (Vec<Owned>, StreamDecoder) {
        let mut d = StreamDecoder::new(max_len);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, |f| {
                out.push(match f {
                    Frame::Message(m) => Owned::Message(m.to_vec()),
                    Frame::TooLong { len } => Owned::TooLong(len),
                    Frame::BadLength => Owned::BadLength,
                })
            });
        }
        (out, d)
    }

    fn msgs(list: &[&str]) -> Vec<Owned> {
        list.iter()
            .map(|m| Owned::Message(m.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn octet_counting_in_one_chunk() {
        let (out, d) = decode_chunks(100, &[b"11 <14>1 a b c5 <1>hi"]);
        assert_eq!(out, msgs(&["<14>1 a b c", "<1>hi"]));
        assert_eq!(d.framing(), Some(Framing::OctetCounting));
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn octet_counting_keeps_newlines_inside_messages() {
        let (out, _) = decode_chunks(100, &[b"8 <1>a\nb\nc"]);
        assert_eq!(out, msgs(&["<1>a\nb\nc"]));
    }

    #[test]
    fn lf_framing_strips_cr_and_skips_blank_lines() {
        let (out, d) = decode_chunks(100, &[b"<1>one\r\n\n<2>two\n<3>thr", b"ee\n"]);
        assert_eq!(out, msgs(&["<1>one", "<2>two", "<3>three"]));
        assert_eq!(d.framing(), Some(Framing::NonTransparent));
    }

    #[test]
    fn a_line_of_the_longest_length_with_crlf_passes_however_it_is_cut() {
        // Found by fuzzing: cut after its last byte, the CR counted against the limit.
        let line = [b'x'; 16];
        let mut stream = line.to_vec();
        stream.extend_from_slice(b"\r\n");
        for cut in 0..=stream.len() {
            let (a, b) = stream.split_at(cut);
            let (out, d) = decode_chunks(16, &[a, b]);
            assert_eq!(out, [Owned::Message(line.to_vec())], "cut at {cut}");
            assert_eq!(d.pending(), 0);
        }
        // One byte longer is too long, cut or not.
        let mut long = vec![b'x'; 17];
        long.extend_from_slice(b"\r\n");
        for cut in 0..=long.len() {
            let (a, b) = long.split_at(cut);
            let (out, _) = decode_chunks(16, &[a, b]);
            assert!(
                matches!(out[..], [Owned::TooLong(_)]),
                "cut at {cut}: {out:?}"
            );
        }
    }

    #[test]
    fn unfinished_message_is_pending() {
        let (_, d) = decode_chunks(100, &[b"<1>no newline yet"]);
        assert_eq!(d.pending(), 17);
        let (_, d) = decode_chunks(100, &[b"20 <1>short"]);
        assert_eq!(d.pending(), 8);
    }

    #[test]
    fn too_long_octet_counted_message_is_skipped_and_the_next_one_read() {
        let (out, _) = decode_chunks(5, &[b"8 12345", b"678", b"3 abc"]);
        assert_eq!(
            out,
            vec![Owned::TooLong(8), Owned::Message(b"abc".to_vec())]
        );
    }

    #[test]
    fn too_long_line_is_skipped_up_to_its_newline() {
        // Six bytes might still be five and a CR: the decoder gives up at the next chunk.
        let (out, d) = decode_chunks(5, &[b"<1>abc", b"defgh", b"ij\n<2>x\n"]);
        assert_eq!(
            out,
            vec![Owned::TooLong(11), Owned::Message(b"<2>x".to_vec())]
        );
        assert_eq!(d.pending(), 0);
        let (out, _) = decode_chunks(5, &[b"<1>abcdef\n<2>x\n"]);
        assert_eq!(
            out,
            vec![Owned::TooLong(9), Owned::Message(b"<2>x".to_vec())]
        );
    }

    #[test]
    fn a_bad_octet_count_fails_the_stream() {
        for input in [&b"12x <1>"[..], b"1234567890 x", b"5 <1>hi01 x"] {
            let (out, d) = decode_chunks(1 << 30, &[input]);
            assert_eq!(out.last(), Some(&Owned::BadLength), "{input:?}");
            assert!(d.failed());
        }
    }

    proptest! {
        /// Any split of a stream into chunks decodes to the same messages as the whole stream.
        #[test]
        fn chunk_boundaries_do_not_matter(
            messages in proptest::collection::vec("<[0-9]{1,3}>[ -~]{0,40}", 1..20),
            octet in any::<bool>(),
            cuts in proptest::collection::vec(0usize..2000, 0..10),
        ) {
            let mut stream = Vec::new();
            for m in &messages {
                if octet {
                    stream.extend_from_slice(format!("{} {m}", m.len()).as_bytes());
                } else {
                    stream.extend_from_slice(m.trim_end_matches('\r').as_bytes());
                    stream.push(b'\n');
                }
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut at = 0;
            for c in cuts {
                chunks.push(&stream[at..c]);
                at = c;
            }
            chunks.push(&stream[at..]);
            let (out, d) = decode_chunks(64, &chunks);
            let expected: Vec<Owned> = messages
                .iter()
                .map(|m| {
                    let m = if octet { m.as_str() } else { m.trim_end_matches('\r') };
                    Owned::Message(m.as_bytes().to_vec())
                })
                .collect();
            prop_assert_eq!(out, expected);
            prop_assert_eq!(d.pending(), 0);
        }
    }
}
