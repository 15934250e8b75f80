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

/// The `spectra` binary, built fresh, for comparing with the CLI.
fn spectra_cli() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--locked", "-p", "spectra-cli"])
        .current_dir(crate_dir())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p spectra-cli: {status}");
    library_dir().join("spectra")
}

#[test]
fn every_setting_through_json_gives_the_scan_the_cli_gives() {
    let shared = crate_dir().join("../spectra-core/tests/data");
    let every: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("every_scan_setting.json")).expect("read"),
    )
    .expect("JSON");
    let work = tempfile::tempdir().expect("tempdir");
    let tree = work.path().join("tree");
    std::fs::create_dir(&tree).expect("mkdir");
    let made = Command::new("sh")
        .arg(shared.join("every_scan_setting_tree.sh"))
        .arg(&tree)
        .status()
        .expect("sh");
    assert!(made.success());

    let cli = Command::new(spectra_cli())
        .arg("scan")
        .arg(&tree)
        .args(["--format", "json"])
        .args(
            every["cli"]
                .as_array()
                .expect("cli")
                .iter()
                .map(|flag| flag.as_str().expect("flag")),
        )
        .output()
        .expect("spectra runs");
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let mut from_cli: serde_json::Value = serde_json::from_slice(&cli.stdout).expect("JSON");

    let binary = work.path().join("scan_with_settings");
    compile("scan_with_settings.c", Link::StaticWithAsan, &binary);
    let from_c = Command::new(&binary)
        .arg(&tree)
        .arg(every["settings"].to_string())
        .env("ASAN_OPTIONS", "detect_leaks=1")
        .output()
        .expect("runs");
    assert!(
        from_c.status.success(),
        "{}",
        String::from_utf8_lossy(&from_c.stderr)
    );
    let mut from_c: serde_json::Value = serde_json::from_slice(&from_c.stdout).expect("JSON");
    for key in every["volatile"].as_array().expect("volatile") {
        let key = key.as_str().expect("key");
        from_cli.as_object_mut().expect("object").remove(key);
        from_c.as_object_mut().expect("object").remove(key);
    }
    assert_eq!(from_c, from_cli);
    assert_eq!(from_c["totals"]["files"], 3);

    // An unknown setting is refused with the known ones, and nothing is scanned.
    let refused = Command::new(&binary)
        .arg(&tree)
        .arg(r#"{"depth": 2}"#)
        .env("ASAN_OPTIONS", "detect_leaks=1")
        .output()
        .expect("runs");
    let detail = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{detail}");
    assert!(
        detail.contains("unknown field `depth`") && detail.contains("max_depth"),
        "{detail}"
    );
    assert!(refused.stdout.is_empty());
}
