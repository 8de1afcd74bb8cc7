"""Annotated videos: the predicted labels drawn on each frame, the sound kept."""
