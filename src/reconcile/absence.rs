//! The proof of absence: a target whose VM is not listed is removed only when two listings
//! missed it and the reads (the set's resource group, its standby pools) found it nowhere.

use super::{host_name, Plan, Prefix, RemovalReason, Target};
use std::collections::{HashMap, HashSet};

/// Why a target whose VM is not listed was kept: which proof of absence failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unproven {
    /// The wait's last listing of the set had it (not `Deleting`): one listing may miss a VM
    /// when pages shift during a scale-in.
    ListedBefore {
        /// The scale set.
        scale_set: String,
    },
    /// The wait's last check did not list the set (it was itself changing): there is no
    /// second listing to confirm the first.
    NoEarlierListing {
        /// The scale set.
        scale_set: String,
    },
    /// A VM of the set's resource group outside the set has its name (detached from the set).
    InGroup {
        /// That VM's resource name.
        vm: String,
    },
    /// A standby pool attached to the set holds a VM with its name.
    InPool {
        /// The pool's name.
        pool: String,
    },
    /// A proof could not be read; the sentence names what to grant.
    Unreadable(String),
}

impl std::fmt::Display for Unproven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unproven::ListedBefore { scale_set } => write!(
                f,
                "the previous listing of scale set {scale_set} had its VM, so one listing's word is not enough"
            ),
            Unproven::NoEarlierListing { scale_set } => write!(
                f,
                "scale set {scale_set} was listed only once, so its VM's absence is not confirmed"
            ),
            Unproven::InGroup { vm } => write!(
                f,
                "VM {vm} of the resource group has its name (detached from the scale set?)"
            ),
            Unproven::InPool { pool } => {
                write!(f, "a VM of standby pool {pool} has its name")
            }
            Unproven::Unreadable(why) => write!(f, "its absence could not be checked: {why}"),
        }
    }
}

/// What the reads of the proof of absence found for one scale set (by resource id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Flexible sets: the host names of the resource group's VMs that are not `Deleting`, each
    /// with its VM's name; `Err` says why the listing could not be read. `None`: not read
    /// (Uniform sets, whose VMs cannot leave them).
    pub group: Option<Result<HashMap<String, String>, String>>,
    /// The host names of the VMs of standby pools attached to the set, each with its pool;
    /// `Err` says why they could not be read.
    pub pools: Result<HashMap<String, String>, String>,
}

/// The host names each set's earlier listing (the wait's last check) had, not `Deleting`, by
/// set id; a set missing here was not listed then.
pub type EarlierListings = HashMap<String, HashSet<String>>;

/// The sets lending a shape to a planned `NoInstance` removal.
pub(super) fn lenders<'a>(prefixes: &'a [Prefix], target: &Target) -> Vec<&'a Prefix> {
    let host = host_name(&target.name);
    prefixes.iter().filter(|p| p.names(&host)).collect()
}

/// The contract's first proof, from the listings alone: a target whose VM is not listed is
/// kept unless every set lending its shape was listed before and missed it then too.
pub(super) fn unproven_by_listings(
    prefixes: &[Prefix],
    earlier: &EarlierListings,
    target: &Target,
) -> Option<Unproven> {
    let host = host_name(&target.name);
    lenders(prefixes, target)
        .into_iter()
        .find_map(|p| match earlier.get(&p.set_id) {
            None => Some(Unproven::NoEarlierListing {
                scale_set: p.scale_set.clone(),
            }),
            Some(hosts) if hosts.contains(&host) => Some(Unproven::ListedBefore {
                scale_set: p.scale_set.clone(),
            }),
            Some(_) => None,
        })
}

/// Applies the listings' proof, and returns the sets whose remaining removals need the reads
/// (the resource group's VMs, the standby pools): empty when nothing is left to remove, so a
/// run that removes nothing reads nothing more.
pub fn prove_by_listings(
    plan: &mut Plan,
    prefixes: &[Prefix],
    earlier: &EarlierListings,
) -> Vec<Prefix> {
    plan.prove(|t| unproven_by_listings(prefixes, earlier, t));
    let mut sets: Vec<Prefix> = Vec::new();
    for (t, reason) in plan.removals() {
        if matches!(reason, RemovalReason::NoInstance { .. }) {
            for p in lenders(prefixes, t) {
                if !sets.iter().any(|s| s.set_id == p.set_id) {
                    sets.push(p.clone());
                }
            }
        }
    }
    sets
}

/// Applies the reads' proofs: a target is removed only if no set lending its shape has a VM
/// of that name outside its listing (its resource group, its standby pools), and each of
/// those proofs could be read. Evidence missing for a set counts as unreadable.
pub fn prove_by_reads(plan: &mut Plan, prefixes: &[Prefix], evidence: &HashMap<String, Evidence>) {
    plan.prove(|t| {
        let host = host_name(&t.name);
        lenders(prefixes, t).into_iter().find_map(|p| {
            let Some(e) = evidence.get(&p.set_id) else {
                return Some(Unproven::Unreadable(format!(
                    "the reads for scale set {} did not finish within the step's time",
                    p.scale_set
                )));
            };
            let in_group = match &e.group {
                Some(Err(why)) => return Some(Unproven::Unreadable(why.clone())),
                Some(Ok(vms)) => vms
                    .get(&host)
                    .map(|vm| Unproven::InGroup { vm: vm.clone() }),
                None => None,
            };
            let in_pool = match &e.pools {
                Err(why) => return Some(Unproven::Unreadable(why.clone())),
                Ok(vms) => vms
                    .get(&host)
                    .map(|pool| Unproven::InPool { pool: pool.clone() }),
            };
            in_pool.or(in_group)
        })
    });
}
