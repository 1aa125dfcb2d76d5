//! Runs one of the core's cache-file operations: the part of a driver that touches files.

use crate::{Result, Store};
use bytes::Bytes;
use silt_core::{LocalError, LocalOk, LocalOp};

impl Store {
    /// Executes `op` and answers as the core expects. Containers stay open between calls
    /// (a bounded set), and are closed before a removal.
    pub fn execute(&self, op: &LocalOp) -> std::result::Result<LocalOk, LocalError> {
        self.run(op).map_err(|e| e.to_local_error())
    }

    fn run(&self, op: &LocalOp) -> Result<LocalOk> {
        match op {
            LocalOp::Write {
                entry,
                offset,
                data,
            } => self.kept(*entry)?.write_at(data, *offset)?,
            LocalOp::Read { entry, offset, len } => {
                let mut buf = vec![0u8; *len as usize];
                // A missing file reads as zeros, like bytes past the end of one.
                if let Some(c) = self.kept_open(*entry, false)? {
                    c.read_exact_or_zeros(&mut buf, *offset)?;
                }
                return Ok(LocalOk::Data(Bytes::from(buf)));
            }
            LocalOp::Zero { entry, offset, len } => self.kept(*entry)?.zero(*offset, *len)?,
            LocalOp::Punch { entry, offset, len } => {
                if let Some(c) = self.kept_open(*entry, false)? {
                    c.punch_hole(*offset, *len)?;
                }
            }
            LocalOp::SetLen { entry, size } => self.kept(*entry)?.truncate(*size)?,
            LocalOp::Sync { entry } => {
                if let Some(c) = self.kept_open(*entry, false)? {
                    c.fsync()?;
                }
            }
            LocalOp::Remove { entry } => {
                self.close_kept(*entry);
                self.remove(*entry)?
            }
        }
        Ok(LocalOk::Done)
    }

    fn kept(&self, id: silt_core::EntryId) -> Result<std::sync::Arc<crate::Container>> {
        let c = self.kept_open(id, true)?;
        c.ok_or_else(|| {
            let e = std::io::Error::from(std::io::ErrorKind::NotFound);
            crate::StoreError::from_io("open", &self.path_of(id), e)
        })
    }
}
