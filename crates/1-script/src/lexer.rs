//! The lexer psql runs over a script, reduced to what splitting it into statements needs:
//! where a statement ends — a `;` outside quotes, comments, parentheses and the body of a
//! `CREATE FUNCTION … BEGIN ATOMIC … END` — and where a meta-command starts: a backslash
//! outside quotes and comments. It must read every string and comment exactly as the server
//! will, or a statement would be cut in the wrong place: a `;` or a backslash inside a
//! string is text, a quote inside a comment is not a quote.
//!
//! It is fed one line at a time (a quote, comment or dollar tag never needs to look past the
//! end of its line to be told), and keeps its state from one line to the next.

use memchr::memmem;

/// Where the scan of a line stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The statement ends with the `;` just before this offset.
    Semicolon(usize),
    /// A meta-command starts with the backslash at this offset.
    Backslash(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Normal,
    /// Inside `'…'`; `escapes` when a backslash escapes the next byte (`E'…'`, or any string
    /// while `standard_conforming_strings` is off).
    Quote { escapes: bool },
    /// Inside `"…"`.
    Ident,
    /// Inside `$tag$…$tag$`; the tag with both dollars.
    Dollar { tag: Vec<u8> },
    LineComment,
    /// Inside `/* … */`, which nest.
    BlockComment { depth: u32 },
}

/// A string just closed: the server joins it with a string that follows after whitespace
/// holding a newline (`'a'` newline `'b'` is `'ab'`), read the same way as the first — but
/// psql, which decides where statements end, only ever sees such a newline inside a line:
/// a carriage return.
#[derive(Debug, Clone, Copy)]
struct Closed {
    escapes: bool,
    newline: bool,
}

#[derive(Debug)]
pub(crate) struct Lexer {
    state: State,
    paren_depth: u32,
    /// `BEGIN` … `END` blocks open in a SQL-standard function body, where `;` ends nothing.
    begin_depth: u32,
    /// Words seen in this statement outside quotes, and the first letters of the first four
    /// (psql tells `CREATE [OR REPLACE] FUNCTION|PROCEDURE` by them).
    words: u32,
    first_letters: [u8; 4],
    closed: Option<Closed>,
    /// Whether `standard_conforming_strings` is on: then only `E'…'` strings have escapes.
    pub std_strings: bool,
    /// Whether the statement so far holds anything but whitespace and comments.
    pub blank: bool,
}

impl Default for Lexer {
    fn default() -> Lexer {
        Lexer { state: State::Normal, paren_depth: 0, begin_depth: 0, words: 0, first_letters: [0; 4], closed: None, std_strings: true, blank: true }
    }
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn ident_cont(b: u8) -> bool {
    ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// The length of a dollar-quote delimiter (`$$`, `$tag$`) starting at `at`, if one does.
fn dollar_tag(line: &[u8], at: usize) -> Option<usize> {
    let rest = line.get(at + 1..)?;
    match rest.first() {
        Some(b'$') => Some(2),
        Some(&b) if ident_start(b) => {
            let len = rest.iter().take_while(|&&b| ident_start(b) || b.is_ascii_digit()).count();
            (rest.get(len) == Some(&b'$')).then_some(len + 2)
        }
        _ => None,
    }
}

impl Lexer {
    /// Whether the lexer is between tokens (not inside a string, identifier or comment):
    /// where the statement may end and a meta-command may start.
    pub fn in_normal(&self) -> bool {
        self.state == State::Normal
    }

    /// Forgets the statement that just ended (the settings stay).
    fn statement_ended(&mut self) {
        self.paren_depth = 0;
        self.begin_depth = 0;
        self.words = 0;
        self.first_letters = [0; 4];
        self.closed = None;
        self.blank = true;
    }

    /// Scans `line` from `from` on; stops at the first `;` that ends the statement or the
    /// first backslash that starts a meta-command, or returns `None` at the end of the line.
    pub fn scan(&mut self, line: &[u8], from: usize) -> Option<Stop> {
        let mut i = from;
        while i < line.len() {
            let b = line[i];
            let next = line.get(i + 1).copied();
            match &mut self.state {
                State::Normal => {
                    if let Some(c) = self.closed.as_mut() {
                        match b {
                            // psql lexes a line without its final newline: a string closed at
                            // the end of a line is over. Only a carriage return inside the line
                            // lets the next string continue it, as the server's rule says.
                            b'\n' => self.closed = None,
                            b'\r' if matches!(next, None | Some(b'\n')) => self.closed = None,
                            b'\r' => c.newline = true,
                            b' ' | b'\t' | b'\x0b' | b'\x0c' => {}
                            b'-' if next == Some(b'-') => {}
                            b'\'' if c.newline => {
                                self.state = State::Quote { escapes: c.escapes };
                                self.closed = None;
                                i += 1;
                                continue;
                            }
                            _ => self.closed = None,
                        }
                    }
                    match b {
                        b'\'' => {
                            self.blank = false;
                            self.state = State::Quote { escapes: !self.std_strings };
                            i += 1;
                        }
                        b'"' => {
                            self.blank = false;
                            self.state = State::Ident;
                            i += 1;
                        }
                        b'$' => {
                            self.blank = false;
                            match dollar_tag(line, i) {
                                Some(len) => {
                                    self.state = State::Dollar { tag: line[i..i + len].to_vec() };
                                    i += len;
                                }
                                // A parameter ($1) or a lone dollar.
                                None => i += 1,
                            }
                        }
                        b'-' if next == Some(b'-') => {
                            self.state = State::LineComment;
                            i += 2;
                        }
                        b'/' if next == Some(b'*') => {
                            self.state = State::BlockComment { depth: 1 };
                            i += 2;
                        }
                        b'(' => {
                            self.blank = false;
                            self.paren_depth = self.paren_depth.saturating_add(1);
                            i += 1;
                        }
                        b')' => {
                            self.blank = false;
                            self.paren_depth = self.paren_depth.saturating_sub(1);
                            i += 1;
                        }
                        b';' => {
                            self.blank = false;
                            i += 1;
                            if self.paren_depth == 0 && self.begin_depth == 0 {
                                self.statement_ended();
                                return Some(Stop::Semicolon(i));
                            }
                        }
                        b'\\' => return Some(Stop::Backslash(i)),
                        b if ident_start(b) => i = self.word(line, i),
                        b if b.is_ascii_digit() => {
                            // A number, with whatever letters the server would read as its
                            // junk or exponent: no word, and no string prefix.
                            self.blank = false;
                            let run = line[i..].iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.').count();
                            i += run;
                            // As psql 15+: a number running into letters is one token of junk
                            // that goes on through `$` (`1a$$` is no dollar quote).
                            if line[i - 1].is_ascii_alphabetic() || line[i - 1] == b'_' {
                                i += line[i..].iter().take_while(|&&b| ident_cont(b)).count();
                            }
                        }
                        b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c' => i += 1,
                        _ => {
                            self.blank = false;
                            i += 1;
                        }
                    }
                }
                State::Quote { escapes } => {
                    let escapes = *escapes;
                    let stop = line[i..].iter().position(|&b| b == b'\'' || (escapes && b == b'\\'));
                    match stop.map(|p| i + p) {
                        None => i = line.len(),
                        Some(at) if line[at] == b'\\' => i = at + 2,
                        Some(at) if line.get(at + 1) == Some(&b'\'') => i = at + 2,
                        Some(at) => {
                            self.state = State::Normal;
                            self.closed = Some(Closed { escapes, newline: false });
                            i = at + 1;
                        }
                    }
                }
                State::Ident => match memchr::memchr(b'"', &line[i..]).map(|p| i + p) {
                    None => i = line.len(),
                    Some(at) if line.get(at + 1) == Some(&b'"') => i = at + 2,
                    Some(at) => {
                        self.state = State::Normal;
                        i = at + 1;
                    }
                },
                State::Dollar { tag } => match memmem::find(&line[i..], tag) {
                    None => i = line.len(),
                    Some(p) => {
                        i += p + tag.len();
                        self.state = State::Normal;
                    }
                },
                // A carriage return ends a comment too, as it does for the server: what follows
                // a bare one on the same line is SQL, whatever an editor shows.
                State::LineComment => match memchr::memchr2(b'\n', b'\r', &line[i..]) {
                    None => i = line.len(),
                    Some(p) => {
                        // The newline ends the comment and is whitespace after it.
                        self.state = State::Normal;
                        i += p;
                    }
                },
                State::BlockComment { depth } => {
                    if b == b'/' && next == Some(b'*') {
                        *depth = depth.saturating_add(1);
                        i += 2;
                    } else if b == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        if *depth == 0 {
                            self.state = State::Normal;
                            // A comment between two strings keeps them apart.
                            self.closed = None;
                        }
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
        }
        None
    }

    /// Reads the word at `at` (the server's identifier or keyword); returns where it ends.
    /// A string prefix (`E'`, `U&'`, `B'`, `X'`, `N'`) opens its string here.
    fn word(&mut self, line: &[u8], at: usize) -> usize {
        self.blank = false;
        let end = at + line[at..].iter().take_while(|&&b| ident_cont(b)).count();
        let word = &line[at..end];
        let quote_at = |n: usize| line.get(end + n) == Some(&b'\'');
        if word.len() == 1 {
            let prefix = word[0].to_ascii_lowercase();
            let opened = match prefix {
                b'e' if quote_at(0) => Some((true, 1)),
                b'b' | b'x' if quote_at(0) => Some((false, 1)),
                b'n' if quote_at(0) => Some((!self.std_strings, 1)),
                b'u' if line.get(end) == Some(&b'&') && quote_at(1) => Some((false, 2)),
                _ => None,
            };
            if let Some((escapes, skip)) = opened {
                self.state = State::Quote { escapes };
                return end + skip;
            }
        }
        // As psql: the first words record whether the statement is CREATE [OR REPLACE]
        // FUNCTION|PROCEDURE (only those five words leave their letter); in one, outside
        // parentheses, BEGIN opens a block, CASE inside a block opens one too (it ends with
        // END), and END closes one.
        const MARKED: [&[u8]; 5] = [b"create", b"function", b"procedure", b"or", b"replace"];
        if MARKED.iter().any(|m| word.eq_ignore_ascii_case(m)) {
            if let Some(slot) = self.first_letters.get_mut(self.words as usize) {
                *slot = word[0].to_ascii_lowercase();
            }
        }
        let f = &self.first_letters;
        let creates_routine = f[0] == b'c' && (f[1] == b'f' || f[1] == b'p' || (f[1] == b'o' && f[2] == b'r' && (f[3] == b'f' || f[3] == b'p')));
        if creates_routine && self.paren_depth == 0 {
            if word.eq_ignore_ascii_case(b"begin") {
                self.begin_depth = self.begin_depth.saturating_add(1);
            } else if word.eq_ignore_ascii_case(b"case") {
                if self.begin_depth >= 1 {
                    self.begin_depth = self.begin_depth.saturating_add(1);
                }
            } else if word.eq_ignore_ascii_case(b"end") {
                self.begin_depth = self.begin_depth.saturating_sub(1);
            }
        }
        self.words = self.words.saturating_add(1);
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements `text` splits into (each with its `;`), and what is left.
    fn split(text: &str) -> (Vec<String>, String) {
        let mut lexer = Lexer::default();
        let mut out = Vec::new();
        let mut current = String::new();
        for line in text.split_inclusive('\n') {
            let bytes = line.as_bytes();
            let mut from = 0;
            while let Some(stop) = lexer.scan(bytes, from) {
                match stop {
                    Stop::Semicolon(end) => {
                        current.push_str(&line[from..end]);
                        out.push(std::mem::take(&mut current).trim().to_owned());
                        from = end;
                    }
                    Stop::Backslash(at) => panic!("meta-command at {at} in {line:?}"),
                }
            }
            current.push_str(&line[from..]);
        }
        (out, current)
    }

    #[test]
    fn semicolons_in_strings_comments_and_identifiers_end_nothing() {
        let (stmts, rest) = split("SELECT ';' , \"a;b\" -- c;\n, 1 /* d; /* e; */ f; */;\nSELECT 2;");
        assert_eq!(stmts, vec!["SELECT ';' , \"a;b\" -- c;\n, 1 /* d; /* e; */ f; */;", "SELECT 2;"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn doubled_quotes_and_escapes() {
        let (stmts, _) = split("SELECT 'it''s;', E'a\\';b', \"x\"\";\";\nSELECT 1;");
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        // With standard_conforming_strings on, a backslash in '' is text: the string ends.
        let (stmts, rest) = split("SELECT 'a\\'; SELECT 2;");
        assert_eq!(stmts, vec!["SELECT 'a\\';", "SELECT 2;"]);
        assert_eq!(rest, "");
    }

    #[test]
    fn off_standard_strings_escape_in_plain_strings() {
        let mut lexer = Lexer { std_strings: false, ..Lexer::default() };
        assert_eq!(lexer.scan(b"SELECT 'a\\'; b';\n", 0), Some(Stop::Semicolon(16)));
    }

    #[test]
    fn dollar_quotes_with_and_without_tags() {
        let body = "CREATE FUNCTION f() RETURNS int AS $_f1$ SELECT 1; $$ ; $_f1$ LANGUAGE sql;\nSELECT $1, a$b$c;";
        let (stmts, rest) = split(body);
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        assert_eq!(rest, "");
        let (stmts, _) = split("DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$;\n");
        assert_eq!(stmts.len(), 1);
    }

    #[test]
    fn a_string_continues_after_a_carriage_return_inside_a_line_only() {
        // E'a\'' CR 'b\'; c' is one escaped string: the second part escapes too.
        let (stmts, rest) = split("SELECT E'a\\''\r'b\\'; c';\n");
        assert_eq!(stmts.len(), 1, "{stmts:?}");
        assert_eq!(rest.trim(), "");
        // At the end of a line the string is over, as psql reads it: 'b\' is a new string.
        let (stmts, _) = split("SELECT E'a\\''\n'b\\'; c';\n");
        assert_eq!(stmts[0], "SELECT E'a\\''\n'b\\';");
        // Without a newline in between, the second string is its own, without escapes.
        let (stmts, _) = split("SELECT E'a\\'' 'b\\'; c';\n");
        assert_eq!(stmts[0], "SELECT E'a\\'' 'b\\';");
    }

    #[test]
    fn begin_atomic_bodies_and_parentheses_hold_semicolons() {
        let f = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 ELSE 2 END;\n  SELECT a;\nEND;\nSELECT 1;";
        let (stmts, _) = split(f);
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        let (stmts, _) = split("CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT 1; END;\nSELECT 2;");
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        let (stmts, _) = split("CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);\nSELECT 3;");
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        // BEGIN as a transaction, or in any other statement, opens nothing.
        let (stmts, _) = split("BEGIN;\nSELECT 1;\nEND;");
        assert_eq!(stmts.len(), 3);
        let (stmts, _) = split("CREATE POLICY p ON t USING (true);\nCREATE FUNCTION g() RETURNS int AS 'select 1' LANGUAGE sql;\nSELECT 1;");
        assert_eq!(stmts.len(), 3, "{stmts:?}");
    }

    #[test]
    fn backslash_outside_quotes_starts_a_meta_command() {
        let mut lexer = Lexer::default();
        assert_eq!(lexer.scan(b"\\connect x\n", 0), Some(Stop::Backslash(0)));
        let mut lexer = Lexer::default();
        assert_eq!(lexer.scan(b"SELECT '\\x' \\gexec\n", 0), Some(Stop::Backslash(12)));
        let mut lexer = Lexer::default();
        assert_eq!(lexer.scan(b"SELECT $$\\!rm$$ -- \\! x\n", 0), None);
    }

    #[test]
    fn a_carriage_return_ends_a_line_comment() {
        let mut lexer = Lexer::default();
        assert_eq!(lexer.scan(b"-- harmless\rDROP TABLE t;\n", 0), Some(Stop::Semicolon(25)));
    }

    #[test]
    fn words_of_one_statement_do_not_reach_the_next() {
        let (stmts, _) = split("CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN 1;\nBEGIN;\nSELECT 1;\nCOMMIT;\n");
        assert_eq!(stmts.len(), 4, "{stmts:?}");
    }

    #[test]
    fn a_number_running_into_letters_swallows_dollars() {
        let mut lexer = Lexer::default();
        assert_eq!(lexer.scan(b"SELECT 1a$$;\n", 0), Some(Stop::Semicolon(12)));
        let mut lexer = Lexer::default();
        assert_eq!(lexer.scan(b"SELECT 1$$;$$;\n", 0), Some(Stop::Semicolon(14)));
    }

    #[test]
    fn unicode_and_bit_string_prefixes() {
        let (stmts, rest) = split("SELECT U&'d\\0061t;', B'01', X'ff', N'a;';\n");
        assert_eq!(stmts.len(), 1, "{stmts:?}");
        assert_eq!(rest.trim(), "");
    }
}
