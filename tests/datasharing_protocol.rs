//! Properties of the data-sharing protocol (issue 6 §2).

use std::collections::HashSet;

use homogen::experiment::protocol::{split, training_sets, trials, Setting};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn split_is_a_seeded_80_20_partition(n in 2usize..400, seed in 0u64..1000) {
        let s = split(n, seed);
        let test: HashSet<usize> = s.test.iter().copied().collect();
        let train: HashSet<usize> = s.train.iter().copied().collect();
        prop_assert_eq!(test.len(), s.test.len());
        prop_assert_eq!(train.len(), s.train.len());
        prop_assert!(test.is_disjoint(&train));
        prop_assert_eq!(test.len() + train.len(), n);
        prop_assert_eq!(s.test.len(), ((n as f64) * 0.2).round().max(1.0) as usize);
        // Seeds reproduce.
        prop_assert_eq!(&split(n, seed), &s);
    }

    #[test]
    fn fixed_gives_every_task_the_same_training_ids(
        n in 20usize..400, seed in 0u64..1000, scale in 1usize..10, k in 1usize..4
    ) {
        let s = split(n, seed);
        prop_assume!(s.train.len() / scale > 0);
        let sets = training_sets(&s, k, scale, Setting::Fixed, seed).unwrap();
        prop_assert_eq!(sets.len(), k);
        for set in &sets {
            prop_assert_eq!(set, &sets[0]);
            prop_assert_eq!(set.len(), s.train.len() / scale);
        }
    }

    #[test]
    fn disjoint_gives_pairwise_disjoint_sets_of_equal_size(
        n in 20usize..400, seed in 0u64..1000, scale in 2usize..10, k in 2usize..4
    ) {
        prop_assume!(k <= scale);
        let s = split(n, seed);
        prop_assume!(s.train.len() / scale > 0);
        let sets = training_sets(&s, k, scale, Setting::Disjoint, seed).unwrap();
        let test: HashSet<usize> = s.test.iter().copied().collect();
        let mut seen = HashSet::new();
        for set in &sets {
            prop_assert_eq!(set.len(), s.train.len() / scale);
            for id in set {
                prop_assert!(seen.insert(*id), "id {} in two tasks' training sets", id);
                prop_assert!(!test.contains(id));
            }
        }
        // Seeds reproduce.
        prop_assert_eq!(training_sets(&s, k, scale, Setting::Disjoint, seed).unwrap(), sets);
    }
}

#[test]
fn test_ids_are_shared_by_tasks_settings_and_scales_of_a_data_seed() {
    // The test people depend on the data seed only: both settings and every scale evaluate
    // the same 200 German Credit people.
    let s = split(1000, 3);
    assert_eq!(s.test.len(), 200);
    assert_eq!(s.train.len(), 800);
    for scale in [20, 16, 10, 2] {
        for setting in Setting::ALL {
            let sets = training_sets(&s, 2, scale, setting, 3).unwrap();
            // 800 / scale people per task: 40, 50, 80, 400.
            assert_eq!(sets[0].len(), 800 / scale);
        }
    }
    assert_ne!(
        split(1000, 4).test,
        s.test,
        "another data seed draws another split"
    );
}

#[test]
fn disjoint_with_fewer_blocks_than_tasks_is_bad_input() {
    let s = split(100, 0);
    let e = training_sets(&s, 3, 2, Setting::Disjoint, 0).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("at least 3 blocks"), "{e}");
    let e = training_sets(&s, 2, 0, Setting::Fixed, 0).unwrap_err();
    assert!(e.to_string().contains("scale 0"), "{e}");
}

#[test]
fn grid_has_learners_settings_scales_and_seed_pairs() {
    let t = trials(
        &["logistic".to_string(), "svm".to_string()],
        &[20, 16, 10, 9, 8, 7, 6, 5, 4, 3, 2],
        &[0, 1, 2, 3, 4],
        &[0, 1, 2, 3, 4],
    );
    // 2 learners × 2 settings × 11 scales × 5 × 5 = 1100.
    assert_eq!(t.len(), 1100);
    assert_eq!(t[0].system_name("gc"), "gc/logistic/fixed/scale=20/d0/m0");
    let unique: HashSet<_> = t.iter().collect();
    assert_eq!(unique.len(), 1100);
}
