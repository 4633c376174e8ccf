//! The injected clock. In Lambda it is the wall clock; a replay uses each event's own time so
//! that replaying the same events always gives the same states.

use justice_core::time::Millis;

pub trait Clock: Send + Sync {
    /// The time to score at, for a notification created at `sent`.
    fn now(&self, sent: Millis) -> Millis;
}

/// Each event's own time (its notification's creation time).
#[derive(Debug, Clone, Copy, Default)]
pub struct EventClock;

impl Clock for EventClock {
    fn now(&self, sent: Millis) -> Millis {
        sent
    }
}

/// Each event's own time, but never later than `limit` (the wall clock when a replay starts):
/// a recorded notification cannot come from the future, and one that claims to would set the
/// clock of everything after it (and its items' capture times would pass the skew check).
#[derive(Debug, Clone, Copy)]
pub struct RecordedClock {
    pub limit: Millis,
}

impl Clock for RecordedClock {
    fn now(&self, sent: Millis) -> Millis {
        sent.min(self.limit)
    }
}

/// One fixed instant (re-scoring "as of" a time).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Millis);

impl Clock for FixedClock {
    fn now(&self, _: Millis) -> Millis {
        self.0
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self, _: Millis) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as Millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_clock_never_runs_ahead_of_its_limit() {
        let c = RecordedClock { limit: 1_000 };
        assert_eq!(
            (c.now(500), c.now(1_000), c.now(4_000_000_000_000)),
            (500, 1_000, 1_000)
        );
    }
}
