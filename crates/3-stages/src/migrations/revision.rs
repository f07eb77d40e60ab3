//! The schema revision of a database, as the common migration tools record it in tables of
//! their own: each tool's table is looked for in every schema (through `pg_catalog`), told
//! apart by its columns, and read.
//!
//! | table | tool | revision |
//! |---|---|---|
//! | `alembic_version` | Alembic | `version_num` (several, comma-separated, on branches) |
//! | `django_migrations` | Django | the latest applied `app.name`, and how many |
//! | `flyway_schema_history` | Flyway | the latest successful versioned migration |
//! | `schema_migrations` | Rails (with `ar_internal_metadata` beside it), dbmate, golang-migrate (`dirty`), Ecto (`inserted_at`) | the highest version |
//! | `knex_migrations` | Knex | the latest name, and how many |
//! | `__EFMigrationsHistory` | Entity Framework | the highest `MigrationId` |
//! | `databasechangelog` | Liquibase | the latest changeset, `file::id::author` |
//! | `goose_db_version` | goose | the highest version whose latest row is applied |
//! | `_prisma_migrations`, `_sqlx_migrations`, `__diesel_schema_migrations` | Prisma, SQLx, Diesel | the latest finished migration |
//! | `migrations` | Laravel (`migration`, `batch`), TypeORM (`timestamp`, `name`) | the latest |
//!
//! A table with a tool's name but not its columns is someone else's and is skipped; so is a
//! `migrations` table of any other shape, a name too common to guess from.

use pgsurge_connect::ConnParams;
use pgsurge_plan::sql::quote_ident;
use serde::Serialize;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::{connect, runtime, MigrationError};

/// The table names looked for.
const TABLES: &[&str] = &[
    "alembic_version",
    "django_migrations",
    "flyway_schema_history",
    "schema_migrations",
    "knex_migrations",
    "__EFMigrationsHistory",
    "databasechangelog",
    "goose_db_version",
    "_prisma_migrations",
    "_sqlx_migrations",
    "__diesel_schema_migrations",
    "migrations",
];

/// One tool's record of the schema revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// `alembic`, `django`, `flyway`, `rails`, `golang-migrate`, …
    pub tool: String,
    /// The table it was read from, schema-qualified and quoted as SQL needs.
    pub table: String,
    /// The revision, as the tool would name it; `(none)` for a table with no row yet.
    pub value: String,
}

/// What is read from an empty table.
pub const NONE: &str = "(none)";

/// The revisions recorded in `params`' database, in schema then table name order; empty
/// when no tool's table is there.
pub fn read_revision(params: &ConnParams) -> Result<Vec<Revision>, MigrationError> {
    let on_notice: pgsurge_connect::NoticeHandler = std::sync::Arc::new(|_| {});
    runtime()?.block_on(async {
        let (client, driver) = connect(params, on_notice).await?;
        let result = read_with(&client).await;
        drop(client);
        let _ = driver.await;
        result
    })
}

/// A candidate table: where it is and what columns it has.
struct Found {
    schema: String,
    name: String,
    columns: Vec<String>,
    readable: bool,
    /// A Rails `ar_internal_metadata` sits in the same schema.
    beside_rails_metadata: bool,
}

impl Found {
    fn has(&self, columns: &[&str]) -> bool {
        columns
            .iter()
            .all(|c| self.columns.iter().any(|have| have == c))
    }

    fn qualified(&self) -> String {
        format!(
            "{}.{}",
            String::from_utf8_lossy(&quote_ident(self.schema.as_bytes())),
            String::from_utf8_lossy(&quote_ident(self.name.as_bytes()))
        )
    }
}

/// How one tool's table is read: the query returns one row of text columns, the first the
/// revision (NULL for none) and an optional second a count or a flag `describe` uses.
struct Reader {
    tool: &'static str,
    /// `{t}` is replaced by the quoted table name.
    query: &'static str,
    describe: fn(&str, Option<&str>) -> String,
}

fn plain(value: &str, _: Option<&str>) -> String {
    value.to_string()
}

fn with_count(value: &str, count: Option<&str>) -> String {
    match count {
        Some(n) => format!("{value} ({n} applied)"),
        None => value.to_string(),
    }
}

fn with_description(value: &str, description: Option<&str>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!("{value} ({d})"),
        _ => value.to_string(),
    }
}

fn dirty(value: &str, dirty: Option<&str>) -> String {
    match dirty {
        Some("t") => format!("{value} (dirty)"),
        _ => value.to_string(),
    }
}

/// Which tool `found` belongs to, if any, and how to read it.
fn reader_for(found: &Found) -> Option<Reader> {
    let r = |tool, query, describe| {
        Some(Reader {
            tool,
            query,
            describe,
        })
    };
    match found.name.as_str() {
        "alembic_version" if found.has(&["version_num"]) => r(
            "alembic",
            "SELECT string_agg(version_num::text, ',' ORDER BY version_num) FROM {t}",
            plain,
        ),
        "django_migrations" if found.has(&["id", "app", "name"]) => r(
            "django",
            "SELECT (SELECT app || '.' || name FROM {t} ORDER BY id DESC LIMIT 1), count(*)::text FROM {t}",
            with_count,
        ),
        "flyway_schema_history" if found.has(&["installed_rank", "version", "description", "success"]) => r(
            "flyway",
            "SELECT version::text, description::text FROM {t} WHERE success AND version IS NOT NULL \
             ORDER BY installed_rank DESC LIMIT 1",
            with_description,
        ),
        "schema_migrations" if found.has(&["version", "dirty"]) => r(
            "golang-migrate",
            "SELECT version::text, CASE WHEN dirty THEN 't' ELSE 'f' END FROM {t} LIMIT 1",
            dirty,
        ),
        "schema_migrations" if found.has(&["version", "inserted_at"]) => {
            r("ecto", "SELECT max(version)::text, count(*)::text FROM {t}", with_count)
        }
        "schema_migrations" if found.has(&["version"]) => r(
            if found.beside_rails_metadata { "rails" } else { "dbmate" },
            "SELECT max(version)::text, count(*)::text FROM {t}",
            with_count,
        ),
        "knex_migrations" if found.has(&["id", "name"]) => r(
            "knex",
            "SELECT (SELECT name::text FROM {t} ORDER BY id DESC LIMIT 1), count(*)::text FROM {t}",
            with_count,
        ),
        "__EFMigrationsHistory" if found.has(&["MigrationId"]) => r(
            "entity-framework",
            "SELECT max(\"MigrationId\")::text, count(*)::text FROM {t}",
            with_count,
        ),
        "databasechangelog" if found.has(&["id", "author", "filename", "orderexecuted"]) => r(
            "liquibase",
            "SELECT (SELECT filename || '::' || id || '::' || author FROM {t} \
             ORDER BY orderexecuted DESC LIMIT 1), count(*)::text FROM {t}",
            with_count,
        ),
        "goose_db_version" if found.has(&["id", "version_id", "is_applied"]) => r(
            "goose",
            "SELECT version_id::text FROM (SELECT DISTINCT ON (version_id) version_id, is_applied \
             FROM {t} ORDER BY version_id, id DESC) latest WHERE is_applied \
             ORDER BY version_id DESC LIMIT 1",
            plain,
        ),
        "_prisma_migrations" if found.has(&["migration_name", "finished_at", "rolled_back_at"]) => r(
            "prisma",
            "SELECT (SELECT migration_name::text FROM {t} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL \
             ORDER BY finished_at DESC, migration_name DESC LIMIT 1), \
             count(*) FILTER (WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL)::text FROM {t}",
            with_count,
        ),
        "_sqlx_migrations" if found.has(&["version", "description", "success"]) => r(
            "sqlx",
            "SELECT version::text, description::text FROM {t} WHERE success ORDER BY version DESC LIMIT 1",
            with_description,
        ),
        "__diesel_schema_migrations" if found.has(&["version"]) => {
            r("diesel", "SELECT max(version)::text, count(*)::text FROM {t}", with_count)
        }
        "migrations" if found.has(&["id", "migration", "batch"]) => r(
            "laravel",
            "SELECT (SELECT migration::text FROM {t} ORDER BY id DESC LIMIT 1), count(*)::text FROM {t}",
            with_count,
        ),
        "migrations" if found.has(&["id", "timestamp", "name"]) => r(
            "typeorm",
            "SELECT (SELECT name::text FROM {t} ORDER BY id DESC LIMIT 1), count(*)::text FROM {t}",
            with_count,
        ),
        _ => None,
    }
}

async fn read_with(client: &Client) -> Result<Vec<Revision>, MigrationError> {
    let catalog_error = |source| MigrationError::Revision {
        table: "pg_catalog".to_string(),
        source,
    };
    let names: Vec<&str> = TABLES
        .iter()
        .copied()
        .chain(["ar_internal_metadata"])
        .collect();
    let rows = client
        .query(
            "SELECT n.nspname::text, c.relname::text, \
                    array_agg(a.attname::text ORDER BY a.attnum), \
                    has_table_privilege(c.oid, 'SELECT') \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname::text = ANY($1) \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
             GROUP BY n.nspname, c.relname, c.oid \
             ORDER BY n.nspname::text COLLATE \"C\", c.relname::text COLLATE \"C\"",
            &[&names],
        )
        .await
        .map_err(catalog_error)?;
    let mut found: Vec<Found> = Vec::with_capacity(rows.len());
    for row in &rows {
        found.push(Found {
            schema: row.try_get(0).map_err(catalog_error)?,
            name: row.try_get(1).map_err(catalog_error)?,
            columns: row.try_get(2).map_err(catalog_error)?,
            readable: row.try_get(3).map_err(catalog_error)?,
            beside_rails_metadata: false,
        });
    }
    let rails_schemas: Vec<String> = found
        .iter()
        .filter(|f| f.name == "ar_internal_metadata")
        .map(|f| f.schema.clone())
        .collect();
    for f in &mut found {
        f.beside_rails_metadata = rails_schemas.contains(&f.schema);
    }

    let mut revisions = Vec::new();
    for f in &found {
        let Some(reader) = reader_for(f) else {
            continue;
        };
        let table = f.qualified();
        if !f.readable {
            revisions.push(Revision {
                tool: reader.tool.to_string(),
                table,
                value: "(not readable: no SELECT privilege)".to_string(),
            });
            continue;
        }
        let sql = reader.query.replace("{t}", &table);
        let messages =
            client
                .simple_query(&sql)
                .await
                .map_err(|source| MigrationError::Revision {
                    table: table.clone(),
                    source,
                })?;
        let row = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        });
        let value = row.and_then(|r| r.get(0));
        let extra = row.and_then(|r| r.try_get(1).ok().flatten());
        revisions.push(Revision {
            tool: reader.tool.to_string(),
            table,
            value: match value {
                Some(v) => (reader.describe)(v, extra),
                None => NONE.to_string(),
            },
        });
    }
    Ok(revisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, columns: &[&str]) -> Found {
        Found {
            schema: "Public".to_string(),
            name: name.to_string(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            readable: true,
            beside_rails_metadata: false,
        }
    }

    #[test]
    fn tables_are_told_apart_by_their_columns() {
        let tool = |name, columns: &[&str]| reader_for(&found(name, columns)).map(|r| r.tool);
        assert_eq!(
            tool("schema_migrations", &["version", "dirty"]),
            Some("golang-migrate")
        );
        assert_eq!(
            tool("schema_migrations", &["version", "inserted_at"]),
            Some("ecto")
        );
        assert_eq!(tool("schema_migrations", &["version"]), Some("dbmate"));
        assert_eq!(
            tool("migrations", &["id", "migration", "batch"]),
            Some("laravel")
        );
        assert_eq!(
            tool("migrations", &["id", "timestamp", "name"]),
            Some("typeorm")
        );
        assert_eq!(tool("migrations", &["id", "name", "run_on"]), None);
        assert_eq!(tool("alembic_version", &["id"]), None);
        let mut rails = found("schema_migrations", &["version"]);
        rails.beside_rails_metadata = true;
        assert_eq!(reader_for(&rails).map(|r| r.tool), Some("rails"));
    }

    #[test]
    fn names_are_quoted_as_sql_needs() {
        assert_eq!(
            found("__EFMigrationsHistory", &[]).qualified(),
            "\"Public\".\"__EFMigrationsHistory\""
        );
        let mut f = found("alembic_version", &[]);
        f.schema = "public".to_string();
        assert_eq!(f.qualified(), "public.alembic_version");
    }
}
