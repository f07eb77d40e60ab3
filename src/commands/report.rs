//! `pgsurge report REPORT --html FILE [--svg FILE]`: a restore's JSON report drawn as a
//! timeline. Here are the command's edges — reading the report (never more than a report can
//! be), writing the page and the image, and the one error line; what is drawn and how is
//! `report::timeline`'s. Nothing is written unless the whole report could be drawn.

use std::fs::File;
use std::io::{self, Read, Write};

use anyhow::{anyhow, bail, Context};

use super::{io_reason, ExitStatus};
use crate::cli::ReportArgs;
use crate::messages::{is_broken_pipe, Program};
use crate::report::timeline::{Timeline, MAX_REPORT_BYTES};

pub fn run(args: &ReportArgs, prog: &Program) -> ExitStatus {
    match draw(args) {
        Ok(()) => ExitStatus::Success,
        Err(e) => {
            prog.error(format_args!("{e:#}"));
            ExitStatus::Failure
        }
    }
}

fn draw(args: &ReportArgs) -> anyhow::Result<()> {
    if args.html.as_deref() == Some("-") && args.svg.as_deref() == Some("-") {
        bail!("--html and --svg cannot both write to standard output");
    }
    let name = if args.report == "-" { "standard input".to_owned() } else { format!("\"{}\"", args.report) };
    let bytes = read(&args.report).map_err(|e| anyhow!("could not read report {name}: {}", io_reason(&e)))?;
    let timeline = Timeline::from_json(&bytes).with_context(|| format!("report {name}"))?;
    // Up to MAX_REPORT_BYTES, not needed past here.
    drop(bytes);
    if let Some(path) = &args.html {
        write(path, &timeline.html())?;
    }
    if let Some(path) = &args.svg {
        write(path, &timeline.svg())?;
    }
    Ok(())
}

/// The report's bytes, and one byte more than any report may have, so that the drawing
/// refuses an oversized one without it all being read into memory.
fn read(path: &str) -> io::Result<Vec<u8>> {
    let limit = MAX_REPORT_BYTES as u64 + 1;
    let mut bytes = Vec::new();
    if path == "-" {
        io::stdin().lock().take(limit).read_to_end(&mut bytes)?;
    } else {
        File::open(path)?.take(limit).read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

fn write(path: &str, text: &str) -> anyhow::Result<()> {
    if path == "-" {
        let mut out = io::stdout().lock();
        return match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if !is_broken_pipe(&e) => Err(anyhow!("could not write to standard output: {}", io_reason(&e))),
            _ => Ok(()),
        };
    }
    File::create(path).and_then(|mut f| f.write_all(text.as_bytes())).map_err(|e| anyhow!("could not write \"{path}\": {}", io_reason(&e)))
}
