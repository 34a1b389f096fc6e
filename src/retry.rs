//! Bounded retries for single calls outside the wait (preflight, the run context, listing
//! targets, deleting one, the final instance listing, the proofs' reads), on `backon`. The
//! wait itself is not retried here: a failed check during the wait is just another check,
//! paced by [`crate::wait`].
//!
//! Every call of the step shares one [`StepEnd`], set when the step starts, which ends a fixed
//! time past the wait's deadline: no attempt outlives it, and no backoff or `Retry-After`
//! sleeps past it, so the step ends on time whatever a server does (hangs included). The
//! wait's checks are held to the same end ([`crate::wait::WaitPolicy::check_limit`]).

use crate::error::{Failure, FailureKind, REFUSALS_TO_GIVE_UP};
use crate::output::Reporter;
use backon::{ExponentialBuilder, Retryable};
use std::cell::Cell;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

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

/// The time calls may still take: until a fixed time past the wait's deadline, once the step
/// has set it ([`StepEnd::end_at`], at its start), and unlimited before (a client built on its
/// own, in a unit test). Shared by every call of a client (interior mutability, so a client
/// can be handed its end after it is built).
#[derive(Debug, Default)]
pub struct StepEnd {
    ends: Mutex<Option<Instant>>,
}

impl StepEnd {
    /// From now on, calls end by `ends`.
    pub fn end_at(&self, ends: Instant) {
        *self.ends.lock().unwrap_or_else(|e| e.into_inner()) = Some(ends);
    }

    /// What is left, or `None` while unlimited.
    pub fn remaining(&self) -> Option<Duration> {
        self.ends
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|end| end.saturating_duration_since(Instant::now()))
    }

    /// True once a limited end has come.
    pub fn spent(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }
}

/// Errors that carry a [`Failure`], and can be made from one.
pub trait AsFailure {
    /// The failure inside.
    fn failure(&self) -> &Failure;
    /// An error holding just this failure.
    fn from_failure(f: Failure) -> Self;
}

impl AsFailure for Failure {
    fn failure(&self) -> &Failure {
        self
    }
    fn from_failure(f: Failure) -> Self {
        f
    }
}

/// Runs `call`, retrying transient failures with jittered exponential backoff, stretched to a
/// server's `Retry-After` when it asks for no more than [`MAX_RETRY_AFTER`], before `ends`.
/// Connection refused [`REFUSALS_TO_GIVE_UP`] times running ends the retries. Each retry is
/// logged (verbose) with the reason.
pub async fn retrying<T, E, F, Fut>(
    policy: RetryPolicy,
    ends: &StepEnd,
    reporter: &Reporter,
    mut call: F,
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
    let refusals = Cell::new(0u32);
    let attempt = || {
        let call = call();
        async move {
            match ends.remaining() {
                None => call.await,
                Some(left) if left.is_zero() => Err(E::from_failure(out_of_time())),
                Some(left) => tokio::time::timeout(left, call)
                    .await
                    .unwrap_or_else(|_| Err(E::from_failure(out_of_time()))),
            }
        }
    };
    attempt
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &E| {
            let f = e.failure();
            if f.kind == FailureKind::ConnectionRefused {
                refusals.set(refusals.get() + 1);
            } else {
                refusals.set(0);
            }
            f.is_transient() && refusals.get() < REFUSALS_TO_GIVE_UP && !ends.spent()
        })
        .adjust(|e: &E, backoff| {
            let delay = match e.failure().retry_after {
                Some(asked) if asked > MAX_RETRY_AFTER => return None,
                Some(asked) => backoff.map(|b| b.max(asked)),
                None => backoff,
            }?;
            // A sleep that would end past the step's end is no use: stop now.
            match ends.remaining() {
                Some(left) if delay >= left => None,
                _ => Some(delay),
            }
        })
        .notify(|e: &E, delay| {
            let line = format!(
                "{} Trying again in {:.1}s.",
                e.failure().message,
                delay.as_secs_f64()
            );
            // A throttle is worth a line in the normal log: it says the server's rate limit
            // (shared with everything else using the key or the subscription) is being hit.
            if e.failure().kind == FailureKind::Throttled {
                reporter.info(&line);
            } else {
                reporter.verbose(&line);
            }
        })
        .await
}

fn out_of_time() -> Failure {
    Failure::new(
        FailureKind::Timeout,
        "The step's time ran out (2 minutes past VMSS.Timeout.Value) before this call could finish.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redacted::Redactor;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn reporter() -> Reporter {
        Reporter::to_writer(Redactor::default(), Box::new(std::io::sink()))
    }

    async fn count_attempts(ends: &StepEnd, failure: Failure) -> (u32, Result<(), Failure>) {
        let n = AtomicU32::new(0);
        let result = retrying(RetryPolicy::default(), ends, &reporter(), || {
            n.fetch_add(1, Ordering::SeqCst);
            let f = failure.clone();
            async move { Err::<(), _>(f) }
        })
        .await;
        (n.load(Ordering::SeqCst), result)
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_permanent_ones_are_not() {
        let ends = StepEnd::default();
        let (n, _) = count_attempts(&ends, Failure::new(FailureKind::ServerError, "503")).await;
        assert_eq!(n, 5, "one try and four retries");
        let (n, _) = count_attempts(&ends, Failure::new(FailureKind::Unauthorized, "401")).await;
        assert_eq!(n, 1);
        let (n, _) = count_attempts(&ends, Failure::new(FailureKind::Dns, "no such host")).await;
        assert_eq!(n, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn connection_refused_three_times_running_ends_the_retries() {
        let ends = StepEnd::default();
        let refused = Failure::new(FailureKind::ConnectionRefused, "refused");
        let (n, r) = count_attempts(&ends, refused).await;
        assert_eq!(n, REFUSALS_TO_GIVE_UP);
        assert_eq!(r.unwrap_err().kind, FailureKind::ConnectionRefused);
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_sleeps_past_the_steps_end() {
        let ends = StepEnd::default();
        ends.end_at(Instant::now() + Duration::from_secs(3));
        let started = Instant::now();
        let throttled =
            Failure::new(FailureKind::Throttled, "429").retry_after(Some(Duration::from_secs(25)));
        let (n, _) = count_attempts(&ends, throttled).await;
        assert_eq!(n, 1, "a Retry-After that does not fit ends the retries");
        assert!(started.elapsed() < Duration::from_secs(3));

        let (n, _) = count_attempts(&ends, Failure::new(FailureKind::ServerError, "503")).await;
        assert!(n < 5, "backoff stops where the ends ends");
        assert!(started.elapsed() <= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_call_ends_at_the_steps_end() {
        let ends = StepEnd::default();
        ends.end_at(Instant::now() + Duration::from_secs(2));
        let started = Instant::now();
        let r: Result<(), Failure> = retrying(RetryPolicy::default(), &ends, &reporter(), || {
            std::future::pending()
        })
        .await;
        assert_eq!(r.unwrap_err().kind, FailureKind::Timeout);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
