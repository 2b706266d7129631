// A web page of another origin cannot make a local ttskit server speak; its own pages can.
//
// Starts `ttskit serve` (eSpeak, no key) and a one-page site on another port, then, in
// headless Chromium, sends from that page what any web site could: a text/plain POST (no
// preflight), a JSON POST, and a WebSocket. The server must refuse each (its access log
// says 403 or 415) and the WebSocket must never see session.created. The same requests
// from a page of the server's own origin are served.

import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const venv = process.env.TTSKIT_VENV || path.join(repo, ".venv");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

let checksPassed = 0;
let checksFailed = 0;

function check(condition, message, details) {
  if (condition) {
    checksPassed += 1;
    console.log(`[origin-test] ok: ${message}`);
  } else {
    checksFailed += 1;
    console.log(`[origin-test] FAILED: ${message}`, details ?? "");
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(url, process, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (process.exitCode !== null) throw new Error(`ttskit serve exited with ${process.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

// What the page tries; returns what it could observe.
async function attack(serverUrl) {
  const body = JSON.stringify({ model: "espeak", voice: "en-us", input: "Hello from a page." });
  const results = {};
  for (const [name, contentType] of [["textPlain", "text/plain"], ["json", "application/json"]]) {
    try {
      const response = await fetch(`${serverUrl}/v1/audio/speech`, {
        method: "POST",
        headers: { "Content-Type": contentType },
        body,
      });
      results[name] = { status: response.status, bytes: (await response.arrayBuffer()).byteLength };
    } catch (error) {
      results[name] = { error: String(error) };
    }
  }
  results.websocket = await new Promise((resolve) => {
    const socket = new WebSocket(`${serverUrl.replace("http", "ws")}/v1/audio/speech/websocket`);
    const messages = [];
    let opened = false;
    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (event) => {
      messages.push(JSON.parse(event.data).type);
      socket.close();
    };
    socket.onclose = () => resolve({ opened, messages });
  });
  return results;
}

const port = await freePort();
const serverUrl = `http://127.0.0.1:${port}`;
const server = spawn(
  path.join(venv, "bin", "python"),
  ["-m", "ttskit.cli", "serve", "--engine", "espeak", "--workers", "1", "--port", String(port)],
  { env: { ...process.env, PYTHONPATH: repo }, stdio: ["ignore", "pipe", "pipe"] },
);
let serverLog = "";
server.stdout.on("data", (chunk) => (serverLog += chunk));
server.stderr.on("data", (chunk) => (serverLog += chunk));

const pagePort = await freePort();
const site = http.createServer((request, response) => {
  response.writeHead(200, { "Content-Type": "text/html" });
  response.end("<!doctype html><title>another site</title><p>Nothing to see.</p>");
});
await new Promise((resolve) => site.listen(pagePort, "127.0.0.1", resolve));

let browser;
try {
  await waitFor(`${serverUrl}/health`, server, 60_000);
  browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  const page = await browser.newPage();

  await page.goto(`http://127.0.0.1:${pagePort}/`);
  const foreign = await page.evaluate(attack, serverUrl);
  console.log("[origin-test] from another origin:", JSON.stringify(foreign));
  check(foreign.textPlain.error !== undefined, "the text/plain POST gives the page nothing", foreign.textPlain);
  check(foreign.json.error !== undefined, "the JSON POST (preflighted) gives the page nothing", foreign.json);
  check(!foreign.websocket.messages.includes("session.created"), "the WebSocket gets no session", foreign.websocket);

  await page.goto(`${serverUrl}/docs`);
  const own = await page.evaluate(attack, serverUrl);
  console.log("[origin-test] from the server's own origin:", JSON.stringify(own));
  check(own.json.status === 200 && own.json.bytes > 1000, "a JSON POST from its own page gets audio", own.json);
  check(own.textPlain.status === 415, "a text/plain POST from its own page gets 415", own.textPlain);
  check(own.websocket.messages[0] === "session.created", "a WebSocket from its own page gets a session", own.websocket);
} finally {
  if (browser) await browser.close();
  site.close();
  server.kill("SIGINT");
  await new Promise((resolve) => server.on("exit", resolve));
}

// The server's own account of the foreign requests: refused before any synthesis.
const foreignLines = serverLog.split("\n").filter((line) => line.includes("/v1/audio/speech"));
check(
  foreignLines.some((line) => /POST \/v1\/audio\/speech HTTP\/1.1" 403/.test(line)),
  "the server answered the foreign text/plain POST with 403",
  foreignLines,
);
check(
  foreignLines.some((line) => /WebSocket \/v1\/audio\/speech\/websocket" 403/.test(line)),
  "the server refused the foreign WebSocket with 403",
  foreignLines,
);
console.log(`[origin-test] ${checksPassed} passed, ${checksFailed} failed`);
process.exit(checksFailed ? 1 : 0);
