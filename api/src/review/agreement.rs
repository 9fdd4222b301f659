//! Agreement between two codings of one session (the model's and the counsellors', or two
//! counsellors'), per label, as behavioural coding tools report it:
//! - time-based Cohen's kappa: the session is cut into bins of `bin_ms` per person; a coder
//!   says yes to a label in a bin when one of their intervals of that label covers the bin's
//!   midpoint (an instant — a POINT code — says yes in the bin it falls in); kappa = (po − pe) / (1 − pe) on the 2×2 table of yes/no (1 when both coders
//!   never differ and never vary, as there is nothing to disagree on);
//! - event agreement: intervals of the label whose onsets lie within `tolerance_ms` of each
//!   other, for the same person, are matched one to one (closest first); agreement = matched
//!   / (matched + unmatched of either coder), 1 when neither coded the label.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet, HashMap},
};

use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// The default bin width: 100 ms, a frame or three.
pub const DEFAULT_BIN_MS: i64 = 100;
/// The default onset tolerance: 2 s.
pub const DEFAULT_TOLERANCE_MS: i64 = 2_000;
/// Bins per person at most (10 hours at 100 ms), so one request's work stays bounded.
pub const MAX_BINS: i64 = 360_000;
/// Person × bin × label units one computation may count at most (tens of milliseconds).
pub const MAX_UNITS: i64 = 20_000_000;
/// The onset tolerance at most: a minute.
pub const MAX_TOLERANCE_MS: i64 = 60_000;
/// Onset pairs within the tolerance one computation may weigh at most.
pub const MAX_PAIRS: usize = 2_000_000;

/// What one `Session.agreement` counts against the query's complexity: its bins per person at
/// most (as `timeline` counts its bins), so aliases cannot multiply the work for free.
pub fn cost(bin_ms: Option<i64>) -> usize {
    let bin_ms = bin_ms.unwrap_or(DEFAULT_BIN_MS).max(10);
    (MAX_BINS * DEFAULT_BIN_MS / bin_ms / 10) as usize + 1
}

/// One coded interval: whose, what, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coded {
    pub person: Uuid,
    /// A built-in label, or an organisation's code.
    pub label: Cow<'static, str>,
    pub start_ms: i64,
    pub end_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LabelAgreement {
    pub label: String,
    pub kappa: f64,
    pub event_agreement: f64,
    /// Person × bin units the kappa was computed on.
    pub bins: i64,
    pub events_a: usize,
    pub events_b: usize,
    pub events_matched: usize,
}

/// Agreement between codings `a` and `b` for every label either used, over `0..until_ms`.
pub fn agreement(
    a: &[Coded],
    b: &[Coded],
    bin_ms: i64,
    tolerance_ms: i64,
    until_ms: i64,
) -> ApiResult<Vec<LabelAgreement>> {
    if bin_ms < 10 {
        return Err(ApiError::bad_input(format!("binMs must be at least 10; got {bin_ms}")));
    }
    if !(0..=MAX_TOLERANCE_MS).contains(&tolerance_ms) {
        return Err(ApiError::bad_input(format!(
            "toleranceMs must be within 0..={MAX_TOLERANCE_MS}; got {tolerance_ms}"
        )));
    }
    let until_ms = a.iter().chain(b).map(|coded| coded.end_ms).max().unwrap_or(0).max(until_ms);
    let bins_per_person = until_ms.saturating_add(bin_ms - 1) / bin_ms;
    if bins_per_person > MAX_BINS {
        return Err(ApiError::bad_input(format!(
            "{bins_per_person} bins of {bin_ms} ms per person are too many (at most {MAX_BINS}): use wider bins"
        )));
    }
    let people: BTreeSet<Uuid> = a.iter().chain(b).map(|coded| coded.person).collect();
    let labels: BTreeSet<&str> = a.iter().chain(b).map(|coded| coded.label.as_ref()).collect();
    let units = bins_per_person * people.len() as i64;
    if units.saturating_mul(labels.len() as i64) > MAX_UNITS {
        return Err(ApiError::bad_input(format!(
            "{units} person × bin units for {} labels are too many (at most {MAX_UNITS} in all): use wider bins",
            labels.len()
        )));
    }
    let mut out = Vec::with_capacity(labels.len());
    for label in labels {
        let marks_a = marks(a, label, bin_ms, bins_per_person);
        let marks_b = marks(b, label, bin_ms, bins_per_person);
        let (mut both, mut only_a, mut only_b) = (0i64, 0i64, 0i64);
        for person in &people {
            let empty = Vec::new();
            let (yes_a, yes_b) = (marks_a.get(person).unwrap_or(&empty), marks_b.get(person).unwrap_or(&empty));
            for bin in 0..bins_per_person as usize {
                match (yes_a.get(bin).copied().unwrap_or(false), yes_b.get(bin).copied().unwrap_or(false)) {
                    (true, true) => both += 1,
                    (true, false) => only_a += 1,
                    (false, true) => only_b += 1,
                    (false, false) => {}
                }
            }
        }
        let (matched, events_a, events_b) = matched_onsets(a, b, label, tolerance_ms)?;
        let unmatched = events_a + events_b - 2 * matched;
        out.push(LabelAgreement {
            label: label.to_owned(),
            kappa: kappa(units, both, only_a, only_b),
            event_agreement: if matched + unmatched == 0 { 1.0 } else { matched as f64 / (matched + unmatched) as f64 },
            bins: units,
            events_a,
            events_b,
            events_matched: matched,
        });
    }
    Ok(out)
}

/// Cohen's kappa of a 2×2 table of `units`: yes by both, by `a` only, by `b` only.
fn kappa(units: i64, both: i64, only_a: i64, only_b: i64) -> f64 {
    if units == 0 {
        return 1.0;
    }
    let n = units as f64;
    let observed = (units - only_a - only_b) as f64 / n;
    let (yes_a, yes_b) = ((both + only_a) as f64 / n, (both + only_b) as f64 / n);
    let chance = yes_a * yes_b + (1.0 - yes_a) * (1.0 - yes_b);
    if chance >= 1.0 { 1.0 } else { (observed - chance) / (1.0 - chance) }
}

/// Per person, which bins `label` covers the midpoint of.
fn marks(coding: &[Coded], label: &str, bin_ms: i64, bins: i64) -> HashMap<Uuid, Vec<bool>> {
    let mut out: HashMap<Uuid, Vec<bool>> = HashMap::new();
    for coded in coding.iter().filter(|coded| coded.label == label) {
        let row = out.entry(coded.person).or_insert_with(|| vec![false; bins as usize]);
        // Bin k's midpoint k·w + w/2 lies in [start, end) for k in first..last.
        let ceil = |numerator: i64| (numerator + 2 * bin_ms - 1).div_euclid(2 * bin_ms);
        let (first, last) = match coded.end_ms == coded.start_ms {
            true => (coded.start_ms.div_euclid(bin_ms), coded.start_ms.div_euclid(bin_ms) + 1),
            false => (ceil(coded.start_ms * 2 - bin_ms), ceil(coded.end_ms * 2 - bin_ms)),
        };
        for bin in first.max(0)..last.min(bins) {
            row[bin as usize] = true;
        }
    }
    out
}

/// Onsets of `label` matched one to one within `tolerance_ms` (closest pairs first), and the
/// number of events of each coder.
fn matched_onsets(a: &[Coded], b: &[Coded], label: &str, tolerance_ms: i64) -> ApiResult<(usize, usize, usize)> {
    let onsets = |coding: &[Coded]| -> BTreeMap<Uuid, Vec<i64>> {
        let mut by_person: BTreeMap<Uuid, Vec<i64>> = BTreeMap::new();
        for coded in coding.iter().filter(|coded| coded.label == label) {
            by_person.entry(coded.person).or_default().push(coded.start_ms);
        }
        by_person
    };
    let (onsets_a, onsets_b) = (onsets(a), onsets(b));
    let mut matched = 0;
    for (person, starts_a) in &onsets_a {
        let Some(starts_b) = onsets_b.get(person) else { continue };
        let mut pairs: Vec<(i64, usize, usize)> = Vec::new();
        for (i, start_a) in starts_a.iter().enumerate() {
            for (j, start_b) in starts_b.iter().enumerate() {
                let distance = (start_a - start_b).abs();
                if distance <= tolerance_ms {
                    pairs.push((distance, i, j));
                }
                if pairs.len() > MAX_PAIRS {
                    return Err(ApiError::bad_input(format!(
                        "more than {MAX_PAIRS} onsets of {label} lie within toleranceMs of each other: use a smaller toleranceMs"
                    )));
                }
            }
        }
        pairs.sort_unstable();
        let (mut used_a, mut used_b) = (vec![false; starts_a.len()], vec![false; starts_b.len()]);
        for (_, i, j) in pairs {
            if !used_a[i] && !used_b[j] {
                (used_a[i], used_b[j]) = (true, true);
                matched += 1;
            }
        }
    }
    let count = |by_person: &BTreeMap<Uuid, Vec<i64>>| by_person.values().map(Vec::len).sum();
    Ok((matched, count(&onsets_a), count(&onsets_b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(person: Uuid, label: &'static str, start_ms: i64, end_ms: i64) -> Coded {
        Coded { person, label: Cow::Borrowed(label), start_ms, end_ms }
    }

    #[test]
    fn an_instant_says_yes_in_the_bin_it_falls_in() {
        let person = Uuid::from_u128(1);
        // Points at 1 s and 5 s against one at 5.2 s, ten bins of 1 s: both in bin 5, one only
        // in bin 1, neither in 8: po = 0.9, pe = 0.2·0.1 + 0.8·0.9 = 0.74, kappa = 8/13.
        let a = [coded(person, "look", 1_000, 1_000), coded(person, "look", 5_000, 5_000)];
        let b = [coded(person, "look", 5_200, 5_200)];
        let found = agreement(&a, &b, 1_000, 2_000, 10_000).unwrap();
        assert!((found[0].kappa - 8.0 / 13.0).abs() < 1e-12, "{found:?}");
        assert_eq!((found[0].events_matched, found[0].event_agreement), (1, 0.5));
    }

    #[test]
    fn kappa_and_event_agreement_equal_hand_computed_values() {
        let person = Uuid::from_u128(1);
        // Ten 1 s bins. HAPPY: A in bins 0–3, B in bins 2–5: both 2, A only 2, B only 2,
        // neither 4. po = 0.6, pe = 0.4·0.4 + 0.6·0.6 = 0.52, kappa = 0.08 / 0.48 = 1/6.
        let a = [coded(person, "HAPPY", 0, 4_000)];
        let b = [coded(person, "HAPPY", 2_000, 6_000)];
        let within = agreement(&a, &b, 1_000, 2_000, 10_000).unwrap();
        assert_eq!(within.len(), 1);
        assert!((within[0].kappa - 1.0 / 6.0).abs() < 1e-12, "{}", within[0].kappa);
        assert_eq!(within[0].bins, 10);
        // Onsets 0 and 2000: within a 2 s tolerance one match of one event each (1/1), not
        // within 1 s (0 matched, 2 unmatched).
        assert_eq!(within[0].event_agreement, 1.0);
        assert_eq!(agreement(&a, &b, 1_000, 1_000, 10_000).unwrap()[0].event_agreement, 0.0);
    }

    #[test]
    fn labels_are_scored_separately_and_people_are_units() {
        let (child, adult) = (Uuid::from_u128(1), Uuid::from_u128(2));
        // Four 1 s bins for each of two people: 8 units.
        // SAD: A codes the child 0–2 s; B codes the adult 0–2 s. both 0, A only 2, B only 2,
        // neither 4: po = 0.5, pe = 0.25·0.25 + 0.75·0.75 = 0.625, kappa = −0.125/0.375 = −1/3.
        // HAPPY: both code the child 2–4 s: kappa 1.
        let a = [coded(child, "SAD", 0, 2_000), coded(child, "HAPPY", 2_000, 4_000)];
        let b =
            [coded(adult, "SAD", 0, 2_000), coded(child, "HAPPY", 2_000, 4_000), coded(adult, "HAPPY", 3_500, 4_000)];
        let by_label: HashMap<_, _> =
            agreement(&a, &b, 1_000, 500, 0).unwrap().into_iter().map(|found| (found.label.clone(), found)).collect();
        let sad = &by_label["SAD"];
        assert!((sad.kappa + 1.0 / 3.0).abs() < 1e-12, "{}", sad.kappa);
        assert_eq!((sad.events_matched, sad.event_agreement), (0, 0.0), "different people never match");
        // HAPPY: the adult's 3.5–4 s covers bin 3's midpoint (3.5 s): B only 1, both 2, neither
        // 5: po = 7/8, pa = 2/8, pb = 3/8, pe = 6/64 + 30/64 = 36/64, kappa = (56−36)/(64−36) = 5/7.
        let happy = &by_label["HAPPY"];
        assert!((happy.kappa - 5.0 / 7.0).abs() < 1e-12, "{}", happy.kappa);
        // One of three events unmatched: 1 / (1 + 1).
        assert_eq!(happy.event_agreement, 0.5);
    }

    #[test]
    fn identical_codings_agree_fully_and_bad_arguments_are_refused() {
        let person = Uuid::from_u128(7);
        let coding = [coded(person, "STILL", 1_234, 5_678), coded(person, "MOVING", 5_678, 9_000)];
        for found in agreement(&coding, &coding, 100, 0, 9_000).unwrap() {
            assert_eq!((found.kappa, found.event_agreement), (1.0, 1.0), "{}", found.label);
        }
        assert!(agreement(&coding, &coding, 5, 0, 0).is_err());
        assert!(agreement(&coding, &coding, 100, -1, 0).is_err());
        assert!(agreement(&coding, &coding, 100, MAX_TOLERANCE_MS + 1, 0).is_err());
        // 300 people × 36,000 bins × 2 labels is past the budget, whatever the bins' width allows.
        let crowd: Vec<Coded> = (0..300)
            .map(|n| coded(Uuid::from_u128(n), if n % 2 == 0 { "STILL" } else { "MOVING" }, 0, 3_600_000))
            .collect();
        assert!(agreement(&crowd, &crowd, 100, 0, 0).is_err());
        assert!(agreement(&coding, &coding, 10, 0, 10 * MAX_BINS + 10).is_err());
        assert!(agreement(&[], &[], 100, 2_000, 60_000).unwrap().is_empty());
    }
}
