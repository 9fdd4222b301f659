//! What a re-analysis keeps of the counsellors' work.
//!
//! The rules:
//! - A new person continues an old one when their seen spans overlap by at least half of
//!   their union (pairs taken best first, one to one); they keep the old id, so the
//!   counsellors' own intervals (built-in labels or the organisation's codes) and labels of
//!   that person stay attached. An old person with intervals a counsellor coded and no
//!   successor is kept, with those intervals only; one with only a counsellor's label of who
//!   they are goes, and the job's [`CarryOver`] names them.
//! - Nothing is kept from results of another video (the session's video was replaced).
//! - A review (confirmed, rejected, changed) still applies when the new analysis proposes the
//!   same interval again: same person, label and boundaries. The interval then keeps its id
//!   and review. Other reviews are dropped, and the job's [`CarryOver`] lists them.

use std::collections::HashMap;

use entity::enums::IntervalReview;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Dropped reviews listed at most (the counts are always complete).
pub const MAX_LISTED: usize = 100;

/// What a re-analysis changed in the model's intervals and kept of the reviews.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase", default)]
#[graphql(name = "ReviewCarryOver")]
pub struct CarryOver {
    /// The results before were of another video (replaced since): nothing was kept.
    pub video_changed: bool,
    /// People of the previous analysis that the new one found again (same ids).
    pub people_kept: u32,
    /// The new analysis's intervals that the previous one proposed exactly alike.
    pub model_intervals_unchanged: u32,
    /// The new analysis's intervals the previous one did not propose (new or moved).
    pub model_intervals_changed: u32,
    /// The previous analysis's intervals the new one does not propose any more.
    pub model_intervals_gone: u32,
    /// Reviews that still apply, kept on their intervals.
    pub reviews_kept: u32,
    /// Reviews whose interval the new analysis does not propose again.
    pub reviews_dropped: u32,
    /// The dropped reviews (at most 100).
    pub dropped: Vec<DroppedReview>,
    /// Intervals counsellors coded themselves, all kept.
    pub counsellor_intervals_kept: u32,
    /// People a counsellor had labelled (who they are) whom the new analysis does not find
    /// again, by their old label ("Person 2"; at most 100): the label went with them.
    pub labels_dropped: Vec<String>,
}

/// A review that no longer applies: the interval the model had proposed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct DroppedReview {
    /// `EMOTION` or `BEHAVIOUR`.
    pub kind: String,
    pub person: String,
    pub label: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub review: IntervalReview,
}

/// A person's seen span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub first_ms: i64,
    pub last_ms: i64,
}

impl Seen {
    fn overlap_share(self, other: Seen) -> f64 {
        let overlap = (self.last_ms.min(other.last_ms) - self.first_ms.max(other.first_ms)).max(0);
        let union = self.last_ms.max(other.last_ms) - self.first_ms.min(other.first_ms);
        if union <= 0 {
            // Both seen for an instant: the same instant is the same person.
            return if self == other { 1.0 } else { 0.0 };
        }
        overlap as f64 / union as f64
    }
}

/// For each new person, the old person they continue (see the module's rules).
pub fn successors(old: &[(Uuid, Seen)], new: &[Seen]) -> Vec<Option<Uuid>> {
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for (i, (_, old_seen)) in old.iter().enumerate() {
        for (j, new_seen) in new.iter().enumerate() {
            let share = old_seen.overlap_share(*new_seen);
            if share >= 0.5 {
                pairs.push((share, i, j));
            }
        }
    }
    // Best first; equal shares in the analyses' order, so the outcome is deterministic.
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let (mut old_taken, mut out) = (vec![false; old.len()], vec![None; new.len()]);
    for (_, i, j) in pairs {
        if !old_taken[i] && out[j].is_none() {
            old_taken[i] = true;
            out[j] = Some(old[i].0);
        }
    }
    out
}

/// A proposal as the model made it: person, label, boundaries.
pub type Proposal<L> = (Uuid, L, i64, i64);

/// Matches new proposals to old ones exactly alike (one to one). Returns, per new proposal,
/// the index of the old one it repeats.
pub fn repeated<L: Copy + Eq + std::hash::Hash>(old: &[Proposal<L>], new: &[Proposal<L>]) -> Vec<Option<usize>> {
    let mut unclaimed: HashMap<Proposal<L>, Vec<usize>> = HashMap::new();
    for (index, proposal) in old.iter().enumerate().rev() {
        unclaimed.entry(*proposal).or_default().push(index);
    }
    new.iter().map(|proposal| unclaimed.get_mut(proposal).and_then(Vec::pop)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(first_ms: i64, last_ms: i64) -> Seen {
        Seen { first_ms, last_ms }
    }

    #[test]
    fn people_continue_by_overlap_one_to_one() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let old = [(a, seen(0, 10_000)), (b, seen(20_000, 30_000))];
        // The first new person is a again (9/10); the second overlaps b by 2 s of 12 only; the
        // third is b, shifted (8/10); the fourth ties with the first for a and comes later.
        let new = [seen(0, 9_000), seen(18_000, 30_000 - 8_000), seen(22_000, 30_000), seen(500, 9_500)];
        assert_eq!(successors(&old, &new), vec![Some(a), None, Some(b), None]);
        assert_eq!(successors(&[], &new), vec![None; 4]);
    }

    #[test]
    fn only_identical_proposals_repeat() {
        let person = Uuid::from_u128(3);
        let old = [(person, 'H', 0, 1_000), (person, 'H', 0, 1_000), (person, 'S', 1_000, 2_000)];
        let new =
            [(person, 'H', 0, 1_000), (person, 'S', 1_000, 2_001), (person, 'H', 0, 1_000), (person, 'H', 0, 1_000)];
        assert_eq!(repeated(&old, &new), vec![Some(0), None, Some(1), None]);
    }
}
