// yt8m viewer: plain JavaScript, no build step. Talks to the JSON API described at /docs.
'use strict';

const $ = (id) => document.getElementById(id);
const LANE_COLORS = ['#2f6fed', '#e0662b', '#1f9d6a', '#b4478f', '#7a5cf0', '#c9a227', '#1b9bb5', '#d9342b'];
const MAX_LANES = 8;
const PAGE_TOP_K = 10;
const POLL_MS = 500;

const state = {
  health: null,
  view: null,            // {kind: 'video', job, data} or {kind: 'record', query, data}
  threshold: 0.2,
  segmentSize: 5,
  clock: null,
  lanes: [],             // [{index, name, color}]
  pollTimer: null,
  trackedJob: null,
  request: 0,            // id of the latest predictions request (older answers are dropped)
  lastTime: -1,
};

// --- small helpers ------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

function labelName(label) {
  return label.name || `class ${label.index}`;
}

function errorText(body, status) {
  if (body && typeof body.detail === 'string') return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d) => `${(d.loc || []).slice(1).join('.') || 'input'}: ${d.msg}`).join('; ');
  }
  return `the server answered HTTP ${status}`;
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new Error('cannot reach the server');
  }
  let body = null;
  const type = response.headers.get('content-type') || '';
  if (type.includes('application/json')) body = await response.json();
  if (!response.ok) throw new Error(errorText(body, response.status));
  return body;
}

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

function setBusy(on, text) {
  $('busy').hidden = !on;
  if (text) $('busy-text').textContent = text;
}

// --- server info --------------------------------------------------------------------------

async function loadHealth() {
  const info = $('server-info');
  try {
    const health = await api('/healthz');
    state.health = health;
    info.replaceChildren();
    const status = el('span');
    status.append(el('span', 'dot'), document.createTextNode('ready'));
    const model = el('span');
    const m = health.model;
    if (m.available) {
      const kind = m.family ? `${m.kind} ${m.family}` : m.kind;
      model.append(document.createTextNode('model '), el('b', '', kind), document.createTextNode(` · ${m.num_classes} classes`));
    } else {
      model.append(document.createTextNode('model '), el('b', '', 'none'), document.createTextNode(' · no predictions'));
      const missing = $('model-missing');
      const how = 'Start the server with --model DIR, or run `yt8m models download baseline-savedmodel`.';
      missing.replaceChildren(el('b', '', 'No classifier: labels cannot be predicted. '),
        document.createTextNode(`${m.reason || how} Uploads are still extracted, and dataset records show `
          + 'their ground truth.'));
      missing.hidden = false;
    }
    info.append(status, model);
    if (health.labels) {
      const labels = el('span');
      const source = health.labels.source.split(/[\\/]/).pop();
      labels.append(document.createTextNode('labels '), el('b', '', source));
      info.append(labels);
    }
    $('upload-limit').textContent = `up to ${health.max_upload_mb} MB`;
    state.segmentSize = health.segment_size.default;
    $('segment-size').value = state.segmentSize;
    if (!health.extraction.available) {
      $('dropzone').classList.add('disabled');
      $('file-input').disabled = true;
      $('upload-limit').textContent = 'extraction unavailable on this server';
      showError(health.extraction.reason || 'video extraction is unavailable');
    }
    $('record-hint').textContent = health.dataset.dataset_dir
      ? `Searched in the local shards${health.dataset.online ? ', then on data.yt8m.org' : ''}.`
      : (health.dataset.online ? 'Looked up on data.yt8m.org; the shard is downloaded once.'
        : 'No --dataset folder and online lookup is off: records cannot be found.');
    if (health.media_root) loadMedia();
  } catch (err) {
    info.replaceChildren();
    const status = el('span');
    status.append(el('span', 'dot bad'), document.createTextNode(`server unavailable: ${err.message}`));
    info.append(status);
  }
}

async function loadMedia() {
  try {
    const { files } = await api('/api/media');
    const select = $('media-select');
    select.replaceChildren();
    for (const file of files) {
      const option = el('option', '', file.path);
      option.value = file.path;
      select.append(option);
    }
    $('media-pick').hidden = files.length === 0;
  } catch (err) {
    $('media-pick').hidden = true;
  }
}

// --- jobs ---------------------------------------------------------------------------------

async function loadRecentJobs() {
  let jobs = [];
  try {
    ({ jobs } = await api('/api/jobs'));
  } catch (err) {
    return;
  }
  const list = $('recent-jobs');
  list.replaceChildren();
  if (!jobs.length) {
    list.append(el('li', 'muted', 'None yet'));
    return;
  }
  for (const job of jobs.slice(0, 30)) {
    const item = el('li');
    const button = el('button');
    button.type = 'button';
    button.dataset.job = job.id;
    if (state.view && state.view.kind === 'video' && state.view.job.id === job.id) button.classList.add('current');
    button.append(el('span', 'name', job.name), el('span', `badge ${job.status}`, job.status));
    button.title = job.error ? `${job.name}: ${job.error}` : job.name;
    button.addEventListener('click', () => trackJob(job));
    item.append(button);
    list.append(item);
  }
}

function renderJobStatus(job, stageText) {
  const box = $('job-status');
  box.hidden = false;
  box.classList.toggle('failed', job.status === 'failed');
  box.classList.toggle('done', job.status === 'done');
  $('job-name').textContent = job.name;
  let stage = stageText || job.stage;
  if (!stageText && job.status === 'running' && job.seconds_expected) {
    stage = `${job.stage} · ${job.seconds_done}/${job.seconds_expected} s`;
  }
  if (job.status === 'done') stage = job.cached ? 'done (cached)' : 'done';
  $('job-stage').textContent = stage;
  const percent = Math.round(100 * (job.status === 'done' || job.status === 'failed' ? 1 : job.progress || 0));
  $('job-progress-bar').style.width = `${percent}%`;
  $('job-progress').setAttribute('aria-valuenow', String(percent));
}

function stopPolling() {
  if (state.pollTimer) clearTimeout(state.pollTimer);
  state.pollTimer = null;
}

async function trackJob(job) {
  stopPolling();
  clearError();
  state.trackedJob = job.id;
  renderJobStatus(job);
  if (job.status === 'done') {
    openJob(job);
    return;
  }
  if (job.status === 'failed') {
    showError(job.error && job.error.startsWith(job.name) ? job.error : `${job.name}: ${job.error}`);
    loadRecentJobs();
    return;
  }
  const poll = async () => {
    if (state.trackedJob !== job.id) return;
    let current;
    try {
      current = await api(`/api/jobs/${job.id}`);
    } catch (err) {
      showError(err.message);
      return;
    }
    if (state.trackedJob !== job.id) return;
    current.cached = job.cached;
    renderJobStatus(current);
    if (current.status === 'done' || current.status === 'failed') {
      trackJob(current);
      loadRecentJobs();
      return;
    }
    state.pollTimer = setTimeout(poll, POLL_MS);
  };
  loadRecentJobs();
  state.pollTimer = setTimeout(poll, POLL_MS);
}

function uploadFile(file) {
  clearError();
  const limit = state.health ? state.health.max_upload_mb * 1024 * 1024 : Infinity;
  if (file.size > limit) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(0)} MB; this server takes up to ${state.health.max_upload_mb} MB`);
    return;
  }
  stopPolling();
  state.trackedJob = null;
  const pending = { name: file.name, status: 'queued', progress: 0, stage: 'uploading' };
  renderJobStatus(pending, 'uploading 0%');
  const xhr = new XMLHttpRequest();
  xhr.open('POST', `/api/uploads?filename=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.addEventListener('progress', (event) => {
    if (!event.lengthComputable) return;
    const share = event.loaded / event.total;
    renderJobStatus({ ...pending, progress: share * 0.2 }, `uploading ${Math.round(100 * share)}%`);
  });
  xhr.addEventListener('load', () => {
    let body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch (err) {
      body = null;
    }
    if (xhr.status === 200 || xhr.status === 202) {
      trackJob(body);
    } else {
      renderJobStatus({ ...pending, status: 'failed' }, 'refused');
      showError(`${file.name}: ${errorText(body, xhr.status)}`);
    }
  });
  xhr.addEventListener('error', () => {
    renderJobStatus({ ...pending, status: 'failed' }, 'failed');
    showError(`${file.name}: the upload failed (connection lost)`);
  });
  xhr.send(file);
}

async function pickMedia() {
  const path = $('media-select').value;
  if (!path) return;
  clearError();
  try {
    const job = await api('/api/jobs', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ media: path }),
    });
    trackJob(job);
  } catch (err) {
    showError(`${path}: ${err.message}`);
  }
}

// --- views --------------------------------------------------------------------------------

function showViewer() {
  $('empty').hidden = true;
  $('viewer').hidden = false;
}

function resetPlayer() {
  const video = $('video');
  const ytHost = $('yt-player');
  ytHost.replaceChildren();
  ytHost.hidden = true;
  $('no-player').hidden = true;
  $('player-note').hidden = true;
  $('player').classList.remove('compact');
  video.hidden = false;
  return video;
}

function openJob(job) {
  state.view = { kind: 'video', job, data: null };
  location.hash = `job=${job.id}`;
  showViewer();
  $('title').textContent = job.name;
  const meta = $('meta');
  meta.replaceChildren(el('span', '', formatTime(job.duration_s)),
    el('span', '', `${job.num_seconds ?? '?'} feature seconds`),
    el('span', '', job.has_audio ? 'video + audio' : 'video only (no audio stream)'));
  $('overall-title').textContent = 'Whole video';
  $('truth').hidden = true;
  const video = resetPlayer();
  if (video.getAttribute('src') !== job.video_url) {
    video.src = job.video_url;
    video.load();
  }
  state.clock = videoClock(video);
  loadRecentJobs();
  loadPredictions();
}

function videoClock(video) {
  return {
    time: () => video.currentTime || 0,
    seek: (t) => { video.currentTime = t; },
    duration: () => (Number.isFinite(video.duration) && video.duration > 0 ? video.duration : 0),
  };
}

function cursorClock() {
  let t = 0;
  return { time: () => t, seek: (x) => { t = x; }, duration: () => 0 };
}

async function loadPredictions() {
  const view = state.view;
  if (!view) return;
  const ticket = ++state.request;
  if (view.kind === 'video' && state.health && !state.health.model.available) {
    // No classifier: the job has features but nothing to predict with; show its notes, no windows.
    view.data = { kind: 'video', windows: [], video: { labels: [] }, num_seconds: view.job.num_seconds || 0,
      notes: view.job.notes || [], predicted: false };
    renderAll();
    return;
  }
  setBusy(true, `Computing windows of ${state.segmentSize} s…`);
  try {
    const size = state.segmentSize;
    const data = view.kind === 'video'
      ? await api(`/api/jobs/${view.job.id}/predictions?segment_size=${size}&top_k=${PAGE_TOP_K}`)
      : await api(`/api/records?q=${encodeURIComponent(view.query)}&segment_size=${size}`);
    if (ticket !== state.request || state.view !== view) return;
    view.data = data;
    if (view.kind === 'record') renderRecordHead(data);
    renderAll();
  } catch (err) {
    if (ticket === state.request) showError(err.message);
  } finally {
    if (ticket === state.request) setBusy(false);
  }
}

async function lookUpRecord(query) {
  clearError();
  stopPolling();
  state.trackedJob = null;
  $('record-go').disabled = true;
  const view = { kind: 'record', query, data: null };
  const previous = state.view;
  state.view = view;
  try {
    showViewer();
    $('title').textContent = query;
    $('meta').replaceChildren(el('span', 'muted', 'Looking the record up (a shard download may take a while)…'));
    await loadPredictions();
    if (!view.data) {
      state.view = previous;
      if (!previous) {
        $('viewer').hidden = true;
        $('empty').hidden = false;
      } else if (previous.kind === 'video') {
        openJob(previous.job);
      } else {
        renderRecordHead(previous.data);
        renderAll();
      }
      return;
    }
    location.hash = `record=${encodeURIComponent(query)}`;
    setUpRecordPlayer(view.data);
  } finally {
    $('record-go').disabled = false;
  }
}

function renderRecordHead(data) {
  $('title').textContent = `Record ${data.video_id}`;
  const meta = $('meta');
  meta.replaceChildren(el('span', '', `${data.num_seconds} s`), el('span', '', `${data.shard} #${data.record_index}`),
    el('span', '', data.source === 'downloaded' ? 'downloaded shard' : 'local shard'));
  if (data.link) {
    const link = el('a', '', `youtube.com/watch?v=${data.youtube_id}`);
    link.href = data.link;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    meta.append(link);
  }
  $('overall-title').textContent = 'Across the record';
  const truth = $('truth');
  const chips = $('truth-chips');
  chips.replaceChildren();
  for (const label of data.ground_truth) {
    const chip = el('span', 'chip', labelName(label));
    chip.title = 'Green: also predicted at or above the threshold somewhere in the record';
    chips.append(chip);
  }
  if (!data.ground_truth.length) chips.append(el('span', 'muted small', 'This record has no labels.'));
  truth.hidden = false;
}

function setUpRecordPlayer(data) {
  const video = resetPlayer();
  video.removeAttribute('src');
  video.load();
  video.hidden = true;
  state.clock = cursorClock();
  if (!data.youtube_id) {
    $('no-player').hidden = false;
    $('player').classList.add('compact');
    return;
  }
  const host = $('yt-player');
  host.hidden = false;
  const target = el('div');
  host.append(target);
  const note = $('player-note');
  const view = state.view;
  loadYouTubeApi().then((YT) => {
    if (state.view !== view) return;
    const player = new YT.Player(target, {
      videoId: data.youtube_id, host: 'https://www.youtube-nocookie.com', playerVars: { rel: 0, playsinline: 1 },
    });
    state.clock = {
      time: () => (player.getCurrentTime ? player.getCurrentTime() : 0),
      seek: (t) => { if (player.seekTo) player.seekTo(t, true); },
      duration: () => (player.getDuration ? player.getDuration() : 0),
    };
  }).catch(() => {
    if (state.view !== view) return;
    host.hidden = true;
    $('no-player').hidden = false;
    $('player').classList.add('compact');
    note.textContent = 'The YouTube player could not be loaded (offline?).';
    note.hidden = false;
  });
}

let youTubeApi = null;
function loadYouTubeApi() {
  if (youTubeApi) return youTubeApi;
  youTubeApi = new Promise((resolve, reject) => {
    if (window.YT && window.YT.Player) {
      resolve(window.YT);
      return;
    }
    window.onYouTubeIframeAPIReady = () => resolve(window.YT);
    const script = document.createElement('script');
    script.src = 'https://www.youtube.com/iframe_api';
    script.onerror = () => { youTubeApi = null; reject(new Error('YouTube API unavailable')); };
    document.head.append(script);
  });
  return youTubeApi;
}

// --- rendering ----------------------------------------------------------------------------

function windows() {
  return state.view && state.view.data ? state.view.data.windows : [];
}

function currentWindow(t) {
  const list = windows();
  if (!list.length) return null;
  let lo = 0;
  let hi = list.length - 1;
  if (t < list[0].time_s) return list[0];
  while (lo < hi) {            // the latest window whose time_s <= t
    const mid = (lo + hi + 1) >> 1;
    if (list[mid].time_s <= t) lo = mid; else hi = mid - 1;
  }
  return list[lo];
}

function totalSeconds() {
  const data = state.view && state.view.data;
  const fromData = data ? data.num_seconds : 0;
  const fromClock = state.clock ? state.clock.duration() : 0;
  return Math.max(fromClock || 0, fromData || 0, 1);
}

function laneColor(index) {
  const lane = state.lanes.find((l) => l.index === index);
  return lane ? lane.color : null;
}

function renderLabelList(list, labels, emptyNode, emptyText) {
  list.replaceChildren();
  const shown = labels.filter((l) => l.score >= state.threshold).sort((a, b) => b.score - a.score);
  for (const [rank, label] of shown.entries()) {
    const item = el('li', rank === 0 ? 'top' : '');
    const name = el('span', 'name');
    const color = laneColor(label.index);
    if (color) {
      const swatch = el('span', 'swatch');
      swatch.style.background = color;
      name.append(swatch);
    }
    name.append(document.createTextNode(labelName(label)));
    name.title = labelName(label);
    const bar = el('span', 'bar');
    const fill = el('span');
    fill.style.width = `${Math.round(100 * Math.min(1, label.score))}%`;
    if (color) fill.style.background = color;
    bar.append(fill);
    item.dataset.index = label.index;
    item.append(name, el('span', 'score', label.score.toFixed(2)), bar);
    list.append(item);
  }
  if (emptyNode) {
    emptyNode.hidden = shown.length > 0;
    emptyNode.textContent = emptyText;
  }
  return shown.length;
}

function renderNow(force) {
  if (!state.view || !state.view.data || !state.clock) return;
  const t = state.clock.time();
  if (!force && Math.abs(t - state.lastTime) < 0.01) return;
  state.lastTime = t;
  const w = currentWindow(t);
  const data = state.view.data;
  if (!w) {
    $('now-range').textContent = '–';
    renderLabelList($('now-labels'), [], $('now-empty'),
      data.predicted === false ? 'No predictions: this server has no classifier.'
      : data.num_seconds < state.segmentSize
        ? `The ${data.kind === 'record' ? 'record' : 'video'} is ${data.num_seconds} s long, shorter than the segment size.`
        : 'No windows.');
  } else {
    $('now-range').textContent = `${formatTime(w.start_s)} – ${formatTime(w.end_s)}`;
    renderLabelList($('now-labels'), w.labels, $('now-empty'),
      `No label of this window scores ${state.threshold.toFixed(2)} or more.`);
  }
  const width = $('lanes').clientWidth;
  $('playhead').style.left = `${(Math.min(t, totalSeconds()) / totalSeconds()) * width}px`;
}

function overallLabels() {
  const data = state.view.data;
  if (data.kind === 'video') return data.video.labels;
  const best = new Map();
  for (const w of data.windows) {
    for (const label of w.labels) {
      const seen = best.get(label.index);
      if (!seen || seen.score < label.score) best.set(label.index, label);
    }
  }
  return [...best.values()].sort((a, b) => b.score - a.score).slice(0, 10);
}

function chooseLanes() {
  const best = new Map();
  for (const w of windows()) {
    for (const label of w.labels) {
      if (label.score < state.threshold) continue;
      const seen = best.get(label.index);
      if (seen) {
        seen.total += label.score;
        seen.max = Math.max(seen.max, label.score);
      } else {
        best.set(label.index, { index: label.index, name: labelName(label), total: label.score, max: label.score });
      }
    }
  }
  const ranked = [...best.values()].sort((a, b) => b.total - a.total).slice(0, MAX_LANES);
  state.lanes = ranked.map((lane, i) => ({ ...lane, color: LANE_COLORS[i % LANE_COLORS.length] }));
}

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function renderTimeline() {
  chooseLanes();
  const names = $('lane-names');
  names.replaceChildren();
  const lanesBox = $('lanes');
  const canvas = $('lanes-canvas');
  const laneHeight = 26;
  const count = Math.max(1, state.lanes.length);
  for (const lane of state.lanes) {
    const name = el('div', 'lane-name');
    const swatch = el('span', 'swatch');
    swatch.style.background = lane.color;
    name.append(swatch, document.createTextNode(lane.name));
    name.title = lane.name;
    names.append(name);
  }
  const empty = $('timeline-empty');
  const list = windows();
  empty.hidden = state.lanes.length > 0;
  empty.textContent = list.length ? `No label scores ${state.threshold.toFixed(2)} or more.` : 'No windows to show.';
  lanesBox.style.height = `${count * laneHeight}px`;
  const width = lanesBox.clientWidth;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(width * ratio));
  canvas.height = Math.round(count * laneHeight * ratio);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, count * laneHeight);
  const total = totalSeconds();
  const seconds = Math.ceil(state.view.data.num_seconds || total);
  for (let row = 0; row < count; row += 1) {
    ctx.fillStyle = row % 2 ? '#f3f5f8' : '#fafbfc';
    ctx.fillRect(0, row * laneHeight, width, laneHeight);
  }
  state.lanes.forEach((lane, row) => {
    const [r, g, b] = hexToRgb(lane.color);
    for (let s = 0; s < seconds; s += 1) {
      const w = currentWindow(s);
      if (!w) continue;
      const label = w.labels.find((l) => l.index === lane.index);
      if (!label || label.score < state.threshold) continue;
      const x0 = (s / total) * width;
      const x1 = (Math.min(s + 1, total) / total) * width;
      ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${0.18 + 0.82 * Math.min(1, label.score)})`;
      ctx.fillRect(x0, row * laneHeight + 4, Math.max(1, x1 - x0 - (x1 - x0 > 3 ? 1 : 0)), laneHeight - 8);
    }
  });
  renderAxis(total, width);
}

function renderAxis(total, width) {
  const axis = $('axis');
  axis.replaceChildren();
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  const step = steps.find((s) => total / s <= Math.max(2, Math.floor(width / 70))) || 3600;
  for (let t = 0; t <= total + 1e-6; t += step) {
    const tick = el('span', total - t < step * 0.5 && t > 0 ? 'last' : '', formatTime(t));
    tick.style.left = `${(t / total) * 100}%`;
    axis.append(tick);
  }
}

function renderOverall() {
  renderLabelList($('overall-labels'), overallLabels(), null, '');
  if (state.view.data.kind === 'record') {
    const predicted = new Set(overallLabels().filter((l) => l.score >= state.threshold).map((l) => l.index));
    for (const chip of $('truth-chips').children) chip.classList.remove('hit');
    state.view.data.ground_truth.forEach((label, i) => {
      const chip = $('truth-chips').children[i];
      if (chip && predicted.has(label.index)) chip.classList.add('hit');
    });
  }
}

function renderNotes() {
  const notes = $('notes');
  notes.replaceChildren();
  for (const note of state.view.data.notes || []) notes.append(el('li', '', note));
}

function renderAll() {
  if (!state.view || !state.view.data) return;
  renderTimeline();
  renderOverall();
  renderNotes();
  renderNow(true);
}

// --- timeline interaction -----------------------------------------------------------------

function timeAt(event) {
  const box = $('lanes').getBoundingClientRect();
  const share = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  return share * totalSeconds();
}

function seek(t) {
  if (!state.clock) return;
  state.clock.seek(Math.min(Math.max(0, t), totalSeconds()));
  renderNow(true);
}

function describeAt(t) {
  const w = currentWindow(t);
  if (!w) return formatTime(t);
  const shown = w.labels.filter((l) => l.score >= state.threshold).slice(0, 3)
    .map((l) => `${labelName(l)} ${l.score.toFixed(2)}`);
  return `${formatTime(t)} · ${shown.join(', ') || 'no label above the threshold'}`;
}

function connectTimeline() {
  const lanes = $('lanes');
  const hint = $('timeline-hint');
  const defaultHint = hint.textContent;
  lanes.addEventListener('click', (event) => seek(timeAt(event)));
  lanes.addEventListener('mousemove', (event) => {
    if (!state.view || !state.view.data) return;
    const line = $('hover-line');
    line.hidden = false;
    line.style.left = `${event.clientX - lanes.getBoundingClientRect().left}px`;
    hint.textContent = describeAt(timeAt(event));
  });
  lanes.addEventListener('mouseleave', () => {
    $('hover-line').hidden = true;
    hint.textContent = defaultHint;
  });
  lanes.addEventListener('keydown', (event) => {
    if (!state.clock) return;
    if (event.key === 'ArrowRight') seek(state.clock.time() + 1);
    else if (event.key === 'ArrowLeft') seek(state.clock.time() - 1);
    else return;
    event.preventDefault();
  });
  new ResizeObserver(() => { if (state.view && state.view.data) renderAll(); }).observe(lanes);
}

// --- controls -----------------------------------------------------------------------------

function connectControls() {
  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', () => {
      for (const other of document.querySelectorAll('.tab')) {
        const active = other === tab;
        other.classList.toggle('active', active);
        other.setAttribute('aria-selected', String(active));
        $(other.dataset.pane).hidden = !active;
      }
    });
  }
  const threshold = $('threshold');
  threshold.addEventListener('input', () => {
    state.threshold = Number(threshold.value);
    $('threshold-value').textContent = state.threshold.toFixed(2);
    if (state.view && state.view.data) renderAll();
  });
  const size = $('segment-size');
  size.addEventListener('change', () => {
    const value = Math.min(300, Math.max(1, Math.round(Number(size.value) || state.segmentSize)));
    size.value = value;
    if (value === state.segmentSize) return;
    state.segmentSize = value;
    loadPredictions();
  });
  const input = $('file-input');
  input.addEventListener('change', () => {
    if (input.files.length) uploadFile(input.files[0]);
    input.value = '';
  });
  const zone = $('dropzone');
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (event.dataTransfer.files.length && !input.disabled) uploadFile(event.dataTransfer.files[0]);
  });
  $('media-open').addEventListener('click', pickMedia);
  $('record-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const query = $('record-query').value.trim();
    if (query) lookUpRecord(query);
  });
  const video = $('video');
  video.addEventListener('loadedmetadata', () => renderAll());
  video.addEventListener('error', () => {
    if (!video.getAttribute('src')) return;
    const note = $('player-note');
    note.textContent = 'This browser cannot play the video format; the labels and timeline are still shown.';
    note.hidden = false;
  });
  setInterval(() => renderNow(false), 120);
}

async function restoreFromHash() {
  const hash = location.hash.slice(1);
  if (hash.startsWith('job=')) {
    try {
      trackJob(await api(`/api/jobs/${encodeURIComponent(hash.slice(4))}`));
    } catch (err) {
      location.hash = '';
    }
  } else if (hash.startsWith('record=')) {
    const query = decodeURIComponent(hash.slice(7));
    $('record-query').value = query;
    document.getElementById('tab-record').click();
    lookUpRecord(query);
  }
}

document.addEventListener('DOMContentLoaded', async () => {
  connectControls();
  connectTimeline();
  await loadHealth();
  loadRecentJobs();
  restoreFromHash();
});
