//! The wait: two pure parts, a policy ([`WaitPolicy`]: when to check again) and a judge
//! ([`Judge`]: what a check's answer means, owning refusal counting and repeats), and a small
//! orchestrator ([`wait`]) that drives a check with them, in the shape of aws-smithy's
//! waiters: check, judge, next delay, sleep. It numbers the checks and tells its caller of
//! each one ([`Progress`]).
//!
//! One deadline covers the whole wait. After each check that finds something still changing,
//! [`WaitPolicy::next_delay`] says how long to sleep before the next check, or that the wait is
//! over. It never sleeps past the deadline, not even for a server's `Retry-After`: a throttle
//! that asks for more time than is left sleeps to the deadline and ends the wait there, as
//! [`WaitEnd::Throttled`]. How a wait ends is one type, [`WaitEnd`]. The orchestrator reads
//! tokio's clock and sleeps on it, so tests run it on a paused clock: minutes of waiting in
//! milliseconds.

use crate::error::{Failure, FailureKind, REFUSALS_TO_GIVE_UP};
use crate::reconcile::{Instance, InstanceState};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Below this, what is left of the deadline is not worth another check.
const MIN_USEFUL_DELAY: Duration = Duration::from_millis(1);
/// A check that starts just before the deadline still gets this long to finish.
pub const CHECK_GRACE: Duration = Duration::from_secs(30);
/// The most jitter adds to a sleep, as a fraction of it: enough that scale sets started by one
/// trigger drift apart instead of polling in step.
pub const JITTER: f64 = 0.2;

/// When to check again while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The shortest time between checks (`VMSS.Poll.Interval`): a floor, never undercut.
    pub interval: Duration,
    /// The whole wait's time, from the step's start (`VMSS.Timeout.Value`).
    pub timeout: Duration,
    /// How far past the deadline any call of the step may run (the contract's 2 minutes):
    /// a check started late never ends later than that, whatever the servers do.
    pub overrun: Duration,
}

/// The policy's answer after a check that did not settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Sleep this long, then check again.
    Sleep(Duration),
    /// A server asks to be left alone until after the deadline: sleep this long (what is left
    /// of the wait), then stop waiting.
    SleepToDeadline(Duration),
    /// The deadline has come: stop waiting.
    TimedOut,
}

impl WaitPolicy {
    /// What to do after a check that found something still changing (or failed transiently),
    /// `elapsed` after the wait started. `retry_after` is a server's request to back off;
    /// `pace` the interval a shared read budget asks for (see [`pace`]).
    pub fn next_delay(
        &self,
        elapsed: Duration,
        retry_after: Option<Duration>,
        pace: Option<Duration>,
    ) -> Next {
        let left = self.timeout.saturating_sub(elapsed);
        // Asked first: a check throttled on the deadline itself (nothing left) was asked to
        // come back after it too, however short its `Retry-After`.
        if retry_after.is_some_and(|r| r > left) {
            // The server will refuse us until after the deadline: no check before then can
            // succeed, and none may come after it.
            return Next::SleepToDeadline(left);
        }
        if left < MIN_USEFUL_DELAY {
            return Next::TimedOut;
        }
        let wanted = self
            .interval
            .max(retry_after.unwrap_or_default())
            .max(pace.unwrap_or_default());
        // The last check lands on the deadline itself, never after it.
        Next::Sleep(wanted.min(left))
    }

    /// How much of the wait's time is left `elapsed` after the start (zero once it is spent).
    pub fn remaining(&self, elapsed: Duration) -> Duration {
        self.timeout.saturating_sub(elapsed)
    }

    /// How long a check started `elapsed` after the start may take: what is left of the wait
    /// and [`CHECK_GRACE`], but never past the step's own end (the deadline plus the overrun),
    /// even when the calls before the wait used up the deadline.
    pub fn check_limit(&self, elapsed: Duration) -> Duration {
        let step_left = (self.timeout + self.overrun).saturating_sub(elapsed);
        (self.remaining(elapsed) + CHECK_GRACE).min(step_left)
    }
}

/// What is left in one of Azure's read buckets (`x-ms-ratelimit-remaining-resource`), and how
/// much of it one check spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    /// The bucket's window: 3 or 30 minutes.
    pub window: Duration,
    /// Reads left in it, as the last answer said.
    pub remaining: u32,
    /// Reads of it one check makes.
    pub per_check: u32,
}

/// The interval that makes every bucket last until its window refills, spending at most half
/// of what is left: the other half is for the rest of the subscription (other steps, other
/// deployments) sharing it. `None` when no bucket is known.
pub fn pace(buckets: &[Bucket]) -> Option<Duration> {
    buckets
        .iter()
        .map(|b| {
            let checks_left =
                (f64::from(b.remaining) / 2.0 / f64::from(b.per_check.max(1))).max(1.0);
            b.window.div_f64(checks_left)
        })
        .max()
}

/// Fewer reads than this left in a bucket is low whatever its size.
pub const LOW_READS: u32 = 50;

/// A bucket is running low when it has fewer than [`LOW_READS`] left, or less than a quarter of
/// the most it had during the run (`most`, as far as the step has seen). A read budget too small
/// for a short `VMSS.Poll.Interval` is not low by itself: 2,590 of 2,600 left stretches a
/// 1-second interval, and is plenty.
pub fn running_low(remaining: u32, most: u32) -> bool {
    remaining < LOW_READS || remaining.saturating_mul(4) < most
}

/// Whether one scale set has settled, as the contract's "Waiting" says: its instances listed
/// (they are not while the set itself is changing) with none still changing, its latest
/// rolling upgrade not rolling forward, and no automatic zone rebalance under way (Azure has
/// created a VM and will delete one of the set's when it ends).
pub fn set_settled(
    instances: Option<&[Instance]>,
    rolling_forward: bool,
    rebalancing: bool,
) -> bool {
    !rolling_forward
        && !rebalancing
        && instances.is_some_and(|is| is.iter().all(|i| i.state() != InstanceState::Pending))
}

/// What one check saw.
#[derive(Debug)]
pub struct Look<T> {
    /// What it read.
    pub value: T,
    /// True when nothing is changing any more.
    pub settled: bool,
    /// The interval the read budget asks for, if any ([`pace`]).
    pub pace: Option<Duration>,
}

/// How a wait ends: the one answer the step acts on. Each variant means one thing.
#[derive(Debug)]
pub enum WaitEnd<T> {
    /// Nothing is changing any more: what the settling check read.
    Settled(T),
    /// The deadline came with something still changing: what the last check read.
    Deadline(T),
    /// A server asked (`Retry-After`) to be left alone until after the deadline: the wait
    /// slept to the deadline and ended there. A throttled check is not a failed listing:
    /// `last` is what the last check that answered read (none when none did), `failure` the
    /// throttle.
    Throttled {
        /// What the last answered check read.
        last: Option<T>,
        /// The throttle that ended the wait.
        failure: Failure,
    },
    /// A check failed in a way another check cannot mend: a permanent failure, or connection
    /// refused [`REFUSALS_TO_GIVE_UP`] times running.
    Failed(Failure),
    /// The deadline came while the checks were failing (each one passing): the last failure.
    /// No listing to act on, so `Proceed` does not cover it.
    FailingAtDeadline(Failure),
}

/// What one check came to, as the wait tells its caller.
#[derive(Debug)]
pub enum Checked<'a, T> {
    /// Nothing is changing any more: the settling check.
    Settled(&'a T),
    /// Something is still changing.
    Changing(&'a T),
    /// A passing failure; `repeats` is how many checks in a row before it failed the same way
    /// (0: a new failure, worth saying; more: worth counting).
    Failing {
        /// The failure.
        failure: &'a Failure,
        /// Checks in a row before this one that failed the same way.
        repeats: u32,
    },
    /// A failure that ends the wait ([`WaitEnd::Failed`]).
    Ended(&'a Failure),
}

/// What the wait tells its caller as it goes: every check, numbered from 1, once.
pub trait Progress<T> {
    /// Check number `number` came to `checked`.
    fn checked(&mut self, number: u32, checked: Checked<'_, T>);
}

/// The pure acceptor: what one check's answer means for the wait. It owns what needs
/// remembering across checks: connection refusals in a row, and how often the same failure
/// repeated.
#[derive(Debug, Default)]
pub struct Judge {
    refusals: u32,
    previous: Option<String>,
    repeats: u32,
}

/// The judge's verdict on one answer.
#[derive(Debug)]
pub enum Verdict<T> {
    /// Settled: what the check read.
    Settled(T),
    /// Still changing: what it read, and the interval the read budget asks for.
    Changing(T, Option<Duration>),
    /// A passing failure, the `repeats`-th in a row of its kind.
    Failing(Failure, u32),
    /// A failure another check cannot mend.
    Ended(Failure),
}

impl Judge {
    /// Judges one check's answer.
    pub fn judge<T>(&mut self, answer: Result<Look<T>, Failure>) -> Verdict<T> {
        let f = match answer {
            Ok(look) => {
                (self.refusals, self.previous) = (0, None);
                return if look.settled {
                    Verdict::Settled(look.value)
                } else {
                    Verdict::Changing(look.value, look.pace)
                };
            }
            Err(f) => f,
        };
        if !f.is_transient() {
            return Verdict::Ended(f);
        }
        self.refusals = if f.kind == FailureKind::ConnectionRefused {
            self.refusals + 1
        } else {
            0
        };
        if self.refusals >= REFUSALS_TO_GIVE_UP {
            return Verdict::Ended(f);
        }
        self.repeats = match &self.previous {
            Some(p) if *p == f.message => self.repeats + 1,
            _ => 0,
        };
        self.previous = Some(f.message.clone());
        Verdict::Failing(f, self.repeats)
    }
}

/// Checks until settled or the deadline (`started` + the policy's timeout). The loop reads:
/// check, judge ([`Judge`]), next delay ([`WaitPolicy::next_delay`]), sleep. Sleeps are
/// stretched by [`JITTER`] times `jitter()` (a number in `[0, 1)`), never past the deadline.
pub async fn wait<T, F, Fut>(
    policy: WaitPolicy,
    started: Instant,
    mut jitter: impl FnMut() -> f64,
    progress: &mut impl Progress<T>,
    mut check: F,
) -> WaitEnd<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Look<T>, Failure>>,
{
    let mut judge = Judge::default();
    let mut answered: Option<T> = None;
    for number in 1.. {
        let limit = policy.check_limit(started.elapsed());
        let answer = tokio::time::timeout(limit, check())
            .await
            .unwrap_or_else(|_| Err(no_answer(limit)));
        let (failed, retry_after, pace) = match judge.judge(answer) {
            Verdict::Settled(value) => {
                progress.checked(number, Checked::Settled(&value));
                return WaitEnd::Settled(value);
            }
            Verdict::Changing(value, pace) => {
                progress.checked(number, Checked::Changing(&value));
                answered = Some(value);
                (None, None, pace)
            }
            Verdict::Failing(failure, repeats) => {
                progress.checked(
                    number,
                    Checked::Failing {
                        failure: &failure,
                        repeats,
                    },
                );
                let after = failure.retry_after;
                (Some(failure), after, None)
            }
            Verdict::Ended(failure) => {
                progress.checked(number, Checked::Ended(&failure));
                return WaitEnd::Failed(failure);
            }
        };
        match policy.next_delay(started.elapsed(), retry_after, pace) {
            Next::Sleep(d) => {
                let left = policy.remaining(started.elapsed());
                let stretched = d.mul_f64(1.0 + JITTER * jitter().clamp(0.0, 1.0));
                tokio::time::sleep(stretched.min(left)).await
            }
            Next::SleepToDeadline(left) => {
                tokio::time::sleep(left.min(policy.remaining(started.elapsed()))).await;
                return match failed {
                    // Only a failed check carries a `Retry-After`.
                    Some(failure) => WaitEnd::Throttled {
                        last: answered,
                        failure,
                    },
                    None => at_deadline(None, answered),
                };
            }
            Next::TimedOut => return at_deadline(failed, answered),
        }
    }
    unreachable!("the checks are numbered without end")
}

/// A check that did not answer within its limit.
fn no_answer(limit: Duration) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!(
            "Azure did not answer within {} seconds.",
            limit.as_secs_f64().round()
        ),
    )
}

/// How a wait that reached its deadline ends: on what the last check read, unless it failed
/// (`Proceed` never covers a failed listing).
fn at_deadline<T>(failed: Option<Failure>, answered: Option<T>) -> WaitEnd<T> {
    match (failed, answered) {
        (None, Some(value)) => WaitEnd::Deadline(value),
        (failed, _) => WaitEnd::FailingAtDeadline(failed.unwrap_or_else(|| {
            Failure::new(
                FailureKind::Timeout,
                "No check answered before the deadline.",
            )
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_is_low_below_fifty_or_a_quarter_of_its_most() {
        assert!(running_low(49, 60));
        assert!(!running_low(2_590, 2_600));
        assert!(running_low(600, 2_600));
        assert!(!running_low(650, 2_600));
    }

    #[test]
    fn a_set_settles_only_listed_steady_and_free_of_azures_own_work() {
        let vm = |prov: &str, power: &str| Instance {
            provisioning_state: Some(prov.into()),
            power_state: Some(power.into()),
            ..Instance::default()
        };
        let steady = [vm("Succeeded", "running"), vm("Failed", "running")];
        assert!(set_settled(Some(&steady), false, false));
        assert!(!set_settled(None, false, false));
        assert!(!set_settled(Some(&steady), true, false));
        assert!(!set_settled(Some(&steady), false, true));
        assert!(!set_settled(
            Some(&[vm("Succeeded", "running"), vm("Creating", "")]),
            false,
            false
        ));
    }
    use std::collections::VecDeque;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn policy() -> WaitPolicy {
        WaitPolicy {
            interval: S(10),
            timeout: S(60),
            overrun: S(120),
        }
    }

    #[test]
    fn a_check_never_runs_past_the_steps_own_end() {
        let p = WaitPolicy {
            overrun: S(6),
            ..policy()
        };
        assert_eq!(p.check_limit(S(0)), S(60) + CHECK_GRACE.min(S(6)));
        // The calls before the wait took longer than the deadline: what is left of the
        // overrun, not the grace on top of it.
        assert_eq!(p.check_limit(S(64)), S(2));
        assert_eq!(p.check_limit(S(90)), S(0));
        assert_eq!(policy().check_limit(S(50)), S(10) + CHECK_GRACE);
    }

    #[test]
    fn sleeps_the_interval_while_time_is_left() {
        assert_eq!(policy().next_delay(S(0), None, None), Next::Sleep(S(10)));
        assert_eq!(policy().next_delay(S(45), None, None), Next::Sleep(S(10)));
    }

    #[test]
    fn the_last_sleep_ends_at_the_deadline() {
        assert_eq!(policy().next_delay(S(55), None, None), Next::Sleep(S(5)));
        assert_eq!(policy().next_delay(S(60), None, None), Next::TimedOut);
        assert_eq!(policy().next_delay(S(61), None, None), Next::TimedOut);
    }

    #[test]
    fn retry_after_stretches_the_delay_but_never_past_the_deadline() {
        assert_eq!(
            policy().next_delay(S(0), Some(S(30)), None),
            Next::Sleep(S(30))
        );
        // Shorter than the interval: the interval wins, we do not poll faster than asked.
        assert_eq!(
            policy().next_delay(S(0), Some(S(2)), None),
            Next::Sleep(S(10))
        );
        // Azure has been seen asking for 1200 s: with 50 s left, that ends the wait at the
        // deadline.
        assert_eq!(
            policy().next_delay(S(10), Some(S(1200)), None),
            Next::SleepToDeadline(S(50))
        );
    }

    #[test]
    fn the_read_budget_stretches_the_interval_the_interval_is_the_floor() {
        assert_eq!(
            policy().next_delay(S(0), None, Some(S(25))),
            Next::Sleep(S(25))
        );
        assert_eq!(
            policy().next_delay(S(0), None, Some(S(1))),
            Next::Sleep(S(10))
        );
        assert_eq!(
            policy().next_delay(S(50), None, Some(S(25))),
            Next::Sleep(S(10))
        );
    }

    #[test]
    fn pace_makes_half_of_what_is_left_last_the_window() {
        let three = S(180);
        let b = |remaining, per_check| Bucket {
            window: three,
            remaining,
            per_check,
        };
        // Plenty left: well under any floor.
        assert_eq!(pace(&[b(200, 1)]), Some(Duration::from_secs_f64(1.8)));
        // 18 left, one read a check: 9 checks over 3 minutes.
        assert_eq!(pace(&[b(18, 1)]), Some(S(20)));
        // Two reads a check halve the checks left.
        assert_eq!(pace(&[b(18, 2)]), Some(S(40)));
        // Nothing left: one check a window.
        assert_eq!(pace(&[b(0, 1)]), Some(three));
        // The tightest bucket decides.
        let thirty = Bucket {
            window: S(1800),
            remaining: 60,
            per_check: 1,
        };
        assert_eq!(pace(&[b(200, 1), thirty]), Some(S(60)));
        assert_eq!(pace(&[]), None);
    }

    #[test]
    fn zero_timeout_means_one_check_and_no_wait() {
        let p = WaitPolicy {
            timeout: S(0),
            ..policy()
        };
        assert_eq!(p.next_delay(S(0), None, None), Next::TimedOut);
    }

    /// A scripted check, and what the wait said.
    #[derive(Default)]
    struct Script {
        said: Vec<String>,
    }

    impl Progress<u32> for Script {
        fn checked(&mut self, number: u32, checked: Checked<'_, u32>) {
            self.said.push(match checked {
                Checked::Settled(value) => format!("{number}: settled {value}"),
                Checked::Changing(value) => format!("{number}: changing {value}"),
                Checked::Failing { failure, repeats } => {
                    format!("{number}: {} x{repeats}", failure.message)
                }
                Checked::Ended(failure) => format!("{number}: ended {}", failure.message),
            });
        }
    }

    async fn run(
        answers: Vec<Result<(u32, bool), Failure>>,
        jitter: f64,
    ) -> (WaitEnd<u32>, Script, Vec<Duration>) {
        let started = Instant::now();
        let mut queue: VecDeque<_> = answers.into();
        let mut script = Script::default();
        let mut at = Vec::new();
        let result = wait(
            policy(),
            started,
            || jitter,
            &mut script,
            || {
                at.push(started.elapsed());
                let next = queue.pop_front().unwrap_or(Ok((0, false)));
                async move {
                    next.map(|(value, settled)| Look {
                        value,
                        settled,
                        pace: None,
                    })
                }
            },
        )
        .await;
        (result, script, at)
    }

    fn failure(kind: FailureKind, text: &str) -> Failure {
        Failure::new(kind, text)
    }

    #[tokio::test(start_paused = true)]
    async fn checks_until_settled_on_the_interval() {
        let (r, script, at) = run(vec![Ok((1, false)), Ok((2, false)), Ok((3, true))], 0.0).await;
        assert!(matches!(r, WaitEnd::Settled(3)));
        assert_eq!(at, [S(0), S(10), S(20)]);
        assert_eq!(
            script.said,
            ["1: changing 1", "2: changing 2", "3: settled 3"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_on_the_deadline_never_after_it() {
        let (r, _, at) = run(vec![], 0.9).await;
        assert!(matches!(r, WaitEnd::Deadline(0)));
        // Jitter stretches each sleep by up to a fifth, but the last check is at the deadline.
        assert_eq!(*at.last().unwrap(), S(60));
        let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
        let (last, before) = gaps.split_last().unwrap();
        assert!(
            before.iter().all(|g| *g >= S(10)),
            "the floor holds: {at:?}"
        );
        assert!(
            *last <= S(12),
            "the last sleep is cut at the deadline: {at:?}"
        );
        assert!(
            at.windows(2).any(|w| w[1] - w[0] > S(10)),
            "jitter applied: {at:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeated_failure_is_said_once_then_counted() {
        let busy = || Err(failure(FailureKind::ServerError, "busy"));
        let (r, script, _) = run(vec![busy(), busy(), busy(), Ok((1, true))], 0.0).await;
        assert!(matches!(r, WaitEnd::Settled(1)));
        assert_eq!(
            script.said,
            ["1: busy x0", "2: busy x1", "3: busy x2", "4: settled 1"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_failure_ends_the_wait_at_once() {
        let (r, script, at) = run(vec![Err(failure(FailureKind::Forbidden, "403"))], 0.0).await;
        let WaitEnd::Failed(failure) = r else {
            panic!("{r:?}")
        };
        assert_eq!(failure.kind, FailureKind::Forbidden);
        assert_eq!(at.len(), 1);
        assert_eq!(
            script.said,
            ["1: ended 403"],
            "the ending check is told too"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn connection_refused_three_times_running_is_permanent() {
        let refused = || Err(failure(FailureKind::ConnectionRefused, "refused"));
        let (r, _, at) = run(
            vec![refused(), Ok((1, false)), refused(), refused(), refused()],
            0.0,
        )
        .await;
        assert!(
            matches!(&r, WaitEnd::Failed(failure) if failure.kind == FailureKind::ConnectionRefused),
            "{r:?}"
        );
        assert_eq!(at.len(), 5, "a success in between resets the count");
    }

    #[tokio::test(start_paused = true)]
    async fn failing_at_the_deadline_is_not_a_timeout_to_proceed_on() {
        let busy = || Err(failure(FailureKind::ServerError, "busy"));
        let mut answers = vec![Ok((1, false))];
        answers.extend((0..10).map(|_| busy()));
        let (r, _, at) = run(answers, 0.0).await;
        assert!(
            matches!(&r, WaitEnd::FailingAtDeadline(failure) if failure.message == "busy"),
            "{r:?}"
        );
        assert_eq!(*at.last().unwrap(), S(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_past_the_deadline_sleeps_to_it_and_ends_throttled() {
        let throttled = || failure(FailureKind::Throttled, "429").retry_after(Some(S(1200)));
        let started = Instant::now();
        let (r, _, at) = run(vec![Ok((1, false)), Err(throttled())], 0.0).await;
        assert_eq!(at, [S(0), S(10)], "no check after the throttle");
        assert_eq!(
            started.elapsed(),
            S(60),
            "slept to the deadline, not past it"
        );
        assert!(
            matches!(&r, WaitEnd::Throttled { last: Some(1), failure } if failure.kind == FailureKind::Throttled),
            "{r:?}"
        );
        // Throttled on the very first check: nothing read yet, the wait still lasts to the end.
        let started = Instant::now();
        let (r, _, at) = run(vec![Err(throttled())], 0.0).await;
        assert_eq!((at.len(), started.elapsed()), (1, S(60)));
        assert!(matches!(r, WaitEnd::Throttled { last: None, .. }), "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_throttled_at_the_deadline_itself_ends_throttled() {
        let throttled = failure(FailureKind::Throttled, "429").retry_after(Some(S(5)));
        let mut answers: Vec<_> = (1..=6).map(|n| Ok((n, false))).collect();
        answers.push(Err(throttled));
        let (r, _, at) = run(answers, 0.0).await;
        assert_eq!(
            at.last(),
            Some(&S(60)),
            "the last check lands on the deadline"
        );
        assert!(
            matches!(&r, WaitEnd::Throttled { last: Some(6), .. }),
            "{r:?}"
        );
        // A check that failed otherwise at the deadline still stops the wait.
        let mut answers: Vec<_> = (1..=6).map(|n| Ok((n, false))).collect();
        answers.push(Err(failure(FailureKind::ServerError, "503")));
        let (r, _, _) = run(answers, 0.0).await;
        assert!(matches!(&r, WaitEnd::FailingAtDeadline(_)), "{r:?}");
    }

    #[test]
    fn a_retry_after_past_the_deadline_means_sleeping_to_it() {
        assert_eq!(
            policy().next_delay(S(10), Some(S(1200)), None),
            Next::SleepToDeadline(S(50))
        );
        assert_eq!(
            policy().next_delay(S(10), Some(S(50)), None),
            Next::Sleep(S(50))
        );
    }
}
