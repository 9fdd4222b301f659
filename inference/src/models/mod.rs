//! The three networks. Each wrapper owns its ONNX Runtime session (created once), turns frames
//! into the exact tensor its model expects, and decodes what comes out.

pub mod emotion;
pub mod face;
pub mod pose;

use std::path::PathBuf;

pub use emotion::{Alignment, EmotionClassifier, ExpressionInput};
pub use face::{Face, FaceDetector};
pub use pose::{Person, PoseEstimator};

/// Where the ONNX files are: `IMIND_MODELS_DIR`, else `models/` of the source tree.
pub fn default_models_dir() -> PathBuf {
    std::env::var_os("IMIND_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models")))
}

/// An axis-aligned box in pixels of the original frame.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BoundingBox {
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn center(&self) -> (f32, f32) {
        (self.x + self.width / 2.0, self.y + self.height / 2.0)
    }

    pub fn intersection_over_union(&self, other: &BoundingBox) -> f32 {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        let intersection = (right - left).max(0.0) * (bottom - top).max(0.0);
        let union = self.area() + other.area() - intersection;
        if union <= 0.0 { 0.0 } else { intersection / union }
    }

    /// Whether the point lies inside the box.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x && x <= self.x + self.width && y >= self.y && y <= self.y + self.height
    }
}

/// Greedy non-maximum suppression: keeps the best-scoring boxes, dropping any that overlap a
/// kept one by more than `iou`.
pub fn non_maximum_suppression<T>(mut items: Vec<T>, iou: f32, key: impl Fn(&T) -> (f32, BoundingBox)) -> Vec<T> {
    items.sort_by(|a, b| key(b).0.total_cmp(&key(a).0));
    let mut kept: Vec<T> = Vec::new();
    for item in items {
        let (_, candidate) = key(&item);
        if kept.iter().all(|k| key(k).1.intersection_over_union(&candidate) <= iou) {
            kept.push(item);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_and_nms() {
        let a = BoundingBox { x: 0.0, y: 0.0, width: 10.0, height: 10.0 };
        let b = BoundingBox { x: 5.0, y: 0.0, width: 10.0, height: 10.0 };
        assert!((a.intersection_over_union(&b) - 50.0 / 150.0).abs() < 1e-6);
        let kept = non_maximum_suppression(vec![(0.6, a), (0.9, b), (0.5, BoundingBox { x: 40.0, ..a })], 0.3, |x| *x);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].0, 0.9);
    }
}
