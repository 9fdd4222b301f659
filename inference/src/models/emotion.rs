//! mini-XCEPTION trained on FER2013: seven facial-expression probabilities per face crop.
//!
//! Input `input` [N, 64, 64, 1] float NHWC; output `emotion` [N, 7] softmax in the order of
//! `Emotion::ALL` (FER2013's class order). Preprocessing follows the `fer` package: square the face box, pad 10 px each
//! side, grayscale, bilinear resize to 64×64, x/255, then (x − 0.5)·2.

use opencv::{
    core::{BORDER_REPLICATE, Mat, Rect, Scalar, Size},
    imgproc,
    prelude::*,
};
use ort::{session::Session, value::Tensor};

use super::{BoundingBox, Face};
use crate::{
    error::{InferenceError, Result},
    image,
    runtime::Runtime,
};

const SIDE: i32 = 64;
const PADDING: i32 = 10;

/// How a face crop becomes the classifier's input, beyond the model's fixed preprocessing.
/// The default is the pipeline's (each choice measured in models/README.md).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpressionInput {
    /// Classify the crop and its mirror image and average the two: expressions are
    /// left–right symmetric, the model's errors less so.
    pub flip: bool,
    /// How the crop is lined up on the face's landmarks.
    pub align: Alignment,
}

impl Default for ExpressionInput {
    fn default() -> Self {
        Self { flip: true, align: Alignment::default() }
    }
}

/// Lining a face crop up on CenterFace's eye landmarks before classifying it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Alignment {
    /// The crop as `fer` takes it.
    None,
    /// Turned about its centre so that the eyes are level (the pipeline's).
    #[default]
    Level,
    /// Eyes level, at a fixed distance apart and a fixed height (those of the median FER2013
    /// face through the same crop).
    LevelAndScale,
}

/// Where `Alignment::LevelAndScale` puts the eyes in the 64×64 input: their distance apart,
/// and the height of their midpoint (which is centred across).
const ALIGNED_EYE_DISTANCE: f32 = 22.3;
const ALIGNED_EYE_HEIGHT: f32 = 26.0;

impl ExpressionInput {
    /// Model inputs per crop.
    fn views(&self) -> usize {
        if self.flip { 2 } else { 1 }
    }
}

pub struct EmotionClassifier {
    session: Session,
}

/// The crop `fer` takes around a detected face: a square on the box's centre, padded by 10 px.
pub fn face_crop(face: &BoundingBox) -> Rect {
    let side = face.width.max(face.height);
    let (cx, cy) = face.center();
    let x = (cx - side / 2.0).round() as i32 - PADDING;
    let y = (cy - side / 2.0).round() as i32 - PADDING;
    let side = side.round() as i32 + 2 * PADDING;
    Rect::new(x, y, side, side)
}

impl EmotionClassifier {
    pub fn new(runtime: &Runtime, models_dir: &std::path::Path) -> Result<Self> {
        Ok(Self { session: runtime.session(&models_dir.join("emotion.onnx"))? })
    }

    /// The 64×64 grey image the model sees of one crop of an RGB frame (clipped to the frame).
    pub fn crop_input(rgb: &Mat, crop: Rect) -> Result<Mat> {
        let gray = image::gray_crop(rgb, crop)?;
        image::resize(&gray, SIDE, SIDE)
    }

    /// The 64×64 grey image the model sees of a detected face: the pipeline's crop, lined up
    /// on the eyes as `input.align` asks.
    pub fn face_input(rgb: &Mat, face: &Face, input: &ExpressionInput) -> Result<Mat> {
        let crop = face_crop(&face.bbox);
        let small = Self::crop_input(rgb, crop)?;
        if input.align == Alignment::None {
            return Ok(small);
        }
        // The eyes in the small image's pixels (the clipped crop was stretched to 64×64).
        let clipped = crop & Rect::new(0, 0, rgb.cols(), rgb.rows());
        let to_small = |(x, y): (f32, f32)| {
            (
                (x - clipped.x as f32) * SIDE as f32 / clipped.width as f32 - 0.5,
                (y - clipped.y as f32) * SIDE as f32 / clipped.height as f32 - 0.5,
            )
        };
        // CenterFace's order (the image-left eye of an upright face first) keeps the turn right
        // for a head lying on its side, where sorting by x would flip it.
        let (left, right) = (to_small(face.landmarks[0]), to_small(face.landmarks[1]));
        let (dx, dy) = (right.0 - left.0, right.1 - left.1);
        let distance = (dx * dx + dy * dy).sqrt();
        if distance < 1.0 {
            return Ok(small);
        }
        let (cos, sin) = (dx / distance, dy / distance);
        let middle = (SIDE as f32 - 1.0) / 2.0;
        // dst = scale·R(−angle)·(src − from) + to
        let (scale, from, to) = match input.align {
            Alignment::LevelAndScale => (
                ALIGNED_EYE_DISTANCE / distance,
                ((left.0 + right.0) / 2.0, (left.1 + right.1) / 2.0),
                (middle, ALIGNED_EYE_HEIGHT),
            ),
            _ => (1.0, (middle, middle), (middle, middle)),
        };
        let (m00, m01, m10, m11) = (scale * cos, scale * sin, -scale * sin, scale * cos);
        let matrix = Mat::from_slice_2d(&[
            [m00 as f64, m01 as f64, (to.0 - m00 * from.0 - m01 * from.1) as f64],
            [m10 as f64, m11 as f64, (to.1 - m10 * from.0 - m11 * from.1) as f64],
        ])?;
        let mut aligned = Mat::default();
        imgproc::warp_affine(
            &small,
            &mut aligned,
            &matrix,
            Size::new(SIDE, SIDE),
            imgproc::INTER_LINEAR,
            BORDER_REPLICATE,
            Scalar::default(),
        )?;
        Ok(aligned)
    }

    /// Appends the model input for one crop of an RGB frame.
    pub fn push_input(rgb: &Mat, crop: Rect, batch: &mut Vec<f32>) -> Result<()> {
        Self::push_view(&Self::crop_input(rgb, crop)?, &ExpressionInput { flip: false, ..Default::default() }, batch)
    }

    /// Appends the model inputs for one 64×64 grey view as `input` asks (see
    /// [`Self::classify_with`]).
    pub fn push_view(small: &Mat, input: &ExpressionInput, batch: &mut Vec<f32>) -> Result<()> {
        let start = batch.len();
        batch.extend(image::bytes(small)?.iter().map(|v| (*v as f32 / 255.0 - 0.5) * 2.0));
        if input.flip {
            let side = SIDE as usize;
            let mirrored: Vec<f32> =
                batch[start..].chunks_exact(side).flat_map(|row| row.iter().rev().copied()).collect();
            batch.extend(mirrored);
        }
        Ok(())
    }

    /// Probabilities per crop for a batch built with [`Self::push_view`] and the same
    /// `input`: with `flip`, the mean of the crop's and its mirror's.
    pub fn classify_with(&mut self, batch: Vec<f32>, input: &ExpressionInput) -> Result<Vec<[f32; 7]>> {
        let views = input.views();
        let each = self.classify(batch)?;
        Ok(each
            .chunks_exact(views)
            .map(|group| {
                let mut mean = [0f32; 7];
                for view in group {
                    mean.iter_mut().zip(view).for_each(|(sum, p)| *sum += p / views as f32);
                }
                mean
            })
            .collect())
    }

    /// Probabilities for a batch built with [`Self::push_input`].
    pub fn classify(&mut self, batch: Vec<f32>) -> Result<Vec<[f32; 7]>> {
        let n = batch.len() / (SIDE * SIDE) as usize;
        if n == 0 {
            return Ok(Vec::new());
        }
        let input = Tensor::from_array(([n, SIDE as usize, SIDE as usize, 1], batch))?;
        let outputs = self.session.run(ort::inputs!["input" => input])?;
        let (shape, data) = outputs["emotion"].try_extract_tensor::<f32>()?;
        if shape.len() != 2 || shape[1] != 7 {
            return Err(InferenceError::Output(format!("emotion output has shape {shape:?}")));
        }
        Ok(data.chunks_exact(7).map(|row| row.try_into().expect("chunks of 7")).collect())
    }

    /// Classifies each face crop of an RGB frame.
    pub fn classify_crops(&mut self, rgb: &Mat, crops: &[Rect]) -> Result<Vec<[f32; 7]>> {
        let mut batch = Vec::with_capacity(crops.len() * (SIDE * SIDE) as usize);
        for crop in crops {
            Self::push_input(rgb, *crop, &mut batch)?;
        }
        self.classify(batch)
    }
}
