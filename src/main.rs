//! The `journeyd` binary: everything lives in the library; this only hands over to the CLI.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    journeyd::cli::main()
}

/// `--features mimalloc`: at 1,000 and 10,000 virtual users glibc's malloc spends ~7% of the CPU in
/// `malloc_consolidate`/`unlink_chunk`; mimalloc cuts CPU per request there but adds ~18 MiB of baseline
/// RSS, so the default build (monitor, sidecar) stays on glibc. Numbers: bench/RESULTS.md.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
