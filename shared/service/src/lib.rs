//! The ports of the Justice Engine and the functions written once against them. The core
//! decides; this crate sequences reads and writes through the ports; adapters (`justice-local`,
//! `justice-aws`) implement the ports; the Lambda handlers and the `justice` command wire them.

pub mod clock;
pub mod failure;
pub mod intake;
pub mod jobs;
pub mod judge;
pub mod notifier;
pub mod ports;
pub mod report;
pub mod scorer;

pub use clock::{Clock, EventClock, FixedClock, RecordedClock, SystemClock};
pub use failure::RecordFailure;
pub use intake::{EventReport, RecordDone};
pub use jobs::{Job, JobDone, JobSettings};
pub use judge::{BatchReport, Change, Judge, JudgeError, JudgeSettings};
pub use notifier::{
    read_board, BoardView, Handled, Notified, Notifier, NotifierSettings, NotifyError,
};
pub use ports::{
    BoardError, BoardRead, BoardWrite, BudgetAsk, Commit, ConfigSource, DiscoveredPage,
    DocketStore, Dockets, KeyPage, OpenPage, Outbox, OutboxError, RiskStore, SecurityAlert,
    SourceError, StoreError, Stored, TaskBoard, Write,
};
pub use scorer::{prepare, Outcome, Prepared, RescoreReport, ScoreError, Scorer};
