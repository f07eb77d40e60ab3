//! psql meta-commands in a script: the few pg_dump and pg_dumpall write — `\connect`,
//! `\restrict KEY`, `\unrestrict KEY`, `\encoding` — and `\set ON_ERROR_STOP`, which hand-made scripts
//! carry, read; every other one refused by name. None is
//! ever executed: a meta-command's arguments are only read as text (no backquote runs a
//! shell command, no `:variable` is expanded), and one that would need either is refused.

use crate::error::ErrorKind;
use crate::statement::parse_bool;

/// A meta-command pgsurge obeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    /// `\connect [-reuse-previous=on|off] DBNAME`: go on in database DBNAME, given as a name
    /// or as the connection string `dbname='…'` pg_dump writes for names that need quoting
    /// (decoded here). Nothing else of a connection string is taken: the restore's own
    /// host, user and settings stay.
    Connect { dbname: String, reuse_previous: Option<bool> },
    /// `\restrict KEY`: from here, no meta-command but `\unrestrict KEY`.
    Restrict { key: String },
    /// `\unrestrict KEY`.
    Unrestrict { key: String },
    /// `\set ON_ERROR_STOP on|off`: whether the restore stops at the first error (`-e`).
    OnErrorStop(bool),
    /// `\encoding NAME`: pg_dump writes `\encoding SQL_ASCII` before a `\connect` whose
    /// connection string it passes as raw bytes.
    Encoding(String),
}

/// Reads the meta-command that starts at the backslash at the beginning of `text` and runs
/// to the end of its line (`text` holds no newline but possibly a trailing `\r`).
pub(crate) fn parse(text: &[u8]) -> Result<Meta, ErrorKind> {
    let body = text.strip_prefix(b"\\").unwrap_or(text);
    // As psql: the name runs to whitespace or a backslash (`\connect'db'` is no \connect).
    let name_len = body.iter().take_while(|&&b| !is_space(b) && b != b'\\').count();
    let name = String::from_utf8_lossy(&body[..name_len]).into_owned();
    let command = format!("\\{name}");
    // \connect takes its database as psql's SQL-identifier arguments (double quotes
    // removed); the others as plain ones (double quotes kept).
    let keep_double_quotes = !matches!(name.as_str(), "c" | "connect");
    let args = arguments(&body[name_len..], keep_double_quotes).map_err(|reason| ErrorKind::BadMetaArguments { command: command.clone(), reason })?;
    match name.as_str() {
        "c" | "connect" => connect(&command, args),
        "restrict" | "unrestrict" => {
            let [key] = args.as_slice() else {
                return Err(ErrorKind::BadMetaArguments { command, reason: "takes one key".to_owned() });
            };
            // Any token, as psql takes it (pg_restore has written `(null)`); backquotes and
            // variables were refused with the arguments.
            if key.is_empty() {
                return Err(ErrorKind::BadMetaArguments { command, reason: "takes one key".to_owned() });
            }
            let key = key.clone();
            Ok(if name == "restrict" { Meta::Restrict { key } } else { Meta::Unrestrict { key } })
        }
        "encoding" => match args.as_slice() {
            [name] if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => Ok(Meta::Encoding(name.clone())),
            _ => Err(ErrorKind::BadMetaArguments { command, reason: "takes one encoding name".to_owned() }),
        },
        "set" => match args.as_slice() {
            [var, value] if var == "ON_ERROR_STOP" => match parse_bool(value) {
                Some(on) => Ok(Meta::OnErrorStop(on)),
                None => Err(ErrorKind::BadMetaArguments { command, reason: format!("ON_ERROR_STOP {value:?} is not on or off") }),
            },
            [var] if var == "ON_ERROR_STOP" => Err(ErrorKind::BadMetaArguments { command, reason: "ON_ERROR_STOP without on or off".to_owned() }),
            _ => Err(ErrorKind::MetaCommandRefused { command }),
        },
        _ => Err(ErrorKind::MetaCommandRefused { command }),
    }
}

fn connect(command: &str, args: Vec<String>) -> Result<Meta, ErrorKind> {
    let bad = |reason: &str| ErrorKind::BadMetaArguments { command: command.to_owned(), reason: reason.to_owned() };
    let mut args = args.into_iter().peekable();
    let mut reuse_previous = None;
    if let Some(value) = args.peek().and_then(|a| a.strip_prefix("-reuse-previous=")) {
        reuse_previous = Some(parse_bool(value).ok_or_else(|| bad(&format!("-reuse-previous={value} is not on or off")))?);
        args.next();
    }
    let Some(target) = args.next() else { return Err(bad("names no database")) };
    if args.next().is_some() {
        return Err(bad("names a user, host or port: pgsurge restores over the connection it was given, and follows a script only to another database"));
    }
    // psql drops semicolons the line ends with.
    let target = target.trim_end_matches(';');
    let dbname = match target {
        "" | "-" => return Err(bad("names no database")),
        t if t.contains('=') => dbname_of(t).ok_or_else(|| bad("takes a database name or dbname='…', as pg_dump writes it; other connection parameters are the restore's own"))?,
        t => t.to_owned(),
    };
    Ok(Meta::Connect { dbname, reuse_previous })
}

/// The database of a connection string that holds nothing else: `dbname='…'` (with `\'`
/// and `\\` escapes) or `dbname=name`.
fn dbname_of(conninfo: &str) -> Option<String> {
    let value = conninfo.trim().strip_prefix("dbname")?.trim_start().strip_prefix('=')?.trim_start();
    let Some(quoted) = value.strip_prefix('\'') else {
        return (!value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\')).then(|| value.to_owned());
    };
    let mut out = String::new();
    let mut chars = quoted.chars();
    loop {
        match chars.next()? {
            '\\' => out.push(chars.next()?),
            '\'' => break,
            c => out.push(c),
        }
    }
    chars.as_str().trim().is_empty().then_some(out)
}

fn is_space(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'\x0b'
}

/// Splits a meta-command's arguments as psql does for a database name: by whitespace, a
/// `"…"` part taken as written without its quotes (`""` for a quote), a `'…'` part with its
/// quotes removed (`''` for a quote). What would make psql run or expand something — a
/// backquote, a `:variable` — is refused, as is a second command on the line.
fn arguments(mut rest: &[u8], keep_double_quotes: bool) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    loop {
        let skip = rest.iter().take_while(|&&b| is_space(b)).count();
        rest = &rest[skip..];
        let Some(&first) = rest.first() else { return Ok(out) };
        if first == b'\\' {
            return Err("a second meta-command on the same line".to_owned());
        }
        let mut arg = Vec::new();
        while let Some(&b) = rest.first() {
            if is_space(b) {
                break;
            }
            match b {
                b'"' | b'\'' => {
                    let keep = b == b'"' && keep_double_quotes;
                    if keep {
                        arg.push(b);
                    }
                    let mut i = 1;
                    loop {
                        match rest.get(i) {
                            None => return Err("an unterminated quoted argument".to_owned()),
                            Some(&q) if q == b && rest.get(i + 1) == Some(&b) => {
                                arg.push(b);
                                if keep {
                                    arg.push(b);
                                }
                                i += 2;
                            }
                            Some(&q) if q == b => {
                                if keep {
                                    arg.push(b);
                                }
                                i += 1;
                                break;
                            }
                            // psql decodes \n, \x41 and the like in '…': pg_dump never needs them.
                            Some(b'\\') if b == b'\'' => return Err("a backslash escape in a quoted argument".to_owned()),
                            Some(&q) => {
                                arg.push(q);
                                i += 1;
                            }
                        }
                    }
                    rest = &rest[i..];
                }
                b'`' => return Err("a backquoted argument (psql would run it as a shell command)".to_owned()),
                b':' => return Err("a psql variable in an argument".to_owned()),
                b'\\' => return Err("a second meta-command on the same line".to_owned()),
                _ => {
                    arg.push(b);
                    rest = &rest[1..];
                }
            }
        }
        out.push(String::from_utf8(arg).map_err(|_| "an argument that is not UTF-8".to_owned())?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(text: &str) -> Result<Meta, String> {
        parse(text.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn connect_as_pg_dump_and_pg_dumpall_write_it() {
        assert_eq!(meta("\\connect -reuse-previous=on \"dbname='my db'\""), Ok(Meta::Connect { dbname: "my db".into(), reuse_previous: Some(true) }));
        assert_eq!(meta("\\connect -reuse-previous=on \"dbname='it\\'s'\""), Ok(Meta::Connect { dbname: "it's".into(), reuse_previous: Some(true) }));
        assert_eq!(meta("\\connect template1\r"), Ok(Meta::Connect { dbname: "template1".into(), reuse_previous: None }));
        assert_eq!(meta("\\connect app;"), Ok(Meta::Connect { dbname: "app".into(), reuse_previous: None }));
        assert_eq!(meta("\\c \"Odd\"\"Name\""), Ok(Meta::Connect { dbname: "Odd\"Name".into(), reuse_previous: None }));
        // Only the database: no host, user, port or settings from a script.
        for text in ["\\connect \"host=evil dbname=x\"", "\\connect -reuse-previous=on \"dbname='x' host='evil'\"", "\\connect -", "\\connect 'a\\x41'"] {
            assert!(meta(text).is_err(), "{text}");
        }
        assert!(meta("\\connect'db'").unwrap_err().contains("meta-command \\connect'db' is not allowed"));
        assert!(meta("\\connect db alice").unwrap_err().contains("names a user"));
        assert!(meta("\\connect").unwrap_err().contains("names no database"));
    }

    #[test]
    fn restrict_keys_are_letters_and_digits() {
        assert_eq!(meta("\\restrict aB3x"), Ok(Meta::Restrict { key: "aB3x".into() }));
        assert_eq!(meta("\\unrestrict aB3x"), Ok(Meta::Unrestrict { key: "aB3x".into() }));
        assert!(meta("\\unrestrict `id`").unwrap_err().contains("backquoted"));
        assert_eq!(meta("\\restrict (null)"), Ok(Meta::Restrict { key: "(null)".into() }));
        // Double quotes are part of a plain argument, as in psql.
        assert_eq!(meta("\\restrict \"k\""), Ok(Meta::Restrict { key: "\"k\"".into() }));
        assert_eq!(meta("\\encoding SQL_ASCII"), Ok(Meta::Encoding("SQL_ASCII".into())));
        assert!(meta("\\restrict").unwrap_err().contains("one key"));
    }

    #[test]
    fn everything_else_is_refused_by_name() {
        for (text, name) in [("\\! rm -rf /", "\\!"), ("\\o /tmp/x", "\\o"), ("\\copy t from '/etc/passwd'", "\\copy"), ("\\i other.sql", "\\i"), ("\\gexec", "\\gexec"), ("\\set PROMPT1 x", "\\set"), ("\\;", "\\;"), ("\\", "\\")] {
            let e = meta(text).unwrap_err();
            assert!(e.contains(&format!("meta-command {name} is not allowed")), "{text}: {e}");
        }
        assert_eq!(meta("\\set ON_ERROR_STOP on"), Ok(Meta::OnErrorStop(true)));
        assert_eq!(meta("\\set ON_ERROR_STOP 0"), Ok(Meta::OnErrorStop(false)));
        assert_eq!(meta("\\set ON_ERROR_STOP tr"), Ok(Meta::OnErrorStop(true)));
        assert!(meta("\\set ON_ERROR_STOP o").unwrap_err().contains("not on or off"));
        assert!(meta("\\set ON_ERROR_STOP").unwrap_err().contains("without on or off"));
        assert!(meta("\\connect db \\! id").unwrap_err().contains("second meta-command"));
        assert!(meta("\\connect :DB").unwrap_err().contains("variable"));
    }
}
