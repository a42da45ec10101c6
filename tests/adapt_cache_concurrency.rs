//! The probe feature cache under concurrent workers. Kept out of `adapt_train_cache.rs`, whose
//! test counts the process-wide backbone counter that this test moves.

/// Two workers asking for the same features at once: the backbone runs for one of them, the
/// other waits and reads the file (no clash on the temporary file, no double work).
#[test]
fn concurrent_requests_for_one_key_compute_once() {
    use homogen::adapt::cache::FeatureCache;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let cache = FeatureCache::new(dir.path().join("cache"));
    let calls = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            let calls = calls.clone();
            std::thread::spawn(move || {
                cache
                    .fill(
                        "samekey",
                        6,
                        4,
                        || Ok((0..6).collect()),
                        |idx| {
                            calls.fetch_add(idx.len(), Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            let rows: Vec<f32> = idx.iter().map(|&i| i as f32).collect();
                            Ok(candle_core::Tensor::from_vec(
                                rows,
                                (idx.len(), 1),
                                &candle_core::Device::Cpu,
                            )
                            .unwrap())
                        },
                    )
                    .unwrap()
                    .0
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
        })
        .collect();
    for w in workers {
        assert_eq!(w.join().unwrap(), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "each example computed once"
    );
}
