// The live page: webcam frames to /v1/stream (one frame in flight), faces drawn over the video,
// angles plotted; a dropped photo goes to /v1/pose. State for tests: window.fsanet.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const query = token ? "?token=" + encodeURIComponent(token) : "";
const $ = (id) => document.getElementById(id);
const video = $("video"), view = $("view"), plot = $("plot");
const ctx = view.getContext("2d"), plotCtx = plot.getContext("2d");
const grab = document.createElement("canvas");
const HISTORY_S = 10, MAX_WIDTH = 640, COLORS = ["#f55", "#5f5", "#58f"];
const state = window.fsanet = { frames: 0, replies: 0, last: null, photo: null, errors: [], mode: "camera" };
let socket = null, inFlight = false, sentAt = 0, history = [], frameTimes = [], stream = null, wantCamera = false;

function status(text) { $("status").textContent = text; }

function drawAxes(c, face, scale) {  // the authors' draw_axis: x red, y green, z blue
  const [x, y, w, h] = face.box.map((v) => v * scale);
  const size = Math.max(w, h) * 0.6, cx = x + w / 2, cy = y + h / 2;
  const yawDeg = face.yaw_smoothed ?? face.yaw, pitchDeg = face.pitch_smoothed ?? face.pitch;
  const rollDeg = face.roll_smoothed ?? face.roll;
  const p = pitchDeg * Math.PI / 180, yw = -yawDeg * Math.PI / 180, r = rollDeg * Math.PI / 180;
  const ends = [
    [Math.cos(yw) * Math.cos(r), Math.cos(p) * Math.sin(r) + Math.cos(r) * Math.sin(p) * Math.sin(yw)],
    [-Math.cos(yw) * Math.sin(r), Math.cos(p) * Math.cos(r) - Math.sin(p) * Math.sin(yw) * Math.sin(r)],
    [Math.sin(yw), -Math.cos(yw) * Math.sin(p)],
  ];
  c.lineWidth = 3;
  ends.forEach(([ex, ey], i) => {
    c.strokeStyle = COLORS[i];
    c.beginPath(); c.moveTo(cx, cy); c.lineTo(cx + size * ex, cy + size * ey); c.stroke();
  });
  c.strokeStyle = "#ff0"; c.lineWidth = 1; c.strokeRect(x, y, w, h);
  c.fillStyle = "#ff0"; c.font = "16px sans-serif";
  const label = (face.track === null || face.track === undefined ? "" : "#" + face.track + " ") +
    `y ${yawDeg.toFixed(0)} p ${pitchDeg.toFixed(0)} r ${rollDeg.toFixed(0)}`;
  c.fillText(label, x, Math.max(16, y - 4));
}

function showFaces(faces) {
  $("faces").innerHTML = faces.map((f) =>
    `<tr data-track="${f.track ?? ""}"><td>${f.track ?? "-"}</td><td class="yaw">${f.yaw.toFixed(2)}</td>` +
    `<td class="pitch">${f.pitch.toFixed(2)}</td><td class="roll">${f.roll.toFixed(2)}</td>` +
    `<td>${f.confidence.toFixed(2)}</td></tr>`).join("");
}

function drawPlot() {
  const now = performance.now() / 1000, w = plot.width, h = plot.height;
  history = history.filter((p) => now - p.t <= HISTORY_S);
  plotCtx.fillStyle = "#000"; plotCtx.fillRect(0, 0, w, h);
  plotCtx.strokeStyle = "#333"; plotCtx.lineWidth = 1;
  for (const deg of [-60, -30, 0, 30, 60]) {
    const yy = h / 2 - deg / 90 * (h / 2);
    plotCtx.beginPath(); plotCtx.moveTo(0, yy); plotCtx.lineTo(w, yy); plotCtx.stroke();
  }
  for (let a = 0; a < 3; a++) {
    plotCtx.strokeStyle = COLORS[a]; plotCtx.lineWidth = 2; plotCtx.beginPath();
    history.forEach((p, i) => {
      const xx = w - (now - p.t) / HISTORY_S * w, yy = h / 2 - p.angles[a] / 90 * (h / 2);
      if (i === 0) plotCtx.moveTo(xx, yy); else plotCtx.lineTo(xx, yy);
    });
    plotCtx.stroke();
  }
}

function onReply(event) {
  inFlight = false;
  const reply = JSON.parse(event.data);
  if (reply.error) { state.errors.push(reply.error); status(reply.error); return; }
  const now = performance.now();
  $("latency").textContent = (now - sentAt).toFixed(0);
  frameTimes.push(now); frameTimes = frameTimes.filter((t) => now - t < 2000);
  $("fps").textContent = frameTimes.length > 1
    ? ((frameTimes.length - 1) * 1000 / (now - frameTimes[0])).toFixed(1) : "-";
  state.replies++; state.last = reply;
  if (reply.faces.length) {
    const f = reply.faces[0];
    history.push({ t: now / 1000, angles: [f.yaw_smoothed ?? f.yaw, f.pitch_smoothed ?? f.pitch, f.roll_smoothed ?? f.roll] });
  }
  if (state.mode === "camera") showFaces(reply.faces);
  status(`${reply.faces.length} face(s), server ${reply.server_ms} ms`);
}

function tick() {
  if (state.mode === "camera" && video.readyState >= 2 && video.videoWidth) {
    const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
    view.width = Math.round(video.videoWidth * scale); view.height = Math.round(video.videoHeight * scale);
    ctx.drawImage(video, 0, 0, view.width, view.height);
    for (const face of (state.last ? state.last.faces : [])) drawAxes(ctx, face, view.width / state.last.width);
    if (!inFlight && socket && socket.readyState === WebSocket.OPEN) {
      grab.width = view.width; grab.height = view.height;
      grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
      const captured = performance.now() / 1000;  // the frame's time for the server's smoothing
      inFlight = true;
      grab.toBlob((blob) => {
        sentAt = performance.now(); state.frames++;
        socket.send(JSON.stringify({ time: captured })); socket.send(blob);
      }, "image/jpeg", 0.9);
    }
  }
  drawPlot();
  requestAnimationFrame(tick);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/v1/stream${query}`);
  socket.binaryType = "arraybuffer";
  socket.onmessage = onReply;
  socket.onopen = () => status("connected");
  socket.onclose = () => { inFlight = false; status("disconnected; reconnecting"); setTimeout(connect, 1000); };
}

async function startCamera() {
  wantCamera = true;
  try {
    const opened = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
    if (!wantCamera) { opened.getTracks().forEach((t) => t.stop()); return; }  // a photo was dropped meanwhile
    stream = opened; video.srcObject = stream; state.mode = "camera"; $("camera").textContent = "Stop camera";
  } catch (e) { status("no camera (" + e.name + "): drop a photo"); state.mode = "photo"; }
}

function stopCamera() {
  wantCamera = false;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null; state.mode = "photo"; $("camera").textContent = "Start camera";
}

async function sendPhoto(file) {
  stopCamera();
  status("estimating " + file.name);
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch("v1/pose", { method: "POST", headers, body: file });
  const reply = await response.json();
  if (!response.ok) { state.errors.push(reply.error); status(reply.error); return; }
  const image = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, 960 / image.width);
  view.width = Math.round(image.width * scale); view.height = Math.round(image.height * scale);
  ctx.drawImage(image, 0, 0, view.width, view.height);
  for (const face of reply.faces) drawAxes(ctx, face, scale);
  showFaces(reply.faces);
  state.photo = reply;
  status(`${file.name}: ${reply.faces.length} face(s)`);
}

const stage = $("stage");
stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("over"); });
stage.addEventListener("dragleave", () => stage.classList.remove("over"));
stage.addEventListener("drop", (e) => {
  e.preventDefault(); stage.classList.remove("over");
  if (e.dataTransfer.files.length) sendPhoto(e.dataTransfer.files[0]);
});
$("camera").addEventListener("click", () => (stream ? stopCamera() : startCamera()));

connect();
startCamera();
requestAnimationFrame(tick);
