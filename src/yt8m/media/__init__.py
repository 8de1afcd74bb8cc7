"""Media decoding with PyAV (FFmpeg): video frames and audio samples with their times."""
