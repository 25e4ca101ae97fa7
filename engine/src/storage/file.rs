//! [`FileStorage`]: the real file system. Sealed files are read through
//! [`super::guarded_map::GuardedMap`] (where the engine's `unsafe` lives).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{LockFailure, LockGuard, Storage, StorageFile};
use crate::bytes::{self, SharedBytes};

/// A store directory on the real file system.
#[derive(Debug)]
pub(crate) struct FileStorage {
    root: PathBuf,
    mmap: bool,
}

impl FileStorage {
    /// Storage rooted at `root`; sealed files are memory-mapped when `mmap`,
    /// read into memory otherwise.
    pub(crate) fn new(root: PathBuf, mmap: bool) -> FileStorage {
        FileStorage { root, mmap }
    }

    fn full(&self, name: &str) -> PathBuf {
        self.path(name)
    }
}

#[derive(Debug)]
struct FileHandle {
    file: File,
}

impl Write for FileHandle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StorageFile for FileHandle {
    fn sync(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.file.sync_all()
    }

    fn write_at_start(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let end = self.file.seek(SeekFrom::End(0))?;
        if (bytes.len() as u64) > end {
            return Err(io::Error::other("overwrite past the end of the file"));
        }
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(bytes)?;
        self.file.seek(SeekFrom::Start(end))?;
        Ok(())
    }
}

#[derive(Debug)]
struct FileLock {
    _file: File,
}

impl LockGuard for FileLock {}

/// Fsyncs a directory so that its entries (creations, renames, removals) are durable.
fn sync_dir_path(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(path)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened as files here; the platform makes
        // renames durable with the file's own flush.
        let _ = path;
        Ok(())
    }
}

impl Storage for FileStorage {
    fn root(&self) -> &Path {
        &self.root
    }

    fn create_root(&self) -> io::Result<()> {
        if self.root.is_dir() {
            return Ok(());
        }
        fs::create_dir_all(&self.root)?;
        if let Some(parent) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir_path(parent)?;
        }
        Ok(())
    }

    fn create_dir(&self, dir: &str) -> io::Result<()> {
        let path = self.full(dir);
        if path.is_dir() {
            return Ok(());
        }
        fs::create_dir(&path)?;
        sync_dir_path(&self.root)
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        self.full(name).try_exists()
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(self.full(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_file()
                && let Some(name) = entry.file_name().to_str()
            {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.full(name))?;
        Ok(Box::new(FileHandle { file }))
    }

    fn open_append(&self, name: &str) -> io::Result<Box<dyn StorageFile>> {
        let file = OpenOptions::new().append(true).open(self.full(name))?;
        Ok(Box::new(FileHandle { file }))
    }

    fn read(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.full(name))
    }

    fn map(&self, name: &str) -> io::Result<SharedBytes> {
        let mut file = File::open(self.full(name))?;
        let len = file.metadata()?.len();
        if !self.mmap || len == 0 {
            // A map of zero bytes fails on most platforms; an empty file is
            // read (and then rejected by its decoder) like any other.
            let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            file.read_to_end(&mut buf)?;
            return Ok(bytes::owned(buf));
        }
        // Maps are guarded against another program truncating the file
        // (`guarded_map`): a read past the new end becomes an error, not a
        // SIGBUS. When no guarded map can be made, the file is read instead.
        #[cfg(unix)]
        if let Some(map) = super::guarded_map::GuardedMap::map(&file)? {
            return Ok(Arc::new(map));
        }
        let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut buf)?;
        Ok(bytes::owned(buf))
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.full(from), self.full(to))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.full(name))
    }

    fn truncate(&self, name: &str, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(self.full(name))?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn sync_dir(&self, dir: &str) -> io::Result<()> {
        sync_dir_path(&self.full(dir))
    }

    fn lock(&self, name: &str) -> Result<Box<dyn LockGuard>, LockFailure> {
        let path = self.full(name);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(LockFailure::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let holder = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse::<u32>().ok());
                return Err(LockFailure::Held(holder));
            }
            Err(fs::TryLockError::Error(e)) => return Err(LockFailure::Io(e)),
        }
        // The pid is informational (it names the holder in `Error::Locked`);
        // failing to write it does not weaken the lock.
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()));
        Ok(Box::new(FileLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_files_map_and_empty_ones_read() {
        let dir = tempfile::tempdir().unwrap();
        for mmap in [true, false] {
            let st = FileStorage::new(dir.path().to_path_buf(), mmap);
            let mut f = st.create("a").unwrap();
            f.write_all(b"sealed bytes").unwrap();
            f.sync().unwrap();
            drop(f);
            assert_eq!((*st.map("a").unwrap()).as_ref(), b"sealed bytes");
            drop(st.create("empty").unwrap());
            assert!((*st.map("empty").unwrap()).as_ref().is_empty());
            assert!(st.map("missing").is_err());
        }
    }

    #[test]
    fn the_lock_names_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let st = FileStorage::new(dir.path().to_path_buf(), true);
        let guard = st.lock("LOCK").unwrap();
        match st.lock("LOCK") {
            Err(LockFailure::Held(pid)) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        drop(guard);
        assert!(st.lock("LOCK").is_ok());
    }

    #[test]
    fn append_truncate_rename_list() {
        let dir = tempfile::tempdir().unwrap();
        let st = FileStorage::new(dir.path().join("store"), true);
        st.create_root().unwrap();
        st.create_dir("wal").unwrap();
        let mut f = st.create("wal/x.tmp").unwrap();
        f.write_all(b"abc").unwrap();
        f.sync().unwrap();
        drop(f);
        st.rename("wal/x.tmp", "wal/x").unwrap();
        st.sync_dir("wal").unwrap();
        let mut f = st.open_append("wal/x").unwrap();
        f.write_all(b"def").unwrap();
        f.sync().unwrap();
        st.truncate("wal/x", 4).unwrap();
        assert_eq!(st.read("wal/x").unwrap(), b"abcd");
        assert_eq!(st.list("wal").unwrap(), vec!["x".to_owned()]);
        assert!(st.list("nope").unwrap().is_empty());
        st.remove("wal/x").unwrap();
        assert!(!st.exists("wal/x").unwrap());
    }
}
