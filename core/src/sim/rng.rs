//! A tiny seeded generator, so the core stays free of `rand` and a seed
//! names a trace for good.
//!
//! SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014; the constants are Vigna's reference code). It
//! passes BigCrush, needs one `u64` of state and is fast enough that the
//! draws do not dominate a simulation cycle.

/// SplitMix64. Not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so `ln` of it is finite.
    pub fn unit(&mut self) -> f64 {
        // The top 53 bits fill a double's mantissa exactly.
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean (inverse transform).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.unit().ln()
    }

    /// A generator for an independent stream, derived from this one's seed
    /// and `stream`: a sweep point or a request key gets its own draws.
    pub fn fork(seed: u64, stream: u64) -> SplitMix64 {
        let mut g = SplitMix64::new(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        // Discard one output so neighbouring streams decorrelate at once.
        g.next_u64();
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence() {
        // First outputs of Vigna's splitmix64.c seeded with 0.
        let mut g = SplitMix64::new(0);
        assert_eq!(g.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(g.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn unit_is_in_range_and_exponential_has_its_mean() {
        let mut g = SplitMix64::new(42);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let u = g.unit();
            assert!(u > 0.0 && u <= 1.0);
            sum += g.exponential(4.0);
        }
        let mean = sum / f64::from(n);
        assert!((mean - 4.0).abs() < 0.05, "mean {mean}");
    }
}
