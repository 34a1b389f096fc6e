//! The ids of the simulated run: its space, environment, project, task (shared by the world
//! and the stories, so neither imports the other for them).

/// The run's space.
pub const SPACE: &str = "Spaces-1";
/// The role every scale-set target registers with.
pub const ROLE: &str = "web-server";
/// The run's environment.
pub const ENVIRONMENT: &str = "Environments-1";
/// The run's project.
pub const PROJECT: &str = "Projects-1";
/// This run's deployment.
pub const DEPLOYMENT: &str = "Deployments-301";
/// This run's server task.
pub const TASK: &str = "ServerTasks-9001";
/// This run's trigger.
pub const TRIGGER: &str = "ProjectTriggers-21";
/// The demo's scale set.
pub const SCALE_SET: &str = "vmss-web";
