//! A file that fills while it is read: a one-pass source (standard input, a pipe) copied to
//! disk by one thread as fast as it arrives, and read at any offset by others — each read
//! waits until the bytes it asks for have arrived. This turns a pipe into a random-access
//! archive without waiting for its end: a restore can start on the first table while the
//! last one is still in the pipe.
//!
//! Bytes nobody will read again can be released: they are cut out of the file (a hole),
//! or never written when they have not arrived yet. With a budget, the copy waits while the
//! bytes held reach it, so the file stays about that size however large the archive — unless
//! a reader is itself waiting for bytes and nothing has been released for a moment (one
//! table's data larger than the budget, say): then the copy goes on rather than stall.
//! What budget the disk allows is [`SpoolBudget`]'s to say: the user's limit, or the spool
//! directory's free space less a margin when that is smaller.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bytes copied per write: large enough to keep the copy cheap, small enough that readers
/// see new data promptly.
const CHUNK: usize = 1 << 20;

/// A read met the point where copying the source failed (the source broke, or the spool's
/// disk filled): the archive itself may be intact.
#[derive(Debug, Clone, thiserror::Error)]
#[error("reading the input failed: {0}")]
pub struct SourceFailed(pub String);

/// The part of the spool directory's free space a budget taken from it leaves alone: the
/// copy can pass its budget by one chunk, released ranges keep their partly used file-system
/// blocks, and other programs write to the same disk meanwhile.
pub const FREE_SPACE_MARGIN_PERCENT: u64 = 10;

/// The margin is never less than this, so that a nearly full disk still has room for the
/// chunk that passes the budget.
pub const FREE_SPACE_MARGIN_MIN: u64 = 2 * CHUNK as u64;

/// The budget of a pipe's temporary copy, and what set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolBudget {
    /// Arrived bytes the copy may hold; `None` for no limit.
    pub bytes: Option<u64>,
    /// The free space of the spool directory, when it is what sets `bytes` (it is below the
    /// limit the user gave, or the default one).
    pub free_space: Option<u64>,
}

impl SpoolBudget {
    /// The smaller of `limit` (`None`: no limit) and the directory's `free` space less the
    /// margin; `free` is `None` when it could not be learnt, and then `limit` stands.
    pub fn choose(limit: Option<u64>, free: Option<u64>) -> SpoolBudget {
        let margin = |f: u64| u64::try_from(u128::from(f) * u128::from(FREE_SPACE_MARGIN_PERCENT) / 100).unwrap_or(u64::MAX);
        let room = free.map(|f| f.saturating_sub(margin(f).max(FREE_SPACE_MARGIN_MIN)));
        match (limit, room) {
            (Some(l), Some(r)) if r < l => SpoolBudget { bytes: Some(r), free_space: free },
            (None, Some(r)) => SpoolBudget { bytes: Some(r), free_space: free },
            _ => SpoolBudget { bytes: limit, free_space: None },
        }
    }
}

/// Bytes an unprivileged user may still write to the file system holding `dir`.
pub fn free_space(dir: &std::path::Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(dir)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// How long the copy holds back while a reader waits for bytes and nothing is released.
const STALL: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub struct Spool {
    /// The spool file, opened for reading and writing (positioned reads; holes punched).
    file: File,
    state: Mutex<State>,
    grown: Condvar,
    /// Signalled when bytes are released (room for the copy under a budget).
    room: Condvar,
}

#[derive(Debug)]
struct State {
    /// Bytes arrived so far.
    len: u64,
    /// The source has ended (or failed).
    done: bool,
    /// Why the source failed, for every reader that reaches the failure.
    error: Option<String>,
    /// Ranges no one will read, sorted and disjoint.
    released: Vec<(u64, u64)>,
    /// At most this many arrived bytes held (not released) before the copy waits.
    budget: Option<u64>,
    /// Readers waiting for bytes to arrive.
    waiting: usize,
    last_release: Instant,
    /// The most bytes held at once.
    peak: u64,
}

impl State {
    /// Arrived bytes not released.
    fn held(&self) -> u64 {
        let released: u64 = self.released.iter().map(|&(a, b)| b.min(self.len).saturating_sub(a)).sum();
        self.len - released
    }

    fn released_at(&self, pos: u64) -> Option<(u64, u64)> {
        self.released.iter().copied().find(|&(a, b)| a <= pos && pos < b)
    }

    /// The first released range starting after `pos`.
    fn next_release_after(&self, pos: u64) -> Option<u64> {
        self.released.iter().map(|&(a, _)| a).find(|&a| a > pos)
    }

    fn add_release(&mut self, start: u64, end: u64) {
        self.released.push((start, end));
        self.released.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.released.len());
        for &(a, b) in &self.released {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        self.released = merged;
    }
}

impl Spool {
    /// A spool over `file` (open for reading and writing), which the filling thread writes
    /// through another handle.
    pub fn new(file: File) -> Spool {
        let state = State { len: 0, done: false, error: None, released: Vec::new(), budget: None, waiting: 0, last_release: Instant::now(), peak: 0 };
        Spool { file, state: Mutex::new(state), grown: Condvar::new(), room: Condvar::new() }
    }

    /// Holds at most about `bytes` of arrived, unreleased data (the copy waits for releases);
    /// `None` copies everything as it comes.
    pub fn set_budget(&self, bytes: Option<u64>) {
        self.lock().budget = bytes.map(|b| b.max(1));
        self.room.notify_all();
    }

    /// Nobody will read `start..end` again (or at all): its bytes leave the file, or are
    /// never written. Reading them later is an error.
    pub fn release(&self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut st = self.lock();
        st.add_release(start, end);
        st.last_release = Instant::now();
        // The whole merged range goes: file system blocks shared by neighbouring ranges are
        // freed once both are released.
        let (from, to) = st.released_at(start).unwrap_or((start, end));
        let written_end = to.min(st.len);
        drop(st);
        if from < written_end {
            punch_hole(&self.file, from, written_end - from);
        }
        self.room.notify_all();
    }

    /// Bytes arrived and not released.
    pub fn held(&self) -> u64 {
        self.lock().held()
    }

    /// Whether the bytes held have reached the budget (never without one).
    pub fn over_budget(&self) -> bool {
        let st = self.lock();
        st.budget.is_some_and(|b| st.held() >= b)
    }

    /// Whether the byte at `pos` was released (can no longer be read).
    pub fn is_released(&self, pos: u64) -> bool {
        self.lock().released_at(pos).is_some()
    }

    /// The most bytes held at once so far: what the temporary file took on disk at its
    /// largest.
    pub fn peak(&self) -> u64 {
        self.lock().peak
    }

    /// Waits while the budget is spent, unless waiting would leave a reader stalled.
    fn wait_for_room(&self) {
        let mut st = self.lock();
        loop {
            let Some(budget) = st.budget else { return };
            if st.held() < budget || (st.waiting > 0 && st.last_release.elapsed() >= STALL) {
                return;
            }
            st = self.room.wait_timeout(st, Duration::from_millis(100)).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Copies `source` to `sink` (the spool file's writing handle) until it ends, publishing
    /// each chunk to readers. Returns the number of bytes copied. Readers learn of a failure
    /// as an I/O error at the offset where the copy stopped.
    pub fn fill(&self, source: &mut dyn Read, sink: &mut File) -> io::Result<u64> {
        let mut buf = vec![0u8; CHUNK];
        let result = loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            };
            // Waiting with the chunk in hand (not before reading it) still holds the source
            // back, and lets its end be seen without waiting for room.
            self.wait_for_room();
            if let Err(e) = self.write_kept(sink, &buf[..n]) {
                break Err(e);
            }
            let mut st = self.lock();
            st.len += n as u64;
            st.peak = st.peak.max(st.held());
            drop(st);
            self.grown.notify_all();
        };
        let mut st = self.lock();
        st.done = true;
        if let Err(e) = &result {
            st.error = Some(e.to_string());
        }
        let len = st.len;
        drop(st);
        self.grown.notify_all();
        result.map(|()| len)
    }

    /// Writes the bytes that arrive next, leaving out released ranges.
    fn write_kept(&self, sink: &File, bytes: &[u8]) -> io::Result<()> {
        let (start, released) = {
            let st = self.lock();
            (st.len, st.released.clone())
        };
        let end = start + bytes.len() as u64;
        let mut pos = start;
        for (a, b) in released.into_iter().filter(|&(a, b)| a < end && b > start) {
            if a > pos {
                sink.write_all_at(&bytes[(pos - start) as usize..(a - start) as usize], pos)?;
            }
            pos = pos.max(b.min(end));
        }
        if pos < end {
            sink.write_all_at(&bytes[(pos - start) as usize..], pos)?;
        }
        Ok(())
    }

    /// Reads up to `buf.len()` bytes at `pos`, waiting for them to arrive; 0 at the end of the
    /// completed source.
    pub fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.lock();
        st.waiting += 1;
        while pos >= st.len && !st.done {
            st = self.grown.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.waiting -= 1;
        if let Some((a, b)) = st.released_at(pos) {
            return Err(io::Error::other(format!("bytes {a}..{b} of the spooled input were already released")));
        }
        if pos >= st.len {
            return match &st.error {
                Some(e) => Err(io::Error::other(SourceFailed(e.clone()))),
                None => Ok(0),
            };
        }
        let limit = st.next_release_after(pos).unwrap_or(u64::MAX).min(st.len);
        let avail = usize::try_from(limit - pos).unwrap_or(usize::MAX);
        drop(st);
        let want = buf.len().min(avail);
        self.file.read_at(&mut buf[..want], pos)
    }

    /// Waits for the source to end; its total length, or why it failed.
    pub fn wait_done(&self) -> io::Result<u64> {
        let mut st = self.lock();
        while !st.done {
            st = self.grown.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        match &st.error {
            Some(e) => Err(io::Error::other(e.clone())),
            None => Ok(st.len),
        }
    }

    /// Bytes arrived so far, and whether that is all.
    pub fn progress(&self) -> (u64, bool) {
        let st = self.lock();
        (st.len, st.done)
    }
}

/// Gives a file range's disk space back (a hole reading as zeros); a file system that
/// cannot keeps the bytes, which costs space but nothing else.
fn punch_hole(file: &File, start: u64, len: u64) {
    let (Ok(offset), Ok(len)) = (libc::off_t::try_from(start), libc::off_t::try_from(len)) else { return };
    // SAFETY: fallocate on an open descriptor we own; no memory is passed.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE, offset, len) };
    let _ = rc;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_budget_is_the_limit_or_the_free_space_less_the_margin() {
        const M: u64 = 1 << 20;
        const G: u64 = 1 << 30;
        // Plenty of room: the limit stands, and free space is not named.
        assert_eq!(SpoolBudget::choose(Some(2 * G), Some(100 * G)), SpoolBudget { bytes: Some(2 * G), free_space: None });
        // A 40 MiB tmpfs under the default 2 GiB: 90% of it.
        assert_eq!(SpoolBudget::choose(Some(2 * G), Some(40 * M)), SpoolBudget { bytes: Some(40 * M - 4 * M), free_space: Some(40 * M) });
        // No limit of its own (0): the free space still bounds it.
        assert_eq!(SpoolBudget::choose(None, Some(40 * M)), SpoolBudget { bytes: Some(36 * M), free_space: Some(40 * M) });
        // The margin is at least two chunks; a full disk leaves nothing.
        assert_eq!(SpoolBudget::choose(Some(G), Some(10 * M)).bytes, Some(8 * M));
        assert_eq!(SpoolBudget::choose(Some(G), Some(M)).bytes, Some(0));
        assert_eq!(SpoolBudget::choose(Some(G), Some(0)).bytes, Some(0));
        // A limit below the free space less the margin stands, even just below.
        assert_eq!(SpoolBudget::choose(Some(36 * M - 1), Some(40 * M)), SpoolBudget { bytes: Some(36 * M - 1), free_space: None });
        assert_eq!(SpoolBudget::choose(Some(36 * M), Some(40 * M)).free_space, None);
        // Free space unknown: the limit, or none.
        assert_eq!(SpoolBudget::choose(Some(G), None), SpoolBudget { bytes: Some(G), free_space: None });
        assert_eq!(SpoolBudget::choose(None, None), SpoolBudget { bytes: None, free_space: None });
        // No overflow at the extremes.
        assert_eq!(SpoolBudget::choose(Some(u64::MAX), Some(u64::MAX)).bytes, Some(u64::MAX - u64::MAX / 10));
    }

    #[test]
    fn free_space_of_a_real_directory() {
        // Only that it answers: the number is the machine's.
        free_space(&std::env::temp_dir()).expect("statvfs of the temporary directory");
        assert!(free_space(std::path::Path::new("/no/such/directory/for/pgsurge")).is_err());
    }

    #[test]
    fn readers_wait_for_bytes_and_see_the_end() {
        let dir = std::env::temp_dir().join(format!("pgsurge-spool-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("spool");
        let mut writer = File::create(&path).expect("create");
        let spool = Arc::new(Spool::new(File::open(&path).expect("open")));
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let filler = {
            let spool = Arc::clone(&spool);
            std::thread::spawn(move || {
                struct Chan(std::sync::mpsc::Receiver<Vec<u8>>, Vec<u8>);
                impl Read for Chan {
                    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                        if self.1.is_empty() {
                            match self.0.recv() {
                                Ok(v) => self.1 = v,
                                Err(_) => return Ok(0),
                            }
                        }
                        let n = buf.len().min(self.1.len());
                        buf[..n].copy_from_slice(&self.1[..n]);
                        self.1.drain(..n);
                        Ok(n)
                    }
                }
                spool.fill(&mut Chan(rx, Vec::new()), &mut writer)
            })
        };
        let reader = {
            let spool = Arc::clone(&spool);
            // Asks for bytes that have not arrived yet.
            std::thread::spawn(move || {
                let mut buf = [0u8; 4];
                let n = spool.read_at(6, &mut buf).expect("read");
                buf[..n].to_vec()
            })
        };
        tx.send(b"hello ".to_vec()).expect("send");
        tx.send(b"world".to_vec()).expect("send");
        drop(tx);
        assert_eq!(reader.join().expect("reader"), b"worl");
        assert_eq!(filler.join().expect("filler").expect("fill"), 11);
        let mut buf = [0u8; 8];
        assert_eq!(spool.read_at(11, &mut buf).expect("at the end"), 0);
        assert_eq!(spool.wait_done().expect("done"), 11);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn temp_spool(name: &str) -> (std::path::PathBuf, File, Arc<Spool>) {
        let dir = std::env::temp_dir().join(format!("pgsurge-spool-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("spool");
        let writer = File::create(&path).expect("create");
        let reader = std::fs::OpenOptions::new().read(true).write(true).open(&path).expect("open");
        (dir, writer, Arc::new(Spool::new(reader)))
    }

    #[test]
    fn a_budget_holds_the_copy_until_bytes_are_released() {
        let (dir, mut writer, spool) = temp_spool("budget");
        spool.set_budget(Some(3 * CHUNK as u64));
        let total = 10 * CHUNK;
        let filler = {
            let spool = Arc::clone(&spool);
            std::thread::spawn(move || spool.fill(&mut io::repeat(7).take(total as u64), &mut writer))
        };
        // The copy stops once the budget is spent (a chunk may overshoot it).
        while spool.progress().0 < 3 * CHUNK as u64 {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(spool.held() <= 4 * CHUNK as u64, "held {}", spool.held());
        assert!(!spool.progress().1, "the copy went past its budget");
        // Giving back what is done lets it go on; released bytes cannot be read.
        let mut released = 0;
        while !spool.progress().1 {
            let (len, _) = spool.progress();
            if len > released {
                spool.release(released, len);
                released = len;
            }
            assert!(spool.held() <= 4 * CHUNK as u64, "held {}", spool.held());
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(filler.join().expect("filler").expect("fill"), total as u64);
        let mut buf = [0u8; 4];
        assert!(spool.read_at(10, &mut buf).is_err(), "a released byte was read");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn released_ranges_are_never_written_and_reads_stop_at_them() {
        let (dir, mut writer, spool) = temp_spool("skip");
        spool.release(4, 8);
        let data = b"0123456789abcdef".to_vec();
        spool.fill(&mut io::Cursor::new(data), &mut writer).expect("fill");
        let mut buf = [0u8; 16];
        // A read from before the hole ends at it.
        assert_eq!(spool.read_at(0, &mut buf).expect("read"), 4);
        assert_eq!(&buf[..4], b"0123");
        assert!(spool.read_at(5, &mut buf).is_err());
        assert_eq!(spool.read_at(8, &mut buf).expect("read"), 8);
        assert_eq!(&buf[..8], b"89abcdef");
        assert_eq!(spool.held(), 12);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_waiting_reader_is_not_left_stalled_by_the_budget() {
        let (dir, mut writer, spool) = temp_spool("stall");
        spool.set_budget(Some(CHUNK as u64));
        let filler = {
            let spool = Arc::clone(&spool);
            std::thread::spawn(move || spool.fill(&mut io::repeat(1).take(4 * CHUNK as u64), &mut writer))
        };
        // Nothing is ever released, but a reader wants the last byte: it gets it.
        let mut buf = [0u8; 1];
        assert_eq!(spool.read_at(4 * CHUNK as u64 - 1, &mut buf).expect("read"), 1);
        assert_eq!(filler.join().expect("filler").expect("fill"), 4 * CHUNK as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
