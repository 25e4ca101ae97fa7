//! In-memory dictionaries: name <-> dense id, append-only.
//!
//! Invariant: ids are assigned densely in first-seen order and never change or
//! get reused; a [`DictView`] taken at length `n` sees exactly ids `0..n`
//! forever, however much the dictionary grows afterwards.

use hashbrown::HashTable;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Names in one arena (`text`, with `ends[id]` the end of name `id`), and a
/// hash index from name to id that is built on the first lookup by name:
/// opening a store loads a million client names as one copy, and a query
/// that never looks a client up by name never pays for hashing them.
#[derive(Debug, Default)]
pub(crate) struct DictData {
    text: String,
    ends: Vec<usize>,
    index: Option<HashTable<Slot>>,
    hasher: hashbrown::DefaultHashBuilder,
    /// Bumped whenever ids are forgotten ([`Dict::truncate`]): ids looked
    /// up at one generation stay valid while it lasts.
    generation: u64,
}

/// Ids of a list of names looked up ahead of an append, possibly on another
/// thread; `u32::MAX` marks a name that was not known then.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hints {
    /// Which dictionary ([`Dict::identity`]) and generation they came from.
    dict: usize,
    generation: u64,
    ids: Vec<u32>,
}

/// Bytes of a name kept in its index slot.
const INLINE: usize = 11;

/// An index entry: the id, and the name itself when it is short (most
/// client names are), so that a lookup compares without reaching into the
/// arena (a lookup reads the control bytes and the slot, not also the name's
/// offset and the name; in a million-name dictionary each is a likely miss).
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u32,
    /// The name's length when it is inline, else `u8::MAX`.
    len: u8,
    bytes: [u8; INLINE],
}

impl Slot {
    fn new(id: u32, name: &str) -> Slot {
        let mut bytes = [0u8; INLINE];
        let len = match bytes.get_mut(..name.len()) {
            Some(inline) => {
                inline.copy_from_slice(name.as_bytes());
                name.len() as u8
            }
            None => u8::MAX,
        };
        Slot { id, len, bytes }
    }

    /// True when this slot's name is `name` (`data` holds long names).
    #[inline]
    fn is(&self, name: &str, data: &DictData) -> bool {
        match self.bytes.get(..usize::from(self.len)) {
            Some(inline) => inline == name.as_bytes(),
            None => name.len() > INLINE && data.name(self.id) == Some(name),
        }
    }
}

/// Names looked up per lock hold, so that a writer waits little.
const HINT_CHUNK: usize = 4096;

impl DictData {
    pub(crate) fn name(&self, id: u32) -> Option<&str> {
        let id = id as usize;
        let end = *self.ends.get(id)?;
        let start = if id == 0 { 0 } else { self.ends[id - 1] };
        self.text.get(start..end)
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn hash(&self, name: &str) -> u64 {
        self.hasher.hash_one(name)
    }

    /// The id of `name`; `None` also when the index is not built yet.
    fn lookup(&self, name: &str) -> Option<u32> {
        let index = self.index.as_ref()?;
        index
            .find(self.hash(name), |slot| slot.is(name, self))
            .map(|slot| slot.id)
    }

    /// Builds the index when missing. A name stored twice (impossible for
    /// files this engine wrote; `check` reports it) keeps its first id.
    fn ensure_index(&mut self) {
        if self.index.is_some() {
            return;
        }
        let mut index: HashTable<Slot> = HashTable::with_capacity(self.len());
        for id in 0..self.len() as u32 {
            let Some(name) = self.name(id) else { continue };
            let hash = self.hash(name);
            let hasher = |slot: &Slot| self.hash(self.name(slot.id).unwrap_or_default());
            if let hashbrown::hash_table::Entry::Vacant(v) =
                index.entry(hash, |slot| slot.is(name, self), hasher)
            {
                v.insert(Slot::new(id, name));
            }
        }
        self.index = Some(index);
    }

    /// Appends `name` with the next id (the caller checked it is new).
    fn push(&mut self, name: &str) -> u32 {
        let id = u32::try_from(self.len()).unwrap_or(u32::MAX);
        self.text.push_str(name);
        self.ends.push(self.text.len());
        if self.index.is_some() {
            let hash = self.hash(name);
            let ends = &self.ends;
            let text = &self.text;
            let hasher = &self.hasher;
            let name_of = |i: u32| -> &str {
                let i = i as usize;
                let start = if i == 0 { 0 } else { ends[i - 1] };
                text.get(start..ends[i]).unwrap_or_default()
            };
            if let Some(index) = self.index.as_mut() {
                index.insert_unique(hash, Slot::new(id, name), |slot| {
                    hasher.hash_one(name_of(slot.id))
                });
            }
        }
        id
    }

    fn get_or_insert(&mut self, name: &str) -> (u32, bool) {
        self.ensure_index();
        match self.lookup(name) {
            Some(id) => (id, false),
            None => (self.push(name), true),
        }
    }
}

/// A growable, shareable dictionary owned by the writer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dict {
    data: Arc<RwLock<DictData>>,
}

impl Dict {
    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }

    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        {
            let data = self.read();
            if data.index.is_some() {
                return data.lookup(name);
            }
        }
        let mut data = self.write();
        data.ensure_index();
        data.lookup(name)
    }

    /// Appends names read from the dictionary file, in id order, without
    /// indexing them (the index is built on the first lookup by name).
    pub(crate) fn load(&self, name: &str) {
        self.write().push(name);
    }

    /// A name that appears twice, if any (damage `check` reports).
    pub(crate) fn find_duplicate(&self) -> Option<String> {
        let data = self.read();
        let mut seen: HashTable<u32> = HashTable::with_capacity(data.len());
        for id in 0..data.len() as u32 {
            let name = data.name(id)?;
            let hash = data.hash(name);
            match seen.entry(
                hash,
                |&i| data.name(i) == Some(name),
                |&i| data.hash(data.name(i).unwrap_or_default()),
            ) {
                hashbrown::hash_table::Entry::Occupied(_) => return Some(name.to_owned()),
                hashbrown::hash_table::Entry::Vacant(v) => {
                    v.insert(id);
                }
            }
        }
        None
    }

    /// Returns the id of `name`, assigning the next id when it is new, and
    /// whether it was new.
    pub(crate) fn get_or_insert(&self, name: &str) -> (u32, bool) {
        if let Some(id) = self.get(name) {
            return (id, false);
        }
        self.write().get_or_insert(name)
    }

    /// The ids of `names`, assigning the next ids to new ones, under one lock.
    #[cfg(test)]
    pub(crate) fn get_or_insert_all<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<u32> {
        self.get_or_insert_all_hinted(names, None)
    }

    /// [`Dict::get_or_insert_all`], taking the id of the `i`th name from
    /// `hints` when they were looked up in this dictionary at its current
    /// generation (ids never change within one).
    pub(crate) fn get_or_insert_all_hinted<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
        hints: Option<&Hints>,
    ) -> Vec<u32> {
        let mut data = self.write();
        let ids: &[u32] = match hints {
            Some(h) if h.dict == self.identity() && h.generation == data.generation => &h.ids,
            _ => &[],
        };
        names
            .enumerate()
            .map(|(i, name)| match ids.get(i) {
                Some(&id) if id != u32::MAX => id,
                _ => data.get_or_insert(name).0,
            })
            .collect()
    }

    /// Looks `names` up without inserting any, a few thousand per read
    /// lock; `None` when the dictionary forgot ids meanwhile.
    pub(crate) fn hint_all<'a>(&self, names: impl Iterator<Item = &'a str>) -> Option<Hints> {
        if self.read().index.is_none() {
            self.write().ensure_index();
        }
        let mut names = names.peekable();
        let mut hints = Hints {
            dict: self.identity(),
            generation: self.read().generation,
            ids: Vec::new(),
        };
        while names.peek().is_some() {
            let data = self.read();
            if data.generation != hints.generation {
                return None;
            }
            for name in names.by_ref().take(HINT_CHUNK) {
                hints.ids.push(data.lookup(name).unwrap_or(u32::MAX));
            }
        }
        Some(hints)
    }

    /// Tells this dictionary from others (hints name the one they came from).
    fn identity(&self) -> usize {
        Arc::as_ptr(&self.data) as usize
    }

    /// Forgets every id at or above `len` (undoes a failed append).
    pub(crate) fn truncate(&self, len: usize) {
        let mut data = self.write();
        if len >= data.len() {
            return;
        }
        if data.index.is_some() {
            for id in (len..data.len()).rev() {
                let id = id as u32;
                let hash = data.hash(data.name(id).unwrap_or_default());
                if let Some(index) = data.index.as_mut()
                    && let Ok(entry) = index.find_entry(hash, |slot| slot.id == id)
                {
                    entry.remove();
                }
            }
        }
        let end = if len == 0 { 0 } else { data.ends[len - 1] };
        data.generation += 1;
        data.ends.truncate(len);
        data.text.truncate(end);
    }

    pub(crate) fn view(&self) -> DictView {
        DictView {
            len: self.len(),
            dict: self.clone(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, DictData> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, DictData> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Read access to a frozen prefix of names.
pub(crate) struct NameLookup<'a> {
    data: &'a DictData,
    len: usize,
}

impl NameLookup<'_> {
    pub(crate) fn get(&self, id: u32) -> Option<&str> {
        if (id as usize) < self.len {
            self.data.name(id)
        } else {
            None
        }
    }
}

/// A frozen prefix of a dictionary, as seen by one snapshot.
#[derive(Debug, Clone)]
pub(crate) struct DictView {
    dict: Dict,
    len: usize,
}

impl DictView {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The view of the first `len` names (at most this view's).
    pub(crate) fn prefix(&self, len: usize) -> DictView {
        DictView {
            dict: self.dict.clone(),
            len: len.min(self.len),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.dict.get(name).filter(|&id| (id as usize) < self.len)
    }

    pub(crate) fn name(&self, id: u32) -> Option<String> {
        if id as usize >= self.len {
            return None;
        }
        self.dict.read().name(id).map(str::to_owned)
    }

    /// Runs `f` with read access to names `0..len`.
    pub(crate) fn with_names<R>(&self, f: impl FnOnce(&NameLookup<'_>) -> R) -> R {
        let data = self.dict.read();
        f(&NameLookup {
            data: &data,
            len: self.len,
        })
    }

    pub(crate) fn all_names(&self) -> Vec<String> {
        let data = self.dict.read();
        (0..self.len.min(data.len()) as u32)
            .filter_map(|id| data.name(id).map(str::to_owned))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_are_told_apart() {
        // Around the inline limit, shared prefixes, an empty name, bytes
        // that are not ASCII.
        let names = [
            "",
            "a",
            "PC-0045945",
            "abcdefghijk",
            "abcdefghijkl",
            "abcdefghij",
            "abcdefghijklm",
            "ü-ß",
            "ü-ß-ü-ß-ü-ß",
            "abcdefghijk\0",
        ];
        let d = Dict::default();
        let ids: Vec<u32> = names.iter().map(|n| d.get_or_insert(n).0).collect();
        assert_eq!(ids, (0..names.len() as u32).collect::<Vec<_>>());
        for (n, id) in names.iter().zip(&ids) {
            assert_eq!(d.get(n), Some(*id), "{n:?}");
            assert_eq!(d.get_or_insert(n), (*id, false));
        }
        assert_eq!(d.get("abcdefghijkx"), None);
        assert_eq!(d.get("abcdefghijx"), None);
        // Forgetting ids removes them from the index, long or short.
        d.truncate(4);
        assert_eq!(d.get("abcdefghijkl"), None);
        assert_eq!(d.get("abcdefghijk"), Some(3));
        assert_eq!(d.get_or_insert("abcdefghijklm"), (4, true));
        // A dictionary loaded from a file builds the same index on first use.
        let loaded = Dict::default();
        for n in names {
            loaded.load(n);
        }
        for (n, id) in names.iter().zip(&ids) {
            assert_eq!(loaded.get(n), Some(*id), "{n:?}");
        }
    }

    #[test]
    fn views_are_frozen() {
        let d = Dict::default();
        assert_eq!(d.get_or_insert("a"), (0, true));
        assert_eq!(d.get_or_insert("a"), (0, false));
        let v = d.view();
        assert_eq!(d.get_or_insert("b"), (1, true));
        assert_eq!(v.get("b"), None);
        assert_eq!(v.name(1), None);
        assert_eq!(v.name(0).as_deref(), Some("a"));
        d.truncate(1);
        assert_eq!(d.get("b"), None);
        assert_eq!(d.get_or_insert("c"), (1, true));
    }

    #[test]
    fn loaded_names_are_indexed_on_first_lookup() {
        let d = Dict::default();
        for name in ["PC-1", "PC-2", "", "PC-3"] {
            d.load(name);
        }
        assert_eq!(d.len(), 4);
        assert_eq!(d.view().name(2).as_deref(), Some(""));
        assert_eq!(d.get("PC-3"), Some(3));
        assert_eq!(d.get(""), Some(2));
        assert_eq!(d.get("PC-4"), None);
        assert_eq!(d.get_or_insert("PC-4"), (4, true));
        assert_eq!(
            d.get_or_insert_all(["PC-1", "PC-5", "PC-5"].into_iter()),
            vec![0, 5, 5]
        );
        assert_eq!(d.find_duplicate(), None);
        d.truncate(3);
        assert_eq!(d.get("PC-3"), None);
        assert_eq!(d.get("PC-5"), None);
        assert_eq!(d.get_or_insert("PC-9"), (3, true));
        assert_eq!(d.view().all_names(), vec!["PC-1", "PC-2", "", "PC-9"]);
        // Truncating before the index exists works too.
        let e = Dict::default();
        e.load("a");
        e.load("b");
        e.truncate(1);
        assert_eq!(e.get("b"), None);
        assert_eq!(e.get("a"), Some(0));
        // A stored duplicate is found, and lookups keep its first id.
        let f = Dict::default();
        for name in ["x", "y", "x"] {
            f.load(name);
        }
        assert_eq!(f.find_duplicate().as_deref(), Some("x"));
        assert_eq!(f.get("x"), Some(0));
    }
}
