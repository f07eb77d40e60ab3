//! `--migrations DIR`: applies DIR's `*.sql` files in name order (bytewise), each in a
//! transaction of its own, stopping at the first the server refuses.
//!
//! Every file is read and checked before any is applied ([`read_sql_dir`]): it must be a
//! regular file in DIR (a symbolic link is followed only to a regular file inside DIR),
//! valid UTF-8, and free of psql meta-commands (`\i`, `\set`, …), which only psql can run.
//! Names starting with `.` are skipped, as the shell's `*.sql` skips them (editors leave
//! such lock and swap files beside the ones they edit).
//!
//! A file is sent as `BEGIN`, then the file's text as one simple-protocol query (which may
//! hold many statements), then `COMMIT` — three queries rather than one joined text, so
//! that an error position the server gives is a position in the file itself, and so that
//! a file ending inside a comment or a quoted string is a syntax error rather than a
//! `COMMIT` swallowed. A file that commits or rolls back itself is run as written; the
//! server's warning about the `COMMIT` that then finds no transaction is among its notices.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgsurge_connect::ConnParams;
use serde::Serialize;
use tokio_postgres::error::ErrorPosition;

use super::{connect, runtime, seconds, MigrationError};

/// A migration file, read and checked.
#[derive(Clone, Debug)]
pub struct SqlFile {
    /// The path as found in the directory (`DIR/NAME`).
    pub path: PathBuf,
    /// The file name, for messages and the report.
    pub name: String,
    pub text: String,
}

/// A file the server applied and committed.
#[derive(Clone, Debug, Serialize)]
pub struct AppliedFile {
    pub file: String,
    #[serde(rename = "seconds", serialize_with = "seconds")]
    pub duration: Duration,
    /// The notices and warnings the server sent while it ran (`RAISE NOTICE`, …), as
    /// `SEVERITY:  message`.
    pub notices: Vec<String>,
}

/// A whole directory applied.
#[derive(Clone, Debug, Serialize)]
pub struct SqlDirRun {
    pub dir: PathBuf,
    pub applied: Vec<AppliedFile>,
}

/// A file the server refused, with where and why; it was rolled back.
#[derive(Clone, Debug, Serialize)]
pub struct FileFailure {
    pub path: PathBuf,
    /// The line of the file the server's error position falls on, when it gave one.
    pub line: Option<usize>,
    /// `ERROR:  …` as the server said it, without detail or hint.
    pub message: String,
    pub sqlstate: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The files applied and committed before this one; they stay.
    pub applied: Vec<AppliedFile>,
}

impl std::fmt::Display for FileFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(code) = &self.sqlstate {
            write!(f, " (SQLSTATE {code})")?;
        }
        Ok(())
    }
}

/// Reads and checks DIR's migration files, in the order they will be applied. Nothing is
/// applied; a caller may call this before a restore starts to refuse a bad directory early.
pub fn read_sql_dir(dir: &Path) -> Result<Vec<SqlFile>, MigrationError> {
    let read_dir_error = |source| MigrationError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    // Canonical, so a link's target can be compared against it.
    let root = dir.canonicalize().map_err(read_dir_error)?;
    let mut names: Vec<std::ffi::OsString> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir_error)? {
        let name = entry.map_err(read_dir_error)?.file_name();
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(name.as_os_str());
        if bytes.ends_with(b".sql") && !bytes.starts_with(b".") {
            names.push(name);
        }
    }
    names.sort_by(|a, b| {
        std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())
            .cmp(std::os::unix::ffi::OsStrExt::as_bytes(b.as_os_str()))
    });

    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        let readable = regular_file_inside(&path, &root)?;
        let bytes = std::fs::read(&readable).map_err(|source| MigrationError::ReadFile {
            path: path.clone(),
            source,
        })?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let good = e
                    .as_bytes()
                    .get(..e.utf8_error().valid_up_to())
                    .unwrap_or_default();
                let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(MigrationError::NotUtf8 { path, line });
            }
        };
        match scan(&text) {
            None => {}
            Some(Refusal::Meta { line, command }) => {
                return Err(MigrationError::MetaCommand {
                    path,
                    line,
                    command,
                })
            }
            Some(Refusal::CopyStdio { line, direction }) => {
                return Err(MigrationError::CopyStdio {
                    path,
                    line,
                    direction,
                })
            }
        }
        files.push(SqlFile {
            name: name.to_string_lossy().into_owned(),
            path,
            text,
        });
    }
    Ok(files)
}

/// The path to read for `path`: itself when it is a regular file, its target when it is a
/// symbolic link to a regular file inside `root`.
fn regular_file_inside(path: &Path, root: &Path) -> Result<PathBuf, MigrationError> {
    let not_a_file = |what| MigrationError::NotAFile {
        path: path.to_path_buf(),
        what,
    };
    let meta = std::fs::symlink_metadata(path).map_err(|source| MigrationError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(path.to_path_buf());
    }
    if kind.is_dir() {
        return Err(not_a_file("a directory"));
    }
    if !kind.is_symlink() {
        return Err(not_a_file("a special file"));
    }
    let Ok(target) = path.canonicalize() else {
        return Err(not_a_file("a symbolic link to nothing"));
    };
    if !target.starts_with(root) {
        return Err(not_a_file("a symbolic link leading out of the directory"));
    }
    match std::fs::metadata(&target) {
        Ok(m) if m.is_file() => Ok(target),
        _ => Err(not_a_file(
            "a symbolic link to something other than a regular file",
        )),
    }
}

/// Reads, checks and applies DIR's files; see [`read_sql_dir`] and [`apply_sql_files`].
pub fn apply_sql_dir(
    dir: &Path,
    params: &ConnParams,
    on_file: &mut dyn FnMut(&AppliedFile),
) -> Result<SqlDirRun, MigrationError> {
    let files = read_sql_dir(dir)?;
    let applied = apply_sql_files(&files, params, on_file)?;
    Ok(SqlDirRun {
        dir: dir.to_path_buf(),
        applied,
    })
}

/// Applies `files` in order over one connection to `params`' database, each in its own
/// transaction, telling `on_file` of each once it has committed. Stops at the first the
/// server refuses: that one is rolled back, those before it stay committed
/// ([`MigrationError::Apply`] lists them). No files, no connection.
pub fn apply_sql_files(
    files: &[SqlFile],
    params: &ConnParams,
    on_file: &mut dyn FnMut(&AppliedFile),
) -> Result<Vec<AppliedFile>, MigrationError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let notices: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = Arc::clone(&notices);
    let on_notice: pgsurge_connect::NoticeHandler = Arc::new(move |n| {
        let mut kept = sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        kept.push(format!("{}:  {}", n.severity(), n.message()));
    });
    let take_notices = || std::mem::take(&mut *notices.lock().unwrap_or_else(|p| p.into_inner()));

    runtime()?.block_on(async {
        let (client, driver) = connect(params, on_notice).await?;
        let mut applied: Vec<AppliedFile> = Vec::with_capacity(files.len());
        for file in files {
            let started = Instant::now();
            let result = match client.simple_query("BEGIN").await {
                Err(e) => Err((e, None)),
                Ok(_) => match client.simple_query(&file.text).await {
                    Err(e) => {
                        // The transaction is aborted; ending it is all that is left to do,
                        // and a failure to end it changes nothing for the caller.
                        let _ = client.simple_query("ROLLBACK").await;
                        Err((e, Some(file.text.as_str())))
                    }
                    Ok(_) => client.simple_query("COMMIT").await.map_err(|e| (e, None)),
                },
            };
            match result {
                Ok(_) => {
                    let done = AppliedFile {
                        file: file.name.clone(),
                        duration: started.elapsed(),
                        notices: take_notices(),
                    };
                    on_file(&done);
                    applied.push(done);
                }
                Err((e, text)) => {
                    drop(client);
                    let _ = driver.await;
                    return Err(MigrationError::Apply {
                        failure: Box::new(failure(&file.path, text, &e, applied)),
                    });
                }
            }
        }
        drop(client);
        let _ = driver.await;
        Ok(applied)
    })
}

fn failure(
    path: &Path,
    text: Option<&str>,
    e: &tokio_postgres::Error,
    applied: Vec<AppliedFile>,
) -> FileFailure {
    let Some(db) = e.as_db_error() else {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            message.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        return FileFailure {
            path: path.to_path_buf(),
            line: None,
            message,
            sqlstate: None,
            detail: None,
            hint: None,
            applied,
        };
    };
    let line = match (db.position(), text) {
        (Some(ErrorPosition::Original(pos)), Some(text)) => Some(line_at(text, *pos as usize)),
        _ => None,
    };
    FileFailure {
        path: path.to_path_buf(),
        line,
        message: format!("{}:  {}", db.severity(), db.message()),
        sqlstate: Some(db.code().code().to_string()),
        detail: db.detail().map(str::to_string),
        hint: db.hint().map(str::to_string),
        applied,
    }
}

/// The line holding the `position`th character (1-based, as the server counts).
fn line_at(text: &str, position: usize) -> usize {
    1 + text
        .chars()
        .take(position.saturating_sub(1))
        .filter(|&c| c == '\n')
        .count()
}

/// Why a file cannot be sent to the server as it is.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// A backslash outside quotes and comments: psql would take it as a command (`\i`),
    /// and the server cannot parse it.
    Meta { line: usize, command: String },
    /// `COPY … FROM STDIN` or `TO STDOUT`, whose rows psql would carry; over a plain
    /// query there is nobody to, and the connection would be lost mid-protocol.
    CopyStdio {
        line: usize,
        direction: &'static str,
    },
}

/// The first thing in `text` that only psql could run, with its line. Reads the text as
/// PostgreSQL's lexer does, as far as that matters here: quotes (`'…'`, `E'…'`, `"…"`,
/// dollar quotes) and comments (`--`, nested `/* */`) hide what is inside them, and `;`
/// outside them ends a statement.
fn scan(text: &str) -> Option<Refusal> {
    #[derive(Clone, Copy)]
    enum State<'a> {
        Code,
        /// `'…'`; `escapes` for `E'…'`, where a backslash escapes the next character.
        Quote {
            escapes: bool,
        },
        Ident,
        Dollar(&'a str),
        LineComment,
        BlockComment(usize),
    }
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let mut state = State::Code;
    let mut line = 1;
    let mut i = 0;
    // The statement being read: its line, whether its first word is COPY, and its last word.
    let mut first_word = true;
    let mut copy_line: Option<usize> = None;
    let mut last_word = String::new();
    while let Some(&c) = b.get(i) {
        let next = b.get(i + 1).copied();
        if c == b'\n' {
            line += 1;
        }
        match state {
            State::Code => match c {
                b'-' if next == Some(b'-') => {
                    state = State::LineComment;
                    i += 1;
                }
                b'/' if next == Some(b'*') => {
                    state = State::BlockComment(1);
                    i += 1;
                }
                b'\'' => {
                    let e = i
                        .checked_sub(1)
                        .and_then(|p| b.get(p))
                        .is_some_and(|&p| p == b'E' || p == b'e');
                    let before = i
                        .checked_sub(2)
                        .and_then(|p| b.get(p))
                        .is_some_and(|&p| ident(p));
                    state = State::Quote {
                        escapes: e && !before,
                    };
                }
                b'"' => state = State::Ident,
                b'$' if !i
                    .checked_sub(1)
                    .and_then(|p| b.get(p))
                    .is_some_and(|&p| ident(p)) =>
                {
                    let rest = b.get(i + 1..).unwrap_or_default();
                    let len = rest.iter().take_while(|&&t| ident(t) && t != b'$').count();
                    let starts_ok = rest.first().is_some_and(|f| !f.is_ascii_digit());
                    if rest.get(len) == Some(&b'$') && (len == 0 || starts_ok) {
                        let tag = text.get(i..i + len + 2).unwrap_or("$$");
                        state = State::Dollar(tag);
                        i += len + 1;
                    }
                }
                b';' => {
                    first_word = true;
                    copy_line = None;
                    last_word.clear();
                }
                c if ident(c)
                    && c != b'$'
                    && !i
                        .checked_sub(1)
                        .and_then(|p| b.get(p))
                        .is_some_and(|&p| ident(p)) =>
                {
                    let len = b
                        .get(i..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|&&t| ident(t))
                        .count();
                    let word = text
                        .get(i..i + len)
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    if first_word {
                        first_word = false;
                        copy_line = (word == "copy").then_some(line);
                    } else if let Some(copy_line) = copy_line {
                        let direction = match (last_word.as_str(), word.as_str()) {
                            ("from", "stdin" | "pstdin") => Some("FROM STDIN"),
                            ("to", "stdout" | "pstdout") => Some("TO STDOUT"),
                            _ => None,
                        };
                        if let Some(direction) = direction {
                            return Some(Refusal::CopyStdio {
                                line: copy_line,
                                direction,
                            });
                        }
                    }
                    last_word = word;
                    i += len - 1;
                }
                b'\\' => {
                    let word: String = text
                        .get(i..)
                        .unwrap_or_default()
                        .chars()
                        .take_while(|ch| !ch.is_whitespace())
                        .take(20)
                        .collect();
                    return Some(Refusal::Meta {
                        line,
                        command: word,
                    });
                }
                _ => {}
            },
            State::Quote { escapes } => {
                if escapes && c == b'\\' {
                    if next == Some(b'\n') {
                        line += 1;
                    }
                    i += 1;
                } else if c == b'\'' {
                    if next == Some(b'\'') {
                        i += 1;
                    } else {
                        state = State::Code;
                    }
                }
            }
            State::Ident => {
                if c == b'"' {
                    if next == Some(b'"') {
                        i += 1;
                    } else {
                        state = State::Code;
                    }
                }
            }
            State::Dollar(tag) => {
                if b.get(i..)
                    .is_some_and(|rest| rest.starts_with(tag.as_bytes()))
                {
                    state = State::Code;
                    i += tag.len() - 1;
                }
            }
            State::LineComment => {
                if c == b'\n' {
                    state = State::Code;
                }
            }
            State::BlockComment(depth) => {
                if c == b'/' && next == Some(b'*') {
                    state = State::BlockComment(depth + 1);
                    i += 1;
                } else if c == b'*' && next == Some(b'/') {
                    state = if depth <= 1 {
                        State::Code
                    } else {
                        State::BlockComment(depth - 1)
                    };
                    i += 1;
                }
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(line: usize, command: &str) -> Option<Refusal> {
        Some(Refusal::Meta {
            line,
            command: command.to_string(),
        })
    }

    #[test]
    fn meta_commands_are_found_outside_quotes_and_comments_only() {
        assert_eq!(scan("select 1;\n\\i other.sql\n"), meta(2, "\\i"));
        assert_eq!(scan("select 1;\n  \\set x 1"), meta(2, "\\set"));
        assert_eq!(scan("select 1 \\gset\n"), meta(1, "\\gset"));
        let harmless = [
            "select 'a\n\\b';",
            "select E'it\\'s\n\\x';",
            "select \"odd\\name\";",
            "create function f() returns text as $body$\n\\not psql\n$body$ language sql;",
            "do $$ begin raise notice '\\'; end $$;",
            "-- \\i commented\nselect 1;",
            "/* outer /* inner */ \\i still comment */ select 1;",
            "select $1, a$b from t; -- $1 is no tag\nselect 'x''\\';",
        ];
        for text in harmless {
            assert_eq!(scan(text), None, "{text}");
        }
        // After a dollar quote or a comment ends, code is code again.
        assert_eq!(scan("select $t$ x $t$;\n/* c */\n\\q"), meta(3, "\\q"));
    }

    #[test]
    fn copy_through_the_client_is_found() {
        let copy = |line, direction| Some(Refusal::CopyStdio { line, direction });
        assert_eq!(
            scan("select 1;\n\nCOPY t (a)\n  FROM stdin;"),
            copy(3, "FROM STDIN")
        );
        assert_eq!(
            scan("copy (select 1) to STDOUT with csv;"),
            copy(1, "TO STDOUT")
        );
        assert_eq!(scan("/* x */ Copy t from pstdin;"), copy(1, "FROM STDIN"));
        let harmless = [
            "copy t from '/srv/data.csv';",
            "copy t to program 'gzip > /tmp/x';",
            "select 'copy t from stdin';",
            "insert into copy_log (source) values ('x'); select stdin from t;",
            "create function f() returns void as $$ copy t from stdin $$ language sql;",
            "copy t from stdin_file;",
        ];
        for text in harmless {
            assert_eq!(scan(text), None, "{text}");
        }
    }

    #[test]
    fn error_positions_count_characters_not_bytes() {
        let text = "-- é\nselect 1;\nselect x;";
        let pos = text.chars().position(|c| c == 'x').unwrap() + 1;
        assert_eq!(line_at(text, pos), 3);
        assert_eq!(line_at(text, 1), 1);
    }

    #[test]
    fn a_directory_is_read_in_name_order_and_checked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("010_b.sql"), "select 2;").unwrap();
        std::fs::write(dir.path().join("002_a.sql"), "select 1;").unwrap();
        std::fs::write(dir.path().join("B_upper.sql"), "select 0;").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "\\i ignored").unwrap();
        std::fs::write(dir.path().join(".#002_a.sql"), "\\i ignored").unwrap();
        let files = read_sql_dir(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["002_a.sql", "010_b.sql", "B_upper.sql"]);

        std::os::unix::fs::symlink(
            dir.path().join("002_a.sql"),
            dir.path().join("003_link.sql"),
        )
        .unwrap();
        assert_eq!(read_sql_dir(dir.path()).unwrap().len(), 4);

        std::fs::write(outside.path().join("x.sql"), "select 1;").unwrap();
        std::os::unix::fs::symlink(outside.path().join("x.sql"), dir.path().join("004_out.sql"))
            .unwrap();
        let err = read_sql_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("004_out.sql") && err.contains("out of the directory"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("004_out.sql")).unwrap();

        std::fs::write(dir.path().join("005_meta.sql"), "select 1;\n\n\\i x\n").unwrap();
        let err = read_sql_dir(dir.path()).unwrap_err();
        assert!(
            matches!(&err, MigrationError::MetaCommand { line: 3, command, .. } if command == "\\i"),
            "{err}"
        );
        assert!(err.to_string().contains("005_meta.sql"), "{err}");
        std::fs::remove_file(dir.path().join("005_meta.sql")).unwrap();

        std::fs::write(
            dir.path().join("006_latin1.sql"),
            b"select 1;\nselect '\xe9';\n",
        )
        .unwrap();
        let err = read_sql_dir(dir.path()).unwrap_err();
        assert!(
            matches!(&err, MigrationError::NotUtf8 { line: 2, .. }),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("006_latin1.sql")).unwrap();

        std::fs::create_dir(dir.path().join("007_dir.sql")).unwrap();
        let err = read_sql_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a directory"), "{err}");

        let empty = tempfile::tempdir().unwrap();
        assert!(read_sql_dir(empty.path()).unwrap().is_empty());
        assert!(read_sql_dir(&empty.path().join("missing")).is_err());
    }
}
