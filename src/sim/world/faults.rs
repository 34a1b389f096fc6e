//! What can go wrong in the simulated world: injected faults, broken paging, Azure's read
//! budget.

use super::*;

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Answer this many ARM requests with 429 first.
    pub arm_throttles: u32,
    /// The `Retry-After` seconds sent with ARM 429s.
    pub arm_retry_after: u64,
    /// Answer this many Octopus requests with 503 first.
    pub octopus_unavailable: u32,
    /// Answer DELETEs of these target ids with 403.
    pub forbid_delete: Vec<String>,
    /// Serve this body for the resource group's VM list instead of the simulated VMs.
    pub vm_list_body: Option<serde_json::Value>,
    /// Accept these services' requests after the first `n` of each, and never answer them.
    pub hang: Vec<(Service, usize)>,
    /// After this many target listings (pages) have been answered, these targets register:
    /// a scale-out going on while the step pages through the targets.
    pub register_after_pages: Option<(usize, Vec<String>)>,
    /// A registration storm `(per_page, pages)`: after each of the first `pages` target-listing
    /// pages answered, the next `per_page` targets not registered yet (in name order) register,
    /// as Tentacles do throughout the scale-out the step serves, across several passes of the
    /// listing.
    pub registration_storm: Option<(usize, usize)>,
    /// Answer every DELETE of a target with 503 and this `Retry-After` (seconds).
    pub delete_unavailable: Option<u64>,
    /// Take this long over every DELETE, as a busy server does: concurrent deletes overlap.
    pub delete_delay: Option<Duration>,
    /// Answer every Resource Manager request with this status, error code and message.
    pub arm_error: Option<(u16, String, String)>,
    /// Break Octopus's target listing's paging this way.
    pub octopus_paging: Option<Paging>,
    /// Break Resource Manager's instance listings' paging this way (`OtherOrigin`, `Repeats`).
    pub arm_paging: Option<Paging>,
    /// Answer this many Octopus requests with 429 and a `Retry-After` of 1 s, as Octopus
    /// 2026.3's API rate limit does.
    pub octopus_throttles: u32,
    /// Start every JSON body (success and error, both servers) with a UTF-8 byte-order mark.
    pub byte_order_marks: bool,
    /// Ignore the task list's filters (project, environment, tenant, runbook), as servers do
    /// with filters they do not know: the client's own confirmation must catch the rest.
    pub ignore_task_filters: bool,
    /// Leave the VM with this computer name out of the `n`-th listing (1-based) of its scale
    /// set, for each pair: a paged listing taken while a scale-in shifts the pages misses a VM
    /// that is there (a flicker: missed, listed, missed again).
    pub listing_misses: Vec<(String, usize)>,
    /// Resource Manager routes that fail for a while (a pool listing answering 500, a
    /// rolling-upgrade read throttled past the deadline).
    pub arm_faults: Vec<ArmFault>,
    /// Break the StandbyPool listings' paging this way (`Listless`: a page without `value`
    /// whose `nextLink` leads back to itself).
    pub standby_paging: Option<Paging>,
    /// Take this long over every Octopus answer (a slow server, each answer inside the
    /// request timeout).
    pub octopus_delay: Option<Duration>,
    /// Answer the subscription-wide standby pool listing with this status, code and message
    /// (403: the account may read only some resource groups; 409
    /// `MissingSubscriptionRegistration`: no `Microsoft.StandbyPool` provider).
    pub standby_subscription_error: Option<(u16, String, String)>,
    /// Answer every other StandbyPool request (a group's pools, a pool's VMs) with this.
    pub standby_group_error: Option<(u16, String, String)>,
}

/// A Resource Manager route that fails for a while: from its `after`-th request on (0: the
/// first), `times` of its requests are answered with this status and ARM error body.
#[derive(Debug, Clone)]
pub struct ArmFault {
    /// Which requests: a test of the request's path, lower-cased.
    pub matches: fn(&str) -> bool,
    /// How many matching requests are answered first.
    pub after: u32,
    /// How many matching requests then fail.
    pub times: u32,
    /// The status, ARM error code and message.
    pub status: u16,
    /// The ARM error code.
    pub code: String,
    /// The ARM error message.
    pub message: String,
    /// `Retry-After` seconds, if any.
    pub retry_after: Option<u64>,
    /// How many matching requests came so far.
    pub seen: u32,
}

impl ArmFault {
    /// Every request `matches` accepts fails with this answer.
    pub fn new(matches: fn(&str) -> bool, status: u16, code: &str, message: &str) -> ArmFault {
        ArmFault {
            matches,
            after: 0,
            times: u32::MAX,
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            seen: 0,
        }
    }

    /// Only after this many matching requests were answered.
    pub fn after(mut self, n: u32) -> ArmFault {
        self.after = n;
        self
    }

    /// Only this many times.
    pub fn times(mut self, n: u32) -> ArmFault {
        self.times = n;
        self
    }

    /// With a `Retry-After`.
    pub fn retry_after(mut self, seconds: u64) -> ArmFault {
        self.retry_after = Some(seconds);
        self
    }

    /// The subscription-wide standby pool listing.
    pub fn subscription_pools(path: &str) -> bool {
        !path.contains("/resourcegroups/")
            && path.ends_with("/providers/microsoft.standbypool/standbyvirtualmachinepools")
    }

    /// A scale set's latest rolling upgrade.
    pub fn rolling_upgrades(path: &str) -> bool {
        path.ends_with("/rollingupgrades/latest")
    }
}

/// Compute's read budget for one subscription: for each kind of read, a 3-minute and a
/// 30-minute token bucket refilling continuously, as Azure reports them in
/// `x-ms-ratelimit-remaining-resource`. A minute lasts `minute`, so a test or benchmark can run
/// the windows in seconds.
#[derive(Debug, Clone)]
pub struct ReadBudget {
    /// How long a minute of the windows lasts.
    pub minute: Duration,
    /// Per kind (`GetVMScaleSet`, `HighCostGetVMScaleSet`): the 3- and 30-minute limits.
    pub limits: Vec<(String, u32, u32)>,
    /// Tokens left per bucket name, as of when.
    tokens: HashMap<String, (f64, Instant)>,
    /// Requests answered 429 for want of budget.
    pub throttled: u32,
}

/// The bucket a scale-set read draws from.
pub const SCALE_SET_READS: &str = "GetVMScaleSet";

/// The bucket an instance listing (any page) draws from.
pub const LISTINGS: &str = "HighCostGetVMScaleSet";

impl ReadBudget {
    /// Azure's limits as seen in the field: about 200 scale-set reads and 190 listings per
    /// 3 minutes, 1,300 and 900 per 30 minutes.
    pub fn azure(minute: Duration) -> ReadBudget {
        ReadBudget {
            minute,
            limits: vec![
                (SCALE_SET_READS.into(), 200, 1300),
                (LISTINGS.into(), 190, 900),
            ],
            tokens: HashMap::new(),
            throttled: 0,
        }
    }

    /// Spends one read of `kind`. `Ok(lines)` with what is left, one
    /// `x-ms-ratelimit-remaining-resource` value per policy, the scarcest first;
    /// `Err((retry_after, lines))` when a bucket is empty: nothing is spent, and the client is
    /// told when one token is back.
    pub fn spend(&mut self, kind: &str, now: Instant) -> Result<Vec<String>, (u64, Vec<String>)> {
        let Some((_, three, thirty)) = self.limits.iter().find(|(k, _, _)| k == kind).cloned()
        else {
            return Ok(Vec::new());
        };
        let buckets = [(3u32, three), (30u32, thirty)];
        let mut wait = Duration::ZERO;
        let mut levels = Vec::new();
        for (minutes, limit) in buckets {
            let name = format!("Microsoft.Compute/{kind}{minutes}Min");
            let window = self.minute * minutes;
            let rate = f64::from(limit) / window.as_secs_f64();
            let (tokens, at) = self
                .tokens
                .get(&name)
                .copied()
                .unwrap_or((f64::from(limit), now));
            let tokens = (tokens + rate * now.saturating_duration_since(at).as_secs_f64())
                .min(f64::from(limit));
            if tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - tokens) / rate));
            }
            levels.push((name, tokens, minutes));
        }
        // The scarcest bucket first: the one whose tokens must last longest each (its window
        // over what is left), where a client keeping one value per header name misses it.
        let header = |levels: &[(String, f64, u32)]| {
            let mut lines: Vec<(f64, String)> = levels
                .iter()
                .map(|(n, t, minutes)| {
                    let scarcity = f64::from(*minutes) / t.max(0.5);
                    (scarcity, format!("{n};{}", t.floor().max(0.0) as u64))
                })
                .collect();
            lines.sort_by(|a, b| b.0.total_cmp(&a.0));
            lines.into_iter().map(|(_, l)| l).collect::<Vec<_>>()
        };
        if !wait.is_zero() {
            self.throttled += 1;
            for (name, tokens, _) in &levels {
                self.tokens.insert(name.clone(), (*tokens, now));
            }
            return Err((wait.as_secs_f64().ceil() as u64, header(&levels)));
        }
        for (name, tokens, _) in levels.iter_mut() {
            *tokens -= 1.0;
            self.tokens.insert(name.clone(), (*tokens, now));
        }
        Ok(header(&levels))
    }
}

/// Ways a server's paging goes wrong (each seen from real servers or proxies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// The next-page link points at another origin (a server whose own address differs from
    /// the step's, or a proxy rewriting links).
    OtherOrigin,
    /// The next-page link leads back to the page just read.
    Repeats,
    /// The first page has no `Page.Next` although `TotalResults` counts more items (Octopus
    /// 2023.1 on tenants, OctopusDeploy/Issues#8112): the rest is there by `skip`.
    NoNextAfterFirst,
    /// `TotalResults` counts this many more items than any page will ever hold.
    Overcount(usize),
    /// A page without its list (`value`) whose next-page link leads back to itself.
    Listless,
    /// Every page after the first comes without its list (Octopus's `Items`), as a proxy that
    /// cuts a body short or an error page dressed as a collection does.
    WithoutList,
}

/// How an Octopus Server writes `Links`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStyle {
    /// `/octopus/api/...`: from the origin, with the server's path prefix.
    Rooted,
    /// `~/api/...`: relative to the server's root, as Octopus's own resources write them.
    Virtual,
    /// `/api/...` without the path prefix: a server behind a reverse proxy that serves it
    /// under a path the server does not know about.
    WithoutPrefix,
}
