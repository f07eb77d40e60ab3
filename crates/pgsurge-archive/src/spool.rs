//! A file that fills while it is read: a one-pass source (standard input, a pipe) copied to
//! disk by one thread as fast as it arrives, and read at any offset by others — each read
//! waits until the bytes it asks for have arrived. This turns a pipe into a random-access
//! archive without waiting for its end: a restore can start on the first table while the
//! last one is still in the pipe.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex};

/// Bytes copied per write: large enough to keep the copy cheap, small enough that readers
/// see new data promptly.
const CHUNK: usize = 1 << 20;

/// A read met the point where copying the source failed (the source broke, or the spool's
/// disk filled): the archive itself may be intact.
#[derive(Debug, Clone, thiserror::Error)]
#[error("reading the input failed: {0}")]
pub struct SourceFailed(pub String);

#[derive(Debug)]
pub struct Spool {
    /// The spool file, opened for reading (positioned reads only).
    file: File,
    state: Mutex<State>,
    grown: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes written so far.
    len: u64,
    /// The source has ended (or failed).
    done: bool,
    /// Why the source failed, for every reader that reaches the failure.
    error: Option<String>,
}

impl Spool {
    /// A spool over `file`, which the filling thread writes through another handle.
    pub fn new(file: File) -> Spool {
        Spool { file, state: Mutex::new(State::default()), grown: Condvar::new() }
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
            if let Err(e) = sink.write_all(&buf[..n]) {
                break Err(e);
            }
            let mut st = self.lock();
            st.len += n as u64;
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

    /// Reads up to `buf.len()` bytes at `pos`, waiting for them to arrive; 0 at the end of the
    /// completed source.
    pub fn read_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut st = self.lock();
        while pos >= st.len && !st.done {
            st = self.grown.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        if pos >= st.len {
            return match &st.error {
                Some(e) => Err(io::Error::other(SourceFailed(e.clone()))),
                None => Ok(0),
            };
        }
        let avail = usize::try_from(st.len - pos).unwrap_or(usize::MAX);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

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
}
