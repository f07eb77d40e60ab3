//! How a server's error reads: the layout libpq gives `PQerrorMessage` at its default
//! verbosity, which is what pg_restore prints — the message, a `LINE n:` excerpt with a
//! `^` under the error's position in the statement, then DETAIL, HINT, QUERY and CONTEXT.

use tokio_postgres::error::ErrorPosition;

/// Screen columns of statement text shown around an error position, and how far from the
/// excerpt's right end the position should stay (libpq's `DISPLAY_SIZE`, `MIN_RIGHT_CUT`).
const DISPLAY_SIZE: usize = 60;
const MIN_RIGHT_CUT: usize = 10;

/// The error without the statement it came from (a position, if any, is not shown).
pub fn server_message(e: &tokio_postgres::Error) -> String {
    render(e, None)
}

/// The error of statement `query`, with the position excerpt.
pub fn server_message_in(e: &tokio_postgres::Error, query: &str) -> String {
    render(e, Some(query))
}

/// A NOTICE or WARNING the server sent, as libpq formats it for its notice processor.
pub fn notice_message(db: &tokio_postgres::error::DbError) -> String {
    render_db(db, None)
}

fn render(e: &tokio_postgres::Error, query: Option<&str>) -> String {
    let Some(db) = e.as_db_error() else {
        let mut s = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            s.push_str(&format!(": {inner}"));
            source = inner.source();
        }
        return s;
    };
    render_db(db, query)
}

fn render_db(db: &tokio_postgres::error::DbError, query: Option<&str>) -> String {
    let mut s = format!("{}:  {}", db.severity(), db.message());
    let excerpt = match db.position() {
        Some(ErrorPosition::Original(pos)) => match query {
            Some(q) => position_excerpt(q, *pos as usize),
            None => {
                s.push_str(&format!(" at character {pos}"));
                None
            }
        },
        Some(ErrorPosition::Internal { position, query }) => position_excerpt(query, *position as usize),
        None => None,
    };
    if let Some(excerpt) = excerpt {
        s.push('\n');
        s.push_str(&excerpt);
    }
    if let Some(detail) = db.detail() {
        s.push_str(&format!("\nDETAIL:  {detail}"));
    }
    if let Some(hint) = db.hint() {
        s.push_str(&format!("\nHINT:  {hint}"));
    }
    if let Some(ErrorPosition::Internal { query, .. }) = db.position() {
        s.push_str(&format!("\nQUERY:  {query}"));
    }
    if let Some(context) = db.where_() {
        s.push_str(&format!("\nCONTEXT:  {context}"));
    }
    s
}

/// `LINE n: <the line holding character position pos (1-based)>` and a line with `^` under
/// that character, lines longer than the display cut with `...` as libpq cuts them; `None`
/// when the position is outside the text.
fn position_excerpt(query: &str, pos: usize) -> Option<String> {
    let loc = pos.checked_sub(1)?;
    // Per character up to the end of the error's line: byte offset and screen column.
    let mut byte_at: Vec<usize> = Vec::new();
    let mut col_at: Vec<usize> = Vec::new();
    let mut col = 0;
    let mut line = 1;
    let mut begin = 0;
    let mut end = None;
    let mut prev = None;
    for (cno, (offset, ch)) in query.char_indices().enumerate() {
        byte_at.push(offset);
        col_at.push(col);
        if ch == '\r' || ch == '\n' {
            if cno < loc {
                // "\r\n" ends one line, not two.
                if ch == '\r' || prev != Some('\r') {
                    line += 1;
                }
                begin = cno + 1;
            } else {
                end = Some(cno);
                break;
            }
        }
        col += display_width(ch);
        prev = Some(ch);
    }
    let mut end = match end {
        Some(e) => e,
        None => {
            byte_at.push(query.len());
            col_at.push(col);
            byte_at.len() - 1
        }
    };
    if loc > end {
        return None;
    }
    let (mut cut_left, mut cut_right) = (false, false);
    if col_at[end] - col_at[begin] > DISPLAY_SIZE {
        if col_at[begin] + DISPLAY_SIZE >= col_at[loc] + MIN_RIGHT_CUT {
            while col_at[end] - col_at[begin] > DISPLAY_SIZE {
                end -= 1;
            }
            cut_right = true;
        } else {
            while col_at[loc] + MIN_RIGHT_CUT < col_at[end] {
                end -= 1;
                cut_right = true;
            }
            while col_at[end] - col_at[begin] > DISPLAY_SIZE {
                begin += 1;
                cut_left = true;
            }
        }
    }
    let mut prefix = format!("LINE {line}: ");
    if cut_left {
        prefix.push_str("...");
    }
    let text = query.get(byte_at[begin]..byte_at[end]).unwrap_or_default().replace('\t', " ");
    let caret = " ".repeat(prefix.len() + col_at[loc] - col_at[begin]);
    Some(format!("{prefix}{text}{}\n{caret}^", if cut_right { "..." } else { "" }))
}

/// Screen columns of a character as libpq counts them: two for East Asian wide and
/// full-width characters, one for everything else (zero-width and control characters
/// included).
fn display_width(ch: char) -> usize {
    let c = u32::from(ch);
    let wide = matches!(c,
        0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x2FFFD | 0x30000..=0x3FFFD)
        && c != 0x303F;
    if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::position_excerpt;

    #[test]
    fn caret_under_the_position() {
        assert_eq!(position_excerpt("SELEC 1;", 1).as_deref(), Some("LINE 1: SELEC 1;\n        ^"));
        assert_eq!(position_excerpt("CREATE TABLE t (\n    a int NULLS,\n    b int\n);", 28).as_deref(), Some("LINE 2:     a int NULLS,\n                  ^"));
        assert_eq!(position_excerpt("x", 3), None);
        assert_eq!(position_excerpt("x", 0), None);
    }

    #[test]
    fn crlf_is_one_line_break_and_tabs_become_spaces() {
        assert_eq!(position_excerpt("a\r\n\tbad", 5).as_deref(), Some("LINE 2:  bad\n         ^"));
    }

    #[test]
    fn long_lines_are_cut_around_the_position() {
        let long = format!("SELECT {} FROM t WHERE x = y", "a, ".repeat(40));
        // Near the start: cut on the right only.
        let near = position_excerpt(&long, 8).unwrap_or_default();
        assert!(near.starts_with("LINE 1: SELECT a, a,") && near.lines().next().is_some_and(|l| l.ends_with("...")), "{near}");
        assert_eq!(near.lines().next().map(|l| l.len()), Some("LINE 1: ".len() + 60 + 3));
        // Near the end: cut on the left, the caret still under the character.
        let pos = long.len() - 2;
        let far = position_excerpt(&long, pos).unwrap_or_default();
        let (text, caret) = far.split_once('\n').unwrap_or_default();
        assert!(text.starts_with("LINE 1: ...") && !text.ends_with("..."), "{far}");
        assert_eq!(text.as_bytes().get(caret.len() - 1), Some(&b'='), "{far}");
    }

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(position_excerpt("SELECT '日本' x", 13).as_deref(), Some("LINE 1: SELECT '日本' x\n                      ^"));
    }
}
