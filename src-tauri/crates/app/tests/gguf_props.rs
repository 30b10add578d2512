//! Property tests of GGUF header validation (`closer_llm::gguf::inspect`, what `closer models
//! import` runs on a user's file): a file that starts like a GGUF and then holds anything —
//! small or absurd counts, truncated strings, random metadata — is refused with an error, never a
//! panic, a hang or an allocation the size of the declared counts. Failures persist under
//! `proptest-regressions/`.

use proptest::prelude::*;

fn header(version: u32, tensors: u64, kvs: u64, tail: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend(tensors.to_le_bytes());
    b.extend(kvs.to_le_bytes());
    b.extend(tail);
    b
}

/// A metadata entry: a key, a type tag and a value of that type (sometimes wrong or cut short).
fn kv() -> impl Strategy<Value = Vec<u8>> {
    ("[a-z.]{0,24}", 0u32..14, prop::collection::vec(any::<u8>(), 0..24)).prop_map(|(k, t, v)| {
        let mut b = (k.len() as u64).to_le_bytes().to_vec();
        b.extend(k.as_bytes());
        b.extend(t.to_le_bytes());
        b.extend(v);
        b
    })
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("fuzz.gguf");
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let started = std::time::Instant::now();
    let r = std::panic::catch_unwind(|| closer_llm::gguf::inspect(&path).map(|_| ()));
    prop_assert!(r.is_ok(), "inspect panicked on {} bytes", bytes.len());
    prop_assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "inspect took {:?}",
        started.elapsed()
    );
    Ok(())
}

proptest! {

    #[test]
    fn arbitrary_files_are_refused_not_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes)?;
    }

    #[test]
    fn plausible_headers_with_random_metadata(
        version in prop_oneof![Just(2u32), Just(3u32), any::<u32>()],
        tensors in 0u64..4,
        entries in prop::collection::vec(kv(), 0..4),
        tail in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut body = entries.concat();
        body.extend(tail);
        check(&header(version, tensors, entries.len() as u64, &body))?;
    }

    #[test]
    fn small_but_wrong_counts(tensors in 0u64..1_000_000, kvs in 0u64..1_000_000, tail in prop::collection::vec(any::<u8>(), 0..64)) {
        check(&header(3, tensors, kvs, &tail))?;
    }

    #[test]
    fn absurd_counts_do_not_allocate_them(tensors in any::<u64>(), kvs in any::<u64>(), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        check(&header(3, tensors, kvs, &tail))?;
    }
}
