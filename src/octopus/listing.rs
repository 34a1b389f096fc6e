//! Reading an Octopus collection through every page ([`OctopusClient::all_pages`]): the one
//! paging rule ([`crate::paging`]) on each page, `skip` past a last page that lost its link,
//! and a listing that changed while it was read (Tentacles register during the very
//! scale-out the step serves) read again until one read is whole, within the step's time.

use super::*;
use crate::error::octopus::{Cut, Short};
use crate::paging::Pages;

/// Page size for target listings: most fleets fit in one page, and no page is huge.
pub const PAGE_SIZE: usize = 500;

/// An Octopus collection page. Older servers omit some fields, so all are optional; a listing
/// the step decides on refuses a page without `Items` ([`OctopusClient::all_pages`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    /// The items of this page (`None`: the page has no list at all).
    pub items: Option<Vec<T>>,
    /// How many items the whole collection has.
    pub total_results: Option<usize>,
    /// Links, `Page.Next` among them.
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// How many times one listing is read before it counts as never settling.
pub const MAX_PASSES: u32 = 8;

/// The pause before the second read of a listing that changed; it doubles for each further
/// read, up to [`MAX_PASS_PAUSE`], so a listing that keeps changing is not hammered.
const FIRST_PASS_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two reads of one listing.
const MAX_PASS_PAUSE: Duration = Duration::from_secs(4);

/// Why a listing that came up short is not read again.
#[derive(Debug, PartialEq, Eq)]
enum NoPass {
    /// The pass held exactly what the one before did, short of the same count: the server's
    /// count or paging is wrong, and reading again will not change it.
    Unchanged,
    /// [`MAX_PASSES`] reads, none whole.
    TooMany,
    /// The pause would end past the step's time (`left` of the calls' time).
    OutOfTime,
}

/// After read number `pass` of a listing came up short: how long to pause before reading it
/// again, or why not to. `changed`: the pass differed from the one before (or was the first);
/// `left`: what is left of the calls' time (`None`: unlimited).
fn next_pass(pass: u32, changed: bool, left: Option<Duration>) -> Result<Duration, NoPass> {
    if !changed {
        return Err(NoPass::Unchanged);
    }
    if pass >= MAX_PASSES {
        return Err(NoPass::TooMany);
    }
    let pause = FIRST_PASS_PAUSE
        .saturating_mul(1 << (pass - 1).min(16))
        .min(MAX_PASS_PAUSE);
    match left {
        Some(left) if pause >= left => Err(NoPass::OutOfTime),
        _ => Ok(pause),
    }
}

/// A listing whose paging cannot be trusted: nothing may be decided on it.
fn paging_failure(doing: &str, cut: Cut) -> Failure {
    OctopusRefusal::PagingCut {
        doing: doing.to_string(),
        cut,
    }
    .into_failure()
}

/// Items that can be de-duplicated across pages.
pub trait HasId {
    /// The Octopus document id.
    fn id(&self) -> &str;
}

fn skip_of(url: &Url) -> usize {
    url.query_pairs()
        .find(|(k, _)| k == "skip")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn with_skip(url: &Url, skip: usize) -> Url {
    let mut next = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "skip")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("skip", &skip.to_string());
    next
}

impl OctopusClient {
    /// Reads a collection through every page, de-duplicating items by `Id`. A listing the
    /// step decides on must be whole, so paging that is cut short fails instead of ending:
    /// - a `Page.Next` that may not be followed (another origin: the API key stays home) or
    ///   does not advance (a link already read, a page with nothing new), or a page without
    ///   `Items`, is an error naming the server's paging;
    /// - a last page without `Page.Next` while `TotalResults` says more items exist (Octopus
    ///   2023.1 did this, OctopusDeploy/Issues#8112; old servers send no links at all) pages on
    ///   by `skip`;
    /// - a pass still short of its `TotalResults` was read while the list changed (Tentacles
    ///   register during the very scale-out the step serves, shifting the pages): the listing
    ///   is read again, after a pause (`next_pass`), until one pass is whole. It fails, naming
    ///   the paging, when a pass comes up short exactly as the one before (the server's count
    ///   is wrong, not changing), after [`MAX_PASSES`], or when the step's time
    ///   (the calls' [`StepEnd`]) would run out first.
    pub async fn all_pages<T: DeserializeOwned + HasId>(
        &self,
        first: Url,
        doing: &str,
    ) -> Result<Vec<T>, Failure> {
        // The pass before, when it came up short: its count and the ids it held.
        let mut previous: Option<(usize, HashSet<String>)> = None;
        let mut pass = 1;
        loop {
            let short = |total: usize, held: usize, why: Short| {
                OctopusRefusal::PagingShort {
                    doing: doing.to_string(),
                    total,
                    held,
                    why,
                }
                .into_failure()
            };
            let (items, ids, total) = match self.one_pass(&first, doing).await {
                Ok(read) => read,
                // Time ran out while the listing was read again: it is still the paging that
                // left it incomplete.
                Err(f) if f.kind == FailureKind::Timeout && self.ends.spent() => {
                    return Err(match &previous {
                        Some((total, before)) => {
                            short(*total, before.len(), Short::TimeRanOut { read: pass })
                        }
                        None => f,
                    })
                }
                Err(f) => return Err(f),
            };
            let Some(total) = total.filter(|t| ids.len() < *t) else {
                return Ok(items);
            };
            let changed = previous
                .as_ref()
                .is_none_or(|(t, before)| *t != total || *before != ids);
            let pause = match next_pass(pass, changed, self.ends.remaining()) {
                Ok(pause) => pause,
                Err(NoPass::Unchanged) => return Err(short(total, ids.len(), Short::Twice)),
                Err(NoPass::TooMany) => {
                    return Err(short(total, ids.len(), Short::KeptChanging { reads: pass }))
                }
                Err(NoPass::OutOfTime) => {
                    return Err(short(
                        total,
                        ids.len(),
                        Short::KeptChangingPastTime { reads: pass },
                    ))
                }
            };
            self.reporter.verbose(&format!(
                "Octopus counted {total} items but the pages held {} while trying to {doing} (the list changed while it was read): reading it again in {:.1}s.",
                ids.len(),
                pause.as_secs_f64()
            ));
            tokio::time::sleep(pause).await;
            previous = Some((total, ids));
            pass += 1;
        }
    }

    /// Reads every page once: the pass's items (each once), their ids, and the last page's
    /// `TotalResults`.
    async fn one_pass<T: DeserializeOwned + HasId>(
        &self,
        first: &Url,
        doing: &str,
    ) -> Result<(Vec<T>, HashSet<String>, Option<usize>), Failure> {
        let mut url = first.clone();
        // The one paging rule ([`crate::paging`]): a page without `Items`, a page of items
        // already listed, or a link already read fails the listing.
        let mut rule = Pages::starting_at(first.as_str());
        let mut out = Vec::new();
        let mut in_pass = HashSet::new();
        loop {
            let page: Page<T> = self.get_json(&url, doing).await?;
            let total = page.total_results;
            let ids: Option<Vec<String>> = page
                .items
                .as_ref()
                .map(|items| items.iter().map(|i| i.id().to_string()).collect());
            let items = page.items.unwrap_or_default();
            let count = items.len();
            for item in items {
                if in_pass.insert(item.id().to_string()) {
                    out.push(item);
                }
            }
            let next = match page.links.get("Page.Next") {
                Some(link) => match self.next_page(first, link) {
                    Ok(next) => Some(next),
                    Err(cut) => return Err(paging_failure(doing, cut)),
                },
                // No Page.Next: done, unless the count says more items exist (a server that
                // dropped the link): page on by skip, always forward.
                None => {
                    let skip = skip_of(&url) + count;
                    match total {
                        Some(total) if count > 0 && in_pass.len() < total && skip < total => {
                            Some(with_skip(&url, skip))
                        }
                        _ => None,
                    }
                }
            };
            let ids = ids.as_ref().map(|v| v.iter().map(String::as_str));
            match rule.advance(ids, next.as_ref().map(Url::as_str)) {
                Err(fault) => return Err(paging_failure(doing, Cut::Rule(fault.to_string()))),
                Ok(Some(_)) => url = next.expect("the rule follows only a link it was given"),
                Ok(None) => return Ok((out, in_pass, total)),
            }
        }
    }

    /// Where a `Page.Next` link leads: resolved against the configured server ([`Self::link`]),
    /// with any parameter of the first request that the server left out put back. Octopus
    /// rebuilds the link from the parameters its route declares; one it drops would make page
    /// 2 a page of a different, unfiltered collection. A link the step may not follow (another
    /// origin) is an error saying why: the listing is cut short, never finished.
    fn next_page(&self, first: &Url, link: &str) -> Result<Url, Cut> {
        let Some(mut next) = self.link(link) else {
            return Err(Cut::LeadsAway {
                link: crate::output::printable(link).into_owned(),
                home: self.base.origin().ascii_serialization(),
            });
        };
        let kept: HashSet<String> = next.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let dropped: Vec<(String, String)> = first
            .query_pairs()
            .filter(|(k, _)| k != "skip" && !kept.contains(k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !dropped.is_empty() {
            next.query_pairs_mut().extend_pairs(dropped);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::octopus::tests::client;

    #[test]
    fn a_page_next_link_keeps_every_parameter_of_the_first_request() {
        let c = client("https://octo.example.com/octopus/", Some("Spaces-1"));
        let first = c.api("machines?environmentIds=Environments-1&roles=web&skip=0&take=500");
        // Octopus keeps only the parameters its route declares.
        let next = c
            .next_page(
                &first,
                "/octopus/api/Spaces-1/machines?skip=500&take=500&roles=web",
            )
            .expect("followed");
        assert_eq!(
            next.as_str(),
            "https://octo.example.com/octopus/api/Spaces-1/machines?skip=500&take=500&roles=web&environmentIds=Environments-1"
        );
        // Another origin is refused, never taken for the last page.
        assert!(c
            .next_page(
                &first,
                "https://elsewhere.example.com/octopus/api/Spaces-1/machines?skip=500"
            )
            .is_err());
    }

    #[test]
    fn a_listing_that_changed_is_read_again_with_growing_pauses_within_its_time() {
        let ms = Duration::from_millis;
        assert_eq!(next_pass(1, true, None), Ok(ms(250)));
        assert_eq!(next_pass(2, true, None), Ok(ms(500)));
        assert_eq!(next_pass(5, true, Some(ms(60_000))), Ok(ms(4000)));
        assert_eq!(next_pass(7, true, None), Ok(ms(4000)));
        // Short exactly as before: the count is wrong, reading again changes nothing.
        assert_eq!(next_pass(1, false, None), Err(NoPass::Unchanged));
        assert_eq!(next_pass(MAX_PASSES, true, None), Err(NoPass::TooMany));
        // The pause must end inside the step's time.
        assert_eq!(next_pass(3, true, Some(ms(999))), Err(NoPass::OutOfTime));
        assert_eq!(next_pass(3, true, Some(ms(1001))), Ok(ms(1000)));
    }

    #[test]
    fn paging_on_by_skip_replaces_the_skip_and_keeps_every_other_parameter() {
        let u = Url::parse("http://x/api/machines?roles=a%2Cb&skip=0&take=500").unwrap();
        assert_eq!(
            with_skip(&u, 500).as_str(),
            "http://x/api/machines?roles=a%2Cb&take=500&skip=500"
        );
    }

    #[test]
    fn task_pages_from_an_old_server_deserialize() {
        // A real capture from OctopusClients: BOM, no NumberOfPages, relative Page.Next.
        let raw = include_bytes!("../../tests/fixtures/octopus/tasks.skip=0.GET.json");
        assert!(
            raw.starts_with(b"\xEF\xBB\xBF"),
            "the capture keeps its BOM"
        );
        // Read as the client reads every body: the BOM skipped first.
        let text = std::str::from_utf8(crate::http::without_bom(raw)).unwrap();
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Task {
            id: String,
        }
        let page: Page<Task> = serde_json::from_str(text).unwrap();
        assert_eq!(page.total_results, Some(139));
        let items = page.items.expect("Items");
        assert_eq!(items.len(), 30);
        assert!(items[0].id.starts_with("ServerTasks-"));
        assert_eq!(
            page.links["Page.Next"],
            "/api/machines/Machines-1/tasks?skip=30"
        );
    }
}
