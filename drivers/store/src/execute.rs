//! Runs one of the core's cache-file operations: the part of a driver that touches files.

use crate::{Result, Store};
use bytes::Bytes;
use silt_core::{LocalError, LocalOk, LocalOp};

impl Store {
    /// Executes `op` and answers as the core expects. Containers are opened per call; a
    /// driver that keeps handles open does the same through [`Store::create`].
    pub fn execute(&self, op: &LocalOp) -> std::result::Result<LocalOk, LocalError> {
        self.run(op).map_err(|e| e.to_local_error())
    }

    fn run(&self, op: &LocalOp) -> Result<LocalOk> {
        match op {
            LocalOp::Write {
                entry,
                offset,
                data,
            } => self.create(*entry)?.write_at(data, *offset)?,
            LocalOp::Read { entry, offset, len } => {
                let mut buf = vec![0u8; *len as usize];
                // A missing file reads as zeros, like bytes past the end of one.
                if let Some(c) = self.open_existing(*entry)? {
                    c.read_exact_or_zeros(&mut buf, *offset)?;
                }
                return Ok(LocalOk::Data(Bytes::from(buf)));
            }
            LocalOp::Zero { entry, offset, len } => self.create(*entry)?.zero(*offset, *len)?,
            LocalOp::Punch { entry, offset, len } => {
                if let Some(c) = self.open_existing(*entry)? {
                    c.punch_hole(*offset, *len)?;
                }
            }
            LocalOp::SetLen { entry, size } => self.create(*entry)?.truncate(*size)?,
            LocalOp::Sync { entry } => {
                if let Some(c) = self.open_existing(*entry)? {
                    c.fsync()?;
                }
            }
            LocalOp::Remove { entry } => self.remove(*entry)?,
        }
        Ok(LocalOk::Done)
    }
}
