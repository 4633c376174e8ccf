//! The ports of the Justice Engine and the functions written once against them. The core
//! decides; this crate sequences reads and writes through the ports; adapters (`justice-local`,
//! `justice-aws`) implement the ports; the Lambda handlers and the `justice` command wire them.

pub mod clock;
pub mod ports;
pub mod scorer;

pub use clock::{Clock, EventClock, FixedClock, SystemClock};
pub use ports::{Commit, ConfigSource, DiscoveredPage, RiskStore, SourceError, StoreError, Stored};
pub use scorer::{prepare, Outcome, Prepared, RescoreReport, ScoreError, Scorer};
