"""infonas: info-NAS (arch2vec + a regressor of trained-network outputs) end to end.

Kept light on purpose: importing the package pulls in no torch, no h5py. Subpackages:
searchspace (NB-101 cells, hashing, enumeration, tfrecord), data (images, IO dataset, scaling),
nets (NB-101 network training and output extraction), models (arch2vec VAE, info-NAS),
training (semi-supervised schedule), evaluation (REINFORCE, predictors), reporting (figures, tables).
"""

__version__ = "0.1.0"
