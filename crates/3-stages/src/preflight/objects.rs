//! The cluster-wide objects a restore names: roles (`pg_roles`), extensions
//! (`pg_available_extensions`, and `pg_extension` where the target already has one) and
//! tablespaces (`pg_tablespace`). Names travel as bind parameters.

use std::collections::{BTreeMap, BTreeSet};

use pgsurge_plan::needs::{Needs, Source};
use tokio_postgres::Client;

use super::packages::extension_fix;
use super::{ident, named, ExtensionFact, Findings, PreflightError, Target};

/// Which of `names` exist, by a query taking them as `$1` (a text array) and returning each
/// found one in its first column.
async fn existing(client: &Client, sql: &str, names: Vec<String>, what: &'static str) -> Result<BTreeSet<String>, PreflightError> {
    if names.is_empty() {
        return Ok(BTreeSet::new());
    }
    let rows = client.query(sql, &[&names]).await.map_err(PreflightError::query(what))?;
    rows.iter().map(|r| r.try_get::<_, String>(0).map_err(PreflightError::row(what))).collect()
}

/// Every role `needs` names must exist. Each missing one is a problem whose fix is its
/// `CREATE ROLE`; when options would leave out every use of all of them, one alternative
/// says which.
pub(super) async fn roles(client: &Client, needs: &Needs, f: &mut Findings) -> Result<(), PreflightError> {
    let names: Vec<String> = needs.roles.keys().cloned().collect();
    f.facts.roles_checked = names.len();
    let found = existing(client, "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1::text[])", names, "roles").await?;
    let missing: Vec<&str> = needs.roles.keys().map(String::as_str).filter(|r| !found.contains(*r)).collect();
    for role in &missing {
        f.problem("missing-role", *role, format!("{} does not exist: {}", named("role", role), needs.why(role)), format!("CREATE ROLE {};", ident(role)));
    }
    if let Some(options) = needs.options_avoiding(missing.iter().copied()) {
        let what: Vec<&str> = options.iter().map(|o| left_out_by(o)).collect();
        let roles = if missing.len() == 1 { "the missing role" } else { "the missing roles" };
        let what = match what.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        };
        f.alternatives.push(format!("or restore with {}, which leaves out the {what} naming {roles}", options.join(" ")));
    }
    Ok(())
}

/// What a `--no-…` option leaves out, for the alternative's wording.
fn left_out_by(option: &str) -> &'static str {
    match option {
        "--no-owner" => "ownership",
        "--no-privileges" => "grants",
        "--no-policies" => "policies",
        "--no-tablespaces" => "tablespaces",
        _ => "statements",
    }
}

/// Every extension the restore creates must be available on the server (its files
/// installed), or already be in a target the restore does not empty first.
pub(super) async fn extensions(client: &Client, needs: &Needs, target: &Target, in_target: bool, server_major: u32, f: &mut Findings) -> Result<(), PreflightError> {
    if needs.extensions.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = needs.extensions.keys().cloned().collect();
    let rows = client
        .query("SELECT name::text, default_version, installed_version FROM pg_catalog.pg_available_extensions WHERE name = ANY($1::text[])", &[&names])
        .await
        .map_err(PreflightError::query("available extensions"))?;
    let mut available: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for r in &rows {
        let read = || -> Result<_, tokio_postgres::Error> { Ok((r.try_get::<_, String>(0)?, r.try_get::<_, Option<String>>(1)?, r.try_get::<_, Option<String>>(2)?)) };
        let (name, default, installed) = read().map_err(PreflightError::row("available extensions"))?;
        available.insert(name, (default, installed));
    }
    // An extension the target already has is kept by a restore that drops nothing, even if
    // its files are gone (`CREATE EXTENSION IF NOT EXISTS`, as pg_dump writes it).
    let keeps_target = in_target && !target.clean && !target.create && !target.swap;
    let mut installed = BTreeMap::new();
    if keeps_target {
        let rows = client
            .query("SELECT extname::text, extversion FROM pg_catalog.pg_extension WHERE extname = ANY($1::text[])", &[&names])
            .await
            .map_err(PreflightError::query("installed extensions"))?;
        for r in &rows {
            let name: String = r.try_get(0).map_err(PreflightError::row("installed extensions"))?;
            let version: String = r.try_get(1).map_err(PreflightError::row("installed extensions"))?;
            installed.insert(name, version);
        }
    }
    let wanted_versions: Vec<String> = needs.extensions.iter().filter(|(_, u)| u.version.is_some()).map(|(n, _)| n.clone()).collect();
    let versions = versions(client, wanted_versions).await?;

    for (name, using) in &needs.extensions {
        let offered = available.get(name);
        let kept = installed.get(name);
        f.facts.extensions.push(ExtensionFact {
            name: name.clone(),
            available: offered.is_some(),
            default_version: offered.and_then(|(d, _)| d.clone()),
            installed_version: kept.cloned().or_else(|| offered.and_then(|(_, i)| i.clone())),
        });
        if offered.is_none() && kept.is_none() {
            f.problem(
                "missing-extension",
                name.as_str(),
                format!("{} is not available on the server (needed by {})", named("extension", name), using.first),
                extension_fix(name, server_major, needs.source == Source::Script),
            );
            continue;
        }
        if let (Some(version), Some(offered)) = (&using.version, versions.get(name)) {
            if kept.is_none_or(|k| k != version) && !offered.contains(version) {
                f.problem(
                    "missing-extension-version",
                    name.as_str(),
                    format!("{} version \"{version}\" is not available on the server (asked for at {}); it has {}", named("extension", name), using.first, offered.join(", ")),
                    format!("install version {version} of {name} on the server, or create the version the server has"),
                );
            }
        }
    }
    Ok(())
}

/// The versions the server offers of each of `names` (`pg_available_extension_versions`).
async fn versions(client: &Client, names: Vec<String>) -> Result<BTreeMap<String, Vec<String>>, PreflightError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if names.is_empty() {
        return Ok(out);
    }
    let rows = client
        .query("SELECT name::text, version FROM pg_catalog.pg_available_extension_versions WHERE name = ANY($1::text[]) ORDER BY 1, 2", &[&names])
        .await
        .map_err(PreflightError::query("extension versions"))?;
    for r in &rows {
        let name: String = r.try_get(0).map_err(PreflightError::row("extension versions"))?;
        let version: String = r.try_get(1).map_err(PreflightError::row("extension versions"))?;
        out.entry(name).or_default().push(version);
    }
    Ok(out)
}

/// Every tablespace the restore puts objects in must exist.
pub(super) async fn tablespaces(client: &Client, needs: &Needs, f: &mut Findings) -> Result<(), PreflightError> {
    let names: Vec<String> = needs.tablespaces.keys().cloned().collect();
    f.facts.tablespaces_checked = names.len();
    let found = existing(client, "SELECT spcname::text FROM pg_catalog.pg_tablespace WHERE spcname = ANY($1::text[])", names, "tablespaces").await?;
    for (name, using) in needs.tablespaces.iter().filter(|(n, _)| !found.contains(*n)) {
        let uses = match using.count {
            1 => format!("{}", using.first),
            n => format!("{n} {} (first {})", if needs.source == Source::Script { "statements" } else { "entries" }, using.first),
        };
        let mut fix = format!("CREATE TABLESPACE {} LOCATION '/an/empty/directory';", ident(name));
        if let Some(option) = using.avoided_by {
            fix.push_str(&format!(" — or restore with {option}, which puts everything in the default tablespace"));
        }
        f.problem("missing-tablespace", name.as_str(), format!("{} does not exist (used by {uses})", named("tablespace", name)), fix);
    }
    Ok(())
}
