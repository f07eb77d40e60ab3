//! Opening an archive (its format told by `detect`) and reading its data: table
//! data as one decompressed stream, large objects one stream each.
//!
//! Random-access sources (a file, a directory, a tar file) serve any entry at any time;
//! one-pass sources (standard input, a pipe) serve data in file order, as pg_restore does.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bstr::{BStr, ByteSlice};

use crate::compress::{Codec, Decoder};
use crate::custom::{CustomData, RawChunks, SharedBlocks, BLK_BLOBS, BLK_DATA};
use crate::directory::{self, BlobToc, DataFile};
use crate::detect::{detect, detect_and_rewind};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Compression, Format, Header, K_VERS_1_16};
use crate::input::{Input, MappedFile};
use crate::layout::{self, Layout};
use crate::spool::Spool;
use crate::tar::{Member, TarIndex, TarStream};
use crate::ids::{DumpId, Oid};
use crate::toc::{DataLocation, Toc, TocEntry};

/// Where archive bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file or directory path.
    Path(PathBuf),
    /// Standard input.
    Stdin,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Path(p) => write!(f, "{}", p.display()),
            Source::Stdin => write!(f, "standard input"),
        }
    }
}

enum Backend {
    Custom(CustomData),
    Directory { dir: PathBuf },
    TarIndexed { input: Input, index: TarIndex },
    TarStream { input: Input, walk: TarStream, current: Option<Member> },
}

/// An open pg_dump archive: its header, its TOC, and access to its data.
pub struct Archive {
    header: Header,
    toc: Toc,
    format: Format,
    backend: Backend,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive").field("format", &self.format).field("header", &self.header).finish()
    }
}

impl Archive {
    /// Opens `source`, detecting the format unless `format` is given.
    pub fn open(source: &Source, format: Option<Format>) -> Result<Archive> {
        match source {
            Source::Path(path) => Self::open_path(path, format),
            Source::Stdin => Self::open_stdin(format),
        }
    }

    /// Opens a file or directory.
    pub fn open_path(path: &Path, format: Option<Format>) -> Result<Archive> {
        let meta = std::fs::metadata(path).map_err(|e| Error::new(ErrorKind::Open { path: path.to_owned(), source: e }))?;
        if meta.is_dir() || format == Some(Format::Directory) {
            return Self::open_directory(path);
        }
        let file = File::open(path).map_err(|e| Error::new(ErrorKind::Open { path: path.to_owned(), source: e }))?;
        if meta.is_file() {
            Self::open_mapped(&file, format)
        } else {
            // A FIFO or device: one pass. Unlike pg_restore we keep the bytes read to detect
            // the format instead of reopening, so detection works on pipes too.
            Self::open_stream(Box::new(file), format)
        }
    }

    /// Opens standard input: mapped when it is a regular file, otherwise read in one pass.
    pub fn open_stdin(format: Option<Format>) -> Result<Archive> {
        if format == Some(Format::Directory) {
            return Err(Error::new(ErrorKind::NotAnArchive));
        }
        let stdin = stdin_file().map_err(|e| Error::new(ErrorKind::Io(e)))?;
        let is_file = stdin.metadata().map(|m| m.is_file()).unwrap_or(false);
        if is_file {
            Self::open_mapped(&stdin, format)
        } else {
            Self::open_stream(Box::new(stdin), format)
        }
    }

    /// Opens a one-pass archive from any reader.
    pub fn open_stream(reader: Box<dyn Read + Send>, format: Option<Format>) -> Result<Archive> {
        let mut input = Input::stream(reader, 0);
        let format = match format {
            Some(f) => f,
            None => {
                let mut probe = Vec::new();
                let detected = detect(&mut input, &mut probe)?;
                // Put the probed bytes back in front of the rest of the stream.
                let rest = input;
                input = Input::stream(Box::new(io::Cursor::new(probe).chain(InputReader(rest))), 0);
                detected
            }
        };
        match format {
            Format::Custom => Self::custom(input),
            Format::Tar => Self::tar_stream(input),
            Format::Directory => Err(Error::new(ErrorKind::NotAnArchive)),
        }
    }

    /// Opens a custom archive from a spool that its source is still filling (see
    /// [`Spool`]): the TOC is read as soon as it has arrived, and any entry's data can be
    /// asked for at any time — reading it waits until its bytes are in. Other formats wait
    /// for the whole source and are then read from `path`, the spool's file.
    pub fn open_spooled(spool: Arc<Spool>, path: &Path, format: Option<Format>) -> Result<Archive> {
        let mut input = Input::spooled(Arc::clone(&spool), 0);
        let format = detect_and_rewind(&mut input, format)?;
        match format {
            Format::Custom => Self::custom(input),
            _ => {
                // Read from the file once it is whole: nothing can be released before.
                spool.set_budget(None);
                spool.wait_done().map_err(|e| Error::new(ErrorKind::Io(e)))?;
                Self::open_path(path, Some(format))
            }
        }
    }

    /// Whether data is read from a spool its source may still be filling: reading waits, and
    /// the data arrives in archive order.
    pub fn is_spooled(&self) -> bool {
        matches!(&self.backend, Backend::Custom(data) if data.input.is_spooled())
    }

    /// The spool a spooled custom archive reads (see [`Archive::open_spooled`]).
    pub fn spool(&self) -> Option<Arc<Spool>> {
        match &self.backend {
            Backend::Custom(data) => data.input.spool().cloned(),
            _ => None,
        }
    }

    /// Keeps a spooled archive's temporary file to about `budget` bytes by giving back what
    /// the restore will not read again: what precedes the data now, blocks not in `wanted`
    /// as soon as their place is known, the others once reported [`DataRelease::done`] and
    /// no reader can still scan through them. `None` when this archive reads no spool.
    pub fn release_as_read(&self, wanted: HashSet<DumpId>, budget: u64) -> Option<DataRelease> {
        let Backend::Custom(data) = &self.backend else { return None };
        let spool = data.input.spool()?.clone();
        let shared = data.release_into(Arc::clone(&spool), wanted);
        spool.set_budget(Some(budget));
        Some(DataRelease(shared))
    }

    /// A custom archive's known data block positions, `(offset, dump id)` in file order (from
    /// the TOC, or found by scanning).
    fn block_starts(&self) -> Option<Vec<(u64, DumpId)>> {
        let Backend::Custom(data) = &self.backend else { return None };
        let mut starts: Vec<(u64, DumpId)> = self
            .toc
            .entries
            .iter()
            .filter_map(|te| match te.data {
                DataLocation::Block { offset: Some(pos) } => Some((pos, te.dump_id)),
                DataLocation::Block { offset: None } => data.position(te.dump_id).map(|pos| (pos, te.dump_id)),
                _ => None,
            })
            .collect();
        starts.sort_unstable();
        Some(starts)
    }

    /// Opens an archive held in memory (custom or tar), with random access.
    pub fn open_bytes(bytes: Vec<u8>, format: Option<Format>) -> Result<Archive> {
        Self::open_map(Arc::new(MappedFile::from_vec(bytes)), format)
    }

    fn open_mapped(file: &File, format: Option<Format>) -> Result<Archive> {
        let map = Arc::new(MappedFile::open(file).map_err(|e| Error::new(ErrorKind::Io(e)))?);
        Self::open_map(map, format)
    }

    fn open_map(map: Arc<MappedFile>, format: Option<Format>) -> Result<Archive> {
        let len = map.len();
        let mut input = Input::mapped(Arc::clone(&map), 0, len);
        let format = detect_and_rewind(&mut input, format)?;
        match format {
            Format::Custom => Self::custom(input),
            Format::Tar => Self::tar_indexed(input),
            Format::Directory => Err(Error::new(ErrorKind::NotAnArchive)),
        }
    }

    fn custom(mut input: Input) -> Result<Archive> {
        let header = Header::parse(&mut input, Format::Custom)?;
        let toc = Toc::parse(&mut input, &header, Format::Custom)?;
        let offsets: Vec<(DumpId, Option<u64>)> = toc
            .entries
            .iter()
            .filter_map(|te| match te.data {
                DataLocation::Block { offset } => Some((te.dump_id, offset)),
                _ => None,
            })
            .collect();
        let data = CustomData::new(input, &offsets);
        Ok(Archive { header, toc, format: Format::Custom, backend: Backend::Custom(data) })
    }

    fn open_directory(dir: &Path) -> Result<Archive> {
        for (name, codec) in directory::TOC_NAMES {
            let path = dir.join(name);
            let file = match directory::open_regular(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => break,
                Err(e) => return Err(Error::new(ErrorKind::Open { path, source: e })),
            };
            let mut input = if codec == Codec::None {
                let map = Arc::new(MappedFile::open(&file).map_err(|e| Error::new(ErrorKind::Io(e)).in_file(path.clone()))?);
                let len = map.len();
                Input::mapped(map, 0, len)
            } else {
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                let decoder = Decoder::new(directory::buffered(file), codec, len == 0).map_err(|e| Error::from_io(e).in_file(path.clone()))?;
                Input::stream(Box::new(decoder), 0)
            };
            let header = Header::parse(&mut input, Format::Directory).map_err(|e| e.in_file(path.clone()))?;
            let toc = Toc::parse(&mut input, &header, Format::Directory).map_err(|e| e.in_file(path.clone()))?;
            return Ok(Archive { header, toc, format: Format::Directory, backend: Backend::Directory { dir: dir.to_owned() } });
        }
        Err(Error::new(ErrorKind::NotADirectoryArchive(dir.to_owned())))
    }

    fn tar_indexed(mut input: Input) -> Result<Archive> {
        let index = TarIndex::build(&mut input)?;
        let (_, toc_member) = index.find("toc.dat").ok_or_else(|| Error::new(ErrorKind::TarMemberNotFound("toc.dat".into())))?;
        let mut toc_input = input.fork(toc_member.data_start, toc_member.data_end()).ok_or_else(|| Error::new(ErrorKind::NotAnArchive))?;
        let (header, toc) = Self::tar_toc(&mut toc_input)?;
        Ok(Archive { header, toc, format: Format::Tar, backend: Backend::TarIndexed { input, index } })
    }

    fn tar_stream(mut input: Input) -> Result<Archive> {
        let mut walk = TarStream::default();
        let member = walk.seek_member(&mut input, None, "toc.dat")?;
        // Parse the TOC within the member's window, then let the stream run free again.
        let mut windowed = WindowedStream { input: &mut input, end: member.data_end() };
        let (header, toc) = Self::tar_toc(&mut windowed.as_input()?)?;
        Ok(Archive { header, toc, format: Format::Tar, backend: Backend::TarStream { input, walk, current: Some(member) } })
    }

    fn tar_toc(input: &mut Input) -> Result<(Header, Toc)> {
        let in_toc = |e: Error| e.in_file("toc.dat");
        let header = Header::parse(input, Format::Tar).map_err(in_toc)?;
        if header.compression != Compression::None {
            return Err(Error::new(ErrorKind::CompressedTar));
        }
        let toc = Toc::parse(input, &header, Format::Tar).map_err(in_toc)?;
        Ok((header, toc))
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn toc(&self) -> &Toc {
        &self.toc
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// True when any entry's data can be read at any time (not a one-pass stream).
    pub fn is_seekable(&self) -> bool {
        match &self.backend {
            Backend::Custom(data) => data.input.is_seekable(),
            Backend::Directory { .. } | Backend::TarIndexed { .. } => true,
            Backend::TarStream { .. } => false,
        }
    }

    /// The data offset of an entry as pg_restore's verbose script shows it (`-- Data Pos:`):
    /// the TOC's offset, or the position scanning has found, else 0.
    pub fn data_pos(&self, entry: &TocEntry) -> u64 {
        match (&entry.data, &self.backend) {
            (DataLocation::Block { offset: Some(pos) }, _) => *pos,
            (DataLocation::Block { offset: None }, Backend::Custom(data)) => data.position(entry.dump_id).unwrap_or(0),
            _ => 0,
        }
    }

    /// Accounts for the archive's bytes beyond its entries' data streams (see
    /// [`Layout`]). A one-pass source is read to its end: call this last.
    pub fn account(&mut self) -> Layout {
        match &mut self.backend {
            Backend::Custom(data) => layout::custom(&self.header, &self.toc, data),
            Backend::Directory { dir } => layout::directory(&self.toc, dir),
            Backend::TarIndexed { input, index } => layout::tar_indexed(&self.toc, input, index),
            Backend::TarStream { input, walk, current } => layout::tar_stream(&self.toc, input, walk, current),
        }
    }

    /// Records where every data block of a mapped custom archive starts, by one scan over
    /// the block headers (bodies are skipped by their lengths). Entries whose TOC already has
    /// offsets need none of this; a damaged area simply ends the scan, and reading the entries
    /// behind it reports the damage.
    pub fn locate_blocks(&mut self) {
        if let Backend::Custom(data) = &mut self.backend {
            // A spool still filling would make this wait for the source's end.
            if data.input.is_seekable() && !data.input.is_spooled() {
                data.scan_all();
            }
        }
    }

    /// How many archive bytes each entry's data occupies, as far as the archive tells without
    /// reading it: the distance to the next known data block (custom), the member's size
    /// (tar), the file's size (directory; for large objects, that of their `blobs*.toc`).
    /// A scheduler uses these to start the largest tables first; entries whose size is
    /// unknown (a custom archive read from a pipe) are missing from the map.
    pub fn data_sizes(&self) -> HashMap<DumpId, u64> {
        let mut sizes = HashMap::new();
        match &self.backend {
            Backend::Custom(data) => {
                // A spool still filling has no end yet: every block but the last has a size.
                let end = data.input.end();
                let starts = self.block_starts().unwrap_or_default();
                for (i, &(pos, id)) in starts.iter().enumerate() {
                    let Some(next) = starts.get(i + 1).map(|&(p, _)| p).or(end) else { continue };
                    sizes.insert(id, next.saturating_sub(pos));
                }
            }
            Backend::Directory { dir } => {
                for te in &self.toc.entries {
                    let DataLocation::File(name) = &te.data else { continue };
                    if let Ok(file) = directory::find_data_file(dir, name.as_bstr()) {
                        sizes.insert(te.dump_id, file.len);
                    }
                }
            }
            Backend::TarIndexed { index, .. } => {
                for te in &self.toc.entries {
                    if let DataLocation::File(name) = &te.data {
                        if let Some((_, m)) = index.find(&name.to_str_lossy()) {
                            sizes.insert(te.dump_id, m.size);
                        }
                    }
                }
            }
            Backend::TarStream { .. } => {}
        }
        sizes
    }

    /// An independent reader of the same archive, for reading entries on another thread.
    /// `None` for one-pass sources.
    pub fn try_clone_reader(&self) -> Option<Archive> {
        let backend = match &self.backend {
            Backend::Custom(data) => Backend::Custom(data.fork()?),
            Backend::Directory { dir } => Backend::Directory { dir: dir.clone() },
            Backend::TarIndexed { input, index } => {
                let end = input.end()?;
                Backend::TarIndexed { input: input.fork(0, end)?, index: index.clone() }
            }
            Backend::TarStream { .. } => return None,
        };
        Some(Archive { header: self.header.clone(), toc: self.toc.clone(), format: self.format, backend })
    }

    /// Whether entry `id`'s data can still be read from its start: false once a spooled
    /// archive has given its first bytes back (see [`Archive::release_as_read`]).
    pub fn data_intact(&self, id: DumpId) -> bool {
        let Backend::Custom(data) = &self.backend else { return true };
        match (data.input.spool(), data.position(id)) {
            (Some(spool), Some(pos)) => !spool.is_released(pos),
            _ => true,
        }
    }

    /// Declares which data members a one-pass tar stream will be asked for, so that passing
    /// one of them while looking for another is reported as pg_restore reports it.
    pub fn expect_data(&mut self, ids: impl IntoIterator<Item = DumpId>) {
        if let Backend::TarStream { walk, .. } = &mut self.backend {
            walk.needed = ids.into_iter().map(|id| format!("{id}.dat")).collect();
        }
    }

    fn entry(&self, id: DumpId) -> Result<&TocEntry> {
        self.toc.get(id).ok_or_else(|| Error::new(ErrorKind::NoSuchEntry(id)))
    }

    /// Opens an entry's data (TABLE DATA) as a stream of decompressed bytes.
    pub fn table_data(&mut self, id: DumpId) -> Result<DataReader<'_>> {
        let entry = self.entry(id)?.clone();
        let label = entry.label();
        let codec_custom = Codec::for_custom(self.header.compression);
        let raw = match (&mut self.backend, &entry.data) {
            (_, DataLocation::None) => return Err(Error::new(ErrorKind::NoData).for_entry(label)),
            (Backend::Custom(data), DataLocation::Block { offset }) => {
                let kind = data.open_block(id, *offset).map_err(|e| e.for_entry(label.clone()))?;
                if kind != BLK_DATA {
                    return Err(Error::new(ErrorKind::BadBlockType(kind)).for_entry(label));
                }
                Raw::Chunks(RawChunks { data })
            }
            (Backend::Directory { dir }, DataLocation::File(name)) => {
                let file = directory::find_data_file(dir, name.as_bstr()).map_err(|e| e.for_entry(label.clone()))?;
                Raw::File(OpenFile::new(file))
            }
            (Backend::TarIndexed { input, index }, DataLocation::File(name)) => {
                let name = name.to_str_lossy().into_owned();
                let (_, m) = index.find(&name).ok_or_else(|| Error::new(ErrorKind::TarMemberNotFound(name.clone())).for_entry(label.clone()))?;
                let window = input.fork(m.data_start, m.data_end()).ok_or_else(|| Error::new(ErrorKind::NotAnArchive))?;
                Raw::Window(InputReader(window))
            }
            (Backend::TarStream { input, walk, current }, DataLocation::File(name)) => {
                let name = name.to_str_lossy().into_owned();
                let m = walk.seek_member(input, current.as_ref(), &name).map_err(|e| e.for_entry(label.clone()))?;
                let end = m.data_end();
                *current = Some(m);
                Raw::Stream(StreamWindow { input, end })
            }
            _ => return Err(Error::new(ErrorKind::NoData).for_entry(label)),
        };
        let codec = match &raw {
            Raw::Chunks(_) => codec_custom,
            Raw::File(f) => f.codec,
            _ => Codec::None,
        };
        DataReader::new(raw, codec, label)
    }

    /// Opens the large objects of a BLOBS entry, one after another.
    pub fn large_objects(&mut self, id: DumpId) -> Result<LargeObjects<'_>> {
        let entry = self.entry(id)?.clone();
        let label = entry.label();
        let v116 = self.header.version >= K_VERS_1_16;
        let codec = Codec::for_custom(self.header.compression);
        let state = match (&mut self.backend, &entry.data) {
            (_, DataLocation::None) => return Err(Error::new(ErrorKind::NoData).for_entry(label)),
            (Backend::Custom(data), DataLocation::Block { offset }) => {
                let kind = data.open_block(id, *offset).map_err(|e| e.for_entry(label.clone()))?;
                if kind != BLK_BLOBS {
                    return Err(Error::new(ErrorKind::BadBlockType(kind)).for_entry(label));
                }
                LoState::Custom { data, codec }
            }
            (Backend::Directory { dir }, DataLocation::File(name)) => {
                let toc = BlobToc::open(dir, Some(name.as_bstr()), v116).map_err(|e| e.for_entry(label.clone()))?;
                LoState::Directory { dir: dir.clone(), toc: Box::new(toc) }
            }
            (Backend::TarIndexed { input, index }, DataLocation::File(_)) => {
                let start = if v116 {
                    let first = format!("blob_{}.dat", leading_number(entry.tag.as_bstr()));
                    index.find(&first).map(|(i, _)| i).ok_or_else(|| Error::new(ErrorKind::TarMemberNotFound(first)).for_entry(label.clone()))?
                } else {
                    index.members.iter().position(|m| m.name.starts_with("blob_")).unwrap_or(index.members.len())
                };
                LoState::TarIndexed { input, members: &index.members, next: start }
            }
            (Backend::TarStream { input, walk, current }, DataLocation::File(_)) => {
                if v116 {
                    let first = format!("blob_{}.dat", leading_number(entry.tag.as_bstr()));
                    let m = walk.seek_member(input, current.as_ref(), &first).map_err(|e| e.for_entry(label.clone()))?;
                    walk.pending = Some(m);
                    // The pending member is re-read by the first `next`; the input stays at
                    // its data.
                    *current = None;
                }
                LoState::TarStream { input, walk, current, started: false }
            }
            _ => return Err(Error::new(ErrorKind::NoData).for_entry(label)),
        };
        Ok(LargeObjects { state, label })
    }
}

/// The number a BLOBS tag starts with (`16500..16502` → 16500).
fn leading_number(tag: &BStr) -> String {
    tag.iter().take_while(|b| b.is_ascii_digit()).map(|&b| b as char).collect()
}

/// Standard input as a `File`, so it can be mapped when it is a regular file.
fn stdin_file() -> io::Result<File> {
    use std::os::fd::AsFd;
    let fd = io::stdin().as_fd().try_clone_to_owned()?;
    Ok(File::from(fd))
}

/// `Read` over an `Input` (to its window's end).
struct InputReader(Input);

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_some(buf).map_err(Error::into_io)
    }
}

/// A stream input limited to one tar member.
struct WindowedStream<'a> {
    input: &'a mut Input,
    end: u64,
}

impl WindowedStream<'_> {
    /// Reads the whole window into memory (only for toc.dat, whose size the TOC needs
    /// anyway) and returns a cursor over it that reports absolute offsets.
    fn as_input(&mut self) -> Result<Input> {
        let start = self.input.pos();
        let len = self.end.saturating_sub(start);
        let mut bytes = Vec::new();
        let mut left = len;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = self.input.read_some(&mut buf[..want])?;
            if n == 0 {
                return Err(Error::new(ErrorKind::Truncated { wanted: len, available: len - left }).at(start).in_file("toc.dat"));
            }
            bytes.extend_from_slice(&buf[..n]);
            left -= n as u64;
        }
        Ok(Input::stream(Box::new(io::Cursor::new(bytes)), start).bounded(self.end))
    }
}

/// Reads a streamed tar member's bytes up to its end.
struct StreamWindow<'a> {
    input: &'a mut Input,
    end: u64,
}

impl Read for StreamWindow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.input.pos());
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let pos = self.input.pos();
        let n = self.input.read_some(&mut buf[..want]).map_err(Error::into_io)?;
        if n == 0 {
            return Err(Error::new(ErrorKind::Truncated { wanted: left, available: 0 }).at(pos).into_io());
        }
        Ok(n)
    }
}

/// A directory-format data file being read.
struct OpenFile {
    path: PathBuf,
    codec: Codec,
    len: u64,
    reader: io::BufReader<File>,
    pos: u64,
}

impl OpenFile {
    fn new(f: DataFile) -> Self {
        OpenFile { path: f.path, codec: f.codec, len: f.len, reader: directory::buffered(f.file), pos: 0 }
    }
}

impl Read for OpenFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.pos;
        let n = self.reader.read(buf).map_err(|e| Error::new(ErrorKind::Io(e)).at(pos).in_file(self.path.clone()).into_io())?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The raw (compressed) bytes of one data stream.
enum Raw<'a> {
    Chunks(RawChunks<'a>),
    File(OpenFile),
    Window(InputReader),
    Stream(StreamWindow<'a>),
}

impl Raw<'_> {
    fn position(&self) -> (Option<u64>, Option<PathBuf>) {
        match self {
            Raw::Chunks(c) => (Some(c.data.input.pos()), None),
            Raw::File(f) => (Some(f.pos), Some(f.path.clone())),
            Raw::Window(w) => (Some(w.0.pos()), None),
            Raw::Stream(s) => (Some(s.input.pos()), None),
        }
    }

    fn known_empty(&self) -> bool {
        matches!(self, Raw::File(f) if f.len == 0)
    }
}

impl Read for Raw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Raw::Chunks(r) => r.read(buf),
            Raw::File(r) => r.read(buf),
            Raw::Window(r) => r.read(buf),
            Raw::Stream(r) => r.read(buf),
        }
    }
}

/// Reports which entries' data a restore has finished with, so that a spooled pipe's
/// bytes can be given back (see [`Archive::release_as_read`]). Shared by all workers.
#[derive(Clone)]
pub struct DataRelease(Arc<SharedBlocks>);

impl DataRelease {
    /// Entry `id`'s data will not be read again.
    pub fn done(&self, id: DumpId) {
        self.0.done(id);
    }
}


/// Decompressed bytes of one table's data or one large object.
pub struct DataReader<'a> {
    decoder: Decoder<Raw<'a>>,
    label: crate::error::EntryLabel,
    /// Decompressed bytes delivered so far.
    produced: u64,
    /// Where the stream's archive bytes began.
    start: Option<u64>,
}

impl<'a> DataReader<'a> {
    fn new(raw: Raw<'a>, codec: Codec, label: crate::error::EntryLabel) -> Result<Self> {
        let empty = raw.known_empty();
        let start = raw.position().0;
        let decoder = Decoder::new(raw, codec, empty).map_err(|e| Error::from_io(e).for_entry(label.clone()))?;
        Ok(DataReader { decoder, label, produced: 0, start })
    }

    /// Archive bytes read so far (compressed, framing included): how far through its
    /// entry's archive size the stream is.
    pub fn archive_read(&mut self) -> Option<u64> {
        let start = self.start?;
        let pos = self.decoder.raw_mut()?.position().0?;
        Some(pos.saturating_sub(start))
    }

    /// Reads decompressed bytes; 0 at the end of the stream. Errors name the entry and the
    /// raw byte offset reached.
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<usize> {
        match self.decoder.read(buf) {
            Ok(n) => {
                self.produced += n as u64;
                Ok(n)
            }
            Err(e) => {
                let mut err = Error::from_io(e).for_entry(self.label.clone());
                if let Some(raw) = self.decoder.raw_mut() {
                    let (pos, file) = raw.position();
                    if let Some(file) = file {
                        err = err.in_file(file);
                    }
                    if let Some(pos) = pos {
                        err = err.at(pos);
                    }
                }
                Err(err)
            }
        }
    }

    /// Decompressed bytes delivered so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// The compression codec of this stream.
    pub fn codec(&self) -> Codec {
        self.decoder.codec()
    }
}

impl Read for DataReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_data(buf).map_err(Error::into_io)
    }
}

enum LoState<'a> {
    Custom { data: &'a mut CustomData, codec: Codec },
    /// Boxed: a blobs TOC carries its decoder's state, ten times any other variant.
    Directory { dir: PathBuf, toc: Box<BlobToc> },
    TarIndexed { input: &'a Input, members: &'a [Member], next: usize },
    TarStream { input: &'a mut Input, walk: &'a mut TarStream, current: &'a mut Option<Member>, started: bool },
}

/// The large objects of one BLOBS entry, in archive order.
pub struct LargeObjects<'a> {
    state: LoState<'a>,
    label: crate::error::EntryLabel,
}

/// One large object: its OID and its contents.
pub struct LargeObject<'b> {
    pub oid: Oid,
    pub data: DataReader<'b>,
}

impl LargeObjects<'_> {
    /// The next large object, or `None` after the last.
    pub fn next_object(&mut self) -> Result<Option<LargeObject<'_>>> {
        let label = self.label.clone();
        let with = |e: Error| e.for_entry(label.clone());
        match &mut self.state {
            LoState::Custom { data, codec } => {
                let Some(oid) = data.next_blob().map_err(with)? else { return Ok(None) };
                let codec = *codec;
                let reader = DataReader::new(Raw::Chunks(RawChunks { data }), codec, label.clone())?;
                Ok(Some(LargeObject { oid, data: reader }))
            }
            LoState::Directory { dir, toc } => {
                let Some((oid, name)) = toc.next_entry().map_err(with)? else { return Ok(None) };
                let file = directory::find_data_file(dir, BStr::new(name.as_bytes())).map_err(with)?;
                let codec = file.codec;
                let reader = DataReader::new(Raw::File(OpenFile::new(file)), codec, label.clone())?;
                Ok(Some(LargeObject { oid, data: reader }))
            }
            LoState::TarIndexed { input, members, next } => {
                let Some(m) = members.get(*next) else { return Ok(None) };
                let Some(oid) = blob_member_oid(&m.name) else { return Ok(None) };
                *next += 1;
                let window = input.fork(m.data_start, m.data_end()).ok_or_else(|| Error::new(ErrorKind::NotAnArchive))?;
                let reader = DataReader::new(Raw::Window(InputReader(window)), Codec::None, label.clone())?;
                Ok(Some(LargeObject { oid, data: reader }))
            }
            LoState::TarStream { input, walk, current, started } => loop {
                let Some(m) = walk.next_member(input, current.as_ref()).map_err(with)? else { return Ok(None) };
                match blob_member_oid(&m.name) {
                    Some(oid) => {
                        *started = true;
                        let end = m.data_end();
                        **current = Some(m);
                        let reader = DataReader::new(Raw::Stream(StreamWindow { input, end }), Codec::None, label.clone())?;
                        return Ok(Some(LargeObject { oid, data: reader }));
                    }
                    None if *started => {
                        // The group's blobs TOC member: leave it for whoever reads next.
                        walk.pending = Some(m);
                        return Ok(None);
                    }
                    None => {
                        walk.passed.insert(m.name.clone());
                        **current = Some(m);
                    }
                }
            },
        }
    }
}

/// OID of a `blob_<oid>.dat` member.
fn blob_member_oid(name: &str) -> Option<Oid> {
    let rest = name.strip_prefix("blob_")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|oid| *oid != 0).map(Oid)
}
