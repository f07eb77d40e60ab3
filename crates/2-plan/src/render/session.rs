//! What the script's session has been told to be, and the statements that change it:
//! `SET SESSION AUTHORIZATION`, `search_path`, `default_tablespace`,
//! `default_table_access_method`, a `\connect` under `--create`, and the fixed settings every
//! session starts with (pg_backup_archiver.c `_becomeUser`, `_selectOutputSchema`,
//! `_selectTablespace`, `_selectTableAccessMethod`, `_reconnectToDB`, `_doSetFixedOutputState`).
//! Each setting is sent only when it changes.

use bstr::{BString, ByteSlice};
use pgsurge_archive::{Toc, TocEntry};

use super::{RenderError, Renderer};
use crate::options::RestoreOptions;
use crate::sql;

/// What the script's imaginary session has been told to be (pg_restore's `currUser`,
/// `currSchema`, `currTablespace`, `currTableAm`); `None` is unknown, so the next entry that
/// needs a value sets it. A `\connect` forgets everything.
#[derive(Debug, Default)]
pub(super) struct Session {
    pub(super) user: Option<BString>,
    pub(super) schema: Option<BString>,
    pub(super) tablespace: Option<BString>,
    pub(super) table_am: Option<BString>,
}

impl Renderer<'_> {
    /// `_reconnectToDB` in script mode: leave restricted mode for the `\connect`, then start
    /// the new session's preamble.
    pub(super) fn reconnect(&mut self, dbname: &[u8]) -> Result<(), RenderError> {
        let connect = sql::psql_connect(dbname)?;
        let mut script = Vec::new();
        let key = self.restrict_key().map(<[u8]>::to_vec);
        if let Some(key) = &key {
            script.extend_from_slice(&[b"\\unrestrict ", key.as_slice(), b"\n"].concat());
        }
        script.extend_from_slice(&connect);
        if let Some(key) = &key {
            script.extend_from_slice(&[b"\\restrict ", key.as_slice(), b"\n\n"].concat());
        }
        self.target.connect(dbname, &script)?;
        self.session = Session::default();
        self.fixed_state()?;
        Ok(())
    }

    /// `_becomeUser`: `SET SESSION AUTHORIZATION` when the session is someone else (an empty
    /// or missing user means the connection's own, `DEFAULT`).
    pub(super) fn become_user(&mut self, user: Option<&[u8]>) -> Result<(), RenderError> {
        let user = user.unwrap_or_default();
        if self.session.user.as_deref().is_some_and(|u| u.as_bytes() == user) {
            return Ok(());
        }
        let mut stmt = b"SET SESSION AUTHORIZATION ".to_vec();
        if user.is_empty() {
            stmt.extend_from_slice(b"DEFAULT");
        } else {
            stmt.extend_from_slice(&sql::string_literal(user, self.std_strings));
        }
        stmt.extend_from_slice(b";\n\n");
        self.cmd(&stmt)?;
        self.session.user = Some(user.into());
        Ok(())
    }

    /// `_becomeOwner`: only under `--use-set-session-authorization` (and not `-O`).
    pub(super) fn become_owner(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        if self.opts.no_owner || !self.opts.use_set_session_authorization {
            return Ok(());
        }
        self.become_user(te.owner.as_deref().map(|o| o.as_bytes()))
    }

    /// `_selectOutputSchema`: only archives without a SEARCHPATH entry (pg_dump before 2018)
    /// switch `search_path` per object.
    pub(super) fn select_schema(&mut self, schema: Option<&[u8]>) -> Result<(), RenderError> {
        if self.toc.search_path.is_some() {
            return Ok(());
        }
        let Some(schema) = schema.filter(|s| !s.is_empty()) else { return Ok(()) };
        if self.session.schema.as_deref().is_some_and(|s| s.as_bytes() == schema) {
            return Ok(());
        }
        let mut stmt = b"SET search_path = ".to_vec();
        stmt.extend_from_slice(&sql::quote_ident(schema));
        if schema != b"pg_catalog" {
            stmt.extend_from_slice(b", pg_catalog");
        }
        stmt.extend_from_slice(b";\n\n");
        self.target.setting(&stmt, &format!("could not set \"search_path\" to \"{}\"", schema.as_bstr()))?;
        self.session.schema = Some(schema.into());
        Ok(())
    }

    /// `_selectTablespace`: `""` means the database default.
    pub(super) fn select_tablespace(&mut self, tablespace: Option<&[u8]>) -> Result<(), RenderError> {
        if self.opts.no_tablespaces {
            return Ok(());
        }
        let Some(want) = tablespace else { return Ok(()) };
        if self.session.tablespace.as_deref().is_some_and(|t| t.as_bytes() == want) {
            return Ok(());
        }
        let stmt = if want.is_empty() {
            b"SET default_tablespace = '';\n\n".to_vec()
        } else {
            [b"SET default_tablespace = ", sql::quote_ident(want).as_ref(), b";\n\n"].concat()
        };
        self.target.setting(&stmt, &format!("could not set \"default_tablespace\" to {}", sql::quote_ident(want).as_bstr()))?;
        self.session.tablespace = Some(want.into());
        Ok(())
    }

    /// `_selectTableAccessMethod`.
    pub(super) fn select_table_am(&mut self, am: Option<&[u8]>) -> Result<(), RenderError> {
        if self.opts.no_table_access_method {
            return Ok(());
        }
        let Some(want) = am else { return Ok(()) };
        if self.session.table_am.as_deref().is_some_and(|t| t.as_bytes() == want) {
            return Ok(());
        }
        let stmt = [b"SET default_table_access_method = ", sql::quote_ident(want).as_ref(), b";\n\n"].concat();
        self.target.setting(&stmt, "could not set \"default_table_access_method\"")?;
        self.session.table_am = Some(want.into());
        Ok(())
    }
}

/// The session settings pg_restore starts every session with (`_doSetFixedOutputState`), one
/// command each. `server_version` (`server_version_num`) is the server's when known:
/// `transaction_timeout` exists only from 17 on, and an older server would fail on it.
pub fn session_settings(opts: &RestoreOptions, toc: &Toc, server_version: Option<u32>) -> Vec<Vec<u8>> {
    let std_strings = toc.std_strings;
    let mut v: Vec<Vec<u8>> = vec![b"SET statement_timeout = 0;\n".to_vec(), b"SET lock_timeout = 0;\n".to_vec(), b"SET idle_in_transaction_session_timeout = 0;\n".to_vec()];
    if server_version.is_none_or(|v| v >= 170_000) {
        v.push(b"SET transaction_timeout = 0;\n".to_vec());
    }
    v.push([b"SET client_encoding = '", canonical_encoding(&toc.encoding), b"';\n"].concat());
    v.push(if std_strings { b"SET standard_conforming_strings = on;\n".to_vec() } else { b"SET standard_conforming_strings = off;\n".to_vec() });
    if let Some(role) = &opts.role {
        v.push([b"SET ROLE ", sql::quote_ident(role).as_ref(), b";\n"].concat());
    }
    if let Some(path) = &toc.search_path {
        v.push(path.to_vec());
    }
    v.push(b"SET check_function_bodies = false;\n".to_vec());
    v.push(b"SET xmloption = content;\n".to_vec());
    v.push(b"SET client_min_messages = warning;\n".to_vec());
    if !std_strings {
        v.push(b"SET escape_string_warning = off;\n".to_vec());
    }
    v.push(if opts.enable_row_security { b"SET row_security = on;\n".to_vec() } else { b"SET row_security = off;\n".to_vec() });
    v
}

/// `pg_encoding_to_char(pg_char_to_encoding(name))`: the server's spelling of an encoding
/// name, matched ignoring case and punctuation as PostgreSQL does; unknown names as given.
fn canonical_encoding(name: &[u8]) -> &[u8] {
    const NAMES: &[&str] = &[
        "SQL_ASCII", "EUC_JP", "EUC_CN", "EUC_KR", "EUC_TW", "EUC_JIS_2004", "UTF8", "MULE_INTERNAL", "LATIN1", "LATIN2", "LATIN3", "LATIN4", "LATIN5", "LATIN6", "LATIN7",
        "LATIN8", "LATIN9", "LATIN10", "WIN1256", "WIN1258", "WIN866", "WIN874", "KOI8R", "WIN1251", "WIN1252", "ISO_8859_5", "ISO_8859_6", "ISO_8859_7", "ISO_8859_8",
        "WIN1250", "WIN1253", "WIN1254", "WIN1255", "WIN1257", "KOI8U", "SJIS", "BIG5", "GBK", "UHC", "GB18030", "JOHAB", "SHIFT_JIS_2004",
    ];
    let clean = |s: &[u8]| -> Vec<u8> { s.iter().filter(|b| b.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase).collect() };
    let wanted = clean(name);
    NAMES.iter().find(|n| clean(n.as_bytes()) == wanted).map_or(name, |n| n.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert_eq!(canonical_encoding(b"UTF8"), b"UTF8");
        assert_eq!(canonical_encoding(b"utf-8"), b"UTF8");
        assert_eq!(canonical_encoding(b"latin1"), b"LATIN1");
        assert_eq!(canonical_encoding(b"iso_8859_5"), b"ISO_8859_5");
        assert_eq!(canonical_encoding(b"nonsense"), b"nonsense");
    }
}
