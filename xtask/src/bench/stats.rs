//! Figures from samples: median with min and max, and a bootstrap 95%
//! interval for the median of paired ratios.

/// Median, min and max of some samples.
#[derive(Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Summary {
    pub(crate) fn of(values: &[f64]) -> Summary {
        let mut sorted = values.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        Summary {
            median: median_sorted(&sorted),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }

    /// `median (min-max)` with `digits` decimals.
    pub(crate) fn show(&self, digits: usize) -> String {
        format!(
            "{:.digits$} ({:.digits$}-{:.digits$})",
            self.median, self.min, self.max
        )
    }
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    median_sorted(values)
}

/// 95% percentile-bootstrap interval of the median of `values` (2,000
/// resamples, a fixed seed so a report can be re-derived).
pub(crate) fn bootstrap_median_95(values: &[f64]) -> (f64, f64) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        // xorshift64*: enough to pick resample indices.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut medians: Vec<f64> = (0..2000)
        .map(|_| {
            let mut resample: Vec<f64> = (0..values.len())
                .map(|_| values[(next() % values.len() as u64) as usize])
                .collect();
            median(&mut resample)
        })
        .collect();
    medians.sort_by(|a, b| a.total_cmp(b));
    (medians[50], medians[1949])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_interval_bracket_the_median() {
        let values = [1.0, 3.0, 2.0, 5.0, 4.0];
        let s = Summary::of(&values);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        let (lo, hi) = bootstrap_median_95(&values);
        assert!(lo <= 3.0 && 3.0 <= hi && lo >= 1.0 && hi <= 5.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }
}
