//! Colour appearance: what the tracker compares when position cannot decide (a person coming
//! back, a cut to another shot). Histograms are sampled on a coarse grid: a few hundred pixels
//! describe a region's colours as well as all of them, at a fraction of the cost.

use opencv::{
    core::{Mat, Size},
    imgproc,
    prelude::MatTraitConst,
};

use crate::models::{
    BoundingBox,
    pose::{Keypoint, Person},
};

/// Hue bins of saturated colours.
const HUES: usize = 12;
/// Brightness bins of the greys (black, dark, light, white), whose hue means nothing.
const GREYS: usize = 4;

/// A colour histogram of a person's clothes: 12 hue bins for coloured pixels and 4 brightness
/// bins for greys, summing to 1. Hue, not R/G/B, separates a purple dress from a blue jumper
/// under the same warm light; channel-wise RGB histograms put them in the same bins.
pub type Appearance = [f32; HUES + GREYS];

/// Samples per side of the grid a region is read on.
const GRID: usize = 24;
/// Keypoints below this score are not used to place the clothes region.
const KEYPOINT_SCORE: f32 = 0.3;
const SHOULDERS: [usize; 2] = [5, 6];
const HIPS: [usize; 2] = [11, 12];

/// Histogram intersection of two appearances, 0..1.
pub fn similarity(a: &Appearance, b: &Appearance) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.min(*y)).sum::<f32>()
}

/// The person's clothes: from the shoulders (and below the chin, when their face was found)
/// down to the hips (or the box's bottom in a close-up), between the shoulders. Without
/// shoulder keypoints, the middle of the box below its top third. Hair, skin and background,
/// which everyone in a scene shares, stay out.
pub fn of_person(rgb: &Mat, person: &Person, face: Option<&BoundingBox>) -> Appearance {
    let bbox = &person.bbox;
    let found = |indices: [usize; 2]| -> Vec<&Keypoint> {
        indices.iter().map(|i| &person.keypoints[*i]).filter(|k| k.score >= KEYPOINT_SCORE).collect()
    };
    let shoulders = found(SHOULDERS);
    let hips = found(HIPS);
    let (mut left, mut right) = (bbox.x + bbox.width * 0.2, bbox.x + bbox.width * 0.8);
    let mut top = bbox.y + bbox.height * 0.35;
    if shoulders.len() == 2 {
        let (a, b) = (shoulders[0].x.min(shoulders[1].x), shoulders[0].x.max(shoulders[1].x));
        // A person seen side-on has their shoulders close together: keep a minimum width.
        if b - a > bbox.width * 0.2 {
            (left, right) = (a + (b - a) * 0.1, b - (b - a) * 0.1);
        }
    }
    if !shoulders.is_empty() {
        let shoulder_y = shoulders.iter().map(|k| k.y).sum::<f32>() / shoulders.len() as f32;
        top = shoulder_y + bbox.height * 0.03;
    }
    if let Some(face) = face {
        top = top.max(face.y + face.height);
    }
    let bottom =
        if hips.is_empty() { bbox.y + bbox.height } else { hips.iter().map(|k| k.y).sum::<f32>() / hips.len() as f32 };
    let bottom = if bottom - top < bbox.height * 0.1 { bbox.y + bbox.height } else { bottom };
    let (width, height) = (rgb.cols().max(1) as f32, rgb.rows().max(1) as f32);
    let x = (left.clamp(0.0, width - 1.0) as usize, right.clamp(0.0, width) as usize);
    let y = (top.clamp(0.0, height - 1.0) as usize, bottom.clamp(0.0, height) as usize);
    histogram(rgb, x, y)
}

/// The whole picture shrunk to 16×12 (area averaging): two analysed frames of one shot look
/// alike, two sides of a cut do not. Colour histograms of whole frames cannot tell: the shots
/// of one scene share their colours (Megamind.avi's cuts keep 89–92 % of them).
#[derive(Clone, Debug, PartialEq)]
pub struct Thumbnail(Vec<u8>);

impl Thumbnail {
    pub const SIZE: (i32, i32) = (16, 12);

    pub fn of_frame(rgb: &Mat) -> Self {
        let mut small = Mat::default();
        let resized =
            imgproc::resize(rgb, &mut small, Size::new(Self::SIZE.0, Self::SIZE.1), 0.0, 0.0, imgproc::INTER_AREA);
        match resized.ok().and_then(|_| crate::image::bytes(&small).ok()) {
            Some(pixels) => Self(pixels.to_vec()),
            None => Self(Vec::new()),
        }
    }

    /// A uniform picture of one grey level, for tests.
    #[cfg(test)]
    pub fn uniform(level: u8) -> Self {
        Self(vec![level; (Self::SIZE.0 * Self::SIZE.1 * 3) as usize])
    }

    /// Mean absolute difference of the two pictures, 0 (same) ..1 (black against white). A
    /// picture that could not be read differs from nothing.
    pub fn difference(&self, other: &Self) -> f32 {
        if self.0.len() != other.0.len() || self.0.is_empty() {
            return 0.0;
        }
        let total: u32 = self.0.iter().zip(&other.0).map(|(a, b)| a.abs_diff(*b) as u32).sum();
        total as f32 / (self.0.len() as f32 * 255.0)
    }
}

fn histogram(rgb: &Mat, (x0, x1): (usize, usize), (y0, y1): (usize, usize)) -> Appearance {
    let mut histogram = [0f32; HUES + GREYS];
    let Ok(pixels) = crate::image::bytes(rgb) else { return histogram };
    let width = rgb.cols().max(1) as usize;
    let step = (x1.saturating_sub(x0).max(y1.saturating_sub(y0)) / GRID).max(1);
    let mut count = 0f32;
    for y in (y0..y1).step_by(step) {
        for x in (x0..x1).step_by(step) {
            let i = (y * width + x) * 3;
            histogram[bin(pixels[i], pixels[i + 1], pixels[i + 2])] += 1.0;
            count += 1.0;
        }
    }
    if count > 0.0 {
        histogram.iter_mut().for_each(|v| *v /= count);
    }
    histogram
}

/// The bin of one RGB pixel: its hue when it is coloured enough for hue to mean something,
/// else its brightness.
fn bin(r: u8, g: u8, b: u8) -> usize {
    let (max, min) = (r.max(g).max(b) as f32, r.min(g).min(b) as f32);
    let chroma = max - min;
    // Saturation below 0.25, or too dark to tell colours apart: a grey.
    if max < 40.0 || chroma < 0.25 * max {
        return HUES + ((max / 256.0) * GREYS as f32) as usize;
    }
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let sector = if max == r {
        ((g - b) / chroma).rem_euclid(6.0)
    } else if max == g {
        (b - r) / chroma + 2.0
    } else {
        (r - g) / chroma + 4.0
    };
    ((sector / 6.0 * HUES as f32) as usize).min(HUES - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hues_and_greys_fall_in_their_bins() {
        assert_eq!(bin(255, 0, 0), 0);
        assert_eq!(bin(0, 255, 0), 4);
        assert_eq!(bin(0, 0, 255), 8);
        // Purple and blue, as a dress and a jumper under warm light: different bins.
        assert_ne!(bin(110, 50, 120), bin(30, 60, 110));
        assert_eq!(bin(10, 10, 10), HUES);
        assert_eq!(bin(250, 250, 245), HUES + GREYS - 1);
    }
}
