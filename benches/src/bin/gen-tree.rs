//! Prints the path of a generated bench tree, building it first if needed:
//! `gen-tree FILES DIRS` (default 500000 files in 20000 directories).

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let files = args.next().unwrap_or(Ok(500_000));
    let dirs = args.next().unwrap_or(Ok(20_000));
    let (Ok(files), Ok(dirs)) = (files, dirs) else {
        eprintln!("usage: gen-tree [FILES] [DIRS]  (whole numbers)");
        return ExitCode::from(2);
    };
    match spectra_benches::generated_tree(files, dirs) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-tree: {e}");
            ExitCode::FAILURE
        }
    }
}
