//! LogME (You et al., ICML 2021): how well a network's features suit a labelled dataset, as the
//! log marginal evidence of a Bayesian linear model from the features to each one-hot label
//! column, per image, averaged over classes. One forward pass of the target data per candidate
//! network, then one eigendecomposition; the prior precision α and noise precision β are fixed
//! points of MacKay's updates, evaluated in the eigenbasis so each iteration costs O(d).
//! A selector TANS is compared against: it needs the candidates' features of the target data,
//! where TANS needs none.

use anyhow::{Result, ensure};
use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Iterations of the α, β updates (the reference implementation's cap) and their tolerance.
const MAX_ITERATIONS: usize = 11;
const TOLERANCE: f64 = 1e-3;

/// The spectrum of `FᵀF` and, per class, the projection of `Fᵀ y` onto its eigenvectors.
struct Spectrum {
    /// Eigenvalues of `FᵀF` (all `d` of them; those beyond rank `n` are 0).
    sigma: Vec<f64>,
    /// Per class: `Vᵀ Fᵀ y` (components on zero eigenvalues are 0).
    z: Vec<Vec<f64>>,
    /// Per class: `yᵀ y`.
    yy: Vec<f64>,
}

fn spectrum(f: &DMatrix<f64>, labels: &[u32], classes: usize) -> Spectrum {
    let (n, d) = f.shape();
    let targets: Vec<DVector<f64>> = (0..classes)
        .map(|k| DVector::from_fn(n, |i, _| f64::from(labels[i] as usize == k)))
        .collect();
    let yy = targets.iter().map(|y| y.dot(y)).collect();
    if d <= n {
        let eigen = SymmetricEigen::new(f.transpose() * f);
        let sigma = eigen.eigenvalues.iter().map(|s| s.max(0.0)).collect();
        let z = targets
            .iter()
            .map(|y| {
                (eigen.eigenvectors.transpose() * (f.transpose() * y))
                    .data
                    .into()
            })
            .collect();
        Spectrum { sigma, z, yy }
    } else {
        // FFᵀ = U Σ Uᵀ shares FᵀF's non-zero eigenvalues, with eigenvectors Fᵀuᵢ/√σᵢ, on which
        // Fᵀy projects to √σᵢ uᵢᵀy; the d − n others are 0, and Fᵀy has no part along them.
        let eigen = SymmetricEigen::new(f * f.transpose());
        let mut sigma: Vec<f64> = eigen.eigenvalues.iter().map(|s| s.max(0.0)).collect();
        let z = targets
            .iter()
            .map(|y| {
                let mut z: Vec<f64> = (eigen.eigenvectors.transpose() * y)
                    .iter()
                    .zip(&sigma)
                    .map(|(p, s)| p * s.sqrt())
                    .collect();
                z.resize(d, 0.0);
                z
            })
            .collect();
        sigma.resize(d, 0.0);
        Spectrum { sigma, z, yy }
    }
}

/// The evidence terms at (α, β) in the eigenbasis: (γ, ‖m‖², ‖Fm − y‖², Σ ln(α + βσ)).
fn terms(sigma: &[f64], z: &[f64], yy: f64, alpha: f64, beta: f64) -> (f64, f64, f64, f64) {
    let (mut gamma, mut mm, mut fit, mut curvature, mut log_det) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (&s, &zi) in sigma.iter().zip(z) {
        let t = alpha + beta * s;
        gamma += beta * s / t;
        mm += zi * zi / (t * t);
        fit += zi * zi / t;
        curvature += s * zi * zi / (t * t);
        log_det += t.ln();
    }
    let mm = beta * beta * mm;
    let residual = (yy - 2.0 * beta * fit + beta * beta * curvature).max(0.0);
    (gamma, mm, residual, log_det)
}

/// Log evidence per image of one class column, with α and β at their fixed point.
fn class_evidence(sigma: &[f64], z: &[f64], yy: f64, n: usize) -> f64 {
    let d = sigma.len();
    let (mut alpha, mut beta) = (1.0f64, 1.0f64);
    for _ in 0..MAX_ITERATIONS {
        let (gamma, mm, residual, _) = terms(sigma, z, yy, alpha, beta);
        let next_alpha = gamma / mm.max(f64::MIN_POSITIVE);
        let next_beta = (n as f64 - gamma) / residual.max(f64::MIN_POSITIVE);
        let converged = ((next_alpha - alpha) / alpha).abs() < TOLERANCE
            && ((next_beta - beta) / beta).abs() < TOLERANCE;
        alpha = next_alpha;
        beta = next_beta;
        if converged {
            break;
        }
    }
    let (_, mm, residual, log_det) = terms(sigma, z, yy, alpha, beta);
    let n = n as f64;
    (d as f64 / 2.0 * alpha.ln() + n / 2.0 * beta.ln()
        - alpha / 2.0 * mm
        - beta / 2.0 * residual
        - log_det / 2.0
        - n / 2.0 * (2.0 * std::f64::consts::PI).ln())
        / n
}

/// LogME of `features` (`[n, d]`, row-major) for `labels` (`0..classes`): higher is better.
pub fn logme(features: &[f32], dim: usize, labels: &[u32], classes: usize) -> Result<f64> {
    let n = labels.len();
    ensure!(
        n >= 2 && dim > 0,
        "LogME needs two or more images with features"
    );
    ensure!(
        features.len() == n * dim,
        "{} feature values for {n} images of {dim}",
        features.len()
    );
    ensure!(
        labels.iter().all(|&l| (l as usize) < classes),
        "a label outside 0..{classes}"
    );
    ensure!(
        features.iter().all(|v| v.is_finite()),
        "non-finite features"
    );
    let f = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| f64::from(v)));
    let spectrum = spectrum(&f, labels, classes);
    let total: f64 = (0..classes)
        .map(|k| class_evidence(&spectrum.sigma, &spectrum.z[k], spectrum.yy[k], n))
        .sum();
    Ok(total / classes as f64)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// The evidence at (α, β) computed directly: m = β(αI + βFᵀF)⁻¹Fᵀy, log det by Cholesky.
    fn direct(features: &[f32], dim: usize, y: &[f64], alpha: f64, beta: f64) -> f64 {
        let n = y.len();
        let f = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| f64::from(v)));
        let y = DVector::from_column_slice(y);
        let a = DMatrix::identity(dim, dim) * alpha + f.transpose() * &f * beta;
        let cholesky = a.clone().cholesky().unwrap();
        let m = cholesky.solve(&(f.transpose() * &y)) * beta;
        let log_det: f64 = 2.0 * cholesky.l().diagonal().iter().map(|v| v.ln()).sum::<f64>();
        let residual = (&f * &m - &y).norm_squared();
        let n = n as f64;
        (dim as f64 / 2.0 * alpha.ln() + n / 2.0 * beta.ln()
            - alpha / 2.0 * m.norm_squared()
            - beta / 2.0 * residual
            - log_det / 2.0
            - n / 2.0 * (2.0 * std::f64::consts::PI).ln())
            / n
    }

    fn draw(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let labels: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect();
        let features = labels
            .iter()
            .flat_map(|&l| {
                let noise: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
                noise
                    .into_iter()
                    .enumerate()
                    .map(move |(j, v)| v + if j == l as usize { 2.0 } else { 0.0 })
            })
            .collect();
        (features, labels)
    }

    /// The eigenbasis terms equal the direct formula, with more images than features and with
    /// fewer, at several (α, β).
    #[test]
    fn the_eigenbasis_evidence_equals_the_direct_one() {
        for (n, dim) in [(30, 5), (6, 9)] {
            let (features, labels) = draw(n, dim, 3);
            let f = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| f64::from(v)));
            let spectrum = spectrum(&f, &labels, 3);
            for (alpha, beta) in [(1.0, 1.0), (0.3, 4.0), (7.0, 0.2)] {
                let y: Vec<f64> = labels.iter().map(|&l| f64::from(l == 1)).collect();
                let (_, mm, residual, log_det) =
                    terms(&spectrum.sigma, &spectrum.z[1], spectrum.yy[1], alpha, beta);
                let nf = n as f64;
                let ours = (dim as f64 / 2.0 * alpha.ln() + nf / 2.0 * beta.ln()
                    - alpha / 2.0 * mm
                    - beta / 2.0 * residual
                    - log_det / 2.0
                    - nf / 2.0 * (2.0 * std::f64::consts::PI).ln())
                    / nf;
                let expected = direct(&features, dim, &y, alpha, beta);
                assert!(
                    (ours - expected).abs() < 1e-8,
                    "n {n} d {dim} α {alpha} β {beta}: {ours} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn features_that_carry_the_labels_score_higher() {
        let (features, labels) = draw(60, 8, 5);
        let informative = logme(&features, 8, &labels, 3).unwrap();
        let mut shuffled = labels.clone();
        shuffled.shuffle(&mut StdRng::seed_from_u64(8));
        let uninformative = logme(&features, 8, &shuffled, 3).unwrap();
        assert!(
            informative > uninformative + 0.1,
            "{informative} vs {uninformative}"
        );
        assert!(
            logme(&features, 8, &labels, 2).is_err(),
            "label 2 of 2 classes"
        );
        assert!(logme(&features[1..], 8, &labels, 3).is_err());
        let mut nan = features.clone();
        nan[3] = f32::NAN;
        assert!(logme(&nan, 8, &labels, 3).is_err());
    }
}
