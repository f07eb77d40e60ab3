//! An entry's data: table rows streamed from the archive to the target after their COPY
//! statement (or as SQL), with `--disable-triggers` around them, and a BLOBS entry's large
//! objects in a transaction of their own. Streamed through fixed buffers, never held whole.

use bstr::ByteSlice;
use pgsurge_archive::{Format, TocEntry, K_VERS_1_12};

use super::session::Session;
use super::{RenderError, Renderer, LOBBUFSIZE};
use crate::sql;

/// Read buffer for streaming table data to the output.
const COPY_BUFFER: usize = 64 * 1024;

impl Renderer<'_> {
    /// `_disableTriggersIfNecessary`: only in a data-only restore with `--disable-triggers`,
    /// as the `-S` superuser (or the session's own user).
    pub(super) fn disable_triggers(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        self.toggle_triggers(te, "disabling", b" DISABLE TRIGGER ALL;\n\n")
    }

    pub(super) fn enable_triggers(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        self.toggle_triggers(te, "enabling", b" ENABLE TRIGGER ALL;\n\n")
    }

    fn toggle_triggers(&mut self, te: &TocEntry, verb: &str, action: &[u8]) -> Result<(), RenderError> {
        if self.sel.restores_schema() || !self.opts.disable_triggers {
            return Ok(());
        }
        self.info(format!("{verb} triggers for {}", te.tag));
        let superuser = self.opts.superuser.clone();
        self.become_user(superuser.as_deref().map(|s| s.as_bytes()))?;
        let stmt = [b"ALTER TABLE ", sql::qualified_name(te.namespace.as_deref().map(|n| n.as_bytes()), &te.tag).as_slice(), action].concat();
        self.cmd(&stmt)
    }

    /// Streams an entry's decompressed data to the target unchanged (COPY rows with their
    /// `\\.` terminator, or SQL), after its COPY statement when it has one.
    pub(super) fn stream_data(&mut self, te: &TocEntry, copy: Option<&[u8]>) -> Result<(), RenderError> {
        if !te.has_data() {
            // Nothing to feed a COPY with: a script still shows the statement.
            if let Some(copy) = copy {
                self.w(copy)?;
            }
            return Ok(());
        }
        // The statement goes out before the data is looked for, as pg_restore does: a one-pass
        // input that has already passed the data fails after the script shows the COPY.
        self.target.data_start(te, copy)?;
        let mut reader = self.archive.table_data(te.dump_id)?;
        let mut buf = vec![0u8; COPY_BUFFER];
        loop {
            let n = reader.read_data(&mut buf)?;
            if n == 0 {
                break;
            }
            self.target.data(&buf[..n])?;
            if let Some(read) = reader.archive_read() {
                self.target.data_read(read);
            }
        }
        self.target.data_end()?;
        if self.target.session_lost() {
            self.session = Session::default();
        }
        Ok(())
    }

    /// A BLOBS entry's large objects (pg_backup_archiver.c `StartRestoreLO`), in a transaction of their own
    /// unless the whole restore is one (`-1`, `--transaction-size`).
    pub(super) fn large_objects(&mut self, te: &TocEntry) -> Result<(), RenderError> {
        if !te.has_data() {
            return Ok(());
        }
        let own_transaction = !(self.opts.single_transaction || self.txn_size > 0);
        let old_style = self.archive.header().version < K_VERS_1_12;
        // The tar reader announces the transaction before it looks for the first member;
        // the others find their data first.
        let tar = self.archive.format() == Format::Tar;
        if tar && own_transaction {
            self.cmd(b"BEGIN;\n")?;
            self.w(b"\n")?;
        }
        let mut los = self.archive.large_objects(te.dump_id)?;
        if !tar && own_transaction {
            self.target.command(b"BEGIN;\n")?;
            self.target.text(b"\n")?;
        }
        let mut count = 0usize;
        let mut read_buf = vec![0u8; LOBBUFSIZE];
        while let Some(mut lo) = los.next_object()? {
            count += 1;
            (self.info)(format!("restoring large object with OID {}", lo.oid));
            self.target.lo_start(lo.oid, old_style, self.opts.clean)?;
            loop {
                let n = lo.data.read_data(&mut read_buf)?;
                if n == 0 {
                    break;
                }
                self.target.lo_data(&read_buf[..n])?;
            }
            self.target.lo_end()?;
        }
        drop(los);
        if own_transaction {
            self.cmd(b"COMMIT;\n")?;
            self.w(b"\n")?;
        }
        let noun = if count == 1 { "large object" } else { "large objects" };
        self.info(format!("restored {count} {noun}"));
        Ok(())
    }
}
