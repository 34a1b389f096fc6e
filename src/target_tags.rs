//! Target tags: Octopus's name for roles since 2024.2, grouped in tag sets since 2025.4.
//!
//! On the wire nothing changed: `roles=` on `/machines` and a target's `Roles` still hold the
//! tags' values, whatever their set (Octopus docs, "Target tags", API compatibility). So a value
//! in two tag sets is one role to the API: `VMSS.DeploymentTarget.Roles` selects the targets
//! tagged with it from either set, which the UI does not make plain. This finds those values.

/// A target tag set: its name and its tags' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSet {
    /// The set's name.
    pub name: String,
    /// Its tags (the values targets carry in `Roles`).
    pub tags: Vec<String>,
}

/// A role of the run found in more than one target tag set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedTag {
    /// The role, as the run gives it.
    pub tag: String,
    /// The sets holding it, in the server's order.
    pub sets: Vec<String>,
}

/// The run's roles that are tags of two or more sets (compared ignoring case, as Octopus
/// matches roles).
pub fn in_several_sets(roles: &[String], sets: &[TagSet]) -> Vec<SharedTag> {
    roles
        .iter()
        .filter_map(|role| {
            let holding: Vec<String> = sets
                .iter()
                .filter(|s| s.tags.iter().any(|t| t.eq_ignore_ascii_case(role)))
                .map(|s| s.name.clone())
                .collect();
            (holding.len() > 1).then(|| SharedTag {
                tag: role.clone(),
                sets: holding,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str, tags: &[&str]) -> TagSet {
        TagSet {
            name: name.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn a_role_in_two_tag_sets_is_found_once_with_both_sets() {
        let sets = [
            set("[System] Tag Set", &["web-server", "db-server"]),
            set("Tier", &["Web-Server", "batch"]),
            set("Region", &["east"]),
        ];
        let roles = vec!["web-server".to_string(), "db-server".to_string()];
        assert_eq!(
            in_several_sets(&roles, &sets),
            [SharedTag {
                tag: "web-server".into(),
                sets: vec!["[System] Tag Set".into(), "Tier".into()],
            }]
        );
        assert!(in_several_sets(&roles, &sets[..1]).is_empty());
        assert!(in_several_sets(&roles, &[]).is_empty());
    }
}
