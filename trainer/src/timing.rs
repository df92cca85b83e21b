//! The timing rule every `tans … bench` command shares (and `scripts/bench_timing.py` mirrors
//! for the PyTorch peers): a few warm-up runs, then runs for at least `seconds` and at least 5,
//! reporting the median.

use anyhow::Result;

/// Calls `run` `warm_up` times untimed, then until `seconds` have passed and 5 runs are done;
/// each call returns the seconds it measured. Returns the number of timed runs and their median.
pub fn median_seconds(
    warm_up: usize,
    seconds: f64,
    mut run: impl FnMut() -> Result<f64>,
) -> Result<(usize, f64)> {
    for _ in 0..warm_up {
        run()?;
    }
    let mut times = Vec::new();
    let started = std::time::Instant::now();
    while started.elapsed().as_secs_f64() < seconds || times.len() < 5 {
        times.push(run()?);
    }
    times.sort_by(f64::total_cmp);
    Ok((times.len(), times[times.len() / 2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_takes_the_median_of_at_least_five() {
        let mut calls = 0;
        let (runs, median) = median_seconds(2, 0.0, || {
            calls += 1;
            Ok([9.0, 9.0, 5.0, 1.0, 4.0, 2.0, 3.0][calls - 1])
        })
        .unwrap();
        assert_eq!((calls, runs, median), (7, 5, 3.0));
    }
}
