//! Query results (RFC 7644 §3.4.2): the `ListResponse`, `startIndex`/`count` paging, the
//! `.search` request body, and `attributes`/`excludedAttributes` projection.
//!
//! ```
//! use serde_json::json;
//! use varsel_scim::list;
//!
//! let p = list::parse_paging(Some("0"), Some("100000"))?;
//! assert_eq!((p.start_index, p.count), (1, list::COUNT_MAX));
//! assert_eq!(p.window(3), 0..3);
//!
//! let user = json!({"schemas": ["s"], "id": "1", "userName": "b", "displayName": "B", "meta": {}});
//! let only = list::parse_attribute_list("displayName")?;
//! assert_eq!(list::project(&user, &only, &[]), json!({"schemas": ["s"], "id": "1", "displayName": "B", "meta": {}}));
//! # Ok::<(), varsel_scim::ScimError>(())
//! ```

use std::ops::Range;

use serde_json::{Map, Value, json};

use crate::error::ScimError;
use crate::filter::{AttrPath, Filter};
use crate::json::{get_ci, get_ci_mut, key_ci, remove_ci};

/// The ListResponse message schema URI.
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// The SearchRequest message schema URI (`POST /.search`).
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// Most resources in one page, and the `filter.maxResults` the ServiceProviderConfig
/// announces. Entra ID and Okta page with `count=100`; 200 leaves room while keeping one
/// response (each User is under 1 KB) well under a megabyte.
pub const COUNT_MAX: usize = 200;
/// Page size when the client gives no `count`: RFC 7644 leaves it to the server; Entra's
/// and Okta's own choice.
pub const COUNT_DEFAULT: usize = 100;
/// Most attribute paths in one `attributes` or `excludedAttributes` list: the User and Group
/// schemas have under 20 attributes and sub-attributes together.
pub const ATTRIBUTES_MAX: usize = 64;

/// Attributes returned whatever `attributes` and `excludedAttributes` say (RFC 7644 §3.9).
pub const ALWAYS_RETURNED: [&str; 3] = ["id", "schemas", "meta"];

/// `GET` query results: `resources` is the page, `start_index` the 1-based index of its first
/// element in the whole result, `items_per_page` how many are in it, `total_results` how many
/// match in all.
pub fn list_response(
    resources: Vec<Value>,
    start_index: usize,
    items_per_page: usize,
    total_results: usize,
) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total_results,
        "startIndex": start_index,
        "itemsPerPage": items_per_page,
        "Resources": resources,
    })
}

/// Which page a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based index of the first result; at least 1.
    pub start_index: usize,
    /// Most results in the page, from 0 (only `totalResults`) to [`COUNT_MAX`].
    pub count: usize,
}

impl Default for Paging {
    fn default() -> Self {
        Paging { start_index: 1, count: COUNT_DEFAULT }
    }
}

impl Paging {
    /// The 0-based range of the whole (sorted, filtered) result that is this page.
    pub fn window(&self, total: usize) -> Range<usize> {
        // `start_index` is at least 1 when parsed, but the fields are public.
        let start = self.start_index.saturating_sub(1).min(total);
        start..start.saturating_add(self.count).min(total)
    }
}

/// `startIndex` and `count` from query parameters. RFC 7644 §3.4.2.4: a `startIndex` below 1
/// means 1, a negative `count` means 0; a `count` above [`COUNT_MAX`] is lowered to it. A value
/// that is not an integer is 400 `invalidValue`.
pub fn parse_paging(start_index: Option<&str>, count: Option<&str>) -> Result<Paging, ScimError> {
    let int = |name: &str, v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| ScimError::invalid_value(format!("'{name}' must be an integer, got '{v}'")))
    };
    let mut p = Paging::default();
    if let Some(s) = start_index {
        p.start_index = usize::try_from(int("startIndex", s)?.max(1)).unwrap_or(usize::MAX);
    }
    if let Some(c) = count {
        p.count = usize::try_from(int("count", c)?.max(0)).unwrap_or(usize::MAX).min(COUNT_MAX);
    }
    Ok(p)
}

/// A query, from a GET's parameters or a `POST .search` body.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The filter, if any.
    pub filter: Option<Filter>,
    /// `attributes`: only these (and [`ALWAYS_RETURNED`]) are returned.
    pub attributes: Vec<AttrPath>,
    /// `excludedAttributes`: these are left out.
    pub excluded_attributes: Vec<AttrPath>,
    /// The page.
    pub paging: Paging,
}

/// A `POST /Users/.search` body (RFC 7644 §3.4.3). `sortBy` is refused with 400
/// `invalidValue`, since sorting is announced as unsupported.
pub fn parse_search_request(body: &Value) -> Result<Query, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax("the search body must be a JSON object"));
    };
    let listed = get_ci(obj, "schemas").and_then(Value::as_array).is_some_and(|s| {
        s.iter().any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(SEARCH_REQUEST_SCHEMA)))
    });
    if !listed {
        return Err(ScimError::invalid_syntax(format!("'schemas' must list \"{SEARCH_REQUEST_SCHEMA}\"")));
    }
    if get_ci(obj, "sortBy").is_some_and(|v| !v.is_null()) {
        return Err(ScimError::invalid_value("'sortBy': sorting is not supported"));
    }
    let filter = match get_ci(obj, "filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) => Some(Filter::parse(f)?),
        Some(_) => return Err(ScimError::invalid_filter("'filter' must be a string")),
    };
    let number = |name: &str| match get_ci(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ScimError::invalid_value(format!("'{name}' must be an integer"))),
    };
    let paging = parse_paging(number("startIndex")?.as_deref(), number("count")?.as_deref())?;
    Ok(Query {
        filter,
        attributes: attribute_array(obj, "attributes")?,
        excluded_attributes: attribute_array(obj, "excludedAttributes")?,
        paging,
    })
}

/// A query from GET parameters (each `None` when absent).
pub fn parse_query(
    filter: Option<&str>,
    attributes: Option<&str>,
    excluded_attributes: Option<&str>,
    start_index: Option<&str>,
    count: Option<&str>,
) -> Result<Query, ScimError> {
    Ok(Query {
        filter: filter.map(Filter::parse).transpose()?,
        attributes: attributes.map(parse_attribute_list).transpose()?.unwrap_or_default(),
        excluded_attributes: excluded_attributes.map(parse_attribute_list).transpose()?.unwrap_or_default(),
        paging: parse_paging(start_index, count)?,
    })
}

fn attribute_array(obj: &Map<String, Value>, name: &str) -> Result<Vec<AttrPath>, ScimError> {
    match get_ci(obj, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let strings = strings
                .ok_or_else(|| ScimError::invalid_value(format!("'{name}' must be an array of strings")))?;
            parse_attribute_list(&strings.join(","))
        }
        Some(Value::String(s)) => parse_attribute_list(s),
        Some(_) => Err(ScimError::invalid_value(format!("'{name}' must be an array of strings"))),
    }
}

/// A comma-separated list of attribute paths (`displayName,emails.value`); 400
/// `invalidValue` naming the bad path.
pub fn parse_attribute_list(text: &str) -> Result<Vec<AttrPath>, ScimError> {
    let parts: Vec<&str> = text.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    if parts.len() > ATTRIBUTES_MAX {
        return Err(ScimError::invalid_value(format!(
            "{} attribute paths listed, more than the {ATTRIBUTES_MAX} accepted",
            parts.len()
        )));
    }
    parts.into_iter().map(|p| AttrPath::parse(p).map_err(ScimError::invalid_value)).collect()
}

/// `resource` with only `attributes` (when not empty), or without `excluded` (when
/// `attributes` is empty); [`ALWAYS_RETURNED`] attributes stay either way.
pub fn project(resource: &Value, attributes: &[AttrPath], excluded: &[AttrPath]) -> Value {
    let Some(obj) = resource.as_object() else { return resource.clone() };
    if !attributes.is_empty() {
        return Value::Object(include(obj, attributes));
    }
    let mut out = obj.clone();
    for path in excluded.iter().filter(|p| !is_always(p)) {
        exclude(&mut out, path);
    }
    Value::Object(out)
}

fn is_always(path: &AttrPath) -> bool {
    path.is_core()
        && path.sub_attr.is_none()
        && ALWAYS_RETURNED.iter().any(|a| path.name.eq_ignore_ascii_case(a))
}

fn include(obj: &Map<String, Value>, attributes: &[AttrPath]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        if ALWAYS_RETURNED.iter().any(|a| k.eq_ignore_ascii_case(a)) {
            out.insert(k.clone(), v.clone());
        }
    }
    for path in attributes {
        let (src, dst) = match path.schema.as_ref().filter(|_| !path.is_core()) {
            Some(schema) => {
                let Some(Value::Object(ext)) = get_ci(obj, schema) else { continue };
                let key = key_ci(obj, schema).unwrap_or_else(|| schema.clone());
                let slot = out.entry(key).or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(dst) = slot else { continue };
                (ext, dst)
            }
            None => (obj, &mut out),
        };
        copy_path(src, dst, path);
    }
    out
}

/// Copies `path` (an attribute, or one sub-attribute of it) from `src` into `dst`.
fn copy_path(src: &Map<String, Value>, dst: &mut Map<String, Value>, path: &AttrPath) {
    let Some(key) = key_ci(src, &path.name) else { return };
    let Some(value) = src.get(&key) else { return };
    let Some(sub) = &path.sub_attr else {
        dst.insert(key, value.clone());
        return;
    };
    let pick = |v: &Value| -> Option<(String, Value)> {
        let o = v.as_object()?;
        let k = key_ci(o, sub)?;
        o.get(&k).map(|x| (k, x.clone()))
    };
    match value {
        Value::Object(_) => {
            if let Some((k, x)) = pick(value) {
                let slot = dst.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = slot {
                    o.insert(k, x);
                }
            }
        }
        Value::Array(items) => {
            let picked: Vec<Value> = items
                .iter()
                .filter_map(|item| pick(item).map(|(k, x)| Value::Object(Map::from_iter([(k, x)]))))
                .collect();
            if !picked.is_empty() {
                dst.insert(key, Value::Array(picked));
            }
        }
        _ => {}
    }
}

fn exclude(out: &mut Map<String, Value>, path: &AttrPath) {
    let target = match path.schema.as_ref().filter(|_| !path.is_core()) {
        Some(schema) => match get_ci_mut(out, schema) {
            Some(Value::Object(ext)) => ext,
            _ => return,
        },
        None => out,
    };
    match &path.sub_attr {
        None => {
            remove_ci(target, &path.name);
        }
        Some(sub) => match get_ci_mut(target, &path.name) {
            Some(Value::Object(o)) => {
                remove_ci(o, sub);
            }
            Some(Value::Array(items)) => items.iter_mut().filter_map(Value::as_object_mut).for_each(|o| {
                remove_ci(o, sub);
            }),
            _ => {}
        },
    }
}
