//! What a run needs Octopus to let its signed-in user do, and whether the user's permission set
//! grants it where the run is.
//!
//! A key whose team is scoped to other environments (or tenants) is not refused by Octopus: it
//! gets filtered lists, so the step would see no targets, report every VM as unregistered and
//! output nothing. So the preflight asks Octopus what the user may do
//! (`UserPermissionSetResource`: for each permission, one restriction per team role granting
//! it, each naming the environments, tenants and projects it is limited to; an empty list is no
//! limit) and this module decides, without any I/O, whether each permission the run needs is
//! granted for the run's space, environment and tenant.
//!
//! Where it cannot tell, it does not guess a refusal: a permission set that says it is
//! incomplete, or an answer without `SpacePermissions`, is "unknown", and the step goes on as
//! before. A restriction on what a permission cannot be limited by is no limit: targets belong
//! to environments and tenants, not projects, so a project scope does not narrow `MachineView`.

use serde::{Deserialize, Deserializer};
use std::collections::HashMap;

/// Octopus's `UserPermissionSetResource`, as far as the check reads it. Every field may be
/// missing or null (old servers, trimmed answers); what is missing is "unknown", never "no".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionSet {
    /// Each permission's grants, by Octopus's permission name.
    #[serde(default)]
    pub space_permissions: Option<HashMap<String, Option<Vec<Restriction>>>>,
    /// False when the server says the set it gave is not the whole of the user's permissions.
    #[serde(default)]
    pub is_permissions_complete: Option<bool>,
    /// The user's teams, for naming them.
    #[serde(default, deserialize_with = "nullable")]
    pub teams: Vec<Team>,
}

/// One grant of a permission: where it applies. An empty list does not limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Restriction {
    /// The space it applies in (absent on servers without spaces).
    #[serde(default)]
    pub space_id: Option<String>,
    /// The environments it is limited to.
    #[serde(
        default,
        rename = "RestrictedToEnvironmentIds",
        deserialize_with = "nullable"
    )]
    pub environments: Vec<String>,
    /// The tenants it is limited to.
    #[serde(
        default,
        rename = "RestrictedToTenantIds",
        deserialize_with = "nullable"
    )]
    pub tenants: Vec<String>,
    /// The projects it is limited to.
    #[serde(
        default,
        rename = "RestrictedToProjectIds",
        deserialize_with = "nullable"
    )]
    pub projects: Vec<String>,
}

/// A team the user is in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Team {
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A list that Octopus may send as `null`.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Where the run is: the scope every needed permission must be granted in.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// `Octopus.Space.Id` (none on servers without spaces).
    pub space: Option<&'a str>,
    /// `Octopus.Environment.Id`.
    pub environment: &'a str,
    /// `Octopus.Deployment.Tenant.Id`, for tenanted runs.
    pub tenant: Option<&'a str>,
    /// `Octopus.Project.Id`.
    pub project: Option<&'a str>,
}

/// A permission the run needs, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// Octopus's name for it.
    pub permission: &'static str,
    /// What the step does with it, in words.
    pub why: &'static str,
    /// Whether a team's project scope limits it (tasks belong to projects; targets do not).
    by_project: bool,
}

/// What the run will do, as far as permissions go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uses {
    /// `VMSS.Reconcile.DryRun=Yes`: nothing is removed.
    pub dry_run: bool,
    /// `VMSS.OldServers.ExcludeFromOutput=Yes`: targets' creation events are read.
    pub creation_times: bool,
    /// A trigger started the run: it may be a duplicate of the previous one.
    pub triggered: bool,
    /// `VMSS.Duplicate.Handle=Cancel`: a duplicate cancels its own task.
    pub cancels: bool,
}

/// The permissions a run needs, in the order the step uses them.
pub fn needed(uses: Uses) -> Vec<Need> {
    let need = |permission, why, by_project| Need {
        permission,
        why,
        by_project,
    };
    let mut needs = vec![need("MachineView", "list the deployment targets", false)];
    if !uses.dry_run {
        needs.push(need(
            "MachineDelete",
            "remove the targets of VMs that are gone",
            false,
        ));
    }
    if uses.creation_times || uses.triggered {
        needs.push(need(
            "EventView",
            "read when targets were created and when runs were queued",
            false,
        ));
    }
    needs.push(need(
        "TaskView",
        "read this run's task and the previous run's",
        true,
    ));
    if uses.cancels {
        needs.push(need(
            "TaskCancel",
            "cancel this run's task when it is a duplicate",
            true,
        ));
    }
    needs
}

/// How a permission falls short of the run's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// No team grants it in the run's space.
    NotInSpace,
    /// Granted only in these other environments.
    Environments(Vec<String>),
    /// Granted only for these other tenants.
    Tenants(Vec<String>),
    /// Granted only for these other projects.
    Projects(Vec<String>),
}

/// A needed permission the user lacks where the run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The permission.
    pub need: Need,
    /// How its grants fall short.
    pub shortfall: Shortfall,
}

/// The check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every needed permission is granted where the run is.
    Granted,
    /// These are not.
    Missing(Vec<Missing>),
    /// The permission set cannot answer, and why.
    Unknown(&'static str),
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether a list restriction lets `id` through: an empty list, or one naming it. With no id
/// (an untenanted run, a run without a project) the restriction cannot be held against it.
fn lets(list: &[String], id: Option<&str>) -> bool {
    match id {
        Some(id) => list.is_empty() || list.iter().any(|x| same(x, id)),
        None => true,
    }
}

/// The first way a grant misses the scope, if it does.
fn misses(r: &Restriction, need: &Need, at: &Scope<'_>) -> Option<Shortfall> {
    if !lets(&r.environments, Some(at.environment)) {
        return Some(Shortfall::Environments(r.environments.clone()));
    }
    if !lets(&r.tenants, at.tenant) {
        return Some(Shortfall::Tenants(r.tenants.clone()));
    }
    if need.by_project && !lets(&r.projects, at.project) {
        return Some(Shortfall::Projects(r.projects.clone()));
    }
    None
}

/// Whether `set` grants every one of `needs` where the run is.
pub fn check(set: &PermissionSet, needs: &[Need], at: &Scope<'_>) -> Verdict {
    let Some(granted) = &set.space_permissions else {
        return Verdict::Unknown("its answer has no SpacePermissions");
    };
    let mut missing = Vec::new();
    for need in needs {
        let grants: Vec<&Restriction> = granted
            .iter()
            .filter(|(name, _)| same(name, need.permission))
            .flat_map(|(_, grants)| grants.iter().flatten())
            .filter(|r| match (r.space_id.as_deref(), at.space) {
                (Some(theirs), Some(ours)) => same(theirs, ours),
                _ => true,
            })
            .collect();
        let shortfalls: Vec<Option<Shortfall>> =
            grants.iter().map(|r| misses(r, need, at)).collect();
        if shortfalls.iter().any(Option::is_none) {
            continue;
        }
        missing.push(Missing {
            need: *need,
            shortfall: summarise(shortfalls.into_iter().flatten().collect()),
        });
    }
    match (missing.is_empty(), set.is_permissions_complete) {
        (true, _) => Verdict::Granted,
        (false, Some(false)) => {
            Verdict::Unknown("it says the permissions it listed are incomplete")
        }
        (false, _) => Verdict::Missing(missing),
    }
}

/// The grants' shortfalls as one: environments first (the most common scoping), then tenants,
/// then projects, each with every id the grants name.
fn summarise(shortfalls: Vec<Shortfall>) -> Shortfall {
    let mut by_kind: [Vec<String>; 3] = Default::default();
    for s in shortfalls {
        let (slot, ids) = match s {
            Shortfall::Environments(ids) => (0, ids),
            Shortfall::Tenants(ids) => (1, ids),
            Shortfall::Projects(ids) => (2, ids),
            Shortfall::NotInSpace => continue,
        };
        for id in ids {
            if !by_kind[slot].contains(&id) {
                by_kind[slot].push(id);
            }
        }
    }
    let [environments, tenants, projects] = by_kind;
    if !environments.is_empty() {
        Shortfall::Environments(environments)
    } else if !tenants.is_empty() {
        Shortfall::Tenants(tenants)
    } else if !projects.is_empty() {
        Shortfall::Projects(projects)
    } else {
        Shortfall::NotInSpace
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const AT: Scope<'static> = Scope {
        space: Some("Spaces-1"),
        environment: "Environments-1",
        tenant: None,
        project: Some("Projects-1"),
    };

    fn set(body: serde_json::Value) -> PermissionSet {
        serde_json::from_value(body).unwrap()
    }

    fn grant(envs: &[&str], tenants: &[&str], projects: &[&str]) -> serde_json::Value {
        json!({"SpaceId": "Spaces-1", "RestrictedToEnvironmentIds": envs,
               "RestrictedToTenantIds": tenants, "RestrictedToProjectIds": projects,
               "RestrictedToProjectGroupIds": []})
    }

    fn all(g: serde_json::Value) -> serde_json::Value {
        json!({"IsPermissionsComplete": true, "SpacePermissions": {
            "MachineView": [g], "MachineDelete": [g], "EventView": [g],
            "TaskView": [g], "TaskCancel": [g]}})
    }

    fn names(v: &Verdict) -> Vec<&'static str> {
        match v {
            Verdict::Missing(m) => m.iter().map(|m| m.need.permission).collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn what_a_run_needs_follows_what_it_will_do() {
        let names = |u| needed(u).iter().map(|n| n.permission).collect::<Vec<_>>();
        assert_eq!(
            names(Uses::default()),
            ["MachineView", "MachineDelete", "TaskView"]
        );
        assert_eq!(
            names(Uses {
                dry_run: true,
                ..Uses::default()
            }),
            ["MachineView", "TaskView"]
        );
        assert_eq!(
            names(Uses {
                triggered: true,
                cancels: true,
                ..Uses::default()
            }),
            [
                "MachineView",
                "MachineDelete",
                "EventView",
                "TaskView",
                "TaskCancel"
            ]
        );
        assert!(names(Uses {
            creation_times: true,
            ..Uses::default()
        })
        .contains(&"EventView"));
    }

    #[test]
    fn unrestricted_grants_and_grants_naming_the_scope_pass() {
        let needs = needed(Uses {
            triggered: true,
            cancels: true,
            ..Uses::default()
        });
        for g in [
            grant(&[], &[], &[]),
            grant(&["Environments-1", "Environments-2"], &[], &["Projects-1"]),
            grant(&["environments-1"], &[], &[]),
        ] {
            assert_eq!(
                check(&set(all(g.clone())), &needs, &AT),
                Verdict::Granted,
                "{g}"
            );
        }
        // One team's grant elsewhere does not take away another's here.
        let mut body = all(grant(&[], &[], &[]));
        body["SpacePermissions"]["MachineView"] = json!([
            grant(&["Environments-2"], &[], &[]),
            grant(&["Environments-1"], &[], &[])
        ]);
        assert_eq!(check(&set(body), &needs, &AT), Verdict::Granted);
    }

    #[test]
    fn a_key_scoped_to_other_environments_misses_every_permission_there() {
        let needs = needed(Uses::default());
        let v = check(
            &set(all(grant(&["Environments-2", "Environments-3"], &[], &[]))),
            &needs,
            &AT,
        );
        assert_eq!(names(&v), ["MachineView", "MachineDelete", "TaskView"]);
        let Verdict::Missing(m) = v else { panic!() };
        assert_eq!(
            m[0].shortfall,
            Shortfall::Environments(vec!["Environments-2".into(), "Environments-3".into()])
        );
    }

    #[test]
    fn a_missing_permission_or_one_granted_in_another_space_is_missing() {
        let needs = needed(Uses::default());
        let mut body = all(grant(&[], &[], &[]));
        body["SpacePermissions"]
            .as_object_mut()
            .unwrap()
            .remove("MachineDelete");
        let mut other_space = grant(&[], &[], &[]);
        other_space["SpaceId"] = json!("Spaces-2");
        body["SpacePermissions"]["TaskView"] = json!([other_space]);
        let Verdict::Missing(m) = check(&set(body), &needs, &AT) else {
            panic!()
        };
        assert_eq!(
            m.iter()
                .map(|m| (m.need.permission, m.shortfall.clone()))
                .collect::<Vec<_>>(),
            [
                ("MachineDelete", Shortfall::NotInSpace),
                ("TaskView", Shortfall::NotInSpace)
            ]
        );
    }

    #[test]
    fn tenants_count_for_tenanted_runs_and_projects_only_for_tasks() {
        let needs = needed(Uses::default());
        let tenanted = Scope {
            tenant: Some("Tenants-1"),
            ..AT
        };
        let for_other_tenant = set(all(grant(&[], &["Tenants-2"], &[])));
        assert_eq!(
            names(&check(&for_other_tenant, &needs, &tenanted)),
            ["MachineView", "MachineDelete", "TaskView"]
        );
        // An untenanted run is not held to a tenant scope.
        assert_eq!(check(&for_other_tenant, &needs, &AT), Verdict::Granted);
        // Targets are not a project's: a project scope limits tasks only.
        let Verdict::Missing(m) = check(&set(all(grant(&[], &[], &["Projects-2"]))), &needs, &AT)
        else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].need.permission, "TaskView");
        assert_eq!(
            m[0].shortfall,
            Shortfall::Projects(vec!["Projects-2".into()])
        );
    }

    #[test]
    fn what_the_set_cannot_say_is_unknown_not_missing() {
        let needs = needed(Uses::default());
        assert!(matches!(
            check(&set(json!({"Id": "x"})), &needs, &AT),
            Verdict::Unknown(_)
        ));
        let mut partial = all(grant(&["Environments-2"], &[], &[]));
        partial["IsPermissionsComplete"] = json!(false);
        assert!(matches!(
            check(&set(partial), &needs, &AT),
            Verdict::Unknown(_)
        ));
        // Nulls where lists belong, and no SpaceId (a server without spaces): no limit.
        let body = json!({"SpacePermissions": {
            "MachineView": [{"RestrictedToEnvironmentIds": null}],
            "MachineDelete": [{}], "TaskView": null}, "Teams": null});
        let Verdict::Missing(m) = check(&set(body), &needs, &AT) else {
            panic!()
        };
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].need.permission, "TaskView");
    }
}
