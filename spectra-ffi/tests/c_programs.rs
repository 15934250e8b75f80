//! The C test programs in `tests/c/`, compiled by gcc against `include/spectra.h` with
//! `-std=c11 -Wall -Wextra -Wpedantic -Werror`, linked against the static library (under
//! AddressSanitizer, leaks included) and the shared one, and run; one run under valgrind's
//! memcheck must show no errors and no leaks.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const FLAGS: &[&str] = &[
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Wpedantic",
    "-Werror",
    "-g",
];

/// Where `libspectra.a` and `libspectra.so` are (beside this test's `deps/`), built fresh:
/// `cargo test` builds only the rlib an integration test links, so the C libraries of an
/// earlier build would be tested instead.
fn library_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "--locked", "-p", "spectra-ffi"])
                .current_dir(crate_dir())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p spectra-ffi: {status}");
            let exe = std::env::current_exe().expect("test binary path");
            exe.parent()
                .and_then(Path::parent)
                .expect("target/<profile>")
                .to_path_buf()
        })
        .clone()
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

enum Link {
    StaticWithAsan,
    Shared,
}

fn compile(source: &str, link: Link, out: &Path) {
    let libs = library_dir();
    let mut gcc = Command::new("gcc");
    gcc.args(FLAGS)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c").join(source))
        .arg("-o")
        .arg(out);
    match link {
        Link::StaticWithAsan => {
            gcc.arg("-fsanitize=address")
                .arg("-fno-omit-frame-pointer")
                .arg(libs.join("libspectra.a"));
        }
        Link::Shared => {
            gcc.arg("-L")
                .arg(&libs)
                .arg("-lspectra")
                .arg(format!("-Wl,-rpath,{}", libs.display()));
        }
    }
    gcc.args(["-lpthread", "-ldl", "-lm"]);
    let output = gcc.output().expect("gcc runs");
    assert!(
        output.status.success(),
        "gcc {source}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().expect("the test program runs");
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "ok",
        "{what}"
    );
}

#[test]
fn the_c_test_program_passes_against_both_libraries_with_no_leaks() {
    let work = tempfile::tempdir().expect("tempdir");
    for (link, name) in [(Link::StaticWithAsan, "asan"), (Link::Shared, "shared")] {
        let binary = work.path().join(format!("test_spectra_{name}"));
        compile("test_spectra.c", link, &binary);
        let scratch = work.path().join(format!("run_{name}"));
        std::fs::create_dir(&scratch).expect("scratch dir");
        run(
            Command::new(&binary)
                .arg(&scratch)
                .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0"),
            &format!("test_spectra ({name})"),
        );
    }
}

#[test]
fn collectors_answer_four_threads_at_once() {
    let work = tempfile::tempdir().expect("tempdir");
    for (link, name) in [(Link::StaticWithAsan, "asan"), (Link::Shared, "shared")] {
        let binary = work.path().join(format!("test_threads_{name}"));
        compile("test_threads.c", link, &binary);
        run(
            Command::new(&binary).env("ASAN_OPTIONS", "detect_leaks=1"),
            &format!("test_threads ({name})"),
        );
    }
}

#[test]
fn memcheck_finds_no_errors_and_no_leaks() {
    let work = tempfile::tempdir().expect("tempdir");
    let binary = work.path().join("test_spectra");
    compile("test_spectra.c", Link::Shared, &binary);
    let scratch = work.path().join("run");
    std::fs::create_dir(&scratch).expect("scratch dir");
    run(
        Command::new("valgrind")
            .args([
                "--quiet",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--error-exitcode=3",
            ])
            .arg(&binary)
            .arg(&scratch),
        "test_spectra under valgrind",
    );
}
