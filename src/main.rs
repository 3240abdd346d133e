//! The `sofer` command line: parses, dispatches, and reports errors in one place.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    sofer::engine::heap::keep_freed_memory();
    size_thread_pools();
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

/// The engine's thread pool sizes itself from `RAYON_NUM_THREADS`, else from the machine's
/// physical cores, ignoring CPU affinity and container CPU quotas (a pod given 2 CPUs on a
/// 64-core host would run 64 spinning threads). Unless set, size it from
/// `CANDLE_NUM_THREADS`, else from the CPUs this process may use, at most the physical cores.
fn size_thread_pools() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let requested = std::env::var("CANDLE_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = requested.unwrap_or_else(|| allowed.min(candle_core::utils::get_num_threads()));
    // Runs before any other thread exists.
    std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
}

/// The error and its causes on one line, leaving out a cause whose text its parent already
/// includes (typed errors often print their source themselves).
fn describe(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
