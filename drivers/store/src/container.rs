//! One cache file: positional reads and writes, truncate, punch, fsync.

use crate::error::{Result, StoreError};
use crate::sparse;
use crate::Shared;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Zeros are written in blocks of this size where holes cannot be punched.
const ZERO_BLOCK: usize = 1 << 20;

/// An open cache file. Methods take `&self`: positional I/O needs no cursor, so one
/// container can serve several threads.
#[derive(Debug)]
pub struct Container {
    file: File,
    path: PathBuf,
    shared: Arc<Shared>,
}

impl Container {
    pub(crate) fn new(file: File, path: PathBuf, shared: Arc<Shared>) -> Container {
        Container { file, path, shared }
    }

    /// The file's path (for messages; never derived from an object key).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |e| StoreError::from_io(op, &self.path, e)
    }

    /// Writes all of `buf` at `offset`, extending the file if needed. On error a prefix may
    /// have been written.
    pub fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        pos::write_all_at(&self.file, buf, offset).map_err(self.err("write"))
    }

    /// Reads into `buf` from `offset` until `buf` is full or the file ends; returns the bytes
    /// read.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match pos::read_at(&self.file, &mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(StoreError::from_io("read", &self.path, e)),
            }
        }
        Ok(done)
    }

    /// Reads exactly `buf.len()` bytes at `offset`; bytes past the end of the file read as
    /// zeros (the core's `Read`).
    pub fn read_exact_or_zeros(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let n = self.read_at(buf, offset)?;
        buf[n..].fill(0);
        Ok(())
    }

    /// The file's length.
    pub fn len(&self) -> Result<u64> {
        Ok(self.file.metadata().map_err(self.err("stat"))?.len())
    }

    /// True if the file is empty.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Bytes the filesystem allocated for the file, where the platform says (Unix).
    pub fn allocated_bytes(&self) -> Result<Option<u64>> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = self.file.metadata().map_err(self.err("stat"))?;
            Ok(Some(m.blocks() * 512))
        }
        #[cfg(not(unix))]
        {
            Ok(None)
        }
    }

    /// Sets the file's length; growing it adds a hole (zeros).
    pub fn truncate(&self, len: u64) -> Result<()> {
        self.file.set_len(len).map_err(self.err("truncate"))
    }

    /// Frees `offset..offset+len` where the filesystem can (it then reads as zeros), and
    /// writes zeros where it cannot (counted in `sparse_fallback`, logged once per cache dir).
    /// The file's length does not change; bytes past its end are left alone.
    pub fn punch_hole(&self, offset: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        if self.shared.sparse_available() {
            match sparse::punch_hole(&self.file, offset, len) {
                Ok(()) => return Ok(()),
                Err(e) if sparse::is_unsupported(&e) => {
                    self.shared.sparse_unavailable("punch hole", &e);
                }
                Err(e) => return Err(StoreError::from_io("punch hole", &self.path, e)),
            }
        } else {
            self.shared.count_fallback();
        }
        self.write_zeros(offset, len)
    }

    /// Makes `offset..offset+len` read as zeros, extending the file if needed (the core's
    /// `Zero`).
    pub fn zero(&self, offset: u64, len: u64) -> Result<()> {
        let end = offset.saturating_add(len);
        self.punch_hole(offset, len)?;
        if end > self.len()? {
            self.truncate(end)?;
        }
        Ok(())
    }

    fn write_zeros(&self, offset: u64, len: u64) -> Result<()> {
        let end = offset.saturating_add(len).min(self.len()?);
        let zeros = vec![0u8; ZERO_BLOCK];
        let mut at = offset;
        while at < end {
            let n = (end - at).min(ZERO_BLOCK as u64) as usize;
            self.write_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }

    /// Makes the file's data (and its length) durable: `fdatasync`, `FlushFileBuffers`.
    pub fn fsync(&self) -> Result<()> {
        self.file.sync_data().map_err(self.err("fsync"))
    }

    /// Closes the file. Dropping does the same; this names the step.
    pub fn close(self) {}
}

/// Positional I/O on both platform families.
mod pos {
    use std::fs::File;
    use std::io;

    #[cfg(unix)]
    pub(super) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(f, buf, offset)
    }

    #[cfg(windows)]
    pub(super) fn read_at(f: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        // seek_read moves the cursor, which nothing here uses. At or past the end of the file
        // Windows answers ERROR_HANDLE_EOF: that is a read of 0 bytes.
        match std::os::windows::fs::FileExt::seek_read(f, buf, offset) {
            Err(e) if e.raw_os_error() == Some(38) => Ok(0),
            other => other,
        }
    }

    #[cfg(unix)]
    pub(super) fn write_all_at(f: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(f, buf, offset)
    }

    #[cfg(windows)]
    pub(super) fn write_all_at(f: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(f, buf, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
