//! HttpApi routes as API Gateway serves them: route matching (literal > `{param}` > `{proxy+}`,
//! a method over `ANY`), payload-format-2.0 events, and the function's answer turned back into
//! an HTTP response. Pure: the server does the I/O.

use base64::Engine;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// How specific a match is: literal segments, fixed segments, a method named (higher wins).
type Rank = (usize, usize, bool);
type Params = BTreeMap<String, String>;

/// One route of the template, pointing at a function (by index in the stack's function list).
#[derive(Clone, Debug)]
pub struct RouteEntry {
    pub function: usize,
    pub method: String,
    pub path: String,
    segments: Vec<Segment>,
}

impl RouteEntry {
    pub fn new(function: usize, method: &str, path: &str) -> Self {
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('+') {
                        Some(greedy) => Segment::Greedy(greedy.to_owned()),
                        None => Segment::Param(name.to_owned()),
                    },
                    None => Segment::Literal(s.to_owned()),
                },
            )
            .collect();
        Self {
            function,
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            segments,
        }
    }

    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Path parameters when `path` matches, with a specificity rank (higher wins).
    fn matches(&self, method: &str, path: &str) -> Option<(Params, Rank)> {
        if self.method != "ANY" && self.method != method {
            return None;
        }
        let parts: Vec<&str> = path
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let mut params = BTreeMap::new();
        let mut literals = 0;
        let mut fixed = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(text) => {
                    if parts.get(i) != Some(&text.as_str()) {
                        return None;
                    }
                    literals += 1;
                    fixed += 1;
                }
                Segment::Param(name) => {
                    let value = parts.get(i)?;
                    params.insert(name.clone(), decode(value));
                    fixed += 1;
                }
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).filter(|r| !r.is_empty())?;
                    params.insert(
                        name.clone(),
                        rest.iter().map(|p| decode(p)).collect::<Vec<_>>().join("/"),
                    );
                    return Some((params, (literals, fixed, self.method != "ANY")));
                }
            }
        }
        (parts.len() == self.segments.len())
            .then_some((params, (literals, fixed + 1, self.method != "ANY")))
    }
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// The most specific route for `method` and `path`, with its path parameters.
pub fn find<'a>(
    routes: &'a [RouteEntry],
    method: &str,
    path: &str,
) -> Option<(&'a RouteEntry, BTreeMap<String, String>)> {
    routes
        .iter()
        .filter_map(|r| {
            r.matches(method, path)
                .map(|(params, rank)| (r, params, rank))
        })
        .max_by_key(|(_, _, rank)| *rank)
        .map(|(r, params, _)| (r, params))
}

/// What the server saw of a request.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    pub source_ip: String,
    pub host: String,
}

/// The API Gateway v2 (payload format 2.0) event for `request` on `route`, at `epoch_ms`.
pub fn event(
    request: &Request<'_>,
    route: &RouteEntry,
    params: &BTreeMap<String, String>,
    epoch_ms: i64,
    request_id: &str,
) -> Json {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(request.query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let time = chrono::DateTime::from_timestamp_millis(epoch_ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.route_key(),
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "devstack",
            "domainName": request.host,
            "domainPrefix": request.host.split('.').next().unwrap_or_default(),
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route.route_key(),
            "stage": "$default",
            "time": time,
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": false,
    });
    let Some(object) = event.as_object_mut() else {
        return event;
    };
    if !cookies.is_empty() {
        object.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        object.insert("queryStringParameters".into(), json!(query));
    }
    if !params.is_empty() {
        object.insert("pathParameters".into(), json!(params));
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(request.body) {
            Ok(text) => {
                object.insert("body".into(), json!(text));
            }
            Err(_) => {
                object.insert(
                    "body".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(request.body)),
                );
                object.insert("isBase64Encoded".into(), json!(true));
            }
        }
    }
    event
}

/// An HTTP answer built from a function's output.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Payload format 2.0: a `{statusCode, headers, cookies, body, isBase64Encoded}` object is used
/// as given; anything else is a 200 with the output as JSON.
pub fn answer(output: &Json) -> Answer {
    let Some(status) = output.get("statusCode").and_then(Json::as_u64) else {
        return Answer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: output.to_string().into_bytes(),
        };
    };
    let mut headers: Vec<(String, String)> = output
        .get("headers")
        .and_then(Json::as_object)
        .map(|h: &Map<String, Json>| {
            h.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for cookie in output
        .get("cookies")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(c) = cookie.as_str() {
            headers.push(("set-cookie".into(), c.to_owned()));
        }
    }
    let text = output
        .get("body")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let body = if output.get("isBase64Encoded") == Some(&Json::Bool(true)) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    Answer {
        status: u16::try_from(status).unwrap_or(502),
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<RouteEntry> {
        vec![
            RouteEntry::new(0, "GET", "/items/{id}"),
            RouteEntry::new(1, "GET", "/items/all"),
            RouteEntry::new(2, "ANY", "/api/{proxy+}"),
            RouteEntry::new(3, "POST", "/api/session"),
            RouteEntry::new(4, "POST", "/courier/{platform}/callback/{token}"),
        ]
    }

    fn route(method: &str, path: &str) -> Option<(usize, BTreeMap<String, String>)> {
        let routes = routes();
        find(&routes, method, path).map(|(r, p)| (r.function, p))
    }

    #[test]
    fn literal_beats_parameter_beats_greedy_and_method_beats_any() {
        assert_eq!(route("GET", "/items/all").unwrap().0, 1);
        let (f, p) = route("GET", "/items/42").unwrap();
        assert_eq!((f, p["id"].as_str()), (0, "42"));
        assert_eq!(route("POST", "/api/session").unwrap().0, 3);
        let (f, p) = route("GET", "/api/orders/O1/cancel").unwrap();
        assert_eq!((f, p["proxy"].as_str()), (2, "orders/O1/cancel"));
        let (f, p) = route("POST", "/courier/dada/callback/t%20k").unwrap();
        assert_eq!(
            (f, p["platform"].as_str(), p["token"].as_str()),
            (4, "dada", "t k")
        );
    }

    #[test]
    fn no_route_for_wrong_methods_short_or_long_paths() {
        assert!(route("POST", "/items/42").is_none());
        assert!(route("GET", "/items").is_none());
        assert!(route("GET", "/items/1/2").is_none());
        assert!(
            route("GET", "/api").is_none(),
            "a greedy parameter needs one segment"
        );
        assert!(route("GET", "/nowhere").is_none());
    }

    #[test]
    fn the_event_is_payload_format_two() {
        let routes = routes();
        let (r, params) = find(&routes, "GET", "/items/42").unwrap();
        let request = Request {
            method: "GET",
            path: "/items/42",
            query: "lat=31.2&lng=121.4&tag=a&tag=b&q=%E9%82%BB",
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("X-Multi".into(), "1".into()),
                ("x-multi".into(), "2".into()),
                ("Cookie".into(), "a=1; b=2".into()),
            ],
            body: "hi".as_bytes(),
            source_ip: "127.0.0.1".into(),
            host: "127.0.0.1:3000".into(),
        };
        let e = event(&request, r, &params, 1_795_521_600_000, "req-1");
        assert_eq!(e["routeKey"], "GET /items/{id}");
        assert_eq!(e["pathParameters"]["id"], "42");
        assert_eq!(e["queryStringParameters"]["tag"], "a,b");
        assert_eq!(e["queryStringParameters"]["q"], "邻");
        assert_eq!(e["headers"]["x-multi"], "1,2");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(e["requestContext"]["timeEpoch"], 1_795_521_600_000_i64);
        assert_eq!(e["requestContext"]["time"], "24/Nov/2026:12:00:00 +0000");
        assert_eq!(e["body"], "hi");
        assert_eq!(e["isBase64Encoded"], false);
        let binary = Request {
            body: &[0xff, 0x00],
            ..request
        };
        let e = event(&binary, r, &params, 0, "req-2");
        assert_eq!(
            (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
            (Some("/wA="), Some(true))
        );
    }

    #[test]
    fn answers_follow_the_function_or_default_to_json() {
        let full = answer(
            &json!({"statusCode": 401, "headers": {"x": "1"}, "cookies": ["s=1"], "body": "no"}),
        );
        assert_eq!(full.status, 401);
        assert!(full.headers.contains(&("set-cookie".into(), "s=1".into())));
        assert_eq!(full.body, b"no");
        let encoded = answer(&json!({"statusCode": 200, "body": "/wA=", "isBase64Encoded": true}));
        assert_eq!(encoded.body, vec![0xff, 0x00]);
        let bare = answer(&json!({"ok": true}));
        assert_eq!((bare.status, bare.body), (200, br#"{"ok":true}"#.to_vec()));
    }
}
