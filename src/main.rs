//! The `baomi` binary; everything is in the library (`baomi::cli`).

/// mimalloc instead of glibc's allocator: under load, glibc's `malloc`, `free` and
/// `malloc_consolidate` took about a sixth of the server's CPU (see docs/measured.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    baomi::cli::main()
}
