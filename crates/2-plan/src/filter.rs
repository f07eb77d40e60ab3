//! `--filter` files (pg_restore.c): one `include|exclude <type> <name>` rule per
//! line, tokenised and normalised exactly as pg_restore 17+ does (`src/bin/pg_dump/filter.c`
//! and `read_restore_filters` in `pg_restore.c`), becoming `FilterRule`s that selection
//! treats like `-t -n -I -P -T -N`.
//!
//! Reading the file is this module's business; what a rule selects is `select`'s.

use std::io::Read;

use bstr::{BString, ByteSlice};

use crate::options::FilterRule;

/// A bad filter file, worded as pg_restore words it after `pg_restore: error: `.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("could not open filter file \"{path}\": {reason}")]
    Open { path: String, reason: String },
    #[error("could not read from filter file \"{path}\": {reason}")]
    Read { path: String, reason: String },
    /// `source_name` is `file "<path>"` or `standard input`.
    #[error("invalid format in filter read from {source_name} on line {line}: {message}")]
    Invalid { source_name: String, line: usize, message: String },
}

/// Parses the filter file at `path` (`-` for standard input).
pub fn parse_filter_file(path: &str) -> Result<Vec<FilterRule>, FilterError> {
    let (text, source_name) = if path == "-" {
        let mut text = Vec::new();
        std::io::stdin().read_to_end(&mut text).map_err(|e| FilterError::Read { path: path.to_owned(), reason: os_reason(&e) })?;
        (text, "standard input".to_owned())
    } else {
        let text = std::fs::read(path).map_err(|e| FilterError::Open { path: path.to_owned(), reason: os_reason(&e) })?;
        (text, format!("file \"{path}\""))
    };
    parse_filter(&text, &source_name)
}

/// The OS's reason text without Rust's " (os error N)" suffix, as C prints `%m`.
fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The object types the filter parser knows (`FilterObjectType`), whether or not pg_restore
/// accepts a rule for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectType {
    TableData,
    TableDataAndChildren,
    Database,
    Extension,
    ForeignData,
    Function,
    Index,
    Schema,
    Table,
    TableAndChildren,
    Trigger,
}

impl ObjectType {
    /// `get_object_type`: keywords compare case-insensitively and must match in full.
    fn from_keyword(word: &[u8]) -> Option<ObjectType> {
        const TYPES: [(&str, ObjectType); 11] = [
            ("table_data", ObjectType::TableData),
            ("table_data_and_children", ObjectType::TableDataAndChildren),
            ("database", ObjectType::Database),
            ("extension", ObjectType::Extension),
            ("foreign_data", ObjectType::ForeignData),
            ("function", ObjectType::Function),
            ("index", ObjectType::Index),
            ("schema", ObjectType::Schema),
            ("table", ObjectType::Table),
            ("table_and_children", ObjectType::TableAndChildren),
            ("trigger", ObjectType::Trigger),
        ];
        TYPES.iter().find(|(k, _)| k.as_bytes().eq_ignore_ascii_case(word)).map(|&(_, t)| t)
    }

    /// `filter_object_type_name`, used in "… is not allowed" messages.
    fn name(self) -> &'static str {
        match self {
            ObjectType::TableData => "table data",
            ObjectType::TableDataAndChildren => "table data and children",
            ObjectType::Database => "database",
            ObjectType::Extension => "extension",
            ObjectType::ForeignData => "foreign data",
            ObjectType::Function => "function",
            ObjectType::Index => "index",
            ObjectType::Schema => "schema",
            ObjectType::Table => "table",
            ObjectType::TableAndChildren => "table and children",
            ObjectType::Trigger => "trigger",
        }
    }
}

/// C `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Lines as `pg_get_line_buf` returns them: each with its `\n`, the last possibly without.
struct Lines<'a> {
    rest: &'a [u8],
    /// Number of the line most recently returned (1-based), for messages.
    number: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let end = self.rest.find_byte(b'\n').map_or(self.rest.len(), |i| i + 1);
        let (line, rest) = self.rest.split_at(end);
        self.rest = rest;
        self.number += 1;
        // C string functions stop at a NUL byte, so nothing after one is ever seen.
        Some(line.find_byte(0).map_or(line, |i| &line[..i]))
    }
}

/// Parses filter rules from `text`; `source_name` (`file "x"` or `standard input`) is used in
/// messages.
pub fn parse_filter(text: &[u8], source_name: &str) -> Result<Vec<FilterRule>, FilterError> {
    let mut lines = Lines { rest: text, number: 0 };
    let mut rules = Vec::new();
    while let Some(line) = lines.next_line() {
        let invalid = |lines: &Lines<'_>, message: String| FilterError::Invalid { source_name: source_name.to_owned(), line: lines.number, message };
        let mut pos = skip_spaces(line, 0);
        if pos >= line.len() || line[pos] == b'#' {
            continue;
        }
        let Some(command) = keyword(line, &mut pos) else {
            return Err(invalid(&lines, "no filter command found (expected \"include\" or \"exclude\")".into()));
        };
        let include = if command.eq_ignore_ascii_case(b"include") {
            true
        } else if command.eq_ignore_ascii_case(b"exclude") {
            false
        } else {
            return Err(invalid(&lines, "invalid filter command (expected \"include\" or \"exclude\")".into()));
        };
        let Some(type_word) = keyword(line, &mut pos) else {
            return Err(invalid(&lines, "missing filter object type".into()));
        };
        let Some(kind) = ObjectType::from_keyword(type_word) else {
            return Err(invalid(&lines, format!("unsupported filter object type: \"{}\"", type_word.as_bstr())));
        };
        let name = read_pattern(&mut lines, line, pos).map_err(|message| invalid(&lines, message))?;
        let rule = match (include, kind) {
            (true, ObjectType::Function) => FilterRule::IncludeFunction(name),
            (true, ObjectType::Index) => FilterRule::IncludeIndex(name),
            (true, ObjectType::Schema) => FilterRule::IncludeSchema(name),
            (true, ObjectType::Table) => FilterRule::IncludeTable(name),
            (true, ObjectType::Trigger) => FilterRule::IncludeTrigger(name),
            (false, ObjectType::Schema) => FilterRule::ExcludeSchema(name),
            (true, other) => return Err(invalid(&lines, format!("include filter for \"{}\" is not allowed", other.name()))),
            (false, other) => return Err(invalid(&lines, format!("exclude filter for \"{}\" is not allowed", other.name()))),
        };
        rules.push(rule);
    }
    Ok(rules)
}

fn skip_spaces(line: &[u8], mut pos: usize) -> usize {
    while pos < line.len() && is_space(line[pos]) {
        pos += 1;
    }
    pos
}

/// `filter_get_keyword`: after optional whitespace, an ASCII letter followed by letters and
/// `_`. `pos` moves past whatever was consumed, even when no keyword is found.
fn keyword<'a>(line: &'a [u8], pos: &mut usize) -> Option<&'a [u8]> {
    let start = skip_spaces(line, *pos);
    *pos = start;
    if start < line.len() && line[start].is_ascii_alphabetic() {
        let mut end = start + 1;
        while end < line.len() && (line[end].is_ascii_alphabetic() || line[end] == b'_') {
            end += 1;
        }
        *pos = end;
        Some(&line[start..end])
    } else {
        None
    }
}

/// `read_pattern`: the object name, normalised the way the server prints names so it can be
/// compared with TOC tags — whitespace runs become one space, none around `.`, `(` and `)`,
/// `,` becomes `, `; double-quoted parts keep their quotes and may continue on the next lines.
/// Stops at `#` (a comment) or the end of the line.
fn read_pattern<'a>(lines: &mut Lines<'a>, first_line: &'a [u8], start: usize) -> Result<BString, String> {
    let mut line = first_line;
    let mut pos = skip_spaces(line, start);
    if pos >= line.len() {
        return Err("missing object name pattern".into());
    }
    let mut out: Vec<u8> = Vec::new();
    let mut skip_space = true;
    let mut found_space = false;
    while pos < line.len() && line[pos] != b'#' {
        while pos < line.len() && !is_space(line[pos]) && !b"#,.()\"".contains(&line[pos]) {
            if !skip_space && found_space {
                out.push(b' ');
                skip_space = true;
            }
            out.push(line[pos]);
            pos += 1;
        }
        skip_space = false;
        match line.get(pos) {
            Some(b'"') => {
                if found_space {
                    out.push(b' ');
                }
                (line, pos) = read_quoted(lines, line, pos, &mut out)?;
            }
            Some(b',') => {
                out.extend_from_slice(b", ");
                skip_space = true;
                pos += 1;
            }
            Some(&c @ (b'.' | b'(' | b')')) => {
                out.push(c);
                skip_space = true;
                pos += 1;
            }
            _ => {}
        }
        found_space = false;
        while pos < line.len() && is_space(line[pos]) {
            found_space = true;
            pos += 1;
        }
    }
    Ok(BString::from(out))
}

/// `read_quoted_string`, starting at the opening `"`: copies the quoted part with its quotes
/// (`""` stays doubled, `\n` and `\\` are unescaped, any other backslash pair is dropped),
/// reading further lines while the quote is open. Returns the line and position after the
/// closing quote.
fn read_quoted<'a>(lines: &mut Lines<'a>, mut line: &'a [u8], mut pos: usize, out: &mut Vec<u8>) -> Result<(&'a [u8], usize), String> {
    out.push(b'"');
    pos += 1;
    loop {
        // Line ends are dropped: a name spanning lines gets exactly one `\n` per line break.
        if pos < line.len() && (line[pos] == b'\r' || line[pos] == b'\n') {
            pos += 1;
            continue;
        }
        if pos >= line.len() {
            line = lines.next_line().ok_or_else(|| "unexpected end of file".to_owned())?;
            pos = 0;
            out.push(b'\n');
        }
        match line.get(pos) {
            Some(b'"') => {
                out.push(b'"');
                pos += 1;
                if line.get(pos) == Some(&b'"') {
                    out.push(b'"');
                    pos += 1;
                } else {
                    return Ok((line, pos));
                }
            }
            Some(b'\\') => {
                pos += 1;
                match line.get(pos) {
                    Some(b'n') => out.push(b'\n'),
                    Some(b'\\') => out.push(b'\\'),
                    _ => {}
                }
                pos += 1;
            }
            Some(&c) => {
                out.push(c);
                pos += 1;
            }
            // An empty continuation line: go round for the next one.
            None => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<FilterRule> {
        parse_filter(text.as_bytes(), "file \"f\"").unwrap()
    }

    fn error(text: &str) -> String {
        parse_filter(text.as_bytes(), "file \"f\"").unwrap_err().to_string()
    }

    #[test]
    fn names_are_normalised() {
        assert_eq!(
            rules("include function  f( integer )\ninclude trigger p   trg # comment\n\n   # only a comment\nexclude schema s1\nINCLUDE TABLE \"My\"\"T\" . x\n"),
            vec![
                FilterRule::IncludeFunction("f(integer)".into()),
                FilterRule::IncludeTrigger("p trg".into()),
                FilterRule::ExcludeSchema("s1".into()),
                FilterRule::IncludeTable("\"My\"\"T\".x".into()),
            ]
        );
        assert_eq!(rules("include function f(a,b ,  c)"), vec![FilterRule::IncludeFunction("f(a, b, c)".into())]);
        assert_eq!(rules("include table a  \"b\" c"), vec![FilterRule::IncludeTable("a \"b\" c".into())]);
    }

    #[test]
    fn quoted_names_span_lines() {
        assert_eq!(rules("include table \"a\r\nb\\n\\\\\"\ninclude schema s\n"), vec![FilterRule::IncludeTable("\"a\nb\n\\\"".into()), FilterRule::IncludeSchema("s".into())]);
        assert_eq!(error("include table \"a\n\nb"), "invalid format in filter read from file \"f\" on line 3: unexpected end of file");
    }

    #[test]
    fn rejected_rules_name_the_line() {
        assert_eq!(error("include table t\ninclude table_data t\n"), "invalid format in filter read from file \"f\" on line 2: include filter for \"table data\" is not allowed");
        assert!(error("exclude table t\n").ends_with("on line 1: exclude filter for \"table\" is not allowed"));
        assert!(error("include Foo t\n").ends_with("unsupported filter object type: \"Foo\""));
        assert!(error("include\n").ends_with("missing filter object type"));
        assert!(error("include 1table t\n").ends_with("missing filter object type"));
        assert!(error("include table\n").ends_with("missing object name pattern"));
        // A comment right after the type leaves an empty name, which pg_restore accepts.
        assert_eq!(rules("include table # nothing\n"), vec![FilterRule::IncludeTable("".into())]);
        assert!(error("frobnicate table t\n").ends_with("invalid filter command (expected \"include\" or \"exclude\")"));
        assert!(error("includes table t\n").ends_with("invalid filter command (expected \"include\" or \"exclude\")"));
        assert!(error("1 table t\n").ends_with("no filter command found (expected \"include\" or \"exclude\")"));
    }
}
