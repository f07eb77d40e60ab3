//! Raw arguments → checked `RestoreOptions` and what to do with them, applying pg_restore 18's
//! option rules in its order (pg_restore.c `main`), with its messages.

use bstr::BString;
use pgsurge_archive::Format;
use pgsurge_plan::{RestoreOptions, SectionChoice};

use crate::cli::RestoreArgs;

/// Where the script or listing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Stdout,
    File(String),
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// `-l`: print the TOC summary.
    List(Output),
    /// `-f`: print the SQL script.
    Script(Output),
    /// `-d`: restore into a database.
    Database(String),
}

/// A checked command line.
#[derive(Debug)]
pub struct Plan {
    pub mode: Mode,
    pub archive: Option<String>,
    pub format: Option<Format>,
    pub options: RestoreOptions,
    /// `pgsurge check`: the checks made before a restore, and nothing restored.
    pub check_only: bool,
}

/// An option error, worded as pg_restore words it; `hint` adds pg_restore's "Try --help" line.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    pub message: String,
    pub hint: bool,
}

impl UsageError {
    fn plain(message: impl Into<String>) -> Self {
        UsageError { message: message.into(), hint: false }
    }

    fn with_hint(message: impl Into<String>) -> Self {
        UsageError { message: message.into(), hint: true }
    }
}

fn parse_range(value: &str, option: &str) -> Result<u32, UsageError> {
    // pg_restore's option_parse_int: strtol with surrounding whitespace allowed.
    let trimmed = value.trim();
    match trimmed.parse::<i64>() {
        Ok(v) if (1..=i64::from(i32::MAX)).contains(&v) => Ok(v as u32),
        Ok(_) => Err(UsageError::plain(format!("{option} must be in range 1..2147483647"))),
        Err(_) => Err(UsageError::plain(format!("invalid value \"{value}\" for option {option}"))),
    }
}

/// Disk a pipe's temporary copy may take during a parallel restore: `PGSURGE_SPOOL_LIMIT`
/// (bytes, or with a k/M/G suffix; 0 for no limit), else 2 GB.
fn spool_budget() -> Result<Option<u64>, UsageError> {
    const DEFAULT: u64 = 2 << 30;
    let Some(value) = std::env::var_os("PGSURGE_SPOOL_LIMIT") else { return Ok(Some(DEFAULT)) };
    let text = value.to_string_lossy();
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => 0,
    };
    match digits.parse::<u64>().ok().filter(|_| scale > 0).and_then(|n| n.checked_mul(scale)) {
        Some(0) => Ok(None),
        Some(n) => Ok(Some(n)),
        None => Err(UsageError::plain(format!("invalid PGSURGE_SPOOL_LIMIT \"{text}\": give a size such as 500M or 4G (0 for no limit)"))),
    }
}

fn parse_section(name: &str) -> Result<SectionChoice, UsageError> {
    match name {
        "pre-data" => Ok(SectionChoice::PreData),
        "data" => Ok(SectionChoice::Data),
        "post-data" => Ok(SectionChoice::PostData),
        other => Err(UsageError::with_hint(format!("unrecognized section name: \"{other}\""))),
    }
}

/// A fresh `\restrict` key: 63 characters of `[A-Za-z0-9]`, as pg_restore generates, from
/// the operating system's random source. `None` when that fails, as pg_restore then stops:
/// a key the archive's author could predict would let its data leave restricted mode.
pub fn generate_restrict_key() -> Option<String> {
    restrict_key_from(getrandom::fill)
}

/// A restrict key from the random bytes `fill` gives.
fn restrict_key_from<E>(mut fill: impl FnMut(&mut [u8]) -> Result<(), E>) -> Option<String> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    const LEN: usize = 63;
    let mut key = String::with_capacity(LEN);
    let mut bytes = [0u8; 128];
    while key.len() < LEN {
        fill(&mut bytes).ok()?;
        let missing = LEN - key.len();
        // Rejection sampling keeps the choice uniform (pg_restore's plain modulo favours the
        // first eight letters slightly): 248 = 4 × 62.
        key.extend(bytes.iter().filter(|&&b| b < 248).map(|&b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()])).take(missing));
    }
    Some(key)
}

fn valid_restrict_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn bstrings(values: &[String]) -> Vec<BString> {
    values.iter().map(|v| BString::from(v.as_str())).collect()
}

/// Checks `args` the way pg_restore 18 does, first failure wins.
pub fn check(args: &RestoreArgs) -> Result<Plan, UsageError> {
    // 1. Values checked while options are parsed.
    let jobs = args.jobs.as_deref().map(|j| parse_range(j, "-j/--jobs")).transpose()?;
    let transaction_size = args.transaction_size.as_deref().map(|t| parse_range(t, "--transaction-size")).transpose()?;
    let sections = args.section.iter().map(|s| parse_section(s)).collect::<Result<Vec<_>, _>>()?;
    let mut filters = Vec::new();
    for file in &args.filter {
        let rules = pgsurge_plan::filter::parse_filter_file(file).map_err(|e| UsageError::plain(e.to_string()))?;
        filters.extend(rules);
    }

    // 2. At most one archive.
    let archive = match args.archive.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        [_, extra, ..] => return Err(UsageError::with_hint(format!("too many command-line arguments (first is \"{extra}\")"))),
    };

    // 3–4. Where the output goes. pg_restore 18.6 adds its "Try --help" line to the second
    // only (the others are pg_fatal).
    if args.dbname.is_none() && args.file.is_none() && !args.list {
        return Err(UsageError::plain("one of -d/--dbname and -f/--file must be specified"));
    }
    if args.dbname.is_some() && args.file.is_some() {
        return Err(UsageError::with_hint("options -d/--dbname and -f/--file cannot be used together"));
    }
    if args.dbname.is_some() && args.restrict_key.is_some() {
        return Err(UsageError::plain("options -d/--dbname and --restrict-key cannot be used together"));
    }

    // 5. The restrict key, for script (and list) output.
    let restrict_key = match &args.restrict_key {
        Some(k) if !valid_restrict_key(k) => return Err(UsageError::plain("invalid restrict key")),
        Some(k) => k.clone(),
        None if args.dbname.is_none() => generate_restrict_key().ok_or_else(|| UsageError::plain("could not generate restrict key"))?,
        None => String::new(),
    };

    // 6. Incompatible pairs, in pg_restore's order.
    let pairs: [(bool, &str, bool, &str); 12] = [
        (args.schema_only, "-s/--schema-only", args.data_only, "-a/--data-only"),
        (args.schema_only, "-s/--schema-only", args.statistics_only, "--statistics-only"),
        (args.data_only, "-a/--data-only", args.statistics_only, "--statistics-only"),
        (args.data_only, "-a/--data-only", args.no_data, "--no-data"),
        (args.schema_only, "-s/--schema-only", args.no_schema, "--no-schema"),
        (args.statistics_only, "--statistics-only", args.no_statistics, "--no-statistics"),
        (args.statistics, "--statistics", args.no_statistics, "--no-statistics"),
        (args.data_only, "-a/--data-only", args.statistics, "--statistics"),
        (args.schema_only, "-s/--schema-only", args.statistics, "--statistics"),
        (args.clean, "-c/--clean", args.data_only, "-a/--data-only"),
        (args.single_transaction, "-1/--single-transaction", transaction_size.is_some(), "--transaction-size"),
        (args.create, "-C/--create", args.single_transaction, "-1/--single-transaction"),
    ];
    for (a, a_name, b, b_name) in pairs {
        if a && b {
            return Err(UsageError::plain(format!("options {a_name} and {b_name} cannot be used together")));
        }
    }

    // 7–8.
    if args.single_transaction && jobs.is_some_and(|j| j > 1) {
        return Err(UsageError::plain("cannot specify both --single-transaction and multiple jobs"));
    }
    if args.if_exists && !args.clean {
        return Err(UsageError::plain("option --if-exists requires option -c/--clean"));
    }

    // 9. The archive format.
    let format = match args.format.as_deref() {
        None | Some("") => None,
        Some(f) => Some(match f.as_bytes()[0] {
            b'c' | b'C' => Format::Custom,
            b'd' | b'D' => Format::Directory,
            b't' | b'T' => Format::Tar,
            b'p' | b'P' => return Err(UsageError::plain(format!("archive format \"{f}\" is not supported; please use psql"))),
            _ => return Err(UsageError::plain(format!("unrecognized archive format \"{f}\"; please specify \"c\", \"d\", or \"t\""))),
        }),
    };

    let mode = if args.list {
        Mode::List(output(args.file.as_deref()))
    } else if let Some(db) = &args.dbname {
        Mode::Database(db.clone())
    } else {
        Mode::Script(output(args.file.as_deref()))
    };

    let options = RestoreOptions {
        data_only: args.data_only,
        schema_only: args.schema_only,
        no_data: args.no_data,
        no_schema: args.no_schema,
        statistics: args.statistics,
        no_statistics: args.no_statistics,
        statistics_only: args.statistics_only,
        sections,
        schemas: bstrings(&args.schema),
        exclude_schemas: bstrings(&args.exclude_schema),
        tables: bstrings(&args.table),
        indexes: bstrings(&args.index),
        functions: bstrings(&args.function),
        triggers: bstrings(&args.trigger),
        strict_names: args.strict_names,
        use_list: args.use_list.as_ref().map(Into::into),
        filters,
        no_acl: args.no_privileges,
        no_comments: args.no_comments,
        no_policies: args.no_policies,
        no_publications: args.no_publications,
        no_subscriptions: args.no_subscriptions,
        no_security_labels: args.no_security_labels,
        no_tablespaces: args.no_tablespaces,
        no_table_access_method: args.no_table_access_method,
        clean: args.clean,
        if_exists: args.if_exists,
        create: args.create,
        no_owner: args.no_owner,
        use_set_session_authorization: args.use_set_session_authorization,
        disable_triggers: args.disable_triggers,
        superuser: args.superuser.as_deref().filter(|s| !s.is_empty()).map(BString::from),
        single_transaction: args.single_transaction,
        transaction_size,
        enable_row_security: args.enable_row_security,
        role: args.role.as_deref().map(BString::from),
        // -1 and --transaction-size imply exit-on-error.
        exit_on_error: args.exit_on_error || args.single_transaction || transaction_size.is_some(),
        no_data_for_failed_tables: args.no_data_for_failed_tables,
        no_split_tables: args.no_split_tables,
        no_group_commit: args.no_group_commit,
        no_freeze: args.no_freeze,
        no_validate_later: args.no_validate_later,
        index_first: args.index_first,
        // As under pg_restore's name; `analyze` gives pgsurge's default.
        analyze: args.analyze,
        spool_budget: spool_budget()?,
        jobs,
        verbose: args.verbose > 0,
        restrict_key: BString::from(restrict_key),
    };
    let archive = archive.filter(|a| a != "-");
    Ok(Plan { mode, archive, format, options, check_only: false })
}

/// Whether the ANALYZE stage runs: as `--analyze` or `--no-analyze` says (the last given
/// wins), else under the name `pgsurge` and not under `pg_restore`'s, whose users expect
/// pg_restore's database — without statistics the archive does not bring.
pub fn analyze(args: &RestoreArgs, pg_restore: bool) -> bool {
    args.analyze || (!args.no_analyze && !pg_restore)
}

fn output(file: Option<&str>) -> Output {
    match file {
        None | Some("-") => Output::Stdout,
        Some(f) => Output::File(f.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> RestoreArgs {
        RestoreArgs { file: Some("-".into()), ..RestoreArgs::default() }
    }

    fn err(a: RestoreArgs) -> String {
        check(&a).unwrap_err().message
    }

    #[test]
    fn first_conflict_wins_in_pg_restore_order() {
        let mut a = args();
        a.schema_only = true;
        a.data_only = true;
        a.clean = true;
        assert_eq!(err(a), "options -s/--schema-only and -a/--data-only cannot be used together");
        let mut a = args();
        a.clean = true;
        a.data_only = true;
        assert_eq!(err(a), "options -c/--clean and -a/--data-only cannot be used together");
    }

    #[test]
    fn output_is_required_unless_listing() {
        let a = RestoreArgs::default();
        assert_eq!(check(&a).expect_err("a usage error"), UsageError::plain("one of -d/--dbname and -f/--file must be specified"));
        let a = RestoreArgs { dbname: Some("x".into()), file: Some("y".into()), ..RestoreArgs::default() };
        assert_eq!(check(&a).expect_err("a usage error"), UsageError::with_hint("options -d/--dbname and -f/--file cannot be used together"));
        let a = RestoreArgs { dbname: Some("x".into()), restrict_key: Some("k".into()), ..RestoreArgs::default() };
        assert_eq!(check(&a).expect_err("a usage error"), UsageError::plain("options -d/--dbname and --restrict-key cannot be used together"));
        let a = RestoreArgs { list: true, ..RestoreArgs::default() };
        assert!(matches!(check(&a).unwrap().mode, Mode::List(Output::Stdout)));
    }

    #[test]
    fn jobs_and_transaction_size_ranges() {
        let mut a = args();
        a.jobs = Some("0".into());
        assert_eq!(err(a), "-j/--jobs must be in range 1..2147483647");
        let mut a = args();
        a.jobs = Some("x".into());
        assert_eq!(err(a), "invalid value \"x\" for option -j/--jobs");
        let mut a = args();
        a.transaction_size = Some("0".into());
        assert_eq!(err(a), "--transaction-size must be in range 1..2147483647");
    }

    #[test]
    fn if_exists_needs_clean_and_formats() {
        let mut a = args();
        a.if_exists = true;
        assert_eq!(err(a), "option --if-exists requires option -c/--clean");
        let mut a = args();
        a.format = Some("p".into());
        assert_eq!(err(a), "archive format \"p\" is not supported; please use psql");
        let mut a = args();
        a.format = Some("x".into());
        assert_eq!(err(a), "unrecognized archive format \"x\"; please specify \"c\", \"d\", or \"t\"");
    }

    #[test]
    fn restrict_keys() {
        let key = generate_restrict_key().expect("a key");
        assert_eq!(key.len(), 63);
        assert!(valid_restrict_key(&key));
        assert_ne!(generate_restrict_key().expect("a key"), key);
        // Bytes past the last whole multiple of 62 are skipped, not folded onto the start of
        // the alphabet; more are drawn until the key is whole.
        let mut draws = 0;
        let key = restrict_key_from(|buf: &mut [u8]| {
            draws += 1;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if i % 2 == 0 { 248 + (i % 8) as u8 } else { 61 };
            }
            Ok::<(), ()>(())
        });
        assert_eq!((key.as_deref(), draws), (Some("9".repeat(63).as_str()), 1));
        let mut draws = 0;
        let key = restrict_key_from(|buf: &mut [u8]| {
            draws += 1;
            buf.fill(if draws == 1 { 255 } else { 0 });
            Ok::<(), ()>(())
        });
        assert_eq!(key.as_deref(), Some("a".repeat(63).as_str()));
        // No random source, no key: nothing predictable instead.
        assert_eq!(restrict_key_from(|_: &mut [u8]| Err(())), None);
        let mut a = args();
        a.restrict_key = Some("bad key".into());
        assert_eq!(err(a), "invalid restrict key");
    }

    #[test]
    fn single_transaction_implies_exit_on_error() {
        let mut a = args();
        a.single_transaction = true;
        assert!(check(&a).unwrap().options.exit_on_error);
    }
}
