//! What a script holds, listed as `pg_restore -l` lists an archive (`pgsurge list
//! backup.sql`): one line per object pg_dump wrote a header comment for — `-- Name: t; Type:
//! TABLE; Schema: public; Owner: app`, `-- Data for Name: …` — numbered by the line of that
//! header, where an archive's listing has dump ids. A script pg_dump did not write lists no
//! objects, only its statements and COPY blocks.

use std::io::{self, BufRead, Write};

use crate::error::ScriptError;
use crate::reader::{Item, ScriptReader};

/// One object's header comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Line of the header comment.
    pub line: u64,
    pub desc: String,
    pub schema: String,
    pub name: String,
    pub owner: String,
}

/// What a script holds.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub statements: u64,
    pub copy_blocks: u64,
    pub lines: u64,
}

/// The object a pg_dump header comment names, if `comment` is one.
pub fn entry_of(comment: &[u8], line: u64) -> Option<Entry> {
    let text = String::from_utf8_lossy(comment);
    let rest = text.strip_prefix("-- Name: ").or_else(|| text.strip_prefix("-- Data for Name: "))?;
    // The name may hold anything (`; Type: ` too): the fields are found from the right.
    let rest = match rest.rfind("; Tablespace: ") {
        Some(at) if rest[..at].contains("; Owner: ") => &rest[..at],
        _ => rest,
    };
    let (rest, owner) = rest.rsplit_once("; Owner: ")?;
    let (rest, schema) = rest.rsplit_once("; Schema: ")?;
    let (name, desc) = rest.rsplit_once("; Type: ")?;
    // pg_dump writes `-` for no owner, where pg_restore -l writes nothing.
    let owner = if owner == "-" { "" } else { owner };
    Some(Entry { line, desc: desc.to_owned(), schema: schema.to_owned(), name: name.to_owned(), owner: owner.to_owned() })
}

/// Reads `reader` (made [`ScriptReader::with_comments`]) to its end.
pub fn list<R: BufRead>(mut reader: ScriptReader<R>) -> Result<Listing, ScriptError> {
    let mut listing = Listing::default();
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Comment { text, line } => listing.entries.extend(entry_of(&text, line)),
            Item::Statement { copy, .. } => {
                listing.statements += 1;
                if copy == Some(crate::CopySource::Stdin) {
                    listing.copy_blocks += 1;
                }
            }
            Item::CopyData(_) | Item::CopyEnd { .. } | Item::Meta { .. } => {}
        }
    }
    listing.lines = reader.lines();
    Ok(listing)
}

/// Writes `listing` in `pg_restore -l`'s shape: a `;` header, then `LINE; TYPE SCHEMA NAME
/// OWNER` per object. `about` are the header's lines (what the script is, who wrote it).
pub fn write(listing: &Listing, about: &[String], out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, ";")?;
    for line in about {
        writeln!(out, "; {line}")?;
    }
    writeln!(out, ";     Objects: {} (from pg_dump's comments)", listing.entries.len())?;
    writeln!(out, ";     Statements: {}", listing.statements)?;
    writeln!(out, ";     COPY blocks: {}", listing.copy_blocks)?;
    writeln!(out, ";     Lines: {}", listing.lines)?;
    writeln!(out, ";")?;
    writeln!(out, ";")?;
    writeln!(out, "; Objects, by the line of their comment:")?;
    writeln!(out, ";")?;
    for e in &listing.entries {
        writeln!(out, "{}; {} {} {} {}", e.line, e.desc, e.schema, e.name, e.owner)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_as_pg_dump_writes_them() {
        let e = entry_of(b"-- Name: t; Type: TABLE; Schema: public; Owner: app", 7);
        assert_eq!(e, Some(Entry { line: 7, desc: "TABLE".into(), schema: "public".into(), name: "t".into(), owner: "app".into() }));
        let e = entry_of(b"-- Data for Name: Order Items; Type: TABLE DATA; Schema: MixedCase; Owner: postgres", 9);
        assert_eq!(e.map(|e| (e.desc, e.name)), Some(("TABLE DATA".into(), "Order Items".into())));
        let e = entry_of(b"-- Name: odd; Type: x; Type: TABLE; Schema: s; Owner: o; Tablespace: ts", 1);
        assert_eq!(e.map(|e| (e.name, e.desc, e.owner)), Some(("odd; Type: x".into(), "TABLE".into(), "o".into())));
        assert_eq!(entry_of(b"-- Dumped from database version 18.6", 3), None);
        assert_eq!(entry_of(b"-- Name: broken", 3), None);
    }

    #[test]
    fn a_script_listed() {
        let script = "--\n-- Name: t; Type: TABLE; Schema: public; Owner: app\n--\n\nCREATE TABLE public.t (a int);\n\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: app\n--\n\nCOPY public.t (a) FROM stdin;\n-- Name: not; Type: A; Schema: ROW; Owner: x\n\\.\n";
        let listing = list(ScriptReader::new(script.as_bytes()).with_comments()).unwrap_or_default();
        assert_eq!(listing.entries.iter().map(|e| (e.line, e.desc.as_str())).collect::<Vec<_>>(), [(2, "TABLE"), (8, "TABLE DATA")], "a row is no comment");
        assert_eq!((listing.statements, listing.copy_blocks), (2, 1));
        let mut out = Vec::new();
        write(&listing, &["Plain SQL script \"x.sql\"".to_owned()], &mut out).unwrap_or_default();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\n2; TABLE public t app\n8; TABLE DATA public t app\n"), "{text}");
    }
}
