//! The reads behind Azure's own replacements (contract: "Azure's own replacements"): what a
//! scale set's instance view says of the orchestration services that replace and rebalance
//! its VMs on their own. The policies themselves come with the scale set's read
//! ([`crate::azure::Replacements`]), each VM's health and protection with the listings; the
//! rules that take them are in [`crate::reconcile`] and [`crate::wait`]'s caller.

use crate::azure::{AzureClient, ScaleSet, Services, NEWER_API_VERSION};
use crate::error::Failure;
use crate::settings::ScaleSetRef;

/// The set's orchestration services, from its instance view
/// (`GET .../virtualMachineScaleSets/{name}/instanceView`, at [`NEWER_API_VERSION`], as
/// Microsoft's documentation of automatic zone balance reads it; counted in the read budget
/// like every read). Read only for sets whose policies make it matter
/// ([`crate::azure::Replacements::watched`]): `None` for the others.
pub async fn services(
    azure: &AzureClient,
    set: &ScaleSetRef,
    ss: &ScaleSet,
) -> Result<Option<Services>, Failure> {
    if !ss.replacements.watched() {
        return Ok(None);
    }
    let path = format!(
        "{}/instanceView?api-version={NEWER_API_VERSION}",
        azure.scale_set_path(set)
    );
    match azure.get_json(&path).await {
        Ok(view) => Ok(Some(Services::read(&view))),
        Err(e) => Err(azure.failure(e, set, "read the scale set's instance view")),
    }
}
