//! Memory maps that survive another program truncating the mapped file.
//!
//! Reading a page of a shared file mapping that lies past the file's current
//! end raises `SIGBUS`, whose default action kills the process. rollcall never
//! truncates a sealed file, but another program can (a stray `truncate`, a
//! half-finished copy over the store, a backup tool restoring in place). A
//! storage engine must answer that with an error, not die, so every map the
//! store makes is a [`GuardedMap`]:
//!
//! * the map's address range is entered in a fixed, lock-free registry
//!   (`SLOTS`) before any byte of it is read, and removed before it is
//!   unmapped;
//! * a process-wide `SIGBUS` handler, installed once, looks the faulting
//!   address up in the registry. When it lies in a registered map, the handler
//!   maps an anonymous zero page over the faulting page (so the interrupted
//!   read resumes and sees zeros), marks the map *damaged*, and returns. Any
//!   other `SIGBUS` is handed to the previously installed action (Rust's own
//!   stack-overflow handler, or the default action), unchanged;
//! * readers ask [`changed_underneath`] after decoding bytes of a map, and
//!   turn a damaged map into an error naming the file: bytes read from a
//!   damaged map are never used to answer a query.
//!
//! Invariants:
//! * a registered range belongs to a live mapping: registration happens after
//!   `mmap`, removal before `munmap`, and a fault can only happen while some
//!   thread holds the map (so it cannot be removed during the handler);
//! * the handler only touches atomics, the registry and async-signal-safe
//!   system calls (`mmap`, `sigaction`, `raise`);
//! * when the registry is full, or the handler cannot be installed, the caller
//!   reads the file into memory instead of mapping it: never an unguarded map.

use std::fs::File;
use std::io;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// Registry capacity: live maps at once (a store maps one file per segment
/// and checkpoint file; a 1M-client store has under a hundred).
const SLOT_COUNT: usize = 4096;

const FREE: u8 = 0;
const CLAIMED: u8 = 1;
const LIVE: u8 = 2;

struct Slot {
    state: AtomicU8,
    start: AtomicUsize,
    len: AtomicUsize,
    damaged: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: Slot = Slot {
    state: AtomicU8::new(FREE),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    damaged: AtomicBool::new(false),
};

static SLOTS: [Slot; SLOT_COUNT] = [EMPTY_SLOT; SLOT_COUNT];

/// Faults the handler has absorbed in this process: zero means no map was
/// ever damaged, so [`changed_underneath`] is one atomic load on the hot path.
static FAULTS: AtomicU64 = AtomicU64::new(0);

static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The `SIGBUS` action that was in place before ours (set once, before our
/// handler is installed, and only read afterwards).
static PREVIOUS: std::sync::OnceLock<libc::sigaction> = std::sync::OnceLock::new();

/// A read-only shared map of a whole file, registered with the `SIGBUS`
/// handler for as long as it lives.
#[derive(Debug)]
pub(crate) struct GuardedMap {
    // Field order matters only for readability: `Drop` below unregisters the
    // range before the fields (and so the mapping) are dropped.
    map: memmap2::Mmap,
    slot: usize,
}

impl GuardedMap {
    /// Maps `file` read-only, or returns `Ok(None)` when no guarded map can be
    /// made (registry full, handler unavailable): the caller then reads the
    /// file instead.
    pub(crate) fn map(file: &File) -> io::Result<Option<GuardedMap>> {
        if !install_handler() {
            return Ok(None);
        }
        let Some(slot) = claim_slot() else {
            return Ok(None);
        };
        // SAFETY: the file is a sealed store file (written under a temporary
        // name, fsynced, renamed into place, never opened for writing again by
        // rollcall). Another program may still truncate it: that raises
        // SIGBUS on access, which the handler installed above absorbs for
        // every registered range (the range is registered below, before the
        // map is handed out, so before any byte of it is read). Overwriting
        // bytes in place without truncating is caught by the block crcs the
        // readers check before first use.
        let map = match unsafe { memmap2::Mmap::map(file) } {
            Ok(map) => map,
            Err(e) => {
                SLOTS[slot].state.store(FREE, Ordering::Release);
                return Err(e);
            }
        };
        let s = &SLOTS[slot];
        s.start.store(map.as_ptr() as usize, Ordering::Relaxed);
        s.len.store(map.len(), Ordering::Relaxed);
        s.damaged.store(false, Ordering::Relaxed);
        s.state.store(LIVE, Ordering::Release);
        Ok(Some(GuardedMap { map, slot }))
    }

    /// True when a read of this map hit a page past the end of the file.
    #[cfg(test)]
    pub(crate) fn damaged(&self) -> bool {
        FAULTS.load(Ordering::Acquire) != 0 && SLOTS[self.slot].damaged.load(Ordering::Acquire)
    }
}

impl crate::bytes::FileBytes for GuardedMap {
    fn release_pages(&self) {
        // SAFETY: the map is a read-only shared map of a file nobody writes
        // (see `map`): dropping its pages loses nothing, a later read faults
        // them back in from the page cache or the file, with the same bytes.
        // A page the SIGBUS handler replaced with an anonymous zero page
        // reads back as zeros again, and the map stays marked damaged.
        // Another thread reading the map meanwhile only takes that fault.
        let advised = unsafe { self.map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        // Only an advice: on failure the pages stay resident, nothing else.
        let _ = advised;
    }

    fn release_range(&self, start: usize, end: usize) {
        let page = PAGE_SIZE.load(Ordering::Relaxed);
        if page == 0 {
            return;
        }
        // Whole pages only: a page partly outside the range may still be
        // read (it is not lost if released, but the release would be wasted).
        let first = start.div_ceil(page).saturating_mul(page);
        let last = end.min(self.map.len()) / page * page;
        if first >= last {
            return;
        }
        // SAFETY: as in `release_pages`: a read-only shared map of a file
        // nobody writes; `first..last` lies inside the map (`last` is at most
        // its length), and released pages read back the same bytes.
        let advised = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, first, last - first)
        };
        // Only an advice: on failure the pages stay resident, nothing else.
        let _ = advised;
    }
}

impl AsRef<[u8]> for GuardedMap {
    fn as_ref(&self) -> &[u8] {
        &self.map
    }
}

impl Drop for GuardedMap {
    fn drop(&mut self) {
        // Unregister before `self.map` is unmapped (fields drop after this).
        SLOTS[self.slot].state.store(FREE, Ordering::Release);
    }
}

/// True when `bytes` lie in a registered map that a read has found truncated.
/// Costs one atomic load unless some map in this process was ever damaged.
pub(crate) fn changed_underneath(bytes: &[u8]) -> bool {
    if FAULTS.load(Ordering::Acquire) == 0 {
        return false;
    }
    let addr = bytes.as_ptr() as usize;
    SLOTS.iter().any(|s| {
        s.state.load(Ordering::Acquire) == LIVE && {
            let start = s.start.load(Ordering::Relaxed);
            let len = s.len.load(Ordering::Relaxed);
            addr >= start && addr - start < len.max(1) && s.damaged.load(Ordering::Acquire)
        }
    })
}

fn claim_slot() -> Option<usize> {
    SLOTS.iter().position(|s| {
        s.state
            .compare_exchange(FREE, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })
}

/// Installs the handler once; false when it could not be installed.
fn install_handler() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return;
        };
        if !page.is_power_of_two() {
            return;
        }
        PAGE_SIZE.store(page, Ordering::Relaxed);
        // SAFETY: a zeroed `sigaction` is a valid out-parameter; `sigaction`
        // with a null new action only reads the current one.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut previous) } != 0 {
            return;
        }
        let _ = PREVIOUS.set(previous);
        // SAFETY: `action` is fully initialised below: handler, flags and an
        // empty mask. SA_SIGINFO selects the three-argument handler;
        // SA_ONSTACK keeps Rust's alternate signal stack usable (the handler
        // uses little stack either way).
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `sa_mask` is a valid sigset_t to initialise.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: installs a handler that only does async-signal-safe work.
        if unsafe { libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut()) } == 0 {
            INSTALLED.store(true, Ordering::Release);
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

/// The `SIGBUS` handler: absorbs faults in registered maps, forwards the rest.
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers;
    // `si_addr` is the faulting address for a hardware SIGBUS.
    let (addr, code) = unsafe { ((*info).si_addr() as usize, (*info).si_code) };
    let page = PAGE_SIZE.load(Ordering::Relaxed);
    // si_code > 0: raised by the kernel for a fault (not by kill/raise).
    if code > 0 && page != 0 {
        for s in &SLOTS {
            if s.state.load(Ordering::Acquire) != LIVE {
                continue;
            }
            let start = s.start.load(Ordering::Relaxed);
            let len = s.len.load(Ordering::Relaxed);
            if addr < start || addr - start >= len {
                continue;
            }
            let page_start = addr & !(page - 1);
            // SAFETY: the page lies inside a live read-only mapping this
            // process made (registered ranges belong to live maps, and the
            // faulting thread holds this one). Replacing it with an anonymous
            // zero page keeps the range mapped, so the interrupted read
            // resumes and later reads of that page see zeros; the map is
            // marked damaged so no reader uses what it read. `mmap` is a
            // plain system call, safe to make here.
            let replaced = unsafe {
                libc::mmap(
                    page_start as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if replaced != libc::MAP_FAILED {
                s.damaged.store(true, Ordering::Release);
                FAULTS.fetch_add(1, Ordering::AcqRel);
                return;
            }
            break;
        }
    }
    // Not ours: put the previous action back and let it run. A fault
    // re-executes the faulting instruction on return and reaches it; a
    // signal sent by kill/raise is raised again (it is blocked until this
    // handler returns).
    if let Some(previous) = PREVIOUS.get() {
        // SAFETY: restores an action read from the kernel at install time.
        unsafe { libc::sigaction(signal, previous, std::ptr::null_mut()) };
    }
    if code <= 0 {
        // SAFETY: raise is async-signal-safe.
        unsafe { libc::raise(signal) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Resident kB of the mapping that starts at `start`, from
    /// /proc/self/smaps (Linux).
    #[cfg(target_os = "linux")]
    fn resident_kb(start: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let head = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head)).skip(1);
        let rss = lines.find(|l| l.starts_with("Rss:"))?;
        rss.split_whitespace().nth(1)?.parse().ok()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn released_pages_leave_the_resident_set_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealed");
        let bytes: Vec<u8> = (0..(4 << 20))
            .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
        let map = GuardedMap::map(&File::open(&path).unwrap())
            .unwrap()
            .expect("a guarded map");
        assert_eq!(map.as_ref(), &bytes[..]);
        let start = map.as_ref().as_ptr() as usize;
        let before = resident_kb(start).expect("/proc/self/smaps lists the map");
        crate::bytes::FileBytes::release_pages(&map);
        let after = resident_kb(start).expect("/proc/self/smaps lists the map");
        assert!(before >= 4000, "read whole: {before} kB resident");
        assert!(after < 100, "released: {after} kB still resident");
        // Read again: the same bytes, from the page cache.
        assert_eq!(map.as_ref(), &bytes[..]);
        assert!(!changed_underneath(map.as_ref()));
        // A range gives back the whole pages inside it and keeps the rest.
        // (Kernels that cache files in large folios count a folio resident
        // only while all of it is mapped, so the range is the first 2 MiB of
        // the file, one whole folio either way.)
        let kept = resident_kb(start).expect("/proc/self/smaps lists the map");
        assert!(kept >= 4000, "read again: {kept} kB resident");
        crate::bytes::FileBytes::release_range(&map, 100, (2 << 20) + 100);
        let part = resident_kb(start).expect("/proc/self/smaps lists the map");
        assert!(
            (1900..2200).contains(&part),
            "2 MiB of 4 released (from byte 100): {part} kB still resident"
        );
        assert_eq!(map.as_ref(), &bytes[..]);
    }

    #[test]
    fn a_file_truncated_under_its_map_reads_zeros_and_is_marked_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealed");
        let page = 4096;
        let bytes: Vec<u8> = (0..4 * page).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
        let file = File::open(&path).unwrap();
        let map = GuardedMap::map(&file).unwrap().expect("a guarded map");
        assert_eq!(map.as_ref(), &bytes[..]);
        assert!(!map.damaged());
        assert!(!changed_underneath(map.as_ref()));
        // Another program cuts the file to one page.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(page as u64)
            .unwrap();
        let data = map.as_ref();
        assert_eq!(data[10], bytes[10], "the kept page still reads");
        // Past the end: without the handler this read kills the process.
        let past = std::hint::black_box(&data[2 * page + 7]);
        assert_eq!(*past, 0);
        assert!(map.damaged());
        assert!(changed_underneath(&data[page..]));
        // Another, intact map is not reported.
        let other_path = dir.path().join("other");
        std::fs::File::create(&other_path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        let other = GuardedMap::map(&File::open(&other_path).unwrap())
            .unwrap()
            .unwrap();
        assert!(!other.damaged());
        assert!(!changed_underneath(other.as_ref()));
        assert_eq!(other.as_ref(), &bytes[..]);
    }

    #[test]
    fn slots_are_reused_after_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"some bytes").unwrap();
        let file = File::open(&path).unwrap();
        for _ in 0..(SLOT_COUNT + 10) {
            let map = GuardedMap::map(&file).unwrap().expect("a slot is free");
            assert_eq!(map.as_ref(), b"some bytes");
        }
    }
}
