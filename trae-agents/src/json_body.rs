//! JSON bodies of outbound calls, one rule for every entry point (tasks, HTTP, Python): a
//! string is sent as it is, any other JSON value as JSON with `content-type:
//! application/json` unless the caller named a content type; an answer is parsed as JSON when
//! it says it is JSON and was not cut off, and is text otherwise.

/// The bytes to send for `body`, adding a JSON content type to `headers` where needed.
pub fn encode(
    body: Option<serde_json::Value>,
    headers: &mut Vec<(String, String)>,
) -> Option<Vec<u8>> {
    match body {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text.into_bytes()),
        Some(json) => {
            if !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".into(), "application/json".into()));
            }
            Some(json.to_string().into_bytes())
        }
    }
}

/// An answer's body as JSON: parsed when `headers` say JSON and it is whole, else text.
pub fn decode(headers: &[(String, String)], body: &[u8], truncated: bool) -> serde_json::Value {
    let is_json = headers
        .iter()
        .any(|(name, value)| name.eq_ignore_ascii_case("content-type") && value.contains("json"));
    let text = || serde_json::Value::String(String::from_utf8_lossy(body).into_owned());
    if is_json && !truncated {
        serde_json::from_slice(body).unwrap_or_else(|_| text())
    } else {
        text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_go_as_they_are_and_json_gets_a_content_type_once() {
        let mut headers = Vec::new();
        assert_eq!(encode(Some("raw".into()), &mut headers).unwrap(), b"raw");
        assert!(headers.is_empty());
        assert_eq!(encode(None, &mut headers), None);
        assert_eq!(encode(Some(serde_json::Value::Null), &mut headers), None);
        let mut headers = vec![("Content-Type".to_owned(), "application/vnd+json".to_owned())];
        assert_eq!(
            encode(Some(serde_json::json!({"a": 1})), &mut headers).unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(headers.len(), 1, "the caller's content type stays");
        let mut headers = Vec::new();
        encode(Some(serde_json::json!([1])), &mut headers);
        assert_eq!(
            headers,
            [("content-type".to_owned(), "application/json".to_owned())]
        );
    }

    #[test]
    fn answers_parse_only_when_json_and_whole() {
        let json = [("content-type".to_owned(), "application/json".to_owned())];
        assert_eq!(
            decode(&json, br#"{"a":1}"#, false),
            serde_json::json!({"a": 1})
        );
        assert_eq!(
            decode(&json, br#"{"a":1"#, true),
            serde_json::json!(r#"{"a":1"#)
        );
        assert_eq!(
            decode(&json, b"not json", false),
            serde_json::json!("not json")
        );
        assert_eq!(
            decode(&[], br#"{"a":1}"#, false),
            serde_json::json!(r#"{"a":1}"#)
        );
    }
}
