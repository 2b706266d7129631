// The demo's report and a bench report read well at 1280 px in headless Chromium.
//
// Runs `ttskit demo` into a temporary folder, writes `ttskit bench report` of its
// latency.parquet, then opens both pages at 1280 px and checks what a reader would
// notice: the page body does not scroll sideways, every image loaded, every audio
// element loads its file and plays, and no script error or failed request. Full-page
// screenshots land in tests/browser/artifacts/.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const venv = process.env.TTSKIT_VENV || path.join(repo, ".venv");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const artifacts = path.join(here, "artifacts");

let checksPassed = 0;
let checksFailed = 0;

function check(condition, message, details) {
  if (condition) {
    checksPassed += 1;
    console.log(`[report-test] ok: ${message}`);
  } else {
    checksFailed += 1;
    console.log(`[report-test] FAILED: ${message}`, details ?? "");
  }
}

function ttskit(args, cwd) {
  const python = path.join(venv, "bin", "python");
  const result = spawnSync(python, ["-m", "ttskit.cli", ...args], {
    cwd,
    encoding: "utf-8",
    env: { ...process.env, PYTHONPATH: repo },
    timeout: 300_000,
  });
  if (result.status !== 0) {
    throw new Error(`ttskit ${args.join(" ")} exited with ${result.status}: ${result.stderr}`);
  }
  return result.stdout;
}

// What a reader would notice on one page, measured in the page.
async function inspect(page) {
  return page.evaluate(async () => {
    const root = document.documentElement;
    const images = [...document.images].map((img) => ({
      alt: img.alt,
      loaded: img.complete && img.naturalWidth > 0,
      right: img.getBoundingClientRect().right,
    }));
    const audios = await Promise.all(
      [...document.querySelectorAll("audio")].map(async (audio, index) => {
        if (audio.readyState < 1 && !audio.error) {
          audio.preload = "auto";
          audio.load();
          await new Promise((resolve) => {
            audio.addEventListener("loadedmetadata", resolve, { once: true });
            audio.addEventListener("error", resolve, { once: true });
            setTimeout(resolve, 10000);
          });
        }
        let played = false;
        let reason = null;
        if (!audio.error) {
          audio.muted = true;
          try {
            await audio.play();
            await new Promise((resolve) => setTimeout(resolve, 150));
            played = !audio.paused || audio.ended;
            audio.pause();
          } catch (exc) {
            reason = String(exc);
          }
        }
        return {
          index,
          src: (audio.currentSrc || audio.src).slice(0, 60),
          duration: audio.duration,
          error: audio.error ? audio.error.code : null,
          played,
          reason,
        };
      }),
    );
    const cut = [...document.querySelectorAll(".table-wrap")]
      .filter((wrap) => !wrap.closest("details:not([open])"))
      .filter((wrap) => wrap.scrollWidth > wrap.clientWidth)
      .map((wrap) => wrap.querySelector("tr")?.textContent.slice(0, 80));
    return {
      cut,
      scrollWidth: Math.max(root.scrollWidth, document.body.scrollWidth),
      clientWidth: root.clientWidth,
      images,
      audios,
      findings: document.querySelectorAll("ul.findings li").length,
      details: document.querySelectorAll("details").length,
      runList: document.querySelectorAll(".run dl dt").length,
    };
  });
}

async function checkPage(browser, url, name, expect) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("pageerror", (exc) => errors.push(`pageerror: ${exc.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`console: ${msg.text()}`);
  });
  page.on("requestfailed", (request) => {
    // A media element cancels its own preload request when it reloads or seeks to play;
    // whether the file played is checked on the element itself.
    const aborted = request.failure()?.errorText === "net::ERR_ABORTED";
    if (!(aborted && request.resourceType() === "media")) {
      errors.push(`requestfailed: ${request.url()} ${request.failure()?.errorText}`);
    }
  });
  await page.goto(url, { waitUntil: "load" });
  const seen = await inspect(page);
  check(
    seen.scrollWidth <= seen.clientWidth,
    `${name}: the page body does not scroll sideways at 1280 px`,
    seen,
  );
  check(seen.cut.length === 0, `${name}: every table shown fits the page`, seen.cut);
  check(seen.images.length >= expect.images, `${name}: has at least ${expect.images} images`, seen.images);
  const broken = seen.images.filter((img) => !img.loaded);
  check(broken.length === 0, `${name}: every image loaded (${seen.images.length})`, broken);
  const tooWide = seen.images.filter((img) => img.right > seen.clientWidth);
  check(tooWide.length === 0, `${name}: every image fits the page`, tooWide);
  check(seen.audios.length >= expect.audios, `${name}: has at least ${expect.audios} audio players`);
  const silent = seen.audios.filter((a) => a.error !== null || !(a.duration > 0) || !a.played);
  check(silent.length === 0, `${name}: every audio element loads and plays (${seen.audios.length})`, silent);
  check(seen.findings > 0, `${name}: findings come first`);
  check(seen.details > 0, `${name}: the rest of the table sits behind a <details>`);
  check(seen.runList > 0, `${name}: the run's metadata is a definition list`);
  check(errors.length === 0, `${name}: no script error or failed request`, errors);
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
  await page.close();
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "ttskit-report-test-"));
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
  });
  try {
    const out = path.join(work, "demo-output");
    console.log(ttskit(["demo", "--output", out], work));
    const benchPage = path.join(work, "bench-report.html");
    ttskit(["bench", "report", path.join(out, "latency.parquet"), "--output", benchPage], work);
    await checkPage(browser, pathToFileURL(path.join(out, "report.html")).href, "demo-report", {
      images: 4,
      audios: 2,
    });
    await checkPage(browser, pathToFileURL(benchPage).href, "bench-report", {
      images: 3,
      audios: 0,
    });
  } finally {
    await browser.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(`[report-test] ${checksPassed} passed, ${checksFailed} failed`);
  process.exit(checksFailed ? 1 : 0);
}

main().catch((exc) => {
  console.error(exc);
  process.exit(1);
});
