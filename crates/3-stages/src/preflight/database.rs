//! The target database as it stands (exists, empty or not, who is connected, how large),
//! judged against what the restore will do to it, and the encoding, locale and locale
//! provider `--create` asks the server for.

use pgsurge_plan::needs::{DatabaseWanted, Needs};
use tokio_postgres::Client;

use super::{human_bytes, ident, named, Findings, PreflightError, Target, TargetState};

/// Relations a restore's objects can collide with: anything outside the system schemas.
const USER_RELATIONS: &str = "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Reads the target's state into the facts and records what it means for this restore.
pub(super) async fn target(client: &Client, needs: &Needs, target: &Target, in_target: bool, f: &mut Findings) -> Result<(), PreflightError> {
    let name = target.dbname.as_str();
    let row = client
        .query_opt("SELECT pg_catalog.pg_encoding_to_char(encoding)::text FROM pg_catalog.pg_database WHERE datname = $1::text", &[&name])
        .await
        .map_err(PreflightError::query("the target database"))?;
    let mut state = TargetState { database: name.to_owned(), exists: row.is_some(), ..TargetState::default() };
    if let Some(row) = &row {
        state.encoding = row.try_get(0).map_err(PreflightError::row("the target database"))?;
        // Its size needs CONNECT on it (or pg_read_all_stats): unknown otherwise.
        state.size_bytes = client.query_one("SELECT pg_catalog.pg_database_size($1::text::name)", &[&name]).await.ok().and_then(|r| r.try_get::<_, i64>(0).ok()).and_then(|n| u64::try_from(n).ok());
        let (sessions, applications) = sessions(client, name).await?;
        state.sessions = sessions;
        state.applications = applications;
        if in_target {
            let row = client.query_one(USER_RELATIONS, &[]).await.map_err(PreflightError::query("the target's relations"))?;
            let n: i64 = row.try_get(0).map_err(PreflightError::row("the target's relations"))?;
            state.relations = u64::try_from(n).ok();
        }
    }
    judge(&state, needs, target, f);
    f.facts.target = Some(state);
    Ok(())
}

/// Other client sessions connected to `name`, and their application names.
async fn sessions(client: &Client, name: &str) -> Result<(u64, Vec<String>), PreflightError> {
    // `backend_type` (PostgreSQL 10+) tells clients from autovacuum and other workers; an
    // older server counts them all.
    let has_type = client.query_opt("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'pg_catalog.pg_stat_activity'::regclass AND attname = 'backend_type'", &[]).await.map_err(PreflightError::query("sessions"))?.is_some();
    let sql = format!(
        "SELECT coalesce(nullif(application_name, ''), '(no application_name)') FROM pg_catalog.pg_stat_activity WHERE datname = $1::text AND pid <> pg_catalog.pg_backend_pid(){}",
        if has_type { " AND backend_type = 'client backend'" } else { "" }
    );
    let rows = client.query(&sql, &[&name]).await.map_err(PreflightError::query("sessions"))?;
    let mut apps = Vec::new();
    for r in &rows {
        let app: String = r.try_get(0).map_err(PreflightError::row("sessions"))?;
        apps.push(app);
    }
    let count = apps.len() as u64;
    apps.sort();
    apps.dedup();
    Ok((count, apps))
}

fn judge(state: &TargetState, needs: &Needs, target: &Target, f: &mut Findings) {
    let db = named("database", &state.database);
    let who = || match state.applications.as_slice() {
        [] => String::new(),
        apps => format!(" ({})", apps.join(", ")),
    };
    let sessions = |n: u64| if n == 1 { "1 other session is".to_owned() } else { format!("{n} other sessions are") };
    if target.create {
        if state.exists && !target.clean {
            f.problem(
                "database-exists",
                state.database.as_str(),
                format!("{db} already exists: --create would fail to create it"),
                format!("add --clean to drop and recreate it, restore into it without --create, or drop it first (DROP DATABASE {};)", ident(&state.database)),
            );
        } else if state.exists && state.sessions > 0 {
            f.problem(
                "database-in-use",
                state.database.as_str(),
                format!("--clean --create drops {db}, but {} connected to it{}", sessions(state.sessions), who()),
                "stop them first, or restore with --swap, which replaces the database only at the end".into(),
            );
        }
        return;
    }
    if !state.exists {
        if !target.swap {
            f.problem(
                "database-missing",
                state.database.as_str(),
                format!("{db} does not exist"),
                format!("create it first (CREATE DATABASE {} TEMPLATE template0;), or restore with --create to create the archive's database", ident(&state.database)),
            );
        }
        return;
    }
    if target.swap {
        return;
    }
    if let Some(n) = state.relations.filter(|&n| n > 0 && needs.restores_schema && !target.clean) {
        let size = state.size_bytes.map(|b| format!(", {}", human_bytes(b))).unwrap_or_default();
        f.warning(
            "database-not-empty",
            state.database.as_str(),
            format!("{db} already holds {n} relation{}{size}: restored objects may collide with them", if n == 1 { "" } else { "s" }),
            "restore into an empty database, add --clean to drop the archive's objects first, or restore with --swap".into(),
        );
    }
    if state.sessions > 0 {
        f.warning(
            "database-in-use",
            state.database.as_str(),
            format!("{} connected to {db}{}: they will see the restore half done", sessions(state.sessions), who()),
            "stop them while it runs, or restore with --swap, which replaces the database only at the end".into(),
        );
    }
}

/// `--create`: the encoding, locale provider and locales the archive's `CREATE DATABASE`
/// asks for must be ones the server can give. Only what is sure is a problem (an unknown
/// encoding, a provider the server lacks); a libc locale not among the server's collations
/// is a warning, since the collations are only those its machine had at initdb.
pub(super) async fn create_options(client: &Client, wanted: &DatabaseWanted, server_major: u32, f: &mut Findings) -> Result<(), PreflightError> {
    let db = named("database", &wanted.name);
    if let Some(encoding) = &wanted.encoding {
        let row = client.query_one("SELECT pg_catalog.pg_char_to_encoding($1::text::name)", &[encoding]).await.map_err(PreflightError::query("encodings"))?;
        let id: i32 = row.try_get(0).map_err(PreflightError::row("encodings"))?;
        if id < 0 {
            f.problem("encoding", encoding.as_str(), format!("the server knows no encoding \"{encoding}\", which --create asks for {db}"), "create the database yourself with an encoding the server has, and restore into it without --create".into());
        }
    }
    let provider = wanted.locale_provider.as_deref().map(str::to_ascii_lowercase);
    match provider.as_deref() {
        Some(_) if server_major < 15 => {
            f.problem(
                "locale-provider",
                db.clone(),
                format!("--create asks for LOCALE_PROVIDER, which PostgreSQL {server_major} does not take (15 and later do)"),
                "create the database yourself and restore into it without --create".into(),
            );
            return Ok(());
        }
        Some("builtin") if server_major < 17 => {
            f.problem("locale-provider", db.clone(), format!("{db} asks for the builtin locale provider, which PostgreSQL {server_major} lacks (17 and later have it)"), "create the database yourself and restore into it without --create".into());
            return Ok(());
        }
        Some("icu") => {
            let row = client.query_one("SELECT count(*) FROM pg_catalog.pg_collation WHERE collprovider = 'i'", &[]).await.map_err(PreflightError::query("collations"))?;
            let n: i64 = row.try_get(0).map_err(PreflightError::row("collations"))?;
            if n == 0 {
                f.problem("locale-provider", db.clone(), format!("{db} asks for the ICU locale provider, and the server has no ICU collations (built without ICU)"), "restore into a server built with ICU, or create the database yourself and restore into it without --create".into());
            }
            return Ok(());
        }
        _ => {}
    }
    if provider.as_deref().is_some_and(|p| p != "libc") {
        return Ok(());
    }
    let mut locales: Vec<&str> = [&wanted.locale, &wanted.lc_collate, &wanted.lc_ctype].into_iter().flatten().map(String::as_str).filter(|l| !is_always_there(l)).collect();
    locales.sort_unstable();
    locales.dedup();
    if locales.is_empty() {
        return Ok(());
    }
    let rows = client.query("SELECT collname::text FROM pg_catalog.pg_collation WHERE collprovider IN ('c', 'd')", &[]).await.map_err(PreflightError::query("collations"))?;
    let mut known = Vec::new();
    for r in &rows {
        let name: String = r.try_get(0).map_err(PreflightError::row("collations"))?;
        known.push(normalize_locale(&name));
    }
    for locale in locales {
        if !known.contains(&normalize_locale(locale)) {
            f.warning(
                "locale",
                locale,
                format!("locale \"{locale}\", which --create asks for {db}, is not among the server's collations: CREATE DATABASE fails if the server's machine lacks it"),
                "make sure the server's machine has it (`locale -a`; on Debian, add it with dpkg-reconfigure locales), or create the database yourself and restore into it without --create".into(),
            );
        }
    }
    Ok(())
}

/// Locales every server has.
fn is_always_there(locale: &str) -> bool {
    matches!(normalize_locale(locale).as_str(), "c" | "posix" | "c.utf8" | "")
}

/// `en_US.UTF-8`, `en_US.utf8` and `en_us.UTF8` are one locale to the C library.
fn normalize_locale(locale: &str) -> String {
    locale.to_ascii_lowercase().replace("utf-8", "utf8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(exists: bool, relations: u64, sessions: u64) -> TargetState {
        TargetState { database: "app".into(), exists, relations: Some(relations), sessions, applications: vec!["web".into()], ..TargetState::default() }
    }

    fn needs() -> Needs {
        pgsurge_plan::needs::of_script(std::iter::empty::<Result<_, ()>>()).unwrap_or_else(|()| unreachable!())
    }

    /// The codes of the problems and of the warnings.
    type Codes<'a> = (Vec<&'a str>, Vec<&'a str>);

    fn codes(f: &Findings) -> Codes<'_> {
        (f.problems.iter().map(|p| p.code).collect(), f.warnings.iter().map(|p| p.code).collect())
    }

    #[test]
    fn what_the_target_state_means_for_each_kind_of_restore() {
        let plain = Target { dbname: "app".into(), ..Target::default() };
        let create = Target { create: true, ..plain.clone() };
        let create_clean = Target { clean: true, ..create.clone() };
        let swap = Target { swap: true, ..plain.clone() };
        let cases: Vec<(&Target, TargetState, Codes<'_>)> = vec![
            (&plain, state(true, 0, 0), (vec![], vec![])),
            (&plain, state(true, 3, 2), (vec![], vec!["database-not-empty", "database-in-use"])),
            (&plain, state(false, 0, 0), (vec!["database-missing"], vec![])),
            (&create, state(true, 0, 0), (vec!["database-exists"], vec![])),
            (&create, state(false, 0, 0), (vec![], vec![])),
            (&create_clean, state(true, 5, 1), (vec!["database-in-use"], vec![])),
            (&create_clean, state(true, 5, 0), (vec![], vec![])),
            (&swap, state(true, 5, 3), (vec![], vec![])),
            (&swap, state(false, 0, 0), (vec![], vec![])),
        ];
        for (target, state, want) in cases {
            let mut f = Findings::default();
            judge(&state, &needs(), target, &mut f);
            assert_eq!(codes(&f), want, "{target:?} {state:?}");
        }
        let mut f = Findings::default();
        judge(&state(true, 3, 2), &needs(), &plain, &mut f);
        assert_eq!(f.warnings[1].message, "2 other sessions are connected to database \"app\" (web): they will see the restore half done");
    }

    #[test]
    fn locale_names_compare_as_the_c_library_reads_them() {
        assert_eq!(normalize_locale("en_US.UTF-8"), normalize_locale("en_US.utf8"));
        assert!(is_always_there("C") && is_always_there("POSIX") && is_always_there("C.UTF-8") && !is_always_there("de_DE.UTF-8"));
    }
}
