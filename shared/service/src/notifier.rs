//! The notifier, written once against the ports: a verdict record in, one notice out, once.
//!
//! Order: check the sent log, publish, then record the notice as sent. A crash (or a failed
//! write of the sent log) between the publish and the record costs one duplicate notice when
//! the event is retried; the other order would cost a lost warning, which is worse: an owner
//! who is not warned loses the chance to fix the resource before Krampus acts.

use std::collections::BTreeMap;

use justice_core::notice::{self, AccountMap, DigestEntry, NoticeContext, NoticeKind};
use justice_core::policy::Policy;
use justice_core::time::Millis;
use justice_core::verdict::VerdictRecord;

use crate::ports::{BoardError, Outbox, OutboxError, TaskBoard};

#[derive(Debug, Clone)]
pub struct NotifierSettings {
    /// The team of resources no tag or mapping names.
    pub default_team: String,
    /// How owners reach the security team, printed in every notice.
    pub security_contact: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    Sent {
        kind: NoticeKind,
        team: String,
    },
    AlreadySent,
    /// The verdict calls for no notice (e.g. a clean resource).
    NoNotice,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Board(#[from] BoardError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("verdict record {0} does not exist")]
    Missing(String),
}

pub struct Notifier<'a, B, O> {
    pub board: &'a B,
    pub outbox: &'a O,
    pub settings: &'a NotifierSettings,
}

impl<B: TaskBoard, O: Outbox> Notifier<'_, B, O> {
    pub async fn notify(
        &self,
        verdict_key: &str,
        policy: &Policy,
    ) -> Result<Notified, NotifyError> {
        let record = self
            .board
            .verdict(verdict_key)
            .await?
            .ok_or_else(|| NotifyError::Missing(verdict_key.to_owned()))?;
        let accounts = self.board.account_map().await?;
        self.notify_record(&record, &accounts, policy).await
    }

    /// The notice of a record already read (the local pipeline hands them over directly).
    pub async fn notify_record(
        &self,
        record: &VerdictRecord,
        accounts: &AccountMap,
        policy: &Policy,
    ) -> Result<Notified, NotifyError> {
        let ctx = NoticeContext {
            policy,
            accounts,
            default_team: &self.settings.default_team,
            security_contact: &self.settings.security_contact,
        };
        let Some(n) = notice::for_verdict(record, &ctx) else {
            return Ok(Notified::NoNotice);
        };
        if self.outbox.was_sent(&n.id).await? {
            return Ok(Notified::AlreadySent);
        }
        self.outbox.publish(&n).await?;
        self.outbox.mark_sent(&n.id).await?;
        Ok(Notified::Sent {
            kind: n.kind,
            team: n.recipient.team,
        })
    }

    /// One message per team with pending tasks in `tasks.json`, once per `window`.
    pub async fn digest(&self, window: &str, now: Millis) -> Result<Vec<String>, NotifyError> {
        let file = self.board.read().await?.file;
        let accounts = self.board.account_map().await?;
        let mut by_team: BTreeMap<String, Vec<DigestEntry>> = BTreeMap::new();
        for t in &file.tasks {
            if t.get("source").and_then(|v| v.as_str()) != Some(justice_core::krampus::TASK_SOURCE)
            {
                continue;
            }
            let s = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let account = s("aws_account");
            // The order of `notice::recipient`: team tag, account mapping, owner, default.
            let team = t
                .get("team")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .or_else(|| accounts.entries.get(&account).map(|m| m.team.clone()))
                .or_else(|| t.get("owner").and_then(|v| v.as_str()).map(str::to_owned))
                .unwrap_or_else(|| self.settings.default_team.clone());
            by_team
                .entry(notice::attribute(&team))
                .or_default()
                .push(DigestEntry {
                    resource: s("human_readable_name"),
                    arn: s("aws_resource_name"),
                    action: s("action"),
                    action_time: t.get("action_time").and_then(|v| v.as_i64()).unwrap_or(0),
                    issues: t
                        .get("issues")
                        .and_then(|v| v.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|i| i.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
        }
        let mut sent = Vec::new();
        for (team, entries) in by_team {
            let n = notice::digest(
                &team,
                window,
                &entries,
                now,
                &self.settings.security_contact,
            );
            if self.outbox.was_sent(&n.id).await? {
                continue;
            }
            self.outbox.publish(&n).await?;
            self.outbox.mark_sent(&n.id).await?;
            sent.push(team);
        }
        Ok(sent)
    }
}
