//! The summary numbers of a report page, and the link to it, as the digests carry them: apart
//! from `report` so that the notices need nothing of how a page is made.

use crate::time::Millis;

/// The summary numbers at the top of a page, and in the digests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Resources on the page: with open findings, or named by a task or an open verdict.
    pub resources: usize,
    /// Of them, by level: none (below warn), warn, disable, kill.
    pub by_level: [usize; 4],
    pub tasks: usize,
    /// Tasks Krampus may run within 24 h (overdue ones included), and within 72 h.
    pub due_24h: usize,
    pub due_72h: usize,
    /// Verdicts held by the blast-radius limit, and ones nothing automatic can carry out.
    pub held: usize,
    pub unactionable: usize,
}

impl Summary {
    /// One line for a text digest.
    pub fn line(&self) -> String {
        format!(
            "{} risky resource(s): {} kill, {} disable, {} warn, {} below warn; {} task(s) due within 24 h, {} within 72 h; {} held, {} without automatic fix",
            self.resources,
            self.by_level[3],
            self.by_level[2],
            self.by_level[1],
            self.by_level[0],
            self.due_24h,
            self.due_72h,
            self.held,
            self.unactionable
        )
    }
}

/// A stored page as a digest links it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub url: &'a str,
    pub summary: Summary,
    /// Until when the link opens the page.
    pub expires: Millis,
}

impl Link<'_> {
    /// The digest's lines about the page: its numbers, then the link. The URL is ours (a
    /// presigned S3 link or a file path), not the resources' text.
    pub fn text(&self) -> String {
        format!(
            "Summary: {}.\nThe report (score charts, findings and how to fix each, what Krampus will do and when), open until {} at the latest:\n  {}\n",
            self.summary.line(),
            crate::time::format_rfc3339(self.expires),
            self.url
        )
    }
}
