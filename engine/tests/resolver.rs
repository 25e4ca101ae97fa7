//! Names looked up ahead of an append (`Store::name_resolver`) never change
//! what is stored: ids found before an aborted transaction forgot them, or
//! in another store, are not used.

use rollcall_engine::{Batch, Options, State, Store, Timestamp};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(dir.path(), Options::default()).unwrap();
    (dir, store)
}

fn one(client: &str, state: State) -> Batch {
    let mut b = Batch::new();
    b.push_transition(Timestamp(1_000), client, "production", state, None)
        .unwrap();
    b
}

/// Each client's states, by name.
fn states(store: &Store) -> Vec<(String, Vec<State>)> {
    let snap = store.snapshot();
    let mut names = Vec::new();
    snap.for_each_client_name(|_, n| names.push(n.to_owned()));
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let id = snap.client_id(&n).unwrap();
            let h = snap.client_history(id, None, None).unwrap();
            (n, h.into_iter().map(|r| r.state).collect())
        })
        .collect()
}

#[test]
fn ids_resolved_before_an_abort_are_not_used() {
    let (_dir, mut store) = store();
    let resolver = store.name_resolver();
    let mut late = one("PC-A", State::Failed);
    {
        let mut txn = store.begin().unwrap();
        txn.append(&one("PC-A", State::InProgress)).unwrap();
        // PC-A has an id now, inside the open transaction.
        resolver.resolve(&mut late);
        // Dropped: the transaction aborts and PC-A's id is forgotten.
    }
    store.append(&one("PC-Z", State::Compliant)).unwrap();
    store.append(&late).unwrap();
    assert_eq!(
        states(&store),
        vec![
            ("PC-A".to_owned(), vec![State::Failed]),
            ("PC-Z".to_owned(), vec![State::Compliant]),
        ]
    );
}

#[test]
fn ids_resolved_in_another_store_are_not_used() {
    let (_d1, mut first) = store();
    let (_d2, mut second) = store();
    first.append(&one("PC-B", State::Compliant)).unwrap();
    first.append(&one("PC-A", State::Compliant)).unwrap();
    let mut b = one("PC-A", State::Failed);
    first.name_resolver().resolve(&mut b);
    second.append(&one("PC-C", State::InProgress)).unwrap();
    second.append(&b).unwrap();
    assert_eq!(
        states(&second),
        vec![
            ("PC-A".to_owned(), vec![State::Failed]),
            ("PC-C".to_owned(), vec![State::InProgress]),
        ]
    );
}

#[test]
fn resolved_batches_store_like_unresolved_ones() {
    let (_d1, mut plain) = store();
    let (_d2, mut resolved) = store();
    let resolver = resolved.name_resolver();
    for k in 0..20u32 {
        let mut b = Batch::new();
        for c in 0..50u32 {
            let name = format!("PC-{}", (c * 7 + k * 3) % 60);
            b.push_transition(
                Timestamp(i64::from(k * 100 + c)),
                &name,
                "production",
                State::ALL[(c % 6) as usize],
                None,
            )
            .unwrap();
        }
        plain.append(&b).unwrap();
        resolver.resolve(&mut b);
        resolved.append(&b).unwrap();
    }
    assert_eq!(states(&plain), states(&resolved));
}
