//! The zoo database: one JSON object per line, appended and synced one entry at a time, so a
//! process killed at any moment loses no finished entry. A line cut short by the kill is
//! dropped (and cut off the file) when the database is next opened; an entry already present
//! (same task and topology) is never written twice, so a rerun resumes where the last stopped.
//! Shards write their own files; [`merge`] combines them.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tans_core::Topology;
use tans_data::files::write_atomic;

/// One (task, subnet) pair of the zoo, with what it scored and what it costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZooEntry {
    pub task: String,
    pub topology: Topology,
    /// Test accuracy in [0, 1] after batch-norm recalibration.
    pub accuracy: f64,
    pub params: u64,
    pub flops: u64,
    /// Median CPU latency, batch 1, at the space's input side.
    pub latency_ms: f64,
    /// Mean penultimate features of the subnet on the fixed noise batch.
    pub functional_embedding: Vec<f32>,
    /// The task supernet checkpoint the subnet is cut from (with the topology, its weights).
    pub supernet: String,
    pub supernet_sha256: String,
}

impl ZooEntry {
    fn key(&self) -> (String, Vec<u8>) {
        (self.task.clone(), self.topology.values().to_vec())
    }
}

/// An open zoo database file.
pub struct ZooDb {
    path: PathBuf,
    file: File,
    entries: Vec<ZooEntry>,
    keys: HashSet<(String, Vec<u8>)>,
}

impl ZooDb {
    /// Opens (or creates) the database at `path`. A last line without its newline — an append
    /// cut short — is removed; any other unreadable line is an error naming it, and nothing is
    /// changed.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut entries = Vec::new();
        let mut keys = HashSet::new();
        let mut good_bytes = 0u64;
        let mut reader = BufReader::new(&file);
        let mut line = String::new();
        let mut number = 0;
        loop {
            line.clear();
            let read = reader
                .read_line(&mut line)
                .with_context(|| format!("reading {}", path.display()))?;
            if read == 0 {
                break;
            }
            number += 1;
            if !line.ends_with('\n') {
                eprintln!(
                    "{}: dropping the unfinished last line {number} ({read} bytes) of an interrupted append",
                    path.display()
                );
                break;
            }
            let entry: ZooEntry = serde_json::from_str(&line)
                .with_context(|| format!("{} line {number}: not a zoo entry", path.display()))?;
            if keys.insert(entry.key()) {
                entries.push(entry);
            } else {
                bail!(
                    "{} line {number}: a second entry for task {} and topology {:?}",
                    path.display(),
                    entry.task,
                    entry.topology.values()
                );
            }
            good_bytes += read as u64;
        }
        drop(reader);
        if file.metadata()?.len() > good_bytes {
            file.set_len(good_bytes)
                .with_context(|| format!("truncating {}", path.display()))?;
            file.seek(SeekFrom::End(0))?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            entries,
            keys,
        })
    }

    pub fn entries(&self) -> &[ZooEntry] {
        &self.entries
    }

    pub fn contains(&self, task: &str, topology: &Topology) -> bool {
        self.keys
            .contains(&(task.to_string(), topology.values().to_vec()))
    }

    /// Appends `entry` and syncs it to disk; `false` (and nothing written) when the database
    /// already holds that task and topology.
    pub fn append(&mut self, entry: ZooEntry) -> Result<bool> {
        if !self.keys.insert(entry.key()) {
            return Ok(false);
        }
        let mut line = serde_json::to_string(&entry)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("appending to {}", self.path.display()))?;
        self.entries.push(entry);
        Ok(true)
    }
}

/// Which part of the work one process does: tasks whose index (in name order) is `index`
/// modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether this shard builds the task at `task_index`.
    pub fn owns(&self, task_index: usize) -> bool {
        task_index % self.count == self.index
    }

    /// The database file of this shard inside a zoo folder.
    pub fn database(&self, zoo: &Path) -> PathBuf {
        if *self == Self::WHOLE {
            zoo.join("zoo.jsonl")
        } else {
            zoo.join(format!("zoo.shard-{}-of-{}.jsonl", self.index, self.count))
        }
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `i/N` with `0 ≤ i < N`.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (index, count) = s
            .split_once('/')
            .ok_or_else(|| format!("shard `{s}`: expected INDEX/COUNT, e.g. 0/4"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("shard `{s}`: `{v}` is not a number"))
        };
        let (index, count) = (parse(index)?, parse(count)?);
        if count == 0 || index >= count {
            return Err(format!(
                "shard `{s}`: index {index} is out of range for {count} shard(s) (0..{count})"
            ));
        }
        Ok(Self { index, count })
    }
}

/// Combines shard databases into one at `out` (written atomically): every entry once, in
/// (task, topology) order, so the result does not depend on which shard finished first.
/// Returns the number of entries.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<usize> {
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for input in inputs {
        if !input.exists() {
            bail!("{}: no such shard database", input.display());
        }
        for entry in ZooDb::open(input)?.entries {
            if seen.insert(entry.key()) {
                entries.push(entry);
            }
        }
    }
    entries.sort_by_key(ZooEntry::key);
    let mut text = String::new();
    for entry in &entries {
        text.push_str(&serde_json::to_string(entry)?);
        text.push('\n');
    }
    write_atomic(out, text.as_bytes())?;
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(task: &str, kernel: u8) -> ZooEntry {
        ZooEntry {
            task: task.into(),
            topology: Topology::new([kernel; 20], [3; 20], [2; 5]).unwrap(),
            accuracy: 0.5,
            params: 1000,
            flops: 2000,
            latency_ms: 1.5,
            functional_embedding: vec![0.25; 4],
            supernet: format!("{task}.bpk"),
            supernet_sha256: "ab".repeat(32),
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tans-zoo-db-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn entries_survive_reopening_and_are_never_doubled() {
        let dir = temp("reopen");
        let path = dir.join("zoo.jsonl");
        let mut db = ZooDb::open(&path).unwrap();
        assert!(db.append(entry("a", 3)).unwrap());
        assert!(db.append(entry("a", 5)).unwrap());
        assert!(
            !db.append(entry("a", 3)).unwrap(),
            "a duplicate is not written"
        );
        drop(db);
        let mut db = ZooDb::open(&path).unwrap();
        assert_eq!(db.entries(), &[entry("a", 3), entry("a", 5)]);
        assert!(db.contains("a", &entry("a", 5).topology));
        assert!(!db.append(entry("a", 5)).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_append_cut_short_is_dropped_and_the_rest_kept() {
        let dir = temp("cut");
        let path = dir.join("zoo.jsonl");
        let mut db = ZooDb::open(&path).unwrap();
        db.append(entry("a", 3)).unwrap();
        drop(db);
        let whole = serde_json::to_string(&entry("b", 7)).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&whole.as_bytes()[..whole.len() / 2])
            .unwrap();
        drop(file);
        let mut db = ZooDb::open(&path).unwrap();
        assert_eq!(db.entries(), &[entry("a", 3)]);
        assert!(db.append(entry("b", 7)).unwrap());
        drop(db);
        assert_eq!(
            ZooDb::open(&path).unwrap().entries(),
            &[entry("a", 3), entry("b", 7)]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_damaged_line_is_named_and_nothing_is_lost() {
        let dir = temp("damaged");
        let path = dir.join("zoo.jsonl");
        let mut db = ZooDb::open(&path).unwrap();
        db.append(entry("a", 3)).unwrap();
        db.append(entry("a", 5)).unwrap();
        drop(db);
        let text = std::fs::read_to_string(&path).unwrap();
        let damaged = text.replacen("\"task\"", "\"tusk\"", 1);
        std::fs::write(&path, &damaged).unwrap();
        let error = format!("{:#}", ZooDb::open(&path).err().unwrap());
        assert!(error.contains("line 1"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), damaged);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shards_split_tasks_and_merge_in_one_order() {
        let dir = temp("merge");
        let shards: Vec<Shard> = ["0/2", "1/2"].iter().map(|s| s.parse().unwrap()).collect();
        let tasks = ["a", "b", "c", "d", "e"];
        for shard in &shards {
            let mut db = ZooDb::open(&shard.database(&dir)).unwrap();
            for (i, task) in tasks.iter().enumerate().rev() {
                if shard.owns(i) {
                    db.append(entry(task, 7)).unwrap();
                    db.append(entry(task, 3)).unwrap();
                }
            }
        }
        let inputs: Vec<PathBuf> = shards.iter().map(|s| s.database(&dir)).collect();
        let out = Shard::WHOLE.database(&dir);
        assert_eq!(merge(&inputs, &out).unwrap(), 10);
        let merged = ZooDb::open(&out).unwrap();
        let order: Vec<(String, u8)> = merged
            .entries()
            .iter()
            .map(|e| (e.task.clone(), e.topology.kernel(0, 0) as u8))
            .collect();
        let mut expected: Vec<(String, u8)> = tasks
            .iter()
            .flat_map(|t| [(t.to_string(), 3), (t.to_string(), 7)])
            .collect();
        expected.sort();
        assert_eq!(order, expected);
        let reversed: Vec<PathBuf> = inputs.iter().rev().cloned().collect();
        let again = dir.join("again.jsonl");
        merge(&reversed, &again).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
        assert!(merge(&[dir.join("missing.jsonl")], &again).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shard_indices_out_of_range_are_refused() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "0/0", "x/2", "2"] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.contains(bad), "{bad}: {error}");
        }
        assert!("5/2".parse::<Shard>().unwrap_err().contains("out of range"));
    }
}
