//! Server-sent events, decoded as the WHATWG HTML standard describes them: lines end in CRLF,
//! LF or CR (also when the pair is split across two reads), `data:` lines join with `\n`, a
//! line starting with `:` is a comment (keep-alives), an empty line ends an event, and one
//! space after the colon is dropped.
//!
//! Written here rather than taken from a crate because it must bound memory (a line or an
//! event longer than [`MAX_EVENT_BYTES`] is an error, not a buffer that grows without end)
//! and run on bytes the caller already holds; it decodes several hundred MB/s
//! (docs/benchmarks.md).

use crate::{AgentError, Result};

/// The longest event (its `data` lines together) or line accepted.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when set.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The `id:` field, when set.
    pub id: Option<String>,
}

/// Turns bytes, as they arrive, into events.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of a line not yet ended.
    line: Vec<u8>,
    /// The last byte seen was a CR, so a LF starting the next read ends nothing.
    after_cr: bool,
    event: SseEvent,
    has_data: bool,
}

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `bytes`, appending every event they complete to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.after_cr && bytes.first() == Some(&b'\n') {
            bytes = &bytes[1..];
        }
        self.after_cr = false;
        while let Some(end) = memchr::memchr2(b'\n', b'\r', bytes) {
            let (head, rest) = bytes.split_at(end);
            let crlf = rest[0] == b'\r' && rest.get(1) == Some(&b'\n');
            if rest[0] == b'\r' && rest.len() == 1 {
                self.after_cr = true;
            }
            if self.line.is_empty() {
                self.line_ended(head, out)?;
            } else {
                self.grow(head)?;
                let line = std::mem::take(&mut self.line);
                self.line_ended(&line, out)?;
                self.line = line;
                self.line.clear();
            }
            bytes = &rest[if crlf { 2 } else { 1 }..];
        }
        self.grow(bytes)
    }

    /// Ends the stream: an event whose closing empty line never came is still delivered
    /// (providers that close right after their last `data:` line lose nothing).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) -> Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_ended(&line, out)?;
        }
        self.dispatch(out);
        Ok(())
    }

    fn grow(&mut self, bytes: &[u8]) -> Result<()> {
        if self.line.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(too_long());
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn line_ended(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<()> {
        if line.is_empty() {
            self.dispatch(out);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.event.data.push('\n');
                }
                if self.event.data.len() + value.len() > MAX_EVENT_BYTES {
                    return Err(too_long());
                }
                self.event.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event.event = Some(String::from_utf8_lossy(value).into_owned()),
            // An id holding NUL is ignored, as the standard says.
            b"id" if !value.contains(&0) => {
                self.event.id = Some(String::from_utf8_lossy(value).into_owned());
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(std::mem::take(&mut self.event));
        } else {
            self.event = SseEvent::default();
        }
        self.has_data = false;
    }
}

fn too_long() -> AgentError {
    AgentError::Upstream(format!(
        "the provider sent a server-sent event longer than {MAX_EVENT_BYTES} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        for piece in pieces {
            decoder.feed(piece, &mut out).unwrap();
        }
        decoder.finish(&mut out).unwrap();
        out
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    const STREAM: &[u8] = b": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: delta\ndata:first\ndata:  second\nid: 7\n\n:ping\n\ndata: \xce\xbb\r\rdata: [DONE]\n\n";

    #[test]
    fn comments_multiline_data_fields_and_line_ends() {
        let events = decode_in(&[STREAM]);
        assert_eq!(
            data(&events),
            ["{\"a\":1}", "first\n second", "λ", "[DONE]"]
        );
        assert_eq!(events[1].event.as_deref(), Some("delta"));
        assert_eq!(events[1].id.as_deref(), Some("7"));
        assert_eq!(events[0].event, None);
    }

    #[test]
    fn a_stream_split_at_every_byte_decodes_the_same() {
        let whole = decode_in(&[STREAM]);
        for cut in 0..=STREAM.len() {
            let (a, b) = STREAM.split_at(cut);
            assert_eq!(decode_in(&[a, b]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        assert_eq!(decode_in(&bytes), whole, "one byte at a time");
        for cut in 0..STREAM.len() {
            for second in cut..=STREAM.len() {
                let parts = [&STREAM[..cut], &STREAM[cut..second], &STREAM[second..]];
                assert_eq!(decode_in(&parts), whole, "cuts at {cut} and {second}");
            }
        }
    }

    #[test]
    fn a_crlf_split_across_reads_ends_one_line_only() {
        assert_eq!(
            data(&decode_in(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"])),
            ["a", "b"]
        );
    }

    #[test]
    fn the_last_event_counts_without_its_empty_line() {
        assert_eq!(data(&decode_in(&[b"data: a\n\ndata: tail"])), ["a", "tail"]);
        assert!(decode_in(&[b"event: x\n\n: only a comment"]).is_empty());
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_growing_buffer() {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        let chunk = vec![b'x'; 1024 * 1024];
        decoder.feed(b"data: ", &mut out).unwrap();
        let failed = (0..16).any(|_| decoder.feed(&chunk, &mut out).is_err());
        assert!(failed, "a line past the cap must fail");
        assert!(out.is_empty());
    }
}
