//! What a statement of a script works on, told from its text, so that a parallel restore knows
//! what it may run beside: the table a `COPY`, an index or a constraint is on, the tables a
//! foreign key joins, a sequence's `setval`. Only the shapes pg_dump writes are recognized;
//! anything else — or anything these rules cannot read with certainty (a dollar quote, an
//! unqualified name, a second subcommand) — is [`Scope::Alone`], which runs after everything
//! before it and before everything after it, as under psql.
//!
//! Names are compared as the server resolves them: an unquoted identifier in lower case, a
//! quoted one as written. A name without its schema could mean any table on the search path,
//! so it makes the statement [`Scope::Alone`].

use bstr::ByteSlice;

/// A table as a statement names it, schema-qualified, each part as the server reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// What a statement works on, for running it beside others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `COPY <table> … FROM stdin`: loads this table's rows.
    Load(TableName),
    /// `CREATE INDEX` on this table: needs what came before it on the same table, and
    /// nothing else; may be built beside other indexes of the table (its lock, `SHARE`, lets
    /// them).
    Index(TableName),
    /// A constraint other than a foreign key on this table alone (`ALTER TABLE ONLY … ADD
    /// CONSTRAINT … PRIMARY KEY | UNIQUE | CHECK | EXCLUDE`): needs what came before it on
    /// the same table, and nothing else.
    Table(TableName),
    /// `ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY … REFERENCES …`: its tables' rows and the
    /// referenced key must be in place, and a partitioned table's rows may be loaded under its
    /// partitions' names, so it waits for all that came before it but other foreign keys.
    ForeignKey(Vec<TableName>),
    /// `SELECT pg_catalog.setval(…)` alone: a sequence's value, needing nothing but the
    /// sequence.
    Sequence,
    /// Anything else.
    Alone,
}

/// The table `text` creates (`CREATE [UNLOGGED] TABLE schema.name …`), if it is that. A
/// restore hands a table's rows to workers only when the script created it: the rows of a
/// table that already existed (a data-only dump) may set off its triggers and keys, which
/// expect the script's order.
pub fn created_table(text: &[u8]) -> Option<TableName> {
    let mut t = Tokens::new(text);
    t.expect_words(&["create"])?;
    t.skip_word("unlogged");
    t.expect_words(&["table"])?;
    let at = t.at;
    if t.word().as_deref() == Some("if") {
        t.expect_words(&["not", "exists"])?;
    } else {
        t.at = at;
    }
    t.table()
}

/// What `text`, one complete statement, works on.
pub fn scope(text: &[u8]) -> Scope {
    classify(&mut Tokens::new(text)).unwrap_or(Scope::Alone)
}

fn classify(t: &mut Tokens<'_>) -> Option<Scope> {
    match t.word()?.as_str() {
        "copy" => {
            let table = t.table()?;
            // The column list, then FROM stdin: whatever else it says, its rows are this
            // table's.
            t.find_word("from")?;
            matches!(t.word()?.as_str(), "stdin").then_some(Scope::Load(table))
        }
        "create" => {
            let mut next = t.word()?;
            if next == "unique" {
                next = t.word()?;
            }
            if next != "index" {
                return None;
            }
            // `CREATE INDEX [IF NOT EXISTS] [name] ON [ONLY] table`; CONCURRENTLY cannot run
            // beside the load of its own table's rows anyway.
            let mut next = t.next()?;
            if next == Token::Word("if".into()) {
                t.expect_words(&["not", "exists"])?;
                next = t.next()?;
            }
            if next != Token::Word("on".into()) {
                match next {
                    Token::Word(w) if w == "concurrently" => return None,
                    Token::Word(_) | Token::Quoted(_) => t.expect_words(&["on"])?,
                    _ => return None,
                }
            }
            t.skip_word("only");
            Some(Scope::Index(t.table()?))
        }
        "alter" => {
            // Without ONLY the constraint reaches the table's children too, whose rows may
            // still be loading under their own names.
            t.expect_words(&["table", "only"])?;
            let table = t.table()?;
            t.expect_words(&["add", "constraint"])?;
            t.name()?;
            match t.word()?.as_str() {
                "primary" | "unique" | "check" | "exclude" => t.rest_is_one_subcommand(0, None).map(|_| Scope::Table(table)),
                "foreign" => {
                    let mut tables = vec![table];
                    t.rest_is_one_subcommand(0, Some(&mut tables))?;
                    (tables.len() > 1).then_some(Scope::ForeignKey(tables))
                }
                _ => None,
            }
        }
        "select" => {
            // `SELECT pg_catalog.setval('…', n, b);` with literal arguments and nothing more:
            // a subquery could read a table still loading.
            t.expect_words(&["pg_catalog"])?;
            t.punct(b'.')?;
            t.expect_words(&["setval"])?;
            t.punct(b'(')?;
            loop {
                match t.next()? {
                    Token::Literal | Token::Punct(b',') => {}
                    Token::Word(w) if w == "true" || w == "false" => {}
                    Token::Punct(b')') => break,
                    _ => return None,
                }
            }
            t.at_end().then_some(Scope::Sequence)
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, in lower case.
    Word(String),
    /// A quoted identifier, as the server reads it.
    Quoted(String),
    /// A string or number.
    Literal,
    Punct(u8),
}

/// The tokens of a statement, as far as these rules need them; `None` once a token is met
/// that they cannot read with certainty.
struct Tokens<'a> {
    text: &'a [u8],
    at: usize,
    /// A token could not be read: what is left is not known to be the statement's end.
    broken: bool,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a [u8]) -> Tokens<'a> {
        Tokens { text, at: 0, broken: false }
    }

    fn peek_byte(&self, offset: usize) -> Option<u8> {
        self.text.get(self.at + offset).copied()
    }

    fn skip_space(&mut self) -> Option<()> {
        loop {
            match self.peek_byte(0) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') => self.at += 1,
                Some(b'-') if self.peek_byte(1) == Some(b'-') => {
                    let rest = &self.text[self.at..];
                    self.at += memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
                }
                Some(b'/') if self.peek_byte(1) == Some(b'*') => {
                    let mut depth = 0usize;
                    let start = self.at;
                    loop {
                        let Some(b) = self.peek_byte(0) else {
                            // An unterminated comment.
                            self.at = start;
                            return None;
                        };
                        match (b, self.peek_byte(1)) {
                            (b'/', Some(b'*')) => {
                                depth += 1;
                                self.at += 2;
                            }
                            (b'*', Some(b'/')) => {
                                depth -= 1;
                                self.at += 2;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => self.at += 1,
                        }
                    }
                }
                _ => return Some(()),
            }
        }
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.token();
        if token.is_none() && self.at < self.text.len() {
            self.broken = true;
        }
        token
    }

    fn token(&mut self) -> Option<Token> {
        self.skip_space()?;
        let c = self.peek_byte(0)?;
        if c == b'"' {
            let body = self.quoted(b'"', false)?;
            return Some(Token::Quoted(String::from_utf8_lossy(&body.replace(b"\"\"", b"\"")).into_owned()));
        }
        if c == b'\'' {
            self.string(false)?;
            return Some(Token::Literal);
        }
        if c.is_ascii_digit() {
            while self.peek_byte(0).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_') {
                self.at += 1;
            }
            return Some(Token::Literal);
        }
        if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = self.at;
            while self.peek_byte(0).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80) {
                self.at += 1;
            }
            let word = self.text[start..self.at].to_ascii_lowercase();
            match self.peek_byte(0) {
                // `E'…'`: backslashes escape; any other prefix to a quote (`U&'…'`, `B'…'`
                // and the like) is left to the server.
                Some(b'\'') if word == b"e" => {
                    self.string(true)?;
                    return Some(Token::Literal);
                }
                Some(b'\'' | b'$' | b'&') => return None,
                _ => {}
            }
            return Some(Token::Word(String::from_utf8_lossy(&word).into_owned()));
        }
        // A dollar quote, a parameter: not for these rules.
        if c == b'$' {
            return None;
        }
        self.at += 1;
        Some(Token::Punct(c))
    }

    /// Skips a string literal starting at its opening quote.
    fn string(&mut self, escapes: bool) -> Option<()> {
        self.quoted(b'\'', escapes).map(|_| ())
    }

    /// Reads text quoted by `quote` from its opening one (a doubled quote stands for one;
    /// with `escapes`, a backslash escapes the byte after it): what lies between, as written.
    /// `None`, and nothing taken, when it is never closed.
    fn quoted(&mut self, quote: u8, escapes: bool) -> Option<&'a [u8]> {
        let start = self.at;
        let mut at = start + 1;
        loop {
            let &b = self.text.get(at)?;
            at += 1;
            if b == b'\\' && escapes {
                at += 1;
            } else if b == quote {
                if self.text.get(at) == Some(&quote) {
                    at += 1;
                } else {
                    self.at = at;
                    return self.text.get(start + 1..at - 1);
                }
            }
        }
    }

    fn word(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) => Some(w),
            _ => None,
        }
    }

    fn expect_words(&mut self, words: &[&str]) -> Option<()> {
        words.iter().all(|w| self.word().as_deref() == Some(w)).then_some(())
    }

    /// Takes `word` if it is next.
    fn skip_word(&mut self, word: &str) {
        let at = self.at;
        if self.word().as_deref() != Some(word) {
            self.at = at;
        }
    }

    fn punct(&mut self, p: u8) -> Option<()> {
        (self.next()? == Token::Punct(p)).then_some(())
    }

    /// An identifier, as the server reads it.
    fn name(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }

    /// `schema.table`; a bare name is not certain enough.
    fn table(&mut self) -> Option<TableName> {
        let schema = self.name()?;
        self.punct(b'.')?;
        let name = self.name()?;
        // `db.schema.table` is not what pg_dump writes.
        let at = self.at;
        if self.next() == Some(Token::Punct(b'.')) {
            return None;
        }
        self.at = at;
        Some(TableName { schema, name })
    }

    /// Reads on to the `;` that ends the statement (or its end), `None` if the statement
    /// holds a second subcommand or anything unreadable. With `references`, the tables
    /// every `REFERENCES` names are added to it.
    fn rest_is_one_subcommand(&mut self, mut depth: usize, mut references: Option<&mut Vec<TableName>>) -> Option<()> {
        loop {
            let Some(token) = self.next() else {
                // The end of the text, or something unreadable.
                return self.at_end().then_some(());
            };
            match token {
                Token::Punct(b'(') => depth += 1,
                Token::Punct(b')') => depth = depth.checked_sub(1)?,
                Token::Punct(b',') if depth == 0 => return None,
                Token::Punct(b';') if depth == 0 => return self.at_end().then_some(()),
                Token::Word(w) if w == "references" => {
                    let table = self.table()?;
                    references.as_deref_mut()?.push(table);
                }
                _ => {}
            }
        }
    }

    /// Whether nothing but space, comments and a `;` is left.
    fn at_end(&mut self) -> bool {
        if self.broken {
            return false;
        }
        loop {
            if self.skip_space().is_none() {
                return false;
            }
            match self.peek_byte(0) {
                None => return true,
                Some(b';') => self.at += 1,
                Some(_) => return false,
            }
        }
    }

    /// Skips to the word `word` at the top level.
    fn find_word(&mut self, word: &str) -> Option<()> {
        loop {
            if self.next()? == Token::Word(word.into()) {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: &str, name: &str) -> TableName {
        TableName { schema: schema.into(), name: name.into() }
    }

    #[test]
    fn what_pg_dump_writes_is_placed() {
        let cases: Vec<(&str, Scope)> = vec![
            ("COPY public.t (a, b) FROM stdin;", Scope::Load(table("public", "t"))),
            ("COPY \"MixedCase\".\"Order Items\" (\"Id\", note) FROM stdin;", Scope::Load(table("MixedCase", "Order Items"))),
            ("CREATE INDEX t_a_idx ON public.t USING btree (a);", Scope::Index(table("public", "t"))),
            ("CREATE UNIQUE INDEX u ON ONLY public.parent USING btree (id);", Scope::Index(table("public", "parent"))),
            ("ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);", Scope::Table(table("public", "t"))),
            ("ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_c CHECK (((note <> ';'::text) AND (a > 0)));", Scope::Table(table("public", "t"))),
            ("ALTER TABLE ONLY public.booking\n    ADD CONSTRAINT x EXCLUDE USING gist (during WITH &&);", Scope::Table(table("public", "booking"))),
            (
                "ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_p_fkey FOREIGN KEY (p) REFERENCES public.parent(id) ON DELETE CASCADE;",
                Scope::ForeignKey(vec![table("public", "child"), table("public", "parent")]),
            ),
            ("SELECT pg_catalog.setval('public.s_id_seq', 42, true);", Scope::Sequence),
        ];
        for (sql, want) in cases {
            assert_eq!(scope(sql.as_bytes()), want, "{sql}");
        }
    }

    #[test]
    fn anything_uncertain_runs_alone() {
        for sql in [
            "CREATE TABLE public.t (a int);",
            "CREATE INDEX i ON t (a);",
            "CREATE INDEX CONCURRENTLY i ON public.t (a);",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK (a > 0), ADD COLUMN b int;",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK (a > $1);",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT c FOREIGN KEY (p) REFERENCES parent(id);",
            "ALTER TABLE ONLY public.t OWNER TO app;",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK ((a <> U&'\\0041'));",
            "SELECT pg_catalog.setval('s', 1, true); DROP TABLE x;",
            "SELECT pg_catalog.setval('s', 1, true), pg_sleep(10);",
            "SELECT pg_catalog.lo_create('16401');",
            "SELECT pg_catalog.setval('s', (SELECT max(id) FROM public.t), true);",
            "ALTER TABLE public.t ADD CONSTRAINT c CHECK (a > 0);",
            "ALTER TABLE public.t DISABLE TRIGGER ALL;",
            "COPY public.t (a) FROM '/etc/passwd';",
            "COPY db.public.t FROM stdin;",
            "ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK ((a <> 'x",
        ] {
            assert_eq!(scope(sql.as_bytes()), Scope::Alone, "{sql}");
        }
    }

    #[test]
    fn the_tables_a_script_creates_are_named() {
        assert_eq!(created_table(b"CREATE TABLE public.t (\n    a integer\n);"), Some(table("public", "t")));
        assert_eq!(created_table(b"CREATE UNLOGGED TABLE \"S\".\"T x\" (a int);"), Some(table("S", "T x")));
        assert_eq!(created_table(b"CREATE TABLE IF NOT EXISTS public.t (a int);"), Some(table("public", "t")));
        assert_eq!(created_table(b"CREATE TABLE t (a int);"), None);
        assert_eq!(created_table(b"CREATE VIEW public.v AS SELECT 1;"), None);
    }

    #[test]
    fn quoting_and_comments_are_read_as_the_server_reads_them() {
        // `"T"` and `t` are two tables; `"t"` and `T` are one.
        assert_eq!(scope(b"CREATE INDEX i ON public.\"T\" (a);"), Scope::Index(table("public", "T")));
        assert_eq!(scope(b"CREATE INDEX i ON Public.T (a);"), Scope::Index(table("public", "t")));
        assert_eq!(scope(b"CREATE INDEX \"a\"\"b\" ON public.\"x\"\"y\" (a);"), Scope::Index(table("public", "x\"y")));
        // A REFERENCES inside a string or a comment names nothing.
        assert_eq!(
            scope(b"ALTER TABLE ONLY public.t ADD CONSTRAINT c CHECK ((note <> E'\\' REFERENCES public.x'::text)) /* REFERENCES public.y */;"),
            Scope::Table(table("public", "t"))
        );
    }
}
