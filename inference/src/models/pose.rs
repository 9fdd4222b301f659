//! MoveNet MultiPose Lightning: up to six people, each with a box and 17 COCO keypoints.
//!
//! Input `input` [1, H, W, 3] int32 RGB 0..255 (H, W multiples of 32). Output `output_0`
//! [1, 6, 56]: 17 × (y, x, score) normalised to the input, then ymin, xmin, ymax, xmax, score.
//! The graph has a fixed batch of one, so frames go through it one at a time. Keypoints come in
//! COCO order: nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles (left before
//! right; `behaviour` names the indices it uses).

use opencv::core::Mat;
use ort::{session::Session, value::Tensor};

use super::BoundingBox;
use crate::{
    error::{InferenceError, Result},
    image,
    runtime::Runtime,
};

pub const PERSON_THRESHOLD: f32 = 0.2;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    pub score: f32,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Person {
    pub bbox: BoundingBox,
    pub score: f32,
    pub keypoints: [Keypoint; 17],
}

pub struct PoseEstimator {
    session: Session,
    pub input_width: i32,
    pub input_height: i32,
}

impl PoseEstimator {
    pub fn new(runtime: &Runtime, models_dir: &std::path::Path, input_width: i32, input_height: i32) -> Result<Self> {
        if input_width % 32 != 0 || input_height % 32 != 0 {
            return Err(InferenceError::Image(format!(
                "MoveNet input must be a multiple of 32, not {input_width}×{input_height}"
            )));
        }
        Ok(Self { session: runtime.session(&models_dir.join("movenet.onnx"))?, input_width, input_height })
    }

    /// The raw [1, 6, 56] output for a frame already resized to the network size.
    pub fn run_raw(&mut self, resized_rgb: &Mat) -> Result<Vec<f32>> {
        let (w, h) = (self.input_width as usize, self.input_height as usize);
        let data: Vec<i32> = image::bytes(resized_rgb)?.iter().map(|v| *v as i32).collect();
        let input = Tensor::from_array(([1, h, w, 3], data))?;
        let outputs = self.session.run(ort::inputs!["input" => input])?;
        let (shape, data) = outputs["output_0"].try_extract_tensor::<f32>()?;
        if shape.len() != 3 || shape[2] != 56 {
            return Err(InferenceError::Output(format!("MoveNet output has shape {shape:?}")));
        }
        Ok(data.to_vec())
    }

    /// People in a frame of `frame_size` (w, h), in its pixel coordinates.
    pub fn detect(&mut self, frame: &Mat, frame_size: (i32, i32)) -> Result<Vec<Person>> {
        let resized = image::resize(frame, self.input_width, self.input_height)?;
        let raw = self.run_raw(&resized)?;
        Ok(decode(&raw, frame_size))
    }
}

pub fn decode(raw: &[f32], frame_size: (i32, i32)) -> Vec<Person> {
    let (fw, fh) = (frame_size.0 as f32, frame_size.1 as f32);
    raw.chunks_exact(56)
        .filter(|row| row[55] >= PERSON_THRESHOLD)
        .map(|row| {
            let mut keypoints = [Keypoint { x: 0.0, y: 0.0, score: 0.0 }; 17];
            for (k, point) in keypoints.iter_mut().enumerate() {
                *point = Keypoint { y: row[3 * k] * fh, x: row[3 * k + 1] * fw, score: row[3 * k + 2] };
            }
            let (ymin, xmin, ymax, xmax) = (row[51] * fh, row[52] * fw, row[53] * fh, row[54] * fw);
            Person {
                bbox: BoundingBox { x: xmin, y: ymin, width: xmax - xmin, height: ymax - ymin },
                score: row[55],
                keypoints,
            }
        })
        .collect()
}
