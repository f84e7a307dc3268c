"""The datasets: the thesis' five (built in, with their files' download and verification), a
reader's own file, and the synthetic benchmarks of the related methods."""
