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
/// after. In parallel, where workers hold several items in one group, the failed items'
/// errors count as pg_restore's workers count them. The same with `--no-group-commit` (one
/// commit per statement).
#[test]
fn group_commit_failures_match_pg_restore() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let path = archive("pg18/src.custom.gzip.dump");
    // Collisions early and late in the schema, a role that does not exist, and names that an
    // index and a primary key (post-data items, a worker's in parallel) will find taken.
    let setup = "CREATE TABLE public.events (x int); CREATE TYPE public.pair AS (z int); CREATE VIEW public.v_parent AS SELECT 1 AS one; \
                 CREATE TABLE public.holder (x int); CREATE INDEX types_lower ON public.holder (x); CREATE INDEX child_pkey ON public.holder (x)";
    // pg_restore's workers at -j 2 are processes writing one stderr, and their lines can
    // interleave (`pg_restore:pg_restore: error: error: …`): what is compared is each
    // failure's server message (`ERROR:  …`, written whole), the commands and the count.
    let failures = |stderr: &str| -> Vec<String> {
        let mut lines: Vec<String> = stderr
            .lines()
            .filter_map(|l| match l.find("ERROR:  ") {
                Some(at) => Some(l[at..].to_owned()),
                None => (l.starts_with("Command was:") || l.contains("errors ignored on restore")).then(|| l.replace("pg_restore: ", "").replace("pgsurge: ", "")),
            })
            .collect();
        lines.sort();
        lines
    };
    for (extra, jobs) in [(&[][..], "1"), (&["-e"][..], "1"), (&[][..], "2")] {
        let ref_db = fresh_db(cluster, "grp_ref");
        cluster.psql(&ref_db, setup);
        let reference: Vec<&str> = ["-j", jobs].iter().chain(extra).copied().collect();
        let want = restore(Tool::PgRestore18, cluster, &ref_db, &path, &reference, false);
        let want_fp = cluster.fingerprint(&ref_db);
        for grouping in [&[][..], &["--no-group-commit"][..]] {
            let db = fresh_db(cluster, "grp_got");
            cluster.psql(&db, setup);
            let args: Vec<&str> = reference.iter().chain(grouping).copied().collect();
            let got = restore(Tool::PgRestoreAlias, cluster, &db, &path, &args, false);
            assert_eq!(got.status, want.status, "{args:?}: {}", got.stderr_text());
            let (want_err, got_err) = (want.stderr_text(), got.stderr_text());
            assert_eq!(failures(&got_err), failures(&want_err), "{args:?}\n--- pg_restore:\n{want_err}\n--- pgsurge:\n{got_err}");
            let least = if extra.is_empty() { 5 } else { 1 };
            assert!(failures(&got_err).len() >= least, "the setup makes entries fail: {got_err}");
            let fp = cluster.fingerprint(&db);
            assert!(fp == want_fp, "{args:?}: {}", want_fp.diff(&fp));
            cluster.dropdb(&db);
        }
        cluster.dropdb(&ref_db);
    }
}
