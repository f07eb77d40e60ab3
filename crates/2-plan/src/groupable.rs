//! Which commands may wait in a restore connection's commit group (the engine's `group`):
//! those that do the same inside a transaction block as they do alone, in pg_restore's
//! autocommit. Decided from the command's text alone, so it lives beside the renderer that
//! words the commands.
//!
//! A command that fails inside the group costs nothing but time (the group is rolled back and
//! replayed one command at a time), so this only has to keep out what would *succeed*
//! differently in a transaction block, or end the group's transaction early:
//! - transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`, … — a `SAVEPOINT` fails alone but
//!   works in a block);
//! - settings that last until the transaction ends (`SET LOCAL`, `SET TRANSACTION`,
//!   `SET CONSTRAINTS`), which alone end with their command;
//! - `ALTER TYPE … ADD VALUE`, whose value cannot be used before a commit;
//! - commands refused in a block, which would only make the group fail (`CREATE DATABASE`,
//!   tablespaces, subscriptions, `ALTER SYSTEM`, anything `CONCURRENTLY`);
//! - anything not known to be one of pg_dump's kinds of statement (`DO`, `VACUUM`, …).
//!
//! A command may hold several statements (a definition is sent as one Query), so each is
//! classified: the text is lexed far enough to find where statements start — quotes, quoted
//! identifiers, dollar quotes and comments are skipped — and a text that ends inside one of
//! them is not held.

/// The statement kinds pg_dump writes that run alike in a transaction block.
const HOLDABLE: &[&[u8]] = &[
    b"ALTER", b"COMMENT", b"CREATE", b"DELETE", b"DROP", b"GRANT", b"INSERT", b"LOCK", b"REFRESH", b"RESET", b"REVOKE", b"SECURITY", b"SELECT", b"SET", b"TRUNCATE",
    b"UPDATE",
];

/// Objects whose commands a transaction block refuses (or, for `SYSTEM`, that are not the
/// database's at all), as the second word of `CREATE`/`ALTER`/`DROP`.
const REFUSED_IN_BLOCK: &[&[u8]] = &[b"DATABASE", b"TABLESPACE", b"SUBSCRIPTION", b"SYSTEM"];

/// Settings that last until the transaction ends, as the second word of `SET`.
const TRANSACTION_SETTINGS: &[&[u8]] = &[b"LOCAL", b"TRANSACTION", b"CONSTRAINTS"];

/// Words of a statement looked at: its kind and what it acts on, and far enough to find a
/// `CONCURRENTLY` (`CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS`).
const HEAD_WORDS: usize = 6;

/// Whether `sql` (one command, any number of statements) may wait in a commit group;
/// `std_strings` is the archive's standard_conforming_strings, which decides whether a
/// backslash escapes a quote in a plain string.
pub fn may_hold(sql: &str, std_strings: bool) -> bool {
    match statements(sql.as_bytes(), std_strings) {
        Some(statements) => statements.iter().all(holdable),
        None => false,
    }
}

/// One statement as seen here: its first words, upper-cased, and whether `ADD VALUE`
/// appears anywhere in it.
#[derive(Debug, Default)]
struct Statement {
    head: Vec<Vec<u8>>,
    adds_value: bool,
}

fn holdable(s: &Statement) -> bool {
    let word = |i: usize| s.head.get(i).map(Vec::as_slice);
    let Some(kind) = word(0) else { return true };
    if !HOLDABLE.contains(&kind) || s.head.iter().any(|w| w == b"CONCURRENTLY") {
        return false;
    }
    let object = word(1).unwrap_or_default();
    match kind {
        b"CREATE" | b"ALTER" | b"DROP" if REFUSED_IN_BLOCK.contains(&object) => false,
        b"ALTER" if object == b"TYPE" && s.adds_value => false,
        b"SET" if TRANSACTION_SETTINGS.contains(&object) => false,
        // SET SESSION CHARACTERISTICS AS TRANSACTION; SET SESSION AUTHORIZATION is a session's.
        b"SET" if object == b"SESSION" && word(2) == Some(b"CHARACTERISTICS") => false,
        _ => true,
    }
}

/// The statements of `sql`, or `None` when it ends inside a quote, a quoted identifier, a
/// dollar quote or a comment.
fn statements(sql: &[u8], std_strings: bool) -> Option<Vec<Statement>> {
    let mut out = Vec::new();
    let mut current = Statement::default();
    let mut last_word: Vec<u8> = Vec::new();
    // Where the last word ended: `E'…'` is an escape string only when nothing is between.
    let mut word_end = usize::MAX;
    let mut i = 0;
    while let Some(&b) = sql.get(i) {
        match b {
            b';' => {
                out.push(std::mem::take(&mut current));
                last_word.clear();
                i += 1;
            }
            b'-' if sql.get(i + 1) == Some(&b'-') => {
                i = sql[i..].iter().position(|&c| c == b'\n').map_or(sql.len(), |p| i + p + 1);
            }
            b'/' if sql.get(i + 1) == Some(&b'*') => i = block_comment_end(sql, i)?,
            b'\'' => {
                // E'…' escapes with backslashes; so does every plain string when
                // standard_conforming_strings is off.
                let escapes = !std_strings || (word_end == i && last_word.eq_ignore_ascii_case(b"E"));
                i = string_end(sql, i, escapes)?;
                last_word.clear();
            }
            b'"' => {
                i = quoted_end(sql, i, b'"')?;
                note_word(&mut current, &mut last_word, b"\"");
            }
            b'$' => match dollar_tag(sql, i) {
                Some(tag) => {
                    let body = i + tag.len();
                    let close = find(&sql[body..], tag)?;
                    i = body + close + tag.len();
                    last_word.clear();
                }
                None => i += 1,
            },
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let len = sql[i..].iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)).unwrap_or(sql.len() - i);
                let word = sql[i..i + len].to_ascii_uppercase();
                note_word(&mut current, &mut last_word, &word);
                i += len;
                word_end = i;
            }
            _ => {
                if !b.is_ascii_whitespace() {
                    last_word.clear();
                }
                i += 1;
            }
        }
    }
    out.push(current);
    Some(out)
}

/// A word of the statement: kept if among its first, and watched for `ADD VALUE`.
fn note_word(s: &mut Statement, last: &mut Vec<u8>, word: &[u8]) {
    if last == b"ADD" && word == b"VALUE" {
        s.adds_value = true;
    }
    if s.head.len() < HEAD_WORDS {
        s.head.push(word.to_vec());
    }
    last.clear();
    last.extend_from_slice(word);
}

/// Past the `/* … */` comment starting at `start` (comments nest).
fn block_comment_end(sql: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < sql.len() {
        match (sql[i], sql.get(i + 1)) {
            (b'/', Some(b'*')) => {
                depth += 1;
                i += 2;
            }
            (b'*', Some(b'/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Past the string whose opening quote is at `start`; a doubled quote stays inside, and so
/// does a backslash-escaped one when `escapes`.
fn string_end(sql: &[u8], start: usize, escapes: bool) -> Option<usize> {
    let mut i = start + 1;
    while i < sql.len() {
        match sql[i] {
            b'\\' if escapes => i += 2,
            b'\'' if sql.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Past the quoted identifier whose opening `quote` is at `start`.
fn quoted_end(sql: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < sql.len() {
        if sql[i] == quote {
            if sql.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The dollar-quote delimiter (`$$`, `$body$`) starting at `start`, if one does; `$1` is a
/// parameter.
fn dollar_tag(sql: &[u8], start: usize) -> Option<&[u8]> {
    let rest = sql.get(start + 1..)?;
    let len = rest.iter().position(|&c| !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80))?;
    if rest.first().is_some_and(u8::is_ascii_digit) || rest.get(len) != Some(&b'$') {
        return None;
    }
    sql.get(start..start + len + 2)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_schema_commands_are_held() {
        for sql in [
            "CREATE TABLE public.t (\n    id integer NOT NULL\n);\n",
            "ALTER TABLE public.t OWNER TO app;\n",
            "CREATE FUNCTION public.f() RETURNS integer\n    LANGUAGE plpgsql\n    AS $$\nBEGIN\n  COMMIT;\n  RETURN 1;\nEND\n$$;\n",
            "CREATE FUNCTION public.g() RETURNS text LANGUAGE sql AS $body$ SELECT 'a;b' $body$;",
            "COMMENT ON TABLE public.t IS 'it''s; COMMIT';\n",
            "SELECT pg_catalog.setval('public.t_id_seq', 42, true);\n",
            "SET search_path = public, pg_catalog;\n",
            "SET SESSION AUTHORIZATION app;\n",
            "GRANT ALL ON TABLE public.t TO app;\nREVOKE ALL ON TABLE public.t FROM PUBLIC;\n",
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);\n",
            "CREATE UNIQUE INDEX i ON public.t USING btree (id);",
            "COMMENT ON DATABASE app IS 'x';",
            "-- a comment; COMMIT\nCREATE VIEW v AS SELECT 1 /* nested /* ; */ BEGIN; */;",
            "CREATE TABLE \"COMMIT\" (\"a;\"\"b\" int);",
            "CREATE TYPE public.mood AS ENUM ('sad', 'ok');",
            "",
        ] {
            assert!(may_hold(sql, true), "{sql}");
        }
    }

    #[test]
    fn commands_that_differ_in_a_block_are_not_held() {
        for sql in [
            "BEGIN;",
            "COMMIT;\n",
            "CREATE TABLE t (a int); COMMIT; DROP TABLE t;",
            "SAVEPOINT a;",
            "CREATE DATABASE app WITH TEMPLATE = template0;",
            "DROP DATABASE IF EXISTS app;",
            "ALTER DATABASE app SET work_mem = '1MB';",
            "CREATE SUBSCRIPTION s CONNECTION '' PUBLICATION p WITH (connect = false);",
            "CREATE INDEX CONCURRENTLY i ON t (a);",
            "REFRESH MATERIALIZED VIEW CONCURRENTLY public.m;",
            "ALTER TYPE public.mood ADD VALUE 'happy';",
            "SET LOCAL search_path = x;",
            "SET CONSTRAINTS ALL DEFERRED;",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;",
            "DO $$ BEGIN COMMIT; END $$;",
            "VACUUM t;",
            "CREATE TABLE t (a text DEFAULT 'unterminated",
            "CREATE FUNCTION f() AS $x$ no end",
            "SELECT 1; /* open comment",
            // Not an escape string: E and its quote are apart.
            "COMMENT ON TABLE t IS E 'a\\'; COMMIT; --';",
        ] {
            assert!(!may_hold(sql, true), "{sql}");
        }
    }

    #[test]
    fn backslash_escapes_follow_the_archive_setting() {
        // With standard_conforming_strings off, \' stays inside the string: no COMMIT here.
        let sql = "COMMENT ON TABLE t IS 'a\\'; COMMIT; --';";
        assert!(may_hold(sql, false));
        // With it on, the string ends at the backslash's quote and a COMMIT follows.
        assert!(!may_hold(sql, true));
        assert!(may_hold("COMMENT ON TABLE t IS E'a\\'; COMMIT; --';", true));
    }

    #[test]
    fn dollar_signs_that_are_not_quotes() {
        assert!(may_hold("CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';", true));
        assert!(may_hold("CREATE TABLE a$b (c int);", true));
        assert!(!may_hold("CREATE TABLE a$b (c int); COMMIT;", true));
    }
}
