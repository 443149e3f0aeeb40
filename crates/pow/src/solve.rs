//! The client-side solver.

use std::ops::ControlFlow;

use crate::work::{WorkHasher, meets_difficulty};
use crate::{Challenge, PowError};

/// The solver calls its progress callback once per this many attempts.
pub const PROGRESS_INTERVAL: u64 = 1 << 14;

/// Finds the smallest nonce (from 0) whose work hash meets the challenge's difficulty.
///
/// `progress` receives the number of attempts so far every [`PROGRESS_INTERVAL`] attempts;
/// returning `ControlFlow::Break(())` stops the search with [`PowError::Cancelled`] (a browser
/// can yield to its event loop or give up there).
pub fn solve<F>(challenge: &Challenge, progress: F) -> Result<u64, PowError>
where
    F: FnMut(u64) -> ControlFlow<()>,
{
    solve_range(challenge, 0, u64::MAX, progress)
}

/// Like [`solve`], searching `start..end` only (to split the work across workers).
pub fn solve_range<F>(
    challenge: &Challenge,
    start: u64,
    end: u64,
    mut progress: F,
) -> Result<u64, PowError>
where
    F: FnMut(u64) -> ControlFlow<()>,
{
    let hasher = WorkHasher::new(&challenge.to_bytes());
    let difficulty = challenge.difficulty();
    let mut attempts: u64 = 0;
    for nonce in start..end {
        if meets_difficulty(&hasher.hash(nonce), difficulty) {
            return Ok(nonce);
        }
        attempts += 1;
        if attempts.is_multiple_of(PROGRESS_INTERVAL) && progress(attempts).is_break() {
            return Err(PowError::Cancelled);
        }
    }
    Err(PowError::Cancelled)
}
