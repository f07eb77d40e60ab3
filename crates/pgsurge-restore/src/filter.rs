//! `--filter` files (RESTORE_SEMANTICS.md §11): one `include|exclude <type> <name>` rule per
//! line, normalised and checked as pg_restore 17+ does, becoming `FilterRule`s.

use std::io::Read;

use bstr::BString;

use crate::options::FilterRule;

/// A bad filter file, worded as pg_restore words it.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("could not open filter file \"{path}\": {reason}")]
    Open { path: String, reason: String },
    #[error("invalid format in filter read from {source_name} on line {line}: {message}")]
    Invalid { source_name: String, line: usize, message: String },
}

/// Parses the filter file at `path` (`-` for standard input).
pub fn parse_filter_file(path: &str) -> Result<Vec<FilterRule>, FilterError> {
    let mut text = Vec::new();
    let source_name = if path == "-" {
        std::io::stdin().read_to_end(&mut text).map_err(|e| FilterError::Open { path: path.to_owned(), reason: e.to_string() })?;
        "standard input".to_owned()
    } else {
        text = std::fs::read(path).map_err(|e| FilterError::Open { path: path.to_owned(), reason: reason(&e) })?;
        format!("file \"{path}\"")
    };
    parse_filter(&text, &source_name)
}

fn reason(e: &std::io::Error) -> String {
    let t = e.to_string();
    t.find(" (os error").map(|i| t[..i].to_owned()).unwrap_or(t)
}

/// Parses filter rules from `text`; `source_name` is used in messages.
pub fn parse_filter(text: &[u8], source_name: &str) -> Result<Vec<FilterRule>, FilterError> {
    let mut rules = Vec::new();
    let invalid = |line: usize, message: String| FilterError::Invalid { source_name: source_name.to_owned(), line, message };
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line_no = n + 1;
        let line = strip_comment(raw);
        let mut words = line.split(|b: &u8| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
        let Some(command) = words.next() else { continue };
        let include = match command.to_ascii_lowercase().as_slice() {
            b"include" => true,
            b"exclude" => false,
            _ => return Err(invalid(line_no, "invalid filter command (expected \"include\" or \"exclude\")".into())),
        };
        let Some(kind) = words.next() else { return Err(invalid(line_no, "missing filter object type".into())) };
        let kind = String::from_utf8_lossy(&kind.to_ascii_lowercase()).into_owned();
        let known = ["table", "table_and_children", "table_data", "table_data_and_children", "schema", "index", "function", "trigger", "database", "extension", "foreign_data"];
        if !known.contains(&kind.as_str()) {
            return Err(invalid(line_no, format!("unsupported filter object type: \"{kind}\"")));
        }
        // The name: the rest of the line after the type keyword, normalised.
        let after_kind = rest_after_words(line, 2);
        let name = normalize(after_kind);
        if name.is_empty() {
            return Err(invalid(line_no, "missing object name pattern".into()));
        }
        let printable = kind.replace('_', " ");
        let rule = match (include, kind.as_str()) {
            (true, "table") => FilterRule::IncludeTable(name),
            (true, "schema") => FilterRule::IncludeSchema(name),
            (true, "index") => FilterRule::IncludeIndex(name),
            (true, "function") => FilterRule::IncludeFunction(name),
            (true, "trigger") => FilterRule::IncludeTrigger(name),
            (false, "schema") => FilterRule::ExcludeSchema(name),
            (true, _) => return Err(invalid(line_no, format!("include filter for \"{printable}\" is not allowed"))),
            (false, _) => return Err(invalid(line_no, format!("exclude filter for \"{printable}\" is not allowed"))),
        };
        rules.push(rule);
    }
    Ok(rules)
}

/// Cuts a `#` comment that is outside double quotes.
fn strip_comment(line: &[u8]) -> &[u8] {
    let mut quoted = false;
    for (i, &b) in line.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The bytes after the first `n` whitespace-separated words.
fn rest_after_words(line: &[u8], n: usize) -> &[u8] {
    let mut i = 0;
    for _ in 0..n {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < line.len() && !line[i].is_ascii_whitespace() {
            i += 1;
        }
    }
    &line[i..]
}

/// Whitespace runs collapse to one space, spaces around `.` `(` `)` go, `,` becomes `, `;
/// double-quoted parts are kept as written.
fn normalize(s: &[u8]) -> BString {
    let mut out: Vec<u8> = Vec::new();
    let mut quoted = false;
    let mut pending_space = false;
    for &b in s {
        if quoted {
            out.push(b);
            if b == b'"' {
                quoted = false;
            }
            continue;
        }
        match b {
            b'"' => {
                if pending_space && !out.is_empty() && !matches!(out.last(), Some(b'.' | b'(' | b' ')) {
                    out.push(b' ');
                }
                pending_space = false;
                quoted = true;
                out.push(b);
            }
            b' ' | b'\t' | b'\r' => pending_space = true,
            b'.' | b'(' | b')' => {
                while out.last() == Some(&b' ') {
                    out.pop();
                }
                pending_space = false;
                out.push(b);
            }
            b',' => {
                while out.last() == Some(&b' ') {
                    out.pop();
                }
                out.extend_from_slice(b", ");
                pending_space = false;
            }
            _ => {
                if pending_space && !out.is_empty() && !matches!(out.last(), Some(b'.' | b'(' | b' ')) {
                    out.push(b' ');
                }
                pending_space = false;
                out.push(b);
            }
        }
    }
    BString::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised() {
        let rules = parse_filter(b"include function  f( integer )\ninclude trigger p   trg # comment\n\n# only a comment\nexclude schema s1\n", "x").unwrap();
        assert_eq!(
            rules,
            vec![
                FilterRule::IncludeFunction("f(integer)".into()),
                FilterRule::IncludeTrigger("p trg".into()),
                FilterRule::ExcludeSchema("s1".into())
            ]
        );
    }

    #[test]
    fn rejected_rules_name_the_line() {
        let e = parse_filter(b"include table t\ninclude table_data t\n", "file \"f\"").unwrap_err();
        assert_eq!(e.to_string(), "invalid format in filter read from file \"f\" on line 2: include filter for \"table data\" is not allowed");
        let e = parse_filter(b"exclude table t\n", "file \"f\"").unwrap_err();
        assert!(e.to_string().ends_with("exclude filter for \"table\" is not allowed"));
        let e = parse_filter(b"include foo t\n", "file \"f\"").unwrap_err();
        assert!(e.to_string().ends_with("unsupported filter object type: \"foo\""));
        let e = parse_filter(b"include\n", "file \"f\"").unwrap_err();
        assert!(e.to_string().ends_with("missing filter object type"));
        let e = parse_filter(b"include table\n", "file \"f\"").unwrap_err();
        assert!(e.to_string().ends_with("missing object name pattern"));
        let e = parse_filter(b"frobnicate table t\n", "file \"f\"").unwrap_err();
        assert!(e.to_string().ends_with("invalid filter command (expected \"include\" or \"exclude\")"));
    }
}
