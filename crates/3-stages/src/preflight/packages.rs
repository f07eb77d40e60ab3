//! What provides an extension the server lacks: the package of the PostgreSQL Global
//! Development Group's Debian and Ubuntu repository (apt.postgresql.org) for the
//! well-known ones, PostgreSQL's own contrib modules, and those a newer PostgreSQL removed.

/// Contrib modules: shipped with the server (Debian's `postgresql-N` holds them; Red Hat
/// splits them into `postgresqlN-contrib`).
const CONTRIB: &[&str] = &[
    "adminpack", "amcheck", "autoinc", "bloom", "bool_plperl", "btree_gin", "btree_gist", "citext", "cube", "dblink", "dict_int", "dict_xsyn", "earthdistance", "file_fdw", "fuzzystrmatch",
    "hstore", "insert_username", "intagg", "intarray", "isn", "lo", "ltree", "moddatetime", "old_snapshot", "pageinspect", "pg_buffercache", "pg_freespacemap", "pg_logicalinspect",
    "pg_prewarm", "pg_stat_statements", "pg_surgery", "pg_trgm", "pg_visibility", "pg_walinspect", "pgcrypto", "pgrowlocks", "pgstattuple", "postgres_fdw", "refint",
    "seg", "sslinfo", "tablefunc", "tcn", "tsm_system_rows", "tsm_system_time", "unaccent", "uuid-ossp", "xml2",
];

/// Contrib modules a PostgreSQL release removed, with that release.
const REMOVED: &[(&str, u32)] = &[("tsearch2", 10), ("chkpass", 11), ("adminpack", 17), ("old_snapshot", 17)];

/// Debian and Ubuntu package names by extension, `{}` standing for the server's major.
const PACKAGES: &[(&[&str], &str)] = &[
    (&["postgis", "postgis_raster", "postgis_topology", "postgis_sfcgal", "postgis_tiger_geocoder", "address_standardizer", "address_standardizer_data_us"], "postgresql-{}-postgis-3"),
    (&["vector"], "postgresql-{}-pgvector"),
    (&["timescaledb"], "timescaledb-2-postgresql-{} (from Timescale's repository)"),
    (&["pg_partman"], "postgresql-{}-partman"),
    (&["pgrouting"], "postgresql-{}-pgrouting"),
    (&["pg_cron"], "postgresql-{}-cron"),
    (&["pgaudit"], "postgresql-{}-pgaudit"),
    (&["pg_repack"], "postgresql-{}-repack"),
    (&["hypopg"], "postgresql-{}-hypopg"),
    (&["orafce"], "postgresql-{}-orafce"),
    (&["plv8"], "postgresql-{}-plv8"),
    (&["pgtap"], "postgresql-{}-pgtap"),
    (&["ip4r"], "postgresql-{}-ip4r"),
    (&["rum"], "postgresql-{}-rum"),
    (&["pg_hint_plan"], "postgresql-{}-pg-hint-plan"),
    (&["h3", "h3_postgis"], "postgresql-{}-h3"),
    (&["pg_squeeze"], "postgresql-{}-squeeze"),
    (&["semver"], "postgresql-{}-semver"),
    (&["pllua"], "postgresql-{}-pllua"),
    (&["plpython3u", "hstore_plpython3u", "jsonb_plpython3u", "ltree_plpython3u"], "postgresql-plpython3-{}"),
    (&["plperl", "plperlu", "hstore_plperl", "hstore_plperlu", "jsonb_plperl", "jsonb_plperlu", "bool_plperlu"], "postgresql-plperl-{}"),
    (&["pltcl", "pltclu"], "postgresql-pltcl-{}"),
];

/// What to do about extension `name` missing from a server of `major`. A script's
/// statements cannot be left out by option: its fix says to edit the script instead.
pub(super) fn extension_fix(name: &str, major: u32, script: bool) -> String {
    let leave_out = if script { "remove its CREATE EXTENSION (and what uses it) from the script" } else { "leave its entries out with a -L list (`pgsurge list` shows them)" };
    let major_text = if major > 0 { major.to_string() } else { "N".to_owned() };
    if let Some(&(_, removed)) = REMOVED.iter().find(|(n, _)| *n == name).filter(|(_, r)| major >= *r) {
        return format!("{name} is no longer part of PostgreSQL (removed in {removed}): {leave_out}");
    }
    if CONTRIB.contains(&name) || name == "plpgsql" {
        return format!("{name} ships with PostgreSQL's contrib modules: install them on the server (postgresql-{major_text} on Debian and Ubuntu, postgresql{major_text}-contrib on Red Hat), or {leave_out}");
    }
    if let Some((_, package)) = PACKAGES.iter().find(|(names, _)| names.contains(&name)) {
        return format!("install the package that provides it on the server (e.g. {}), or {leave_out}", package.replace("{}", &major_text));
    }
    format!("install the package that provides {name} on the server (with apt.postgresql.org, often postgresql-{major_text}-{}), or {leave_out}", name.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_extensions_name_their_package() {
        assert!(extension_fix("postgis", 18, false).contains("postgresql-18-postgis-3"));
        assert!(extension_fix("vector", 17, false).contains("postgresql-17-pgvector"));
        assert!(extension_fix("hstore", 16, false).contains("contrib"));
        assert!(extension_fix("adminpack", 17, false).starts_with("adminpack is no longer part of PostgreSQL (removed in 17)"));
        assert!(extension_fix("adminpack", 16, false).contains("contrib"));
        assert!(extension_fix("my_ext", 18, true).contains("postgresql-18-my-ext") && extension_fix("my_ext", 18, true).contains("from the script"));
    }
}
