//! The record's names: each decision, proof and class as the schema
//! (`schema/vmss-check-report.schema.json`) spells it, in the order a person reads them. A new
//! decision is named here and nowhere else in the record.

use crate::reconcile::{Decision, InstanceState, Unproven};

/// How a person reads a decision: what the summary counts it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Deployed to.
    Output,
    /// Removed (or, in a dry run, would be).
    Removed,
    /// Kept, for one of several reasons.
    Kept,
    /// A member's target left out of the output.
    LeftOut,
    /// Not the step's to touch.
    OutOfScope,
}

/// Every decision's name, in the order the page lists them (deployed to and removed first,
/// then the kinds of kept, then the targets left out), and how the summary counts it.
pub const DECISIONS: [(&str, Reading); 15] = [
    ("output", Reading::Output),
    ("removed", Reading::Removed),
    ("failed", Reading::Kept),
    ("stopped", Reading::Kept),
    ("pending", Reading::Kept),
    ("sharedName", Reading::Kept),
    ("foreign", Reading::Kept),
    ("unverified", Reading::Kept),
    ("pooled", Reading::Kept),
    ("unproven", Reading::Kept),
    ("repairDue", Reading::Kept),
    ("preExisting", Reading::LeftOut),
    ("disabled", Reading::LeftOut),
    ("duplicate", Reading::LeftOut),
    ("outOfScope", Reading::OutOfScope),
];

/// How a person reads the decision named `name`; `None` for a name the record does not use.
pub fn reading(name: &str) -> Option<Reading> {
    DECISIONS.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// The decision's name in the record.
pub fn decision(d: &Decision) -> &'static str {
    match d {
        Decision::OutOfScope(_) => "outOfScope",
        Decision::Output => "output",
        Decision::Removed(_) => "removed",
        Decision::Failed => "failed",
        Decision::Stopped => "stopped",
        Decision::Foreign => "foreign",
        Decision::SharedName => "sharedName",
        Decision::Pending => "pending",
        Decision::Unverified => "unverified",
        Decision::PreExisting => "preExisting",
        Decision::Disabled => "disabled",
        Decision::Duplicate => "duplicate",
        Decision::Pooled => "pooled",
        Decision::Unproven(_) => "unproven",
        Decision::RepairDue => "repairDue",
    }
}

/// Which proof of absence kept an `unproven` target.
pub fn kept_by(d: &Decision) -> Option<&'static str> {
    match d {
        Decision::Unproven(why) => Some(match why {
            Unproven::ListedBefore { .. } => "listedBefore",
            Unproven::NoEarlierListing { .. } => "noEarlierListing",
            Unproven::InGroup { .. } => "inResourceGroup",
            Unproven::InPool { .. } => "inStandbyPool",
            Unproven::Unreadable(_) => "unreadable",
        }),
        _ => None,
    }
}

/// The class's name in the record.
pub fn class_name(s: InstanceState) -> &'static str {
    match s {
        InstanceState::Member => "member",
        InstanceState::Pending => "pending",
        InstanceState::Stopped => "stopped",
        InstanceState::Failed => "failed",
        InstanceState::Gone => "gone",
        InstanceState::Pooled => "pooled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One decision of each kind: the match makes adding a variant fail to compile here until
    /// it is named.
    fn one_of_each() -> Vec<Decision> {
        let all = vec![
            Decision::OutOfScope(crate::reconcile::Excluded::TenantedOnly),
            Decision::Output,
            Decision::Removed(crate::reconcile::RemovalReason::NoInstance {
                scale_set: "web".into(),
            }),
            Decision::Failed,
            Decision::Stopped,
            Decision::Foreign,
            Decision::SharedName,
            Decision::Pending,
            Decision::Unverified,
            Decision::PreExisting,
            Decision::Disabled,
            Decision::Duplicate,
            Decision::Pooled,
            Decision::Unproven(Unproven::Unreadable(String::new())),
            Decision::RepairDue,
        ];
        for d in &all {
            match d {
                Decision::OutOfScope(_)
                | Decision::Output
                | Decision::Removed(_)
                | Decision::Failed
                | Decision::Stopped
                | Decision::Foreign
                | Decision::SharedName
                | Decision::Pending
                | Decision::Unverified
                | Decision::PreExisting
                | Decision::Disabled
                | Decision::Duplicate
                | Decision::Pooled
                | Decision::Unproven(_)
                | Decision::RepairDue => {}
            }
        }
        all
    }

    #[test]
    fn every_decision_has_one_name_the_page_orders_and_the_schema_lists() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schema/vmss-check-report.schema.json"))
                .expect("the schema is JSON");
        let listed = schema
            .pointer("/$defs/target/properties/decision/enum")
            .and_then(|e| e.as_array())
            .expect("the schema lists the decisions");
        let mut names: Vec<&str> = one_of_each().iter().map(decision).collect();
        assert_eq!(names.len(), DECISIONS.len());
        for n in &names {
            assert!(reading(n).is_some(), "{n} is not in DECISIONS");
            assert!(listed.iter().any(|l| l == n), "{n} is not in the schema");
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DECISIONS.len(), "two decisions share a name");
        assert_eq!(listed.len(), DECISIONS.len());
    }
}
