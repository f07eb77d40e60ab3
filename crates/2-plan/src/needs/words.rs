//! The words of one SQL statement as the server reads them, for telling which roles,
//! extensions and tablespaces it names: identifiers (unquoted ones folded to lower case,
//! quoted ones as written), string literals, punctuation. Strings, dollar-quoted bodies and
//! comments are read whole, so that a word inside them never counts.
//!
//! Where one statement ends in a script is the script reader's business (`pgsurge-script`,
//! whose lexer follows psql); this only walks the text of statements already cut, and an
//! archive entry's definition, which may hold several (an ACL's GRANTs).

/// One token of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An unquoted word or number, ASCII letters folded to lower case as the server folds
    /// an identifier.
    Word(String),
    /// A `"…"` identifier, doubled quotes undone.
    Quoted(String),
    /// A `'…'` or `E'…'` string's value.
    Str(String),
    /// A dollar-quoted string, a parameter or anything else read but not kept.
    Other,
    /// One byte of punctuation.
    Punct(u8),
}

impl Token {
    /// The unquoted word `w` (given in lower case)?
    pub fn is(&self, w: &str) -> bool {
        matches!(self, Token::Word(x) if x == w)
    }

    /// The name this token gives, if it is an identifier.
    pub fn name(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// The tokens of `text`, skipping whitespace and comments. With `std_strings` false (an
/// archive or script written with `standard_conforming_strings` off), a backslash in any
/// `'…'` string escapes the byte after it, as the server then reads it.
pub(crate) struct Words<'a> {
    text: &'a [u8],
    at: usize,
    std_strings: bool,
}

impl<'a> Words<'a> {
    pub fn new(text: &'a [u8], std_strings: bool) -> Words<'a> {
        Words { text, at: 0, std_strings }
    }

    fn byte(&self, offset: usize) -> Option<u8> {
        self.text.get(self.at + offset).copied()
    }

    /// Skips whitespace and comments; false at the end of the text.
    fn skip_space(&mut self) -> bool {
        loop {
            match self.byte(0) {
                None => return false,
                Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') => self.at += 1,
                Some(b'-') if self.byte(1) == Some(b'-') => {
                    let rest = &self.text[self.at..];
                    self.at += rest.iter().position(|&b| b == b'\n' || b == b'\r').unwrap_or(rest.len());
                }
                Some(b'/') if self.byte(1) == Some(b'*') => {
                    // Block comments nest; an unterminated one runs to the end.
                    let mut depth = 0usize;
                    while self.at < self.text.len() {
                        match (self.byte(0), self.byte(1)) {
                            (Some(b'/'), Some(b'*')) => {
                                depth += 1;
                                self.at += 2;
                            }
                            (Some(b'*'), Some(b'/')) => {
                                depth = depth.saturating_sub(1);
                                self.at += 2;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => self.at += 1,
                        }
                    }
                }
                Some(_) => return true,
            }
        }
    }

    /// Reads a quoted run from its opening `quote` to the closing one (a doubled quote
    /// stands for one; with `escapes`, a backslash escapes the next byte); an unclosed one
    /// runs to the end.
    fn quoted(&mut self, quote: u8, escapes: bool) -> String {
        let mut value = Vec::new();
        let mut at = self.at + 1;
        while let Some(&b) = self.text.get(at) {
            if escapes && b == b'\\' {
                if let Some(&next) = self.text.get(at + 1) {
                    value.push(next);
                }
                at += 2;
                continue;
            }
            if b == quote {
                if self.text.get(at + 1) == Some(&quote) {
                    value.push(quote);
                    at += 2;
                    continue;
                }
                at += 1;
                break;
            }
            value.push(b);
            at += 1;
        }
        self.at = at.min(self.text.len());
        String::from_utf8_lossy(&value).into_owned()
    }

    /// A dollar quote's opening tag (`$$`, `$body$`) at the current position: its length.
    fn dollar_tag(&self) -> Option<usize> {
        let rest = self.text.get(self.at + 1..)?;
        let len = rest.iter().take_while(|&&b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80).count();
        // `$1` is a parameter, not a tag.
        if rest.first().is_some_and(u8::is_ascii_digit) || rest.get(len) != Some(&b'$') {
            return None;
        }
        Some(len + 2)
    }
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl Iterator for Words<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if !self.skip_space() {
            return None;
        }
        let c = self.byte(0)?;
        match c {
            b'"' => Some(Token::Quoted(self.quoted(b'"', false))),
            b'\'' => Some(Token::Str(self.quoted(b'\'', !self.std_strings))),
            b'$' => match self.dollar_tag() {
                Some(len) => {
                    let tag = &self.text[self.at..self.at + len];
                    let body = self.at + len;
                    let close = self.text.get(body..).and_then(|rest| rest.windows(len).position(|w| w == tag));
                    self.at = close.map_or(self.text.len(), |p| body + p + len);
                    Some(Token::Other)
                }
                None => {
                    self.at += 1;
                    while self.byte(0).is_some_and(|b| b.is_ascii_digit()) {
                        self.at += 1;
                    }
                    Some(Token::Other)
                }
            },
            c if ident_byte(c) => {
                let start = self.at;
                while self.byte(0).is_some_and(ident_byte) {
                    self.at += 1;
                }
                let word = &self.text[start..self.at];
                // `E'…'` always has escapes; other prefixes (`B'…'`, `U&'…'`) are left as a
                // word and a string, which names nothing either way.
                if self.byte(0) == Some(b'\'') && word.eq_ignore_ascii_case(b"e") {
                    return Some(Token::Str(self.quoted(b'\'', true)));
                }
                Some(Token::Word(String::from_utf8_lossy(&word.to_ascii_lowercase()).into_owned()))
            }
            _ => {
                self.at += 1;
                Some(Token::Punct(c))
            }
        }
    }
}

/// The statements of `text` (an archive entry's definition may hold several), each as its
/// tokens without the closing `;`. A `;` inside parentheses or a `BEGIN ATOMIC … END`
/// body ends nothing.
pub(crate) fn statements(text: &[u8], std_strings: bool) -> Vec<Vec<Token>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0usize;
    let mut atomic = 0usize;
    for token in Words::new(text, std_strings) {
        match &token {
            Token::Punct(b'(') => depth += 1,
            Token::Punct(b')') => depth = depth.saturating_sub(1),
            Token::Word(w) if w == "atomic" && current.last().is_some_and(|t: &Token| t.is("begin")) => atomic += 1,
            Token::Word(w) if w == "end" && atomic > 0 => atomic -= 1,
            Token::Punct(b';') if depth == 0 && atomic == 0 => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                continue;
            }
            _ => {}
        }
        current.push(token);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Token> {
        Words::new(text.as_bytes(), true).collect()
    }

    #[test]
    fn identifiers_fold_as_the_server_folds_them() {
        assert_eq!(
            words("GRANT x TO \"Mixed \"\"Q\"\"\", Bob;"),
            vec![
                Token::Word("grant".into()),
                Token::Word("x".into()),
                Token::Word("to".into()),
                Token::Quoted("Mixed \"Q\"".into()),
                Token::Punct(b','),
                Token::Word("bob".into()),
                Token::Punct(b';'),
            ]
        );
    }

    #[test]
    fn strings_bodies_and_comments_hide_their_words() {
        let t = words("SELECT 'OWNER TO x', $$ OWNER TO y $$, $f$ a $$ b $f$ /* OWNER /* TO */ z */ -- OWNER TO w\n, E'it\\'s', $1");
        assert!(!t.iter().any(|t| t.is("owner")), "{t:?}");
        assert!(t.contains(&Token::Str("it's".into())), "{t:?}");
        // With standard_conforming_strings off, a backslash escapes in any string.
        let t: Vec<Token> = Words::new(b"SET SESSION AUTHORIZATION 'a\\'b'; x", false).collect();
        assert_eq!(t[3], Token::Str("a'b".into()));
        assert!(t.last().is_some_and(|t| t.is("x")));
    }

    #[test]
    fn unterminated_text_ends_the_statement_without_panicking() {
        for text in ["'open", "\"open", "$tag$ open", "/* open", "E'\\", "$", "-- only"] {
            let _ = words(text);
        }
    }

    #[test]
    fn a_definition_splits_into_its_statements() {
        let s = statements(b"SET SESSION AUTHORIZATION alice;\nGRANT SELECT ON TABLE t TO bob;\nRESET SESSION AUTHORIZATION;\n", true);
        assert_eq!(s.len(), 3);
        assert!(s[1][0].is("grant"));
        let s = statements(b"CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; SELECT 2; END; GRANT ALL ON FUNCTION f() TO a;", true);
        assert_eq!(s.len(), 2, "{s:?}");
    }
}
