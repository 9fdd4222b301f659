//! mini-XCEPTION trained on FER2013: seven facial-expression probabilities per face crop.
//!
//! Input `input` [N, 64, 64, 1] float NHWC; output `emotion` [N, 7] softmax in the order of
//! `Emotion::ALL` (FER2013's class order). Preprocessing follows the `fer` package: square the face box, pad 10 px each
//! side, grayscale, bilinear resize to 64×64, x/255, then (x − 0.5)·2.

use opencv::core::{Mat, Rect};
use ort::{session::Session, value::Tensor};

use super::BoundingBox;
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
}

impl Default for ExpressionInput {
    fn default() -> Self {
        Self { flip: true }
    }
}

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

    /// Appends the model input for one crop of an RGB frame.
    pub fn push_input(rgb: &Mat, crop: Rect, batch: &mut Vec<f32>) -> Result<()> {
        let gray = image::gray_crop(rgb, crop)?;
        let small = image::resize(&gray, SIDE, SIDE)?;
        batch.extend(image::bytes(&small)?.iter().map(|v| (*v as f32 / 255.0 - 0.5) * 2.0));
        Ok(())
    }

    /// Appends the model inputs for one crop as `input` asks (see [`Self::classify_with`]).
    pub fn push_input_with(rgb: &Mat, crop: Rect, input: &ExpressionInput, batch: &mut Vec<f32>) -> Result<()> {
        let start = batch.len();
        Self::push_input(rgb, crop, batch)?;
        if input.flip {
            let side = SIDE as usize;
            let mirrored: Vec<f32> =
                batch[start..].chunks_exact(side).flat_map(|row| row.iter().rev().copied()).collect();
            batch.extend(mirrored);
        }
        Ok(())
    }

    /// Probabilities per crop for a batch built with [`Self::push_input_with`] and the same
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
