//! [`SharedBytes`]: the one handle through which sealed files are read —
//! a memory map or an owned buffer, behind the same interface, so decoders
//! never know (or care) which.

use std::sync::Arc;

/// Immutable bytes of a sealed file, shareable across threads.
pub(crate) type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

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
