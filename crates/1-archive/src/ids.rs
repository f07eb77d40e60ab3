//! The identifiers an archive uses for its entries and the server's objects, shared by the
//! TOC and the errors that name them.

/// A TOC entry's dump id: positive and unique within an archive.
pub type DumpId = i32;

/// A PostgreSQL object identifier.
pub type Oid = u32;
