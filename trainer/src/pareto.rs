//! Pareto fronts of zoo entries and their exact hypervolume, the quantity the efficient zoo
//! construction (the paper's Algorithm 1, eq. 8–10) grows: per task, the volume dominated by
//! its entries' (error, normalised latency, normalised parameters), all minimised.

/// A point to minimise in every coordinate.
pub type Point = [f64; 3];

/// Exact hypervolume dominated by `points` inside the box up to `reference` (points outside
/// the box in any coordinate add nothing). Sweeps the third coordinate and sums the exact 2-D
/// areas of the slabs: O(n² log n), plenty for the ≤ a few hundred entries of one task.
pub fn hypervolume(points: &[Point], reference: Point) -> f64 {
    let mut inside: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| (0..3).all(|i| p[i] < reference[i]))
        .collect();
    inside.sort_by(|a, b| a[2].total_cmp(&b[2]));
    let mut volume = 0.0;
    for (i, point) in inside.iter().enumerate() {
        let next_z = inside.get(i + 1).map_or(reference[2], |p| p[2]);
        let height = next_z - point[2];
        if height > 0.0 {
            let slab: Vec<[f64; 2]> = inside[..=i].iter().map(|p| [p[0], p[1]]).collect();
            volume += area(&slab, [reference[0], reference[1]]) * height;
        }
    }
    volume
}

/// Exact 2-D area dominated by `points` (minimised) up to `reference`.
fn area(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut staircase: Vec<[f64; 2]> = Vec::new();
    for p in sorted {
        if staircase.last().is_none_or(|last| p[1] < last[1]) {
            staircase.push(p);
        }
    }
    staircase
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let next_x = staircase.get(i + 1).map_or(reference[0], |q| q[0]);
            (next_x - p[0]) * (reference[1] - p[1])
        })
        .sum()
}

/// The objectives of one task's entries: `1 − accuracy`, and latency and parameters scaled so
/// that the smallest over `all` is 0 and the largest 1 (the paper's normalisation; `all` is
/// every entry of the zoo, so tasks share one scale).
pub fn objectives(accuracy: f64, latency: f64, params: f64, all: &[(f64, f64)]) -> Point {
    let scale = |value: f64, pick: fn(&(f64, f64)) -> f64| {
        let (lo, hi) = all
            .iter()
            .map(pick)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if hi > lo {
            (value - lo) / (hi - lo)
        } else {
            0.0
        }
    };
    [
        1.0 - accuracy,
        scale(latency, |e| e.0),
        scale(params, |e| e.1),
    ]
}

/// Reference point for objectives in [0, 1]: just outside the unit cube, so that the entry
/// with the largest latency or size still counts when it is the most accurate.
pub const REFERENCE: Point = [1.1, 1.1, 1.1];

#[cfg(test)]
mod tests {
    use super::*;

    /// Union volume of the boxes [p, reference] by inclusion–exclusion: exponential, exact.
    fn brute_force(points: &[Point], reference: Point) -> f64 {
        let n = points.len();
        let mut total = 0.0;
        for mask in 1u32..(1 << n) {
            let mut corner = [f64::NEG_INFINITY; 3];
            for (i, p) in points.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    for d in 0..3 {
                        corner[d] = corner[d].max(p[d]);
                    }
                }
            }
            let volume: f64 = (0..3)
                .map(|d| (reference[d] - corner[d]).max(0.0))
                .product();
            let sign = if mask.count_ones() % 2 == 1 {
                1.0
            } else {
                -1.0
            };
            total += sign * volume;
        }
        total
    }

    #[test]
    fn known_fronts() {
        let unit = [1.0; 3];
        assert_eq!(hypervolume(&[], unit), 0.0);
        assert!((hypervolume(&[[0.5, 0.5, 0.5]], unit) - 0.125).abs() < 1e-12);
        // Two boxes of 0.25 overlapping in 0.125.
        let two = [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]];
        assert!((hypervolume(&two, unit) - 0.375).abs() < 1e-12);
        // A dominated point adds nothing; a point outside the box adds nothing.
        let with_dominated = [two[0], two[1], [0.6, 0.6, 0.6], [0.2, 0.2, 1.5]];
        assert!((hypervolume(&with_dominated, unit) - 0.375).abs() < 1e-12);
        // The three unit "axes" corners of a simplex-like front.
        let three = [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]];
        assert!((hypervolume(&three, unit) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn matches_inclusion_exclusion_on_random_fronts() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for n in 1..=9 {
            for _ in 0..20 {
                let points: Vec<Point> = (0..n).map(|_| [next(), next(), next()]).collect();
                let exact = brute_force(&points, REFERENCE);
                let swept = hypervolume(&points, REFERENCE);
                assert!(
                    (exact - swept).abs() < 1e-9,
                    "{n} points: {exact} vs {swept}"
                );
            }
        }
    }

    #[test]
    fn objectives_scale_to_the_zoo() {
        let all = [(1.0, 100.0), (3.0, 300.0), (2.0, 200.0)];
        assert_eq!(objectives(0.9, 2.0, 300.0, &all), [1.0 - 0.9, 0.5, 1.0]);
        assert_eq!(objectives(0.5, 1.0, 1.0, &[(1.0, 1.0)]), [0.5, 0.0, 0.0]);
    }
}
