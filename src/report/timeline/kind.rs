//! What kind of work a report item was, as the timeline colours it: the mapping from an
//! entry's TOC `desc` (and whether it was a `--clean` drop or a table loaded in parts) to a
//! kind, and each kind's name and colour. The legend lists every kind, used or not, so two
//! pictures read the same way.

/// A bar's kind. The order is the legend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Schema,
    TableData,
    SplitPart,
    Index,
    Constraint,
    ForeignKey,
    LargeObjects,
    PostDataOther,
    Drop,
    Migrations,
    Analyze,
}

impl Kind {
    pub const COUNT: usize = 11;
    pub const ALL: [Kind; Kind::COUNT] = [
        Kind::Schema,
        Kind::TableData,
        Kind::SplitPart,
        Kind::Index,
        Kind::Constraint,
        Kind::ForeignKey,
        Kind::LargeObjects,
        Kind::PostDataOther,
        Kind::Drop,
        Kind::Migrations,
        Kind::Analyze,
    ];

    /// Where the kind sits in [`Kind::ALL`], for per-kind counters.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::TableData => "table data",
            Kind::SplitPart => "table data in parts",
            Kind::Index => "index",
            Kind::Constraint => "constraint",
            Kind::ForeignKey => "foreign key",
            Kind::LargeObjects => "large objects",
            Kind::PostDataOther => "other post-data",
            Kind::Drop => "drop (--clean)",
            Kind::Migrations => "migrations",
            Kind::Analyze => "analyze",
        }
    }

    /// A name for CSS classes and the page's `data-kind` attributes (tests find colours by it).
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::TableData => "data",
            Kind::SplitPart => "split",
            Kind::Index => "index",
            Kind::Constraint => "constraint",
            Kind::ForeignKey => "fk",
            Kind::LargeObjects => "lo",
            Kind::PostDataOther => "post",
            Kind::Drop => "drop",
            Kind::Migrations => "migrations",
            Kind::Analyze => "analyze",
        }
    }

    /// Solid colours far from each other, from the lanes' grey (idle) and from the black of
    /// the critical path's outline, so that both a reader and a screenshot tell them apart.
    pub fn colour(self) -> &'static str {
        match self {
            Kind::Schema => "#4e79a7",
            Kind::TableData => "#59a14f",
            Kind::SplitPart => "#edc948",
            Kind::Index => "#f28e2b",
            Kind::Constraint => "#b07aa1",
            Kind::ForeignKey => "#ff9da7",
            Kind::LargeObjects => "#9c755f",
            Kind::PostDataOther => "#76b7b2",
            Kind::Drop => "#e15759",
            Kind::Migrations => "#5b2c6f",
            Kind::Analyze => "#a0cbe8",
        }
    }

    /// The kind of an item: a drop is a drop whatever it drops; table data is "in parts" when
    /// several connections loaded it (`split`); otherwise the TOC `desc` decides, and what
    /// no rule names is schema (pg_dump's pre-data descs are many: TABLE, TYPE, FUNCTION, …).
    /// COMMENT and SECURITY LABEL count as schema wherever they run; ACLs as post-data, since
    /// pg_restore sets them in a pass after the data.
    pub fn of(desc: &str, drop: bool, split: bool) -> Kind {
        if drop {
            return Kind::Drop;
        }
        match desc {
            "TABLE DATA" if split => Kind::SplitPart,
            "TABLE DATA" => Kind::TableData,
            "INDEX" | "INDEX ATTACH" => Kind::Index,
            "CONSTRAINT" | "CHECK CONSTRAINT" => Kind::Constraint,
            "FK CONSTRAINT" => Kind::ForeignKey,
            "BLOB" | "BLOBS" | "BLOB METADATA" | "LARGE OBJECT" => Kind::LargeObjects,
            "ANALYZE" => Kind::Analyze,
            d if d.starts_with("MIGRATION") => Kind::Migrations,
            "TRIGGER" | "EVENT TRIGGER" | "RULE" | "POLICY" | "ROW SECURITY" | "PUBLICATION" | "PUBLICATION TABLE" | "PUBLICATION TABLES IN SCHEMA" | "SUBSCRIPTION" | "SUBSCRIPTION TABLE" | "MATERIALIZED VIEW DATA" | "SEQUENCE SET" | "STATISTICS" | "STATISTICS DATA" | "ACL" | "DEFAULT ACL" => Kind::PostDataOther,
            _ => Kind::Schema,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descs_map_to_kinds() {
        let cases = [
            ("TABLE", Kind::Schema),
            ("COMMENT", Kind::Schema),
            ("EXTENSION", Kind::Schema),
            ("TABLE DATA", Kind::TableData),
            ("INDEX", Kind::Index),
            ("INDEX ATTACH", Kind::Index),
            ("CONSTRAINT", Kind::Constraint),
            ("CHECK CONSTRAINT", Kind::Constraint),
            ("FK CONSTRAINT", Kind::ForeignKey),
            ("BLOBS", Kind::LargeObjects),
            ("BLOB METADATA", Kind::LargeObjects),
            ("SEQUENCE SET", Kind::PostDataOther),
            ("ACL", Kind::PostDataOther),
            ("MATERIALIZED VIEW DATA", Kind::PostDataOther),
            ("ANALYZE", Kind::Analyze),
            ("MIGRATION", Kind::Migrations),
        ];
        for (desc, kind) in cases {
            assert_eq!(Kind::of(desc, false, false), kind, "{desc}");
        }
        assert_eq!(Kind::of("TABLE DATA", false, true), Kind::SplitPart);
        assert_eq!(Kind::of("INDEX", false, true), Kind::Index, "only table data comes in parts");
        assert_eq!(Kind::of("TABLE", true, false), Kind::Drop);
        assert_eq!(Kind::of("TABLE DATA", true, true), Kind::Drop);
    }

    #[test]
    fn every_kind_has_its_own_colour_slug_and_place() {
        for (i, kind) in Kind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert!(Kind::ALL[..i].iter().all(|k| k.colour() != kind.colour() && k.slug() != kind.slug()), "{kind:?}");
            let hex = kind.colour().trim_start_matches('#');
            assert!(hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{kind:?}");
        }
    }
}
