//! Parse human-written durations such as `1h30m` or `45s`.

/// Parses a duration made of `<number><unit>` parts (units `h`, `m`, `s`)
/// and returns the total number of seconds.
///
/// ```
/// use durations::parse_duration;
///
/// assert_eq!(parse_duration("1h30m"), Some(5400));
/// assert_eq!(parse_duration("2m5s"), Some(125));
/// assert_eq!(parse_duration("10x"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let value: u64 = number.parse().ok()?;
        number.clear();
        let factor = match c {
            'h' => 60,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total += value * factor;
    }
    if number.is_empty() {
        Some(total)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minutes_and_seconds() {
        assert_eq!(parse_duration("90s"), Some(90));
        assert_eq!(parse_duration("2m"), Some(120));
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("12"), None);
        assert_eq!(parse_duration("5d"), None);
    }
}
