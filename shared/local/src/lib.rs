//! Local adapters of the ports, for the `justice` command and the tests: the risk store on an
//! append-only log (the judge's tables beside it in redb), and a configuration source reading
//! recorded API items from files.

mod config_source;
mod judge;
mod report_shelf;
mod risk_log;
mod risk_store;

pub use config_source::LocalConfigSource;
pub use judge::{LocalOutbox, LocalTaskBoard};
pub use report_shelf::LocalReportShelf;
pub use risk_store::{LocalRiskStore, LocalStoreError, StateSummary, StoreSummary};
