//! A restore into a shadow database swapped in by rename (`--swap`), the safety copies the
//! swap leaves, and rollback. The shadow is made beside the live database with its
//! properties (`shadow`), the restore and the migrations run there while the app keeps its
//! old data, then `rename` swaps the two names in one transaction — the live database
//! becomes `NAME_before_TIMESTAMP`, a safety copy (`copies`) — holding new connections off
//! only for that instant.

mod copies;
mod rename;
mod shadow;

use std::time::{Duration, SystemTime};

use pgsurge_connect::ConnParams;

use crate::db::{self, DbError};

pub use copies::{list_safety_copies, prune, Pruned, SafetyCopy};
pub use rename::{SwapOptions, SwapOutcome};
pub use shadow::Shadow;

/// Why a swap, a shadow or a rollback failed; the live database is as it was unless the
/// message says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum SwapError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{count} session(s) still connected to database \"{database}\" after {waited:.0?} ({who}); --terminate ends them")]
    SessionsStayed { database: String, count: usize, who: String, waited: Duration },
    #[error("database \"{database}\" has {count} prepared transaction(s); commit or roll them back (COMMIT PREPARED / ROLLBACK PREPARED) before the swap")]
    PreparedTransactions { database: String, count: i64 },
    #[error("could not rename database \"{from}\" to \"{to}\": {reason}")]
    Rename { from: String, to: String, reason: String },
    #[error("database \"{0}\" has no safety copy to roll back to (none named {0}_before_TIMESTAMP)")]
    NoSafetyCopy(String),
    #[error("database \"{0}\" does not exist")]
    NoDatabase(String),
}

/// `name` followed by `suffix`, within the 63 bytes a database name may have: `name` is cut
/// (at a character boundary) when both do not fit.
pub fn fit(name: &str, suffix: &str) -> String {
    let room = 63usize.saturating_sub(suffix.len());
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &name[..end])
}

/// `20261203T190137`, the timestamp in safety copies' and shadows' names (UTC).
pub fn compact_stamp(t: SystemTime) -> String {
    crate::marker::utc_stamp(t).replace(['-', ':', 'Z'], "")
}

/// Makes the shadow database for a `--swap` restore into `params.dbname`: named
/// `NAME_restoring_TIMESTAMP`, with the live database's encoding, locale, owner, settings,
/// privileges and comment (a database that does not exist yet gives the server's
/// defaults).
pub fn create_shadow(params: &ConnParams, now: SystemTime) -> Result<Shadow, SwapError> {
    db::block_on(shadow::create(params, now))?
}

/// Runs `statements` (an archive's database-level properties written for the shadow) from
/// the maintenance database, one by one; returns those that failed, with why.
pub fn apply_properties(params: &ConnParams, statements: &[String]) -> Result<Vec<(String, String)>, SwapError> {
    db::block_on(async {
        let client = db::connect_maintenance(params).await?;
        let mut failed = Vec::new();
        for statement in statements {
            if let Err(e) = client.batch_execute(statement).await {
                failed.push((statement.clone(), db::describe(&e)));
            }
        }
        Ok(failed)
    })?
}

/// Drops database `name` (a shadow that failed), waiting for no one: it should have no
/// sessions but ours, which are closed.
pub fn drop_database(params: &ConnParams, name: &str) -> Result<(), SwapError> {
    db::block_on(async {
        let client = db::connect_maintenance(params).await?;
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {}", db::ident(name))).await.map_err(DbError::Query)?;
        Ok(())
    })?
}

/// Swaps database `incoming` in under the name `params.dbname`, the database that had the
/// name kept as a safety copy (when there was one). `before_lock` runs just before new
/// connections are held off: the caller takes down its marker there.
pub fn swap_in(params: &ConnParams, incoming: &str, options: &SwapOptions, before_lock: &mut dyn FnMut()) -> Result<SwapOutcome, SwapError> {
    db::block_on(rename::swap(params, incoming, options, before_lock))?
}

/// `pgsurge rollback`: swaps the newest safety copy of `params.dbname` back in; the
/// database it replaces becomes a safety copy in turn.
pub fn rollback(params: &ConnParams, options: &SwapOptions) -> Result<(SafetyCopy, SwapOutcome), SwapError> {
    let target = params.dbname.clone();
    let copies = list_safety_copies(params)?;
    let newest = copies.into_iter().next().ok_or_else(|| SwapError::NoSafetyCopy(target.clone()))?;
    let outcome = swap_in(params, &newest.name, options, &mut || {})?;
    Ok((newest, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_in_63_bytes() {
        assert_eq!(fit("app", "_before_20261203T190137"), "app_before_20261203T190137");
        let long = "x".repeat(60);
        let fitted = fit(&long, "_before_20261203T190137");
        assert_eq!(fitted.len(), 63);
        assert!(fitted.ends_with("_before_20261203T190137"));
        // A multibyte character is never cut in half.
        let accented = "é".repeat(30);
        let fitted = fit(&accented, "_before_20261203T190137");
        assert!(fitted.len() <= 63 && fitted.ends_with("_before_20261203T190137"));
        assert_eq!(compact_stamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_324_497)), "20261203T190137");
    }
}
