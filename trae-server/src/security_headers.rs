//! The headers every response carries so a browser does not sniff its type, frame it, or send
//! the page's address on: set by the request context on whatever the inner layers answered,
//! errors included, overriding any a handler set.

use poem::http::{HeaderMap, HeaderValue, header};

/// The headers and their values.
pub const SECURITY_HEADERS: [(header::HeaderName, HeaderValue); 3] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
];

/// Sets [`SECURITY_HEADERS`] on `headers`.
pub fn apply(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, value);
    }
}
