//! Large objects' contents: created where the archive predates `BLOB METADATA` entries, then
//! written with `lo_put` in pieces gathered and sent many at a time — a round trip per batch
//! instead of pg_restore's `lo_open`/`lowrite`/`lo_close` per piece. A refused write ends
//! the restore, as pg_restore's failed `lo_open` does: the object's contents would be lost.

use bytes::Bytes;
use pgsurge_archive::Oid;

use super::connection::Connection;
use super::failure::SessionError;
use super::progress::Progress;
use super::server_error::server_message;

/// Large-object pieces in flight at once, and their bytes: memory bounded by these.
const LO_BATCH_PIECES: usize = 256;
const LO_BATCH_BYTES: usize = 4 * 1024 * 1024;

const LO_PUT: &str = "SELECT pg_catalog.lo_put($1::pg_catalog.oid, $2::pg_catalog.int8, $3::pg_catalog.bytea)";

#[derive(Default)]
pub(super) struct LargeObjects {
    /// The large object being written, and how far.
    writing: Option<LargeObjectWrite>,
    /// Pieces not yet sent, (oid, offset, bytes).
    writes: Vec<(u32, i64, Bytes)>,
    pending_bytes: usize,
    /// Large objects restored.
    pub count: u64,
}

struct LargeObjectWrite {
    oid: Oid,
    offset: i64,
}

impl LargeObjects {
    /// A large object's contents begin; `create` (archives before 1.12) creates it first,
    /// after unlinking any old one when `unlink_first` (`--clean`).
    pub fn start(&mut self, conn: &mut Connection<'_>, oid: Oid, create: bool, unlink_first: bool) -> Result<(), SessionError> {
        conn.flush_batch()?;
        if create {
            self.flush(conn)?;
            if unlink_first {
                conn.command(format!("SELECT pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = '{oid}';\n").as_bytes())?;
            }
            let created = conn.rt().block_on(conn.client().query_one("SELECT pg_catalog.lo_create($1::pg_catalog.oid)", &[&oid.0]));
            if let Err(e) = created {
                return Err(SessionError::Fatal(format!("could not create large object {oid}: {}", server_message(&e))));
            }
        }
        self.count += 1;
        self.writing = Some(LargeObjectWrite { oid, offset: 0 });
        Ok(())
    }

    pub fn data(&mut self, conn: &mut Connection<'_>, progress: &mut Progress<'_>, bytes: &[u8]) -> Result<(), SessionError> {
        let Some(lo) = &mut self.writing else { return Ok(()) };
        progress.data_bytes += bytes.len() as u64;
        self.writes.push((lo.oid.0, lo.offset, Bytes::copy_from_slice(bytes)));
        lo.offset += bytes.len() as i64;
        self.pending_bytes += bytes.len();
        if self.writes.len() >= LO_BATCH_PIECES || self.pending_bytes >= LO_BATCH_BYTES {
            self.flush(conn)?;
        }
        Ok(())
    }

    pub fn end(&mut self) {
        self.writing = None;
    }

    /// Writes the gathered pieces, all in flight at once.
    pub fn flush(&mut self, conn: &mut Connection<'_>) -> Result<(), SessionError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let stmt = conn.prepared(LO_PUT)?;
        let writes = std::mem::take(&mut self.writes);
        self.pending_bytes = 0;
        let results = {
            let client = conn.client();
            conn.rt().block_on(futures_util::future::join_all(writes.iter().map(|(oid, offset, bytes)| {
                let stmt = &stmt;
                async move {
                    let piece: &[u8] = bytes;
                    client.execute(stmt, &[oid, offset, &piece]).await
                }
            })))
        };
        for ((oid, _, _), result) in writes.iter().zip(results) {
            if let Err(e) = result {
                return Err(SessionError::Fatal(format!("could not write large object {oid}: {}", server_message(&e))));
            }
        }
        Ok(())
    }
}
