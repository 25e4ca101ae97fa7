//! In-memory dictionaries: name <-> dense id, append-only.
//!
//! Invariant: ids are assigned densely in first-seen order and never change or
//! get reused; a [`DictView`] taken at length `n` sees exactly ids `0..n`
//! forever, however much the dictionary grows afterwards.

use hashbrown::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};

#[derive(Debug, Default)]
pub(crate) struct DictData {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
}

impl DictData {
    pub(crate) fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(|s| &**s)
    }
}

/// A growable, shareable dictionary owned by the writer.
#[derive(Debug, Default, Clone)]
pub(crate) struct Dict {
    data: Arc<RwLock<DictData>>,
}

impl Dict {
    pub(crate) fn len(&self) -> usize {
        self.read().names.len()
    }

    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.read().index.get(name).copied()
    }

    /// Returns the id of `name`, assigning the next id when it is new, and
    /// whether it was new.
    pub(crate) fn get_or_insert(&self, name: &str) -> (u32, bool) {
        if let Some(id) = self.get(name) {
            return (id, false);
        }
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = data.index.get(name) {
            return (id, false);
        }
        let id = u32::try_from(data.names.len()).unwrap_or(u32::MAX);
        let name: Arc<str> = Arc::from(name);
        data.names.push(name.clone());
        data.index.insert(name, id);
        (id, true)
    }

    /// The ids of `names`, assigning the next ids to new ones, under one lock.
    pub(crate) fn get_or_insert_all<'a>(&self, names: impl Iterator<Item = &'a str>) -> Vec<u32> {
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        names
            .map(|name| {
                if let Some(&id) = data.index.get(name) {
                    return id;
                }
                let id = u32::try_from(data.names.len()).unwrap_or(u32::MAX);
                let name: Arc<str> = Arc::from(name);
                data.names.push(name.clone());
                data.index.insert(name, id);
                id
            })
            .collect()
    }

    /// Forgets every id at or above `len` (undoes a failed append).
    pub(crate) fn truncate(&self, len: usize) {
        let mut data = self.data.write().unwrap_or_else(|e| e.into_inner());
        while data.names.len() > len {
            if let Some(name) = data.names.pop() {
                data.index.remove(&name);
            }
        }
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
        data.names[..self.len.min(data.names.len())]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
