//! `pgsurge status`, `pgsurge snapshots` and `pgsurge rollback`: what a running restore's
//! marker says about a database, the safety copies `--swap` left of it, and swapping the
//! newest one back in. Each connects as `restore` does (libpq's options and environment).

use std::io::Write;

use pgsurge_connect::ConnParams;
use pgsurge_stages::{status, swap};

use super::database::resolve_connection;
use super::ExitStatus;
use crate::cli::{RollbackArgs, ServerArgs};
use crate::messages::{human_bytes, Program};


fn connection(args: &ServerArgs, prog: &Program) -> Option<ConnParams> {
    resolve_connection(args.dbname.clone(), args.host.clone(), args.port.clone(), args.username.clone(), (args.no_password, args.password), prog)
}

/// `pgsurge status -d DB`: 0 when no restore into DB runs, 1 when one does, 2 when the
/// server cannot say.
pub fn status(args: &ServerArgs, prog: &Program) -> ExitStatus {
    let Some(params) = connection(args, prog) else { return ExitStatus::Unknown };
    let found = match status::read(&params) {
        Ok(found) => found,
        Err(e) => {
            prog.error(e);
            return ExitStatus::Unknown;
        }
    };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&found).unwrap_or_default())
    } else if found.running.is_empty() {
        let exists = if found.exists { "" } else { " (the database does not exist)" };
        writeln!(out, "{}: no restore running{exists}", found.database)
    } else {
        found.running.iter().try_for_each(|r| writeln!(out, "{}: restore running, {}", found.database, r.describe()))
    };
    if written.is_err() {
        return ExitStatus::Unknown;
    }
    if found.running.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failure
    }
}

/// `pgsurge snapshots -d DB`: the safety copies of DB, newest first.
pub fn snapshots(args: &ServerArgs, prog: &Program) -> ExitStatus {
    let Some(params) = connection(args, prog) else { return ExitStatus::Failure };
    let copies = match swap::list_safety_copies(&params) {
        Ok(copies) => copies,
        Err(e) => {
            prog.error(e);
            return ExitStatus::Failure;
        }
    };
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&copies).unwrap_or_default())
    } else if copies.is_empty() {
        writeln!(out, "{}: no safety copies", params.dbname)
    } else {
        copies.iter().try_for_each(|c| writeln!(out, "{}  taken {}  {}", c.name, c.taken, human_bytes(u64::try_from(c.bytes).unwrap_or(0))))
    };
    if written.is_err() {
        return ExitStatus::Failure;
    }
    ExitStatus::Success
}

/// `pgsurge rollback -d DB`: the newest safety copy swapped back in.
pub fn rollback(args: &RollbackArgs, prog: &Program) -> ExitStatus {
    let Some(params) = connection(&args.server, prog) else { return ExitStatus::Failure };
    let timeout = match super::stages::swap_timeout(args.swap_timeout.as_deref()) {
        Ok(t) => t,
        Err(message) => {
            prog.error(message);
            return ExitStatus::Failure;
        }
    };
    let options = swap::SwapOptions { terminate: args.terminate, timeout };
    match swap::rollback(&params, &options) {
        Ok((copy, outcome)) => {
            let kept = outcome.safety_copy.as_deref().map(|s| format!("; the database it replaced is kept as \"{s}\"")).unwrap_or_default();
            prog.info(format_args!("rolled back: \"{}\" is the safety copy taken {} again, unavailable for {} ms{kept}", params.dbname, copy.taken, outcome.unavailable_ms));
            if args.server.json {
                let _ = writeln!(std::io::stdout().lock(), "{}", serde_json::json!({ "restored": copy, "swap": outcome }));
            }
            ExitStatus::Success
        }
        Err(e) => {
            prog.error(format_args!("rollback failed: {e}"));
            ExitStatus::Failure
        }
    }
}
