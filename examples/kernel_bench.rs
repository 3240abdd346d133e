//! Quantized matmul: Sofer's tiled kernels vs candle's `k_quants::matmul::<BlockQxK>`.
//!
//! `cargo run --release --example kernel_bench -- q4k|q5k|q6k [--quick] [--scalar|--avx2|--avx512]`.
//! `KERNEL_BENCH_M=2,8` picks the activation row counts. Thread count: candle's pool
//! (`CANDLE_NUM_THREADS` / `RAYON_NUM_THREADS`, default physical cores).

use candle_core::quantized::k_quants::{matmul, BlockQ4K, BlockQ5K, BlockQ6K, GgmlType};
use sofer::engine::kernels::{q4k, q5k, q6k, KernelPath};
use std::time::{Duration, Instant};

/// One format's entry point.
type Matmul<B> = fn(usize, usize, usize, &[f32], &[B], &mut [f32]) -> candle_core::Result<()>;
/// One format's entry point on a chosen path.
type MatmulWith<B> =
    fn(KernelPath, usize, usize, usize, &[f32], &[B], &mut [f32]) -> candle_core::Result<()>;

fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// n×k weights; distinct random blocks, recycled past 16 Ki blocks to keep setup quick.
fn weights<B: GgmlType + Clone>(n: usize, k: usize) -> Vec<B> {
    let total = n * k / 256;
    let distinct = total.min(1 << 14);
    let mut r = rng(42);
    let w: Vec<f32> = (0..distinct * 256).map(|_| r()).collect();
    let mut blocks = vec![B::zeros(); distinct];
    B::from_float(&w, &mut blocks);
    (0..total).map(|i| blocks[i % distinct].clone()).collect()
}

/// Best (minimum) seconds per call, over enough calls to fill ~`budget`.
fn time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let one = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((budget.as_secs_f64() / one) as usize).clamp(3, 200);
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// Benchmarks one format; returns whether every output was within f32 rounding of candle's.
fn bench<B: GgmlType + Clone>(
    name: &str,
    shapes: &[(&str, usize, usize)],
    path: KernelPath,
    quick: bool,
    auto: Matmul<B>,
    with: MatmulWith<B>,
) -> bool {
    let ms: Vec<usize> = std::env::var("KERNEL_BENCH_M")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3, 5, 8, 64, 256]);
    let budget = Duration::from_millis(if quick { 150 } else { 400 });
    println!(
        "{:<15} {:>6} {:>6} {:>4} | {:>9} {:>9} {:>7} | {:>9} {:>7} | {:>8}",
        "shape", "n", "k", "m", "candle", "tiled", "speedup", "auto", "speedup", "max err"
    );
    let mut all_close = true;
    for &(shape, n, k) in shapes {
        let w = weights::<B>(n, k);
        for &m in &ms {
            let mut r = rng(m as u64);
            let lhs: Vec<f32> = (0..m * k).map(|_| r()).collect();
            let mut want = vec![0f32; m * n];
            let mut got = vec![0f32; m * n];
            let mut got_auto = vec![0f32; m * n];
            let t_c = time(budget, || {
                matmul::<B>((m, k, n), &lhs, &w, &mut want).unwrap();
            });
            let t_o = time(budget, || with(path, m, k, n, &lhs, &w, &mut got).unwrap());
            let t_a = time(budget, || auto(m, k, n, &lhs, &w, &mut got_auto).unwrap());
            // Both must equal candle to f32 rounding (the AVX-512 VNNI paths of Q4_K/Q5_K sum
            // in another float order; the others are bit-identical, error 0).
            let mean = want.iter().map(|x| x.abs()).sum::<f32>() / want.len().max(1) as f32;
            let err = got
                .iter()
                .chain(&got_auto)
                .zip(want.iter().chain(&want))
                .map(|(a, b)| (a - b).abs() / b.abs().max(mean).max(f32::MIN_POSITIVE))
                .fold(0f32, f32::max);
            all_close &= err <= 1e-5;
            let gops = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
            println!(
                "{:<15} {:>6} {:>6} {:>4} | {:>9.1} {:>9.1} {:>6.2}x | {:>9.1} {:>6.2}x | {:>8.1e}{}",
                shape,
                n,
                k,
                m,
                gops(t_c),
                gops(t_o),
                t_c / t_o,
                gops(t_a),
                t_c / t_a,
                err,
                if err > 1e-5 { "  MISMATCH" } else { "" }
            );
        }
    }
    println!(
        "GOP/s = 2·m·n·k / best-of-N time; 'tiled' forces the tiled kernel, 'auto' is \
         matmul_{name}; 'max err' is the largest |ours − candle| (tiled + auto) relative to \
         max(|candle|, mean |candle|), 0 when bit-identical"
    );
    all_close
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only_path = args.iter().find_map(|a| match a.as_str() {
        "--scalar" => Some(KernelPath::Scalar),
        "--avx2" => Some(KernelPath::Avx2),
        "--avx512" => Some(KernelPath::Avx512Vnni),
        _ => None,
    });
    let path = only_path.unwrap_or_else(KernelPath::detect);
    let format = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    let mut shapes = vec![
        ("expert up/gate", 3584, 1024),
        ("expert down", 1024, 3584),
        ("attn q/o", 1024, 1024),
    ];
    let mut big = vec![("8x7B up/gate", 14336, 4096), ("8x7B down", 4096, 14336)];
    if format == Some("q6k") {
        shapes = vec![("bench output", 32000, 1024), ("expert down", 1024, 3584)];
        big = vec![("8x7B output", 32000, 4096), ("8x7B down", 4096, 14336)];
    }
    if !quick {
        shapes.extend(big);
    }
    println!(
        "format {}, path {path:?}, threads {} (candle pool {} + caller)",
        format.unwrap_or("?"),
        candle_core::utils::get_num_threads(),
        candle_core::utils::barrier_pool().n_workers()
    );
    let ok = match format {
        Some("q4k") => bench::<BlockQ4K>(
            "q4k",
            &shapes,
            path,
            quick,
            q4k::matmul_q4k,
            q4k::matmul_q4k_with,
        ),
        Some("q5k") => bench::<BlockQ5K>(
            "q5k",
            &shapes,
            path,
            quick,
            q5k::matmul_q5k,
            q5k::matmul_q5k_with,
        ),
        Some("q6k") => bench::<BlockQ6K>(
            "q6k",
            &shapes,
            path,
            quick,
            q6k::matmul_q6k,
            q6k::matmul_q6k_with,
        ),
        _ => {
            eprintln!("usage: kernel_bench q4k|q5k|q6k [--quick] [--scalar|--avx2|--avx512]");
            std::process::exit(2);
        }
    };
    if !ok {
        std::process::exit(1);
    }
}
