//! The resources the step reads from Octopus: its targets, the run's environment and tenant,
//! the signed-in user and its permissions, and the space's target tag sets.

use super::*;
use crate::permissions::PermissionSet;
use crate::target_tags::TagSet;

/// A deployment target as the API returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Machine {
    id: String,
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    environment_ids: Vec<String>,
    #[serde(default)]
    tenant_ids: Vec<String>,
    #[serde(default)]
    tenant_tags: Vec<String>,
    /// Absent on servers older than tenanted participation.
    tenanted_deployment_participation: Option<String>,
    #[serde(default)]
    is_disabled: bool,
}

impl From<Machine> for Target {
    fn from(m: Machine) -> Target {
        let linked = !m.tenant_ids.is_empty() || !m.tenant_tags.is_empty();
        Target {
            participation: Participation::parse(
                m.tenanted_deployment_participation.as_deref(),
                linked,
            ),
            id: m.id,
            // Anyone who can register a Tentacle names a target: its control characters
            // are escaped once, here, for every log line and record that shows it.
            name: crate::output::printable(&m.name).into_owned(),
            roles: m.roles,
            environment_ids: m.environment_ids,
            tenant_ids: m.tenant_ids,
            tenant_tags: m.tenant_tags,
            disabled: m.is_disabled,
        }
    }
}

/// A tenant, for the tags it carries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TenantResource {
    id: String,
    #[serde(default)]
    tenant_tags: Vec<String>,
}

/// The signed-in user, as `GET /api/users/me` answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// `Users-N`.
    pub id: String,
    /// Its user name.
    #[serde(default)]
    pub username: Option<String>,
}

/// Every Octopus permission the step's API key may need, by Octopus's names (the README's
/// table says why each): a 403 names them all, so one fix covers every phase.
pub const PERMISSIONS: &[&str] = &[
    "EnvironmentView",
    "MachineView",
    "MachineDelete",
    "TaskView",
    "DeploymentView",
    "RunbookRunView",
    "EventView",
    "TenantView",
    "TaskCancel",
];

impl HasId for Machine {
    fn id(&self) -> &str {
        &self.id
    }
}

impl OctopusClient {
    /// Lists the targets in the run's environment with the roles, through every page.
    /// Role, tenant and participation rules are enforced by [`Scope::contains`]; this only
    /// narrows the listing. It does not narrow by tenant: `tenantIds` would drop the targets
    /// linked to the tenant by a tag.
    pub async fn targets(&self, scope: &Scope) -> Result<Vec<Target>, Failure> {
        let mut url = self.api("machines");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("environmentIds", &scope.environment_id);
            q.append_pair("roles", &scope.roles.join(","));
            q.append_pair("skip", "0");
            q.append_pair("take", &PAGE_SIZE.to_string());
        }
        let machines: Vec<Machine> = self.all_pages(url, "list deployment targets").await?;
        Ok(machines.into_iter().map(Target::from).collect())
    }

    /// The preflight: reads the run's environment, which shows in one request that the key is
    /// accepted and that the space and the environment exist on this server.
    pub async fn environment(&self, id: &str) -> Result<(), Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Environment {
            #[allow(dead_code)]
            id: String,
        }
        let doing = format!("read this run's environment {id}");
        match self
            .get_json::<Environment>(&self.api(&format!("environments/{id}")), &doing)
            .await
        {
            Err(f) if f.kind == FailureKind::NotFound => Err(OctopusRefusal::NoEnvironment {
                server: self.base.to_string(),
                environment: id.to_string(),
                space: self.space.clone(),
            }
            .into_failure()),
            other => other.map(|_| ()),
        }
    }

    /// Reads the run's tenant for the tags it carries: a target linked to one of them is the
    /// tenant's as much as one linked by id.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, Failure> {
        let t: TenantResource = self
            .get_json(
                &self.api(&format!("tenants/{id}")),
                &format!("read tenant {id}"),
            )
            .await?;
        Ok(Tenant {
            id: t.id,
            tags: t.tenant_tags,
        })
    }

    /// The signed-in user (`GET /api/users/me`); `None` when the server has no such route. Its
    /// name is escaped once, here, like a target's: anyone with the right names users.
    pub async fn current_user(&self) -> Result<Option<User>, Failure> {
        let user: Option<User> = self
            .get_json_if_there(&self.base_api("users/me"), "read the signed-in user")
            .await?;
        Ok(user.map(|u| User {
            username: u
                .username
                .map(|n| crate::output::printable(&n).into_owned()),
            ..u
        }))
    }

    /// What `user` may do in the run's space (`GET /api/{spaceId}/users/{id}/permissions`, in
    /// the 2020.5 Swagger and today's API alike); `None` when the server has no such route.
    pub async fn permissions(&self, user: &str) -> Result<Option<PermissionSet>, Failure> {
        self.get_json_if_there(
            &self.api(&format!("users/{user}/permissions")),
            "read the signed-in user's permissions",
        )
        .await
    }

    /// The space's target tag sets (`GET /api/{spaceId}/tagsets/all?scopes=Target`, Octopus
    /// 2025.4 and later): each set's name and tags. A server older than target tag sets ignores
    /// `scopes` and sends its tenant tag sets without `Scopes`: those are not target tag sets,
    /// so it has none.
    pub async fn target_tag_sets(&self) -> Result<Vec<TagSet>, Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct TagSetResource {
            #[serde(default)]
            name: String,
            #[serde(default)]
            scopes: Option<Vec<String>>,
            #[serde(default)]
            tags: Option<Vec<TagResource>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct TagResource {
            #[serde(default)]
            name: String,
        }
        let mut url = self.api("tagsets/all");
        url.query_pairs_mut().append_pair("scopes", "Target");
        let sets: Vec<TagSetResource> = self.get_json(&url, "read the target tag sets").await?;
        Ok(sets
            .into_iter()
            .filter(|s| {
                s.scopes
                    .iter()
                    .flatten()
                    .any(|scope| scope.eq_ignore_ascii_case("Target"))
            })
            .map(|s| TagSet {
                name: crate::output::printable(&s.name).into_owned(),
                tags: s.tags.into_iter().flatten().map(|t| t.name).collect(),
            })
            .collect())
    }
}
