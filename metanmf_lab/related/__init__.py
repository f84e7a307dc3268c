"""The related methods the book compares against, one module each (AltBi, the meta-learned
prior, MLAM); their PyTorch parts are private modules loaded only when something is trained."""
