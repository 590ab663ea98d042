//! The econtext CLI, built inside the tests crate so integration tests can run it.

fn main() {
    std::process::exit(econtext::cli::main());
}
