//! Group commit against pg_restore: schema entries committed many at once must leave
//! pg_restore's database and pg_restore's errors, however entries fail inside a group.

use crate::cluster::Cluster;
use crate::restore::{archive, fresh_db};
use crate::restore_matrix::{restore, Tool};

/// Schema entries committed many at once (group commit) leave pg_restore's database and
/// pg_restore's errors when entries fail in the middle of a group: into a database that
/// already holds some of the archive's objects, every failure is reported and counted once,
/// against its own entry, and what follows it still goes in; with `-e` the restore stops at
/// the same entry pg_restore stops at, with everything before it committed and nothing
/// after. The same with `--no-group-commit` (one commit per statement).
#[test]
fn group_commit_failures_match_pg_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let path = archive("pg18/src.custom.gzip.dump");
    // Collisions early and late in the schema, and a role that does not exist.
    let setup = "CREATE TABLE public.events (x int); CREATE TYPE public.pair AS (z int); CREATE VIEW public.v_parent AS SELECT 1 AS one";
    let failures = |stderr: &str| -> Vec<String> {
        let mut lines: Vec<String> = stderr.lines().filter(|l| l.contains("error: ") || l.starts_with("Command was:")).map(|l| l.replace("pg_restore: ", "").replace("pgsurge: ", "")).collect();
        lines.sort();
        lines
    };
    for extra in [&[][..], &["-e"][..]] {
        let ref_db = fresh_db(cluster, "grp_ref");
        cluster.psql(&ref_db, setup);
        let want = restore(Tool::PgRestore18, cluster, &ref_db, &path, extra, false);
        let want_fp = cluster.fingerprint(&ref_db);
        for mode in [&["-j", "1"][..], &["-j", "1", "--no-group-commit"][..]] {
            let db = fresh_db(cluster, "grp_got");
            cluster.psql(&db, setup);
            let args: Vec<&str> = mode.iter().chain(extra).copied().collect();
            let got = restore(Tool::PgRestoreAlias, cluster, &db, &path, &args, false);
            assert_eq!(got.status, want.status, "{args:?}: {}", got.stderr_text());
            let (want_err, got_err) = (want.stderr_text(), got.stderr_text());
            assert_eq!(failures(&got_err), failures(&want_err), "{args:?}\n--- pg_restore:\n{want_err}\n--- pgsurge:\n{got_err}");
            let least = if extra.is_empty() { 3 } else { 1 };
            assert!(failures(&got_err).len() >= least, "the setup makes entries fail: {got_err}");
            let fp = cluster.fingerprint(&db);
            assert!(fp == want_fp, "{args:?}: {}", want_fp.diff(&fp));
            cluster.dropdb(&db);
        }
        cluster.dropdb(&ref_db);
    }
}
