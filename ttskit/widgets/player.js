// Front end of ttskit.widgets.Player: schedules streamed PCM chunks on one AudioContext.
//
// The audio engine lives at the model level (created in `initialize`), so chunks that
// arrive before a view is rendered are played too, and several views of one player share
// it. Each view draws the engine's state and highlights the current word.

// Start (or restart after an underrun) this far ahead of the context clock, in seconds.
const LEAD_S = 0.01;

// Test hook: every player engine, in creation order.
function registry() {
  globalThis.ttskit ??= { players: [], views: [] };
  return globalThis.ttskit;
}

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function createEngine(model) {
  const engine = {
    ctx: null,
    nextTime: null, // context time at which the next chunk starts
    segments: [], // {ctxStart, audioStart, duration} per scheduled chunk
    words: [],
    stats: [], // one record per chunk, see onChunk
    stalls: 0,
    receivedS: 0,
    ttfbS: null,
    ended: false,
    listeners: new Set(),
    changed() {
      for (const listener of engine.listeners) listener();
    },
    context() {
      if (!engine.ctx) {
        engine.ctx = new AudioContext();
        engine.ctx.onstatechange = () => engine.changed();
      }
      return engine.ctx;
    },
    // Where in the answer's audio the context clock is now, in seconds.
    position() {
      if (!engine.ctx || !engine.segments.length) return 0;
      const now = engine.ctx.currentTime;
      let position = 0;
      for (const s of engine.segments) {
        if (now < s.ctxStart) break;
        position = s.audioStart + Math.min(now - s.ctxStart, s.duration);
      }
      return position;
    },
    snapshot() {
      const handling = engine.stats.map((s) => s.handlingMs);
      return {
        status: model.get("status"),
        voice: model.get("voice"),
        chunksReceived: engine.stats.length,
        chunksSent: model.get("chunks_sent"),
        stalls: engine.stalls,
        receivedS: engine.receivedS,
        contextState: engine.ctx ? engine.ctx.state : "none",
        stateAtLastChunk: engine.stats.length ? engine.stats.at(-1).state : null,
        firstStartCtx: engine.segments.length ? engine.segments[0].ctxStart : null,
        handlingMedianMs: median(handling),
        handlingMaxMs: handling.length ? Math.max(...handling) : null,
        firstLeadMs: engine.stats.length ? engine.stats[0].leadMs : null,
        kernelMedianMs: median(engine.stats.map((s) => s.kernelMs)),
        transportMedianMs: median(engine.stats.map((s) => s.transportMs)),
        stats: engine.stats,
      };
    },
  };

  function onChunk(msg, buffers) {
    const receivedMs = performance.now();
    const view = buffers[0];
    // Copy: the buffer's byte offset need not be a multiple of 4.
    const samples = new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
    const ctx = engine.context();
    const buffer = ctx.createBuffer(1, Math.max(samples.length, 1), msg.sample_rate);
    buffer.copyToChannel(samples, 0);
    const source = ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(ctx.destination);
    // A suspended context's clock stands still, so chunks queue from its frozen time and
    // play from the beginning once sound is enabled.
    const now = ctx.currentTime;
    if (engine.nextTime === null) {
      engine.nextTime = now + LEAD_S;
    } else if (engine.nextTime < now) {
      engine.stalls += 1;
      engine.nextTime = now + LEAD_S;
    }
    const start = engine.nextTime;
    source.start(start);
    const scheduledMs = performance.now();
    engine.nextTime += buffer.duration;
    engine.segments.push({ ctxStart: start, audioStart: msg.audio_start_s, duration: buffer.duration });
    engine.receivedS += samples.length / msg.sample_rate;
    engine.ttfbS ??= msg.arrival_s;
    engine.stats.push({
      seq: msg.seq,
      handlingMs: scheduledMs - receivedMs,
      leadMs: (start - now) * 1000,
      kernelMs: msg.kernel_ms,
      // Wall clocks of kernel and browser: meaningful only when both run on one host.
      transportMs: Date.now() - msg.sent_epoch_ms,
      state: ctx.state,
      audioStartS: msg.audio_start_s,
      ctxNow: now,
      ctxStart: start,
    });
    engine.changed();
  }

  function onEnd() {
    engine.ended = true;
    const report = engine.snapshot();
    model.set("frontend", {
      chunks_received: report.chunksReceived,
      stalls: report.stalls,
      context_state: report.contextState,
      handling_median_ms: report.handlingMedianMs,
      handling_max_ms: report.handlingMaxMs,
      first_lead_ms: report.firstLeadMs,
    });
    model.save_changes();
    engine.changed();
  }

  // Open the context before the first chunk arrives, so that its start-up (which can take
  // tens of milliseconds) is not on that chunk's path.
  if (model.get("status") === "streaming") engine.context();
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type === "chunk") onChunk(msg, buffers);
    else if (msg.type === "words") {
      engine.words.push(...msg.words);
      engine.changed();
    } else if (msg.type === "end") onEnd();
  });
  for (const name of ["status", "wav", "words"]) model.on(`change:${name}`, () => engine.changed());
  registry().players.push(engine);
  return engine;
}

// One engine per model; `initialize` and `render` receive different proxies of it, so
// models are told apart by a key the kernel sets.
const engines = new Map();

function engineFor(model) {
  const key = model.get("_key");
  if (!engines.has(key)) engines.set(key, createEngine(model));
  return engines.get(key);
}

function fmtS(seconds) {
  return `${seconds.toFixed(2)} s`;
}

function render({ model, el }) {
  const engine = engineFor(model);
  el.classList.add("ttskit-player");
  el.innerHTML = `
    <div class="ttskit-head">
      <span class="ttskit-title"></span>
      <button class="ttskit-enable" hidden>Click to enable sound</button>
    </div>
    <div class="ttskit-stats"></div>
    <div class="ttskit-words"></div>
    <div class="ttskit-replay" hidden>
      <audio controls preload="auto"></audio>
      <a class="ttskit-save" download="speech.wav">Save WAV</a>
    </div>
    <div class="ttskit-error"></div>`;
  const $ = (selector) => el.querySelector(selector);
  const audio = $("audio");
  const enable = $(".ttskit-enable");
  enable.addEventListener("click", () => engine.context().resume());

  let wordSpans = [];
  let shownWords = 0;
  let wavUrl = null;
  let wavSource = null;

  function wordList() {
    const final = model.get("words");
    return final.length ? final : engine.words;
  }

  function syncWords() {
    const words = wordList();
    if (words.length === shownWords) return;
    const box = $(".ttskit-words");
    box.replaceChildren();
    wordSpans = words.map((w) => {
      const span = document.createElement("span");
      span.className = "ttskit-word";
      span.textContent = w.word;
      span.title = `${w.start.toFixed(2)}-${w.end.toFixed(2)} s`;
      span.addEventListener("click", () => {
        if (audio.src) {
          audio.currentTime = w.start;
          audio.play();
        }
      });
      box.append(span, " ");
      return span;
    });
    shownWords = words.length;
  }

  function syncReplay() {
    const wav = model.get("wav");
    if (!wav || !wav.byteLength || wav === wavSource) return;
    if (wavUrl) URL.revokeObjectURL(wavUrl);
    wavSource = wav;
    wavUrl = URL.createObjectURL(new Blob([wav], { type: "audio/wav" }));
    audio.src = wavUrl;
    $(".ttskit-save").href = wavUrl;
    $(".ttskit-replay").hidden = false;
  }

  function update() {
    const status = model.get("status");
    const voice = model.get("voice");
    $(".ttskit-title").textContent = voice ? `Player: ${voice}` : "Player";
    const ctx = engine.ctx;
    enable.hidden = !(ctx && ctx.state === "suspended");
    const ttfb = engine.ttfbS ?? model.get("ttfb_s");
    const received = engine.stats.length ? engine.receivedS : model.get("received_s");
    const parts = [
      ttfb === null ? "TTFB -" : `TTFB ${(ttfb * 1000).toFixed(0)} ms`,
      `${fmtS(received)} received`,
      `${fmtS(engine.position())} played`,
      `${engine.stalls} stall${engine.stalls === 1 ? "" : "s"}`,
      status,
    ];
    $(".ttskit-stats").textContent = parts.join(" · ");
    $(".ttskit-error").textContent = model.get("error");
    el.dataset.status = status;
    el.dataset.chunksReceived = String(engine.stats.length);
    el.dataset.contextState = ctx ? ctx.state : "none";
    syncWords();
    syncReplay();
  }

  // Highlight by the replay element while it plays, else by the live context clock.
  let frame = 0;
  function tick() {
    const position = audio.src && !audio.paused ? audio.currentTime : engine.position();
    const words = wordList();
    wordSpans.forEach((span, i) => {
      const w = words[i];
      span.classList.toggle("ttskit-active", !!w && position >= w.start && position < w.end);
    });
    const ctx = engine.ctx;
    if (ctx && ctx.state === "running" && engine.nextTime !== null && ctx.currentTime < engine.nextTime + 0.1) update();
    frame = requestAnimationFrame(tick);
  }

  engine.listeners.add(update);
  update();
  frame = requestAnimationFrame(tick);
  return () => {
    cancelAnimationFrame(frame);
    engine.listeners.delete(update);
    if (wavUrl) URL.revokeObjectURL(wavUrl);
  };
}

export default {
  initialize({ model }) {
    const engine = engineFor(model);
    // Called when the widget is closed: release the audio device.
    return () => {
      engines.delete(model.get("_key"));
      if (engine.ctx) engine.ctx.close();
    };
  },
  render,
};
