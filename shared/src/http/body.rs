//! Reading a request: the JSON body (size limit, media type, shape) and the query string
//! (only known parameters).

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Far below API Gateway's 10 MB: the largest legitimate body (50 recipients) is ~10 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Decodes the JSON body into `T` (whose fields are plain wire types and that refuses
/// unknown fields). Rules on the values are checked afterwards, as 422s.
pub fn json_body<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        body => body.as_ref(),
    };
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if let Some(ct) = req.headers().get(CONTENT_TYPE) {
        let essence = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "missing_body",
            "a JSON body is required",
        ));
    }
    // JSON Schema (2020-12) counts `2.0` as the integer 2, and client generators write
    // integers so: a number with no fraction is read as the integer it is.
    let value = serde_json::from_slice::<serde_json::Value>(bytes)
        .map(integral_numbers)
        .and_then(serde_json::from_value);
    value.map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request(
                "invalid_body",
                format!("the body does not have the expected shape: {}", clip(&e)),
            ),
            Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {}", clip(&e)),
            ),
        }
    })
}

/// Every number of `value` that is a float with no fraction, as an integer.
fn integral_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 => Value::from(f as u64),
            Some(f) if f.fract() == 0.0 && f < 0.0 && f >= i64::MIN as f64 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(integral_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, integral_numbers(v)))
                .collect(),
        ),
        other => other,
    }
}

/// serde's message names the field and the expected type; keep an echoed value short.
fn clip(e: &serde_json::Error) -> String {
    let text = e.to_string();
    if text.chars().count() <= 300 {
        text
    } else {
        text.chars().take(300).chain("…".chars()).collect()
    }
}

/// The query parameters, refusing any name not in `known` (so `?team_id=` is an error,
/// not silently ignored). Values of repeated and comma-separated parameters are split.
pub fn query(req: &Request, known: &[&str]) -> Result<Query, ApiError> {
    let mut pairs = Vec::new();
    if let Some(map) = req.query_string_parameters_ref() {
        for (name, value) in map.iter() {
            if !known.contains(&name) {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown query parameter '{}'; known: {}",
                        name.chars().take(40).collect::<String>(),
                        known.join(", ")
                    ),
                ));
            }
            pairs.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(Query(pairs))
}

/// Query parameters already checked against the known names.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Every value of `name`, comma-separated ones split, empty ones dropped.
    pub fn list(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// The single value of `name`; given twice is an error.
    pub fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("query parameter '{name}' is given more than once"),
            ));
        }
        Ok(first.map(String::as_str))
    }
}
