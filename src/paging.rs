//! One paging rule for every listing the step decides on, Azure's and Octopus's.
//!
//! A listing that is cut short must never pass for a whole one: a target would be removed on
//! the strength of a VM that was on a page nobody read. So a listing fails, naming the
//! server's paging, when a page:
//! - comes without its list (no `value`, no `Items`): nothing says what it held;
//! - holds only items already listed, or links back to a page already read: the paging goes
//!   round in circles (a misbehaving server or proxy), and following it would never end;
//! - links to another server (checked where links are resolved, by each side: the API key and
//!   the bearer token stay home), which [`PageFault::Elsewhere`] words.
//!
//! [`Pages`] is the rule, fed one page at a time; [`whole`] is the one loop that drives it over
//! a stream of pages (the compute SDK's, or [`crate::absence`]'s JSON reads).

use futures::{Stream, StreamExt};
use std::collections::HashSet;

/// Why a listing's paging cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageFault {
    /// A page without its list of items.
    #[error("a page came without its list of items")]
    NoList,
    /// A page whose items were all listed before.
    #[error("a page repeated items already listed")]
    Repeats,
    /// A next-page link already followed.
    #[error("its next-page link leads back to a page already read ({0})")]
    LinkRepeats(String),
    /// A next-page link to another server, not followed.
    #[error("its next-page link ({link}) leads away from {home}, and credentials are sent to no other server")]
    Elsewhere {
        /// The link, made printable.
        link: String,
        /// The origin it should have stayed on.
        home: String,
    },
}

/// The rule, one page at a time: what a listing has read so far.
#[derive(Debug, Default)]
pub struct Pages {
    links: HashSet<String>,
    ids: HashSet<String>,
}

impl Pages {
    /// A listing whose first request was `first`: a link back to it does not advance either.
    pub fn starting_at(first: &str) -> Pages {
        Pages {
            links: HashSet::from([first.to_string()]),
            ids: HashSet::new(),
        }
    }

    /// Takes one page: its items' ids (`None` when the page has no list at all) and its
    /// next-page link. Returns the link to follow, or `None` on the last page. Ids compare
    /// ignoring case (Azure's resource ids do).
    pub fn advance<'a>(
        &mut self,
        ids: Option<impl IntoIterator<Item = &'a str>>,
        next: Option<&str>,
    ) -> Result<Option<String>, PageFault> {
        let ids = ids.ok_or(PageFault::NoList)?;
        let (mut items, mut new) = (0usize, 0usize);
        for id in ids {
            items += 1;
            new += usize::from(self.ids.insert(id.to_ascii_lowercase()));
        }
        if items > 0 && new == 0 {
            return Err(PageFault::Repeats);
        }
        match next.map(str::trim).filter(|l| !l.is_empty()) {
            None => Ok(None),
            Some(link) if !self.links.insert(link.to_string()) => Err(PageFault::LinkRepeats(
                crate::text::printable(link).into_owned(),
            )),
            Some(link) => Ok(Some(link.to_string())),
        }
    }
}

/// A page of a listing, as [`whole`] reads it.
pub trait Page {
    /// What the page lists.
    type Item;
    /// The items' ids, or `None` when the page has no list.
    fn ids(&self) -> Option<Vec<&str>>;
    /// The next page's link, if any.
    fn next_link(&self) -> Option<&str>;
    /// The items, taken out.
    fn into_items(self) -> Vec<Self::Item>;
}

/// How reading a listing failed: a page could not be read, or the paging cannot be trusted.
#[derive(Debug)]
pub enum Cut<E> {
    /// Reading a page failed.
    Read(E),
    /// The paging broke the rule.
    Paging(PageFault),
}

/// Reads every page of a listing through the rule: the one page loop of every Azure listing.
/// The stream fetches the next page only when polled, so a page that breaks the rule ends the
/// listing before its link is followed. `keep` turns each item into what the caller keeps (or
/// drops it) as its page arrives, so a listing of thousands of VMs never holds every page's
/// models at once; an error from it fails the listing as a failed read.
pub async fn whole<P, E, T>(
    pages: impl Stream<Item = Result<P, E>>,
    mut rule: Pages,
    mut keep: impl FnMut(P::Item) -> Result<Option<T>, E>,
) -> Result<Vec<T>, Cut<E>>
where
    P: Page,
{
    futures::pin_mut!(pages);
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(Cut::Read)?;
        let more = rule
            .advance(page.ids(), page.next_link())
            .map_err(Cut::Paging)?;
        for item in page.into_items() {
            if let Some(kept) = keep(item).map_err(Cut::Read)? {
                out.push(kept);
            }
        }
        if more.is_none() {
            break;
        }
    }
    Ok(out)
}

/// Every item, as it comes: the `keep` of a listing that keeps them all.
pub fn all<I, E>(item: I) -> Result<Option<I>, E> {
    Ok(Some(item))
}

/// A JSON page of an ARM list (`value`, `nextLink`).
impl Page for serde_json::Value {
    type Item = serde_json::Value;
    fn ids(&self) -> Option<Vec<&str>> {
        let items = self.get("value")?.as_array()?;
        Some(
            items
                .iter()
                .filter_map(|i| i.get("id").and_then(serde_json::Value::as_str))
                .collect(),
        )
    }
    fn next_link(&self) -> Option<&str> {
        self.get("nextLink").and_then(serde_json::Value::as_str)
    }
    fn into_items(mut self) -> Vec<serde_json::Value> {
        match self.get_mut("value").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(ids: &[&str], next: Option<&str>) -> serde_json::Value {
        let value: Vec<_> = ids.iter().map(|i| json!({ "id": i })).collect();
        match next {
            Some(n) => json!({ "value": value, "nextLink": n }),
            None => json!({ "value": value }),
        }
    }

    async fn read(pages: Vec<serde_json::Value>) -> Result<usize, PageFault> {
        let stream = futures::stream::iter(pages.into_iter().map(Ok::<_, ()>));
        match whole(stream, Pages::starting_at("https://arm/first"), all).await {
            Ok(items) => Ok(items.len()),
            Err(Cut::Paging(f)) => Err(f),
            Err(Cut::Read(())) => unreachable!(),
        }
    }

    #[tokio::test]
    async fn pages_that_advance_are_read_whole() {
        let pages = vec![
            page(&["a", "b"], Some("https://arm/2")),
            page(&[], Some("https://arm/3")),
            page(&["C"], Some("")),
        ];
        assert_eq!(read(pages).await, Ok(3));
    }

    #[tokio::test]
    async fn a_page_without_its_list_fails_the_listing_before_its_link_is_followed() {
        // A page with no `value` linking to itself: followed, it would never end.
        let pages = vec![json!({ "nextLink": "https://arm/first" }); 5];
        assert_eq!(read(pages).await, Err(PageFault::NoList));
    }

    #[tokio::test]
    async fn a_link_back_to_a_page_already_read_fails_the_listing() {
        let pages = vec![
            page(&["a"], Some("https://arm/2")),
            page(&["b"], Some("https://arm/first")),
        ];
        assert!(matches!(read(pages).await, Err(PageFault::LinkRepeats(_))));
        let pages = vec![
            page(&[], Some("https://arm/2")),
            page(&[], Some("https://arm/2")),
        ];
        assert!(matches!(read(pages).await, Err(PageFault::LinkRepeats(_))));
    }

    #[tokio::test]
    async fn a_page_of_items_already_listed_fails_the_listing() {
        let pages = vec![
            page(&["a", "b"], Some("https://arm/2")),
            page(&["B", "a"], Some("https://arm/3")),
        ];
        assert_eq!(read(pages).await, Err(PageFault::Repeats));
    }
}
