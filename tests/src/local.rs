//! A judge and a notifier over the local adapters in a temporary directory, for tests that
//! run several batches against one store.

use justice_core::policy::Policy;
use justice_core::verdict::VerdictRecord;
use justice_core::RiskState;
use justice_local::{LocalOutbox, LocalRiskStore, LocalTaskBoard};
use justice_service::{Change, Judge, JudgeSettings, Notifier, NotifierSettings};

use crate::states::ACCOUNT;

pub struct LocalWorld {
    pub dir: tempfile::TempDir,
    pub store: LocalRiskStore,
    pub board: LocalTaskBoard,
    pub outbox: LocalOutbox,
    pub settings: JudgeSettings,
    pub notifier: NotifierSettings,
    pub rt: tokio::runtime::Runtime,
}

impl LocalWorld {
    /// A live board for the test account, with `blast_per_hour` resources a clock hour.
    pub fn new(blast_per_hour: u32) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        LocalWorld {
            store: LocalRiskStore::open(dir.path()).expect("store"),
            board: LocalTaskBoard::new(dir.path(), false),
            outbox: LocalOutbox::new(dir.path()),
            settings: JudgeSettings {
                dry_run: false,
                accounts: vec![ACCOUNT.into()],
                blast_per_hour,
                max_attempts: 3,
            },
            notifier: NotifierSettings {
                default_team: "security".into(),
                security_contact: "security@example.com".into(),
            },
            rt: crate::runtime(),
            dir,
        }
    }

    /// One judge batch of these states (as the stream delivers them) at `now`: the verdict
    /// records it wrote. Fails the test on any failed change.
    pub fn judge(&self, states: &[RiskState], policy: &Policy, now: i64) -> Vec<VerdictRecord> {
        let judge = Judge {
            board: &self.board,
            dockets: &self.store,
            outbox: &self.outbox,
            settings: &self.settings,
        };
        let changes: Vec<Change> = states
            .iter()
            .map(|s| Change {
                id: format!("{}@{}", s.key, s.revision),
                key: s.key.clone(),
                state: Some(s.clone()),
            })
            .collect();
        self.rt.block_on(crate::write_states(&self.store, states));
        let r = self
            .rt
            .block_on(judge.judge(&changes, policy, now))
            .expect("judged");
        assert!(r.failed.is_empty(), "{:?}", r.failed);
        self.board.take_new()
    }

    /// The scheduled digests of `window`, sent at `now`: who got one.
    pub fn digest(&self, window: &str, now: i64) -> Vec<String> {
        let notifier = Notifier {
            board: &self.board,
            outbox: &self.outbox,
            settings: &self.notifier,
        };
        self.rt
            .block_on(async {
                let view = justice_service::read_board(&self.board, &self.store, false).await?;
                notifier.digest(&view, window, now, None).await
            })
            .expect("digest")
    }

    /// The messages to the security team so far, oldest first.
    pub fn security_alerts(&self) -> Vec<serde_json::Value> {
        self.outbox.security_alerts().expect("security alerts")
    }
}
