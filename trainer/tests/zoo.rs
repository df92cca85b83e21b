//! Building a zoo end to end on a tiny ImageFolder pool: the base supernet, two shard processes
//! (one killed with SIGKILL in the middle and run again), the merge — no finished entry lost,
//! none doubled — and the errors a researcher meets first.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
subnets_per_task = 3
calibration_batches = 1
noise_images = 4
latency_runs = 400

[space]
input_side = 32
stem_width = 8
stem_stride = 1
first_block_width = 8
stage_widths = [8, 8, 8, 16, 16]
stage_strides = [2, 2, 2, 1, 2]
stage_squeeze_excite = [false, true, false, true, true]
stage_hard_swish = [false, false, true, true, true]
final_expand_width = 16
feature_mix_width = 12
classes = 2

[base]
epochs = 1
batch = 8

[task]
epochs = 1
batch = 8
"#;

fn tans(args: &[&str], dirs: &[&Path]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tans"));
    command.args(args);
    for dir in dirs {
        command.arg(dir);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Three tasks of two colour classes each, 6 train and 2 test images per class.
fn make_pool(root: &Path) {
    for (t, task) in ["apples", "bricks", "clouds"].iter().enumerate() {
        for (split, count) in [("train", 6), ("test", 2)] {
            for c in 0..2u8 {
                let dir = root.join(task).join(split).join(format!("class-{c}"));
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..count {
                    let shade = 60 * c + 10 * i as u8 + 20 * t as u8;
                    image::RgbImage::from_fn(16, 16, |x, y| {
                        image::Rgb([shade, (x * 8) as u8, (y * 8 + u32::from(c) * 100) as u8])
                    })
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
                }
            }
        }
    }
}

const META_CONFIG: &str = r#"
steps = 20
per_class = 2
embed_dim = 8
query_hidden = 16
predictor_hidden = 8
validate_every = 10
patience = 100
validation_draws = 1
"#;

const TRANSFER_CONFIG: &str = r#"
epochs = [1]
seeds = 2
batch = 4
per_class = 2
rerank = 3
candidates = 3
oracle_candidates = 2
knn = 1
calibration_batches = 1
predictor_draws = 2
predictor_epochs = 2
"#;

/// `tans transfer` over the zoo just built (the tasks of a plain ImageFolder pool count as
/// meta-test tasks too), in two shard processes and then a run that writes the report: every
/// selector picks, every pick is fine-tuned once (by the shard that owns its task), the oracle
/// is at least every zoo pick, and a rerun reuses the finished fine-tuning runs.
fn transfer_on_the_built_zoo(root: &Path, pool: &Path, zoo: &Path, zoo_config: &Path) {
    let features = run(&mut tans(&["backbone", "features", "--pool"], &[pool]));
    assert!(features.status.success(), "{}", stderr(&features));
    let meta_config = root.join("meta.toml");
    std::fs::write(&meta_config, META_CONFIG).unwrap();
    let published = root.join("published");
    let meta = run(tans(&["meta-train", "--zoo"], &[zoo])
        .arg("--pool")
        .arg(pool)
        .arg("--config")
        .arg(&meta_config)
        .arg("--out")
        .arg(&published));
    assert!(meta.status.success(), "{}", stderr(&meta));
    // A parameter and a FLOPs budget half the zoo fits under.
    let median = |cost: &str| {
        let mut values: Vec<u64> = lines(&zoo.join("zoo.jsonl"))
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()[cost]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        values.sort_unstable();
        values[values.len() / 2]
    };
    let (max_params, max_flops) = (median("params"), median("flops"));
    let transfer_config = root.join("transfer.toml");
    std::fs::write(
        &transfer_config,
        format!("{TRANSFER_CONFIG}max_params = [{max_params}]\nmax_flops = [{max_flops}]\n"),
    )
    .unwrap();
    let report = root.join("report");
    let transfer = |shard: &str| {
        run(tans(
            &["transfer", "--shard", shard, "--published"],
            &[&published],
        )
        .arg("--zoo")
        .arg(zoo)
        .arg("--pool")
        .arg(pool)
        .arg("--zoo-config")
        .arg(zoo_config)
        .arg("--config")
        .arg(&transfer_config)
        .arg("--out")
        .arg(&report))
    };
    // The task each fine-tuning line names ("TASK [i/n] NETWORK, E epoch(s), seed s: …").
    let fine_tuned = |output: &std::process::Output| -> std::collections::BTreeSet<String> {
        stderr(output)
            .lines()
            .filter(|l| l.contains(" seed "))
            .map(|l| l.split(' ').next().unwrap().to_string())
            .collect()
    };
    let mut owners = Vec::new();
    for shard in ["0/2", "1/2"] {
        let output = transfer(shard);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            !report.join("transfer.json").exists(),
            "a shard writes no report"
        );
        owners.push(fine_tuned(&output));
    }
    assert!(owners[0].is_disjoint(&owners[1]), "{owners:?}");
    assert_eq!(owners[0].len() + owners[1].len(), 3, "{owners:?}");
    let first = transfer("0/1");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        fine_tuned(&first).is_empty(),
        "the shards fine-tuned everything: {}",
        stderr(&first)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("transfer.json")).unwrap()).unwrap();
    assert!(report.join("projection.svg").exists());
    let tasks = json["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 3);
    for task in tasks {
        let selections = task["selections"].as_array().unwrap();
        let selectors: Vec<&str> = selections
            .iter()
            .map(|s| s["selector"].as_str().unwrap())
            .collect();
        assert_eq!(
            selectors,
            [
                "tans",
                "tans-reranked",
                "generic",
                "random",
                "largest",
                "global-best",
                "log-me",
                "knn",
                "oracle"
            ]
        );
        let accuracy = |s: &serde_json::Value| s["accuracy"][0][1].as_f64().unwrap();
        let oracle = accuracy(selections.last().unwrap());
        for s in selections {
            let a = accuracy(s);
            assert!((0.0..=1.0).contains(&a), "{s}");
            if s["network"].get("zoo").is_some() {
                assert!(a <= oracle + 1e-12, "the oracle beats every zoo pick: {s}");
            }
        }
        assert!(task["logme_whole_zoo_seconds"].as_f64().unwrap() > 0.0);
        for (constrained, cost, budget) in [
            (&task["constrained"][0], "params", max_params),
            (&task["constrained"][1], "flops", max_flops),
        ] {
            assert_eq!(constrained["budget"][format!("max-{cost}")], budget);
            for side in ["tans", "generic"] {
                let value = constrained[side][cost].as_u64().unwrap();
                assert!(
                    value <= budget,
                    "{side} pick of {value} {cost} over {budget}"
                );
            }
        }
        // The shipped predictor and the three refitted ones, each with an error on the top
        // models and on the sample.
        let predictors = task["predictor"].as_array().unwrap();
        assert_eq!(predictors.len(), 4, "{predictors:?}");
        for p in predictors {
            for error in ["top_mse", "sample_mse"] {
                let e = p[error].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&e), "{p}");
            }
        }
    }
    let again = transfer("0/1");
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        !stderr(&again).contains(" seed "),
        "a rerun fine-tunes nothing again: {}",
        stderr(&again)
    );
    let rerun: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("transfer.json")).unwrap()).unwrap();
    for (a, b) in tasks.iter().zip(rerun["tasks"].as_array().unwrap()) {
        for (x, y) in a["selections"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["selections"].as_array().unwrap())
        {
            assert_eq!(x["network"], y["network"]);
            assert_eq!(x["accuracy"], y["accuracy"]);
        }
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

#[test]
fn shards_build_resume_after_a_kill_and_merge() {
    let root = std::env::temp_dir().join(format!("tans-zoo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (pool, zoo) = (root.join("pool"), root.join("zoo"));
    make_pool(&pool);
    let config = root.join("zoo.toml");
    std::fs::File::create(&config)
        .unwrap()
        .write_all(CONFIG.as_bytes())
        .unwrap();

    let before_base = run(tans(&["zoo", "build", "--pool"], &[&pool])
        .args(["--zoo"])
        .arg(&zoo)
        .arg("--config")
        .arg(&config));
    assert!(!before_base.status.success());
    assert!(
        stderr(&before_base).contains("tans zoo base"),
        "{}",
        stderr(&before_base)
    );

    let base = run(tans(&["zoo", "base", "--pool"], &[&pool])
        .arg("--zoo")
        .arg(&zoo)
        .arg("--config")
        .arg(&config));
    assert!(base.status.success(), "{}", stderr(&base));
    assert!(zoo.join("supernets/base.bpk").exists());

    let shard = |s: &str| {
        let mut command = tans(&["zoo", "build", "--pool"], &[&pool]);
        command
            .arg("--zoo")
            .arg(&zoo)
            .arg("--config")
            .arg(&config)
            .args(["--shard", s])
            .stderr(Stdio::null());
        command
    };
    let first_db = zoo.join("zoo.shard-0-of-2.jsonl");
    let mut first = shard("0/2").spawn().unwrap();
    let mut second = shard("1/2").spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while lines(&first_db).is_empty() {
        assert!(Instant::now() < deadline, "shard 0 wrote nothing");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        first.try_wait().unwrap().is_none(),
        "shard 0 finished before the kill; the test needs it mid-run"
    );
    first.kill().unwrap();
    first.wait().unwrap();
    let kept = lines(&first_db);
    assert!(!kept.is_empty() && kept.len() < 6, "{} entries", kept.len());
    assert!(second.wait().unwrap().success());

    let rerun = run(shard("0/2").stderr(Stdio::piped()));
    assert!(rerun.status.success(), "{}", stderr(&rerun));
    let finished = lines(&first_db);
    assert_eq!(finished.len(), 6, "shard 0: 2 tasks × 3 subnets");
    assert_eq!(
        finished[..kept.len()],
        kept[..],
        "finished entries are kept as they were"
    );

    let merge = run(&mut tans(&["zoo", "merge", "--zoo"], &[&zoo]));
    assert!(merge.status.success(), "{}", stderr(&merge));
    let merged: Vec<serde_json::Value> = lines(&zoo.join("zoo.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(merged.len(), 9);
    let mut keys: Vec<String> = merged
        .iter()
        .map(|e| format!("{}:{}", e["task"], e["topology"]))
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), 9, "no entry twice");
    for entry in &merged {
        let accuracy = entry["accuracy"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
        assert_eq!(entry["functional_embedding"].as_array().unwrap().len(), 12);
        assert!(entry["latency_ms"].as_f64().unwrap() > 0.0);
        let supernet = zoo.join(entry["supernet"].as_str().unwrap());
        assert!(supernet.exists(), "{}", supernet.display());
    }

    let report = run(&mut tans(&["zoo", "report", "--zoo"], &[&zoo]));
    assert!(report.status.success(), "{}", stderr(&report));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(zoo.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["tasks"], 3);
    assert_eq!(report["subnets"], 9);
    assert_eq!(
        report["tasks_with_tuning_record"], 3,
        "every task compares its fine-tuned largest subnet with the base's"
    );

    transfer_on_the_built_zoo(&root, &pool, &zoo, &config);

    let out_of_range = run(shard("2/2").stderr(Stdio::piped()));
    assert!(!out_of_range.status.success());
    assert!(
        stderr(&out_of_range).contains("out of range"),
        "{}",
        stderr(&out_of_range)
    );
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let no_tasks = run(tans(&["zoo", "base", "--pool"], &[&empty])
        .arg("--zoo")
        .arg(&zoo)
        .arg("--config")
        .arg(&config));
    assert!(!no_tasks.status.success());
    assert!(
        stderr(&no_tasks).contains(&empty.display().to_string()),
        "{}",
        stderr(&no_tasks)
    );
    std::fs::remove_dir_all(root).unwrap();
}
