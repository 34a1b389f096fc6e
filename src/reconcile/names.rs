//! Computer names: a scale set's prefix and the shape of its VMs' names, and names several
//! VMs share (specialized images).

use super::{Instance, InstanceState};

/// A scale set's computer-name prefix, lent to the plan when the set's listing can be trusted
/// to be complete (see the step's empty-listing rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// The scale set.
    pub scale_set: String,
    /// Its resource id.
    pub set_id: String,
    /// `virtualMachineProfile.osProfile.computerNamePrefix`, non-empty.
    pub prefix: String,
}

/// Why a scale set that listed no VMs lends no prefix: such a listing cannot show which
/// targets are stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedNone {
    /// It says it has this many VMs: more likely a listing problem than an empty fleet, so
    /// nothing is removed on its word.
    WithCapacity(i64),
    /// It reports no capacity at all (a Flexible set without a VM profile).
    WithoutCapacity,
}

/// The contract's empty-listing rule, per scale set: a set that listed `listed` VMs and scales
/// to `capacity` may lend its computer-name prefix to the plan, unless it listed none while
/// saying it has some, or saying nothing of its capacity. Its listing then proves nothing: it
/// lends no prefix, and the other sets go on.
pub fn may_lend_prefix(listed: usize, capacity: Option<i64>) -> Result<(), ListedNone> {
    match (listed, capacity) {
        (0, Some(0)) => Ok(()),
        (0, Some(n)) => Err(ListedNone::WithCapacity(n)),
        (0, None) => Err(ListedNone::WithoutCapacity),
        _ => Ok(()),
    }
}

/// How many characters Azure puts after a scale set's computer-name prefix: a Uniform
/// instance's id in base 36 (`web00000z`), or a Flexible VM's 6 random letters and digits.
pub const NAME_SUFFIX_LEN: usize = 6;

impl Prefix {
    /// The contract's shape rule: whether a host name (as `host_name` gives it) can only be
    /// one of this scale set's VMs' names: the prefix followed by exactly
    /// [`NAME_SUFFIX_LEN`] ASCII letters or digits, ignoring case. `web00000z` is `web`'s;
    /// `webapi000001` (a neighbour whose prefix extends ours), `web`, `web0000011` and
    /// `web-00001` are not. Only names of this shape may be removed for matching no VM.
    pub fn names(&self, host: &str) -> bool {
        let prefix = self.prefix.trim();
        host.get(..prefix.len())
            .is_some_and(|head| !prefix.is_empty() && head.eq_ignore_ascii_case(prefix))
            && host[prefix.len()..].len() == NAME_SUFFIX_LEN
            && host[prefix.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
    }
}

/// Prefixes that two or more of the step's scale sets use (ignoring case), each with those
/// sets: a shape-matching name could then be either set's, so the step warns about it.
pub fn shared_prefixes(prefixes: &[Prefix]) -> Vec<(String, Vec<String>)> {
    let mut by_prefix: Vec<(String, Vec<String>)> = Vec::new();
    for p in prefixes {
        let key = p.prefix.trim().to_ascii_lowercase();
        match by_prefix.iter_mut().find(|(k, _)| *k == key) {
            Some((_, sets)) => sets.push(p.scale_set.clone()),
            None => by_prefix.push((key, vec![p.scale_set.clone()])),
        }
    }
    by_prefix.retain(|(_, sets)| sets.len() > 1);
    by_prefix
}

/// A computer name that several VMs which are not gone report at once: instances built from a
/// specialized image keep the source VM's name. A target with this name cannot be tied to one
/// VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedName {
    /// The host name, as the VMs report it (first seen).
    pub name: String,
    /// The VMs reporting it that are not gone.
    pub instances: Vec<Instance>,
}

impl SharedName {
    /// True when every VM with this name is a member: only then may its target be output.
    pub fn all_members(&self) -> bool {
        self.instances
            .iter()
            .all(|i| i.state() == InstanceState::Member)
    }
}
