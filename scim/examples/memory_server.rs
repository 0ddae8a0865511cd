//! A SCIM server over an in-memory store, on std's `TcpListener` only: a reference for the
//! HTTP crate of what each route does with this crate, and a peer to run `scim2-tester`
//! against before the real node serves `/scim/v2/`.
//!
//! `cargo run -p varsel-scim --example memory_server -- 127.0.0.1:8099`, then point a SCIM
//! client at `http://127.0.0.1:8099/scim/v2`. It serves one connection at a time and closes
//! each after one response; it checks no token. Not for production.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use varsel_scim::filter::Filter;
use varsel_scim::list::{self, Query};
use varsel_scim::{Meta, ScimError, ScimGroup, ScimUser, discovery, etag, group, patch, user};

/// Largest request head (request line and headers) read, in bytes.
const HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest request body read, in bytes.
const BODY_BYTES_MAX: usize = 1024 * 1024;
/// The path prefix of every SCIM route.
const PREFIX: &str = "/scim/v2";

#[derive(Debug, Clone)]
enum Item {
    User(ScimUser),
    Group(ScimGroup),
}

#[derive(Debug, Clone)]
struct Record {
    item: Item,
    created: String,
    modified: String,
    version: u64,
}

#[derive(Debug, Default)]
struct Store {
    base_url: String,
    records: BTreeMap<String, Record>,
    next_id: u64,
}

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Response {
    fn json(status: u16, body: Value) -> Response {
        Response { status, body: Some(body), headers: Vec::new() }
    }
}

impl From<ScimError> for Response {
    fn from(e: ScimError) -> Response {
        Response::json(e.status, e.to_json())
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&addr)?;
    let local = listener.local_addr()?;
    let mut store = Store { base_url: format!("http://{local}{PREFIX}"), ..Store::default() };
    println!("listening on http://{local}{PREFIX}");
    for stream in listener.incoming() {
        let mut stream = stream?;
        let response = match read_request(&mut stream) {
            Ok(req) => route(&mut store, &req).unwrap_or_else(Response::from),
            Err(e) => Response::from(e),
        };
        write_response(&mut stream, &response)?;
    }
    Ok(())
}

fn read_request(stream: &mut TcpStream) -> Result<Request, ScimError> {
    let bad = |what: &str| ScimError::invalid_syntax(format!("bad HTTP request: {what}"));
    let mut reader = BufReader::new(stream.take((HEAD_BYTES_MAX + BODY_BYTES_MAX) as u64));
    let mut line = String::new();
    reader.read_line(&mut line).map_err(|_| bad("request line"))?;
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or_else(|| bad("no method"))?.to_owned();
    let target = parts.next().ok_or_else(|| bad("no target"))?.to_owned();
    let mut headers = Vec::new();
    let mut head_bytes = line.len();
    loop {
        let mut h = String::new();
        let n = reader.read_line(&mut h).map_err(|_| bad("header"))?;
        head_bytes += n;
        if n == 0 || h.trim().is_empty() {
            break;
        }
        if head_bytes > HEAD_BYTES_MAX {
            return Err(bad("headers too large"));
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length: usize = header(&headers, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    if length > BODY_BYTES_MAX {
        return Err(bad("body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|_| bad("body shorter than Content-Length"))?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Ok(Request { method, path: path.trim_end_matches('/').to_owned(), query, headers, body })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn write_response(stream: &mut TcpStream, r: &Response) -> std::io::Result<()> {
    let body = r.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
    let mut head =
        format!("HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n", r.status, body.len());
    if r.body.is_some() {
        head.push_str("Content-Type: application/scim+json\r\n");
    }
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())
}

fn route(store: &mut Store, req: &Request) -> Result<Response, ScimError> {
    let Some(rest) = req.path.strip_prefix(PREFIX) else {
        return Err(ScimError::not_found(format!("no route {}", req.path)));
    };
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let base = store.base_url.clone();
    let get_only = |doc: Option<Value>, what: &str| match (req.method.as_str(), doc) {
        ("GET", Some(d)) => Ok(Response::json(200, d)),
        ("GET", None) => Err(ScimError::not_found(format!("no {what}"))),
        _ => Err(ScimError::method_not_allowed(format!("{what} answers only GET"))),
    };
    match segments.as_slice() {
        ["ServiceProviderConfig"] => {
            get_only(Some(discovery::service_provider_config(&base)), "ServiceProviderConfig")
        }
        ["ResourceTypes"] => get_only(Some(discovery::resource_types(&base)), "ResourceTypes"),
        ["ResourceTypes", id] => get_only(discovery::resource_type(&base, id), &format!("ResourceType {id}")),
        ["Schemas"] => get_only(Some(discovery::schemas(&base)), "Schemas"),
        ["Schemas", id] => get_only(discovery::schema(&base, id), &format!("Schema {id}")),
        [".search"] if req.method == "POST" => {
            let q = list::parse_search_request(&parse_body(req)?)?;
            Ok(Response::json(200, query(store, &q, None)))
        }
        [kind @ ("Users" | "Groups")] => collection(store, req, kind == &"Users"),
        [kind @ ("Users" | "Groups"), ".search"] if req.method == "POST" => {
            let q = list::parse_search_request(&parse_body(req)?)?;
            Ok(Response::json(200, query(store, &q, Some(kind == &"Users"))))
        }
        [kind @ ("Users" | "Groups"), id] => resource(store, req, kind == &"Users", id),
        _ => Err(ScimError::not_found(format!("no route {}", req.path))),
    }
}

fn parse_body(req: &Request) -> Result<Value, ScimError> {
    serde_json::from_slice(&req.body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")))
}

fn param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

fn now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

fn render(store: &Store, id: &str, r: &Record) -> Value {
    let meta = Meta::new(&store.base_url, &r.created, &r.modified, r.version);
    match &r.item {
        Item::User(u) => user::to_resource(&ScimUser { id: Some(id.to_owned()), ..u.clone() }, &meta),
        Item::Group(g) => group::to_resource(&ScimGroup { id: Some(id.to_owned()), ..g.clone() }, &meta),
    }
}

fn with_etag(mut resp: Response, version: u64) -> Response {
    resp.headers.push(("ETag", etag::weak_etag(version)));
    resp
}

/// Users (`Some(true)`), Groups (`Some(false)`) or both (`None`, root `/.search`).
fn query(store: &Store, q: &Query, users: Option<bool>) -> Value {
    let all: Vec<Value> = store
        .records
        .iter()
        .filter(|(_, r)| users.is_none_or(|u| matches!(r.item, Item::User(_)) == u))
        .map(|(id, r)| render(store, id, r))
        .filter(|v| q.filter.as_ref().is_none_or(|f: &Filter| f.matches(v)))
        .collect();
    let window = q.paging.window(all.len());
    let page: Vec<Value> = all
        .get(window.clone())
        .unwrap_or_default()
        .iter()
        .map(|v| list::project(v, &q.attributes, &q.excluded_attributes))
        .collect();
    let n = page.len();
    list::list_response(page, q.paging.start_index, n, all.len())
}

fn collection(store: &mut Store, req: &Request, users: bool) -> Result<Response, ScimError> {
    match req.method.as_str() {
        "GET" => {
            let q = list::parse_query(
                param(req, "filter"),
                param(req, "attributes"),
                param(req, "excludedAttributes"),
                param(req, "startIndex"),
                param(req, "count"),
            )?;
            Ok(Response::json(200, query(store, &q, Some(users))))
        }
        "POST" => {
            let item = read_item(store, &parse_body(req)?, users, None)?;
            store.next_id += 1;
            let id = format!("{:08x}", store.next_id);
            let t = now();
            let record = Record { item, created: t.clone(), modified: t, version: 1 };
            let body = render(store, &id, &record);
            store.records.insert(id.clone(), record);
            let endpoint = if users { user::USER_ENDPOINT } else { group::GROUP_ENDPOINT };
            let mut resp = with_etag(Response::json(201, body), 1);
            resp.headers.push(("Location", varsel_scim::meta::location(&store.base_url, endpoint, &id)));
            Ok(resp)
        }
        _ => Err(ScimError::method_not_allowed("use GET or POST")),
    }
}

/// Reads and checks a User or Group body: userName / displayName unique, members existing Users.
fn read_item(store: &Store, body: &Value, users: bool, id: Option<&str>) -> Result<Item, ScimError> {
    let others = || store.records.iter().filter(move |(k, _)| Some(k.as_str()) != id).map(|(_, r)| &r.item);
    if users {
        let u = user::from_resource(body)?;
        if others().any(|i| matches!(i, Item::User(o) if o.user_name.eq_ignore_ascii_case(&u.user_name))) {
            return Err(ScimError::uniqueness(format!("userName '{}' is taken", u.user_name)));
        }
        return Ok(Item::User(u));
    }
    let g = group::from_resource(body)?;
    if let Some(m) =
        g.members.iter().find(|m| !matches!(store.records.get(*m), Some(Record { item: Item::User(_), .. })))
    {
        return Err(ScimError::invalid_value(format!("member '{m}' is not a User")));
    }
    Ok(Item::Group(g))
}

fn resource(store: &mut Store, req: &Request, users: bool, id: &str) -> Result<Response, ScimError> {
    let what = if users { "User" } else { "Group" };
    let record = match store.records.get(id) {
        Some(r) if matches!(r.item, Item::User(_)) == users => r.clone(),
        _ => return Err(ScimError::not_found(format!("no {what} '{id}'"))),
    };
    if req.method != "GET" {
        etag::check_if_match(header(&req.headers, "if-match"), record.version)?;
    }
    let current = render(store, id, &record);
    let replacement = match req.method.as_str() {
        "GET" => {
            if header(&req.headers, "if-none-match").is_some_and(|h| !etag::if_none_match(h, record.version))
            {
                return Ok(with_etag(
                    Response { status: 304, body: None, headers: Vec::new() },
                    record.version,
                ));
            }
            let q = list::parse_query(
                None,
                param(req, "attributes"),
                param(req, "excludedAttributes"),
                None,
                None,
            )?;
            let body = list::project(&current, &q.attributes, &q.excluded_attributes);
            return Ok(with_etag(Response::json(200, body), record.version));
        }
        "DELETE" => {
            store.records.remove(id);
            for r in store.records.values_mut() {
                if let Item::Group(g) = &mut r.item {
                    g.members.retain(|m| m != id);
                }
            }
            return Ok(Response { status: 204, body: None, headers: Vec::new() });
        }
        "PUT" => parse_body(req)?,
        "PATCH" => {
            let mut patched = current;
            patch::apply(&mut patched, &parse_body(req)?)?;
            patched
        }
        _ => return Err(ScimError::method_not_allowed("use GET, PUT, PATCH or DELETE")),
    };
    let item = read_item(store, &replacement, users, Some(id))?;
    let updated = Record { item, modified: now(), version: record.version + 1, ..record };
    let body = render(store, id, &updated);
    let version = updated.version;
    store.records.insert(id.to_owned(), updated);
    Ok(with_etag(Response::json(200, body), version))
}
