//! A bundle's manifest: which member it is (`manifest.json`, `metadata.json`, `backup.json`,
//! `backup_info.json`, or any `*manifest*.json`, at the top or one folder down), its whole
//! content flattened to key paths and short values, and the fields a restore cares about —
//! the database type, the application's migration revision, when the backup was made.
//! A manifest that cannot be read is reported as such; it never stops the bundle.
//!
//! # Which field is which
//!
//! Keys are compared in lowercase with `-` read as `_`, as a dotted path (`alembic.revision`)
//! matched at its end. For each field the first pattern of its list that any key matches
//! wins; among keys matching the same pattern, the shallowest, then the first in key order.
//! - database: `database_type`, `db_type`, `database_engine`, `db_engine`, `database.type`,
//!   `database.engine`, `db.type`, `db.engine`, `dialect`, `database` (a string only)
//! - migration revision, with the tool it names: `alembic_revision`, `alembic_version`,
//!   `alembic.revision`, `alembic.version`, `alembic.version_num`, `alembic.head` (alembic);
//!   `flyway_version`, `flyway.version` (flyway); `django_migrations`, `django.migrations`
//!   (django; an object of app → migration is kept as compact JSON); then
//!   `migration_revision`, `migration_version`, `migration.revision`, `migration.version`,
//!   `migrations.revision`, `migrations.version`, `schema_version`, `migration`, `revision`
//! - created: `created_at`, `created`, `creation_time`, `backup_date`, `backup_time`,
//!   `timestamp`, `date` (the value as written: no date format is assumed)

use std::io::Read;

use serde_json::Value;

/// Most flattened fields kept; a manifest with more says so in `truncated`.
const MAX_FIELDS: usize = 1000;
/// Nodes of the document looked at (a 1 MiB document has at most about half a million).
const MAX_NODES: usize = 100_000;
/// Characters of a value kept (the rest replaced by `…`).
const MAX_VALUE: usize = 200;

/// A manifest member and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub path: String,
    /// The content, or why it could not be read (too large, not JSON).
    pub content: Result<ManifestInfo, String>,
}

/// What a manifest says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestInfo {
    /// Every leaf as `a.b[0].c` → value (strings unquoted, others as JSON), bounded.
    pub fields: Vec<(String, String)>,
    /// Whether fields were left out past the first 1000.
    pub truncated: bool,
    pub database: Option<Field>,
    pub revision: Option<Revision>,
    pub created: Option<Field>,
}

/// A recognized field: the key path it was found under and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub value: String,
}

/// The application's migration revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub key: String,
    pub value: String,
    /// `alembic`, `django` or `flyway` when the key names the tool.
    pub tool: Option<&'static str>,
}

const NAMES: [&str; 4] = ["manifest.json", "metadata.json", "backup.json", "backup_info.json"];

/// How good a name is for a manifest (lower is better), if it is one: exact names in
/// [`NAMES`] order, then `*manifest*.json`; at the top before one folder down.
pub(crate) fn rank(path: &str) -> Option<usize> {
    let (depth, name) = match path.split('/').collect::<Vec<_>>()[..] {
        [name] => (0, name),
        [_, name] => (1, name),
        _ => return None,
    };
    let name = name.to_ascii_lowercase();
    let by_name = NAMES.iter().position(|n| *n == name).or_else(|| (name.contains("manifest") && name.ends_with(".json")).then_some(NAMES.len()))?;
    Some(depth * (NAMES.len() + 1) + by_name)
}

/// Reads and reads into a manifest at most `limit` bytes of `reader`.
pub(crate) fn read(path: &str, reader: &mut dyn Read, limit: u64) -> Manifest {
    let mut bytes = Vec::new();
    let content = match reader.take(limit + 1).read_to_end(&mut bytes) {
        Err(e) => Err(format!("reading it: {e}")),
        Ok(_) if bytes.len() as u64 > limit => Err(format!("over {limit} bytes; not read")),
        Ok(_) => serde_json::from_slice::<Value>(&bytes).map(|v| interpret(&v)).map_err(|e| format!("not JSON: {e}")),
    };
    Manifest { path: path.to_owned(), content }
}

/// Every node of the document with its dotted key path (arrays as `[i]`) and depth.
fn nodes<'v>(value: &'v Value, key: String, depth: usize, out: &mut Vec<(String, usize, &'v Value)>) {
    if out.len() >= MAX_NODES {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = if key.is_empty() { k.clone() } else { format!("{key}.{k}") };
                out.push((path.clone(), depth, v));
                nodes(v, path, depth + 1, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let path = format!("{key}[{i}]");
                out.push((path.clone(), depth, v));
                nodes(v, path, depth + 1, out);
            }
        }
        _ => {}
    }
}

fn short(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    match text.char_indices().nth(MAX_VALUE) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

fn interpret(doc: &Value) -> ManifestInfo {
    let mut all = Vec::new();
    nodes(doc, String::new(), 0, &mut all);
    let leaves: Vec<_> = all.iter().filter(|(_, _, v)| !v.is_object() && !v.is_array()).collect();
    let fields = leaves.iter().take(MAX_FIELDS).map(|(k, _, v)| (k.clone(), short(v))).collect();
    let normalized: Vec<(String, usize, &Value)> = all.iter().map(|(k, d, v)| (k.to_lowercase().replace('-', "_"), *d, *v)).collect();
    // The first key matching the earliest pattern; among those, shallowest (then key order).
    let find = |patterns: &[&str], strings_only: bool| {
        patterns.iter().enumerate().find_map(|(p, pattern)| {
            normalized
                .iter()
                .zip(&all)
                .filter(|((k, _, v), _)| matches(k, pattern) && (!strings_only || v.is_string()) && !v.is_null())
                .min_by_key(|((_, d, _), _)| *d)
                .map(|(_, (key, _, v))| (p, Field { key: key.clone(), value: short(v) }))
        })
    };
    let database = find(&["database_type", "db_type", "database_engine", "db_engine", "database.type", "database.engine", "db.type", "db.engine", "dialect", "database"], true).map(|(_, f)| f);
    let revision = find(
        &[
            "alembic_revision", "alembic_version", "alembic.revision", "alembic.version", "alembic.version_num", "alembic.head", // alembic: 0..=5
            "flyway_version", "flyway.version", // flyway: 6..=7
            "django_migrations", "django.migrations", // django: 8..=9
            "migration_revision", "migration_version", "migration.revision", "migration.version", "migrations.revision", "migrations.version", "schema_version", "migration", "revision",
        ],
        false,
    )
    .map(|(p, f)| Revision {
        key: f.key,
        value: f.value,
        tool: match p {
            0..=5 => Some("alembic"),
            6..=7 => Some("flyway"),
            8..=9 => Some("django"),
            _ => None,
        },
    });
    let created = find(&["created_at", "created", "creation_time", "backup_date", "backup_time", "timestamp", "date"], false).map(|(_, f)| f);
    ManifestInfo { fields, truncated: leaves.len() > MAX_FIELDS, database, revision, created }
}

/// Whether the dotted `key` ends with the dotted `pattern`, component for component.
fn matches(key: &str, pattern: &str) -> bool {
    key.strip_suffix(pattern).is_some_and(|before| before.is_empty() || before.ends_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(json: &str) -> ManifestInfo {
        read("manifest.json", &mut json.as_bytes(), 1 << 20).content.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn recognized_fields_are_found_nested() {
        let m = info(r#"{"app": {"name": "shop", "alembic": {"revision": "3f2a9c"}}, "database": {"type": "postgresql", "version": 16}, "revision": "v2", "created-at": "2024-05-01T03:00:00Z"}"#);
        assert_eq!(m.revision, Some(Revision { key: "app.alembic.revision".into(), value: "3f2a9c".into(), tool: Some("alembic") }));
        assert_eq!(m.database.map(|f| f.value), Some("postgresql".into()));
        assert_eq!(m.created.map(|f| f.key), Some("created-at".into()));
        assert!(m.fields.contains(&("database.version".into(), "16".into())));
        let m = info(r#"{"django_migrations": {"auth": "0012"}, "schema_version": 7}"#);
        assert_eq!(m.revision.map(|r| (r.value, r.tool)), Some((r#"{"auth":"0012"}"#.into(), Some("django"))));
        let m = info(r#"{"files": [{"revision": 3}], "schema_version": 7}"#);
        assert_eq!(m.revision.map(|r| r.key), Some("schema_version".into()));
    }

    #[test]
    fn unreadable_manifests_are_reported() {
        assert!(read("m.json", &mut &b"{not json"[..], 100).content.is_err_and(|e| e.starts_with("not JSON")));
        assert!(read("m.json", &mut &[b' '; 200][..], 100).content.is_err_and(|e| e.contains("over 100 bytes")));
        let big = format!("{{\"a\": \"{}\"}}", "x".repeat(500));
        assert!(info(&big).fields[0].1.ends_with('…'));
    }

    #[test]
    fn names_rank_top_first() {
        assert_eq!(rank("manifest.json"), Some(0));
        assert!(rank("backup/manifest.json") > rank("backup_info.json"));
        assert!(rank("app-manifest.JSON").is_some());
        assert_eq!(rank("a/b/manifest.json"), None);
        assert_eq!(rank("manifest.yaml"), None);
    }
}
