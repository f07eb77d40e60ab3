//! What the user asked for, checked: the option set pg_restore 18 accepts, as typed values.
//!
//! The CLI builds a `RestoreOptions` from raw arguments and applies the conflict rules of
//! pg_restore.c `main` (`RestoreOptions::validate`); selection (`select`), listing
//! (`listing`) and script rendering (`render`) only read it.

use std::path::PathBuf;

use bstr::BString;

/// `--section` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionChoice {
    PreData,
    Data,
    PostData,
}

/// One `--filter` rule, already normalised (pg_restore.c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterRule {
    IncludeTable(BString),
    IncludeSchema(BString),
    IncludeIndex(BString),
    IncludeFunction(BString),
    IncludeTrigger(BString),
    ExcludeSchema(BString),
}

/// Every option that changes what pg_restore selects or prints.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    // What to restore.
    pub data_only: bool,             // -a
    pub schema_only: bool,           // -s
    pub no_data: bool,               // --no-data
    pub no_schema: bool,             // --no-schema
    pub statistics: bool,            // --statistics
    pub no_statistics: bool,         // --no-statistics
    pub statistics_only: bool,       // --statistics-only
    /// `--section`, in the order given; empty means all sections.
    pub sections: Vec<SectionChoice>,
    pub schemas: Vec<BString>,         // -n
    pub exclude_schemas: Vec<BString>, // -N
    pub tables: Vec<BString>,          // -t
    pub indexes: Vec<BString>,         // -I
    pub functions: Vec<BString>,       // -P
    pub triggers: Vec<BString>,        // -T
    pub strict_names: bool,
    /// `-L`: the list file's path (read by `select::read_list_file`).
    pub use_list: Option<PathBuf>,
    /// `--filter` rules, already parsed, applied like -t/-n/-I/-P/-T/-N.
    pub filters: Vec<FilterRule>,

    // Class exclusions.
    pub no_acl: bool,               // -x / --no-privileges / --no-acl
    pub no_comments: bool,
    pub no_policies: bool,
    pub no_publications: bool,
    pub no_subscriptions: bool,
    pub no_security_labels: bool,
    pub no_tablespaces: bool,
    pub no_table_access_method: bool,

    // How to restore.
    pub clean: bool,        // -c
    pub if_exists: bool,
    pub create: bool,       // -C
    pub no_owner: bool,     // -O
    pub use_set_session_authorization: bool,
    pub disable_triggers: bool,
    pub superuser: Option<BString>, // -S
    pub single_transaction: bool,   // -1
    pub transaction_size: Option<u32>,
    pub enable_row_security: bool,
    pub role: Option<BString>,
    pub exit_on_error: bool,        // -e
    pub no_data_for_failed_tables: bool,
    pub jobs: Option<u32>,          // -j
    /// Never load one table over several connections (pgsurge's `--no-split-tables`).
    pub no_split_tables: bool,
    /// Commit every command on its own, as pg_restore does, instead of holding schema
    /// entries to commit many at once (pgsurge's `--no-group-commit`).
    pub no_group_commit: bool,
    /// Load tables without `COPY … FREEZE` (pgsurge's `--no-freeze`).
    pub no_freeze: bool,
    /// Add large tables' foreign keys as pg_dump wrote them, validated at once, instead of
    /// `NOT VALID` and then `VALIDATE CONSTRAINT` (pgsurge's `--no-validate-later`).
    pub no_validate_later: bool,
    /// Build large tables' primary keys and unique constraints as a unique index first, then
    /// the constraint, instead of as pg_dump wrote them (pgsurge's `--index-first`; off by
    /// default: on 2 cores the builds side by side were no faster).
    pub index_first: bool,
    /// Run `ANALYZE` on each table whose data was loaded (pgsurge's `--analyze`; on by default
    /// under the name `pgsurge`, off under `pg_restore`'s). Never part of a script.
    pub analyze: bool,
    /// About how many bytes of a pipe copied to a temporary file for a parallel restore may
    /// stay on disk at once (`None`: all of it).
    pub spool_budget: Option<u64>,
    pub verbose: bool,              // -v
    /// The `\restrict` key; the CLI generates one when the user gives none.
    pub restrict_key: BString,
}

impl RestoreOptions {
    /// Whether any name selection (-n -N -t -I -P -T or --filter) was given.
    pub fn has_name_selection(&self) -> bool {
        !self.schemas.is_empty()
            || !self.exclude_schemas.is_empty()
            || !self.tables.is_empty()
            || !self.indexes.is_empty()
            || !self.functions.is_empty()
            || !self.triggers.is_empty()
            || !self.filters.is_empty()
    }
}
