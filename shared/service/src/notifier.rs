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

use justice_core::verdict::OpenLine;

use crate::ports::{
    BoardError, DocketStore, Outbox, OutboxError, SecurityAlert, StoreError, TaskBoard,
};

/// Open verdicts read a page at a time, and the most a digest run keeps.
const OPEN_PAGE: usize = 500;
const MAX_OPEN: usize = 20_000;

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
    #[error(transparent)]
    Store(#[from] StoreError),
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

    /// One message per team, once per `window`: its pending tasks in `tasks.json`, and its
    /// resources whose verdict waits on a person (warnings, no automatic fix, held) until they
    /// are fixed; and one to the security team listing every resource nothing automatic will
    /// fix. Teams with neither get nothing.
    pub async fn digest<D: DocketStore>(
        &self,
        dockets: &D,
        dry_run: bool,
        window: &str,
        now: Millis,
    ) -> Result<Vec<String>, NotifyError> {
        let file = self.board.read().await?.file;
        let accounts = self.board.account_map().await?;
        let team = |tag: Option<&str>, account: &str, owner: Option<&str>| {
            notice::team_of(tag, account, owner, &accounts, &self.settings.default_team)
        };
        let mut by_team: BTreeMap<String, (Vec<DigestEntry>, Vec<OpenLine>)> = BTreeMap::new();
        for t in &file.tasks {
            if t.get("source").and_then(|v| v.as_str()) != Some(justice_core::krampus::TASK_SOURCE)
            {
                continue;
            }
            let s = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let account = s("aws_account");
            let team = team(
                t.get("team").and_then(|v| v.as_str()),
                &account,
                t.get("owner").and_then(|v| v.as_str()),
            );
            by_team.entry(team).or_default().0.push(DigestEntry {
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
        // The open verdicts, a page at a time; at most `MAX_OPEN` are kept for the messages
        // (each lists a few hundred at most), the rest only counted.
        let mut security = Vec::new();
        let (mut cursor, mut kept, mut more) = (None::<String>, 0usize, 0usize);
        loop {
            let page = dockets
                .open_verdicts(dry_run, cursor.as_deref(), OPEN_PAGE)
                .await?;
            for (_, line) in page.lines {
                if kept >= MAX_OPEN {
                    more += 1;
                    continue;
                }
                kept += 1;
                let team = team(line.team.as_deref(), &line.account, line.owner.as_deref());
                if line.needs_security() {
                    security.push((team.clone(), line.clone()));
                }
                by_team.entry(team).or_default().1.push(line);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if more > 0 {
            tracing::warn!(
                more,
                "open verdicts beyond the digest's limit were not listed"
            );
        }
        let mut sent = Vec::new();
        for (team, (entries, open)) in by_team {
            let open: Vec<&OpenLine> = open.iter().collect();
            let n = notice::digest(
                &team,
                window,
                &entries,
                &open,
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
        let lines: Vec<(String, &OpenLine)> =
            security.iter().map(|(t, l)| (t.clone(), l)).collect();
        if let Some((subject, body)) = notice::security_digest(window, &lines) {
            // `#` is in no team name (`notice::attribute`): no team's digest has this id.
            let id = format!("digest-{window}-#security");
            if !self.outbox.was_sent(&id).await? {
                self.outbox
                    .alert_security(&SecurityAlert { subject, body })
                    .await?;
                self.outbox.mark_sent(&id).await?;
                sent.push("security (escalations)".to_owned());
            }
        }
        Ok(sent)
    }
}
