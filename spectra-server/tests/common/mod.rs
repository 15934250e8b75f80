//! What every CLI test needs: run the real `spectra` binary.

use std::process::{Command, Output};

pub fn spectra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(args)
        .output()
        .expect("run spectra")
}
