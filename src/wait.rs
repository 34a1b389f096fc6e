//! The wait policy, kept apart from the I/O it drives (the shape of aws-smithy's waiters).
//!
//! One deadline covers the whole wait. After each check that finds the scale set still
//! changing, [`WaitPolicy::next_delay`] says how long to sleep before the next check, or that
//! the wait is over. It never sleeps past the deadline, not even for a server's `Retry-After`:
//! a throttle that asks for more time than is left ends the wait now, instead of sleeping
//! through the deadline or hammering a server that asked us to back off.

use std::time::Duration;

/// Below this, what is left of the deadline is not worth another check.
const MIN_USEFUL_DELAY: Duration = Duration::from_millis(1);

/// When to check again while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// Time between checks (`VMSS.Poll.Interval`).
    pub interval: Duration,
    /// The whole wait's budget, from the step's start (`VMSS.Timeout.Value`).
    pub timeout: Duration,
}

/// The policy's answer after a check that did not settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sleep this long, then check again.
    Sleep(Duration),
    /// The deadline has come (or a throttle asks us to come back after it): stop waiting.
    TimedOut,
}

impl WaitPolicy {
    /// What to do after a check that found something still changing (or failed transiently),
    /// `elapsed` after the wait started. `retry_after` is a server's request to back off.
    pub fn next_delay(&self, elapsed: Duration, retry_after: Option<Duration>) -> Next {
        let Some(left) = self
            .timeout
            .checked_sub(elapsed)
            .filter(|l| *l >= MIN_USEFUL_DELAY)
        else {
            return Next::TimedOut;
        };
        let wanted = self.interval.max(retry_after.unwrap_or_default());
        if retry_after.is_some_and(|r| r > left) {
            // The server will refuse us until after the deadline: waiting on is pointless.
            return Next::TimedOut;
        }
        // The last check lands on the deadline itself, never after it.
        Next::Sleep(wanted.min(left))
    }

    /// How much of the budget is left `elapsed` after the start (zero once it is spent).
    pub fn remaining(&self, elapsed: Duration) -> Duration {
        self.timeout.saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn policy() -> WaitPolicy {
        WaitPolicy {
            interval: S(10),
            timeout: S(60),
        }
    }

    #[test]
    fn sleeps_the_interval_while_time_is_left() {
        assert_eq!(policy().next_delay(S(0), None), Next::Sleep(S(10)));
        assert_eq!(policy().next_delay(S(45), None), Next::Sleep(S(10)));
    }

    #[test]
    fn the_last_sleep_ends_at_the_deadline() {
        assert_eq!(policy().next_delay(S(55), None), Next::Sleep(S(5)));
        assert_eq!(policy().next_delay(S(60), None), Next::TimedOut);
        assert_eq!(policy().next_delay(S(61), None), Next::TimedOut);
    }

    #[test]
    fn retry_after_stretches_the_delay_but_never_past_the_deadline() {
        assert_eq!(policy().next_delay(S(0), Some(S(30))), Next::Sleep(S(30)));
        // Shorter than the interval: the interval wins, we do not poll faster than asked.
        assert_eq!(policy().next_delay(S(0), Some(S(2))), Next::Sleep(S(10)));
        // Azure has been seen asking for 1200 s: with 50 s left, that ends the wait now.
        assert_eq!(policy().next_delay(S(10), Some(S(1200))), Next::TimedOut);
    }

    #[test]
    fn zero_timeout_means_one_check_and_no_wait() {
        let p = WaitPolicy {
            interval: S(10),
            timeout: S(0),
        };
        assert_eq!(p.next_delay(S(0), None), Next::TimedOut);
    }

    #[test]
    fn remaining_saturates() {
        assert_eq!(policy().remaining(S(20)), S(40));
        assert_eq!(policy().remaining(S(90)), S(0));
    }
}
