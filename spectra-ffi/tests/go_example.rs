//! The Go program in `examples/go/` (cgo, through `#cgo pkg-config: spectra`) against the
//! library as `install.sh` installs it: a scan with progress, a collector and a policy plan,
//! checked against a tree made here.

use std::path::Path;
use std::process::Command;

#[test]
fn the_go_example_scans_collects_and_plans_through_the_installed_library() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("tempdir");
    let prefix = work.path().join("prefix");
    // The test's own target directory (target/debug/deps/this → target), so that the install
    // reuses this build instead of starting another.
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.ancestors().nth(3).expect("the target directory");
    let status = Command::new(crate_dir.join("install.sh"))
        .arg(&prefix)
        .arg("--debug")
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO", env!("CARGO"))
        .status()
        .expect("install.sh runs");
    assert!(status.success(), "install.sh: {status}");
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/spectra.pc")).expect("spectra.pc");
    assert!(pc.contains(&format!("prefix={}", prefix.display())), "{pc}");

    let tree = work.path().join("tree");
    std::fs::create_dir_all(tree.join("logs")).expect("tree");
    std::fs::write(tree.join("logs/one.log"), vec![b'x'; 1000]).expect("file");
    std::fs::write(tree.join("logs/two.log"), vec![b'x'; 2000]).expect("file");
    std::fs::write(tree.join("data.bin"), vec![b'x'; 5000]).expect("file");
    let dir_bytes: u64 = [tree.clone(), tree.join("logs")]
        .iter()
        .map(|dir| std::fs::metadata(dir).expect("stat").len())
        .sum();

    let output = Command::new("go")
        .args(["run", "main.go"])
        .arg(&tree)
        .arg(work.path().join("state"))
        .current_dir(crate_dir.join("examples/go"))
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
        .env("LD_LIBRARY_PATH", prefix.join("lib"))
        .env("GOCACHE", work.path().join("gocache"))
        .env("GOPATH", work.path().join("gopath"))
        .env("GO111MODULE", "off")
        .output()
        .expect("go runs (Debian's golang-go)");
    assert!(
        output.status.success(),
        "go run: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(answer["files"], 3);
    assert_eq!(answer["apparent_bytes"], 8000 + dir_bytes);
    assert!(
        answer["progress_calls"].as_u64().is_some_and(|n| n >= 1),
        "{answer}"
    );
    assert_eq!(answer["plan_files"], 2);
    assert_eq!(answer["plan_bytes"], 3000);
    assert!(
        answer["memory_total"].as_u64().is_some_and(|n| n > 0),
        "{answer}"
    );
    assert_eq!(answer["version"], env!("CARGO_PKG_VERSION"));
}
