//! Ready-made worlds: the demo's scale-out story and the pieces tests build theirs from.

use super::world::{SimMachine, SimScaleSet, SimVm, Timeline, World};

/// The role every scale-set target registers with.
pub const ROLE: &str = "web-server";
/// The run's environment.
pub const ENVIRONMENT: &str = "Environments-1";
/// The run's project.
pub const PROJECT: &str = "Projects-1";
/// The demo's scale set.
pub const SCALE_SET: &str = "vmss-web";

/// A Uniform scale set's computer name: prefix plus the instance id in base 36, six digits
/// (instance 11 of `web` is `web00000b`), as Azure names them.
pub fn computer_name(prefix: &str, instance: u32) -> String {
    let mut digits = Vec::new();
    let mut n = instance;
    loop {
        digits.push(std::char::from_digit(n % 36, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    let s: String = digits.iter().rev().collect();
    format!("{prefix}{s:0>6}")
}

/// A state timeline from `(tick, state)` pairs; `"-"` means the VM does not exist.
pub fn states(pairs: &[(u64, &str)]) -> Timeline<Option<String>> {
    pairs
        .iter()
        .map(|(t, s)| (*t, (*s != "-").then(|| s.to_string())))
        .collect()
}

impl World {
    /// Adds a scale set whose state and capacity follow the given timelines.
    pub fn add_scale_set(
        &mut self,
        name: &str,
        orchestration: &str,
        state: &[(u64, &str)],
        capacity: &[(u64, i64)],
    ) {
        self.scale_sets.push(SimScaleSet {
            name: name.into(),
            orchestration: orchestration.into(),
            state: state.iter().map(|(t, s)| (*t, s.to_string())).collect(),
            capacity: capacity.to_vec(),
        });
    }

    /// Adds instance `instance` of a scale set, named as Azure names it.
    pub fn add_instance(
        &mut self,
        scale_set: &str,
        instance: u32,
        state: &[(u64, &str)],
    ) -> String {
        let computer = computer_name("web", instance);
        self.vms.push(SimVm {
            name: format!("{scale_set}_{}", short_id(instance)),
            computer_name: Some(computer.clone()),
            scale_set: Some(scale_set.into()),
            instance_id: instance.to_string(),
            state: states(state),
        });
        computer
    }

    /// Adds a target in the run's environment with the scale set's role, registering at `tick`.
    pub fn add_target(&mut self, name: &str, tick: u64) -> String {
        self.add_target_with(name, tick, &[ROLE], &[])
    }

    /// Adds a target with the given roles and tenants.
    pub fn add_target_with(
        &mut self,
        name: &str,
        tick: u64,
        roles: &[&str],
        tenants: &[&str],
    ) -> String {
        let id = format!("Machines-{}", 101 + self.machines.len());
        self.machines.push(SimMachine {
            id: id.clone(),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            environment_ids: vec![ENVIRONMENT.into()],
            tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
            appears_at: tick,
        });
        id
    }

    /// The id of the (visible or not) target with this name.
    pub fn target_id(&self, name: &str) -> Option<String> {
        self.machines
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.id.clone())
    }
}

/// A Flexible VM's name suffix.
fn short_id(instance: u32) -> String {
    format!("{:08x}", instance.wrapping_mul(2_654_435_761))
}

/// The demo's story: a scale-out from 5 to 12 instances.
///
/// - 5 instances have run for days (`web000000`-`web000004`), with targets.
/// - 7 new instances (`web000005`-`web00000b`) provision at staggered times; each Tentacle
///   registers one check before its VM reports Succeeded.
/// - 2 over-provisioned extras (`web00000c`, `web00000d`) register, then Azure deletes them
///   once the requested 12 have succeeded.
/// - A stale target (`web00000z`) whose VM was deleted long ago.
/// - A database target in the same environment, in another role: never touched.
pub fn scale_out() -> World {
    let mut w = World::new();
    w.add_scale_set(
        SCALE_SET,
        "Uniform",
        &[(0, "Updating"), (4, "Succeeded")],
        &[(0, 12)],
    );
    for i in 0..5 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        w.add_target(&format!("{c}.corp.example.com"), 0);
    }
    for (i, done) in (5..12).zip([3, 4, 4, 5, 6, 6, 7]) {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Creating"), (done, "Succeeded")]);
        w.add_target(&c, done - 1);
    }
    for i in 12..14 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Creating"), (6, "Deleting"), (9, "-")]);
        w.add_target(&c, 2);
    }
    w.add_target(&computer_name("web", 35), 0);
    w.add_target_with("db000001", 0, &["db-server"], &[]);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computer_names_are_base36() {
        assert_eq!(computer_name("web", 0), "web000000");
        assert_eq!(computer_name("web", 11), "web00000b");
        assert_eq!(computer_name("web", 36), "web000010");
    }
}
