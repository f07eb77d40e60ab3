//! What one statement needs from the server, or makes there, told from its words: the
//! roles a `GRANT`, `REVOKE`, `ALTER … OWNER TO`, `ALTER DEFAULT PRIVILEGES`, policy, user
//! mapping or session setting names; the extension `CREATE EXTENSION` creates; the
//! tablespaces a `TABLESPACE` clause or `default_tablespace` names; and the roles and
//! tablespaces a pg_dumpall script creates itself. Only what pg_dump and pg_dumpall write
//! is read with care; anything else names nothing, which at worst leaves a need unchecked.

use super::words::Token;
use super::RoleUseKind;

/// One thing a statement names or creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    Role(String, RoleUseKind),
    Extension { name: String, schema: Option<String>, version: Option<String> },
    Tablespace(String),
    /// `CREATE ROLE`, `CREATE USER`, `CREATE GROUP`.
    CreatesRole(String),
    CreatesTablespace(String),
    /// `SET standard_conforming_strings`: how the statements after it read.
    StdStrings(bool),
    /// `CREATE DATABASE`'s options, by lower-case key, values as written.
    Database { name: String, options: Vec<(String, String)> },
}

/// Role names that are keywords when unquoted, never roles a restore must find (`USER`
/// is `CURRENT_USER`, as in `CREATE USER MAPPING FOR USER`).
fn is_pseudo_role(token: &Token) -> bool {
    matches!(token, Token::Word(w) if matches!(w.as_str(), "public" | "current_user" | "session_user" | "current_role" | "user"))
}

/// What the statement `t` (its tokens, without the closing `;`) names.
pub(crate) fn analyze(t: &[Token]) -> Vec<Named> {
    let mut out = Vec::new();
    let word = |i: usize| match t.get(i) {
        Some(Token::Word(w)) => w.as_str(),
        _ => "",
    };
    match word(0) {
        "grant" => grant_or_revoke(t, 1, "to", RoleUseKind::Grantee, &mut out),
        "revoke" => grant_or_revoke(t, 1, "from", RoleUseKind::Grantee, &mut out),
        "set" => set(t, &mut out),
        "alter" => match word(1) {
            "default" if word(2) == "privileges" => default_privileges(t, &mut out),
            "policy" => {
                if !top_level(t).any(|(_, tok)| tok.is("rename")) {
                    after_word(t, "to", RoleUseKind::Policy, &mut out);
                }
            }
            "user" if word(2) == "mapping" => after_word(t, "for", RoleUseKind::UserMapping, &mut out),
            "role" | "user" | "group" => {
                if let Some(name) = t.get(2).filter(|tok| !is_pseudo_role(tok) && !tok.is("all")).and_then(Token::name) {
                    out.push(Named::Role(name.to_owned(), RoleUseKind::RoleSettings));
                }
            }
            _ => {
                owner_to(t, &mut out);
                tablespace_clauses(t, &mut out);
            }
        },
        "create" => create(t, &mut out),
        _ => {}
    }
    out
}

/// The tokens outside parentheses, with their positions.
fn top_level(t: &[Token]) -> impl Iterator<Item = (usize, &Token)> {
    let mut depth = 0usize;
    t.iter().enumerate().filter(move |(_, tok)| match tok {
        Token::Punct(b'(') => {
            depth += 1;
            false
        }
        Token::Punct(b')') => {
            depth = depth.saturating_sub(1);
            false
        }
        _ => depth == 0,
    })
}

/// The roles of a list `a, "B", GROUP c` starting at `at`, each as `kind`; returns where
/// the list ends.
fn role_list(t: &[Token], mut at: usize, kind: RoleUseKind, out: &mut Vec<Named>) -> usize {
    loop {
        // `TO GROUP staff`, the old spelling of `TO staff`.
        if t.get(at).is_some_and(|tok| tok.is("group")) && t.get(at + 1).and_then(Token::name).is_some() {
            at += 1;
        }
        match t.get(at) {
            Some(tok) if is_pseudo_role(tok) => {}
            Some(tok @ (Token::Word(_) | Token::Quoted(_))) => {
                if let Some(name) = tok.name() {
                    out.push(Named::Role(name.to_owned(), kind));
                }
            }
            _ => return at,
        }
        if t.get(at + 1) != Some(&Token::Punct(b',')) {
            return at + 1;
        }
        at += 2;
    }
}

/// The roles after the first top-level `word` (`TO` of a policy, `FOR` of a user mapping).
fn after_word(t: &[Token], word: &str, kind: RoleUseKind, out: &mut Vec<Named>) {
    if let Some((at, _)) = top_level(t).find(|(_, tok)| tok.is(word)) {
        role_list(t, at + 1, kind, out);
    }
}

/// `GRANT … TO roles` / `REVOKE … FROM roles` from `start`, with `GRANTED BY role`. A
/// `GRANT` without `ON` grants roles: those are needed too.
fn grant_or_revoke(t: &[Token], start: usize, keyword: &str, kind: RoleUseKind, out: &mut Vec<Named>) {
    let rest = t.get(start..).unwrap_or_default();
    let Some((at, _)) = top_level(rest).find(|(_, tok)| tok.is(keyword)) else { return };
    if !top_level(&rest[..at]).any(|(_, tok)| tok.is("on")) {
        // `GRANT a, b TO c` (role membership); `REVOKE [ADMIN OPTION FOR] a FROM c`.
        let first = rest.iter().position(|tok| !(tok.is("admin") || tok.is("inherit") || tok.is("set") || tok.is("option") || tok.is("for") || tok.is("grant"))).unwrap_or(at);
        if first < at {
            role_list(rest, first, RoleUseKind::Member, out);
        }
    }
    let end = role_list(rest, at + 1, kind, out);
    if let Some((by, _)) = top_level(rest).skip_while(|(i, _)| *i < end).find(|(i, tok)| tok.is("granted") && rest.get(i + 1).is_some_and(|b| b.is("by"))) {
        role_list(rest, by + 2, RoleUseKind::Grantor, out);
    }
}

/// `ALTER DEFAULT PRIVILEGES [FOR ROLE a, …] [IN SCHEMA …] GRANT|REVOKE …`.
fn default_privileges(t: &[Token], out: &mut Vec<Named>) {
    if t.get(3).is_some_and(|tok| tok.is("for")) && t.get(4).is_some_and(|tok| tok.is("role") || tok.is("user")) {
        role_list(t, 5, RoleUseKind::DefaultPrivileges, out);
    }
    if let Some((at, tok)) = top_level(t).find(|(_, tok)| tok.is("grant") || tok.is("revoke")) {
        let keyword = if tok.is("grant") { "to" } else { "from" };
        grant_or_revoke(t, at + 1, keyword, RoleUseKind::Grantee, out);
    }
}

/// `SET [SESSION|LOCAL] SESSION AUTHORIZATION x`, `SET ROLE x`, `SET default_tablespace`,
/// `SET standard_conforming_strings`.
fn set(t: &[Token], out: &mut Vec<Named>) {
    let mut at = 1;
    while t.get(at).is_some_and(|tok| tok.is("session") || tok.is("local")) && t.get(at + 1).is_some_and(|tok| matches!(tok, Token::Word(_))) {
        at += 1;
    }
    // `SET SESSION AUTHORIZATION` reads the `SESSION` above as a scope: it is part of the
    // name, and `AUTHORIZATION` follows.
    let value = |at: usize| -> Option<&Token> {
        match t.get(at) {
            Some(Token::Punct(b'=')) => t.get(at + 1),
            Some(tok) if tok.is("to") => t.get(at + 1),
            other => other,
        }
    };
    let name_of = |tok: Option<&Token>| -> Option<String> {
        match tok? {
            Token::Word(w) if w == "default" || w == "none" => None,
            Token::Word(w) | Token::Quoted(w) | Token::Str(w) => Some(w.clone()),
            _ => None,
        }
    };
    match t.get(at) {
        Some(tok) if tok.is("authorization") => {
            if let Some(name) = name_of(t.get(at + 1)) {
                out.push(Named::Role(name, RoleUseKind::SessionAuthorization));
            }
        }
        Some(tok) if tok.is("role") => {
            if let Some(name) = name_of(t.get(at + 1)) {
                out.push(Named::Role(name, RoleUseKind::SetRole));
            }
        }
        Some(tok) if tok.is("default_tablespace") => {
            if let Some(name) = name_of(value(at + 1)).filter(|n| !n.is_empty()) {
                out.push(Named::Tablespace(name));
            }
        }
        Some(tok) if tok.is("standard_conforming_strings") => {
            let on = match value(at + 1) {
                Some(Token::Word(w) | Token::Str(w)) => matches!(w.to_ascii_lowercase().as_str(), "on" | "true" | "yes" | "1" | "default"),
                _ => true,
            };
            out.push(Named::StdStrings(on));
        }
        _ => {}
    }
}

/// `OWNER TO role` anywhere at the top level of an `ALTER`.
fn owner_to(t: &[Token], out: &mut Vec<Named>) {
    let owner = top_level(t).find(|(i, tok)| tok.is("owner") && t.get(i + 1).is_some_and(|n| n.is("to")));
    if let Some((at, _)) = owner {
        role_list(t, at + 2, RoleUseKind::Owner, out);
    }
}

/// `TABLESPACE x` (`TABLESPACE = x` in `CREATE DATABASE`), anywhere but in a string: a
/// table's, an index's, a constraint's `USING INDEX TABLESPACE`, `SET TABLESPACE`.
fn tablespace_clauses(t: &[Token], out: &mut Vec<Named>) {
    for (i, tok) in t.iter().enumerate() {
        if !tok.is("tablespace") {
            continue;
        }
        // A column may be named `tablespace` (`(tablespace text, …)`, `ADD COLUMN
        // tablespace`): there the word starts a column, not a clause.
        let before = i.checked_sub(1).and_then(|b| t.get(b));
        if before.is_some_and(|b| matches!(b, Token::Punct(b'(' | b',')) || ["column", "add", "drop", "rename", "alter"].iter().any(|w| b.is(w))) {
            continue;
        }
        let at = if t.get(i + 1) == Some(&Token::Punct(b'=')) { i + 2 } else { i + 1 };
        if let Some(name) = t.get(at).and_then(Token::name) {
            out.push(Named::Tablespace(name.to_owned()));
        }
    }
}

fn create(t: &[Token], out: &mut Vec<Named>) {
    let word = |i: usize| match t.get(i) {
        Some(Token::Word(w)) => w.as_str(),
        _ => "",
    };
    match word(1) {
        "role" | "group" | "user" if word(2) != "mapping" => {
            let at = if word(2) == "if" { 5 } else { 2 };
            if let Some(name) = t.get(at).and_then(Token::name) {
                out.push(Named::CreatesRole(name.to_owned()));
            }
        }
        "user" => {
            // `CREATE USER MAPPING [IF NOT EXISTS] FOR role SERVER s`.
            after_word(t, "for", RoleUseKind::UserMapping, out);
        }
        "tablespace" => {
            if let Some(name) = t.get(2).and_then(Token::name) {
                out.push(Named::CreatesTablespace(name.to_owned()));
            }
            if let Some((at, _)) = top_level(t).find(|(_, tok)| tok.is("owner")) {
                role_list(t, at + 1, RoleUseKind::Owner, out);
            }
        }
        "extension" => {
            let at = if word(2) == "if" { 5 } else { 2 };
            let Some(name) = t.get(at).and_then(Token::name) else { return };
            let after = |key: &str| -> Option<String> {
                let (i, _) = t.iter().enumerate().skip(at + 1).find(|(_, tok)| tok.is(key))?;
                match t.get(i + 1)? {
                    Token::Word(w) | Token::Quoted(w) | Token::Str(w) => Some(w.clone()),
                    _ => None,
                }
            };
            out.push(Named::Extension { name: name.to_owned(), schema: after("schema"), version: after("version") });
        }
        "policy" => after_word(t, "to", RoleUseKind::Policy, out),
        "schema" => {
            if let Some((at, _)) = t.iter().enumerate().find(|(_, tok)| tok.is("authorization")) {
                role_list(t, at + 1, RoleUseKind::Owner, out);
            }
        }
        "database" => {
            let Some(name) = t.get(2).and_then(Token::name) else { return };
            let mut options = Vec::new();
            let mut i = 3;
            while i < t.len() {
                if let (Some(Token::Word(key)), Some(Token::Punct(b'='))) = (t.get(i), t.get(i + 1)) {
                    if let Some(Token::Word(v) | Token::Quoted(v) | Token::Str(v)) = t.get(i + 2) {
                        options.push((key.clone(), v.clone()));
                        i += 3;
                        continue;
                    }
                }
                i += 1;
            }
            for (key, value) in &options {
                match key.as_str() {
                    "owner" => out.push(Named::Role(value.clone(), RoleUseKind::Owner)),
                    "tablespace" => out.push(Named::Tablespace(value.clone())),
                    _ => {}
                }
            }
            out.push(Named::Database { name: name.to_owned(), options });
        }
        _ => tablespace_clauses(t, out),
    }
}

#[cfg(test)]
mod tests {
    use super::super::words::statements;
    use super::*;

    fn named(sql: &str) -> Vec<Named> {
        statements(sql.as_bytes(), true).iter().flat_map(|s| analyze(s)).collect()
    }

    fn role(name: &str, kind: RoleUseKind) -> Named {
        Named::Role(name.into(), kind)
    }

    #[test]
    fn grants_and_revokes_as_pg_dump_writes_them() {
        use RoleUseKind::*;
        assert_eq!(named("GRANT SELECT(t),UPDATE(t) ON TABLE public.types TO alice;"), vec![role("alice", Grantee)]);
        assert_eq!(named("REVOKE ALL ON FUNCTION public.add_one(integer) FROM PUBLIC;"), vec![]);
        assert_eq!(named("GRANT ALL ON SCHEMA s TO \"Mixed \"\"Q\"\"\", bob WITH GRANT OPTION GRANTED BY carol;"), vec![role("Mixed \"Q\"", Grantee), role("bob", Grantee), role("carol", Grantor)]);
        assert_eq!(named("REVOKE GRANT OPTION FOR SELECT ON t FROM GROUP staff, CURRENT_USER CASCADE;"), vec![role("staff", Grantee)]);
        assert_eq!(named("GRANT SELECT ON \"to\".\"from\" TO x;"), vec![role("x", Grantee)]);
        // A role granted to a role: both are needed.
        assert_eq!(named("GRANT admins TO alice WITH ADMIN OPTION GRANTED BY postgres;"), vec![role("admins", Member), role("alice", Grantee), role("postgres", Grantor)]);
        // A grantor other than the owner, as older pg_dump writes it.
        assert_eq!(
            named("SET SESSION AUTHORIZATION alice;\nGRANT SELECT ON TABLE t TO bob;\nRESET SESSION AUTHORIZATION;"),
            vec![role("alice", SessionAuthorization), role("bob", Grantee)]
        );
    }

    #[test]
    fn default_privileges_policies_mappings_and_owners() {
        use RoleUseKind::*;
        assert_eq!(named("ALTER DEFAULT PRIVILEGES FOR ROLE alice IN SCHEMA public GRANT SELECT ON TABLES TO bob;"), vec![role("alice", DefaultPrivileges), role("bob", Grantee)]);
        assert_eq!(named("ALTER DEFAULT PRIVILEGES FOR ROLE postgres REVOKE ALL ON FUNCTIONS FROM PUBLIC;"), vec![role("postgres", DefaultPrivileges)]);
        assert_eq!(named("CREATE POLICY p ON public.child FOR INSERT TO alice, \"B\" WITH CHECK ((x IS NOT NULL));"), vec![role("alice", Policy), role("B", Policy)]);
        assert_eq!(named("CREATE POLICY p ON public.child USING ((extra > 0));"), vec![]);
        assert_eq!(named("ALTER POLICY p ON t RENAME TO q;"), vec![]);
        assert_eq!(named("CREATE USER MAPPING FOR alice SERVER s OPTIONS (user 'x');"), vec![role("alice", UserMapping)]);
        assert_eq!(named("CREATE USER MAPPING FOR PUBLIC SERVER s;"), vec![]);
        assert_eq!(named("ALTER TABLE ONLY public.t OWNER TO \"App\";"), vec![role("App", Owner)]);
        assert_eq!(named("ALTER FUNCTION public.f(text) OWNER TO alice;"), vec![role("alice", Owner)]);
        assert_eq!(named("CREATE SCHEMA s AUTHORIZATION bob;"), vec![role("bob", Owner)]);
        assert_eq!(named("SET ROLE 'ops'; SET ROLE NONE; SET SESSION AUTHORIZATION DEFAULT;"), vec![role("ops", SetRole)]);
        assert_eq!(named("ALTER ROLE app IN DATABASE d SET search_path = x;"), vec![role("app", RoleSettings)]);
    }

    #[test]
    fn what_a_script_creates() {
        assert_eq!(named("CREATE ROLE app;"), vec![Named::CreatesRole("app".into())]);
        assert_eq!(named("CREATE USER \"U\" WITH LOGIN;"), vec![Named::CreatesRole("U".into())]);
        assert_eq!(named("CREATE TABLESPACE ts OWNER alice LOCATION '/x';"), vec![Named::CreatesTablespace("ts".into()), role("alice", RoleUseKind::Owner)]);
        assert_eq!(
            named("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public VERSION '1.6';"),
            vec![Named::Extension { name: "pg_trgm".into(), schema: Some("public".into()), version: Some("1.6".into()) }]
        );
        assert_eq!(named("CREATE EXTENSION postgis;"), vec![Named::Extension { name: "postgis".into(), schema: None, version: None }]);
    }

    #[test]
    fn tablespaces_named_by_clauses_and_settings() {
        assert_eq!(named("SET default_tablespace = fixture_ts;"), vec![Named::Tablespace("fixture_ts".into())]);
        assert_eq!(named("SET default_tablespace = '';"), vec![]);
        assert_eq!(named("CREATE INDEX i ON public.t USING btree (a) TABLESPACE \"Fast\";"), vec![Named::Tablespace("Fast".into())]);
        assert_eq!(named("CREATE TABLE t (a int, CONSTRAINT k PRIMARY KEY (a) USING INDEX TABLESPACE ix) TABLESPACE data;"), vec![Named::Tablespace("ix".into()), Named::Tablespace("data".into())]);
        assert_eq!(named("ALTER TABLE t SET TABLESPACE cold;"), vec![Named::Tablespace("cold".into())]);
        assert_eq!(named("CREATE TABLE t (id int, tablespace text, CONSTRAINT u UNIQUE (tablespace));"), vec![]);
        assert_eq!(named("ALTER TABLE t ADD COLUMN tablespace text;"), vec![]);
        assert_eq!(named("CREATE FUNCTION f() RETURNS text AS $$ SELECT 'TABLESPACE x' $$ LANGUAGE sql;"), vec![]);
    }

    #[test]
    fn create_database_options() {
        let got = named("CREATE DATABASE src WITH TEMPLATE = template0 ENCODING = 'UTF8' LOCALE_PROVIDER = libc LOCALE = 'C' OWNER = app TABLESPACE = ts;");
        assert_eq!(got[0], role("app", RoleUseKind::Owner));
        assert_eq!(got[1], Named::Tablespace("ts".into()));
        let Named::Database { name, options } = &got[2] else { panic!("{got:?}") };
        assert_eq!(name, "src");
        assert!(options.contains(&("encoding".into(), "UTF8".into())) && options.contains(&("locale_provider".into(), "libc".into())) && options.contains(&("locale".into(), "C".into())));
    }
}
