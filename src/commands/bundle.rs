//! `pgsurge restore bundle.zip -d … --files-to DIR` and `pgsurge list bundle.zip`: a backup
//! bundle — a zip or tar(.gz) holding a database dump beside the app's files and often a
//! manifest — restored as one: its files extracted under DIR first (so a bundle refused is
//! refused before anything reaches the server), then its dump restored as the dump alone
//! would be, streamed from the bundle where its format allows. Also `--files-from`: the
//! files of a bundle that holds no dump, extracted beside another dump's restore.

use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgsurge_archive::{Archive, Source};
use pgsurge_bundle::{Bundle, BundleError, Dump, DumpFormat, ExtractOptions, FilesSummary, Manifest};
use serde_json::{json, Value};

use super::database::{self, ReportFile};
use super::{archive, script, ExitStatus};
use crate::cli::RestoreArgs;
use crate::messages::{human_bytes, Program};
use crate::options::{Mode, Output, Plan};

/// A bundle error as one line: the error and each cause under it.
fn error_line(e: &BundleError) -> String {
    let mut line = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// Refuses the file options where they cannot apply: `--merge`, `--files-owner` without
/// `--files-to`; `--files-to` with neither a bundle nor `--files-from`; any of them outside
/// a restore into a database.
pub fn check_files_options(args: &RestoreArgs, mode: &Mode, bundle: bool) -> Result<(), String> {
    let any = args.files_to.is_some() || !args.files_from.is_empty() || args.merge || args.files_owner.is_some();
    if any && !matches!(mode, Mode::Database(_)) {
        return Err("--files-to, --files-from, --merge and --files-owner go with a restore into a database (-d)".to_owned());
    }
    if (args.merge || args.files_owner.is_some() || !args.files_from.is_empty()) && args.files_to.is_none() {
        return Err("--merge, --files-owner and --files-from need --files-to DIR, the folder the files go to".to_owned());
    }
    if args.files_to.is_some() && !bundle && args.files_from.is_empty() {
        return Err("--files-to extracts a bundle's files, but the input is no bundle; name the files' archive with --files-from".to_owned());
    }
    if args.dump.is_some() && !bundle {
        return Err("--dump picks the dump inside a bundle, but the input is no bundle".to_owned());
    }
    Ok(())
}

/// How extraction goes for these options. `merge` is forced for a later bundle into the same
/// folder, checked empty before the first.
fn extract_options(args: &RestoreArgs, exclude: Vec<String>, merge: bool) -> Result<ExtractOptions, String> {
    let owner = match &args.files_owner {
        Some(spec) => Some(pgsurge_bundle::parse_owner(spec).map_err(|e| error_line(&e))?),
        None => None,
    };
    Ok(ExtractOptions { exclude, merge: args.merge || merge, owner, ..ExtractOptions::default() })
}

/// Refuses a `--files-to` folder with files in it, unless `--merge`: before anything is
/// restored.
fn check_target(args: &RestoreArgs) -> Result<(), String> {
    let Some(dir) = &args.files_to else { return Ok(()) };
    if args.merge {
        return Ok(());
    }
    match std::fs::read_dir(dir).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(format!("--files-to \"{dir}\" is not empty; extract into an empty or new folder, or give --merge to keep its files and replace those the bundle has")),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("--files-to \"{dir}\": {}", super::io_reason(&e))),
    }
}

/// Extracts the bundles `--files-from` names under `--files-to`, before the restore; the
/// report's account of each, or `None` when one failed (and was reported).
/// `checked`: the folder was checked and has files of a bundle's own already, which these
/// add to.
pub fn extract_files_from(args: &RestoreArgs, checked: bool, prog: &Program) -> Option<Vec<Value>> {
    let mut done = Vec::new();
    // `pgsurge check` changes nothing, files included.
    if args.files_from.is_empty() || args.check_only {
        return Some(done);
    }
    if !checked {
        if let Err(message) = check_target(args) {
            prog.error(message);
            return None;
        }
    }
    let dir = args.files_to.as_deref().unwrap_or_default();
    for path in &args.files_from {
        let bundle = match Bundle::open(path) {
            Ok(b) => b,
            Err(e) => {
                prog.error(format_args!("--files-from \"{path}\": {}", error_line(&e)));
                return None;
            }
        };
        // The folder was checked empty before the first; the ones after add to it.
        let options = match extract_options(args, Vec::new(), checked || !done.is_empty()) {
            Ok(o) => o,
            Err(message) => {
                prog.error(message);
                return None;
            }
        };
        match bundle.extract(dir, &options) {
            Ok(summary) => {
                if !args.quiet {
                    prog.info(format_args!("extracted {} files ({}) from \"{path}\" under {dir}", summary.files, human_bytes(summary.bytes)));
                }
                done.push(json!({ "path": path, "files": summary.files, "bytes": summary.bytes, "directories": summary.dirs, "links": summary.links, "extracted_to": dir }));
            }
            Err(e) => {
                prog.error(format_args!("--files-from \"{path}\": {}", error_line(&e)));
                prog.hint("nothing was restored into the database");
                return None;
            }
        }
    }
    Some(done)
}

/// The dump to restore from `bundle`: `--dump PATH`, or the one dump found by content (or
/// else by name). `Err` says why there is no single one, listing what there is.
fn choose_dump(bundle: &Bundle, wanted: Option<&str>) -> Result<Dump, String> {
    let dumps = bundle.dumps();
    let names = |ds: &[Dump]| ds.iter().map(|d| format!("{} ({})", shown(&d.path), format_name(d))).collect::<Vec<_>>().join(", ");
    if let Some(wanted) = wanted {
        let wanted = wanted.trim_end_matches('/');
        return dumps.iter().find(|d| d.path == wanted).cloned().ok_or_else(|| match dumps.is_empty() {
            true => format!("--dump \"{wanted}\": the bundle holds no dump pgsurge can restore there"),
            false => format!("--dump \"{wanted}\" is not one of the bundle's dumps: {}", names(&dumps)),
        });
    }
    let by_content: Vec<Dump> = dumps.iter().filter(|d| d.rule.by_content()).cloned().collect();
    let candidates = if by_content.is_empty() { dumps.clone() } else { by_content };
    match candidates.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("the bundle holds no database dump (no pg_dump archive, directory archive or SQL script); to extract the files of a bundle that has none beside another dump's restore, use --files-from".to_owned()),
        several => Err(format!("the bundle holds {} dumps: {}; pick one with --dump PATH", several.len(), names(several))),
    }
}

fn shown(path: &str) -> &str {
    if path.is_empty() {
        "(the bundle's root)"
    } else {
        path
    }
}

fn format_name(d: &Dump) -> String {
    let format = match d.format {
        DumpFormat::Custom => "custom archive",
        DumpFormat::Tar => "tar archive",
        DumpFormat::Directory => "directory archive",
        DumpFormat::Script => "plain SQL script",
    };
    match d.compression.name() {
        "none" => format.to_owned(),
        c => format!("{format}, {c}"),
    }
}

fn manifest_json(m: &Manifest) -> Value {
    match &m.content {
        Ok(info) => json!({
            "path": m.path,
            "database": info.database.as_ref().map(|f| &f.value),
            "migration_revision": info.revision.as_ref().map(|r| json!({ "value": r.value, "key": r.key, "tool": r.tool })),
            "created": info.created.as_ref().map(|f| &f.value),
        }),
        Err(why) => json!({ "path": m.path, "error": why }),
    }
}

fn summary_json(s: &FilesSummary) -> Value {
    json!({
        "files": s.files,
        "bytes": s.bytes,
        "folders": s.folders.iter().map(|f| json!({ "name": f.name, "files": f.files, "bytes": f.bytes })).collect::<Vec<_>>(),
    })
}

/// The line that says where the app's migrations will start from, if the manifest says.
fn revision_line(m: &Manifest) -> Option<String> {
    let info = m.content.as_ref().ok()?;
    let r = info.revision.as_ref()?;
    let tool = r.tool.map(|t| format!("{t} ")).unwrap_or_default();
    Some(format!("the bundle's manifest ({}) names {tool}migration revision {} (key {})", m.path, r.value, r.key))
}

/// `pgsurge list` / `restore` / `sql` of the bundle at `path`.
pub fn run(args: &RestoreArgs, plan: &Plan, path: &Path, mut report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    if let Err(message) = check_files_options(args, &plan.mode, true) {
        prog.error(message);
        return ExitStatus::Failure;
    }
    let bundle = match Bundle::open(path) {
        Ok(b) => b,
        Err(e) => {
            prog.error(format_args!("{}: {}", path.display(), error_line(&e)));
            prog.hint("nothing was extracted or restored");
            return ExitStatus::Failure;
        }
    };
    if let Mode::List(output) = &plan.mode {
        return list(&bundle, path, args.dump.as_deref(), output, prog);
    }
    let Mode::Database(dbname) = &plan.mode else {
        prog.error("a bundle is restored into a database (-d) or listed (-l); to write the SQL of the dump inside, extract it first");
        return ExitStatus::Failure;
    };
    let dump = match choose_dump(&bundle, args.dump.as_deref()) {
        Ok(d) => d,
        Err(message) => {
            prog.error(format_args!("{}: {message}", path.display()));
            return ExitStatus::Failure;
        }
    };
    let given = format!("{}:{}", path.display(), shown(&dump.path));
    let manifest = bundle.manifest();
    let files = bundle.files_summary(&[dump.path.as_str()]);
    if !args.quiet {
        prog.info(format_args!("restoring {} ({}) from the bundle {}", shown(&dump.path), format_name(&dump), path.display()));
        if let Some(line) = manifest.as_ref().and_then(revision_line) {
            prog.info(line);
        }
    }
    if let Some(Ok(Some(r))) = manifest.as_ref().map(|m| m.content.as_ref().map(|info| info.revision.as_ref())) {
        super::stages::remember_manifest_revision(&r.value);
    }
    if let Some(Err(why)) = manifest.as_ref().map(|m| &m.content) {
        prog.warning(format_args!("the bundle's manifest could not be read: {why}"));
    }

    // The files first: a bundle refused (a bomb, a name escaping the folder) is refused
    // before anything reaches the server.
    let mut extracted = Value::Null;
    match &args.files_to {
        // `pgsurge check` changes nothing, files included.
        Some(_) if args.check_only => {}
        Some(dir) => {
            if let Err(message) = check_target(args) {
                prog.error(message);
                return ExitStatus::Failure;
            }
            let options = match extract_options(args, vec![dump.path.clone()], false) {
                Ok(o) => o,
                Err(message) => {
                    prog.error(message);
                    return ExitStatus::Failure;
                }
            };
            match bundle.extract(dir, &options) {
                Ok(s) => {
                    if !args.quiet {
                        prog.info(format_args!("extracted {} files ({}) under {dir}", s.files, human_bytes(s.bytes)));
                    }
                    extracted = json!({ "to": dir, "files": s.files, "bytes": s.bytes, "directories": s.dirs, "links": s.links });
                }
                Err(e) => {
                    prog.error(format_args!("{}: {}", path.display(), error_line(&e)));
                    prog.hint("nothing was restored into the database");
                    return ExitStatus::Failure;
                }
            }
        }
        None if files.files > 0 => {
            prog.warning(format_args!("the bundle's other {} files ({}) are not extracted; give --files-to DIR to extract them", files.files, human_bytes(files.bytes)))
        }
        None => {}
    }
    let Some(files_from) = extract_files_from(args, args.files_to.is_some(), prog) else { return ExitStatus::Failure };
    if let Some(report) = report.as_mut() {
        report.set_bundle(json!({
            "path": path.display().to_string(),
            "dump": { "path": dump.path, "format": format_name(&dump) },
            "manifest": manifest.as_ref().map(manifest_json),
            "files": summary_json(&files),
            "extracted": extracted,
            "files_from": files_from,
        }));
    }

    match dump.format {
        DumpFormat::Script => restore_script(args, dbname, plan, (&bundle, &dump, &given), report, prog),
        DumpFormat::Directory => restore_directory(args, plan, &bundle, &dump, &given, report, prog),
        DumpFormat::Custom | DumpFormat::Tar => restore_stream(args, plan, &bundle, &dump, &given, report, prog),
    }
}


/// A custom or tar archive streamed from the bundle, as from standard input: in one pass,
/// or through a temporary copy filled as it is read when restored in parallel.
fn restore_stream(args: &RestoreArgs, plan: &Plan, bundle: &Bundle, dump: &Dump, given: &str, report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    let member = match bundle.open_member(&dump.path) {
        Ok(r) => r,
        Err(e) => {
            prog.error(format_args!("{given}: {}", error_line(&e)));
            return ExitStatus::Failure;
        }
    };
    // A dump compressed whole (`db.dump.gz`) is decompressed as it streams.
    let input: Box<dyn io::Read + Send> = match pgsurge_script::open::decompressed(BufReader::with_capacity(256 * 1024, member)) {
        Ok((reader, _)) => Box::new(reader),
        Err(e) => {
            prog.error(format_args!("{given}: {e}"));
            return ExitStatus::Failure;
        }
    };
    let mut plan = Plan { mode: plan.mode.clone(), archive: Some(given.to_owned()), format: plan.format, options: plan.options.clone(), check_only: plan.check_only };
    // Kept until the restore is done: the temporary copy goes with it.
    let mut spooled = None;
    let opened = if database::jobs(&plan.options, prog) > 1 {
        match database::spool_input(prog, plan.options.spool_budget, input, given) {
            Ok(sp) => {
                plan.options.spool_budget = sp.budget;
                let opened = Archive::open_spooled(Arc::clone(&sp.spool), sp.file.path(), None);
                spooled = Some(sp);
                opened
            }
            Err(message) => {
                prog.error(message);
                return ExitStatus::Failure;
            }
        }
    } else {
        Archive::open_stream(input, None)
    };
    let source = Source::Path(PathBuf::from(given));
    let status = match opened {
        Ok(archive) => archive::restore(args, &plan, archive, &source, report, prog),
        Err(e) => {
            super::report_open_error(prog, &source, &e);
            ExitStatus::Failure
        }
    };
    drop(spooled);
    status
}

/// Extracts `dump` (a directory archive's folder, or a file under its own name) to a new
/// temporary folder, within the extraction's limits; `None` once the failure is reported.
fn extract_dump(bundle: &Bundle, dump: &Dump, given: &str, prog: &Program) -> Option<tempfile::TempDir> {
    let dir = database::spool_dir();
    let temp = match tempfile::Builder::new().prefix("pgsurge-bundle-").tempdir_in(&dir) {
        Ok(t) => t,
        Err(e) => {
            prog.error(format_args!("could not create a temporary folder in \"{}\": {e}", dir.display()));
            prog.hint("set PGSURGE_SPOOL_DIR to a directory with room for the dump");
            return None;
        }
    };
    match bundle.extract_to_dir(&dump.path, temp.path(), &ExtractOptions { merge: true, ..ExtractOptions::default() }) {
        Ok(_) => Some(temp),
        Err(e) => {
            prog.error(format_args!("{given}: {}", error_line(&e)));
            None
        }
    }
}

/// A directory archive, which is read at random: extracted to a temporary folder first.
fn restore_directory(args: &RestoreArgs, plan: &Plan, bundle: &Bundle, dump: &Dump, given: &str, report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    let Some(temp) = extract_dump(bundle, dump, given, prog) else { return ExitStatus::Failure };
    let plan = Plan { mode: plan.mode.clone(), archive: Some(temp.path().display().to_string()), format: plan.format, options: plan.options.clone(), check_only: plan.check_only };
    let source = Source::Path(temp.path().to_owned());
    match Archive::open(&source, None) {
        Ok(archive) => archive::restore(args, &plan, archive, &source, report, prog),
        Err(e) => {
            super::report_open_error(prog, &Source::Path(PathBuf::from(given)), &e);
            ExitStatus::Failure
        }
    }
}

/// A plain SQL script: extracted from the bundle (as it is, compressed or not, within the
/// extraction's limits), since a script is read to its end before anything runs, then
/// restored from there.
fn restore_script(args: &RestoreArgs, dbname: &str, plan: &Plan, (bundle, dump, given): (&Bundle, &Dump, &str), report: Option<ReportFile>, prog: &Program) -> ExitStatus {
    let Some(temp) = extract_dump(bundle, dump, given, prog) else { return ExitStatus::Failure };
    let name = dump.path.rsplit('/').next().unwrap_or(&dump.path);
    let path = temp.path().join(name);
    match pgsurge_script::open::open_script(&path) {
        Ok(Some((reader, _))) => script::run(args, dbname, &plan.options, &script::Source { path, given: given.to_owned() }, reader, report, prog),
        _ => {
            prog.error(format_args!("{given} is not a script pgsurge can read"));
            ExitStatus::Failure
        }
    }
}

/// `pgsurge list bundle.zip`: the manifest, the dumps, and a summary of the other files.
fn list(bundle: &Bundle, path: &Path, wanted: Option<&str>, output: &Output, prog: &Program) -> ExitStatus {
    let dumps = bundle.dumps();
    let chosen = choose_dump(bundle, wanted);
    let exclude: Vec<&str> = chosen.as_ref().map(|d| vec![d.path.as_str()]).unwrap_or_default();
    let files = bundle.files_summary(&exclude);
    let mut out = String::new();
    let container = match bundle.container() {
        pgsurge_bundle::Container::Zip => "zip".to_owned(),
        pgsurge_bundle::Container::Tar(c) if c.name() == "none" => "tar".to_owned(),
        pgsurge_bundle::Container::Tar(c) => format!("tar, {}", c.name()),
    };
    out.push_str(&format!(";\n; Bundle \"{}\" ({container}), {} members\n;\n", path.display(), bundle.members().len()));
    match bundle.manifest() {
        Some(m) => match &m.content {
            Ok(info) => {
                out.push_str(&format!("; Manifest {}:\n", m.path));
                if let Some(f) = &info.database {
                    out.push_str(&format!(";     database: {} (key {})\n", f.value, f.key));
                }
                if let Some(r) = &info.revision {
                    let tool = r.tool.map(|t| format!("{t} ")).unwrap_or_default();
                    out.push_str(&format!(";     {tool}migration revision: {} (key {})\n", r.value, r.key));
                }
                if let Some(f) = &info.created {
                    out.push_str(&format!(";     created: {} (key {})\n", f.value, f.key));
                }
                for (key, value) in &info.fields {
                    out.push_str(&format!(";     {key} = {value}\n"));
                }
                if info.truncated {
                    out.push_str(";     …\n");
                }
            }
            Err(why) => out.push_str(&format!("; Manifest {}: not readable ({why})\n", m.path)),
        },
        None => out.push_str("; Manifest: none\n"),
    }
    out.push_str(";\n");
    match &chosen {
        Ok(d) => out.push_str(&format!("; Dump: {} ({}, found by {})\n", shown(&d.path), format_name(d), if d.rule.by_content() { "its content" } else { "its name" })),
        Err(why) => out.push_str(&format!("; Dump: {why}\n")),
    }
    for d in dumps.iter().filter(|d| chosen.as_ref().map_or(true, |c| c.path != d.path)) {
        out.push_str(&format!(";     also: {} ({})\n", shown(&d.path), format_name(d)));
    }
    out.push_str(&format!(";\n; Files: {} ({}), {} directories, {} symbolic links\n", files.files, human_bytes(files.bytes), files.dirs, files.symlinks));
    for f in &files.folders {
        let name = if f.name.is_empty() { "(top level)" } else { f.name.as_str() };
        out.push_str(&format!(";     {name}: {} file{}, {}\n", f.files, if f.files == 1 { "" } else { "s" }, human_bytes(f.bytes)));
    }
    let written = match output {
        Output::Stdout => io::stdout().lock().write_all(out.as_bytes()),
        Output::File(p) => std::fs::write(p, out.as_bytes()),
    };
    match written {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            prog.error(format_args!("could not write the listing: {}", super::io_reason(&e)));
            ExitStatus::Failure
        }
    }
}
