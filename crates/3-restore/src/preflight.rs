//! Checks made before anything is restored, reported as events: a server older than the
//! archive's, and a target database that already holds relations a schema restore would
//! collide with.

use pgsurge_plan::options::RestoreOptions;
use pgsurge_plan::select::Selection;

use crate::target::Session;
use crate::EngineEvent;

/// Checks what the target holds before anything is restored: a schema restore into a
/// database with relations of its own will collide with them.
pub(crate) fn preflight(session: &mut Session<'_>, sel: &Selection, opts: &RestoreOptions, archive_major: Option<u32>) {
    let server_major = session.server_version() / 10_000;
    if let Some(archive_major) = archive_major.filter(|&a| server_major >= 10 && a > server_major) {
        session.emit(EngineEvent::ServerOlderThanArchive { archive_major, server_major });
    }
    if opts.clean || opts.create || !sel.restores_schema() {
        return;
    }
    if let Some(relations) = session.user_relations() {
        if relations > 0 {
            session.emit(EngineEvent::TargetNotEmpty { relations });
        }
    }
}

/// The major version in a version string such as `18.1 (Debian 18.1-1)` or `9.6.24`
/// (9.6 → 9, which is older than anything a target here runs).
pub(crate) fn major_of(version: &[u8]) -> Option<u32> {
    let digits: Vec<u8> = version.iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}
