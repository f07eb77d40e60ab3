//! Shared test plumbing: where the binary and the fixtures are, running a command with
//! stdin and environment, comparing bytes with a useful diff.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

pub fn pgsurge() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pgsurge"))
}

/// The binary reached through a symlink named `pg_restore`, as a drop-in install has it.
pub fn pg_restore_alias() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("pgsurge-alias-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("pg_restore");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(pgsurge(), &link).unwrap();
        dir
    });
    dir.join("pg_restore")
}

pub struct Outcome {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Outcome {
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs `program args`, feeding `stdin` (or nothing), with TZ=UTC.
pub fn run(program: &Path, args: &[String], stdin: Option<&Path>) -> Outcome {
    run_env(program, args, &[], stdin)
}

/// Like [`run`], with extra environment variables. Variables that could steer a libpq
/// connection elsewhere (PGDATABASE, PGOPTIONS, PGSERVICE, ...) are removed first, so a test
/// connects only where its arguments and `env` say.
pub fn run_env(program: &Path, args: &[String], env: &[(String, String)], stdin: Option<&Path>) -> Outcome {
    let input = stdin.map(|path| std::fs::read(path).unwrap_or_else(|e| panic!("reading `{}`: {e}", path.display())));
    run_input(program, args, env, input)
}

/// The libpq variables a caller's shell may have set; see [`run_env`].
pub const LIBPQ_VARS: &[&str] = &[
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSERVICE",
    "PGSERVICEFILE", "PGOPTIONS", "PGCLIENTENCODING", "PGSSLMODE", "PGCONNECT_TIMEOUT", "PGAPPNAME",
    "PGDATESTYLE", "PGTARGETSESSIONATTRS", "PGTZ",
];

/// Runs `program args` with `env`, writing `input` (if any) to its standard input through a
/// pipe, as a shell pipeline would.
pub fn run_input(program: &Path, args: &[String], env: &[(String, String)], input: Option<Vec<u8>>) -> Outcome {
    let mut cmd = Command::new(program);
    cmd.args(args).env("TZ", "UTC").stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in LIBPQ_VARS {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let spawn_error = |e: std::io::Error| -> ! { panic!("starting `{}`: {e}", program.display()) };
    match input {
        Some(bytes) => {
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().unwrap_or_else(|e| spawn_error(e));
            let mut pipe = child.stdin.take().unwrap();
            // Write from a thread: the child may exit (or fill its stdout) before reading all.
            let writer = std::thread::spawn(move || {
                let _ = pipe.write_all(&bytes);
            });
            let out = child.wait_with_output().unwrap();
            let _ = writer.join();
            Outcome { status: out.status.code().unwrap_or(-1), stdout: out.stdout, stderr: out.stderr }
        }
        None => {
            let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| spawn_error(e));
            Outcome { status: out.status.code().unwrap_or(-1), stdout: out.stdout, stderr: out.stderr }
        }
    }
}

/// `None` if equal, else a description of the first difference with context.
pub fn diff(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let at = expected.iter().zip(actual).position(|(a, b)| a != b).unwrap_or(expected.len().min(actual.len()));
    let line = expected[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let ctx = |b: &[u8]| {
        let start = b[..at.min(b.len())].iter().rposition(|&c| c == b'\n').map(|p| p + 1).unwrap_or(0);
        let end = (at + 200).min(b.len());
        String::from_utf8_lossy(&b[start..end]).into_owned()
    };
    Some(format!(
        "first difference at byte {at} (line {line}); expected {} bytes, got {}\n--- expected:\n{}\n--- actual:\n{}",
        expected.len(),
        actual.len(),
        ctx(expected),
        ctx(actual)
    ))
}

/// A golden file, stored as is or gzipped (`NAME.gz`); empty when neither exists.
pub fn read_golden(dir: &Path, name: &str) -> Vec<u8> {
    if let Ok(bytes) = std::fs::read(dir.join(name)) {
        return bytes;
    }
    let Ok(file) = std::fs::File::open(dir.join(format!("{name}.gz"))) else { return Vec::new() };
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut out).expect("a readable gzipped golden file");
    out
}
