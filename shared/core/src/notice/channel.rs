//! What every notice channel renders from, and the one list of channels. A channel is a file
//! in this folder with an implementation of [`Channel`], listed in [`CHANNELS`]: the SNS
//! message sends its rendering to the protocols it names.

use serde_json::Value;

use super::{DigestEntry, NoticeKind, Recipient};
use crate::verdict::{OpenLine, VerdictRecord};

/// The facts of a verdict's notice, decided once and rendered by every channel.
#[derive(Debug, Clone, Copy)]
pub struct VerdictFacts<'a> {
    pub kind: NoticeKind,
    pub record: &'a VerdictRecord,
    pub recipient: &'a Recipient,
    /// The resource's name, or its id when it has none (untrusted: each channel quotes it).
    pub name: &'a str,
    pub headline: &'static str,
    /// Already cleaned for SNS.
    pub subject: &'a str,
    pub security_contact: &'a str,
}

/// The facts of a team's digest: the lists already sorted and cut to what is shown.
#[derive(Debug, Clone, Copy)]
pub struct DigestFacts<'a> {
    pub team: &'a str,
    pub window: &'a str,
    pub subject: &'a str,
    /// Soonest first.
    pub tasks: &'a [&'a DigestEntry],
    pub tasks_total: usize,
    /// Most severe first.
    pub open: &'a [&'a OpenLine],
    pub open_total: usize,
    pub now: i64,
    pub security_contact: &'a str,
    /// The team's report page, when one was stored.
    pub report: Option<crate::summary::Link<'a>>,
}

/// One way a notice is shown. A text channel renders a JSON string.
pub trait Channel: Sync {
    /// The rendering's name in the notice (`text`, `json`, `chat`).
    fn name(&self) -> &'static str;
    /// The keys of SNS's `MessageStructure=json` message that carry this rendering.
    fn protocols(&self) -> &'static [&'static str];
    fn verdict(&self, facts: &VerdictFacts<'_>) -> Value;
    fn digest(&self, facts: &DigestFacts<'_>) -> Value;
}

/// Every channel, in the order of the notice's renderings.
pub static CHANNELS: [&dyn Channel; 3] = [
    &super::email::EmailText,
    &super::json::NoticeJson,
    &super::chat::ChatbotMessage,
];
