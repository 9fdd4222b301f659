//! Whether one face sample is good enough to vote on an expression.
//!
//! Four measures per face: its size (the short side of the detector's box, in frame pixels),
//! the detector's score, sharpness (the variance of the Laplacian of the classifier's 64×64 grey
//! input, after it was turned so the eyes are level) and head yaw, estimated from the landmarks:
//! the nose tip's offset from the eyes' midpoint along the eye line, over half the eye distance,
//! is 1.1·tan(yaw) for a nose tip 0.55 eye distances in front of the eyes (an adult's
//! proportions; a child's flatter nose reads a little less turned). A sample below the bar does
//! not vote, as if no face had been seen: the classifier reads small, blurred or turned faces
//! mostly as NEUTRAL, and a person whose face is never usable should say so rather than look
//! calm.

use serde::Serialize;

use crate::models::{EmotionClassifier, ExpressionInput, Face};

/// What was measured of one face sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceQuality {
    /// Short side of the face box, in frame pixels.
    pub size_px: f32,
    /// The face detector's score (0..1).
    pub score: f32,
    /// Variance of the Laplacian of the 64×64 grey classifier input (in squared grey levels).
    pub sharpness: f32,
    /// Estimated head turn left or right, in degrees (0: facing the camera).
    pub yaw_degrees: f32,
}

/// Why a face sample does not vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Unusable {
    TooSmall,
    Uncertain,
    Blurred,
    TurnedAway,
}

impl Unusable {
    pub const ALL: [Unusable; 4] = [Unusable::TooSmall, Unusable::Uncertain, Unusable::Blurred, Unusable::TurnedAway];

    pub fn as_str(self) -> &'static str {
        match self {
            Unusable::TooSmall => "too small",
            Unusable::Uncertain => "uncertain face",
            Unusable::Blurred => "blurred",
            Unusable::TurnedAway => "turned away",
        }
    }
}

/// The documented bar a face sample must pass to vote (defaults measured in models/README.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityBar {
    pub min_size_px: f32,
    pub min_score: f32,
    pub min_sharpness: f32,
    pub max_yaw_degrees: f32,
}

impl Default for QualityBar {
    fn default() -> Self {
        Self { min_size_px: 24.0, min_score: 0.6, min_sharpness: 40.0, max_yaw_degrees: 30.0 }
    }
}

impl QualityBar {
    /// A bar every detected face passes.
    pub fn none() -> Self {
        Self { min_size_px: 0.0, min_score: 0.0, min_sharpness: 0.0, max_yaw_degrees: f32::INFINITY }
    }

    /// `Ok` when the sample may vote, else the first reason it may not (in `Unusable::ALL`
    /// order: size, then score, sharpness, yaw).
    pub fn judge(&self, quality: &FaceQuality) -> Result<(), Unusable> {
        if quality.size_px < self.min_size_px {
            Err(Unusable::TooSmall)
        } else if quality.score < self.min_score {
            Err(Unusable::Uncertain)
        } else if quality.sharpness < self.min_sharpness {
            Err(Unusable::Blurred)
        } else if quality.yaw_degrees.abs() > self.max_yaw_degrees {
            Err(Unusable::TurnedAway)
        } else {
            Ok(())
        }
    }
}

/// Whether a person's facial expression could be read at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Readability {
    /// At least one face sample passed the bar.
    Readable,
    /// Faces were seen, none good enough: no expression intervals, which says nothing about
    /// how the person looked.
    FaceUnusable,
    /// The face was never seen.
    NoFaceSeen,
}

/// How many of a person's samples showed a face, and why the others' faces did not vote.
/// Serialised with the API's names (`TrackedObject.faceQuality`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceCounts {
    /// Samples in which the person was seen.
    pub samples: u32,
    /// Samples in which a face was attributed to them.
    #[serde(rename = "faceSamples")]
    pub with_face: u32,
    /// Faces that passed the quality bar and voted on an expression.
    #[serde(rename = "usableFaceSamples")]
    pub usable: u32,
    pub too_small: u32,
    pub uncertain: u32,
    pub blurred: u32,
    pub turned_away: u32,
}

impl FaceCounts {
    pub fn record(&mut self, verdict: Option<Result<(), Unusable>>) {
        self.samples += 1;
        let Some(verdict) = verdict else { return };
        self.with_face += 1;
        match verdict {
            Ok(()) => self.usable += 1,
            Err(Unusable::TooSmall) => self.too_small += 1,
            Err(Unusable::Uncertain) => self.uncertain += 1,
            Err(Unusable::Blurred) => self.blurred += 1,
            Err(Unusable::TurnedAway) => self.turned_away += 1,
        }
    }

    pub fn readability(&self) -> Readability {
        if self.usable > 0 {
            Readability::Readable
        } else if self.with_face > 0 {
            Readability::FaceUnusable
        } else {
            Readability::NoFaceSeen
        }
    }

    /// What an empty expression lane of a timeline says about this person, when their face
    /// was never read: an empty lane is not a calm face.
    pub fn why_no_expression(&self) -> Option<String> {
        match (self.readability(), self.main_reason()) {
            (Readability::Readable, _) => None,
            (Readability::NoFaceSeen, _) => Some("face never seen".to_owned()),
            (Readability::FaceUnusable, Some(reason)) => {
                Some(format!("face seen but never clear enough to read an expression (mostly {})", reason.as_str()))
            }
            (Readability::FaceUnusable, None) => unreachable!("faces seen, none usable, none refused. This is a bug."),
        }
    }

    /// The most common reason faces were unusable, if any were (a tie: the first in
    /// `Unusable::ALL`).
    pub fn main_reason(&self) -> Option<Unusable> {
        let counts = [self.too_small, self.uncertain, self.blurred, self.turned_away];
        let (index, count) = counts.iter().enumerate().max_by_key(|(index, count)| (**count, usize::MAX - index))?;
        (*count > 0).then(|| Unusable::ALL[index])
    }
}

/// Estimated yaw from CenterFace's landmarks (eyes, nose, mouth corners), in degrees; positive
/// when the nose lies towards the image's right eye.
pub fn yaw_degrees(landmarks: &[(f32, f32); 5]) -> f32 {
    let (left, right) =
        if landmarks[0].0 <= landmarks[1].0 { (landmarks[0], landmarks[1]) } else { (landmarks[1], landmarks[0]) };
    let (dx, dy) = (right.0 - left.0, right.1 - left.1);
    let half_distance = 0.5 * (dx * dx + dy * dy).sqrt();
    if half_distance < 1e-3 {
        return 90.0;
    }
    let middle = ((left.0 + right.0) / 2.0, (left.1 + right.1) / 2.0);
    let nose = landmarks[2];
    // The nose's offset along the eye line, over half the eye distance.
    let along = ((nose.0 - middle.0) * dx + (nose.1 - middle.1) * dy) / (2.0 * half_distance * half_distance);
    (along / 1.1).atan().to_degrees()
}

/// Variance of the 4-neighbour Laplacian over the inner pixels of a grey image.
pub fn sharpness(grey: &[u8], width: usize) -> f32 {
    let height = grey.len() / width.max(1);
    if width < 3 || height < 3 {
        return 0.0;
    }
    let (mut sum, mut squares, mut n) = (0f64, 0f64, 0f64);
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let at = |x: usize, y: usize| grey[y * width + x] as f64;
            let laplacian = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            sum += laplacian;
            squares += laplacian * laplacian;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (squares / n - mean * mean) as f32
}

/// A detected face's 64×64 classifier input (as `input` asks) and the bar's verdict on it: what
/// the pipeline and `imind eval expressions` both do with every face.
pub fn view_and_verdict(
    rgb: &opencv::core::Mat,
    face: &Face,
    input: &ExpressionInput,
    bar: &QualityBar,
) -> crate::error::Result<(opencv::core::Mat, Result<(), Unusable>)> {
    use opencv::prelude::MatTraitConst;
    let view = EmotionClassifier::face_input(rgb, face, input)?;
    let measured = measure(face, crate::image::bytes(&view)?, view.cols() as usize);
    Ok((view, bar.judge(&measured)))
}

/// The measures of a detected face whose classifier input is `grey` (`width` pixels wide).
pub fn measure(face: &Face, grey: &[u8], width: usize) -> FaceQuality {
    FaceQuality {
        size_px: face.bbox.width.min(face.bbox.height),
        score: face.score,
        sharpness: sharpness(grey, width),
        yaw_degrees: yaw_degrees(&face.landmarks),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal(nose_x: f32) -> [(f32, f32); 5] {
        [(40.0, 50.0), (60.0, 50.0), (nose_x, 60.0), (42.0, 70.0), (58.0, 70.0)]
    }

    #[test]
    fn yaw_is_zero_facing_and_grows_as_the_nose_nears_an_eye() {
        assert!(yaw_degrees(&frontal(50.0)).abs() < 1e-4);
        // Nose at 0.55 of half the eye distance: atan(0.5) ≈ 26.6°.
        assert!((yaw_degrees(&frontal(55.5)) - 26.565).abs() < 0.01);
        assert!((yaw_degrees(&frontal(44.5)) + 26.565).abs() < 0.01);
        // The nose on an eye: atan(1 / 1.1) ≈ 42.3°, past the default bar.
        assert!(yaw_degrees(&frontal(60.0)) > QualityBar::default().max_yaw_degrees);
        // A rolled head (eyes on a diagonal, nose below their middle) is not turned.
        let rolled = [(40.0, 40.0), (60.0, 60.0), (45.0, 55.0), (0.0, 0.0), (0.0, 0.0)];
        assert!(yaw_degrees(&rolled).abs() < 1e-3);
        // Eyes in either order give the same answer.
        let mut swapped = frontal(55.5);
        swapped.swap(0, 1);
        assert!((yaw_degrees(&swapped) - 26.565).abs() < 0.01);
    }

    #[test]
    fn sharpness_is_zero_when_flat_and_high_for_edges() {
        assert_eq!(sharpness(&[128u8; 64 * 64], 64), 0.0);
        // A linear ramp has no second derivative.
        let ramp: Vec<u8> = (0..64 * 64).map(|i| (i % 64) as u8 * 3).collect();
        assert!(sharpness(&ramp, 64) < 1e-6);
        let checks: Vec<u8> = (0..64 * 64).map(|i| if (i % 64 + i / 64) % 2 == 0 { 0 } else { 255 }).collect();
        assert!(sharpness(&checks, 64) > 1000.0);
    }

    #[test]
    fn the_bar_names_the_first_reason_and_counts_add_up() {
        let bar = QualityBar::default();
        let good = FaceQuality { size_px: 60.0, score: 0.9, sharpness: 200.0, yaw_degrees: 10.0 };
        assert_eq!(bar.judge(&good), Ok(()));
        assert_eq!(bar.judge(&FaceQuality { size_px: 10.0, score: 0.1, ..good }), Err(Unusable::TooSmall));
        assert_eq!(bar.judge(&FaceQuality { score: 0.55, ..good }), Err(Unusable::Uncertain));
        assert_eq!(bar.judge(&FaceQuality { sharpness: 1.0, ..good }), Err(Unusable::Blurred));
        assert_eq!(bar.judge(&FaceQuality { yaw_degrees: -60.0, ..good }), Err(Unusable::TurnedAway));
        assert_eq!(QualityBar::none().judge(&FaceQuality { size_px: 1.0, yaw_degrees: 89.0, ..good }), Ok(()));

        let mut counts = FaceCounts::default();
        assert_eq!(counts.main_reason(), None);
        for verdict in [None, Some(Ok(())), Some(Err(Unusable::TurnedAway)), Some(Err(Unusable::TurnedAway))] {
            counts.record(verdict);
        }
        counts.record(Some(Err(Unusable::Blurred)));
        assert_eq!(
            counts,
            FaceCounts { samples: 5, with_face: 4, usable: 1, too_small: 0, uncertain: 0, blurred: 1, turned_away: 2 }
        );
        assert_eq!(counts.main_reason(), Some(Unusable::TurnedAway));
        assert_eq!(counts.readability(), Readability::Readable);
        let unusable = FaceCounts { usable: 0, ..counts };
        assert_eq!(unusable.readability(), Readability::FaceUnusable);
        assert_eq!(counts.why_no_expression(), None);
        assert_eq!(
            unusable.why_no_expression().as_deref(),
            Some("face seen but never clear enough to read an expression (mostly turned away)")
        );
        let unseen = FaceCounts { samples: 3, ..FaceCounts::default() };
        assert_eq!((unseen.readability(), unseen.main_reason()), (Readability::NoFaceSeen, None));
        assert_eq!(unseen.why_no_expression().as_deref(), Some("face never seen"));
        // A tie goes to the first reason listed.
        let tie = FaceCounts { too_small: 2, blurred: 2, turned_away: 0, ..unusable };
        assert_eq!(tie.main_reason(), Some(Unusable::TooSmall));
    }
}
