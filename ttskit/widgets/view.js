// Front end of ttskit.widgets.SpeechView: envelope on a canvas, an <audio> element, words.

function registry() {
  globalThis.ttskit ??= { players: [], views: [] };
  return globalThis.ttskit;
}

function render({ model, el }) {
  el.classList.add("ttskit-view");
  el.innerHTML = `
    <div class="ttskit-head"><span class="ttskit-title"></span><span class="ttskit-stats"></span></div>
    <canvas class="ttskit-wave" height="80"></canvas>
    <audio controls preload="auto"></audio>
    <div class="ttskit-words"></div>`;
  const $ = (selector) => el.querySelector(selector);
  const canvas = $("canvas");
  const audio = $("audio");
  const duration = () => model.get("duration_s") || 0;
  // Test hook: what the last word click asked for.
  const state = { el, audio, lastSeek: null };
  registry().views.push(state);

  function envelope() {
    const view = model.get("envelope");
    if (!view || !view.byteLength) return new Float32Array(0);
    return new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  }

  function draw() {
    const pairs = envelope();
    const columns = pairs.length / 2;
    canvas.width = Math.max(columns, 1);
    const g = canvas.getContext("2d");
    const { width, height } = canvas;
    const middle = height / 2;
    g.clearRect(0, 0, width, height);
    const total = duration();
    if (total > 0) {
      g.fillStyle = "rgba(80, 140, 220, 0.15)";
      for (const w of model.get("words")) {
        g.fillRect((w.start / total) * width, 0, ((w.end - w.start) / total) * width, height);
      }
    }
    g.fillStyle = "#3b6ea5";
    for (let x = 0; x < columns; x++) {
      const low = pairs[2 * x];
      const high = pairs[2 * x + 1];
      g.fillRect(x, middle - high * middle, 1, Math.max((high - low) * middle, 1));
    }
    if (total > 0) {
      g.fillStyle = "#d33";
      g.fillRect((audio.currentTime / total) * width, 0, 1, height);
    }
  }

  let spans = [];
  function renderWords() {
    const box = $(".ttskit-words");
    box.replaceChildren();
    spans = model.get("words").map((w, i) => {
      const span = document.createElement("span");
      span.className = "ttskit-word";
      span.textContent = w.word;
      span.dataset.index = String(i);
      span.dataset.start = String(w.start);
      span.title = `${w.start.toFixed(2)}-${w.end.toFixed(2)} s`;
      span.addEventListener("click", () => {
        audio.currentTime = w.start;
        state.lastSeek = { index: i, word: w.word, start: w.start, currentTime: audio.currentTime };
        el.dataset.seekS = String(audio.currentTime);
        audio.play();
      });
      box.append(span, " ");
      return span;
    });
  }

  let url = null;
  function loadAudio() {
    const wav = model.get("wav");
    if (url) URL.revokeObjectURL(url);
    url = wav && wav.byteLength ? URL.createObjectURL(new Blob([wav], { type: "audio/wav" })) : null;
    if (url) audio.src = url;
  }

  function header() {
    $(".ttskit-title").textContent = model.get("title");
    const ttfb = model.get("ttfb_s");
    const parts = [`${duration().toFixed(2)} s`];
    if (ttfb !== null && ttfb !== undefined) parts.push(`TTFB ${(ttfb * 1000).toFixed(0)} ms`);
    $(".ttskit-stats").textContent = parts.join(" · ");
  }

  function highlight() {
    const t = audio.currentTime;
    const words = model.get("words");
    spans.forEach((span, i) => {
      span.classList.toggle("ttskit-active", t >= words[i].start && t < words[i].end);
    });
    el.dataset.currentTime = String(t);
    draw();
  }

  canvas.addEventListener("click", (event) => {
    const box = canvas.getBoundingClientRect();
    audio.currentTime = ((event.clientX - box.left) / box.width) * duration();
    audio.play();
  });

  // The cursor follows playback smoothly while playing, and on every seek.
  let frame = 0;
  function follow() {
    highlight();
    if (!audio.paused) frame = requestAnimationFrame(follow);
  }
  audio.addEventListener("play", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(follow);
  });
  audio.addEventListener("seeked", highlight);
  audio.addEventListener("pause", highlight);

  model.on("change:words", () => {
    renderWords();
    draw();
  });
  model.on("change:envelope", draw);
  model.on("change:wav", loadAudio);
  model.on("change:title", header);
  model.on("change:duration_s", header);
  header();
  renderWords();
  loadAudio();
  draw();
  return () => {
    cancelAnimationFrame(frame);
    if (url) URL.revokeObjectURL(url);
    const views = registry().views;
    if (views.includes(state)) views.splice(views.indexOf(state), 1);
  };
}

export default { render };
