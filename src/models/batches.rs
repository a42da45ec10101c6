//! Running a model over batches in two stages: preparing a batch's input on the host
//! (tokenizing, decoding and preprocessing images, gathering cached rows) and the model pass.
//!
//! One after the other, the host work of the next batch runs on a helper thread while the
//! calling thread runs the current batch's pass ([`for_each_prefetched`]): on a GPU the host
//! work would otherwise leave the GPU idle (decoding a batch of JPEGs takes about as long as a
//! ViT-B/16 forward pass on it on an H200), and the pass stays on the calling thread, which owns
//! the device. [`map_batches`] runs batches concurrently instead, for the CPU.

use std::sync::mpsc::sync_channel;

use crate::error::{Error, Result};

/// `consume(i, prepare(i, &jobs[i]))` for each job in order, with `prepare` for job `i + 1`
/// running on a helper thread while `consume` handles job `i` (never more than one job ahead,
/// so at most two prepared inputs exist at a time). `prepare` must not depend on `consume`'s
/// effects: it sees only its job. The first error, of either stage, ends the loop and is the
/// result; a job after it is neither consumed nor, beyond the one in flight, prepared.
pub fn for_each_prefetched<J: Sync, P: Send>(
    jobs: &[J],
    prepare: impl Fn(usize, &J) -> Result<P> + Sync,
    mut consume: impl FnMut(usize, P) -> Result<()>,
) -> Result<()> {
    if jobs.len() < 2 {
        // Nothing to overlap.
        for (i, job) in jobs.iter().enumerate() {
            consume(i, prepare(i, job)?)?;
        }
        return Ok(());
    }
    std::thread::scope(|scope| {
        // A rendezvous channel: the helper hands over a prepared input when the calling thread
        // asks for it, and meanwhile prepares nothing further.
        let (send, receive) = sync_channel::<Result<P>>(0);
        let prepare = &prepare;
        std::thread::Builder::new()
            .name("homogen-prefetch".into())
            .spawn_scoped(scope, move || {
                for (i, job) in jobs.iter().enumerate() {
                    let prepared = prepare(i, job);
                    let failed = prepared.is_err();
                    // A closed channel: the calling thread stopped at an error.
                    if send.send(prepared).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| Error::io("starting the batch-preparing thread", e))?;
        let mut consumed = 0;
        let result: Result<()> = receive.iter().try_for_each(|prepared| {
            consume(consumed, prepared?)?;
            consumed += 1;
            Ok(())
        });
        // Closing the channel stops the helper before the scope waits for it.
        drop(receive);
        result?;
        if consumed != jobs.len() {
            // Only a panic of `prepare` ends the helper early; the scope re-raises it.
            return Err(Error::Runtime(format!(
                "the batch-preparing thread stopped after {consumed} of {} batches",
                jobs.len()
            )));
        }
        Ok(())
    })
}

/// `run(prepare(batch))` for `items`, `batch` at a time, the results in the items' order: with
/// `concurrent`, the batches run at once on rayon's threads, else one after the other with the
/// next batch prepared meanwhile ([`for_each_prefetched`]). Concurrent batches are for backbone
/// passes on the CPU: each pass's operations split their work over the threads the same way
/// whichever thread runs the pass, so the results have the same bits either way, and a small
/// model, whose single pass leaves threads waiting at every operation's hand-off, runs faster
/// (see [`crate::adapt::cache::FeatureCache::with_concurrent_batches`]). That costs the memory
/// of one batch's work per thread; not for a GPU, whose work one stream orders.
pub fn map_batches<T: Sync, P: Send, R: Send>(
    items: &[T],
    batch: usize,
    concurrent: bool,
    prepare: impl Fn(&[T]) -> Result<P> + Sync,
    run: impl Fn(P) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    use rayon::prelude::*;
    if concurrent {
        return items
            .par_chunks(batch.max(1))
            .map(|chunk| run(prepare(chunk)?))
            .collect();
    }
    let chunks: Vec<&[T]> = items.chunks(batch.max(1)).collect();
    let mut results = Vec::with_capacity(chunks.len());
    for_each_prefetched(
        &chunks,
        |_, chunk| prepare(chunk),
        |_, prepared| {
            results.push(run(prepared)?);
            Ok(())
        },
    )?;
    Ok(results)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;
    use crate::models::test_util;

    /// Both ways give each batch's result in the items' order, and an error in either stage of
    /// any batch is the result.
    #[test]
    fn map_batches_keeps_the_order_and_reports_errors() {
        let items: Vec<usize> = (0..10).collect();
        let expected = vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]];
        for concurrent in [false, true] {
            let got = test_util::with_threads(3, || {
                map_batches(
                    &items,
                    3,
                    concurrent,
                    |chunk| Ok(chunk.to_vec()),
                    |v: Vec<usize>| Ok(v),
                )
            })
            .unwrap();
            assert_eq!(got, expected, "concurrent: {concurrent}");
            let failed_prepare = map_batches(
                &items,
                3,
                concurrent,
                |chunk| {
                    if chunk.contains(&7) {
                        Err(Error::Runtime("preparing the batch with 7".into()))
                    } else {
                        Ok(chunk.len())
                    }
                },
                Ok,
            );
            assert!(failed_prepare
                .unwrap_err()
                .to_string()
                .contains("preparing the batch with 7"));
            let failed_run = map_batches(
                &items,
                3,
                concurrent,
                |chunk| Ok(chunk.to_vec()),
                |v: Vec<usize>| {
                    if v.contains(&4) {
                        Err(Error::Runtime("running the batch with 4".into()))
                    } else {
                        Ok(v.len())
                    }
                },
            );
            assert!(failed_run
                .unwrap_err()
                .to_string()
                .contains("running the batch with 4"));
        }
    }

    /// Jobs are consumed in order, each with its own prepared input; preparing runs on another
    /// thread and never gets more than one job ahead of consuming.
    #[test]
    fn prefetching_keeps_the_order_and_stays_one_job_ahead() {
        let jobs: Vec<u32> = (0..20).collect();
        let prepared = AtomicUsize::new(0);
        let caller = std::thread::current().id();
        let helper_threads = Mutex::new(Vec::new());
        let mut seen = Vec::new();
        for_each_prefetched(
            &jobs,
            |i, &job| {
                helper_threads
                    .lock()
                    .unwrap()
                    .push(std::thread::current().id());
                prepared.fetch_add(1, Ordering::SeqCst);
                Ok((i, job * 10))
            },
            |i, (prepared_for, value)| {
                assert_eq!(prepared_for, i);
                // Jobs 0..=i were handed over; at most job i + 1 is being or has been prepared.
                let ahead = prepared.load(Ordering::SeqCst);
                assert!(
                    (i + 1..=i + 2).contains(&ahead),
                    "{ahead} prepared while consuming job {i}"
                );
                // Slow consumption gives the helper time to run ahead if it could.
                std::thread::sleep(std::time::Duration::from_millis(2));
                seen.push(value);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, jobs.iter().map(|j| j * 10).collect::<Vec<_>>());
        let helpers = helper_threads.into_inner().unwrap();
        assert_eq!(helpers.len(), jobs.len());
        assert!(helpers.iter().all(|&t| t != caller && t == helpers[0]));
    }

    /// An error in preparing job k ends the loop after jobs 0..k were consumed; an error in
    /// consuming job k stops preparation at job k + 1 at the latest.
    #[test]
    fn prefetching_stops_at_the_first_error_of_either_stage() {
        let jobs: Vec<usize> = (0..50).collect();
        let mut consumed = Vec::new();
        let err = for_each_prefetched(
            &jobs,
            |_, &job| {
                if job == 5 {
                    Err(Error::Runtime("cannot prepare job 5".into()))
                } else {
                    Ok(job)
                }
            },
            |_, job| {
                consumed.push(job);
                Ok(())
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot prepare job 5"));
        assert_eq!(consumed, vec![0, 1, 2, 3, 4]);

        let prepared = AtomicUsize::new(0);
        let err = for_each_prefetched(
            &jobs,
            |_, &job| {
                prepared.fetch_add(1, Ordering::SeqCst);
                Ok(job)
            },
            |_, job| {
                if job == 3 {
                    Err(Error::Runtime("cannot consume job 3".into()))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("cannot consume job 3"));
        let n = prepared.load(Ordering::SeqCst);
        assert!((4..=5).contains(&n), "{n} jobs prepared");
    }

    /// A single job runs on the calling thread; none does nothing.
    #[test]
    fn one_job_or_none_needs_no_helper() {
        let caller = std::thread::current().id();
        let mut got = Vec::new();
        for_each_prefetched(
            &[7],
            |_, &j| {
                assert_eq!(std::thread::current().id(), caller);
                Ok(j)
            },
            |_, j| {
                got.push(j);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got, vec![7]);
        for_each_prefetched(
            &[] as &[u8],
            |_, _| -> Result<()> { unreachable!() },
            |_, _| unreachable!(),
        )
        .unwrap();
    }
}
