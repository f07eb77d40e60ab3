//! Raw command-line arguments as the user typed them (clap derive). Checking and conversion
//! into `RestoreOptions` happen in `options`.
//!
//! `restore` takes pg_restore 18's command line option for option; `list`, `sql` and `verify`
//! are the friendlier commands beside it, and `report` draws what a restore's `--report`
//! recorded; `completions` and `man` describe the others to a shell and to man(1).

use clap::{ArgAction, Args, Parser, Subcommand};

/// Restores PostgreSQL databases from pg_dump archives.
#[derive(Debug, Parser)]
#[command(name = "pgsurge", version, long_about = PGSURGE_ABOUT, disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restore an archive, taking pg_restore's own options (pg_restore 18).
    #[command(
        long_about = RESTORE_ABOUT,
        after_help = RESTORE_AFTER_HELP,
        disable_help_flag = true,
        disable_version_flag = true,
        args_override_self = true,
        infer_long_args = true
    )]
    Restore(RestoreArgs),
    /// Print the archive's table of contents, as `pg_restore -l` does.
    #[command(
        long_about = LIST_ABOUT,
        after_help = RESTORE_AFTER_HELP,
        disable_help_flag = true,
        disable_version_flag = true,
        args_override_self = true,
        infer_long_args = true
    )]
    List(RestoreArgs),
    /// Print the SQL script `pg_restore -f` would write (to stdout unless -f FILE).
    #[command(
        long_about = SQL_ABOUT,
        after_help = RESTORE_AFTER_HELP,
        disable_help_flag = true,
        disable_version_flag = true,
        args_override_self = true,
        infer_long_args = true
    )]
    Sql(RestoreArgs),
    /// Check what a restore needs against the server, changing nothing.
    #[command(
        long_about = CHECK_ABOUT,
        after_help = RESTORE_AFTER_HELP,
        disable_help_flag = true,
        disable_version_flag = true,
        args_override_self = true,
        infer_long_args = true
    )]
    Check(RestoreArgs),
    /// Say whether a restore into a database is running (exit 0 idle, 1 running).
    #[command(disable_help_flag = true, long_about = STATUS_ABOUT)]
    Status(ServerArgs),
    /// Swap the latest safety copy a --swap restore left back in as the database.
    #[command(disable_help_flag = true, long_about = ROLLBACK_ABOUT)]
    Rollback(RollbackArgs),
    /// List the safety copies --swap restores left of a database.
    #[command(disable_help_flag = true)]
    Snapshots(ServerArgs),
    /// Check an archive without a server: decompress all data, check every COPY stream.
    Verify(VerifyArgs),
    /// Draw a restore's --report file as a timeline, a lane per connection.
    #[command(long_about = REPORT_ABOUT, after_help = REPORT_AFTER_HELP)]
    Report(ReportArgs),
    /// Print a completion script for bash, zsh, fish, elvish or powershell.
    #[command(after_help = COMPLETIONS_AFTER_HELP)]
    Completions(CompletionsArgs),
    /// Print the manual page pgsurge(1) or a command's; --dir DIR writes them all.
    Man(ManArgs),
}

const PGSURGE_ABOUT: &str = "Restores PostgreSQL databases from pg_dump archives (custom, directory and tar; pg_dump 9.0\nto 18) with pg_restore 18's options and results, in parallel. Started under the name\npg_restore (a symlink to pgsurge), it takes pg_restore's command line and behaves as\npg_restore.";

// The help of `restore`, `list` and `sql` is printed by hand (pg_restore's layout, `-?`), and
// their manual pages come from the same text; kept within PostgreSQL's 95 columns.
pub const RESTORE_ABOUT: &str = "Restores a PostgreSQL database from an archive created by pg_dump, taking pg_restore's options.";
pub const LIST_ABOUT: &str =
    "Prints the table of contents of an archive created by pg_dump, as `pg_restore -l` does;\ntakes pg_restore's options, so -n, -t, -L, --section ... choose what is listed.";
pub const SQL_ABOUT: &str =
    "Prints the SQL script pg_restore would write for an archive created by pg_dump\n(`pg_restore -f`), to standard output unless -f FILE; takes pg_restore's options.";
pub const RESTORE_AFTER_HELP: &str = "The options -I, -n, -N, -P, -t, -T, and --section can be combined and specified\nmultiple times to select multiple objects.\n\nIf no input file name is supplied, then standard input is used.";
const REPORT_ABOUT: &str = "Draws the JSON file of `pgsurge restore --report FILE` as a timeline, in a self-contained\nHTML page (inline SVG, no script, nothing fetched) or a bare SVG file: one lane per\nconnection (0 is the leader), each entry a bar from its start to its end coloured by kind\n(schema, table data, table data in parts, index, constraint, foreign key, large objects,\nother post-data, drop), idle time left empty, stage boundaries, a time axis, and the\ncritical path outlined. Hover a bar for its name, time, rows and errors. Entries too short\nto draw are merged into one bar that says how many they are.";
const REPORT_AFTER_HELP: &str = "The critical path is worked out from the timings alone: from the entry that finished last,\nback each time to the entry that finished latest before it started, on any connection (on\nits own, if the one before it there ended about as late). It shows where the time went, not\nwhich entry waited for which.\n\nFor example:\n  pgsurge restore -j 8 -d shop --report restore.json shop.dump\n  pgsurge report restore.json --html timeline.html";
const COMPLETIONS_AFTER_HELP: &str = "For example:\n  pgsurge completions bash > ~/.local/share/bash-completion/completions/pgsurge\n  pgsurge completions zsh > \"${fpath[1]}/_pgsurge\"\n  pgsurge completions fish > ~/.config/fish/completions/pgsurge.fish";

/// `pgsurge completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum, hide_possible_values = true)]
    pub shell: clap_complete::Shell,
}

/// `pgsurge man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Print the page of this command (pgsurge-COMMAND(1)) instead of pgsurge(1).
    #[arg(value_name = "COMMAND", conflicts_with = "dir")]
    pub command: Option<String>,
    #[arg(
        long = "dir",
        value_name = "DIR",
        help = "Write pgsurge.1 and a page per command (pgsurge-restore.1, ...) into DIR,\ncreated if missing, instead of printing pgsurge.1"
    )]
    pub dir: Option<std::path::PathBuf>,
}

/// `pgsurge report`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("output").required(true).multiple(true))]
pub struct ReportArgs {
    /// The JSON file `pgsurge restore --report FILE` wrote (`-` for standard input).
    #[arg(value_name = "REPORT")]
    pub report: String,
    /// Write the timeline as an HTML page to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE", group = "output", allow_hyphen_values = true)]
    pub html: Option<String>,
    /// Write the timeline as an SVG image to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE", group = "output", allow_hyphen_values = true)]
    pub svg: Option<String>,
}

pub const CHECK_ABOUT: &str = "Checks, before a restore and without changing anything, what the restore of an archive\n(or a plain script, or a bundle's dump) with the same options would need against what the\nserver has: the roles the entries name, extensions, tablespaces, the target database, room\non disk. Exits 1 when something would make the restore fail; `pgsurge restore` makes the\nsame checks first.";
const STATUS_ABOUT: &str = "Says whether a pgsurge restore into the database is running: since when, at which stage,\nhow far. Exits 0 when none is, 1 when one is, 2 when the server cannot be asked.";
const ROLLBACK_ABOUT: &str = "Swaps the newest safety copy of the database (NAME_before_TIMESTAMP, left by `pgsurge\nrestore --swap`) back in under the database's name; the database it replaces is kept as a\nsafety copy in turn.";

/// Where a database is, for the commands that only look at or rename databases (`status`,
/// `snapshots`, `rollback`): libpq's connection options, as `restore` takes them.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The database (a name, `key=value` string or URI).
    #[arg(short = 'd', long = "dbname", value_name = "NAME", allow_hyphen_values = true)]
    pub dbname: Option<String>,
    /// Database server host or socket directory.
    #[arg(short = 'h', long = "host", value_name = "HOSTNAME", allow_hyphen_values = true)]
    pub host: Option<String>,
    /// Database server port number.
    #[arg(short = 'p', long = "port", value_name = "PORT", allow_hyphen_values = true)]
    pub port: Option<String>,
    /// Connect as specified database user.
    #[arg(short = 'U', long = "username", value_name = "NAME", allow_hyphen_values = true)]
    pub username: Option<String>,
    /// Never prompt for password.
    #[arg(short = 'w', long = "no-password")]
    pub no_password: bool,
    /// Force password prompt.
    #[arg(short = 'W', long = "password")]
    pub password: bool,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// `pgsurge rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// End the sessions still connected instead of waiting for them to leave.
    #[arg(long)]
    pub terminate: bool,
    /// How long to wait for sessions to leave (default 30).
    #[arg(long = "swap-timeout", value_name = "SECONDS")]
    pub swap_timeout: Option<String>,
}

/// `pgsurge verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Archive file or directory (`-` or nothing for standard input).
    pub archive: Option<String>,
    #[arg(help = "Archive format: c (custom), d (directory) or t (tar);\ndetected when omitted", short = 'F', long = "format")]
    pub format: Option<String>,
    /// Print the result as JSON on standard output.
    #[arg(long)]
    pub json: bool,
    /// Decompress with this many threads (default: the number of CPUs).
    #[arg(short = 'j', long = "jobs")]
    pub jobs: Option<usize>,
}

/// pg_restore 18's options, spelled as pg_restore spells them. An option's value is the next
/// argument whatever it looks like (`-j -1` is jobs "-1", `-n -x` schema "-x"), as getopt
/// takes it. Help lines are wrapped by hand: PostgreSQL's tools keep `--help` within 95
/// columns, and clap does not wrap without a terminal-size dependency.
#[derive(Debug, Default, Args)]
pub struct RestoreArgs {
    /// Archive file or directory; standard input when omitted or `-`.
    #[arg(value_name = "FILE", allow_hyphen_values = false)]
    pub archive: Vec<String>,

    /// Connect to database NAME (a name, `key=value` string or URI).
    #[arg(short = 'd', long = "dbname", value_name = "NAME", help_heading = "General options", allow_hyphen_values = true)]
    pub dbname: Option<String>,
    /// Output file name (- for stdout).
    #[arg(short = 'f', long = "file", value_name = "FILENAME", help_heading = "General options", allow_hyphen_values = true)]
    pub file: Option<String>,
    /// Backup file format (c, d or t; detected when omitted).
    #[arg(short = 'F', long = "format", value_name = "c|d|t", help_heading = "General options", allow_hyphen_values = true)]
    pub format: Option<String>,
    /// Print summarized TOC of the archive.
    #[arg(short = 'l', long = "list", help_heading = "General options")]
    pub list: bool,
    /// Verbose mode.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count, help_heading = "General options")]
    pub verbose: u8,
    #[arg(help = "No progress display and no summary (pgsurge;\nerrors are still printed)", short = 'q', long = "quiet", help_heading = "General options")]
    pub quiet: bool,
    #[arg(help = "Write the restore's facts and per-entry timeline\nas JSON to FILE (pgsurge)", long = "report", value_name = "FILE", help_heading = "General options", allow_hyphen_values = true)]
    pub report: Option<String>,
    #[arg(help = "Load every table on one connection, never with help\nfrom idle ones, keeping its rows in archive order (pgsurge)", long = "no-split-tables", help_heading = "General options")]
    pub no_split_tables: bool,
    #[arg(help = "Commit every statement on its own, as pg_restore\ndoes, instead of schema entries many at once (pgsurge)", long = "no-group-commit", help_heading = "General options")]
    pub no_group_commit: bool,
    #[arg(help = "Load tables created by this restore without\nCOPY FREEZE: their rows' first reads then write\nhint bits, and a vacuum freezes them later (pgsurge)", long = "no-freeze", help_heading = "General options")]
    pub no_freeze: bool,
    #[arg(help = "Add large tables' foreign keys validated at once,\nas pg_dump wrote them, instead of NOT VALID and\nthen VALIDATE CONSTRAINT, whose weaker locks let\nvalidations run side by side (pgsurge)", long = "no-validate-later", help_heading = "General options")]
    pub no_validate_later: bool,
    #[arg(help = "Build large tables' primary keys and unique\nconstraints as CREATE UNIQUE INDEX beside the\ntable's other indexes, then ADD CONSTRAINT USING\nINDEX, instead of as pg_dump wrote them (pgsurge)", long = "index-first", help_heading = "General options")]
    pub index_first: bool,
    #[arg(help = "ANALYZE each table loaded, so the database has\nplanner statistics at the end: the default, except\nunder the name pg_restore (pgsurge)", long = "analyze", overrides_with = "no_analyze", help_heading = "General options")]
    pub analyze: bool,
    #[arg(help = "Leave the tables without planner statistics, as\npg_restore does (pgsurge)", long = "no-analyze", overrides_with = "analyze", help_heading = "General options")]
    pub no_analyze: bool,
    #[arg(help = "Let a plain SQL script's COPY read or write the\nserver's files or run a program on it (pgsurge)", long = "allow-server-files", help_heading = "General options")]
    pub allow_server_files: bool,

    #[arg(help = "Extract a bundle's files other than its dump\nunder DIR, which must be empty or new (pgsurge)", long = "files-to", value_name = "DIR", help_heading = "Bundles (zip, tar.gz: a dump and files)")]
    pub files_to: Option<String>,
    #[arg(help = "Also extract the files of this zip or tar(.gz)\nunder --files-to DIR (pgsurge)", long = "files-from", value_name = "FILE", help_heading = "Bundles (zip, tar.gz: a dump and files)")]
    pub files_from: Vec<String>,
    #[arg(help = "Extract into a DIR that has files: keep those the\nbundle lacks, replace those it has (pgsurge)", long = "merge", help_heading = "Bundles (zip, tar.gz: a dump and files)")]
    pub merge: bool,
    #[arg(help = "Make what is extracted owned by USER[:GROUP]\n(pgsurge)", long = "files-owner", value_name = "USER[:GROUP]", help_heading = "Bundles (zip, tar.gz: a dump and files)")]
    pub files_owner: Option<String>,
    #[arg(help = "The dump in the bundle to restore, when it holds\nseveral or names none as such (pgsurge)", long = "dump", value_name = "PATH", help_heading = "Bundles (zip, tar.gz: a dump and files)")]
    pub dump: Option<String>,

    #[arg(help = "Restore even when the checks made first find what\nwould make it fail (missing roles, extensions...)", long = "force", help_heading = "Safe restores into a live database (pgsurge)")]
    pub force: bool,
    #[arg(help = "Refuse to start while another restore by pgsurge\ninto the same database runs", long = "exclusive", help_heading = "Safe restores into a live database (pgsurge)")]
    pub exclusive: bool,
    #[arg(help = "Restore into a new database beside the target, then\nswap it in by rename, keeping the old one as a\nsafety copy (NAME_before_TIMESTAMP)", long = "swap", help_heading = "Safe restores into a live database (pgsurge)")]
    pub swap: bool,
    #[arg(help = "At the swap, end the sessions still connected to the\ntarget instead of waiting for them to leave", long = "terminate", help_heading = "Safe restores into a live database (pgsurge)")]
    pub terminate: bool,
    #[arg(help = "How long the swap waits for sessions to leave the\ntarget (default 30)", long = "swap-timeout", value_name = "SECONDS", help_heading = "Safe restores into a live database (pgsurge)", allow_hyphen_values = true)]
    pub swap_timeout: Option<String>,
    #[arg(help = "When the restore fails before the swap, keep the\nnew database instead of dropping it", long = "keep-failed", help_heading = "Safe restores into a live database (pgsurge)")]
    pub keep_failed: bool,
    #[arg(help = "After the swap, keep only the N newest safety copies\nof the target, dropping older ones", long = "keep-safety-copies", value_name = "N", help_heading = "Safe restores into a live database (pgsurge)", allow_hyphen_values = true)]
    pub keep_safety_copies: Option<String>,
    #[arg(help = "Run CMD (by the shell) after the restore, with\nPGHOST, PGDATABASE... and DATABASE_URL set to the\nrestored database; its failure fails the restore", long = "then", value_name = "CMD", help_heading = "Safe restores into a live database (pgsurge)", allow_hyphen_values = true)]
    pub then: Vec<String>,
    #[arg(help = "After the restore, apply DIR's *.sql files in name\norder, each in a transaction of its own", long = "migrations", value_name = "DIR", help_heading = "Safe restores into a live database (pgsurge)")]
    pub migrations: Option<String>,
    /// `pgsurge check`: the restore's checks, nothing restored (set by the command, not an
    /// option).
    #[arg(skip)]
    pub check_only: bool,
    /// Output version information, then exit.
    #[arg(short = 'V', long = "version", help_heading = "General options")]
    pub version: bool,
    /// Show this help, then exit.
    #[arg(short = '?', long = "help", help_heading = "General options")]
    pub help: bool,

    /// Restore only the data, no schema.
    #[arg(short = 'a', long = "data-only", help_heading = "Options controlling the restore")]
    pub data_only: bool,
    /// Clean (drop) database objects before recreating.
    #[arg(short = 'c', long = "clean", help_heading = "Options controlling the restore")]
    pub clean: bool,
    /// Create the target database.
    #[arg(short = 'C', long = "create", help_heading = "Options controlling the restore")]
    pub create: bool,
    /// Exit on error, default is to continue.
    #[arg(short = 'e', long = "exit-on-error", help_heading = "Options controlling the restore")]
    pub exit_on_error: bool,
    /// Restore named index.
    #[arg(short = 'I', long = "index", value_name = "NAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub index: Vec<String>,
    /// Use this many parallel jobs to restore.
    #[arg(short = 'j', long = "jobs", value_name = "NUM", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub jobs: Option<String>,
    #[arg(help = "Use table of contents from this file for\nselecting/ordering output", short = 'L', long = "use-list", value_name = "FILENAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub use_list: Option<String>,
    /// Restore only objects in this schema.
    #[arg(short = 'n', long = "schema", value_name = "NAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub schema: Vec<String>,
    /// Do not restore objects in this schema.
    #[arg(short = 'N', long = "exclude-schema", value_name = "NAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub exclude_schema: Vec<String>,
    /// Skip restoration of object ownership.
    #[arg(short = 'O', long = "no-owner", help_heading = "Options controlling the restore")]
    pub no_owner: bool,
    /// Restore named function.
    #[arg(short = 'P', long = "function", value_name = "NAME(args)", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub function: Vec<String>,
    /// Accepted and ignored, as pg_restore does.
    #[arg(short = 'R', long = "no-reconnect", hide = true)]
    pub no_reconnect: bool,
    /// Restore only the schema, no data.
    #[arg(short = 's', long = "schema-only", help_heading = "Options controlling the restore")]
    pub schema_only: bool,
    /// Superuser user name to use for disabling triggers.
    #[arg(short = 'S', long = "superuser", value_name = "NAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub superuser: Option<String>,
    /// Restore named relation (table, view, etc.).
    #[arg(short = 't', long = "table", value_name = "NAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub table: Vec<String>,
    /// Restore named trigger.
    #[arg(short = 'T', long = "trigger", value_name = "NAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub trigger: Vec<String>,
    /// Skip restoration of access privileges (grant/revoke).
    #[arg(short = 'x', long = "no-privileges", alias = "no-acl", help_heading = "Options controlling the restore")]
    pub no_privileges: bool,
    /// Restore as a single transaction.
    #[arg(short = '1', long = "single-transaction", help_heading = "Options controlling the restore")]
    pub single_transaction: bool,
    /// Disable triggers during data-only restore.
    #[arg(long = "disable-triggers", help_heading = "Options controlling the restore")]
    pub disable_triggers: bool,
    /// Enable row security.
    #[arg(long = "enable-row-security", help_heading = "Options controlling the restore")]
    pub enable_row_security: bool,
    /// Restore or skip objects based on expressions in FILENAME.
    #[arg(long = "filter", value_name = "FILENAME", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub filter: Vec<String>,
    /// Use IF EXISTS when dropping objects.
    #[arg(long = "if-exists", help_heading = "Options controlling the restore")]
    pub if_exists: bool,
    /// Do not restore comment commands.
    #[arg(long = "no-comments", help_heading = "Options controlling the restore")]
    pub no_comments: bool,
    /// Do not restore data.
    #[arg(long = "no-data", help_heading = "Options controlling the restore")]
    pub no_data: bool,
    /// Do not restore data of tables that could not be created.
    #[arg(long = "no-data-for-failed-tables", help_heading = "Options controlling the restore")]
    pub no_data_for_failed_tables: bool,
    /// Do not restore row security policies.
    #[arg(long = "no-policies", help_heading = "Options controlling the restore")]
    pub no_policies: bool,
    /// Do not restore publications.
    #[arg(long = "no-publications", help_heading = "Options controlling the restore")]
    pub no_publications: bool,
    /// Do not restore schema.
    #[arg(long = "no-schema", help_heading = "Options controlling the restore")]
    pub no_schema: bool,
    /// Do not restore security labels.
    #[arg(long = "no-security-labels", help_heading = "Options controlling the restore")]
    pub no_security_labels: bool,
    /// Do not restore statistics.
    #[arg(long = "no-statistics", help_heading = "Options controlling the restore")]
    pub no_statistics: bool,
    /// Do not restore subscriptions.
    #[arg(long = "no-subscriptions", help_heading = "Options controlling the restore")]
    pub no_subscriptions: bool,
    /// Do not restore table access methods.
    #[arg(long = "no-table-access-method", help_heading = "Options controlling the restore")]
    pub no_table_access_method: bool,
    /// Do not restore tablespace assignments.
    #[arg(long = "no-tablespaces", help_heading = "Options controlling the restore")]
    pub no_tablespaces: bool,
    /// Use provided string as psql \restrict key.
    #[arg(long = "restrict-key", value_name = "RESTRICT_KEY", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub restrict_key: Option<String>,
    /// Restore named section (pre-data, data, or post-data).
    #[arg(long = "section", value_name = "SECTION", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub section: Vec<String>,
    /// Restore the statistics.
    #[arg(long = "statistics", help_heading = "Options controlling the restore")]
    pub statistics: bool,
    /// Restore only the statistics, not schema or data.
    #[arg(long = "statistics-only", help_heading = "Options controlling the restore")]
    pub statistics_only: bool,
    #[arg(help = "Require table and/or schema include patterns to\nmatch at least one entity each", long = "strict-names", help_heading = "Options controlling the restore")]
    pub strict_names: bool,
    /// Commit after every N objects.
    #[arg(long = "transaction-size", value_name = "N", help_heading = "Options controlling the restore", allow_hyphen_values = true)]
    pub transaction_size: Option<String>,
    #[arg(help = "Use SET SESSION AUTHORIZATION commands instead of\nALTER OWNER commands to set ownership", long = "use-set-session-authorization", help_heading = "Options controlling the restore")]
    pub use_set_session_authorization: bool,

    /// Database server host or socket directory.
    #[arg(short = 'h', long = "host", value_name = "HOSTNAME", help_heading = "Connection options", allow_hyphen_values = true)]
    pub host: Option<String>,
    /// Database server port number.
    #[arg(short = 'p', long = "port", value_name = "PORT", help_heading = "Connection options", allow_hyphen_values = true)]
    pub port: Option<String>,
    /// Connect as specified database user.
    #[arg(short = 'U', long = "username", value_name = "NAME", help_heading = "Connection options", allow_hyphen_values = true)]
    pub username: Option<String>,
    /// Never prompt for password.
    #[arg(short = 'w', long = "no-password", help_heading = "Connection options")]
    pub no_password: bool,
    /// Force password prompt.
    #[arg(short = 'W', long = "password", help_heading = "Connection options")]
    pub password: bool,
    /// Do SET ROLE before restore.
    #[arg(long = "role", value_name = "ROLENAME", help_heading = "Connection options", allow_hyphen_values = true)]
    pub role: Option<String>,
}

/// The same options parsed as a stand-alone program (the binary started as `pg_restore`).
#[derive(Debug, Parser)]
#[command(name = "pg_restore", disable_help_flag = true, disable_version_flag = true, args_override_self = true, infer_long_args = true)]
pub struct PgRestoreCli {
    #[command(flatten)]
    pub args: RestoreArgs,
}
