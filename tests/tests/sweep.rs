//! The sweep of tasks put back in `tasks.json`, over the local board across batches. The
//! judge remembers which due tasks it has checked in the file it last wrote, so that a long
//! replay does not read every due task's docket again each batch; that memory must never cover
//! a file someone else wrote, even one with the very bytes of an earlier file.

use std::path::Path;

use justice_core::krampus::TasksFile;
use justice_core::policy::Policy;
use justice_core::time::HOUR_MS;
use justice_core::RiskState;
use justice_local::LocalTaskBoard;
use justice_service::ports::{BoardWrite, TaskBoard};
use justice_tests::local::LocalWorld;
use justice_tests::states::{ssh_group, state, ACCOUNT, T0};

/// The group with its open rule closed: nothing left to act on.
fn closed(id: &str, revision: u64) -> RiskState {
    let mut s = state(
        "AWS::EC2::SecurityGroup",
        id,
        Some(&format!(
            "arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{id}"
        )),
        0,
        vec![],
    );
    s.revision = revision;
    s
}

/// Another writer's copy of `bytes`, through a new file (as Krampus's write-back or an editor
/// makes one): a new version whatever the clock's resolution.
fn write_back(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("other");
    std::fs::write(&tmp, bytes).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

fn tasks_of(path: &Path) -> String {
    std::fs::read_to_string(path).expect("tasks.json")
}

/// A task withdrawn and then put back by a writer holding the file as it was before the
/// withdrawal is swept again, although the judge had swept the file it wrote since.
#[test]
fn a_task_put_back_is_swept_after_the_judge_swept_its_own_file() {
    let w = LocalWorld::new(10);
    let policy = Policy::default_policy();
    let path = w.dir.path().join("tasks.json");
    w.judge(&[ssh_group("sg-00000001", 1)], &policy, T0);
    let before = std::fs::read(&path).expect("tasks.json");
    assert!(tasks_of(&path).contains("sg-00000001"));
    // Fixed within the grace period: the task is withdrawn.
    w.judge(&[closed("sg-00000001", 2)], &policy, T0 + HOUR_MS);
    assert!(!tasks_of(&path).contains("sg-00000001"));
    // A day later (the withdrawn task's time has passed), a batch of another group: the
    // judge sweeps the file it wrote and remembers having done so.
    w.judge(&[ssh_group("sg-00000002", 1)], &policy, T0 + 25 * HOUR_MS);
    let written = std::fs::read_to_string(&path).expect("tasks.json");
    assert!(written.contains("sg-00000002"), "{written}");
    // Krampus writes back the file as it read it before the withdrawal.
    write_back(&path, &before);
    assert!(tasks_of(&path).contains("sg-00000001"));
    w.judge(&[ssh_group("sg-00000003", 1)], &policy, T0 + 26 * HOUR_MS);
    let after = tasks_of(&path);
    assert!(
        !after.contains("sg-00000001"),
        "put back and not swept: {after}"
    );
    assert!(after.contains("sg-00000003"), "{after}");
}

/// What the board remembers holds for the file it wrote (or read) at that version only.
#[test]
fn the_sweep_memory_is_of_one_version_of_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let board = LocalTaskBoard::new(dir.path(), false);
    let rt = justice_tests::runtime();
    let file = TasksFile::parse(br#"{"tasks":[]}"#).expect("file");
    let written = rt.block_on(board.write(&file, None)).expect("write");
    assert_eq!(written, BoardWrite::Written);
    board.note_swept(None, 100);
    let read = rt.block_on(board.read()).expect("read");
    let v = read.version.expect("version");
    assert_eq!(board.swept_before(&v), Some(100));
    // A note about another version does not touch it.
    board.note_swept(Some("another"), 200);
    assert_eq!(board.swept_before(&v), Some(100));
    // The same bytes written by someone else: a new version, nothing remembered of it.
    let path = dir.path().join("tasks.json");
    write_back(&path, &std::fs::read(&path).expect("read"));
    let again = rt.block_on(board.read()).expect("read");
    let v2 = again.version.expect("version");
    assert_ne!(v2, v);
    assert_eq!(board.swept_before(&v2), None);
    assert_eq!(board.swept_before(&v), None, "a version no longer on disk");
    // Noted once read, it holds for that version.
    board.note_swept(Some(&v2), 300);
    assert_eq!(board.swept_before(&v2), Some(300));
}
