//! Bounded retries for single calls made after the wait (listing targets, deleting one, the
//! final instance listing), on `backon`. The wait itself is not retried here: a failed check
//! during the wait is just another check, paced by [`crate::wait::WaitPolicy`].

use crate::error::Failure;
use crate::output::Reporter;
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;

/// A `Retry-After` longer than this ends the retries: better to fail and say so than to hang.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How hard to retry one call.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// First backoff.
    pub min_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
}

impl Default for RetryPolicy {
    /// Four retries over roughly 15 seconds.
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retries: 4,
        }
    }
}

/// Errors that carry a [`Failure`].
pub trait AsFailure {
    /// The failure inside.
    fn failure(&self) -> &Failure;
}

impl AsFailure for Failure {
    fn failure(&self) -> &Failure {
        self
    }
}

impl<S> AsFailure for (S, Failure) {
    fn failure(&self) -> &Failure {
        &self.1
    }
}

/// Runs `call`, retrying throttles, server errors and network faults with jittered exponential
/// backoff, stretched to a server's `Retry-After` when it asks for no more than
/// [`MAX_RETRY_AFTER`]. Each retry is logged (verbose) with the reason.
pub async fn retrying<T, E, F, Fut>(
    policy: RetryPolicy,
    reporter: &Reporter,
    call: F,
) -> Result<T, E>
where
    E: AsFailure,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_retries)
        .with_jitter();
    call.retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &E| e.failure().retry.is_transient())
        .adjust(|e: &E, backoff| match e.failure().retry.retry_after() {
            Some(asked) if asked > MAX_RETRY_AFTER => None,
            Some(asked) => backoff.map(|b| b.max(asked)),
            None => backoff,
        })
        .notify(|e: &E, delay| {
            reporter.verbose(&format!(
                "{} Trying again in {:.1}s.",
                e.failure().message,
                delay.as_secs_f64()
            ));
        })
        .await
}
