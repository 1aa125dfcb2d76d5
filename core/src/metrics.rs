//! Read-only figures for the drivers' metrics, beside the getters of [`Core`].

use crate::machine::Core;

impl Core {
    /// Jobs (writes, and chunks made an entry's own) parked until space may be available:
    /// the disk is below its `min_free_space` reserve or dirty data is at `dirty_limit`.
    /// Writers among them wait (back-pressure) and get `NoSpace` after `write_wait_timeout`.
    /// O(1).
    pub fn space_waiters(&self) -> usize {
        self.space.waiters.len()
    }
}
