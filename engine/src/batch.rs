//! [`Batch`]: one transaction's worth of rows, with names not yet resolved.
//!
//! A batch interns the names it sees so that appending resolves each distinct
//! name once. Invariant: every pushed row has passed SPEC.md's name-length
//! rules, so `Store::append` never has to reject half a batch for them.

use hashbrown::HashTable;

use crate::dict::Hints;
use std::hash::BuildHasher;

use crate::error::{Error, Result};
use crate::model::{Change, ErrorCode, State, Timestamp, limits};

/// A transition whose names are indexes into the batch's name pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingTransition {
    pub time: Timestamp,
    pub client: u32,
    pub deployment: u32,
    pub state: State,
    pub error: Option<ErrorCode>,
}

/// A membership change whose names are indexes into the batch's name pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingMembership {
    pub time: Timestamp,
    pub client: u32,
    pub collection: u32,
    pub change: Change,
}

/// Rows to append as one all-or-nothing transaction.
///
/// ```
/// use rollcall_engine::{Batch, State, Timestamp};
/// let mut batch = Batch::new();
/// batch.push_transition(Timestamp(1_000), "PC-0001", "production", State::InProgress, None)?;
/// batch.push_membership(Timestamp(0), "PC-0001", "All Desktops", rollcall_engine::Change::Join)?;
/// assert_eq!(batch.len(), 2);
/// # Ok::<(), rollcall_engine::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Batch {
    clients: NamePool,
    deployments: NamePool,
    collections: NamePool,
    pub(crate) transitions: Vec<PendingTransition>,
    pub(crate) memberships: Vec<PendingMembership>,
    /// Ids of the client, deployment and collection names looked up ahead
    /// of the append ([`crate::NameResolver`]).
    pub(crate) hints: Option<Box<[Hints; 3]>>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// An empty batch with room for `rows` transitions naming as many
    /// distinct clients (a loader filling batches of a fixed size saves the
    /// growing).
    pub fn with_capacity(rows: usize) -> Batch {
        let mut batch = Batch::default();
        batch.transitions.reserve(rows);
        batch.clients.reserve(rows);
        batch
    }

    /// Number of rows (transitions plus membership changes).
    pub fn len(&self) -> usize {
        self.transitions.len() + self.memberships.len()
    }

    /// True when the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of transitions.
    pub fn transition_count(&self) -> usize {
        self.transitions.len()
    }

    /// Number of membership changes.
    pub fn membership_count(&self) -> usize {
        self.memberships.len()
    }

    /// Removes all rows, keeping allocations.
    pub fn clear(&mut self) {
        self.clients.clear();
        self.deployments.clear();
        self.collections.clear();
        self.transitions.clear();
        self.memberships.clear();
        self.hints = None;
    }

    /// Adds a transition. Fails, adding nothing, when a name breaks SPEC.md's
    /// length rules.
    pub fn push_transition(
        &mut self,
        time: Timestamp,
        client: &str,
        deployment: &str,
        state: State,
        error: Option<ErrorCode>,
    ) -> Result<()> {
        check_name("client", client, limits::CLIENT_NAME_MAX)?;
        check_name("deployment", deployment, limits::DEPLOYMENT_NAME_MAX)?;
        let client = self.clients.intern(client);
        let deployment = self.deployments.intern(deployment);
        self.transitions.push(PendingTransition {
            time,
            client,
            deployment,
            state,
            error,
        });
        Ok(())
    }

    /// Adds a membership change. Fails, adding nothing, when a name breaks
    /// SPEC.md's length rules.
    pub fn push_membership(
        &mut self,
        time: Timestamp,
        client: &str,
        collection: &str,
        change: Change,
    ) -> Result<()> {
        check_name("client", client, limits::CLIENT_NAME_MAX)?;
        check_name("collection", collection, limits::COLLECTION_NAME_MAX)?;
        let client = self.clients.intern(client);
        let collection = self.collections.intern(collection);
        self.memberships.push(PendingMembership {
            time,
            client,
            collection,
            change,
        });
        Ok(())
    }

    /// The batch's distinct client names; rows refer to them by position.
    pub(crate) fn client_names(&self) -> impl Iterator<Item = &str> {
        self.clients.iter()
    }

    /// The batch's distinct deployment names.
    pub(crate) fn deployment_names(&self) -> impl Iterator<Item = &str> {
        self.deployments.iter()
    }

    /// The batch's distinct collection names.
    pub(crate) fn collection_names(&self) -> impl Iterator<Item = &str> {
        self.collections.iter()
    }
}

/// Distinct names of a batch in one text arena, found through a hash table
/// of indexes: one allocation-free lookup per row, one copy per new name.
#[derive(Clone, Debug, Default)]
struct NamePool {
    text: String,
    spans: Vec<(u32, u32)>,
    table: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
}

impl NamePool {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        self.spans.iter().map(|&span| span_text(&self.text, span))
    }

    fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
        self.table.clear();
    }

    /// Room for `names` more names of typical length without growing.
    fn reserve(&mut self, names: usize) {
        self.text.reserve(names.saturating_mul(16));
        self.spans.reserve(names);
        let (text, spans, hasher) = (&self.text, &self.spans, &self.hasher);
        self.table
            .reserve(names, |&j| hasher.hash_one(span_text(text, spans[j as usize])));
    }

    fn intern(&mut self, name: &str) -> u32 {
        let hash = self.hasher.hash_one(name);
        let found = self
            .table
            .find(hash, |&i| span_text(&self.text, self.spans[i as usize]) == name);
        if let Some(&i) = found {
            return i;
        }
        // Names are at most 256 bytes and a batch is bounded by memory, so
        // the arena stays far below 4 GiB; saturate rather than wrap if not.
        let start = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        let i = u32::try_from(self.spans.len()).unwrap_or(u32::MAX);
        self.text.push_str(name);
        self.spans.push((start, name.len() as u32));
        let (text, spans, hasher) = (&self.text, &self.spans, &self.hasher);
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(span_text(text, spans[j as usize])));
        i
    }
}

/// The name at `(start, len)` in a pool's arena (spans are only ever made
/// by [`NamePool::intern`], so they lie inside it).
fn span_text(text: &str, (start, len): (u32, u32)) -> &str {
    &text[start as usize..(start + len) as usize]
}

/// Checks SPEC.md's 1..=max bytes rule for a name.
pub(crate) fn check_name(kind: &str, name: &str, max: usize) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidInput(format!("{kind} name is empty")));
    }
    if name.len() > max {
        return Err(Error::InvalidInput(format!(
            "{kind} name is {} bytes long, the limit is {max}",
            name.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_interned_once() {
        let mut b = Batch::new();
        for i in 0..3 {
            b.push_transition(Timestamp(i), "a", "production", State::Failed, None)
                .unwrap();
        }
        assert_eq!(b.client_names().collect::<Vec<_>>(), ["a"]);
        assert_eq!(b.deployment_names().collect::<Vec<_>>(), ["production"]);
        assert_eq!(b.clients.len(), 1);
        assert_eq!(b.transition_count(), 3);
    }

    #[test]
    fn bad_names_are_rejected_without_side_effects() {
        let mut b = Batch::new();
        assert!(
            b.push_transition(Timestamp(0), "", "production", State::Failed, None)
                .is_err()
        );
        let long = "x".repeat(257);
        assert!(b.push_membership(Timestamp(0), &long, "c", Change::Join).is_err());
        let long_dep = "d".repeat(129);
        assert!(
            b.push_transition(Timestamp(0), "a", &long_dep, State::Failed, None)
                .is_err()
        );
        assert!(b.is_empty());
        assert_eq!(b.clients.len() + b.deployments.len() + b.collections.len(), 0);
    }
}
