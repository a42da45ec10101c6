//! The gemm crate's own two-thread split against column blocks (one single-threaded gemm per
//! thread, what `models::dense` does for products no wider than deep), on the dense layers'
//! f32 shapes: forward, input gradient and weight gradient of a 768 → 3072 → 768 block, for
//! `rows` tokens (1024: RoBERTa batch 8 × 128; 1576: CLIP batch 8 × 197). Best of 8, GFLOP/s;
//! also checks that both give the same bits.
//!
//! Usage: `cargo run --release --example bench_gemm_split -- [rows]`, with
//! `RAYON_NUM_THREADS=2` to match the other CPU benchmarks.

use gemm::Parallelism;
use std::time::Instant;

/// A product `op(A) (m×k) · op(B) (k×n)` with the strides of row-major storage.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    m: usize,
    n: usize,
    k: usize,
    a_t: bool,
    b_t: bool,
}

/// Raw pointers shared by the column blocks (disjoint writes).
#[derive(Clone, Copy)]
struct Ptr(*mut f32);
unsafe impl Send for Ptr {}
unsafe impl Sync for Ptr {}

impl Ptr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `dst := op(A) · op(B)`, whole (`blocks == 1`, the gemm crate's rayon split) or in column
/// blocks run on rayon's threads.
fn product(case: Case, a: &[f32], b: &[f32], dst: &mut [f32], blocks: usize) {
    let Case {
        m, n, k, a_t, b_t, ..
    } = case;
    let (a_rs, a_cs) = if a_t {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    let (b_rs, b_cs) = if b_t {
        (1, k as isize)
    } else {
        (n as isize, 1)
    };
    let (d, ap, bp) = (
        Ptr(dst.as_mut_ptr()),
        Ptr(a.as_ptr() as *mut f32),
        Ptr(b.as_ptr() as *mut f32),
    );
    let run = |c0: usize, w: usize, par: Parallelism| unsafe {
        gemm::gemm(
            m,
            w,
            k,
            d.get().add(c0),
            1,
            n as isize,
            false,
            ap.get(),
            a_cs,
            a_rs,
            bp.get().offset(c0 as isize * b_cs),
            b_cs,
            b_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    };
    if blocks == 1 {
        run(0, n, Parallelism::Rayon(rayon::current_num_threads()));
    } else {
        let width = n.div_ceil(blocks);
        rayon::scope(|s| {
            for i in 0..blocks {
                let c0 = i * width;
                s.spawn(move |_| run(c0, width.min(n - c0), Parallelism::None));
            }
        });
    }
}

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let (h, f) = (768, 3072);
    let case = |name, m, n, k, a_t, b_t| Case {
        name,
        m,
        n,
        k,
        a_t,
        b_t,
    };
    let cases = [
        case("forward 768 -> 768", rows, h, h, false, true),
        case("forward 768 -> 3072", rows, f, h, false, true),
        case("forward 3072 -> 768", rows, h, f, false, true),
        case("dx of 768 -> 3072", rows, h, f, false, false),
        case("dx of 3072 -> 768", rows, f, h, false, false),
        case("dW of 768 -> 3072", f, h, rows, true, false),
        case("dW of 3072 -> 768", h, f, rows, true, false),
    ];
    let threads = rayon::current_num_threads();
    println!("rows {rows}, {threads} threads; GFLOP/s, best of 8");
    println!("| product | m | n | k | gemm crate split | column blocks | same bits |");
    println!("|---|---|---|---|---|---|---|");
    for c in cases {
        // What `models::dense` does: column blocks for n ≤ k except weight gradients.
        let a: Vec<f32> = (0..c.m * c.k).map(|i| (i % 1009) as f32 / 1009.0).collect();
        let b: Vec<f32> = (0..c.k * c.n).map(|i| (i % 997) as f32 / 997.0).collect();
        let mut speeds = Vec::new();
        let mut outputs = Vec::new();
        for blocks in [1, threads.max(2)] {
            let mut dst = vec![0f32; c.m * c.n];
            let mut best = f64::MAX;
            for _ in 0..8 {
                let t = Instant::now();
                product(c, &a, &b, &mut dst, blocks);
                best = best.min(t.elapsed().as_secs_f64());
            }
            speeds.push(2.0 * (c.m * c.n * c.k) as f64 / best / 1e9);
            outputs.push(dst);
        }
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0} | {} |",
            c.name,
            c.m,
            c.n,
            c.k,
            speeds[0],
            speeds[1],
            outputs[0] == outputs[1]
        );
    }
}
