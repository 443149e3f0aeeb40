//! The `genesis` binary: `genesis [serve|migrate|openapi]`.

fn main() -> std::process::ExitCode {
    server::cli::main::<genesis::Genesis>()
}
