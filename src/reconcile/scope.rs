//! Which targets a run may touch: environment, roles (target tags), and tenanted participation
//! with tenant tags (OR inside a tag set, AND across sets).

/// How a target takes part in tenanted deployments (`TenantedDeploymentParticipation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Participation {
    /// Only untenanted runs.
    Untenanted,
    /// Only tenanted runs of its tenants (directly or by tag).
    Tenanted,
    /// Both.
    TenantedOrUntenanted,
}

impl Participation {
    /// Reads Octopus's value, ignoring case. Servers older than the property are inferred from
    /// the links: a target with tenants or tenant tags is tenanted. An unknown value is `None`,
    /// and such a target is out of scope (never touched).
    pub fn parse(value: Option<&str>, has_tenant_links: bool) -> Option<Participation> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("untenanted") => Some(Participation::Untenanted),
            Some("tenanted") => Some(Participation::Tenanted),
            Some("tenantedoruntenanted") => Some(Participation::TenantedOrUntenanted),
            None | Some("") if has_tenant_links => Some(Participation::Tenanted),
            None | Some("") => Some(Participation::Untenanted),
            Some(_) => None,
        }
    }
}

/// An Octopus deployment target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `Machines-123`.
    pub id: String,
    /// The target's name; its host name is matched against computer names.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its environments.
    pub environment_ids: Vec<String>,
    /// Tenants it is linked to directly.
    pub tenant_ids: Vec<String>,
    /// Tenant tags (`Tag Set/Tag`) it is linked to: every tenant carrying one of them.
    pub tenant_tags: Vec<String>,
    /// Which kinds of run it takes part in; `None` for a value this build does not know.
    pub participation: Option<Participation>,
    /// `IsDisabled`: never output, but removed like any other when its VM is gone.
    pub disabled: bool,
}

impl Target {
    /// An enabled, untenanted target: the common case, for tests and benchmarks.
    pub fn untenanted(id: &str, name: &str, roles: &[&str], environment_id: &str) -> Target {
        Target {
            id: id.into(),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            environment_ids: vec![environment_id.into()],
            tenant_ids: Vec::new(),
            tenant_tags: Vec::new(),
            participation: Some(Participation::Untenanted),
            disabled: false,
        }
    }
}

/// The run's tenant, as scope needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `Tenants-1`.
    pub id: String,
    /// The tags the tenant carries (`Tag Set/Tag`).
    pub tags: Vec<String>,
}

/// Which targets this run may touch.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The run's environment.
    pub environment_id: String,
    /// Every one of these roles is needed (case-insensitive, as Octopus treats roles).
    pub roles: Vec<String>,
    /// The run's tenant, when the run is tenanted.
    pub tenant: Option<Tenant>,
}

impl Scope {
    /// The contract's participation rule: in the environment, every role, and taking part in
    /// this kind of run (an untenanted run: `Untenanted` or `TenantedOrUntenanted`; a tenanted
    /// run: `Tenanted` or `TenantedOrUntenanted`, linked to the tenant directly or by a tag).
    pub fn contains(&self, t: &Target) -> bool {
        let has_roles = self
            .roles
            .iter()
            .all(|r| t.roles.iter().any(|tr| tr.eq_ignore_ascii_case(r)));
        let takes_part = match (&self.tenant, t.participation) {
            (_, None) => false,
            (None, Some(p)) => p != Participation::Tenanted,
            (Some(tenant), Some(p)) => {
                p != Participation::Untenanted
                    && (t.tenant_ids.iter().any(|x| x == &tenant.id)
                        || linked_by_tags(&t.tenant_tags, &tenant.tags))
            }
        };
        t.environment_ids.iter().any(|e| e == &self.environment_id) && has_roles && takes_part
    }
}

/// The tag set of a canonical tenant tag: `Region` of `Region/East` (a tag without `/` is a
/// set of its own).
pub(super) fn tag_set(tag: &str) -> &str {
    tag.split_once('/').map_or(tag, |(set, _)| set).trim()
}

/// Whether a target's tenant tags link it to a tenant carrying `tenant_tags`, as Octopus
/// combines them: OR among the target's tags within one tag set, AND across the tag sets the
/// target uses. `Region/East`, `Region/West`, `Tier/Gold` take a tenant with `Tier/Gold` and
/// either region; a tenant with `Region/East` and `Tier/Silver` is not linked. No tags, no link.
pub fn linked_by_tags(target_tags: &[String], tenant_tags: &[String]) -> bool {
    let carries = |tag: &String| {
        tenant_tags
            .iter()
            .any(|x| x.trim().eq_ignore_ascii_case(tag.trim()))
    };
    !target_tags.is_empty()
        && target_tags.iter().all(|tag| {
            let set = tag_set(tag);
            target_tags
                .iter()
                .filter(|other| tag_set(other).eq_ignore_ascii_case(set))
                .any(carries)
        })
}
