//! Quoting for the SQL (and psql meta-commands) that pgsurge composes itself — identifiers,
//! string and bytea literals, `\connect` lines — byte for byte as pg_restore 18 quotes them
//! (`fmtId`, `fmtQualifiedId`, `appendStringLiteral`, `appendByteaLiteral`,
//! `appendConnStrVal` and `appendPsqlMetaConnect` in PostgreSQL's
//! `src/fe_utils/string_utils.c`).
//!
//! Everything here works on raw bytes: names come from the archive in the dump's encoding
//! and are never assumed to be UTF-8, so the quoted forms are byte vectors rather than
//! `Display` values (a lossy `Display` could not reproduce a LATIN1 name). SQL taken from the
//! archive verbatim (definitions, drop statements) does not pass through here.

use std::borrow::Cow;

use bstr::ByteSlice;

/// Keywords that `fmtId` quotes: every PostgreSQL 18 keyword whose category is not
/// `UNRESERVED_KEYWORD` (`src/include/parser/kwlist.h`; listed with
/// `SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'` on an 18.6 server). Sorted, for
/// binary search.
const QUOTED_KEYWORDS: &[&str] = &[
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "between", "bigint",
    "binary", "bit", "boolean", "both", "case", "cast", "char", "character", "check", "coalesce", "collate", "collation",
    "column", "concurrently", "constraint", "create", "cross", "current_catalog", "current_date", "current_role",
    "current_schema", "current_time", "current_timestamp", "current_user", "dec", "decimal", "default", "deferrable",
    "desc", "distinct", "do", "else", "end", "except", "exists", "extract", "false", "fetch", "float", "for", "foreign",
    "freeze", "from", "full", "grant", "greatest", "group", "grouping", "having", "ilike", "in", "initially", "inner",
    "inout", "int", "integer", "intersect", "interval", "into", "is", "isnull", "join", "json", "json_array",
    "json_arrayagg", "json_exists", "json_object", "json_objectagg", "json_query", "json_scalar", "json_serialize",
    "json_table", "json_value", "lateral", "leading", "least", "left", "like", "limit", "localtime", "localtimestamp",
    "merge_action", "national", "natural", "nchar", "none", "normalize", "not", "notnull", "null", "nullif", "numeric",
    "offset", "on", "only", "or", "order", "out", "outer", "overlaps", "overlay", "placing", "position", "precision",
    "primary", "real", "references", "returning", "right", "row", "select", "session_user", "setof", "similar",
    "smallint", "some", "substring", "symmetric", "system_user", "table", "tablesample", "then", "time", "timestamp",
    "to", "trailing", "treat", "trim", "true", "union", "unique", "user", "using", "values", "varchar", "variadic",
    "verbose", "when", "where", "window", "with", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists", "xmlforest",
    "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable",
];

/// True when `word` (already known to be lowercase ASCII) is a keyword `fmtId` must quote.
fn is_quoted_keyword(word: &[u8]) -> bool {
    QUOTED_KEYWORDS.binary_search_by(|k| k.as_bytes().cmp(word)).is_ok()
}

/// An identifier as `fmtId` writes it: bare when it is a lowercase ASCII identifier
/// (`[a-z_][a-z0-9_]*`) that is not a reserved-ish keyword, otherwise double-quoted with
/// embedded `"` doubled. Non-ASCII names are always quoted, whatever the encoding.
pub fn quote_ident(name: &[u8]) -> Cow<'_, [u8]> {
    let plain = match name.first() {
        Some(&c) if c.is_ascii_lowercase() || c == b'_' => {
            name.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') && !is_quoted_keyword(name)
        }
        _ => false,
    };
    if plain {
        return Cow::Borrowed(name);
    }
    let mut out = Vec::with_capacity(name.len() + 2);
    out.push(b'"');
    for &c in name {
        if c == b'"' {
            out.push(b'"');
        }
        out.push(c);
    }
    out.push(b'"');
    Cow::Owned(out)
}

/// The identifier SQL text taken from the archive starts with — quoted as `fmtId` quotes,
/// or a plain word (up to a space, newline, `;`, `.`, `(` or quote) — and what follows it;
/// `None` for an unterminated quote or no identifier.
pub fn leading_identifier(text: &[u8]) -> Option<(&[u8], &[u8])> {
    if text.first() != Some(&b'"') {
        let end = text.find_byteset(b" \n;\".(").unwrap_or(text.len());
        return (end > 0).then(|| text.split_at(end));
    }
    let mut i = 1;
    loop {
        let close = i + text.get(i..)?.find_byte(b'"')?;
        if text.get(close + 1) == Some(&b'"') {
            i = close + 2;
            continue;
        }
        return Some(text.split_at(close + 1));
    }
}

/// `fmtQualifiedId`: `schema.name`, each part quoted as needed; a missing or empty schema
/// gives the bare name.
pub fn qualified_name(schema: Option<&[u8]>, name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(schema) = schema.filter(|s| !s.is_empty()) {
        out.extend_from_slice(&quote_ident(schema));
        out.push(b'.');
    }
    out.extend_from_slice(&quote_ident(name));
    out
}

/// `appendStringLiteral`: `'…'` with `'` doubled, and `\` doubled too when the script runs
/// with `standard_conforming_strings` off. No `E` prefix either way, as pg_restore writes it.
pub fn string_literal(value: &[u8], std_strings: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'\'');
    for &c in value {
        if c == b'\'' || (c == b'\\' && !std_strings) {
            out.push(c);
        }
        out.push(c);
    }
    out.push(b'\'');
    out
}

/// `appendByteaLiteral`: a hex-format bytea literal, `'\x…'`, or `'\\x…'` when
/// `standard_conforming_strings` is off (the backslash must survive string parsing).
pub fn bytea_literal(bytes: &[u8], std_strings: bool) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(2 * bytes.len() + 5);
    out.push(b'\'');
    if !std_strings {
        out.push(b'\\');
    }
    out.extend_from_slice(b"\\x");
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
    out.push(b'\'');
    out
}

/// `appendConnStrVal`: a libpq connection-string value, bare when it is non-empty and made
/// only of ASCII letters, digits, `_` and `.`, otherwise single-quoted with `'` and `\`
/// backslash-escaped.
pub fn conninfo_value(value: &[u8]) -> Vec<u8> {
    if !value.is_empty() && value.iter().all(|&c| is_simple_name_byte(c)) {
        return value.to_vec();
    }
    let mut out = Vec::with_capacity(value.len() + 2);
    out.push(b'\'');
    for &c in value {
        if c == b'\'' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'\'');
    out
}

fn is_simple_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// A database name psql cannot be told to connect to: it contains a line break, which would
/// end the meta-command early (`appendPsqlMetaConnect` exits on it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("database name contains a newline or carriage return: \"{}\"", bstr::BStr::new(.0))]
pub struct NewlineInDbName(pub Vec<u8>);

/// `appendPsqlMetaConnect`: the psql lines that connect to `dbname`, newline included.
/// Simple names (ASCII letters, digits, `_`, `.`) give `\connect <ident>`; anything else goes
/// through a conninfo string, after switching psql to SQL_ASCII so it forwards the name's
/// bytes unchanged: `\encoding SQL_ASCII` then `\connect -reuse-previous=on "dbname='…'"`.
pub fn psql_connect(dbname: &[u8]) -> Result<Vec<u8>, NewlineInDbName> {
    if dbname.iter().any(|&c| c == b'\n' || c == b'\r') {
        return Err(NewlineInDbName(dbname.to_vec()));
    }
    let mut out = Vec::new();
    if dbname.iter().all(|&c| is_simple_name_byte(c)) {
        out.extend_from_slice(b"\\connect ");
        out.extend_from_slice(&quote_ident(dbname));
    } else {
        out.extend_from_slice(b"\\encoding SQL_ASCII\n\\connect -reuse-previous=on ");
        let mut conninfo = b"dbname=".to_vec();
        conninfo.extend_from_slice(&conninfo_value(dbname));
        out.extend_from_slice(&quote_ident(&conninfo));
    }
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn q(s: &str) -> String {
        String::from_utf8_lossy(&quote_ident(s.as_bytes())).into_owned()
    }

    #[test]
    fn keyword_table_is_sorted() {
        assert!(QUOTED_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(QUOTED_KEYWORDS.len(), 164);
    }

    #[test]
    fn identifiers_quote_like_fmt_id() {
        assert_eq!(q("events"), "events");
        assert_eq!(q("_x9"), "_x9");
        assert_eq!(q("MixedCase"), "\"MixedCase\"");
        assert_eq!(q("we\"ird name"), "\"we\"\"ird name\"");
        assert_eq!(q("ünï cödé"), "\"ünï cödé\"");
        assert_eq!(q("9lives"), "\"9lives\"");
        assert_eq!(q(""), "\"\"");
        // Reserved, column-name and type/function-name keywords are quoted...
        assert_eq!(q("user"), "\"user\"");
        assert_eq!(q("integer"), "\"integer\"");
        assert_eq!(q("left"), "\"left\"");
        assert_eq!(q("json_table"), "\"json_table\"");
        // ...unreserved ones are not.
        assert_eq!(q("name"), "name");
        assert_eq!(q("data"), "data");
        assert_eq!(q("new"), "new");
        // LATIN1 bytes are not UTF-8 and are still quoted.
        assert_eq!(quote_ident(b"t\xe5ble").as_ref(), b"\"t\xe5ble\"");
    }

    #[test]
    fn qualified_names() {
        assert_eq!(qualified_name(Some(b"public"), b"t"), b"public.t");
        assert_eq!(qualified_name(Some(b"MixedCase"), b"Order Items"), b"\"MixedCase\".\"Order Items\"");
        assert_eq!(qualified_name(Some(b""), b"t"), b"t");
        assert_eq!(qualified_name(None, b"select"), b"\"select\"");
    }

    #[test]
    fn literals() {
        assert_eq!(string_literal(b"alice", true), b"'alice'");
        assert_eq!(string_literal(b"o'brien\\", true), b"'o''brien\\'");
        assert_eq!(string_literal(b"o'brien\\", false), b"'o''brien\\\\'");
        assert_eq!(bytea_literal(b"\x00\xffab", true), b"'\\x00ff6162'");
        assert_eq!(bytea_literal(b"a", false), b"'\\\\x61'");
        assert_eq!(bytea_literal(b"", true), b"'\\x'");
    }

    #[test]
    fn connect_lines() {
        assert_eq!(psql_connect(b"src").unwrap(), b"\\connect src\n");
        assert_eq!(psql_connect(b"MyDB").unwrap(), b"\\connect \"MyDB\"\n");
        assert_eq!(psql_connect(b"a.b").unwrap(), b"\\connect \"a.b\"\n");
        assert_eq!(psql_connect(b"my db'x").unwrap(), b"\\encoding SQL_ASCII\n\\connect -reuse-previous=on \"dbname='my db\\'x'\"\n");
        assert!(psql_connect(b"a\nb").is_err());
        assert_eq!(conninfo_value(b"x_1.y"), b"x_1.y");
        assert_eq!(conninfo_value(b""), b"''");
    }
}
