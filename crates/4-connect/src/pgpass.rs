//! Looks a password up in the password file (`~/.pgpass`, `PGPASSFILE` or `passfile=`),
//! with libpq's rules (libpq docs, "The Password File"; `passwordFromFile` in
//! `fe-connect.c`). Consulted only when no password was given.
//!
//! Each line is `hostname:port:database:username:password`; `#` starts a comment line; `*`
//! as a whole field matches anything; `\:` and `\\` escape. The first matching line wins.
//! A file that group or others may access in any way is ignored with a warning, as libpq
//! does, because a readable password file is a leaked password.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Password, DEFAULT_SOCKET_DIRS};

/// What a lookup found. Warnings are returned rather than printed: this crate never
/// prints, and the caller decides how to show them.
#[derive(Debug, Default)]
pub struct Lookup {
    pub password: Option<Password>,
    /// For example: password file "/home/u/.pgpass" has group or world access; …
    pub warning: Option<String>,
}

/// The connection a password is wanted for. `host` is the host name, IP address or socket
/// directory as given (empty for the default).
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// Finds the password for `key` in the file at `path`. A missing or unreadable file is not
/// an error: libpq then simply has no password.
pub fn lookup(path: &Path, key: Key<'_>) -> Lookup {
    if key.dbname.is_empty() || key.user.is_empty() {
        return Lookup::default();
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return Lookup::default();
    };
    if !meta.is_file() {
        return Lookup {
            password: None,
            warning: Some(format!(
                "password file \"{}\" is not a plain file",
                path.display()
            )),
        };
    }
    // libpq tests S_IRWXG | S_IRWXO: any bit for group or others, even execute.
    if meta.mode() & 0o077 != 0 {
        return Lookup {
            password: None,
            warning: Some(format!(
                "password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
                path.display()
            )),
        };
    }
    let Ok(file) = std::fs::File::open(path) else {
        return Lookup::default();
    };
    let host = match_host(key.host);
    let port = key.port.to_string();
    let wanted = [host, port.as_str(), key.dbname, key.user];
    for line in BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        let Ok(line) = String::from_utf8(line) else {
            continue;
        };
        if let Some(password) = match_line(&line, &wanted) {
            return Lookup {
                password: Some(Password::new(password)),
                warning: None,
            };
        }
    }
    Lookup::default()
}

/// The host name a line's first field is compared with: `localhost` for the default host
/// and the default socket directory, else the host as given. libpq has one default socket
/// directory; we have two candidates (see `DEFAULT_SOCKET_DIRS`) and treat both alike.
fn match_host(host: &str) -> &str {
    if host.is_empty() || DEFAULT_SOCKET_DIRS.contains(&host) {
        "localhost"
    } else {
        host
    }
}

/// The password if `line` matches the four `wanted` fields.
fn match_line(line: &str, wanted: &[&str; 4]) -> Option<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut rest = line;
    for want in wanted {
        rest = match_field(rest, want)?;
    }
    // The password runs to the next unescaped `:` or the end of the line.
    let mut password = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' => break,
            '\\' => match chars.next() {
                Some(escaped) => password.push(escaped),
                None => password.push('\\'),
            },
            c => password.push(c),
        }
    }
    Some(password)
}

/// Matches one `:`-terminated field against `want`; returns what follows the `:`.
fn match_field<'l>(line: &'l str, want: &str) -> Option<&'l str> {
    if let Some(rest) = line.strip_prefix("*:") {
        return Some(rest);
    }
    let mut want = want.chars();
    let mut chars = line.char_indices();
    while let Some((i, c)) = chars.next() {
        let literal = match c {
            ':' => {
                // End of field: a match only if all of `want` was consumed.
                return want.next().is_none().then(|| &line[i + 1..]);
            }
            '\\' => chars.next()?.1,
            c => c,
        };
        if want.next() != Some(literal) {
            return None;
        }
    }
    // The line ended inside this field: no password follows, so no match.
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    fn key<'a>(host: &'a str, port: u16, dbname: &'a str, user: &'a str) -> Key<'a> {
        Key {
            host,
            port,
            dbname,
            user,
        }
    }

    fn file_with(contents: &str, mode: u32) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(contents.as_bytes()).expect("write");
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
        f
    }

    fn found(l: Lookup) -> Option<String> {
        l.password.map(|p| p.expose().to_string())
    }

    #[test]
    fn first_matching_line_wins() {
        let f = file_with(
            "# comment\n\
             db1:5432:*:alice:first\n\
             *:*:*:alice:second\n\
             *:*:*:*:fallback\r\n",
            0o600,
        );
        assert_eq!(
            found(lookup(f.path(), key("db1", 5432, "x", "alice"))).as_deref(),
            Some("first")
        );
        assert_eq!(
            found(lookup(f.path(), key("db1", 5433, "x", "alice"))).as_deref(),
            Some("second")
        );
        assert_eq!(
            found(lookup(f.path(), key("db2", 1, "x", "bob"))).as_deref(),
            Some("fallback")
        );
    }

    #[test]
    fn escapes() {
        let f = file_with("h\\:x:5432:d\\\\b:u:pa\\:ss\\\\w:ignored\n", 0o600);
        assert_eq!(
            found(lookup(f.path(), key("h:x", 5432, "d\\b", "u"))).as_deref(),
            Some("pa:ss\\w")
        );
        assert_eq!(found(lookup(f.path(), key("h", 5432, "d\\b", "u"))), None);
    }

    #[test]
    fn wildcard_is_a_whole_field_only() {
        let f = file_with("db*:5432:*:u:pw\n", 0o600);
        assert_eq!(found(lookup(f.path(), key("db1", 5432, "d", "u"))), None);
        assert_eq!(
            found(lookup(f.path(), key("db*", 5432, "d", "u"))).as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn sockets_match_localhost() {
        let f = file_with(
            "localhost:5432:*:u:local\n/srv/sock:5432:*:u:custom\n",
            0o600,
        );
        assert_eq!(
            found(lookup(f.path(), key("", 5432, "d", "u"))).as_deref(),
            Some("local")
        );
        assert_eq!(
            found(lookup(f.path(), key("/tmp", 5432, "d", "u"))).as_deref(),
            Some("local")
        );
        assert_eq!(
            found(lookup(f.path(), key("/var/run/postgresql", 5432, "d", "u"))).as_deref(),
            Some("local")
        );
        assert_eq!(
            found(lookup(f.path(), key("/srv/sock", 5432, "d", "u"))).as_deref(),
            Some("custom")
        );
    }

    #[test]
    fn short_lines_do_not_match() {
        let f = file_with("h:5432:d:u\nh:5432:d\n", 0o600);
        assert_eq!(found(lookup(f.path(), key("h", 5432, "d", "u"))), None);
        let f = file_with("h:5432:d:u:\n", 0o600);
        assert_eq!(
            found(lookup(f.path(), key("h", 5432, "d", "u"))).as_deref(),
            Some("")
        );
    }

    #[test]
    fn insecure_file_is_ignored_with_a_warning() {
        for mode in [0o640, 0o604, 0o610, 0o601] {
            let f = file_with("*:*:*:*:pw\n", mode);
            let l = lookup(f.path(), key("h", 5432, "d", "u"));
            assert!(l.password.is_none(), "mode {mode:o}");
            let w = l.warning.expect("warning");
            assert!(
                w.ends_with("has group or world access; permissions should be u=rw (0600) or less"),
                "{w}"
            );
        }
        let f = file_with("*:*:*:*:pw\n", 0o400);
        assert_eq!(
            found(lookup(f.path(), key("h", 5432, "d", "u"))).as_deref(),
            Some("pw")
        );
    }

    #[test]
    fn missing_file_and_directories() {
        let dir = tempfile::tempdir().expect("temp dir");
        let l = lookup(&dir.path().join("none"), key("h", 5432, "d", "u"));
        assert!(l.password.is_none() && l.warning.is_none());
        let l = lookup(dir.path(), key("h", 5432, "d", "u"));
        assert!(l
            .warning
            .is_some_and(|w| w.ends_with("is not a plain file")));
    }
}
