//! Classify HTTP status codes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
    /// Not a valid HTTP status code (outside 100..=599).
    Invalid,
}

/// Returns the class of an HTTP status code.
pub fn classify(code: u16) -> StatusClass {
    match code {
        100..=199 => StatusClass::Informational,
        200..=299 => StatusClass::Success,
        300..=399 => StatusClass::Redirection,
        400..=499 => StatusClass::ClientError,
        _ => StatusClass::ServerError,
    }
}

/// Whether a client may retry a request that got this status.
pub fn is_retryable(code: u16) -> bool {
    matches!(code, 408 | 429) || (classify(code) == StatusClass::ServerError && code != 501)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_codes() {
        assert_eq!(classify(200), StatusClass::Success);
        assert_eq!(classify(301), StatusClass::Redirection);
        assert_eq!(classify(404), StatusClass::ClientError);
        assert_eq!(classify(503), StatusClass::ServerError);
    }

    #[test]
    fn rejects_out_of_range_codes() {
        assert_eq!(classify(99), StatusClass::Invalid);
        assert_eq!(classify(600), StatusClass::Invalid);
    }

    #[test]
    fn retries_only_transient_failures() {
        assert!(is_retryable(503));
        assert!(is_retryable(429));
        assert!(!is_retryable(404));
        assert!(!is_retryable(501));
    }
}
