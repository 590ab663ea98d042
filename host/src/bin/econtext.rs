//! The `econtext` binary: all logic lives in `econtext::cli`.

fn main() {
    std::process::exit(econtext::cli::main());
}
