//! The identifiers an archive uses for its entries and the server's objects, shared by the
//! TOC and the errors that name them. Types of their own, not bare integers, so that a dump
//! id cannot be passed where a TOC position or an OID is meant.

use std::fmt;

/// A TOC entry's dump id: positive and unique within an archive (pg_dump's `DumpId`, a C
/// `int`). Printed as the bare number, as pg_restore prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct DumpId(pub i32);

impl fmt::Display for DumpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A PostgreSQL object identifier (a large object's, here), printed as the bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Oid(pub u32);

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<DumpId> for i64 {
    fn from(id: DumpId) -> i64 {
        i64::from(id.0)
    }
}

/// A dump id as the archive stores it (an `Int`, read as `i64`), if it fits pg_dump's `int`.
impl TryFrom<i64> for DumpId {
    type Error = std::num::TryFromIntError;

    fn try_from(v: i64) -> Result<DumpId, Self::Error> {
        i32::try_from(v).map(DumpId)
    }
}

impl From<i32> for DumpId {
    fn from(id: i32) -> DumpId {
        DumpId(id)
    }
}

/// Lets a test or a caller holding a plain number compare without wrapping it.
impl PartialEq<i32> for DumpId {
    fn eq(&self, other: &i32) -> bool {
        self.0 == *other
    }
}
