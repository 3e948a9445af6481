//! A step's body: at most one of `json`, `form`, `body`, `multipart` and `graphql`. `multipart` files are
//! read here, at load, under [`MAX_MULTIPART_FILE_BYTES`]; a `graphql` query is a template and its
//! variables are like a `json` body.

use std::path::Path;

use reqwest::header::HeaderValue;
use reqwest::Method;

use super::StepBuilder;
use crate::config::limits::{format_size, read_capped};
use crate::config::position::{index_path, key_path};
use crate::config::raw::{RawFilePart, RawGraphql, RawPart, RawStep};
use crate::model::{Body, FilePart, GraphqlBody, JsonTemplate, MultipartPart, PartValue, MAX_MULTIPART_FILE_BYTES};

/// The body keys, in the order they are named in messages.
const BODY_KEYS: [&str; 5] = ["json", "form", "body", "multipart", "graphql"];

impl StepBuilder<'_, '_, '_, '_> {
    pub(super) fn body(&mut self, raw: &RawStep, method: &Method, dir: &Path) -> Option<Body> {
        let on = [
            raw.json.is_some(),
            raw.form.is_some(),
            raw.body.is_some(),
            raw.multipart.is_some(),
            raw.graphql.is_some(),
        ];
        let set: Vec<&str> = BODY_KEYS.iter().zip(on).filter(|(_, on)| *on).map(|(k, _)| *k).collect();
        if set.len() > 1 {
            let msg = format!("`{}` and `{}` cannot be used together", set[0], set[1]);
            let hint = "a step has one body: json, form, body, multipart or graphql";
            self.error_key(&self.at(set[1]), msg, Some(hint.into()));
            return None;
        }
        if raw.content_type.is_some() && raw.body.is_none() {
            let hint =
                "json, form, multipart and graphql bodies set their own Content-Type; set a header to override it";
            self.error_key(&self.at("content_type"), "`content_type` only applies to `body`", Some(hint.into()));
        }
        if let Some(json) = &raw.json {
            let path = self.at("json");
            return self.json(&path, json).map(Body::Json);
        }
        if let Some(form) = &raw.form {
            return Some(Body::Form(self.template_map("form", &form.0)));
        }
        if let Some(parts) = &raw.multipart {
            return self.multipart(&parts.0, dir).map(Body::Multipart);
        }
        if let Some(graphql) = &raw.graphql {
            return self.graphql(graphql, method).map(Body::Graphql);
        }
        let text = raw.body.as_ref()?;
        let text = self.template(&self.at("body"), &text.0)?;
        Some(Body::Raw { text, content_type: raw.content_type.clone() })
    }

    fn multipart(&mut self, raw: &[(String, RawPart)], dir: &Path) -> Option<Vec<MultipartPart>> {
        let mut parts = Vec::new();
        let mut ok = true;
        for (name, part) in raw {
            let path = key_path(&self.at("multipart"), name);
            let value = match part {
                RawPart::Field(text) => self.template(&path, text).map(PartValue::Field),
                RawPart::File(file) => self.file_part(&path, file, dir).map(PartValue::File),
            };
            match value {
                Some(value) => parts.push(MultipartPart { name: name.clone(), value }),
                None => ok = false,
            }
        }
        if raw.is_empty() {
            let hint = "add a field (`name: value`) or a file (`avatar: { file: avatar.png }`)";
            self.error(&self.at("multipart"), "`multipart` has no parts", Some(hint.into()));
            return None;
        }
        ok.then_some(parts)
    }

    /// Reads the file now: a run never touches the disk, and a missing or oversized file is a `check` error.
    fn file_part(&mut self, path: &str, raw: &RawFilePart, dir: &Path) -> Option<FilePart> {
        let file_path = key_path(path, "file");
        let bytes = match read_capped(&dir.join(&raw.file), MAX_MULTIPART_FILE_BYTES) {
            Ok(bytes) => bytes,
            Err(e) => {
                let hint = match e {
                    crate::config::limits::ReadError::TooLarge { .. } => format!(
                        "a multipart file is sent whole by every request; upload tests need at most {}",
                        format_size(MAX_MULTIPART_FILE_BYTES)
                    ),
                    _ => "the path is relative to the journey file".to_string(),
                };
                self.error(&file_path, format!("cannot read {}: {e}", raw.file), Some(hint));
                return None;
            }
        };
        let content_type = raw.content_type.as_deref().unwrap_or("application/octet-stream");
        let Ok(content_type) = HeaderValue::from_str(content_type) else {
            let hint = "a media type like image/png, text/csv or application/pdf";
            self.error(&key_path(path, "content_type"), "not a valid Content-Type", Some(hint.into()));
            return None;
        };
        let own_name = Path::new(&raw.file).file_name().map(|n| n.to_string_lossy().into_owned());
        let filename = raw.filename.clone().or(own_name).unwrap_or_else(|| raw.file.clone());
        Some(FilePart { bytes: bytes.into(), filename, content_type })
    }

    fn graphql(&mut self, raw: &RawGraphql, method: &Method) -> Option<GraphqlBody> {
        let path = self.at("graphql");
        if method != Method::POST {
            let msg = format!("a `graphql` request is sent as a POST, not a {method}");
            let hint = "write the step's URL with `post:`, e.g. post: /graphql";
            self.error_key(&path, msg, Some(hint.into()));
            return None;
        }
        let query = self.template(&key_path(&path, "query"), &raw.query);
        let variables = match &raw.variables {
            None => Some(None),
            Some(v @ serde_yaml::Value::Mapping(_)) => self.json(&key_path(&path, "variables"), v).map(Some),
            Some(_) => {
                let hint = "write the variables as a mapping: variables: { id: \"{{ sku }}\" }";
                self.error(&key_path(&path, "variables"), "`variables` must be a mapping", Some(hint.into()));
                None
            }
        };
        Some(GraphqlBody { query: query?, variables: variables?, operation_name: raw.operation_name.clone() })
    }

    pub(super) fn json(&mut self, path: &str, value: &serde_yaml::Value) -> Option<JsonTemplate> {
        use serde_yaml::Value as V;
        Some(match value {
            V::Null => JsonTemplate::Null,
            V::Bool(b) => JsonTemplate::Bool(*b),
            V::Number(n) => {
                let number = if let Some(i) = n.as_i64() {
                    serde_json::Number::from(i)
                } else if let Some(u) = n.as_u64() {
                    serde_json::Number::from(u)
                } else {
                    match n.as_f64().and_then(serde_json::Number::from_f64) {
                        Some(f) => f,
                        None => {
                            self.error(path, format!("{n} cannot be written as JSON"), None);
                            return None;
                        }
                    }
                };
                JsonTemplate::Number(number)
            }
            V::String(s) => JsonTemplate::String(self.template(path, s)?),
            V::Sequence(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    out.extend(self.json(&index_path(path, i), item));
                }
                (out.len() == items.len()).then_some(JsonTemplate::Array(out))?
            }
            V::Mapping(map) => {
                let mut out = Vec::new();
                for (k, v) in map {
                    let key = match k {
                        V::String(s) => s.clone(),
                        V::Number(n) => n.to_string(),
                        V::Bool(b) => b.to_string(),
                        _ => {
                            self.error(path, "JSON object keys must be strings", None);
                            continue;
                        }
                    };
                    if let Some(t) = self.json(&key_path(path, &key), v) {
                        out.push((key, t));
                    }
                }
                (out.len() == map.len()).then_some(JsonTemplate::Object(out))?
            }
            V::Tagged(_) => {
                self.error(path, "YAML tags are not supported in a json body", None);
                return None;
            }
        })
    }
}
