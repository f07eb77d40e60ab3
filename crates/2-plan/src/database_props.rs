//! The database-level properties an archive holds for its own database — the `DATABASE`
//! entry's owner, `DATABASE PROPERTIES` (per-database and per-role settings, connection
//! limit), and `COMMENT`, `ACL` and `SECURITY LABEL` on `DATABASE name` — which pg_restore
//! applies only with `--create`, written for another database: a `--swap` restore gives them
//! to the database it makes, so that the database under the app's name has them as the
//! archive says.

use bstr::ByteSlice;
use pgsurge_archive::Toc;

use crate::options::RestoreOptions;
use crate::sql::quote_ident;

/// The statements giving database `new_name` the archive's database-level properties, in
/// archive order, each with the archive's database name replaced by `new_name`; the
/// options that leave such things out (`--no-owner`, `--no-privileges`, `--no-comments`,
/// `--no-security-labels`) leave them out here too. Empty when the archive has no
/// `DATABASE` entry (pg_dump before 11, or a script's).
pub fn database_properties(toc: &Toc, opts: &RestoreOptions, new_name: &[u8]) -> Vec<Vec<u8>> {
    let Some(database) = toc.entries.iter().find(|te| te.desc.as_bytes() == b"DATABASE") else { return Vec::new() };
    let old = database.tag.as_bytes();
    let (quoted_old, quoted_new) = (quote_ident(old).into_owned(), quote_ident(new_name).into_owned());
    let mut out = Vec::new();
    if let (false, Some(owner)) = (opts.no_owner, database.owner.as_ref().filter(|o| !o.is_empty())) {
        let mut s = b"ALTER DATABASE ".to_vec();
        s.extend_from_slice(&quoted_new);
        s.extend_from_slice(b" OWNER TO ");
        s.extend_from_slice(&quote_ident(owner.as_bytes()));
        out.push(s);
    }
    let on_database = {
        let mut tag = b"DATABASE ".to_vec();
        tag.extend_from_slice(old);
        tag
    };
    for te in &toc.entries {
        let wanted = match te.desc.as_bytes() {
            b"DATABASE PROPERTIES" => te.tag.as_bytes() == old,
            b"COMMENT" => !opts.no_comments && te.tag.as_bytes() == on_database,
            b"ACL" => !opts.no_acl && te.tag.as_bytes() == on_database,
            b"SECURITY LABEL" => !opts.no_security_labels && te.tag.as_bytes() == on_database,
            _ => false,
        };
        let Some(defn) = te.defn.as_ref().filter(|_| wanted) else { continue };
        for statement in statements(defn.as_bytes()) {
            if let Some(renamed) = renamed(statement, &quoted_old, &quoted_new) {
                out.push(renamed);
            }
        }
    }
    out
}

/// The statements of an entry's SQL as pg_dump writes them: each ends with `;` at the end
/// of a line.
fn statements(defn: &[u8]) -> impl Iterator<Item = &[u8]> {
    defn.split_str(";\n").map(|s| s.trim()).filter(|s| !s.is_empty() && !s.starts_with(b"--"))
}

/// `statement` with its first `DATABASE <old>` (the database it is about: pg_dump writes
/// the name before any literal) naming `new` instead; `None` when it names no database.
fn renamed(statement: &[u8], old: &[u8], new: &[u8]) -> Option<Vec<u8>> {
    let mut needle = b"DATABASE ".to_vec();
    needle.extend_from_slice(old);
    let mut from = 0;
    while let Some(at) = statement[from..].find(&needle).map(|i| i + from) {
        let end = at + needle.len();
        if matches!(statement.get(end), None | Some(b' ' | b'\n' | b';')) {
            let mut out = statement[..at].to_vec();
            out.extend_from_slice(b"DATABASE ");
            out.extend_from_slice(new);
            out.extend_from_slice(&statement[end..]);
            return Some(out);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_database_name_is_replaced() {
        let r = |s: &str| renamed(s.as_bytes(), b"shop", b"shop_restoring_1").map(|v| String::from_utf8(v).unwrap());
        assert_eq!(r("ALTER DATABASE shop SET search_path TO '$user', 'public'").as_deref(), Some("ALTER DATABASE shop_restoring_1 SET search_path TO '$user', 'public'"));
        assert_eq!(r("ALTER ROLE app IN DATABASE shop SET work_mem TO '8MB'").as_deref(), Some("ALTER ROLE app IN DATABASE shop_restoring_1 SET work_mem TO '8MB'"));
        assert_eq!(r("COMMENT ON DATABASE shop IS 'DATABASE shop of the shop'").as_deref(), Some("COMMENT ON DATABASE shop_restoring_1 IS 'DATABASE shop of the shop'"));
        assert_eq!(r("GRANT CONNECT ON DATABASE shop TO app").as_deref(), Some("GRANT CONNECT ON DATABASE shop_restoring_1 TO app"));
        // A longer name that starts alike is another database.
        assert_eq!(r("ALTER DATABASE shopping SET x TO 'y'"), None);
        let split: Vec<&[u8]> = statements(b"ALTER DATABASE shop SET a TO '1';\nALTER DATABASE shop SET b TO '2';\n\n").collect();
        assert_eq!(split.len(), 2);
    }
}
