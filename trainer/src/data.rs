//! `tans data fetch | build | preview`: the dataset pool's commands.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use tans_data::families;
use tans_data::{PoolConfig, pool, preview};

/// `$HOME/.cache/tans/sources`: where source packages are unpacked, outside any clone.
pub fn default_cache() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/tans/sources")
}

/// Fetches the pool's packages, or only those named in `only`.
pub fn fetch(cache: &Path, only: &[String]) -> Result<()> {
    let mut packages = families::packages();
    if !only.is_empty() {
        if let Some(unknown) = only
            .iter()
            .find(|n| !packages.iter().any(|p| &p.name == *n))
        {
            anyhow::bail!("no source package is named {unknown}");
        }
        packages.retain(|p| only.contains(&p.name));
    }
    for (i, package) in packages.iter().enumerate() {
        let started = Instant::now();
        let dir = package.fetch(cache)?;
        eprintln!(
            "[{}/{}] {} → {} ({:.1} s)",
            i + 1,
            packages.len(),
            package.label(),
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn build(cache: &Path, out: &Path, config: &PoolConfig) -> Result<()> {
    let started = Instant::now();
    let (tasks, dropped) = families::all_tasks(cache, config)?;
    eprintln!(
        "{} task specs from {} ({} left out); rendering…",
        tasks.len(),
        cache.display(),
        dropped.len()
    );
    let manifest = pool::build(&tasks, dropped, families::packages(), out, config, true)?;
    let count = |stage| manifest.tasks.iter().filter(|t| t.stage == stage).count();
    let images: usize = manifest
        .tasks
        .iter()
        .map(|t| t.train_images + t.test_images)
        .sum();
    eprintln!(
        "pool at {}: {} meta-train + {} meta-test tasks, {images} images, {} dropped, {} images skipped, in {:.1} s",
        out.display(),
        count(tans_data::task::Stage::MetaTrain),
        count(tans_data::task::Stage::MetaTest),
        manifest.dropped.len(),
        manifest.skipped_images.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn preview(pool_dir: &Path, out: &Path, image_size: u32) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for pool::OpenedTask {
        task,
        skipped,
        warnings,
    } in pool::open(pool_dir, image_size)?
    {
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        for s in skipped {
            eprintln!("skipped {}: {}", s.what, s.reason);
        }
        let path = out.join(format!("{}.png", task.name));
        preview::contact_sheet(&task)
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!("contact sheets in {}", out.display());
    Ok(())
}
