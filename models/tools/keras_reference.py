"""Runs fer's original Keras model (TensorFlow) on fixed inputs and saves its outputs, so the
ONNX conversion can be checked against the real thing. Heavy env only.
Usage: python keras_reference.py emotion_model.hdf5 INPUTS.npy OUT.npy
"""
import sys

import numpy as np
import tensorflow as tf

model = tf.keras.models.load_model(sys.argv[1], compile=False)
inputs = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(inputs, verbose=0))
