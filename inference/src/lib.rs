//! The inference engine: turns a video file into tracked people with facial-expression and
//! behaviour intervals. It knows frames, tensors and time — nothing about the database or
//! GraphQL. The pipeline itself lands with the inference issue; the crate exists now so the
//! workspace has its final shape.
