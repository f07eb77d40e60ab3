//! `--then CMD`: runs CMD through `sh -c` with libpq's environment pointing at the database
//! being restored, streams its output line by line to the caller, keeps a bounded tail of
//! each stream for the report, and turns a failed exit into an error.
//!
//! The environment says where to connect (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`,
//! `DATABASE_URL`) and how (`PGSSLMODE` and the other settings the connection was resolved
//! with). The password is never on a command line nor in `DATABASE_URL`, which apps log: it
//! goes to a temporary password file (`PGPASSFILE`, mode 0600, removed when the command
//! ends) for libpq-based drivers, and to `PGPASSWORD` for the drivers that read only that.
//!
//! The command's standard input is `/dev/null`: a migration tool that stops to ask a
//! question (Django's "did you rename this field?") then gets end-of-file and fails, where
//! it would otherwise wait forever on a restore nobody is watching.
//!
//! The stage ends when the command has exited and both of its output pipes are closed, so a
//! background process it leaves behind holding them open keeps the stage waiting.

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pgsurge_connect::{pgpass, ConnParams, Password, SslMode, Target};
use serde::Serialize;

use super::{seconds, MigrationError};

/// How much of each stream is kept for the report: the last 64 KiB. Everything is still
/// streamed to the caller as it comes.
pub const KEPT_BYTES: usize = 64 * 1024;

/// Lines longer than this are handed on in pieces, so that output without newlines (a
/// progress bar redrawn with `\r`) cannot grow a line without bound.
const MAX_LINE: usize = 16 * 1024;

/// How many of the last lines (of both streams, as they came) an error carries.
const LAST_LINES: usize = 20;

/// Which of the command's streams a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
}

impl Exit {
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(0) => f.write_str("succeeded"),
            Exit::Code(code) => write!(f, "failed with exit status {code}"),
            Exit::Signal(signal) => match signal_name(*signal) {
                Some(name) => write!(f, "was killed by signal {signal} ({name})"),
                None => write!(f, "was killed by signal {signal}"),
            },
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return None,
    })
}

/// The tail of one stream: at most [`KEPT_BYTES`], starting at a line boundary when
/// something was dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KeptOutput {
    /// Lossily decoded: the report is JSON, and a stray byte should not lose the rest.
    pub text: String,
    /// Bytes of the stream before `text` that were not kept.
    pub dropped_bytes: u64,
}

/// One finished command.
#[derive(Clone, Debug, Serialize)]
pub struct CommandRun {
    pub command: String,
    pub exit: Exit,
    #[serde(rename = "seconds", serialize_with = "seconds")]
    pub duration: Duration,
    pub stdout: KeptOutput,
    pub stderr: KeptOutput,
    /// The last lines of output, both streams in the order they came, for an error message.
    #[serde(skip)]
    pub last_lines: Vec<String>,
}

/// Runs `command` with `sh -c`, the environment pointing at `params`' database, handing
/// each line of its output to `on_line` as it comes (without its line end). A command that
/// exits non-zero or is killed is a [`MigrationError::CommandFailed`] holding the same
/// [`CommandRun`] a success returns.
pub fn run_command(
    command: &str,
    params: &ConnParams,
    on_line: &mut dyn FnMut(Stream, &str),
) -> Result<CommandRun, MigrationError> {
    let password = child_password(params);
    // Held until the command ends: dropping it removes the file.
    let passfile = match &password {
        Some(p) => Some(write_passfile(&params.user, p)?),
        None => None,
    };
    let env = child_env(
        params,
        password.as_ref().map(Password::expose),
        passfile.as_ref().map(|f| f.path()),
    );

    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in &env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let started = Instant::now();
    let spawn_error = |source| MigrationError::Spawn {
        command: command.to_string(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_error)?;

    // Each pipe is read on a thread of its own, so a command that fills one while we wait
    // on the other cannot stall; lines meet here, in the order they arrive.
    let (tx, rx) = mpsc::sync_channel::<(Stream, Vec<u8>)>(256);
    let mut readers = Vec::with_capacity(2);
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            read_lines(out, Stream::Stdout, &tx)
        }));
    }
    if let Some(err) = child.stderr.take() {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            read_lines(err, Stream::Stderr, &tx)
        }));
    }
    drop(tx);

    let mut stdout = Tail::default();
    let mut stderr = Tail::default();
    let mut last: VecDeque<String> = VecDeque::with_capacity(LAST_LINES);
    for (stream, line) in rx {
        match stream {
            Stream::Stdout => stdout.push(&line),
            Stream::Stderr => stderr.push(&line),
        }
        let text = String::from_utf8_lossy(trim_line_end(&line)).into_owned();
        on_line(stream, &text);
        if last.len() == LAST_LINES {
            last.pop_front();
        }
        last.push_back(text);
    }
    for reader in readers {
        // A reader only ends at end-of-file or a read error; neither is the command's fault.
        let _ = reader.join();
    }
    let status = child.wait().map_err(spawn_error)?;
    let duration = started.elapsed();
    drop(passfile);

    let exit = match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        // Neither is possible on Unix; count it as a failure rather than guess success.
        (None, None) => Exit::Code(-1),
    };
    let run = CommandRun {
        command: command.to_string(),
        exit,
        duration,
        stdout: stdout.finish(),
        stderr: stderr.finish(),
        last_lines: last.into(),
    };
    if exit.success() {
        Ok(run)
    } else {
        Err(MigrationError::CommandFailed { run: Box::new(run) })
    }
}

/// Reads `pipe` to its end, sending each line (with its line end, if it had one) to `tx`.
fn read_lines(mut pipe: impl Read, stream: Stream, tx: &mpsc::SyncSender<(Stream, Vec<u8>)>) {
    let mut buf = [0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = buf.get(..n).unwrap_or_default();
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(pos + 1);
            pending.extend_from_slice(line);
            if tx.send((stream, std::mem::take(&mut pending))).is_err() {
                return;
            }
            rest = after;
        }
        pending.extend_from_slice(rest);
        while pending.len() >= MAX_LINE {
            let piece: Vec<u8> = pending.drain(..MAX_LINE).collect();
            if tx.send((stream, piece)).is_err() {
                return;
            }
        }
    }
    if !pending.is_empty() {
        let _ = tx.send((stream, pending));
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The last [`KEPT_BYTES`] of a stream, kept as they arrive.
#[derive(Default)]
struct Tail {
    /// Holds up to twice the limit, so the front is cut only once in a while.
    buf: Vec<u8>,
    dropped: u64,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > 2 * KEPT_BYTES {
            self.cut_to(KEPT_BYTES);
        }
    }

    fn cut_to(&mut self, keep: usize) {
        let cut = self.buf.len().saturating_sub(keep);
        self.buf.drain(..cut);
        self.dropped += cut as u64;
    }

    fn finish(mut self) -> KeptOutput {
        if self.buf.len() > KEPT_BYTES {
            self.cut_to(KEPT_BYTES);
        }
        // Start at a whole line when the front was cut, unless the tail is one long line.
        if self.dropped > 0 {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                if pos + 1 < self.buf.len() {
                    self.cut_to(self.buf.len() - (pos + 1));
                }
            }
        }
        KeptOutput {
            text: String::from_utf8_lossy(&self.buf).into_owned(),
            dropped_bytes: self.dropped,
        }
    }
}

/// The password the command should get: the connection's own, else the one the password
/// file has for it, so that drivers that read only `PGPASSWORD` connect as libpq would. A
/// password typed at pgsurge's prompt is not reachable from here.
fn child_password(params: &ConnParams) -> Option<Password> {
    if let Some(p) = &params.password {
        return Some(p.clone());
    }
    let file = params.passfile.as_ref()?;
    params.hosts.iter().find_map(|host| {
        let host_name = host.host_display();
        pgpass::lookup(
            file,
            pgpass::Key {
                host: &host_name,
                port: host.port,
                dbname: &params.dbname,
                user: &params.user,
            },
        )
        .password
    })
}

/// A password file with one line for `user` on any host, port and database: the command
/// may name the server differently (`localhost` for a socket directory, an address for a
/// name) and libpq matches those literally.
fn write_passfile(
    user: &str,
    password: &Password,
) -> Result<tempfile::NamedTempFile, MigrationError> {
    // tempfile creates the file with mode 0600 on Unix, which libpq insists on.
    let mut file = tempfile::Builder::new()
        .prefix("pgsurge-pgpass-")
        .tempfile()
        .map_err(MigrationError::Passfile)?;
    let line = format!(
        "*:*:*:{}:{}\n",
        pgpass_escape(user),
        pgpass_escape(password.expose())
    );
    file.write_all(line.as_bytes())
        .and_then(|()| file.flush())
        .map_err(MigrationError::Passfile)?;
    Ok(file)
}

/// A password-file field: `:` and `\` escaped with `\`.
fn pgpass_escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        if c == ':' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The variables to set (`Some`) or remove (`None`) in the command's environment.
///
/// Every connection setting the restore resolved is said explicitly, and a variable for a
/// setting it did not have is removed, so an inherited `PGHOSTADDR` or `PGSERVICE` cannot
/// send the command to another server than the one restored. `PGAPPNAME` is left alone:
/// the app names its own connections.
pub fn child_env(
    params: &ConnParams,
    password: Option<&str>,
    passfile: Option<&Path>,
) -> Vec<(&'static str, Option<String>)> {
    let hosts: Vec<String> = params.hosts.iter().map(host_value).collect();
    let addrs: Vec<String> = params
        .hosts
        .iter()
        .map(|h| match &h.target {
            Target::Tcp { addr: Some(a), .. } => a.to_string(),
            _ => String::new(),
        })
        .collect();
    let ports: Vec<String> = params.hosts.iter().map(|h| h.port.to_string()).collect();
    let any_addr = addrs.iter().any(|a| !a.is_empty());
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    vec![
        ("PGHOST", Some(hosts.join(","))),
        ("PGHOSTADDR", any_addr.then(|| addrs.join(","))),
        ("PGPORT", Some(ports.join(","))),
        ("PGUSER", Some(params.user.clone())),
        ("PGDATABASE", Some(params.dbname.clone())),
        ("PGPASSWORD", password.map(str::to_string)),
        (
            "PGPASSFILE",
            match passfile {
                Some(p) => Some(p.display().to_string()),
                None => path(&params.passfile),
            },
        ),
        ("PGSERVICE", None),
        ("PGSERVICEFILE", None),
        ("PGSSLMODE", Some(params.sslmode.to_string())),
        ("PGSSLROOTCERT", params.sslrootcert.clone()),
        ("PGSSLCERT", path(&params.sslcert)),
        ("PGSSLKEY", path(&params.sslkey)),
        ("PGOPTIONS", params.options.clone()),
        (
            "PGCONNECT_TIMEOUT",
            params.connect_timeout.map(|t| t.as_secs().to_string()),
        ),
        (
            "PGTARGETSESSIONATTRS",
            match params.target_session_attrs {
                pgsurge_connect::SessionAttrs::Any => None,
                pgsurge_connect::SessionAttrs::ReadWrite => Some("read-write".to_string()),
                pgsurge_connect::SessionAttrs::ReadOnly => Some("read-only".to_string()),
            },
        ),
        ("PGCHANNELBINDING", params.channel_binding.clone()),
        ("DATABASE_URL", Some(database_url(params))),
    ]
}

/// A host as `PGHOST` takes it.
fn host_value(host: &pgsurge_connect::HostSpec) -> String {
    match &host.target {
        Target::Unix(dir) => dir.display().to_string(),
        Target::Abstract(name) => name.clone(),
        Target::Tcp { .. } => host.host_display(),
    }
}

/// `postgresql://user@host:port/db`, without a password. A single TCP host goes in the
/// authority; a socket directory or several hosts go in the query (`?host=/dir&port=5432`),
/// the form libpq and SQLAlchemy both read. `sslmode` is added when it is not libpq's
/// default.
pub fn database_url(params: &ConnParams) -> String {
    let mut url = format!("postgresql://{}@", percent_encode(&params.user, false));
    let mut query: Vec<(&str, String)> = Vec::new();
    match params.hosts.as_slice() {
        [single] if matches!(&single.target, Target::Tcp { .. }) => {
            let name = single.host_display();
            if name.contains(':') {
                // An IPv6 address.
                url.push_str(&format!("[{name}]"));
            } else {
                url.push_str(&percent_encode(&name, false));
            }
            url.push_str(&format!(":{}", single.port));
            if let Target::Tcp {
                name,
                addr: Some(addr),
            } = &single.target
            {
                if !name.is_empty() {
                    query.push(("hostaddr", addr.to_string()));
                }
            }
        }
        hosts => {
            let names: Vec<String> = hosts.iter().map(host_value).collect();
            let ports: Vec<String> = hosts.iter().map(|h| h.port.to_string()).collect();
            query.push(("host", names.join(",")));
            query.push(("port", ports.join(",")));
        }
    }
    url.push('/');
    url.push_str(&percent_encode(&params.dbname, false));
    if params.sslmode != SslMode::Prefer {
        query.push(("sslmode", params.sslmode.to_string()));
    }
    for (i, (key, value)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.push_str(key);
        url.push('=');
        url.push_str(&percent_encode(value, true));
    }
    url
}

/// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` and `,`
/// in a query value, where they are allowed and keep a socket path readable).
fn percent_encode(s: &str, in_query: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (in_query && matches!(b, b'/' | b','));
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsurge_connect::{ConnectRequest, PasswordPolicy};

    fn params(dbname: &str, env: &[(&str, &str)]) -> ConnParams {
        let req = ConnectRequest {
            dbname: Some(dbname.to_string()),
            host: None,
            port: None,
            user: None,
            password: PasswordPolicy::Never,
            fallback_application_name: "pgsurge".to_string(),
        };
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ConnParams::resolve(&req, &|k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    fn get<'a>(env: &'a [(&'static str, Option<String>)], name: &str) -> Option<&'a str> {
        env.iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    #[test]
    fn a_socket_directory_goes_in_the_query() {
        let p = params(
            "app db",
            &[
                ("PGHOST", "/tmp/sock dir"),
                ("PGPORT", "5433"),
                ("PGUSER", "me"),
                ("HOME", "/nonexistent"),
            ],
        );
        assert_eq!(
            database_url(&p),
            "postgresql://me@/app%20db?host=/tmp/sock%20dir&port=5433"
        );
        let env = child_env(&p, None, None);
        assert_eq!(get(&env, "PGHOST"), Some("/tmp/sock dir"));
        assert_eq!(get(&env, "PGPORT"), Some("5433"));
        assert_eq!(get(&env, "PGDATABASE"), Some("app db"));
        assert_eq!(get(&env, "PGUSER"), Some("me"));
        assert_eq!(get(&env, "PGPASSWORD"), None);
        assert_eq!(get(&env, "PGHOSTADDR"), None);
        assert_eq!(get(&env, "PGSSLMODE"), Some("prefer"));
    }

    #[test]
    fn a_tcp_host_goes_in_the_authority_and_names_are_encoded() {
        let p = params(
            "postgresql://us%3Aer:secret@db.example:6000/sh%2Fop?sslmode=require",
            &[("HOME", "/nonexistent")],
        );
        let url = database_url(&p);
        assert_eq!(
            url,
            "postgresql://us%3Aer@db.example:6000/sh%2Fop?sslmode=require"
        );
        assert!(!url.contains("secret"));
        let env = child_env(&p, Some("secret"), Some(Path::new("/tmp/pf")));
        assert_eq!(get(&env, "PGPASSWORD"), Some("secret"));
        assert_eq!(get(&env, "PGPASSFILE"), Some("/tmp/pf"));
        assert_eq!(get(&env, "PGSSLMODE"), Some("require"));
        assert_eq!(get(&env, "DATABASE_URL"), Some(url.as_str()));
    }

    #[test]
    fn ipv6_and_several_hosts() {
        let p = params(
            "host=::1 port=5432 dbname=d user=u",
            &[("HOME", "/nonexistent")],
        );
        assert_eq!(database_url(&p), "postgresql://u@[::1]:5432/d");
        let p = params(
            "host=a,b port=1,2 dbname=d user=u",
            &[("HOME", "/nonexistent")],
        );
        assert_eq!(database_url(&p), "postgresql://u@/d?host=a,b&port=1,2");
        let env = child_env(&p, None, None);
        assert_eq!(get(&env, "PGHOST"), Some("a,b"));
        assert_eq!(get(&env, "PGPORT"), Some("1,2"));
    }

    #[test]
    fn pgpass_fields_are_escaped() {
        assert_eq!(pgpass_escape(r"a:b\c"), r"a\:b\\c");
    }

    #[test]
    fn the_kept_tail_is_bounded_and_starts_at_a_line() {
        let mut tail = Tail::default();
        let line = format!("{}\n", "x".repeat(99));
        for _ in 0..2000 {
            tail.push(line.as_bytes());
        }
        let kept = tail.finish();
        assert!(kept.text.len() <= KEPT_BYTES);
        assert_eq!(kept.text.len() % 100, 0);
        assert_eq!(kept.dropped_bytes as usize + kept.text.len(), 200_000);
        let mut small = Tail::default();
        small.push(b"a\nb");
        assert_eq!(
            small.finish(),
            KeptOutput {
                text: "a\nb".to_string(),
                dropped_bytes: 0
            }
        );
    }

    #[test]
    fn exits_read_as_people_say_them() {
        assert_eq!(Exit::Code(3).to_string(), "failed with exit status 3");
        assert_eq!(
            Exit::Signal(9).to_string(),
            "was killed by signal 9 (SIGKILL)"
        );
    }

    #[test]
    fn output_is_streamed_kept_and_a_failure_carries_it() {
        let p = params(
            "appdb",
            &[
                ("PGHOST", "/tmp"),
                ("PGUSER", "me"),
                ("HOME", "/nonexistent"),
            ],
        );
        let mut seen = Vec::new();
        let got = run_command(
            "echo one; echo two >&2; printf 'no end'; exit 3",
            &p,
            &mut |s, l| seen.push((s, l.to_string())),
        );
        let Err(MigrationError::CommandFailed { run }) = got else {
            panic!("{got:?}")
        };
        assert_eq!(run.exit, Exit::Code(3));
        assert_eq!(run.stdout.text, "one\nno end");
        assert_eq!(run.stderr.text, "two\n");
        assert!(
            seen.contains(&(Stream::Stdout, "one".to_string())),
            "{seen:?}"
        );
        assert!(
            seen.contains(&(Stream::Stderr, "two".to_string())),
            "{seen:?}"
        );
        assert!(
            seen.contains(&(Stream::Stdout, "no end".to_string())),
            "{seen:?}"
        );
        assert_eq!(run.last_lines.len(), 3);
        let message = MigrationError::CommandFailed { run }.to_string();
        assert!(message.contains("exit status 3"), "{message}");
    }

    #[test]
    fn the_command_sees_the_database_and_a_passfile_it_may_read_alone() {
        let p = params(
            "postgresql://me:s3cr%3At@localhost:5499/shop",
            &[("HOME", "/nonexistent")],
        );
        let script = r#"echo "db=$PGDATABASE host=$PGHOST port=$PGPORT user=$PGUSER url=$DATABASE_URL pw=$PGPASSWORD"
            stat -c 'mode=%a' "$PGPASSFILE"; cat "$PGPASSFILE"; echo "file=$PGPASSFILE"; read x || echo no-stdin"#;
        let run = run_command(script, &p, &mut |_, _| {}).unwrap();
        let out = &run.stdout.text;
        assert!(out.contains("db=shop host=localhost port=5499 user=me url=postgresql://me@localhost:5499/shop pw=s3cr:t\n"), "{out}");
        assert!(out.contains("mode=600\n*:*:*:me:s3cr\\:t\n"), "{out}");
        assert!(out.contains("no-stdin"), "{out}");
        let file = out.lines().find_map(|l| l.strip_prefix("file=")).unwrap();
        assert!(!Path::new(file).exists(), "{file} should be gone");
    }

    #[test]
    fn a_signal_is_a_failure() {
        let p = params(
            "appdb",
            &[
                ("PGHOST", "/tmp"),
                ("PGUSER", "me"),
                ("HOME", "/nonexistent"),
            ],
        );
        let got = run_command("kill -TERM $$", &p, &mut |_, _| {});
        let Err(MigrationError::CommandFailed { run }) = got else {
            panic!("{got:?}")
        };
        assert_eq!(run.exit, Exit::Signal(15));
    }
}
