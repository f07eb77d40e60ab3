//! Safety copies: the databases a swap left behind under `NAME_before_TIMESTAMP` (the name
//! cut to fit 63 bytes, `_2`, `_3` … added when two fall in one second), found by name,
//! newest first, and pruned to the newest N.

use pgsurge_connect::ConnParams;
use tokio_postgres::Client;

use super::{compact_stamp, fit, SwapError};
use crate::db::{self, DbError};

/// One safety copy of a database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SafetyCopy {
    pub name: String,
    /// When the swap that made it ran, `2026-12-03T19:01:37Z`.
    pub taken: String,
    pub bytes: i64,
}

/// The marker of safety copies in a name.
const BEFORE: &str = "_before_";

/// The time in a safety copy's name of `target` (`20261203T190137`, and its `_N` when
/// there is one), or `None` when `name` is not one.
fn stamp_of<'a>(target: &str, name: &'a str) -> Option<&'a str> {
    let at = name.rfind(BEFORE)?;
    let (prefix, rest) = (&name[..at], &name[at + BEFORE.len()..]);
    let stamp = rest.split_once('_').map_or(rest, |(s, n)| if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) { s } else { "" });
    let well_formed = stamp.len() == 15 && stamp.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'T' } else { b.is_ascii_digit() });
    // A long target's copies carry a cut name that fills the 63 bytes.
    let ours = prefix == target || (name.len() == 63 && target.starts_with(prefix) && !prefix.is_empty());
    (well_formed && ours).then_some(rest)
}

/// `20261203T190137` → `2026-12-03T19:01:37Z`.
fn readable(stamp: &str) -> String {
    let s = stamp.split('_').next().unwrap_or(stamp);
    match (s.get(0..4), s.get(4..6), s.get(6..8), s.get(9..11), s.get(11..13), s.get(13..15)) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) => format!("{y}-{mo}-{d}T{h}:{mi}:{se}Z"),
        _ => stamp.to_owned(),
    }
}

/// The safety copies of `params.dbname`, newest first.
pub fn list_safety_copies(params: &ConnParams) -> Result<Vec<SafetyCopy>, SwapError> {
    db::block_on(async {
        let client = db::connect_maintenance(params).await?;
        list_on(&client, &params.dbname).await
    })?
}

pub(super) async fn list_on(client: &Client, target: &str) -> Result<Vec<SafetyCopy>, SwapError> {
    let rows = client
        .query("SELECT datname, pg_catalog.pg_database_size(oid) FROM pg_catalog.pg_database WHERE strpos(datname, '_before_') > 0", &[])
        .await
        .map_err(DbError::Query)?;
    let mut copies: Vec<(String, SafetyCopy)> = rows
        .iter()
        .filter_map(|row| {
            let name: String = row.get(0);
            let stamp = stamp_of(target, &name)?.to_owned();
            Some((stamp.clone(), SafetyCopy { taken: readable(&stamp), name, bytes: row.get(1) }))
        })
        .collect();
    // Newest first: by time, then by the `_N` of copies made within one second.
    copies.sort_by(|(a, _), (b, _)| {
        let key = |s: &str| {
            let (t, n) = s.split_once('_').unwrap_or((s, "1"));
            (t.to_owned(), n.parse::<u32>().unwrap_or(1))
        };
        key(b).cmp(&key(a))
    });
    Ok(copies.into_iter().map(|(_, c)| c).collect())
}

/// A name for a new safety copy of `target` taken now, not yet used by any database.
pub(super) async fn new_name(client: &Client, target: &str, now: std::time::SystemTime) -> Result<String, SwapError> {
    let stamp = compact_stamp(now);
    for n in 1..1000u32 {
        let suffix = if n == 1 { format!("{BEFORE}{stamp}") } else { format!("{BEFORE}{stamp}_{n}") };
        let name = fit(target, &suffix);
        if !db::database_exists(client, &name).await? {
            return Ok(name);
        }
    }
    Err(SwapError::Rename { from: target.to_owned(), to: format!("{target}{BEFORE}{stamp}"), reason: "every name for a safety copy at this second is taken".into() })
}

/// What [`prune`] did.
#[derive(Debug, Default)]
pub struct Pruned {
    pub dropped: Vec<String>,
    /// Copies that could not be dropped, with why (a session on it, say).
    pub failed: Vec<(String, String)>,
}

/// Keeps the `keep` newest safety copies of `params.dbname` and drops the others.
pub fn prune(params: &ConnParams, keep: usize) -> Result<Pruned, SwapError> {
    db::block_on(async {
        let client = db::connect_maintenance(params).await?;
        let copies = list_on(&client, &params.dbname).await?;
        let mut pruned = Pruned::default();
        for copy in copies.into_iter().skip(keep) {
            match client.batch_execute(&format!("DROP DATABASE {}", db::ident(&copy.name))).await {
                Ok(()) => pruned.dropped.push(copy.name),
                Err(e) => pruned.failed.push((copy.name, db::describe(&e))),
            }
        }
        Ok(pruned)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safety_copies_are_told_by_name() {
        assert_eq!(stamp_of("app", "app_before_20261203T190137"), Some("20261203T190137"));
        assert_eq!(stamp_of("app", "app_before_20261203T190137_2"), Some("20261203T190137_2"));
        assert_eq!(stamp_of("app", "app2_before_20261203T190137"), None);
        assert_eq!(stamp_of("app", "app_before_2026120"), None);
        assert_eq!(stamp_of("app", "app_before_20261203T190137_x"), None);
        assert_eq!(stamp_of("my_app", "app_before_20261203T190137"), None);
        let long = "y".repeat(60);
        let cut = fit(&long, "_before_20261203T190137");
        assert_eq!(stamp_of(&long, &cut), Some("20261203T190137"));
        assert_eq!(readable("20261203T190137_2"), "2026-12-03T19:01:37Z");
    }
}
