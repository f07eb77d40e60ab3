//! Preflight against real servers: what an archive or a script needs (roles, extensions,
//! tablespaces, the target database) checked before anything changes — by the library
//! (`pgsurge_plan::needs`, `pgsurge_stages::preflight`) and through `pgsurge check` and
//! `pgsurge restore`, which stops before any change unless `--force`.
//!
//! The archive with missing needs is made on a PostgreSQL 16 cluster and restored into an
//! 18 one: its roles exist only on the 16 cluster (roles are global, pg_dump does not dump
//! them), and its extension is `adminpack`, which 16 ships and 17 removed — a real
//! extension that is surely missing on 18, without faking a control file.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pgsurge_archive::Archive;
use pgsurge_connect::{ConnParams, ConnectRequest, PasswordPolicy};
use pgsurge_plan::needs::{self, Needs};
use pgsurge_plan::select::select;
use pgsurge_plan::RestoreOptions;
use pgsurge_stages::preflight::{self, Findings, Target};

use crate::cluster::Cluster;
use crate::harness::{pgsurge, run_env, Outcome, LIBPQ_VARS};
use crate::restore::{archive, fresh_db};

/// The roles the source database names, none of which the 18 cluster has: an owner, a
/// grantee and a policy's role (a name that needs quoting).
const ROLES: [&str; 3] = ["pf_owner", "pf_reader", "Pf Policy"];
/// The same, in the order needs and problems list them (by name, bytewise).
const ROLES_SORTED: [&str; 3] = ["Pf Policy", "pf_owner", "pf_reader"];

const SOURCE_SQL: &str = r#"
CREATE EXTENSION adminpack;
CREATE TABLE public.orders (id int PRIMARY KEY, note text);
INSERT INTO public.orders SELECT g, 'note ' || g FROM generate_series(1, 100) g;
ALTER TABLE public.orders OWNER TO pf_owner;
GRANT SELECT ON public.orders TO pf_reader;
ALTER TABLE public.orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY visible ON public.orders TO "Pf Policy" USING (id > 0);
"#;

/// The source database dumped by PostgreSQL 16's pg_dump, as a custom archive and as a
/// plain script, in a directory removed when this is dropped.
struct Dumps {
    _dir: tempfile::TempDir,
    custom: PathBuf,
    script: PathBuf,
}

/// Dumps the source database, made on the 16 cluster once per test process; `None` (after
/// a message) without PostgreSQL 16.
fn dumps() -> Option<Dumps> {
    static SOURCE: OnceLock<Option<&'static Cluster>> = OnceLock::new();
    let cluster = (*SOURCE.get_or_init(|| {
        let cluster = Cluster::shared(16)?;
        let roles: String = ROLES.iter().map(|r| format!("CREATE ROLE \"{r}\";\n")).collect();
        cluster.psql("postgres", &roles);
        cluster.createdb("pf_src");
        cluster.psql("pf_src", SOURCE_SQL);
        Some(cluster)
    }))?;
    let dir = tempfile::Builder::new().prefix("pgsurge-preflight-").tempdir().unwrap();
    let (custom, script) = (dir.path().join("needs.dump"), dir.path().join("needs.sql"));
    for (format, path) in [("-Fc", &custom), ("-Fp", &script)] {
        let out = cluster.run("pg_dump", &[format.into(), "-f".into(), path.display().to_string(), "pf_src".into()], None);
        assert_eq!(out.status, 0, "pg_dump {format}: {}", out.stderr_text());
    }
    Some(Dumps { _dir: dir, custom, script })
}

/// Connection parameters for `db` on `cluster`, as the restore resolves them.
fn params(cluster: &Cluster, db: &str, application: &str) -> ConnParams {
    let req = ConnectRequest {
        dbname: Some(db.to_owned()),
        host: Some(cluster.socket_dir().display().to_string()),
        port: Some(cluster.port().to_string()),
        user: Some("postgres".to_owned()),
        password: PasswordPolicy::Never,
        fallback_application_name: application.to_owned(),
    };
    ConnParams::resolve(&req, &|_| None).unwrap()
}

fn archive_needs(path: &Path, opts: &RestoreOptions) -> (Needs, Option<u32>) {
    let archive = Archive::open_path(path, None).unwrap();
    let sel = select(&archive, opts, &mut |_| {}).unwrap();
    let major = archive.header().server_version.as_ref().and_then(|v| String::from_utf8_lossy(v).split('.').next().and_then(|m| m.parse().ok()));
    (needs::of_archive(&archive, &sel, opts), major)
}

/// The label of the archive's EXTENSION entry, as preflight names it.
fn adminpack_entry(path: &Path) -> String {
    let archive = Archive::open_path(path, None).unwrap();
    archive.toc().entries.iter().find(|te| te.desc_is("EXTENSION")).unwrap().label().to_string()
}

fn codes(findings: &[preflight::Finding]) -> Vec<(&str, &str)> {
    findings.iter().map(|f| (f.code, f.subject.as_str())).collect()
}

/// The problems the needs archive (or script) has on the 18 cluster: its three roles and
/// its extension, in that order.
fn expected_problems() -> Vec<(&'static str, &'static str)> {
    vec![("missing-role", "Pf Policy"), ("missing-role", "pf_owner"), ("missing-role", "pf_reader"), ("missing-extension", "adminpack")]
}

/// Relations in the database's `public` schema, and whether it has `adminpack`: what a
/// restore stopped before any change must have left alone.
fn contents(cluster: &Cluster, db: &str) -> String {
    cluster.psql(db, "SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace) || ' ' || (SELECT count(*) FROM pg_extension WHERE extname = 'adminpack')").trim().to_owned()
}

fn pgsurge_cmd(cluster: &Cluster, command: &str, db: &str, input: &Path, extra: &[&str]) -> Outcome {
    let mut args = vec![command.to_owned()];
    args.extend(cluster.conn_args(db));
    args.extend(extra.iter().map(|a| a.to_string()));
    args.push(input.display().to_string());
    run_env(&pgsurge(), &args, &[("LC_ALL".to_owned(), "C".to_owned())], None)
}

/// Another client's session on a database, open until dropped: a `psql` waiting in
/// `pg_sleep`, under its own `application_name`.
struct Session<'c> {
    child: std::process::Child,
    cluster: &'c Cluster,
    application: String,
}

impl Session<'_> {
    fn open<'c>(cluster: &'c Cluster, db: &str, application: &str) -> Session<'c> {
        let mut args = cluster.conn_args(db);
        args.extend(["-X", "-q", "-c", "SELECT pg_sleep(600)"].map(String::from));
        let mut cmd = std::process::Command::new(cluster.bindir().join("psql"));
        for var in LIBPQ_VARS {
            cmd.env_remove(var);
        }
        cmd.args(&args).envs(cluster.env()).env("PGAPPNAME", application);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let session = Session { child: cmd.spawn().unwrap(), cluster, application: application.to_owned() };
        // Wait for the event (the session listed), never for a time.
        let listed = format!("SELECT count(*) FROM pg_stat_activity WHERE application_name = '{application}'");
        let deadline = Instant::now() + Duration::from_secs(60);
        while cluster.psql("postgres", &listed).trim() != "1" {
            assert!(Instant::now() < deadline, "the session of {application} never showed in pg_stat_activity");
            std::thread::sleep(Duration::from_millis(20));
        }
        session
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // The server would notice the client gone only when pg_sleep ends.
        self.cluster.psql("postgres", &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}'", self.application));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `pgsurge: error:` lines, prefix removed.
fn error_lines(out: &Outcome) -> Vec<String> {
    out.stderr_text().lines().filter_map(|l| l.strip_prefix("pgsurge: error: ")).map(str::to_owned).collect()
}

/// The error lines preflight prints for missing roles and extensions (a closing line the
/// command adds, saying it stopped, is not one of them).
fn problem_lines(out: &Outcome) -> Vec<String> {
    error_lines(out).into_iter().filter(|l| l.starts_with("role \"") || l.starts_with("extension \"")).collect()
}

/// The library alone: every missing role with why it is needed and its CREATE ROLE, the
/// missing extension with what to do, one alternative for all the roles, and the facts.
#[test]
fn preflight_lists_every_missing_role_and_extension_with_a_fix() {
    let Some(dumps) = dumps() else { return };
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "pf_lib");
    let (needs, archive_major) = archive_needs(&dumps.custom, &RestoreOptions::default());
    assert_eq!(archive_major, Some(16));
    let target = Target { dbname: db.clone(), archive_major, ..Target::default() };
    let f: Findings = preflight::check(&params(cluster, &db, "pgsurge-tests"), &needs, &target).unwrap();

    assert_eq!(codes(&f.problems), expected_problems(), "{f:#?}");
    let by = |subject: &str| f.problems.iter().find(|p| p.subject == subject).unwrap();
    assert_eq!(by("Pf Policy").fix, "CREATE ROLE \"Pf Policy\";");
    assert_eq!(by("pf_owner").fix, "CREATE ROLE pf_owner;");
    assert!(by("pf_owner").message.starts_with("role \"pf_owner\" does not exist: owner in entry "), "{}", by("pf_owner").message);
    assert!(by("pf_reader").message.contains("grantee in entry ") && by("pf_reader").message.contains("(ACL public.TABLE orders)"), "{}", by("pf_reader").message);
    assert!(by("Pf Policy").message.contains("role of a policy in entry "), "{}", by("Pf Policy").message);
    let ext = by("adminpack");
    assert!(ext.message.starts_with("extension \"adminpack\" is not available on the server (needed by entry "), "{}", ext.message);
    assert!(ext.fix.contains("removed in 17"), "{}", ext.fix);
    assert_eq!(f.alternatives.len(), 1, "{:?}", f.alternatives);
    assert_eq!(f.alternatives[0], "or restore with --no-owner --no-policies --no-privileges, which leaves out the ownership, policies and grants naming the missing roles");

    // An older archive into a newer server: no warning; the target is empty and alone.
    assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    assert_eq!(f.facts.server_major, Some(18));
    assert_eq!(f.facts.checked_in, db);
    let t = f.facts.target.as_ref().unwrap();
    assert!(t.exists && t.relations == Some(0) && t.sessions == 0, "{t:?}");
    assert!(f.facts.extensions.iter().any(|e| e.name == "adminpack" && !e.available));
    // The server runs here, on a Unix socket, as a superuser: its disk can be read.
    assert!(f.facts.free_bytes.is_some_and(|b| b > 0) && f.facts.data_directory.is_some(), "{:?}", f.facts);

    // The options the alternative names leave nothing but the extension.
    let opts = RestoreOptions { no_owner: true, no_acl: true, no_policies: true, ..RestoreOptions::default() };
    let (needs, _) = archive_needs(&dumps.custom, &opts);
    let f = preflight::check(&params(cluster, &db, "pgsurge-tests"), &needs, &target).unwrap();
    assert_eq!(codes(&f.problems), [("missing-extension", "adminpack")]);
    cluster.dropdb(&db);
}

/// The target's state: another session on it (named by its application), relations in it,
/// a database that does not exist, and `--create`'s database that already does.
#[test]
fn preflight_reads_the_target_database() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let (needs, _) = archive_needs(&archive("pg18/src.custom.gzip.dump"), &RestoreOptions::default());
    let db = fresh_db(cluster, "pf_state");
    cluster.psql(&db, "CREATE TABLE mine (a int)");
    let other = Session::open(cluster, &db, "pf-web-app");
    let target = Target { dbname: db.clone(), ..Target::default() };
    let f = preflight::check(&params(cluster, &db, "pgsurge-tests"), &needs, &target).unwrap();
    assert!(f.problems.is_empty(), "the fixture's roles, extension and tablespace exist: {:?}", f.problems);
    assert_eq!(codes(&f.warnings), [("database-not-empty", db.as_str()), ("database-in-use", db.as_str())]);
    assert!(f.warnings[1].message.contains("1 other session is connected") && f.warnings[1].message.contains("(pf-web-app)"), "{}", f.warnings[1].message);
    let t = f.facts.target.as_ref().unwrap();
    assert!(t.relations == Some(1) && t.sessions == 1 && t.size_bytes.is_some_and(|s| s > 0), "{t:?}");
    // --swap replaces the database at the end: neither is a concern.
    let f = preflight::check(&params(cluster, &db, "pgsurge-tests"), &needs, &Target { swap: true, ..target.clone() }).unwrap();
    assert!(f.problems.is_empty() && f.warnings.is_empty(), "{f:?}");
    drop(other);

    // A database that does not exist: checked from `postgres`, and said.
    let gone = format!("{db}_gone");
    let f = preflight::check(&params(cluster, &gone, "pgsurge-tests"), &needs, &Target { dbname: gone.clone(), ..Target::default() }).unwrap();
    assert_eq!(codes(&f.problems), [("database-missing", gone.as_str())]);
    assert_eq!(f.facts.checked_in, "postgres");

    // --create makes the archive's database `src`: a problem only if it exists, unless
    // --clean drops it first.
    let _lock = cluster.create_lock();
    cluster.dropdb("src");
    let opts = RestoreOptions { create: true, ..RestoreOptions::default() };
    let (needs, _) = archive_needs(&archive("pg18/src.custom.gzip.dump"), &opts);
    assert_eq!(needs.database.as_ref().map(|d| d.name.as_str()), Some("src"));
    let create = Target { dbname: "src".into(), create: true, ..Target::default() };
    let f = preflight::check(&params(cluster, "postgres", "pgsurge-tests"), &needs, &create).unwrap();
    assert!(f.problems.is_empty() && f.warnings.is_empty(), "{f:?}");
    cluster.createdb("src");
    let f = preflight::check(&params(cluster, "postgres", "pgsurge-tests"), &needs, &create).unwrap();
    assert_eq!(codes(&f.problems), [("database-exists", "src")]);
    let f = preflight::check(&params(cluster, "postgres", "pgsurge-tests"), &needs, &Target { clean: true, ..create }).unwrap();
    assert!(f.problems.is_empty(), "{:?}", f.problems);
    cluster.dropdb("src");
    cluster.dropdb(&db);
}

/// The issue's proof through the command line: `pgsurge check` lists all four problems
/// and exits 1; `pgsurge restore` stops with the same list before changing anything;
/// `--force` restores anyway, and the server's errors are grouped in the summary.
#[test]
fn a_restore_needing_missing_roles_and_an_extension_stops_before_any_change() {
    let Some(dumps) = dumps() else { return };
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "pf_cli");
    let expected_errors = [
        "role \"Pf Policy\" does not exist: ",
        "role \"pf_owner\" does not exist: ",
        "role \"pf_reader\" does not exist: ",
        "extension \"adminpack\" is not available on the server ",
    ];
    let listed = |out: &Outcome| {
        let errors = problem_lines(out);
        assert_eq!(errors.len(), 4, "{}", out.stderr_text());
        for (line, want) in errors.iter().zip(expected_errors) {
            assert!(line.starts_with(want), "{line:?} should start with {want:?}\n{}", out.stderr_text());
        }
        let stderr = out.stderr_text();
        for fix in ["pgsurge: hint: CREATE ROLE \"Pf Policy\";", "pgsurge: hint: CREATE ROLE pf_owner;", "pgsurge: hint: or restore with --no-owner --no-policies --no-privileges"] {
            assert!(stderr.contains(fix), "{fix:?} missing:\n{stderr}");
        }
    };

    let out = pgsurge_cmd(cluster, "check", &db, &dumps.custom, &[]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    listed(&out);
    assert!(out.stderr_text().contains("pgsurge: preflight: PostgreSQL 18"), "the facts line:\n{}", out.stderr_text());

    let out = pgsurge_cmd(cluster, "restore", &db, &dumps.custom, &[]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    listed(&out);
    assert_eq!(contents(cluster, &db), "0 0", "nothing may change before the problems are fixed:\n{}", out.stderr_text());

    // The alternative the problems offer leaves only the extension.
    let out = pgsurge_cmd(cluster, "check", &db, &dumps.custom, &["--no-owner", "--no-policies", "--no-privileges"]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert_eq!(problem_lines(&out), [format!("extension \"adminpack\" is not available on the server (needed by {})", adminpack_entry(&dumps.custom))], "{}", out.stderr_text());

    let out = pgsurge_cmd(cluster, "restore", &db, &dumps.custom, &["--force"]);
    let stderr = out.stderr_text();
    assert_eq!(out.status, 1, "the roles' statements fail:\n{stderr}");
    assert!(stderr.contains("does not exist: owner in entry "), "the problems are still listed:\n{stderr}");
    assert!(stderr.contains(" × role \"") && stderr.contains("errors ignored on restore: "), "grouped errors:\n{stderr}");
    assert_eq!(cluster.psql(&db, "SELECT count(*) FROM public.orders").trim(), "100", "--force goes on:\n{stderr}");
    cluster.dropdb(&db);
}

/// When everything is there, `pgsurge check` exits 0 and says what it checked.
#[test]
fn a_check_that_finds_nothing_exits_0() {
    let Some(cluster) = Cluster::shared(18) else { return };
    let db = fresh_db(cluster, "pf_ok");
    let out = pgsurge_cmd(cluster, "check", &db, &archive("pg18/src.custom.gzip.dump"), &[]);
    let stderr = out.stderr_text();
    assert_eq!(out.status, 0, "{stderr}");
    assert!(error_lines(&out).is_empty() && !stderr.contains("warning:"), "{stderr}");
    let facts = stderr.lines().find(|l| l.starts_with("pgsurge: preflight: PostgreSQL 18")).unwrap_or_else(|| panic!("no facts line:\n{stderr}"));
    assert!(facts.contains(&format!("database \"{db}\": exists, empty, no other sessions")) && facts.contains("3 roles, 1 extension, 1 tablespace checked"), "{facts}");
    assert_eq!(contents(cluster, &db), "0 0", "check changes nothing");
    cluster.dropdb(&db);
}

/// A plain script (pg_dump -Fp) is checked for the roles and extension its statements
/// name; a script's restore takes no --no-owner, so no alternative is offered.
#[test]
fn a_script_needing_missing_roles_is_stopped_too() {
    let Some(dumps) = dumps() else { return };
    let Some(cluster) = Cluster::shared(18) else { return };

    let reader = pgsurge_script::ScriptReader::new(std::io::BufReader::new(std::fs::File::open(&dumps.script).unwrap()));
    let needs = script_needs(reader);
    assert_eq!(needs.roles.keys().map(String::as_str).collect::<Vec<_>>(), ROLES_SORTED);
    assert!(needs.extensions.contains_key("adminpack"));
    assert!(needs.data_bytes.is_some_and(|b| b > 0));

    let db = fresh_db(cluster, "pf_script");
    let f = preflight::check(&params(cluster, &db, "pgsurge-tests"), &needs, &Target { dbname: db.clone(), ..Target::default() }).unwrap();
    assert_eq!(codes(&f.problems), expected_problems());
    assert!(f.alternatives.is_empty(), "{:?}", f.alternatives);
    assert!(f.problems[1].message.starts_with("role \"pf_owner\" does not exist: owner in line "), "{}", f.problems[1].message);

    let out = pgsurge_cmd(cluster, "check", &db, &dumps.script, &[]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert_eq!(problem_lines(&out).len(), 4, "{}", out.stderr_text());
    assert!(out.stderr_text().contains("pgsurge: hint: CREATE ROLE pf_owner;"), "{}", out.stderr_text());
    assert!(!out.stderr_text().contains("--no-owner"), "a script's restore takes no --no-owner:\n{}", out.stderr_text());
    let out = pgsurge_cmd(cluster, "restore", &db, &dumps.script, &[]);
    assert_eq!(out.status, 1, "{}", out.stderr_text());
    assert_eq!(problem_lines(&out).len(), 4, "{}", out.stderr_text());
    assert_eq!(contents(cluster, &db), "0 0", "nothing of the script may run:\n{}", out.stderr_text());
    cluster.dropdb(&db);
}

/// A script's needs, read as the binary reads them (statements and COPY rows).
fn script_needs<R: std::io::BufRead>(mut reader: pgsurge_script::ScriptReader<R>) -> Needs {
    let parts = std::iter::from_fn(move || loop {
        match reader.next_item() {
            Err(e) => return Some(Err(e)),
            Ok(None) => return None,
            Ok(Some(pgsurge_script::Item::Statement { text, line, .. })) => return Some(Ok(needs::ScriptPart::Statement { text, line })),
            Ok(Some(pgsurge_script::Item::CopyData(rows))) => return Some(Ok(needs::ScriptPart::CopyData(rows.len() as u64))),
            Ok(Some(_)) => {}
        }
    });
    needs::of_script(parts).unwrap()
}
