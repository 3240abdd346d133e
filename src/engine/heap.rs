//! How the process's allocator treats freed memory (glibc on Linux; elsewhere a no-op).

/// Every layer allocates and frees megabyte buffers (quantized activations, matmul outputs).
/// glibc hands such allocations back to the kernel on free, so each layer faulted in fresh
/// zeroed pages again: on the VMs measured here that cost about as much as the matmuls of a
/// Mixtral-sized prompt, and half of loading a 2 GB model. Keep allocations up to 32 MiB on
/// the heap and never trim it automatically; peak RSS is unchanged (the pages are reused,
/// not added). Call before any other thread exists.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only sets allocator parameters; the caller runs it single-threaded.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Hands the free pages of the heap back to the kernel once, after loading: what the file's
/// parsed header, its vocabulary arrays and the read buffers left free would otherwise stay
/// resident for the life of the process (measured: about 1 % of peak RSS on SmolLM2 and the
/// 7B-shaped preset, nothing on the bench files).
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free pages; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
