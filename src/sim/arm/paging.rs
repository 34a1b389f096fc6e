//! ARM's list pages, with their paging broken as the world says.

use super::*;

/// One page of a list. Its `nextLink` is written the way ARM writes it for these lists: an
/// absolute URL with the `$filter` unencoded (spaces and quotes as they are), a `$skiptoken`
/// holding `!` and `/`, and no `$expand`.
///
/// Only the page's items are rendered: building every VM's JSON (instance view included) for
/// each page made a 1,000-VM listing cost the simulator ten times what it costs Azure's
/// client, and the benchmark measured the simulator.
pub(super) fn page<T>(
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
    items: &[T],
    page_size: usize,
    paging: Option<Paging>,
    render: impl Fn(&T) -> Value,
) -> Value {
    // The next page is at the api-version the listing was asked at, as Azure writes it.
    let version = match q.get("api-version").map(String::as_str) {
        Some(NEWER_API_VERSION) => NEWER_API_VERSION,
        _ => API_VERSION,
    };
    page_with(base, path, q, items, page_size, (version, paging), render)
}

/// [`page`] for an API of another api-version, its paging broken as the world says.
pub(super) fn page_with<T>(
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
    items: &[T],
    page_size: usize,
    (api_version, paging): (&str, Option<Paging>),
    render: impl Fn(&T) -> Value,
) -> Value {
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|s| s.split('!').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if paging == Some(Paging::Listless) {
        let mut itself = format!(
            "{}{}?api-version={api_version}",
            base.trim_end_matches('/'),
            path
        );
        if let Some(token) = q.get("$skiptoken") {
            itself.push_str(&format!("&$skiptoken={token}"));
        }
        return object([("nextLink", Value::String(itself))]);
    }
    let end = (skip + page_size).min(items.len());
    let value: Vec<Value> = items
        .get(skip..end)
        .unwrap_or(&[])
        .iter()
        .map(render)
        .collect();
    let mut body = object([("value", Value::Array(value))]);
    if end < items.len() {
        let mut next = format!(
            "{}{}?api-version={api_version}",
            base.trim_end_matches('/'),
            path
        );
        if let Some(f) = q.get("$filter") {
            next.push_str(&format!("&$filter={f}"));
        }
        let to = match paging {
            Some(Paging::Repeats) => skip,
            _ => end,
        };
        next.push_str(&format!("&$skiptoken={to}!/Subscriptions/page/{to}"));
        if paging == Some(Paging::OtherOrigin) {
            let path = next.split_once("://").map_or("", |(_, r)| r);
            let path = path.find('/').map_or("", |i| &path[i..]);
            next = format!("https://management.elsewhere.example{path}");
        }
        body["nextLink"] = Value::String(next);
    }
    body
}
