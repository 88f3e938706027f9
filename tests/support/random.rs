//! Seeded randomness for the fuzz tests: a small generator, and the seed and
//! the number of rounds from the environment, so that any failing run replays
//! with `CACHEPROXY_FUZZ_SEED=<seed>`.

use std::time::SystemTime;

/// A small seeded generator (splitmix64): the same seed, the same run.
pub struct Random(pub u64);

impl Random {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    pub fn below(&mut self, limit: usize) -> usize {
        (self.next() % limit as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T: ?Sized>(&mut self, choices: &[&'a T]) -> &'a T {
        choices[self.below(choices.len())]
    }
}

/// The run's seed, from `CACHEPROXY_FUZZ_SEED` or the clock.
pub fn seed() -> u64 {
    std::env::var("CACHEPROXY_FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |since| since.as_nanos() as u64)
        })
}

/// `default` requests, scaled by `CACHEPROXY_FUZZ_ROUNDS` if set.
pub fn rounds(default: usize) -> usize {
    std::env::var("CACHEPROXY_FUZZ_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(default)
}
