"""The file formats of the YouTube-8M ecosystem, read and written without TensorFlow."""
