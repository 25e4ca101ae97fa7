use super::*;
use proptest::prelude::*;

fn cp(deployment: u32, time: i64, states: Vec<u8>, times: Vec<i64>) -> Checkpoint {
    Checkpoint {
        deployment: DeploymentId(deployment),
        time: Timestamp(time),
        states,
        times,
    }
}

/// What a round trip must give back: times of clients without a state
/// read as `i64::MIN`, invalid states as `NO_STATE`.
fn normalised(c: &Checkpoint) -> Checkpoint {
    let states: Vec<u8> = c
        .states
        .iter()
        .map(|&s| if s < 6 { s } else { NO_STATE })
        .collect();
    let times = states
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if s == NO_STATE {
                i64::MIN
            } else {
                c.times.get(i).copied().unwrap_or(i64::MIN)
            }
        })
        .collect();
    Checkpoint {
        states,
        times,
        ..c.clone()
    }
}

fn round_trip(cps: &[Checkpoint]) -> Vec<u8> {
    let bytes = encode_checkpoints(cps);
    let back = decode_checkpoints(&bytes, Path::new("test.ckp")).expect("decode");
    let want: Vec<Checkpoint> = cps.iter().map(normalised).collect();
    assert_eq!(back, want);
    bytes
}

fn sample() -> Vec<Checkpoint> {
    vec![
        cp(0, 100, vec![0, NO_STATE, 4, 5], vec![10, i64::MIN, 100, -7]),
        cp(
            1,
            100,
            vec![NO_STATE, NO_STATE, 1, 2],
            vec![0, 0, i64::MIN, i64::MAX],
        ),
        cp(0, 200, vec![0, 2, 4, 3], vec![10, 150, 100, 200]),
        cp(0, i64::MAX, vec![1, 2, 4, 3], vec![i64::MAX, 150, i64::MIN, 200]),
    ]
}

#[test]
fn checkpoints_round_trip() {
    round_trip(&[]);
    round_trip(&sample());
    round_trip(&[cp(u32::MAX, i64::MIN, vec![], vec![])]);
    round_trip(&[
        cp(3, i64::MIN, vec![5, NO_STATE], vec![i64::MAX, 1]),
        cp(3, i64::MAX, vec![5, 0], vec![i64::MIN, i64::MIN]),
    ]);
    // Client counts may differ between checkpoints of one deployment.
    round_trip(&[
        cp(0, 5, vec![1; 10], vec![5; 10]),
        cp(0, 6, vec![1; 12], vec![6; 12]),
        cp(0, 7, vec![1; 3], vec![7; 3]),
    ]);
    // Invalid states and short time vectors are normalised.
    round_trip(&[cp(0, 5, vec![6, 200, 1, 1], vec![1])]);
}

#[test]
fn unchanged_clients_cost_little_in_a_delta() {
    let n = 100_000;
    let a = cp(
        0,
        1_000_000,
        (0..n).map(|i| (i % 6) as u8).collect(),
        (0..n).map(|i| i as i64 * 7).collect(),
    );
    let mut b = a.clone();
    b.time = Timestamp(2_000_000);
    for c in (0..n).step_by(100) {
        b.states[c] = 4;
        b.times[c] = 1_500_000 + c as i64;
    }
    let one = round_trip(std::slice::from_ref(&a)).len();
    let two = round_trip(&[a, b]).len();
    assert!(two - one < n / 20, "delta record took {} bytes", two - one);
}

#[test]
fn a_set_decodes_any_record_on_demand_like_the_whole_file() {
    // Two deployments, 20 checkpoints each, changing a few clients each
    // time, so deltas are used and chains get cut by full records.
    let n = 1000;
    let mut cps = Vec::new();
    for d in 0..2u32 {
        let mut c = cp(d, 0, vec![NO_STATE; n], vec![i64::MIN; n]);
        for k in 0..20i64 {
            c.time = Timestamp(1000 * (k + 1));
            for j in 0..50 {
                let client = ((k as usize) * 37 + j * 11 + d as usize) % n;
                c.states[client] = ((k as usize + j) % 6) as u8;
                c.times[client] = 1000 * k + j as i64;
            }
            cps.push(c.clone());
        }
    }
    let bytes = encode_checkpoints(&cps);
    let all = decode_checkpoints(&bytes, Path::new("x")).unwrap();
    let set = CheckpointSet::open(crate::bytes::owned(bytes.clone()), PathBuf::from("x")).unwrap();
    assert_eq!(set.len(), cps.len());
    let kinds: Vec<u8> = set.records.iter().map(|r| r.kind).collect();
    assert!(kinds.contains(&KIND_DELTA), "{kinds:?}");
    for d in 0..2usize {
        let run: Vec<u8> = kinds[d * 20..(d + 1) * 20].to_vec();
        let longest = run.split(|&k| k == KIND_FULL).map(<[u8]>::len).max().unwrap_or(0);
        assert!(longest <= MAX_DELTA_CHAIN, "{run:?}");
    }
    // Backwards, forwards and random order all give the same checkpoints.
    let order: Vec<usize> = (0..cps.len())
        .rev()
        .chain(0..cps.len())
        .chain([7, 33, 2, 39, 20])
        .collect();
    for i in order {
        assert_eq!(*set.get(i).unwrap(), all[i], "record {i}");
    }
    assert_eq!(set.latest_at_or_before(DeploymentId(0), Timestamp(999)), None);
    assert_eq!(set.latest_at_or_before(DeploymentId(0), Timestamp(1000)), Some(0));
    assert_eq!(set.latest_at_or_before(DeploymentId(0), Timestamp(5500)), Some(4));
    assert_eq!(
        set.latest_at_or_before(DeploymentId(1), Timestamp(i64::MAX)),
        Some(39)
    );
    assert_eq!(
        set.latest_at_or_before(DeploymentId(2), Timestamp(i64::MAX)),
        None
    );
    // A damaged record is refused when it is used, naming its offset.
    let mut bad = bytes.clone();
    let victim = set.records[25];
    bad[victim.start + RECORD_HEADER_LEN + 1] ^= 0x10;
    let set = CheckpointSet::open(crate::bytes::owned(bad), PathBuf::from("x")).unwrap();
    assert_eq!(*set.get(3).unwrap(), all[3]);
    let err = set.get(25).unwrap_err();
    assert!(
        err.is_corruption() && err.to_string().contains("checksum"),
        "{err}"
    );
    assert!(set.for_each(|_, _| Ok(())).is_err());
}

#[test]
fn newer_version_is_refused() {
    let mut bytes = encode_checkpoints(&sample());
    bytes[8..12].copy_from_slice(&(CHECKPOINT_FORMAT_VERSION + 1).to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        decode_checkpoints(&bytes, Path::new("x")),
        Err(Error::UnsupportedVersion {
            found,
            supported: CHECKPOINT_FORMAT_VERSION,
            ..
        }) if found == CHECKPOINT_FORMAT_VERSION + 1
    ));
}

#[test]
fn every_flip_and_truncation_is_detected() {
    let bytes = encode_checkpoints(&sample());
    for offset in 0..bytes.len() {
        for bit in [0u8, 4, 7] {
            let mut bad = bytes.clone();
            bad[offset] ^= 1 << bit;
            match decode_checkpoints(&bad, Path::new("x")) {
                Err(e) => assert!(e.is_corruption(), "offset {offset}: {e}"),
                Ok(_) => panic!("flip at offset {offset} bit {bit} went unnoticed"),
            }
        }
    }
    for len in 0..bytes.len() {
        match decode_checkpoints(&bytes[..len], Path::new("x")) {
            Err(e) => assert!(e.is_corruption(), "length {len}: {e}"),
            Ok(_) => panic!("truncation to {len} bytes went unnoticed"),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(decode_checkpoints(&longer, Path::new("x")).is_err());
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_checkpoints_round_trip(
        raw in proptest::collection::vec(
            (0u32..3, any::<i64>(), proptest::collection::vec((prop_oneof![Just(NO_STATE), 0u8..6], prop_oneof![any::<i64>(), -5i64..5]), 0..50)),
            0..6,
        ),
    ) {
        let mut cps: Vec<Checkpoint> = raw
            .into_iter()
            .map(|(d, time, v)| cp(d, time, v.iter().map(|x| x.0).collect(), v.iter().map(|x| x.1).collect()))
            .collect();
        // Follow-up checkpoints that share most entries, so deltas get used.
        if let Some(first) = cps.first().cloned() {
            let mut next = first.clone();
            next.time = Timestamp(next.time.0.wrapping_add(1));
            if let Some(s) = next.states.first_mut() {
                *s = 4;
            }
            cps.push(next);
        }
        round_trip(&cps);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), keep in 0usize..300) {
        let _ = decode_checkpoints(&bytes, Path::new("x"));
        let mut spliced = encode_checkpoints(&sample());
        spliced.truncate(keep.min(spliced.len()));
        spliced.extend_from_slice(&bytes);
        let _ = decode_checkpoints(&spliced, Path::new("x"));
    }
}

#[test]
fn a_writer_to_a_file_writes_what_one_in_memory_does() {
    // Enough records (1M clients, full and delta) to spill several times.
    let n = 1 << 20;
    let cps: Vec<Checkpoint> = (0..6)
        .map(|k| {
            let states = (0..n).map(|c| ((c * 7 + k) % 7) as u8).collect();
            let times = (0..n).map(|c| (c as i64) * 3 + k as i64 * 1_000).collect();
            cp((k % 2) as u32, 10_000 + k as i64, states, times)
        })
        .collect();
    let in_memory = encode_checkpoints(&cps);
    let disk = crate::FaultyDisk::new();
    let st = disk.handle();
    let mut w = CheckpointFileWriter::to_file(st.create("c.tmp").unwrap());
    for c in &cps {
        w.push(c);
    }
    let (mut file, len) = w.finish_file().unwrap();
    file.sync().unwrap();
    drop(file);
    let on_disk = st.read("c.tmp").unwrap();
    assert!(
        in_memory.len() > 2 * super::writer::SPILL_BYTES,
        "spilled more than once"
    );
    assert_eq!(len, on_disk.len() as u64);
    assert!(on_disk == in_memory, "the streamed file differs");
}
