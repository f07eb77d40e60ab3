//! What a restore needs from the server, decided without one: the roles the selected
//! entries name (owners, grantees and grantors, default privileges, policies, user mappings,
//! `--role`, `--superuser`), the extensions they create, the tablespaces they put things in,
//! how many archive bytes of data they load, and with `--create` the database they create
//! and the encoding and locale it asks for. Each need keeps why it is needed (which kind of
//! use, how many, the first entry or line), so a missing role is reported with its reason.
//!
//! Checking these against a server is `pgsurge-stages`'s preflight; this module only reads
//! an archive's TOC (through a [`Selection`]) or a script's statements (`words` and
//! `statement` read them).

mod statement;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bstr::ByteSlice;
use pgsurge_archive::{Archive, TocEntry};

use crate::options::RestoreOptions;
use crate::select::Selection;
use statement::{analyze, Named};
use words::statements;

/// Where the needs were read from: it decides how a use is placed (an entry or a line) and
/// whether restore options can leave a use out (a script's restore takes none of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Archive,
    Script,
}

/// Why a role is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoleUseKind {
    /// `ALTER … OWNER TO`, `CREATE SCHEMA … AUTHORIZATION`.
    Owner,
    /// `SET SESSION AUTHORIZATION`: a script's, or each entry's owner under
    /// `--use-set-session-authorization`.
    SessionAuthorization,
    /// `GRANT … TO`, `REVOKE … FROM`.
    Grantee,
    /// A role granted to another (`GRANT admins TO alice`).
    Member,
    /// `GRANTED BY`, or the session user an ACL switches to before granting.
    Grantor,
    /// `ALTER DEFAULT PRIVILEGES FOR ROLE`.
    DefaultPrivileges,
    /// `CREATE POLICY … TO`.
    Policy,
    /// `CREATE USER MAPPING FOR`.
    UserMapping,
    /// `ALTER ROLE … [IN DATABASE …] SET`.
    RoleSettings,
    /// `--role`, or a script's `SET ROLE`.
    SetRole,
    /// `--superuser`, which `--disable-triggers` switches to in a data-only restore.
    Superuser,
}

impl RoleUseKind {
    /// A short name for reports (`owner`, `grantee`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RoleUseKind::Owner => "owner",
            RoleUseKind::SessionAuthorization => "session-authorization",
            RoleUseKind::Grantee => "grantee",
            RoleUseKind::Member => "member",
            RoleUseKind::Grantor => "grantor",
            RoleUseKind::DefaultPrivileges => "default-privileges",
            RoleUseKind::Policy => "policy",
            RoleUseKind::UserMapping => "user-mapping",
            RoleUseKind::RoleSettings => "role-settings",
            RoleUseKind::SetRole => "set-role",
            RoleUseKind::Superuser => "superuser",
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            RoleUseKind::Owner => "owner",
            RoleUseKind::SessionAuthorization => "session user (SET SESSION AUTHORIZATION)",
            RoleUseKind::Grantee => "grantee",
            RoleUseKind::Member => "granted as a role",
            RoleUseKind::Grantor => "grantor",
            RoleUseKind::DefaultPrivileges => "FOR ROLE of default privileges",
            RoleUseKind::Policy => "role of a policy",
            RoleUseKind::UserMapping => "user of a user mapping",
            RoleUseKind::RoleSettings => "role with settings (ALTER ROLE)",
            RoleUseKind::SetRole => "SET ROLE",
            RoleUseKind::Superuser => "superuser to disable triggers (-S)",
        }
    }
}

/// Where a need was first met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// An archive entry, as errors name it: `entry 12 (TABLE public.t)`.
    Entry(String),
    /// A script's line where the statement starts.
    Line(u64),
    /// A command-line option (`--role`).
    Option(&'static str),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Entry(label) => f.write_str(label),
            Place::Line(line) => write!(f, "line {line}"),
            Place::Option(option) => f.write_str(option),
        }
    }
}

/// One kind of use of a role: how often, where first, and the restore option that would
/// leave every such use out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleUse {
    pub kind: RoleUseKind,
    /// Entries (or statements) with this use; an option counts once.
    pub count: usize,
    pub first: Place,
    /// `--no-owner`, `--no-privileges` or `--no-policies`; `None` when no option leaves
    /// this use out (a script, `--role`, a user mapping).
    pub avoided_by: Option<&'static str>,
}

impl RoleUse {
    /// `owner of 3 entries (first entry 12 (TABLE public.t))`, `grantee in line 40`,
    /// `SET ROLE by --role`.
    pub fn describe(&self) -> String {
        let phrase = self.kind.phrase();
        match (&self.first, self.count) {
            (Place::Option(option), _) => format!("{phrase} by {option}"),
            (first, 1) => format!("{phrase} in {first}"),
            (first @ Place::Entry(_), n) => format!("{phrase} in {n} entries (first {first})"),
            (first, n) => format!("{phrase} in {n} statements (first at {first})"),
        }
    }
}

/// An extension the restore creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionUse {
    /// The schema it goes in, as the entry or `WITH SCHEMA` says.
    pub schema: Option<String>,
    /// A version a script's `CREATE EXTENSION … VERSION` asks for (an archive names none:
    /// the server's default version is created).
    pub version: Option<String>,
    pub first: Place,
}

/// A tablespace the restore puts objects in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablespaceUse {
    pub count: usize,
    pub first: Place,
    /// `--no-tablespaces` for an archive's entries.
    pub avoided_by: Option<&'static str>,
}

/// The database `--create` makes, as the archive's `CREATE DATABASE` asks for it. Values
/// are as written there (`UTF8`, `en_US.UTF-8`, `libc`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseWanted {
    pub name: String,
    pub encoding: Option<String>,
    pub locale: Option<String>,
    pub lc_collate: Option<String>,
    pub lc_ctype: Option<String>,
    pub locale_provider: Option<String>,
    pub icu_locale: Option<String>,
    pub builtin_locale: Option<String>,
    pub template: Option<String>,
}

/// What a restore needs from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub source: Source,
    /// By role name as the server knows it (unquoted, case kept), each kind of use once.
    pub roles: BTreeMap<String, Vec<RoleUse>>,
    pub extensions: BTreeMap<String, ExtensionUse>,
    pub tablespaces: BTreeMap<String, TablespaceUse>,
    /// Archive bytes of the data loaded (compressed as the archive holds it; a script's
    /// COPY rows as written). `None` when no size is known (a custom archive read from a
    /// pipe); a sum over the entries whose size is known otherwise.
    pub data_bytes: Option<u64>,
    /// With `--create`: the database made.
    pub database: Option<DatabaseWanted>,
    /// Whether anything's definition is restored (not a data-only restore): only then can
    /// the target's own relations collide with the restored ones.
    pub restores_schema: bool,
}

impl Needs {
    fn new(source: Source) -> Needs {
        Needs { source, roles: BTreeMap::new(), extensions: BTreeMap::new(), tablespaces: BTreeMap::new(), data_bytes: None, database: None, restores_schema: true }
    }

    fn role(&mut self, name: &str, kind: RoleUseKind, place: impl FnOnce() -> Place, avoided_by: Option<&'static str>) {
        if name.is_empty() {
            return;
        }
        let uses = self.roles.entry(name.to_owned()).or_default();
        // One use per kind and option: an owner left out by --no-owner and a session user a
        // script sets are told apart.
        match uses.iter_mut().find(|u| u.kind == kind && u.avoided_by == avoided_by) {
            Some(u) => u.count += 1,
            None => uses.push(RoleUse { kind, count: 1, first: place(), avoided_by }),
        }
    }

    fn tablespace(&mut self, name: &str, place: impl FnOnce() -> Place, avoided_by: Option<&'static str>) {
        if name.is_empty() {
            return;
        }
        match self.tablespaces.get_mut(name) {
            Some(t) => t.count += 1,
            None => {
                self.tablespaces.insert(name.to_owned(), TablespaceUse { count: 1, first: place(), avoided_by });
            }
        }
    }

    fn extension(&mut self, name: &str, schema: Option<String>, version: Option<String>, place: impl FnOnce() -> Place) {
        if !name.is_empty() && !self.extensions.contains_key(name) {
            self.extensions.insert(name.to_owned(), ExtensionUse { schema, version, first: place() });
        }
    }

    /// The restore options that together leave out every use of every role in `names`
    /// (sorted, each once), or `None` when some use no option leaves out.
    pub fn options_avoiding<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Option<Vec<&'static str>> {
        let mut options = BTreeSet::new();
        for name in names {
            for u in self.roles.get(name)? {
                options.insert(u.avoided_by?);
            }
        }
        (!options.is_empty()).then(|| options.into_iter().collect())
    }

    /// Why `role` is needed, every use: `owner in 3 entries (first …); grantee in …`.
    pub fn why(&self, role: &str) -> String {
        self.roles.get(role).map(|uses| uses.iter().map(RoleUse::describe).collect::<Vec<_>>().join("; ")).unwrap_or_default()
    }
}

/// Entry types whose owner pg_restore sets with `ALTER … OWNER TO` (`_getObjectDescription`
/// names them; the rest have no owner of their own).
fn sets_owner(desc: &[u8]) -> bool {
    !matches!(
        desc,
        b"CAST" | b"CHECK CONSTRAINT" | b"CONSTRAINT" | b"DATABASE PROPERTIES" | b"DEFAULT" | b"FK CONSTRAINT" | b"INDEX" | b"RULE" | b"TRIGGER" | b"ROW SECURITY" | b"POLICY" | b"USER MAPPING"
    )
}

fn text(s: &[u8]) -> String {
    s.to_str_lossy().into_owned()
}

/// What restoring `sel` of `archive` with `opts` needs.
pub fn of_archive(archive: &Archive, sel: &Selection, opts: &RestoreOptions) -> Needs {
    let toc = archive.toc();
    let mut needs = Needs::new(Source::Archive);
    needs.restores_schema = sel.restores_schema();
    let sizes = archive.data_sizes();
    let mut data_bytes: Option<u64> = None;
    for (i, es) in sel.in_order() {
        let Some(te) = toc.entries.get(i) else { continue };
        let wanted = es.wanted;
        if !wanted.any() {
            continue;
        }
        let place = || Place::Entry(te.label().to_string());
        let desc = te.desc.as_bytes();

        if let Some(owner) = te.owner.as_deref().map(|o| o.as_bytes()).filter(|o| !o.is_empty()) {
            let has_drop = te.drop_stmt.as_deref().is_some_and(|d| !d.is_empty());
            if opts.no_owner {
                // Nothing takes the owner's name.
            } else if opts.use_set_session_authorization {
                needs.role(&text(owner), RoleUseKind::SessionAuthorization, place, Some("--no-owner"));
            } else if wanted.schema && has_drop && sets_owner(desc) {
                needs.role(&text(owner), RoleUseKind::Owner, place, Some("--no-owner"));
            }
        }

        if !opts.no_tablespaces {
            if let Some(ts) = te.tablespace.as_deref().filter(|t| !t.is_empty()) {
                needs.tablespace(&text(ts), place, Some("--no-tablespaces"));
            }
        }

        if wanted.data && te.has_data() {
            if let Some(&n) = sizes.get(&te.dump_id) {
                data_bytes = Some(data_bytes.unwrap_or(0).saturating_add(n));
            }
        }

        if !wanted.schema {
            continue;
        }
        if desc == b"EXTENSION" {
            // pg_dump leaves the entry's schema empty and writes `WITH SCHEMA` instead.
            let defn = te.defn.as_deref().map(|d| d.as_bytes()).unwrap_or_default();
            let schema = statements(defn, toc.std_strings).iter().flat_map(|s| analyze(s)).find_map(|named| match named {
                Named::Extension { schema, .. } => schema,
                _ => None,
            });
            let schema = schema.or_else(|| te.namespace.as_deref().filter(|n| !n.is_empty()).map(|n| text(n)));
            needs.extension(&text(&te.tag), schema, None, place);
            continue;
        }
        // The entries whose definitions name roles or describe the database.
        let avoided_by = match desc {
            b"ACL" | b"ACL LANGUAGE" | b"DEFAULT ACL" => Some("--no-privileges"),
            b"POLICY" => Some("--no-policies"),
            b"USER MAPPING" | b"DATABASE" | b"DATABASE PROPERTIES" => None,
            _ => continue,
        };
        definition_needs(&mut needs, te, toc.std_strings, avoided_by, opts);
    }
    needs.data_bytes = data_bytes;

    if let Some(role) = &opts.role {
        needs.role(&text(role), RoleUseKind::SetRole, || Place::Option("--role"), None);
    }
    if let Some(superuser) = &opts.superuser {
        if opts.disable_triggers && !sel.restores_schema() {
            needs.role(&text(superuser), RoleUseKind::Superuser, || Place::Option("--superuser"), None);
        }
    }
    needs
}

/// The roles, tablespaces and database an entry's definition names.
fn definition_needs(needs: &mut Needs, te: &TocEntry, std_strings: bool, avoided_by: Option<&'static str>, opts: &RestoreOptions) {
    let Some(defn) = te.defn.as_deref() else { return };
    let place = || Place::Entry(te.label().to_string());
    let is_acl = matches!(te.desc.as_bytes(), b"ACL" | b"ACL LANGUAGE" | b"DEFAULT ACL");
    for stmt in statements(defn.as_bytes(), std_strings) {
        for named in analyze(&stmt) {
            match named {
                // An ACL switches to the grantor to grant as it.
                Named::Role(name, RoleUseKind::SessionAuthorization) if is_acl => needs.role(&name, RoleUseKind::Grantor, place, avoided_by),
                Named::Role(_, RoleUseKind::Owner) if te.desc_is("DATABASE") && opts.no_owner => {}
                Named::Role(name, RoleUseKind::Owner) if te.desc_is("DATABASE") => needs.role(&name, RoleUseKind::Owner, place, Some("--no-owner")),
                Named::Role(name, kind) => needs.role(&name, kind, place, avoided_by),
                Named::Tablespace(name) => needs.tablespace(&name, place, None),
                Named::Database { name, options } if opts.create => needs.database = Some(database_wanted(name, &options)),
                _ => {}
            }
        }
    }
}

fn database_wanted(name: String, options: &[(String, String)]) -> DatabaseWanted {
    let get = |key: &str| options.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    DatabaseWanted {
        name,
        encoding: get("encoding"),
        locale: get("locale"),
        lc_collate: get("lc_collate"),
        lc_ctype: get("lc_ctype"),
        locale_provider: get("locale_provider"),
        icu_locale: get("icu_locale"),
        builtin_locale: get("builtin_locale"),
        template: get("template"),
    }
}

/// One thing a script reader gives, as far as needs go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptPart {
    /// A statement's text and the line it starts on.
    Statement { text: Vec<u8>, line: u64 },
    /// Bytes of COPY rows.
    CopyData(u64),
}

/// What running a plain SQL script (pg_dump `-Fp`, pg_dumpall) needs, read from its parts
/// in order: roles and tablespaces it creates itself are not needed; extensions it creates
/// are (`CREATE EXTENSION` needs them installed on the server). The caller reads the script
/// (`pgsurge-script`'s `ScriptReader`, which splits it as psql does) and hands each
/// statement and COPY block here; a reading error ends the scan with it.
pub fn of_script<E>(parts: impl IntoIterator<Item = Result<ScriptPart, E>>) -> Result<Needs, E> {
    let mut scan = ScriptScan::default();
    for part in parts {
        match part? {
            ScriptPart::Statement { text, line } => scan.statement(&text, line),
            ScriptPart::CopyData(n) => scan.copy_bytes = scan.copy_bytes.saturating_add(n),
        }
    }
    Ok(scan.finish())
}

/// A script's needs as its statements go by.
struct ScriptScan {
    needs: Needs,
    /// `standard_conforming_strings` as the script last set it; on unless it says otherwise,
    /// as on any server since 9.1.
    std_strings: bool,
    created_roles: BTreeSet<String>,
    created_tablespaces: BTreeSet<String>,
    copy_bytes: u64,
}

impl Default for ScriptScan {
    fn default() -> ScriptScan {
        ScriptScan { needs: Needs::new(Source::Script), std_strings: true, created_roles: BTreeSet::new(), created_tablespaces: BTreeSet::new(), copy_bytes: 0 }
    }
}

impl ScriptScan {
    fn statement(&mut self, text: &[u8], line: u64) {
        let place = || Place::Line(line);
        for stmt in statements(text, self.std_strings) {
            for named in analyze(&stmt) {
                match named {
                    Named::Role(name, kind) => self.needs.role(&name, kind, place, None),
                    Named::Extension { name, schema, version } => self.needs.extension(&name, schema, version, place),
                    Named::Tablespace(name) => self.needs.tablespace(&name, place, None),
                    Named::CreatesRole(name) => {
                        self.created_roles.insert(name);
                    }
                    Named::CreatesTablespace(name) => {
                        self.created_tablespaces.insert(name);
                    }
                    Named::StdStrings(on) => self.std_strings = on,
                    Named::Database { .. } => {}
                }
            }
        }
    }

    /// The needs, less what the script makes itself (a pg_dumpall script creates its roles
    /// before anything names them; the order is not checked).
    fn finish(mut self) -> Needs {
        self.needs.roles.retain(|name, _| !self.created_roles.contains(name));
        self.needs.tablespaces.retain(|name, _| !self.created_tablespaces.contains(name));
        self.needs.data_bytes = Some(self.copy_bytes);
        self.needs
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::select::select;

    fn fixture(rel: &str) -> Archive {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dumps").join(rel);
        Archive::open_path(&path, None).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
    }

    fn needs(rel: &str, opts: &RestoreOptions) -> Needs {
        let archive = fixture(rel);
        let sel = select(&archive, opts, &mut |_| {}).unwrap();
        of_archive(&archive, &sel, opts)
    }

    fn kinds(needs: &Needs, role: &str) -> Vec<RoleUseKind> {
        needs.roles.get(role).map(|u| u.iter().map(|u| u.kind).collect()).unwrap_or_default()
    }

    /// The fixture (tools/fixture/src.sql): objects owned by postgres and alice, grants to
    /// alice and bob, default privileges for alice, a policy for alice, pg_trgm, a table in
    /// fixture_ts.
    #[test]
    fn the_fixture_archive_needs_its_roles_extension_and_tablespace() {
        let n = needs("pg18/src.custom.gzip.dump", &RestoreOptions::default());
        assert_eq!(n.roles.keys().map(String::as_str).collect::<Vec<_>>(), ["alice", "bob", "postgres"]);
        let alice = kinds(&n, "alice");
        for kind in [RoleUseKind::Owner, RoleUseKind::Grantee, RoleUseKind::DefaultPrivileges, RoleUseKind::Policy] {
            assert!(alice.contains(&kind), "alice: {kind:?} in {alice:?}");
        }
        assert!(kinds(&n, "bob").iter().all(|k| matches!(k, RoleUseKind::Grantee)), "{:?}", n.roles.get("bob"));
        let owner = n.roles["postgres"].iter().find(|u| u.kind == RoleUseKind::Owner).unwrap();
        assert!(owner.count > 10 && matches!(&owner.first, Place::Entry(l) if l.starts_with("entry ")), "{owner:?}");
        assert!(owner.describe().starts_with("owner in ") && owner.describe().contains(" entries (first entry "), "{}", owner.describe());
        assert_eq!(n.extensions.keys().collect::<Vec<_>>(), ["pg_trgm"]);
        assert_eq!(n.extensions["pg_trgm"].schema.as_deref(), Some("public"));
        assert_eq!(n.tablespaces.keys().collect::<Vec<_>>(), ["fixture_ts"]);
        assert!(n.data_bytes.is_some_and(|b| b > 0));
        assert!(n.database.is_none() && n.restores_schema);
        // Grants alone need bob, ownership and grants alice.
        assert_eq!(n.options_avoiding(["bob"]), Some(vec!["--no-privileges"]));
        assert_eq!(n.options_avoiding(["alice"]), Some(vec!["--no-owner", "--no-policies", "--no-privileges"]));
    }

    #[test]
    fn options_leave_needs_out() {
        let opts = RestoreOptions { no_owner: true, no_acl: true, no_policies: true, no_tablespaces: true, ..Default::default() };
        let n = needs("pg18/src.custom.gzip.dump", &opts);
        assert!(n.roles.is_empty(), "{:?}", n.roles);
        assert!(n.tablespaces.is_empty());
        assert_eq!(n.extensions.len(), 1);

        let opts = RestoreOptions { data_only: true, disable_triggers: true, superuser: Some("su".into()), role: Some("Ops".into()), ..Default::default() };
        let n = needs("pg18/src.custom.gzip.dump", &opts);
        assert_eq!(n.roles.keys().collect::<Vec<_>>(), ["Ops", "su"], "data only: no owner is set, no grant made");
        assert_eq!(n.roles["Ops"][0].describe(), "SET ROLE by --role");
        assert!(n.extensions.is_empty() && !n.restores_schema);
        assert_eq!(n.options_avoiding(["su"]), None);

        let opts = RestoreOptions { use_set_session_authorization: true, no_acl: true, no_policies: true, ..Default::default() };
        let n = needs("pg18/src.custom.gzip.dump", &opts);
        assert_eq!(kinds(&n, "alice"), [RoleUseKind::SessionAuthorization]);
    }

    #[test]
    fn create_asks_for_the_database_and_its_locale() {
        let opts = RestoreOptions { create: true, ..Default::default() };
        let n = needs("pg18/src.custom.gzip.dump", &opts);
        let db = n.database.expect("a DATABASE entry");
        assert_eq!((db.name.as_str(), db.encoding.as_deref(), db.locale.as_deref(), db.locale_provider.as_deref()), ("src", Some("UTF8"), Some("C"), Some("libc")));
        let n = needs("pg14/src.custom.none.dump", &opts);
        let db = n.database.expect("a DATABASE entry");
        assert_eq!((db.encoding.as_deref(), db.locale.as_deref(), db.locale_provider), (Some("UTF8"), Some("C"), None));
    }

    /// The needs of a script of `statements`, each on line `n` for the `n`th.
    fn script_of(statements: &[&str]) -> Needs {
        let parts = statements.iter().zip(1..).map(|(s, line)| Ok::<_, std::convert::Infallible>(ScriptPart::Statement { text: s.as_bytes().to_vec(), line }));
        match of_script(parts) {
            Ok(n) => n,
            Err(e) => match e {},
        }
    }

    fn script(sql: &str) -> Needs {
        script_of(&sql.split_inclusive(";\n").collect::<Vec<_>>())
    }

    #[test]
    fn a_script_needs_what_it_names_but_does_not_create() {
        let n = script(
            "CREATE ROLE app;\nALTER ROLE app WITH LOGIN;\nCREATE TABLESPACE fast OWNER app LOCATION '/x';\nSET default_tablespace = fast;\n\
             CREATE EXTENSION IF NOT EXISTS hstore WITH SCHEMA public;\nCREATE TABLE public.t (a int) TABLESPACE cold;\nALTER TABLE public.t OWNER TO app;\n\
             ALTER TABLE public.t OWNER TO \"Reporting\";\nGRANT SELECT ON TABLE public.t TO \"Reporting\";\nREVOKE ALL ON TABLE public.t FROM PUBLIC;\nSET SESSION AUTHORIZATION 'x''y';\n",
        );
        assert_eq!(n.roles.keys().collect::<Vec<_>>(), ["Reporting", "x'y"]);
        assert_eq!(n.why("Reporting"), "owner in line 8; grantee in line 9");
        assert_eq!(n.tablespaces.keys().collect::<Vec<_>>(), ["cold"]);
        assert_eq!(n.extensions.keys().collect::<Vec<_>>(), ["hstore"]);
        assert_eq!(n.options_avoiding(["Reporting"]), None, "a script's restore takes no --no-owner");
    }

    #[test]
    fn a_script_with_standard_conforming_strings_off_reads_its_strings_so() {
        // One statement as psql splits it with the setting off: the string runs to `bob'`.
        let n = script_of(&["SET standard_conforming_strings = off;", "SELECT 'a\\';\nALTER TABLE t OWNER TO bob';", "ALTER TABLE u OWNER TO carol;"]);
        assert_eq!(n.roles.keys().collect::<Vec<_>>(), ["carol"]);
    }
}
