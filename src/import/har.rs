//! HAR 1.2 (what browsers' developer tools save from the Network tab) → exchanges. Only the fields an
//! import needs are read; unknown fields (browsers add `_initiator`, `_resourceType`, timings…) are
//! ignored, and a missing optional field takes its HAR default.

use super::{Exchange, ImportError, Recorded, RequestBody};
use base64::Engine;
use serde::Deserialize;

#[derive(Deserialize)]
struct Har {
    log: Option<Log>,
}

#[derive(Deserialize)]
struct Log {
    entries: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    request: Request,
    #[serde(default)]
    response: Option<Response>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    #[serde(default)]
    mime_type: String,
    #[serde(default)]
    text: Option<String>,
    /// Some browsers record form bodies as parameters instead of text.
    #[serde(default)]
    params: Vec<Param>,
}

#[derive(Deserialize)]
struct Param {
    name: String,
    #[serde(default)]
    value: String,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: i64,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
}

/// Reads a HAR file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Exchange>, ImportError> {
    let har: Har = serde_json::from_str(text).map_err(|e| ImportError::NotJson {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: without_position(&e),
    })?;
    let entries = har.log.and_then(|l| l.entries).ok_or_else(|| ImportError::NoEntries { file: file.to_string() })?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            exchange(e).map_err(|message| ImportError::Entry { file: file.to_string(), index: i + 1, message })
        })
        .collect()
}

/// serde_json's message without its own " at line L column C", which the error already leads with.
fn without_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    s.strip_suffix(&suffix).unwrap_or(&s).to_string()
}

fn exchange(e: Entry) -> Result<Exchange, String> {
    let url = url::Url::parse(&e.request.url).map_err(|err| format!("invalid URL `{}`: {err}", e.request.url))?;
    let headers: Vec<(String, String)> = e.request.headers.into_iter().map(|h| (h.name, h.value)).collect();
    let body = e.request.post_data.and_then(|p| {
        let text = match p.text {
            Some(t) => t,
            None if !p.params.is_empty() => url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(p.params.iter().map(|q| (&q.name, &q.value)))
                .finish(),
            None => return None,
        };
        Some(RequestBody { mime: p.mime_type, text })
    });
    let response = e.response.map(|r| {
        let content = r.content.unwrap_or(Content { mime_type: None, text: None, encoding: None });
        let body = match (content.text, content.encoding.as_deref()) {
            (Some(t), Some("base64")) => {
                base64::engine::general_purpose::STANDARD.decode(t.trim()).ok().and_then(|b| String::from_utf8(b).ok())
            }
            (text, _) => text,
        };
        Recorded {
            status: u16::try_from(r.status).unwrap_or(0),
            mime: content.mime_type.filter(|m| !m.is_empty()),
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body,
        }
    });
    Ok(Exchange { method: e.request.method.to_ascii_uppercase(), url, headers, body, response })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_position_and_reason() {
        let e = parse("x.har", "{\n  \"log\": [1,\n").unwrap_err().to_string();
        assert!(e.starts_with("x.har:2:"), "{e}");
        assert!(e.contains("not a HAR file: invalid type"), "{e}");
        let e = parse("x.har", "{\"log\": {\"version\": \"1.2\"}}").unwrap_err().to_string();
        assert!(e.contains("no `log.entries`"), "{e}");
    }

    #[test]
    fn bodies_params_and_base64() {
        let text = r#"{"log": {"entries": [{
            "request": {"method": "post", "url": "https://s.test/login", "headers": [],
                        "postData": {"mimeType": "application/x-www-form-urlencoded",
                                     "params": [{"name": "a b", "value": "1&2"}]}},
            "response": {"status": 200, "headers": [],
                         "content": {"mimeType": "application/json", "text": "eyJhIjoxfQ==", "encoding": "base64"}}
        }]}}"#;
        let ex = parse("x.har", text).unwrap().remove(0);
        assert_eq!(ex.method, "POST");
        assert_eq!(ex.body.unwrap().text, "a+b=1%262");
        assert_eq!(ex.response.unwrap().body.as_deref(), Some(r#"{"a":1}"#));
    }
}
