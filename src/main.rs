//! The `baomi` binary; everything is in the library (`baomi::cli`).

fn main() -> std::process::ExitCode {
    baomi::cli::main()
}
