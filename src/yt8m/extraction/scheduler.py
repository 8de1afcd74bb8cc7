"""Extraction: videos in, :class:`FeatureSequence` out, decoding overlapped with inference.

The stages are those of the reference graph, as plain functions:

* visual: decode -> 1 Hz sampler -> legacy resize + normalise -> Inception v3 ``pool_3``
  -> PCA 1024 (:mod:`yt8m.media.video`, :mod:`yt8m.features.inception`);
* audio: decode -> mono -> 16 kHz -> log-mel -> [96, 64] examples -> VGGish -> PCA 128
  (:mod:`yt8m.media.audio`, :mod:`yt8m.features.logmel`, :mod:`yt8m.features.vggish`).

:class:`Extractor` loads each model once per device. ``workers`` threads decode videos
(FFmpeg and numpy release the GIL) and push preprocessed frames and log-mel examples
into a bounded queue; the calling thread batches whatever is queued, frames of several
videos together, through the models. Memory is bounded by the queue, not by video length.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yt8m.errors import InputError, Yt8mError
from yt8m.extraction.options import ExtractOptions, torch_dtype
from yt8m.features.inception import inception_v3, preprocess
from yt8m.features.logmel import iter_log_mel_examples
from yt8m.features.pca import load_pca
from yt8m.features.sequence import FeatureSequence
from yt8m.features.vggish import vggish
from yt8m.formats.mediasequence import ClipMetadata
from yt8m.media.probe import MediaInfo, probe
from yt8m.media.video import HardwareDecodingUnavailable, SampledFrame, sample_frames_1hz
from yt8m.weights.store import ensure_models, model_versions

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Job:
    """One video to extract: the clip ``[start_us, end_us)`` (``end_us`` None: to its end)."""

    path: Path
    start_us: int = 0
    end_us: int | None = None
    key: object = None  # the caller's handle, returned with the result


@dataclass
class Result:
    """What became of a :class:`Job`: ``features`` or ``error``, and the wall time spent."""

    job: Job
    features: FeatureSequence | None = None
    error: Yt8mError | None = None
    seconds: float = 0.0


class _Ticket:
    """One decoding of one job, the key of its messages: hashed by identity, so a job given
    twice is two decodings, and alive as long as the consumer keeps it as a key."""

    __slots__ = ("job",)

    def __init__(self, job: Job) -> None:
        self.job = job


@dataclass
class _Pending:
    job: Job
    started: float
    frames_expected: int | None = None
    rgb: dict[int, np.ndarray] = field(default_factory=dict)  # period index -> pca rgb
    rgb_times: list[int] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)  # PCA'd VGGish features, in order
    audio_times: list[np.ndarray] = field(default_factory=list)
    audio_waiting: list[np.ndarray] = field(default_factory=list)  # log-mel examples not yet run
    has_audio: bool = True
    notes: list[str] = field(default_factory=list)
    end_us: int = 0
    error: Yt8mError | None = None
    decoded: bool = False


class Extractor:
    """The models (Inception, VGGish, both PCAs) on one device, and the batching loop."""

    def __init__(self, options: ExtractOptions = ExtractOptions(), *, fetch: bool = True,
                 mirror: str | None = None) -> None:
        """Load the models for ``options``; missing weights are fetched (from ``mirror`` when
        given) unless ``fetch`` is False, in which case they raise :class:`WeightsError`."""
        self.options = options
        self.device = torch.device(options.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError("--device cuda was asked for, but PyTorch sees no CUDA device here")
        if options.decode == "cuda" and not torch.cuda.is_available():
            raise InputError("--decode cuda was asked for, but PyTorch sees no CUDA device here "
                             "(NVDEC needs an NVIDIA GPU); use --decode cpu")
        #: Decode with NVDEC (``--decode cuda``); ``auto`` decodes in software (see ExtractOptions).
        self.hardware_decode = options.decode == "cuda"
        #: Leave undecoded the frames no second can choose (the same features either way;
        #: False decodes every frame, the earlier path, for benchmarks to compare).
        self.skip_unused_frames = True
        self.dtype = torch_dtype(options.precision)
        self.models = ("inception", "inception-pca") + (("vggish", "vggish-pca") if options.audio else ())
        ensure_models(self.models, fetch=fetch, mirror=mirror)
        self.model_versions = model_versions(self.models)
        self.inception = inception_v3(device=self.device, fetch=fetch).set_precision(self.dtype)
        self.rgb_pca = load_pca("inception-pca", fetch=fetch)
        self.vggish = vggish(device=self.device, fetch=fetch).to(self.dtype) if options.audio else None
        self.audio_pca = load_pca("vggish-pca", fetch=fetch) if options.audio else None

    def feature_settings(self) -> dict[str, Any]:
        """What shapes this extractor's features: the options' feature settings and the
        version (content hash) of each converted model."""
        return {**self.options.feature_settings(), "models": dict(self.model_versions)}

    # --- the models ---------------------------------------------------------------------------

    @torch.inference_mode()
    def rgb_features(self, images: torch.Tensor) -> np.ndarray:
        """PCA'd ``pool_3`` [N, 1024] of preprocessed images [N, 3, 299, 299]."""
        pool3 = self.inception(images.to(self.device, torch.float32, memory_format=torch.channels_last))
        return self.rgb_pca(pool3.float().cpu().numpy())

    @torch.inference_mode()
    def audio_features(self, examples: np.ndarray) -> np.ndarray:
        """PCA'd VGGish embeddings [N, 128] of log-mel examples [N, 96, 64]."""
        assert self.vggish is not None and self.audio_pca is not None
        out = []
        for i in range(0, len(examples), self.options.audio_batch_size):
            chunk = torch.from_numpy(
                examples[i:i + self.options.audio_batch_size]).to(self.device, self.dtype)
            out.append(self.vggish(chunk).float().cpu().numpy())
        embeddings = np.concatenate(out) if out else np.zeros((0, 128), np.float32)
        return self.audio_pca(embeddings)

    # --- extraction ---------------------------------------------------------------------------

    def extract(self, path: str | Path, *, start_s: float = 0.0,
                end_s: float | None = None) -> FeatureSequence:
        """Extract one video's clip ``[start_s, end_s)``; raises on failure."""
        job = Job(Path(path), round(start_s * 1e6), None if end_s is None else round(end_s * 1e6))
        (result,) = list(self.run([job], workers=1))
        if result.error is not None:
            raise result.error
        assert result.features is not None
        return result.features

    def run(self, jobs: Iterable[Job], *, workers: int | None = None,
            on_frames: Callable[[int], None] | None = None) -> Iterator[Result]:
        """Extract every job, yielding results as videos finish (not in input order).

        ``workers`` threads decode (default: ``options.workers``).
        A failing video yields a :class:`Result` with ``error`` set; the others go on.
        ``on_frames(n)`` is called after each model batch with the number of video
        seconds it held (for progress bars).
        """
        items: queue.Queue = queue.Queue(maxsize=max(4 * self.options.batch_size, 32))
        job_iter = iter(jobs)
        job_lock = threading.Lock()
        stop = threading.Event()

        def next_job() -> Job | None:
            with job_lock:
                return next(job_iter, None)

        def worker() -> None:
            try:
                while not stop.is_set() and (job := next_job()) is not None:
                    self._decode_job(job, items, stop)
            finally:
                items.put(("worker_done", None, None))

        count = self.options.workers if workers is None else workers
        threads = [threading.Thread(target=worker, name=f"yt8m-decode-{i}", daemon=True)
                   for i in range(max(1, count))]
        for t in threads:
            t.start()
        try:
            yield from self._consume(items, len(threads), on_frames)
        finally:
            stop.set()
            while any(t.is_alive() for t in threads):  # unblock producers waiting on a full queue
                try:
                    items.get(timeout=0.05)
                except queue.Empty:
                    pass

    def _decode_job(self, job: Job, items: queue.Queue, stop: threading.Event) -> None:
        ticket = _Ticket(job)  # the key of this decoding's messages
        items.put(("start", ticket, None))
        try:
            info = probe(job.path)
            if not info.video_streams:
                raise InputError(f"{job.path}: holds no video stream")
            end_us = job.end_us if job.end_us is not None else _video_end_us(info)
            last_us = None
            for frame in self._sampled_frames(job, end_us, lambda note: items.put(("note", ticket, note))):
                if stop.is_set():
                    return
                image = preprocess([frame.rgb])[0]  # resize here, in the decoding thread
                items.put(("frame", ticket, (frame.period_time_us, image)))
                last_us = frame.period_time_us
            if self.options.audio:
                if len(info.audio_streams) <= self.options.audio_stream:
                    items.put(("no_audio", ticket, (f"has no audio stream {self.options.audio_stream}; "
                                                 "extracted video features only")))
                else:
                    try:
                        for batch in iter_log_mel_examples(job.path, audio_stream=self.options.audio_stream,
                                                           mode=self.options.audio_hop, start_us=job.start_us,
                                                           end_us=end_us):
                            items.put(("audio", ticket, (batch.examples, batch.timestamps_us)))
                    except InputError as exc:
                        raise _damaged(job, exc, last_us, end_us) from None
            items.put(("decoded", ticket, end_us))
        except Yt8mError as exc:
            items.put(("error", ticket, exc))
        except Exception as exc:  # one bad video must not stop the others
            log.debug("unexpected error on %s", job.path, exc_info=True)
            items.put(("error", ticket, InputError(f"{job.path}: {type(exc).__name__}: {exc}")))

    def _sampled_frames(self, job: Job, end_us: int, note: Callable[[str], None]) -> Iterator[SampledFrame]:
        """The job's 1 Hz frames, from NVDEC when asked for and able, else from software decoding.

        A video NVDEC cannot decode (its codec, profile or size) is decoded in software, and
        ``note`` says why; NVDEC fails before its first frame, so nothing is decoded twice.
        """
        if self.hardware_decode:
            frames = sample_frames_1hz(job.path, job.start_us, end_us, hwaccel="cuda",
                                       skip_unused=self.skip_unused_frames)
            try:
                first = next(frames, None)
            except HardwareDecodingUnavailable as exc:
                note(f"decoded in software: {exc.reason}")
            else:
                if first is not None:
                    yield first
                yield from frames
                return
        yield from sample_frames_1hz(job.path, job.start_us, end_us, skip_unused=self.skip_unused_frames)

    def _consume(self, items: queue.Queue, producers: int,
                 on_frames: Callable[[int], None] | None) -> Iterator[Result]:
        pending: dict[_Ticket, _Pending] = {}
        batch: list[tuple[_Ticket, int, torch.Tensor]] = []  # (ticket, period us, image)
        live = producers
        # When no frame arrives for ``idle_s``, run the partial batch rather than wait. On an
        # accelerator a pass takes milliseconds, and many small batches only add Python work
        # that competes with the decoding threads for the GIL: there, wait longer.
        idle_s = 0.01 if self.device.type == "cpu" else 0.25

        def flush_batch() -> None:
            if not batch:
                return
            feats = self.rgb_features(torch.stack([b[2] for b in batch]))
            for (ticket, period_us, _), row in zip(batch, feats, strict=True):
                if ticket in pending:
                    pending[ticket].rgb[period_us] = row
            if on_frames is not None:
                on_frames(len(batch))
            batch.clear()

        while live or pending:
            try:
                kind, ticket, payload = items.get(timeout=idle_s if batch else None)
            except queue.Empty:
                flush_batch()  # nothing else is ready: run what we have rather than wait
                yield from self._finish_ready(pending)
                continue
            if kind == "worker_done":
                live -= 1
                if not live:
                    flush_batch()
                    yield from self._finish_ready(pending)
                continue
            if kind == "start":
                pending[ticket] = _Pending(ticket.job, time.perf_counter())
                continue
            state = pending[ticket]
            if kind == "frame":
                period_us, image = payload
                state.rgb_times.append(period_us)
                batch.append((ticket, period_us, image))
                if len(batch) >= self.options.batch_size:
                    flush_batch()
            elif kind == "audio":
                examples, times = payload
                state.audio_waiting.append(examples)
                state.audio_times.append(times)
                self._run_audio(state, final=False)
            elif kind == "no_audio":
                state.has_audio = False
                state.notes.append(payload)
            elif kind == "note":
                state.notes.append(payload)
            elif kind == "error":
                state.error = payload
                state.decoded = True
            elif kind == "decoded":
                self._run_audio(state, final=True)
                state.decoded = True
                state.end_us = payload
            if kind in ("decoded", "error"):
                if not items.qsize():
                    flush_batch()
                yield from self._finish_ready(pending)

    def _run_audio(self, state: _Pending, *, final: bool) -> None:
        """Run VGGish over a video's waiting examples in whole batches of ``audio_batch_size``
        (and, when ``final``, the rest).

        The decoder hands over about one example per second of audio; batching them is
        several times faster. The batches are cut at fixed positions in each video's own
        sequence of examples, [0, B), [B, 2B), ..., whatever the timing or the other videos,
        because a network's output for one example can differ in its last bits with the
        batch around it (matrix-product kernels are chosen by shape): so a video's features
        do not depend on the run it is part of, and equal ``audio_features`` over all its
        examples at once.
        """
        waiting = sum(len(e) for e in state.audio_waiting)
        size = self.options.audio_batch_size
        if not waiting or (waiting < size and not final):
            return
        examples = (np.concatenate(state.audio_waiting) if len(state.audio_waiting) > 1
                    else state.audio_waiting[0])
        ready = len(examples) if final else len(examples) // size * size
        state.audio.append(self.audio_features(examples[:ready]))
        state.audio_waiting = [examples[ready:]] if ready < len(examples) else []

    def _finish_ready(self, pending: dict[_Ticket, _Pending]) -> Iterator[Result]:
        for ticket in [t for t, s in pending.items() if s.decoded and len(s.rgb) == len(s.rgb_times)]:
            state = pending.pop(ticket)
            yield self._result(state)

    def _result(self, state: _Pending) -> Result:
        elapsed = time.perf_counter() - state.started
        if state.error is not None:
            return Result(state.job, error=state.error, seconds=elapsed)
        job = state.job
        if not state.rgb_times:
            return Result(job, error=InputError(f"{job.path}: no video frame inside the clip "
                                                f"[{job.start_us / 1e6:g} s, "
                                                f"""{'end' if job.end_us is None
                                                     else f'{job.end_us / 1e6:g} s'})"""),
                          seconds=elapsed)
        times = np.asarray(state.rgb_times, np.int64)
        rgb = np.stack([state.rgb[t] for t in state.rgb_times])
        audio = audio_times = None
        if self.options.audio and state.has_audio:
            audio = np.concatenate(state.audio) if state.audio else np.zeros((0, 128), np.float32)
            audio_times = np.concatenate(state.audio_times) if state.audio_times else np.zeros(0, np.int64)
        end_us = max(state.end_us, int(times[-1]) + 1)
        metadata = ClipMetadata(str(job.path.resolve()), job.start_us, end_us)
        features = FeatureSequence(rgb, times, audio, audio_times, metadata, list(state.notes))
        return Result(job, features=features, seconds=elapsed)


def _damaged(job: Job, exc: InputError, last_us: int | None, end_us: int) -> InputError:
    """The error of a video whose audio fails to decode, saying how far its video got.

    A file cut short (a truncated download whose index sits at the front) decodes its
    first seconds and then fails. yt8m does not keep partial features, which would enter a
    dataset as a shorter video: the video fails, and the message says where it stopped.
    """
    got = "no video frame" if last_us is None else f"video up to the second at {last_us / 1e6:g} s"
    return InputError(f"{exc} (the file looks cut short or damaged: {got} of the {end_us / 1e6:g} s it "
                      f"declares decoded; no features are kept for a partly readable video)")


def _video_end_us(info: MediaInfo) -> int:
    """The end of the first video stream (its own duration when declared, else the file's).

    Ending the clip there, rather than at the container's duration, keeps a trailing
    audio tail from adding a video second the video does not cover.
    """
    stream = info.video_streams[0]
    duration_s = stream.duration_s if stream.duration_s else info.duration_s
    return round(duration_s * 1e6)


def extract(path: str | Path, *, start_s: float = 0.0, end_s: float | None = None,
            options: ExtractOptions | None = None, fetch: bool = True,
            mirror: str | None = None) -> FeatureSequence:
    """Extract the YouTube-8M features of one video (models loaded for this call).

    For many videos, build one :class:`Extractor` and call :meth:`Extractor.run`.
    """
    return Extractor(options or ExtractOptions(), fetch=fetch,
                     mirror=mirror).extract(path, start_s=start_s, end_s=end_s)
