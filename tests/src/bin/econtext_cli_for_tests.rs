//! The econtext CLI, built inside the tests crate so integration tests can run it.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let status = match econtext::cli::parse(args) {
        Ok(cmd) => econtext::cli::run(cmd),
        Err(e) => {
            eprintln!("econtext: {e}");
            2
        }
    };
    std::process::exit(status);
}
