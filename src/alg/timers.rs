//! When periodic work is due, the way quinn-proto's `poll_timeout`/`handle_timeout`
//! say it: the core keeps the deadlines, the daemon sleeps until the earliest and
//! calls in with the time (milliseconds on the daemon's monotonic clock, from its
//! start), and is told what is due. No clock is read here.
//!
//! Two schedules: housekeeping every second (sample the media counters, expire
//! registrations, idle calls and mappings: [`Processor::housekeeping`]), and every
//! five seconds a check of the datapath's surroundings (flows offloaded anyway, the
//! WAN address, our table still there), which is IO the daemon does.

use super::media::MediaCounts;
use super::Processor;
use crate::state::actions::Action;

/// Housekeeping runs this often (ms).
pub const HOUSEKEEPING_EVERY: u64 = 1_000;
/// The datapath check runs this often (ms).
pub const CHECK_EVERY: u64 = 5_000;

/// What is due at a [`Processor::handle_timeout`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Due {
    /// Sample the media counters if [`Processor::wants_media_sample`], then call
    /// [`Processor::housekeeping`] and commit what it returns.
    pub housekeeping: bool,
    /// Check the datapath's surroundings: flows offloaded anyway, the WAN address,
    /// whether our table is still there.
    pub check: bool,
}

/// The next deadline of each schedule (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timers {
    housekeeping: u64,
    check: u64,
}

impl Default for Timers {
    /// The first run of each one period after the start.
    fn default() -> Self {
        Timers {
            housekeeping: HOUSEKEEPING_EVERY,
            check: CHECK_EVERY,
        }
    }
}

/// Whether `deadline` has passed at `now`; if so it moves one period on (past `now`
/// after a stall: missed runs are not made up in a burst).
fn fire(deadline: &mut u64, every: u64, now: u64) -> bool {
    if now < *deadline {
        return false;
    }
    *deadline += every;
    if *deadline <= now {
        *deadline = now + every;
    }
    true
}

impl Processor {
    /// When the core next needs to be called with the time (ms, the daemon's clock):
    /// the earliest deadline. There is always one (housekeeping is periodic).
    pub fn poll_timeout(&self) -> u64 {
        self.timers.housekeeping.min(self.timers.check)
    }

    /// The time is `now` (ms): what is due, each deadline that passed moved on.
    pub fn handle_timeout(&mut self, now: u64) -> Due {
        Due {
            housekeeping: fire(&mut self.timers.housekeeping, HOUSEKEEPING_EVERY, now),
            check: fire(&mut self.timers.check, CHECK_EVERY, now),
        }
    }

    /// Whether housekeeping wants the media counters sampled (conntrack's per-flow
    /// packet counts, [`super::media_counts`]): only while there are calls.
    pub fn wants_media_sample(&self) -> bool {
        !self.calls.is_empty()
    }

    /// Periodic work at `now` (s): the calls' media counters from a sample (None: not
    /// sampled), then registrations, idle calls and idle signalling mappings expired.
    /// Returns the actions that withdraw them from the datapath.
    #[must_use]
    pub fn housekeeping(&mut self, now: u64, sample: Option<&MediaCounts>) -> Vec<Action> {
        if let Some(counts) = sample {
            self.calls.update_counters(now, |p| counts.get(&p).copied());
        }
        let mut actions = self.registrations.expire(now);
        let policy = self.media_policy();
        let media_timeout = u64::from(self.policy.media_timeout);
        actions.extend(
            self.calls
                .expire(now, media_timeout, policy, &mut self.pool),
        );
        self.restore.expire(now);
        let regs = &self.registrations;
        self.mappings.expire(
            &mut self.pool,
            now,
            u64::from(self.policy.signaling_timeout),
            |m| regs.get(m.private).is_some(),
        );
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Policy;

    /// Every time a schedule fires between 0 and `until` ms, calling in at each
    /// deadline the core gives and at `extra` times besides.
    fn run(until: u64, extra: &[u64]) -> (Vec<u64>, Vec<u64>) {
        let mut p = Processor::new(Policy::default());
        let (mut hk, mut check) = (Vec::new(), Vec::new());
        let mut extra = extra.to_vec();
        extra.sort_unstable();
        let mut extra = extra.into_iter().peekable();
        loop {
            let at = match extra.peek() {
                Some(&e) if e < p.poll_timeout() => extra.next().unwrap(),
                _ => p.poll_timeout(),
            };
            if at > until {
                return (hk, check);
            }
            let due = p.handle_timeout(at);
            if due.housekeeping {
                hk.push(at);
            }
            if due.check {
                check.push(at);
            }
        }
    }

    #[test]
    fn housekeeping_every_second_and_the_check_every_five_as_the_ticks_did() {
        let (hk, check) = run(10_000, &[]);
        assert_eq!(hk, (1..=10).map(|s| s * 1000).collect::<Vec<_>>());
        assert_eq!(check, vec![5_000, 10_000]);
        // Calling in early changes nothing: nothing is due before its deadline.
        let (hk2, check2) = run(10_000, &[0, 250, 999, 4_999, 5_001, 7_250]);
        assert_eq!((hk2, check2), (hk, check));
    }

    #[test]
    fn the_earliest_deadline_is_polled_and_a_stall_is_not_made_up() {
        let mut p = Processor::new(Policy::default());
        assert_eq!(p.poll_timeout(), 1_000);
        assert_eq!(p.handle_timeout(999), Due::default());
        assert_eq!(
            p.handle_timeout(1_000),
            Due {
                housekeeping: true,
                check: false
            }
        );
        assert_eq!(p.poll_timeout(), 2_000);
        // Late by a little: the schedule keeps its phase.
        assert!(p.handle_timeout(2_300).housekeeping);
        assert_eq!(p.poll_timeout(), 3_000);
        // A stall of 12 s: each fires once, and the next runs one period later.
        assert_eq!(
            p.handle_timeout(15_100),
            Due {
                housekeeping: true,
                check: true
            }
        );
        assert_eq!(p.poll_timeout(), 16_100);
        assert!(!p.handle_timeout(16_000).housekeeping);
        assert!(p.handle_timeout(16_100).housekeeping);
        assert_eq!(p.timers.check, 20_100);
    }
}
