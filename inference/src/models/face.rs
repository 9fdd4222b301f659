//! CenterFace: face boxes and five landmarks.
//!
//! Input `input.1` [B, 3, H, W] float RGB 0..255 (H, W multiples of 32). Outputs at a quarter
//! of the input resolution: `537` heatmap (sigmoid applied), `538` log-scale (h, w), `539`
//! offset (y, x), `540` five landmark (y, x) pairs relative to the box. On the CPU the int8
//! build (`centerface-int8.onnx`, same tensors) loads by default: see `RuntimeOptions::int8`.

use opencv::core::Mat;
use ort::{session::Session, value::Tensor};

use super::{BoundingBox, non_maximum_suppression};
use crate::{
    error::{InferenceError, Result},
    image,
    runtime::Runtime,
};

pub const SCORE_THRESHOLD: f32 = 0.5;
pub const NMS_IOU: f32 = 0.3;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Face {
    pub bbox: BoundingBox,
    pub score: f32,
    /// Eyes, nose, mouth corners, in frame pixels.
    pub landmarks: [(f32, f32); 5],
}

/// The raw outputs of one batch, kept for parity tests.
pub struct RawOutputs {
    pub heatmap: (Vec<usize>, Vec<f32>),
    pub scale: (Vec<usize>, Vec<f32>),
    pub offset: (Vec<usize>, Vec<f32>),
    pub landmarks: (Vec<usize>, Vec<f32>),
}

pub struct FaceDetector {
    session: Session,
    /// Network input size; frames are resized to it.
    pub input_width: i32,
    pub input_height: i32,
}

impl FaceDetector {
    pub fn new(runtime: &Runtime, models_dir: &std::path::Path, input_width: i32, input_height: i32) -> Result<Self> {
        if input_width % 32 != 0 || input_height % 32 != 0 {
            return Err(InferenceError::Image(format!(
                "CenterFace input must be a multiple of 32, not {input_width}×{input_height}"
            )));
        }
        let file = runtime.model_file(models_dir, "centerface");
        Ok(Self { session: runtime.session(&file)?, input_width, input_height })
    }

    /// The input tensor for frames already resized to the network size.
    pub fn tensor(&self, resized_rgb: &[&Mat]) -> Result<Tensor<f32>> {
        let (w, h) = (self.input_width as usize, self.input_height as usize);
        let plane = w * h;
        let mut data = vec![0f32; resized_rgb.len() * 3 * plane];
        for (n, frame) in resized_rgb.iter().enumerate() {
            let pixels = image::bytes(frame)?;
            let out = &mut data[n * 3 * plane..(n + 1) * 3 * plane];
            for (i, rgb) in pixels.chunks_exact(3).enumerate() {
                out[i] = rgb[0] as f32;
                out[plane + i] = rgb[1] as f32;
                out[2 * plane + i] = rgb[2] as f32;
            }
        }
        Ok(Tensor::from_array(([resized_rgb.len(), 3, h, w], data))?)
    }

    pub fn run_raw(&mut self, resized_rgb: &[&Mat]) -> Result<RawOutputs> {
        let input = self.tensor(resized_rgb)?;
        let outputs = self.session.run(ort::inputs!["input.1" => input])?;
        let take = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
            let (shape, data) = outputs[name].try_extract_tensor::<f32>()?;
            Ok((shape.iter().map(|d| *d as usize).collect(), data.to_vec()))
        };
        Ok(RawOutputs { heatmap: take("537")?, scale: take("538")?, offset: take("539")?, landmarks: take("540")? })
    }

    /// Faces in each frame, in the pixel coordinates of frames of `frame_size` (w, h).
    pub fn detect(&mut self, frames: &[&Mat], frame_size: (i32, i32)) -> Result<Vec<Vec<Face>>> {
        let resized: Vec<Mat> = frames
            .iter()
            .map(|frame| image::resize(frame, self.input_width, self.input_height))
            .collect::<Result<_>>()?;
        let refs: Vec<&Mat> = resized.iter().collect();
        let raw = self.run_raw(&refs)?;
        let scale_x = frame_size.0 as f32 / self.input_width as f32;
        let scale_y = frame_size.1 as f32 / self.input_height as f32;
        (0..frames.len()).map(|n| decode(&raw, n, scale_x, scale_y)).collect()
    }
}

/// Decodes one image of a batch.
pub fn decode(raw: &RawOutputs, n: usize, scale_x: f32, scale_y: f32) -> Result<Vec<Face>> {
    let shape = &raw.heatmap.0;
    if shape.len() != 4 || shape[1] != 1 {
        return Err(InferenceError::Output(format!("CenterFace heatmap has shape {shape:?}")));
    }
    let (h, w) = (shape[2], shape[3]);
    let plane = h * w;
    let heat = &raw.heatmap.1[n * plane..(n + 1) * plane];
    let scale = &raw.scale.1[n * 2 * plane..(n + 1) * 2 * plane];
    let offset = &raw.offset.1[n * 2 * plane..(n + 1) * 2 * plane];
    let marks = &raw.landmarks.1[n * 10 * plane..(n + 1) * 10 * plane];
    let mut faces = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let score = heat[i];
            if score <= SCORE_THRESHOLD {
                continue;
            }
            let box_h = scale[i].exp() * 4.0;
            let box_w = scale[plane + i].exp() * 4.0;
            let left = (x as f32 + offset[plane + i] + 0.5) * 4.0 - box_w / 2.0;
            let top = (y as f32 + offset[i] + 0.5) * 4.0 - box_h / 2.0;
            let mut landmarks = [(0.0, 0.0); 5];
            for (k, mark) in landmarks.iter_mut().enumerate() {
                let my = marks[(2 * k) * plane + i] * box_h + top;
                let mx = marks[(2 * k + 1) * plane + i] * box_w + left;
                *mark = (mx * scale_x, my * scale_y);
            }
            faces.push(Face {
                bbox: BoundingBox {
                    x: left * scale_x,
                    y: top * scale_y,
                    width: box_w * scale_x,
                    height: box_h * scale_y,
                },
                score,
                landmarks,
            });
        }
    }
    Ok(non_maximum_suppression(faces, NMS_IOU, |face| (face.score, face.bbox)))
}
