//! Q6_K matmul: Sofer's tiled kernel vs candle's `k_quants::matmul::<BlockQ6K>`.
//!
//! `cargo run --release --example q6k_bench [-- --quick] [--scalar|--avx2|--avx512]`.
//! `Q6K_BENCH_M=2,8` picks the activation row counts. Thread count: candle's pool
//! (`CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS`, default physical cores).

use candle_core::quantized::k_quants::{matmul, BlockQ6K, GgmlType};
use sofer::engine::kernels::q6k::{matmul_q6k, matmul_q6k_with, Q6kPath};
use std::time::{Duration, Instant};

fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// n×k Q6_K weights; distinct random blocks, recycled past 16 Ki blocks to keep setup quick.
fn weights(n: usize, k: usize) -> Vec<BlockQ6K> {
    let total = n * k / 256;
    let distinct = total.min(1 << 14);
    let mut r = rng(42);
    let w: Vec<f32> = (0..distinct * 256).map(|_| r()).collect();
    let mut blocks = vec![BlockQ6K::zeros(); distinct];
    BlockQ6K::from_float(&w, &mut blocks);
    (0..total).map(|i| blocks[i % distinct].clone()).collect()
}

/// Best (minimum) seconds per call, over enough calls to fill ~`budget` (at least 2).
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    f();
    let one = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((budget.as_secs_f64() / one) as usize).clamp(2, 200);
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn bits(x: &[f32]) -> impl Iterator<Item = u32> + '_ {
    x.iter().map(|v| v.to_bits())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only_path = std::env::args().find_map(|a| match a.as_str() {
        "--scalar" => Some(Q6kPath::Scalar),
        "--avx2" => Some(Q6kPath::Avx2),
        "--avx512" => Some(Q6kPath::Avx512Vnni),
        _ => None,
    });
    let path = only_path.unwrap_or_else(Q6kPath::detect);
    println!(
        "path {path:?}, threads {} (candle pool {} + caller)",
        candle_core::utils::get_num_threads(),
        candle_core::utils::barrier_pool().n_workers()
    );
    let mut shapes = vec![("bench output", 32000, 1024), ("expert down", 1024, 3584)];
    if !quick {
        shapes.extend([("8x7B output", 32000, 4096), ("8x7B down", 4096, 14336)]);
    }
    let ms: Vec<usize> = std::env::var("Q6K_BENCH_M")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 5, 8, 64, 256]);
    let budget = Duration::from_millis(if quick { 150 } else { 400 });
    println!(
        "{:<13} {:>6} {:>6} {:>4} | {:>8} {:>8} {:>7} | {:>8} {:>7} | bits",
        "shape", "n", "k", "m", "candle", "tiled", "speedup", "auto", "speedup"
    );
    let mut all_equal = true;
    for (name, n, k) in shapes {
        let w = weights(n, k);
        for &m in &ms {
            let mut r = rng(m as u64);
            let lhs: Vec<f32> = (0..m * k).map(|_| r()).collect();
            let mut want = vec![0f32; m * n];
            let mut got = vec![0f32; m * n];
            let mut auto = vec![0f32; m * n];
            let t_c = time(budget, || {
                matmul::<BlockQ6K>((m, k, n), &lhs, &w, &mut want).unwrap();
            });
            let t_o = time(budget, || {
                matmul_q6k_with(path, m, k, n, &lhs, &w, &mut got).unwrap();
            });
            let t_a = time(budget, || {
                matmul_q6k(m, k, n, &lhs, &w, &mut auto).unwrap();
            });
            let equal = bits(&got).eq(bits(&want)) && bits(&auto).eq(bits(&want));
            all_equal &= equal;
            let gops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
            println!(
                "{:<13} {:>6} {:>6} {:>4} | {:>8.1} {:>8.1} {:>6.2}x | {:>8.1} {:>6.2}x | {}",
                name,
                n,
                k,
                m,
                gops(t_c),
                gops(t_o),
                t_c / t_o,
                gops(t_a),
                t_c / t_a,
                if equal { "equal" } else { "MISMATCH" }
            );
        }
    }
    println!(
        "GOP/s = 2·m·n·k / best-of-N time; 'tiled' forces the tiled kernel, 'auto' is matmul_q6k \
         (m = 1 goes to candle); bits: both outputs to_bits-equal to candle's"
    );
    if !all_equal {
        std::process::exit(1);
    }
}
