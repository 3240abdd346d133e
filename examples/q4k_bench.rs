//! Q4_K matmul: Sofer's tiled kernel vs candle's `k_quants::matmul::<BlockQ4K>`.
//!
//! `cargo run --release --example q4k_bench [-- --quick]`. Thread count: candle's pool
//! (`CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS`, default physical cores).

use candle_core::quantized::k_quants::{matmul, BlockQ4K, GgmlType};
use sofer::engine::kernels::q4k::{matmul_q4k, matmul_q4k_with, Q4kPath};
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

/// n×k Q4_K weights; distinct random blocks, recycled past 16 Ki blocks to keep setup quick.
fn weights(n: usize, k: usize) -> Vec<BlockQ4K> {
    let total = n * k / 256;
    let distinct = total.min(1 << 14);
    let mut r = rng(42);
    let w: Vec<f32> = (0..distinct * 256).map(|_| r()).collect();
    let mut blocks = vec![BlockQ4K::zeros(); distinct];
    BlockQ4K::from_float(&w, &mut blocks);
    (0..total).map(|i| blocks[i % distinct].clone()).collect()
}

/// Best (minimum) seconds per call, over enough calls to fill ~`budget`.
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let one = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((budget.as_secs_f64() / one) as usize).clamp(3, 200);
    let mut ts: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    ts.sort_by(f64::total_cmp);
    ts[0]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only_path = std::env::args().find_map(|a| match a.as_str() {
        "--scalar" => Some(Q4kPath::Scalar),
        "--avx2" => Some(Q4kPath::Avx2),
        "--avx512" => Some(Q4kPath::Avx512Vnni),
        _ => None,
    });
    let path = only_path.unwrap_or_else(Q4kPath::detect);
    println!(
        "path {path:?}, threads {} (candle pool {} + caller)",
        candle_core::utils::get_num_threads(),
        candle_core::utils::barrier_pool().n_workers()
    );
    let mut shapes = vec![
        ("expert up/gate", 3584, 1024),
        ("expert down", 1024, 3584),
        ("attn q/o", 1024, 1024),
    ];
    if !quick {
        shapes.extend([("8x7B up/gate", 14336, 4096), ("8x7B down", 4096, 14336)]);
    }
    let ms: Vec<usize> = std::env::var("Q4K_BENCH_M")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3, 5, 8, 64, 256]);
    let budget = Duration::from_millis(if quick { 150 } else { 400 });
    println!(
        "{:<15} {:>6} {:>6} {:>4} | {:>9} {:>9} {:>7} | {:>9} {:>7} | {:>8}",
        "shape", "n", "k", "m", "candle", "tiled", "speedup", "auto", "speedup", "bits !="
    );
    for (name, n, k) in shapes {
        let w = weights(n, k);
        for &m in &ms {
            let mut r = rng(m as u64);
            let lhs: Vec<f32> = (0..m * k).map(|_| r()).collect();
            let mut want = vec![0f32; m * n];
            let mut got = vec![0f32; m * n];
            let mut auto = vec![0f32; m * n];
            let t_c = time(budget, || {
                matmul::<BlockQ4K>((m, k, n), &lhs, &w, &mut want).unwrap();
            });
            let t_o = time(budget, || {
                matmul_q4k_with(path, m, k, n, &lhs, &w, &mut got).unwrap();
            });
            let t_a = time(budget, || {
                matmul_q4k(m, k, n, &lhs, &w, &mut auto).unwrap();
            });
            // Both must equal candle bit for bit: count the outputs that do not.
            let diff = got
                .iter()
                .chain(&auto)
                .zip(want.iter().chain(&want))
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            let gops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
            println!(
                "{:<15} {:>6} {:>6} {:>4} | {:>9.1} {:>9.1} {:>6.2}x | {:>9.1} {:>6.2}x | {:>8}{}",
                name,
                n,
                k,
                m,
                gops(t_c),
                gops(t_o),
                t_c / t_o,
                gops(t_a),
                t_c / t_a,
                diff,
                if diff > 0 { "  MISMATCH" } else { "" }
            );
        }
    }
    println!(
        "GOP/s = 2·m·n·k / best-of-N time; 'tiled' forces the tiled kernel, 'auto' is matmul_q4k; \
         'bits !=' counts outputs (tiled + auto) not bit-identical to candle's"
    );
}
