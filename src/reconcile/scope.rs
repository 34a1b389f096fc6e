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
    /// The answer names the first condition a target fails, for the record.
    pub fn check(&self, t: &Target) -> Result<(), Excluded> {
        if !t.environment_ids.iter().any(|e| e == &self.environment_id) {
            return Err(Excluded::Environment(self.environment_id.clone()));
        }
        if let Some(r) = self
            .roles
            .iter()
            .find(|r| !t.roles.iter().any(|tr| tr.eq_ignore_ascii_case(r)))
        {
            return Err(Excluded::Role(r.clone()));
        }
        match (&self.tenant, t.participation) {
            (_, None) => Err(Excluded::ParticipationUnknown),
            (None, Some(Participation::Tenanted)) => Err(Excluded::TenantedOnly),
            (None, Some(_)) => Ok(()),
            (Some(tenant), Some(p)) => {
                let linked = t.tenant_ids.iter().any(|x| x == &tenant.id)
                    || linked_by_tags(&t.tenant_tags, &tenant.tags);
                if p != Participation::Untenanted && linked {
                    Ok(())
                } else {
                    Err(Excluded::Tenant(tenant.id.clone()))
                }
            }
        }
    }

    /// Whether the run may touch the target at all ([`Scope::check`] passes).
    pub fn contains(&self, t: &Target) -> bool {
        self.check(t).is_ok()
    }
}

/// Why a target is out of scope: the first of [`Scope::check`]'s conditions it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Excluded {
    /// Not in the run's environment (this one).
    Environment(String),
    /// Lacks this role.
    Role(String),
    /// Its tenanted participation is a value this build does not know.
    ParticipationUnknown,
    /// Takes part in tenanted runs only, and this run is untenanted.
    TenantedOnly,
    /// Not linked to the run's tenant (this one), directly or by tag, or untenanted only.
    Tenant(String),
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
