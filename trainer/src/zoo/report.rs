//! `tans zoo report`: the sanity figures of a built zoo — per task, how fine-tuning changed the
//! largest subnet against the base supernet, and how far its subnets' accuracies and sizes
//! spread — as JSON and Markdown.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Result, bail};

use super::build::TuningRecord;
use super::db::ZooEntry;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// The report of `entries` (one zoo) with the tuning records found under `zoo/supernets`.
pub fn report(entries: &[ZooEntry], zoo: &Path) -> Result<(serde_json::Value, String)> {
    if entries.is_empty() {
        bail!("{}: the zoo database is empty", zoo.display());
    }
    let mut by_task: BTreeMap<&str, Vec<&ZooEntry>> = BTreeMap::new();
    for entry in entries {
        by_task.entry(&entry.task).or_default().push(entry);
    }
    let mut rows = Vec::new();
    let mut markdown = String::from(
        "| task | subnets | accuracy min / median / max | params min / max | largest subnet: base → fine-tuned |\n| --- | --- | --- | --- | --- |\n",
    );
    let (mut improved, mut compared) = (0, 0);
    let mut spreads = Vec::new();
    for (task, list) in &by_task {
        let mut accuracy: Vec<f64> = list.iter().map(|e| e.accuracy).collect();
        accuracy.sort_by(f64::total_cmp);
        let params: Vec<u64> = list.iter().map(|e| e.params).collect();
        let (lo, hi) = (
            *params.iter().min().expect("non-empty"),
            *params.iter().max().expect("non-empty"),
        );
        spreads.push(accuracy[accuracy.len() - 1] - accuracy[0]);
        let tuning: Option<TuningRecord> =
            std::fs::read(zoo.join("supernets").join(format!("{task}.tuning.json")))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(t) = &tuning {
            compared += 1;
            if t.tuned_accuracy > t.base_accuracy {
                improved += 1;
            }
        }
        markdown.push_str(&format!(
            "| {task} | {} | {:.3} / {:.3} / {:.3} | {lo} / {hi} | {} |\n",
            list.len(),
            accuracy[0],
            quantile(&accuracy, 0.5),
            accuracy[accuracy.len() - 1],
            tuning.as_ref().map_or("—".into(), |t| format!(
                "{:.3} → {:.3}",
                t.base_accuracy, t.tuned_accuracy
            ))
        ));
        rows.push(serde_json::json!({
            "task": task,
            "subnets": list.len(),
            "accuracy": {"min": accuracy[0], "median": quantile(&accuracy, 0.5), "max": accuracy[accuracy.len() - 1]},
            "params": {"min": lo, "max": hi},
            "tuning": tuning,
        }));
    }
    spreads.sort_by(f64::total_cmp);
    let summary = format!(
        "{} tasks, {} subnets. Fine-tuning beat the base supernet's largest subnet on {improved} of \
         the {compared} tasks with a record; the median spread (best − worst subnet accuracy) \
         within a task is {:.3}.\n\n",
        by_task.len(),
        entries.len(),
        quantile(&spreads, 0.5)
    );
    let json = serde_json::json!({
        "tasks": by_task.len(),
        "subnets": entries.len(),
        "tuned_beats_base": improved,
        "tasks_with_tuning_record": compared,
        "median_accuracy_spread": quantile(&spreads, 0.5),
        "per_task": rows,
    });
    Ok((json, format!("# Zoo report\n\n{summary}{markdown}")))
}
