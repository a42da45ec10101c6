//! Learning-rate schedules against transformers/torch: `tests/fixtures/adapt/schedules.json`
//! (from `scripts/make_optim_fixtures.py`) holds the rate each step used when a real torch
//! optimizer was stepped under `get_linear_schedule_with_warmup`,
//! `get_cosine_schedule_with_warmup`, `get_constant_schedule(_with_warmup)` and
//! `CosineAnnealingLR`, including steps past the end of training.

use homogen::adapt::Schedule;
use serde_json::Value;

#[test]
fn schedules_match_transformers_and_torch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adapt/schedules.json"
    );
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schedules = fx["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), 15);
    for s in schedules {
        let kind = s["kind"].as_str().unwrap();
        let total = s["total_steps"].as_u64().unwrap();
        let warmup = s["warmup_steps"].as_u64().unwrap();
        let base = s["base_lr"].as_f64().unwrap();
        let schedule = match kind {
            "linear" => Schedule::LinearWithWarmup {
                warmup_steps: warmup,
                total_steps: total,
            },
            "cosine" => Schedule::cosine_with_warmup(warmup, total),
            "constant_with_warmup" | "constant" => Schedule::Constant {
                warmup_steps: warmup,
            },
            "cosine_annealing" => Schedule::cosine_annealing(total),
            other => panic!("unknown schedule {other}"),
        };
        for (k, want) in s["lrs"].as_array().unwrap().iter().enumerate() {
            let want = want.as_f64().unwrap();
            let got = schedule.lr(base, k as u64);
            assert!(
                (got - want).abs() <= 1e-12 * base,
                "{kind} total {total} warmup {warmup} step {k}: {got} vs torch {want}"
            );
        }
    }
}
