//! The `permesi` binary: `permesi [serve|migrate|openapi]`.

fn main() -> std::process::ExitCode {
    server::cli::main::<permesi::Permesi>()
}
