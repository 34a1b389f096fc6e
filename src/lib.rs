//! vmss-check: the Octopus step that makes Azure VM Scale Sets and deployment target triggers
//! work together. It waits for a scale set to settle, removes the Octopus targets of VMs that
//! are gone, and sets output variables naming the targets to deploy to.
//!
//! One module per concern: [`cli`] and [`settings`] (inputs), [`azure`] and [`octopus`] (the
//! two clients), [`wait`] (the wait policy), [`reconcile`] (the pure plan), [`runs`] (this run
//! and the one before, as data), [`outcome`] (what the step saw and decided, as data),
//! [`report`] (its words), [`record`] (the decision record attached to the task, and its HTML
//! page), [`output`] (service messages), [`step`] (the sequence), [`sim`] (the simulated cloud
//! behind `demo` and the tests).
#![warn(missing_docs)]

pub mod absence;
pub mod artifacts;
pub mod azure;
pub mod cli;
pub mod context;
#[cfg(feature = "sim")]
pub mod demo;
pub mod error;
pub mod http;
pub mod octopus;
pub mod outcome;
pub mod output;
pub mod paging;
pub mod permissions;
pub mod reconcile;
pub mod record;
pub mod redacted;
pub mod replacements;
pub mod report;
pub mod retry;
pub mod runs;
pub mod settings;
pub mod signin;
#[cfg(feature = "sim")]
pub mod sim;
pub mod step;
pub mod target_tags;
pub mod text;
pub mod token;
pub mod wait;
