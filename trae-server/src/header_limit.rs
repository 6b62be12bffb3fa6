//! Rejects requests whose headers together exceed [`MAX_HEADER_BYTES`] with 431 and the JSON
//! error shape.
//!
//! hyper reads request heads of up to about 400 KiB (its buffer limit, which poem does not
//! expose) and answers larger ones with a bare 431 itself; this bound is much lower, so every
//! credential check, log line and rate-limit key works on small headers only.

use poem::http::StatusCode;
use poem::{Request, Result};

use crate::ApiError;

/// The most header bytes a request may carry: each header's name and value plus the four
/// bytes of `: ` and CRLF it takes on the wire. 16 KiB fits tokens, cookies and proxy
/// headers with room to spare (nginx's default large-header buffers are 4 × 8 KiB).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The size of `req`'s headers as sent on the wire.
fn header_bytes(req: &Request) -> usize {
    req.headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Refuses `req` with 431 when its headers exceed [`MAX_HEADER_BYTES`]. The request context
/// runs it before anything reads a header (credentials, rate-limit keys, CORS).
pub fn check(req: &Request) -> Result<()> {
    if header_bytes(req) > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers exceed {MAX_HEADER_BYTES} bytes in total"),
        )
        .into());
    }
    Ok(())
}
