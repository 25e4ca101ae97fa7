//! [`SharedBytes`]: the one handle through which sealed files are read —
//! a memory map or an owned buffer, behind the same interface, so decoders
//! never know (or care) which.

use std::sync::Arc;

/// Immutable bytes of a sealed file, shareable across threads.
pub(crate) type SharedBytes = Arc<dyn FileBytes>;

/// What [`SharedBytes`] hold: the bytes, and a way to give back the memory
/// that reading them took where that memory can be had again for free.
pub(crate) trait FileBytes: AsRef<[u8]> + Send + Sync {
    /// Drops the pages read so far from this process's resident set, when
    /// the bytes are a memory map (the kernel reads them back from its page
    /// cache, or the file, on the next access); a no-op for owned bytes. For
    /// a long pass over files that will not be read again soon, such as a
    /// compaction's inputs, so that the pass does not leave the whole of
    /// them counted in the writer's memory.
    fn release_pages(&self) {}

    /// Like [`FileBytes::release_pages`], for the whole pages inside
    /// `start..end` only (a range past the end is cut to it): for a pass that
    /// reads a large file once, front to back, so that no more than the part
    /// not yet given back is resident at any time.
    fn release_range(&self, start: usize, end: usize) {
        let _ = (start, end);
    }
}

impl FileBytes for Vec<u8> {}

/// Wraps an owned buffer as [`SharedBytes`].
pub(crate) fn owned(bytes: Vec<u8>) -> SharedBytes {
    Arc::new(bytes)
}

/// True when `bytes` come from a memory map whose file another program
/// truncated while it was mapped: whatever was read from it must not be used.
/// One atomic load unless such damage ever happened in this process.
pub(crate) fn changed_underneath(bytes: &[u8]) -> bool {
    #[cfg(unix)]
    {
        crate::storage::guarded_map::changed_underneath(bytes)
    }
    #[cfg(not(unix))]
    {
        let _ = bytes;
        false
    }
}
