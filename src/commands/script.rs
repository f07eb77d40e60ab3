//! `pgsurge restore backup.sql -d …`: a plain SQL script — what `pg_dump -Fp` or `pg_dumpall`
//! wrote, plain or compressed with gzip or zstd — restored into a database over one
//! connection, as `psql -f` would run it, with pg_restore's error handling and summary.
//! Options that select or change what a script restores are refused until they apply to
//! scripts.

use std::io::{self, BufRead, Read};
use std::path::Path;

use pgsurge_plan::RestoreOptions;
use pgsurge_restore as engine;
use pgsurge_script::{open, ScriptReader};

use super::stages::Around;
use super::database::{connection, report_meta_for, size_on_disk, ReportFile};
use super::ExitStatus;
use crate::cli::RestoreArgs;
use crate::messages::Program;
use crate::options::Output;
use crate::report::{ArchiveMeta, Reporter};

/// The first option given that a script restore does not take yet.
fn refused_option(o: &RestoreOptions) -> Option<&'static str> {
    let given = [
        (o.data_only, "-a/--data-only"),
        (o.schema_only, "-s/--schema-only"),
        (o.no_data, "--no-data"),
        (o.no_schema, "--no-schema"),
        (o.statistics_only, "--statistics-only"),
        (!o.sections.is_empty(), "--section"),
        (o.has_name_selection(), "-n/-N/-t/-I/-P/-T"),
        (o.use_list.is_some(), "-L/--use-list"),
        (!o.filters.is_empty(), "--filter"),
        (o.no_acl, "-x/--no-privileges"),
        (o.no_comments || o.no_policies || o.no_publications || o.no_subscriptions || o.no_security_labels || o.no_tablespaces || o.no_table_access_method, "--no-comments and the other --no-… options"),
        (o.clean, "-c/--clean"),
        (o.create, "-C/--create"),
        (o.no_owner, "-O/--no-owner"),
        (o.use_set_session_authorization, "--use-set-session-authorization"),
        (o.disable_triggers, "--disable-triggers"),
        (o.superuser.is_some(), "-S/--superuser"),
        (o.transaction_size.is_some(), "--transaction-size"),
        (o.enable_row_security, "--enable-row-security"),
        (o.role.is_some(), "--role"),
        (o.no_data_for_failed_tables, "--no-data-for-failed-tables"),
    ];
    given.into_iter().find_map(|(on, name)| on.then_some(name))
}

/// `pgsurge list backup.sql`: the objects pg_dump's comments name, by line, in `pg_restore
/// -l`'s shape, after what the script is.
pub fn list(source: &Source, mut reader: Box<dyn BufRead + Send>, compression: open::Compression, output: &Output, prog: &Program) -> ExitStatus {
    let (dumped_from, dumped_by) = reader.fill_buf().map(open::dumped_versions).unwrap_or_default();
    let listing = match pgsurge_script::listing::list(ScriptReader::new(reader).with_comments()) {
        Ok(listing) => listing,
        Err(e) => {
            prog.error(format_args!("{}:{}: {}", source.given, e.line, e.kind));
            return ExitStatus::Failure;
        }
    };
    let mut about = vec![format!("Plain SQL script \"{}\", compression {}", source.given, compression.name())];
    about.extend(dumped_from.map(|v| format!("    Dumped from database version: {v}")));
    about.extend(dumped_by.map(|v| format!("    Dumped by version: {v}")));
    let written = match output {
        Output::Stdout => pgsurge_script::listing::write(&listing, &about, &mut io::stdout().lock()),
        Output::File(path) => std::fs::File::create(path).and_then(|mut f| pgsurge_script::listing::write(&listing, &about, &mut f)),
    };
    match written {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            prog.error(format_args!("could not write the listing: {e}"));
            ExitStatus::Failure
        }
    }
}

/// Whether standard input holds a plain SQL script (plain, or compressed with gzip or zstd
/// and starting as pg_dump's or pg_dumpall's), told from its first bytes without taking
/// them: they stay in the process's standard-input buffer for whoever reads it next.
pub fn stdin_is_script() -> bool {
    let mut stdin = io::stdin().lock();
    let Ok(head) = stdin.fill_buf() else { return false };
    if open::is_dump_script(head) {
        return true;
    }
    if open::Compression::sniff(head) == open::Compression::None {
        return false;
    }
    // Compressed: is what it holds a script? Its first bytes say, decompressed from the
    // buffered ones alone.
    let Ok((mut text, _)) = open::decompressed(io::Cursor::new(head.to_vec())) else { return false };
    let mut start = [0u8; 64];
    let mut filled = 0;
    while filled < start.len() {
        match text.read(&mut start[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    open::is_dump_script(&start[..filled])
}

/// Restores a script arriving on standard input. It is copied whole to a temporary file
/// first (in `PGSURGE_SPOOL_DIR`, else `TMPDIR`, else /var/tmp), so that it can be read to
/// its end before anything is sent, as a file is.
pub fn run_stdin(args: &RestoreArgs, dbname: &str, opts: &RestoreOptions, report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    let dir = super::database::spool_dir();
    let mut file = match tempfile::Builder::new().prefix("pgsurge-stdin-").suffix(".sql").tempfile_in(&dir) {
        Ok(f) => f,
        Err(e) => {
            prog.error(format_args!("could not create a temporary file in \"{}\" for the script on standard input: {e}", dir.display()));
            prog.hint("set PGSURGE_SPOOL_DIR to a directory with room for the script");
            return ExitStatus::Failure;
        }
    };
    if !args.quiet {
        prog.info(format_args!("copying the script on standard input to {} before restoring it", file.path().display()));
    }
    if let Err(e) = io::copy(&mut io::stdin().lock(), file.as_file_mut()) {
        prog.error(format_args!("could not copy standard input to \"{}\": {e}", file.path().display()));
        prog.hint("set PGSURGE_SPOOL_DIR to a directory with room for the script");
        return ExitStatus::Failure;
    }
    let path = file.path().to_owned();
    match open::open_script(&path) {
        Ok(Some((reader, _))) => run(args, dbname, opts, &Source { path: path.clone(), given: "-".to_owned() }, reader, report, prog),
        Ok(None) => {
            prog.error("standard input is not a script pgsurge can read");
            ExitStatus::Failure
        }
        Err(e) => {
            prog.error(format_args!("could not read \"{}\": {e}", path.display()));
            ExitStatus::Failure
        }
    }
}

/// Reads the script at `path` to its end without running anything: `Err` with the first
/// thing that stops the reading, by line, or with what says the script was cut short — a
/// statement or a COPY block the end of the file cuts off, pg_dump's closing comment
/// missing: a backup cut short is not restored as if it were whole.
fn read_through(path: &Path, label: &str, allow_server_files: bool) -> Result<(), String> {
    let (reader, _) = open::open_script(path).map_err(|e| format!("could not read \"{}\": {e}", path.display()))?.ok_or_else(|| format!("\"{}\" is not a script", path.display()))?;
    let report = pgsurge_script::verify::verify_with(reader, allow_server_files, false);
    if let Some(e) = &report.stopped {
        return Err(format!("{label}:{}: {}", e.line, e.kind));
    }
    // A block cut short says more than the closing comment it leaves missing.
    let cut = report.blocks.iter().find(|b| b.cut).and_then(|b| b.error.as_ref()).or_else(|| report.damage.first());
    match cut {
        Some(why) => Err(format!("{label}: {why}")),
        None => Ok(()),
    }
}

/// The reader of a script: `--allow-server-files` lets its COPY read or write the server's
/// files or run a program there.
fn script_reader(reader: Box<dyn BufRead + Send>, allow_server_files: bool) -> ScriptReader<Box<dyn BufRead + Send>> {
    let reader = ScriptReader::new(reader);
    if allow_server_files {
        reader.allowing_server_files()
    } else {
        reader
    }
}

/// Where a script comes from: the file read, and what to call it in messages and the report
/// (the path given, or `-` for standard input, whose copy is the file).
pub struct Source {
    pub path: std::path::PathBuf,
    pub given: String,
}

/// Restores the script `reader` reads from `path` into `dbname`.
pub fn run(args: &RestoreArgs, dbname: &str, opts: &RestoreOptions, source: &Source, mut reader: Box<dyn BufRead + Send>, report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    let path = source.path.as_path();
    // Failures name their line as psql does: `backup.sql:12`, `<stdin>:12`.
    let label = if source.given == "-" { "<stdin>" } else { source.given.as_str() };
    if let Some(option) = refused_option(opts) {
        prog.error(format_args!("{option} is not available for a plain SQL script yet; \"{label}\" is restored whole, as psql -f runs it"));
        return ExitStatus::Failure;
    }
    // Read once to its end before anything is sent: a meta-command pgsurge refuses, or
    // anything else that stops the reading, stops the restore before it starts.
    if let Err(message) = read_through(path, label, args.allow_server_files) {
        prog.error(message);
        prog.hint("nothing was restored; `pgsurge verify` reports everything it finds in the script");
        return ExitStatus::Failure;
    }
    let Some(connector) = connection(args, dbname, prog) else { return ExitStatus::Failure };
    let jobs = super::database::jobs(opts, prog);
    let dumped = reader.fill_buf().is_ok_and(open::is_dump_script);
    // A cluster's script (pg_dumpall) moves between databases and may drop the one -d
    // names: no marker stays on it.
    let cluster = reader.fill_buf().is_ok_and(|start| start.windows(32).any(|w| w == b"PostgreSQL database cluster dump"));
    if cluster && args.swap {
        prog.error(format_args!("\"{label}\" is a whole cluster's script (pg_dumpall): it makes its own databases, and --swap swaps one"));
        return ExitStatus::Failure;
    }
    // The checks read the script once more, as the restore will: what it needs of the
    // server (roles, extensions, tablespaces) before anything is sent.
    let needs = open::open_script(path).ok().flatten().map(|(plain, _)| super::preflight::script_needs(script_reader(plain, args.allow_server_files)));
    let preflight = match needs {
        Some(Ok(needs)) => {
            let target = pgsurge_stages::preflight::Target { dbname: connector.dbname.clone(), swap: args.swap, ..Default::default() };
            match super::preflight::stage(args, &connector, &target, &needs, prog) {
                Ok(json) => Some(json),
                Err(status) => return status,
            }
        }
        // The pre-pass read it whole: this cannot fail but for the file changing under us.
        _ => {
            prog.error(format_args!("could not read \"{label}\" again for the checks before the restore"));
            return ExitStatus::Failure;
        }
    };
    // A script's database-level statements run as part of it (with its own \\connect).
    let Ok(around) = Around::begin(args, &connector, Some(connector.dbname.as_str()), !cluster, &|_| Vec::new(), prog) else { return ExitStatus::Failure };
    // Workers load a COPY's rows from the script's text by their offset: a compressed
    // script's text is written out first.
    let text = match (jobs > 1 && !opts.single_transaction, dumped) {
        (true, true) => match ScriptText::of(path, args.quiet, prog) {
            Ok(text) => Some(text),
            Err(message) => {
                prog.error(message);
                prog.hint("set PGSURGE_SPOOL_DIR to a directory with room for the script, or restore it with -j 1");
                return ExitStatus::Failure;
            }
        },
        (true, false) => {
            if !args.quiet {
                prog.info(format_args!("\"{label}\" was not written by pg_dump: it is restored over one connection, in order"));
            }
            None
        }
        (false, _) => None,
    };
    if let Some(text) = &text {
        match open::open_script(text.path()) {
            Ok(Some((plain, _))) => reader = plain,
            _ => {
                prog.error(format_args!("could not read \"{}\"", text.path().display()));
                return ExitStatus::Failure;
            }
        }
    }
    let parallel = text.as_ref().map(|t| engine::ScriptFile { path: t.path(), jobs });
    // The options a hint would suggest (--no-owner, --clean, …) do not apply to a script.
    let hints = RestoreOptions { no_owner: true, no_acl: true, clean: true, if_exists: true, ..opts.clone() };
    let reporter = Reporter::new(prog, args.quiet, &hints);
    let meta = report.is_some().then(|| {
        let (dumped_from, dumped_by) = reader.fill_buf().map(open::dumped_versions).unwrap_or_default();
        let archive = ArchiveMeta { path: source.given.clone(), format: "plain", bytes: size_on_disk(path), version: String::new(), dumped_by, dumped_from, database: None };
        report_meta_for(args, archive, &connector, if parallel.is_some() { jobs } else { 1 })
    });
    let result = engine::restore_script(script_reader(reader, args.allow_server_files), label, opts, &around.connector(), &|e| {
        around.observe(&e);
        reporter.event(e)
    }, parallel);
    super::database::finish(around, result, report, preflight, &reporter, meta, prog)
}

/// A script's text, uncompressed, in a file workers can read at any offset: the script
/// itself, or a temporary copy of what a compressed one holds, removed when dropped.
enum ScriptText<'a> {
    Itself(&'a Path),
    Copy(tempfile::NamedTempFile),
}

impl<'a> ScriptText<'a> {
    fn of(path: &'a Path, quiet: bool, prog: &Program) -> Result<ScriptText<'a>, String> {
        let (mut reader, compression) = open::open_script(path).map_err(|e| format!("could not read \"{}\": {e}", path.display()))?.ok_or_else(|| format!("\"{}\" is not a script", path.display()))?;
        if compression == open::Compression::None {
            return Ok(ScriptText::Itself(path));
        }
        let dir = super::database::spool_dir();
        let mut file = tempfile::Builder::new().prefix("pgsurge-script-").suffix(".sql").tempfile_in(&dir).map_err(|e| format!("could not create a temporary file in \"{}\": {e}", dir.display()))?;
        if !quiet {
            prog.info(format_args!("decompressing the script to {} for the workers to read", file.path().display()));
        }
        io::copy(&mut reader, file.as_file_mut()).map_err(|e| format!("could not decompress the script to \"{}\": {e}", file.path().display()))?;
        Ok(ScriptText::Copy(file))
    }

    fn path(&self) -> &Path {
        match self {
            ScriptText::Itself(path) => path,
            ScriptText::Copy(file) => file.path(),
        }
    }
}
