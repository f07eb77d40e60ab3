//! What a statement is, as far as reading the rest of the script goes: a `COPY` whose data
//! follows it in the script (or that reads a server file or runs a program: the restore
//! refuses those unless asked), and the settings that change how the text after it reads —
//! `standard_conforming_strings` and `client_encoding`.

/// A word-level token of a statement's start: enough to read `COPY … FROM …` and `SET …`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, lowercased.
    Word(String),
    /// A `"…"` identifier (as written, quotes removed).
    Quoted(String),
    /// A `'…'` string's contents (doubled quotes undone; other escapes left as written).
    Str(String),
    /// Anything else: one byte of punctuation.
    Punct(u8),
}

/// Bytes of a quoted token kept.
const TOKEN_BYTES: usize = 256;

/// The first `limit` tokens of `text`, skipping whitespace and comments.
fn tokens(text: &[u8], limit: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() && out.len() < limit {
        let b = text[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
            b'-' if text.get(i + 1) == Some(&b'-') => i += text[i..].iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(text.len() - i),
            b'/' if text.get(i + 1) == Some(&b'*') => {
                let mut depth = 0u32;
                while i < text.len() {
                    if text[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if text[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' | b'\'' => {
                // Only the start of a string is kept: a value is compared, never used whole.
                let mut s = Vec::new();
                let mut j = i + 1;
                while j < text.len() {
                    if text[j] == b {
                        if text.get(j + 1) == Some(&b) {
                            if s.len() < TOKEN_BYTES {
                                s.push(b);
                            }
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    if s.len() < TOKEN_BYTES {
                        s.push(text[j]);
                    }
                    j += 1;
                }
                let s = String::from_utf8_lossy(&s).into_owned();
                out.push(if b == b'"' { Token::Quoted(s) } else { Token::Str(s) });
                i = j + 1;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 => {
                let len = text[i..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80).count();
                out.push(Token::Word(String::from_utf8_lossy(&text[i..i + len.min(TOKEN_BYTES)]).to_lowercase()));
                i += len;
            }
            _ => {
                out.push(Token::Punct(b));
                i += 1;
            }
        }
    }
    out
}

/// How many items the parenthesized list at the start of `text` holds (`(a, "b,c", d)`
/// holds 3); `None` if it is not closed.
pub(crate) fn list_length(text: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut items = 1;
    for tok in tokens(text, usize::MAX) {
        match tok {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(items);
                }
            }
            Token::Punct(b',') if depth == 1 => items += 1,
            _ => {}
        }
    }
    None
}

/// Where a `COPY` statement's rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopySource {
    /// `FROM STDIN` (or `FROM STDOUT`, which the server takes the same way): the rows follow
    /// the statement in the script, up to a line `\.`.
    Stdin,
    /// `FROM 'file'`: a file on the server.
    ServerFile,
    /// `FROM PROGRAM '…'`: a command the server runs.
    Program,
    /// `TO …`: not a load at all.
    To,
}

impl CopySource {
    /// What such a COPY reads or writes, for an error.
    pub fn describe(self) -> &'static str {
        match self {
            CopySource::Stdin => "rows that follow it in the script",
            CopySource::ServerFile => "a file on the server",
            CopySource::Program => "a program on the server",
            CopySource::To => "rows sent back to the client or written to a file on the server",
        }
    }
}

/// Whether `text` is a `COPY` statement, and where its rows come from.
pub fn copy_source(text: &[u8]) -> Option<CopySource> {
    if tokens(text, 1).first() != Some(&Token::Word("copy".into())) {
        return None;
    }
    let t = tokens(text, 4096);
    let mut it = t.iter().peekable();
    if it.next() != Some(&Token::Word("copy".into())) {
        return None;
    }
    // The table (qualified, quoted or not) or a parenthesized query, then a column list.
    let mut depth = 0usize;
    let mut after_dot = false;
    while let Some(tok) = it.next() {
        // A word after a dot is part of a qualified name (`public.from`), whatever it says.
        let name_part = std::mem::replace(&mut after_dot, tok == &Token::Punct(b'.'));
        match tok {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && !name_part && (w == "from" || w == "to") => {
                if w == "to" {
                    return Some(CopySource::To);
                }
                return Some(match it.next() {
                    Some(Token::Word(w)) if w == "stdin" || w == "stdout" => CopySource::Stdin,
                    Some(Token::Word(w)) if w == "program" => CopySource::Program,
                    _ => CopySource::ServerFile,
                });
            }
            _ => {}
        }
    }
    None
}

/// The table a COPY statement names, and how many columns its list has.
pub fn copy_target(text: &[u8]) -> (String, Option<usize>) {
    let body = text.get(4..).unwrap_or_default();
    let end = body.iter().position(|&b| b == b'(').unwrap_or(body.len());
    let name_end = memchr::memmem::find(&body.to_ascii_lowercase(), b" from ").unwrap_or(body.len()).min(end);
    let table = String::from_utf8_lossy(&body[..name_end]).trim().to_owned();
    let columns = (end < body.len()).then(|| list_length(&body[end..])).flatten();
    (table, columns)
}

/// A setting that changes how the script's text reads, if `text` sets one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    StandardConformingStrings(bool),
    /// The encoding name as written (`SET client_encoding = 'SJIS'`), uppercased.
    ClientEncoding(String),
    /// The statement may change one of them in a way that cannot be told from its text
    /// (`SET LOCAL`, `set_config(…)`, a `DO` block naming it, a value the server would
    /// refuse): the script cannot be followed past it.
    Unknown(&'static str),
}

/// The two settings that change how the script reads.
const SCC: &str = "standard_conforming_strings";
const ENCODING: &str = "client_encoding";

/// A boolean as the server reads a setting's value, and psql a variable's: a unique prefix
/// of true, false, yes, no, on (two letters at least) or off, or 1 or 0.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    let v = value.trim().to_ascii_lowercase();
    let prefix_of = |word: &str, min: usize| v.len() >= min && word.starts_with(v.as_str());
    if v == "1" || prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) {
        Some(true)
    } else if v == "0" || prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) {
        Some(false)
    } else {
        None
    }
}

/// Whether `needle` (lowercase) is in `hay`, in any case, without copying `hay`.
fn contains_ignoring_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else { return true };
    memchr::memchr2_iter(first, first.to_ascii_uppercase(), hay).any(|at| hay.get(at..at + needle.len()).is_some_and(|w| w.eq_ignore_ascii_case(needle)))
}

/// What `text` does to the settings that change how a script reads: the plain forms pg_dump
/// writes (`SET name = value`, `SET name TO value`, `SET SESSION …`, `SET NAMES`, `RESET
/// name`, `RESET ALL`, `DISCARD ALL`) are followed; any other statement that names one of
/// them is [`Setting::Unknown`]; `None` for the rest.
pub fn setting(text: &[u8]) -> Option<Setting> {
    let t = tokens(text, 8);
    let word = |i: usize| match t.get(i) {
        Some(Token::Word(w)) => Some(w.as_str()),
        _ => None,
    };
    let mentions = |name: &str| contains_ignoring_case(text, name.as_bytes());
    let named = if mentions(SCC) {
        Some(SCC)
    } else if mentions(ENCODING) {
        Some(ENCODING)
    } else {
        None
    };
    let plain = match word(0) {
        Some("set") => {
            let at = if word(1) == Some("session") { 2 } else { 1 };
            match word(at) {
                Some("names") => match t.get(at + 1) {
                    Some(Token::Word(v) | Token::Str(v)) => Some((ENCODING, Some(v.clone()))),
                    _ => None,
                },
                Some(name @ (SCC | ENCODING)) => {
                    let value_at = match t.get(at + 1) {
                        Some(Token::Punct(b'=')) => Some(at + 2),
                        Some(Token::Word(w)) if w == "to" => Some(at + 2),
                        _ => None,
                    };
                    let value = value_at.and_then(|v| match t.get(v) {
                        Some(Token::Word(w)) => Some(w.clone()),
                        Some(Token::Str(s)) => Some(s.clone()),
                        _ => None,
                    });
                    // DEFAULT is the server's own value: on, for the one that matters.
                    value.map(|v| (if name == SCC { SCC } else { ENCODING }, (v != "default").then_some(v)))
                }
                _ => None,
            }
        }
        Some("reset") => match word(1) {
            Some(SCC) => Some((SCC, None)),
            Some("all") => Some((SCC, None)),
            _ => None,
        },
        Some("discard") if word(1) == Some("all") => Some((SCC, None)),
        _ => None,
    };
    match plain {
        Some((SCC, None)) => Some(Setting::StandardConformingStrings(true)),
        Some((SCC, Some(v))) => Some(parse_bool(&v).map_or(Setting::Unknown(SCC), Setting::StandardConformingStrings)),
        Some((_, Some(v))) => Some(Setting::ClientEncoding(v.to_ascii_uppercase())),
        Some((_, None)) => Some(Setting::Unknown(ENCODING)),
        None => named.map(Setting::Unknown),
    }
}

/// Client encodings in which a byte of a multibyte character can look like a quote or a
/// backslash: a script in one of them cannot be split byte by byte, as psql knows.
pub fn splits_unsafely(encoding: &str) -> bool {
    let e: String = encoding.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
    matches!(e.as_str(), "SJIS" | "SHIFTJIS" | "MSKANJI" | "SHIFTJIS2004" | "BIG5" | "GBK" | "CP936" | "UHC" | "GB18030" | "JOHAB" | "WIN932" | "WIN936" | "WIN949" | "WIN950")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_statements_as_pg_dump_writes_them_and_others() {
        assert_eq!(copy_source(b"COPY public.t (a, \"b c\") FROM stdin;\n"), Some(CopySource::Stdin));
        assert_eq!(copy_source(b"-- x\n/* y */ copy \"Odd\".\"from\" FROM STDIN WITH (FORMAT text);"), Some(CopySource::Stdin));
        assert_eq!(copy_source(b"COPY t FROM '/etc/passwd';"), Some(CopySource::ServerFile));
        assert_eq!(copy_source(b"COPY t FROM STDOUT;"), Some(CopySource::Stdin));
        assert_eq!(copy_source(b"COPY public.to FROM stdin;"), Some(CopySource::Stdin));
        assert_eq!(copy_source(b"COPY public.from FROM stdin;"), Some(CopySource::Stdin));
        assert_eq!(copy_source(b"COPY t FROM PROGRAM 'id';"), Some(CopySource::Program));
        assert_eq!(copy_source(b"COPY (SELECT 1 FROM x) TO STDOUT;"), Some(CopySource::To));
        assert_eq!(copy_source(b"SELECT 'COPY t FROM stdin';"), None);
        assert_eq!(copy_source(b"CREATE TABLE copy (a int);"), None);
    }

    #[test]
    fn settings_that_change_how_the_script_reads() {
        assert_eq!(setting(b"SET standard_conforming_strings = off;"), Some(Setting::StandardConformingStrings(false)));
        assert_eq!(setting(b"SET standard_conforming_strings TO 'on';"), Some(Setting::StandardConformingStrings(true)));
        assert_eq!(setting(b"SET standard_conforming_strings = fa;"), Some(Setting::StandardConformingStrings(false)));
        assert_eq!(setting(b"RESET ALL;"), Some(Setting::StandardConformingStrings(true)));
        assert_eq!(setting(b"DISCARD ALL;"), Some(Setting::StandardConformingStrings(true)));
        assert_eq!(setting(b"SET client_encoding = 'sjis';"), Some(Setting::ClientEncoding("SJIS".into())));
        assert_eq!(setting(b"SET NAMES 'big5';"), Some(Setting::ClientEncoding("BIG5".into())));
        assert_eq!(setting(b"SET search_path = x;"), None);
        assert_eq!(setting(b"SELECT 1;"), None);
        // What cannot be followed from the text.
        for text in ["SET LOCAL standard_conforming_strings = off;", "SELECT set_config('standard_conforming_strings', 'off', false);", "SET \"standard_conforming_strings\" = off;", "SET standard_conforming_strings = o;"] {
            assert_eq!(setting(text.as_bytes()), Some(Setting::Unknown(SCC)), "{text}");
        }
        assert_eq!(setting(b"SELECT pg_catalog.set_config('client_encoding', 'SJIS', false);"), Some(Setting::Unknown(ENCODING)));
        assert!(splits_unsafely("Shift_JIS") && splits_unsafely("BIG5") && !splits_unsafely("UTF8") && !splits_unsafely("LATIN1"));
    }
}
