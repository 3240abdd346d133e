// The Sofer page: one form, the JSON task routes, streamed output. No build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { file: null, abort: null };

function headers() {
  const h = { "content-type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h.authorization = "Bearer " + key;
  return h;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", !!isError);
}

function errorText(body, status) {
  const e = body && body.error;
  if (!e) return "HTTP " + status;
  const field = e.details && e.details[0] && e.details[0].fieldViolations
    && e.details[0].fieldViolations[0] && e.details[0].fieldViolations[0].field;
  return (field ? field + ": " : "") + e.message + " (HTTP " + status + ")";
}

async function loadModel() {
  try {
    const r = await fetch("/v1/model", { headers: headers() });
    const body = await r.json();
    if (r.ok) {
      $("model").textContent = body.fileName + " · " + body.architecture + " · " + body.quantization;
    } else if (r.status === 401) {
      $("model").textContent = "This server needs an API key (Sampling and access).";
    } else {
      $("model").textContent = errorText(body, r.status);
    }
  } catch (e) {
    $("model").textContent = String(e);
  }
}

// Paragraphs of text, each its own direction: Hebrew right-to-left, English left-to-right.
function renderText(container, text) {
  container.replaceChildren();
  for (const para of text.split(/\n{2,}|\n/)) {
    if (!para.trim()) continue;
    const p = document.createElement("p");
    p.dir = "auto";
    p.textContent = para;
    container.append(p);
  }
}

function mediaType(file) {
  if (file.type) return file.type;
  const ext = file.name.split(".").pop().toLowerCase();
  return {
    docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    pdf: "application/pdf", html: "text/html", htm: "text/html", txt: "text/plain", md: "text/plain",
  }[ext] || "application/octet-stream";
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

async function takeFile(file) {
  state.file = { name: file.name, mediaType: mediaType(file), content: toBase64(await file.arrayBuffer()) };
  $("file-name").textContent = file.name + " (" + file.size + " bytes)";
  $("clear-file").hidden = false;
}

function clearFile() {
  state.file = null;
  $("file").value = "";
  $("file-name").textContent = "Drop a file here, or choose one · גררו קובץ לכאן";
  $("clear-file").hidden = true;
}

function selectedTask() {
  return document.querySelector("input[name=task]:checked").value;
}

function showOptions() {
  const task = selectedTask();
  for (const div of document.querySelectorAll(".options")) div.hidden = div.dataset.task !== task;
}

function documentFields() {
  const body = {};
  if (state.file) {
    body.content = state.file.content;
    body.mediaType = state.file.mediaType;
  } else {
    body.text = $("text").value;
  }
  body.sampling = { seed: String($("seed").value || 0) };
  if ($("temperature").value !== "") body.sampling.temperature = Number($("temperature").value);
  if ($("max-tokens").value) body.sampling.maxTokens = Number($("max-tokens").value);
  return body;
}

function lines(id) {
  return $(id).value.split("\n").map((l) => l.trim()).filter(Boolean);
}

function requestOf(task) {
  const body = documentFields();
  if (task === "summarize") {
    body.length = $("length").value;
    body.style = $("style").value;
    body.outputLanguage = $("summary-language").value;
    return { url: "/v1/summarize:stream", body, stream: true };
  }
  if (task === "translate") {
    body.targetLanguage = $("target").value;
    body.glossary = lines("glossary").map((l) => {
      const [source, ...rest] = l.split("=");
      return { source: source.trim(), target: rest.join("=").trim() };
    });
    return { url: "/v1/translate:stream", body, stream: true };
  }
  body.labels = lines("labels").map((l) => {
    const at = l.indexOf(":");
    return at < 0 ? { name: l } : { name: l.slice(0, at).trim(), description: l.slice(at + 1).trim() };
  });
  body.method = $("method").value;
  if (body.method === "CLASSIFY_METHOD_VOTE") body.votes = Number($("votes").value || 5);
  return { url: "/v1/classify", body, stream: false };
}

// Reads server-sent events from a fetch response, calling `onEvent(name, data)` for each.
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}

function resetResult() {
  $("output").replaceChildren();
  $("tally").replaceChildren();
  $("tally").hidden = true;
  $("violations").replaceChildren();
  $("violations").hidden = true;
  $("usage").textContent = "";
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.removeAttribute("href");
  link.hidden = true;
}

function showUsage(usage) {
  if (!usage) return;
  $("usage").textContent = (usage.promptTokens || 0) + " prompt tokens · " + (usage.completionTokens || 0)
    + " generated · " + (usage.prefills || 0) + " prefills · " + (usage.durationMs || 0) + " ms";
}

function showTranslation(response) {
  renderText($("output"), response.translation || "");
  const violations = response.glossaryViolations || [];
  const paragraphs = $("output").querySelectorAll("p");
  for (const v of violations) {
    const li = document.createElement("li");
    li.dir = "auto";
    li.textContent = "segment " + (v.segment || 0) + ": “" + v.source + "” should be “" + v.target + "”";
    $("violations").append(li);
    const p = paragraphs[v.segment || 0];
    if (p) {
      p.classList.add("violation");
      const mark = document.createElement("mark");
      mark.textContent = " ⚠ " + v.target;
      p.append(mark);
    }
  }
  $("violations").hidden = violations.length === 0;
  if (response.content) {
    const bytes = Uint8Array.from(atob(response.content), (c) => c.charCodeAt(0));
    const link = $("download");
    // As bytes, not as HTML: a translated page must never render in this page's origin.
    link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    const stem = state.file ? state.file.name.replace(/\.[^.]+$/, "") : "document";
    link.download = stem + ".translated." + (response.mediaType === "text/html" ? "html" : "docx");
    link.hidden = false;
  }
}

function showClassification(response) {
  const bars = (response.probabilities && response.probabilities.length)
    ? response.probabilities.map((p) => ({ label: p.label, value: p.probability || 0, text: ((p.probability || 0) * 100).toFixed(1) + " %" }))
    : (response.tally || []).map((t) => ({ label: t.label, value: t.share || 0, text: (t.votes || 0) + " votes" }));
  const chosen = new Set(response.labels && response.labels.length ? response.labels : [response.label]);
  const chart = $("tally");
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", bars.map((b) => b.label + " " + b.text).join(", "));
  for (const b of bars) {
    const row = document.createElement("div");
    row.className = "bar" + (chosen.has(b.label) ? " winner" : "");
    const name = document.createElement("span");
    name.className = "name";
    name.dir = "auto";
    name.textContent = b.label;
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    fill.style.width = Math.max(0, Math.min(100, b.value * 100)).toFixed(1) + "%";
    track.append(fill);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = b.text;
    row.append(name, track, value);
    chart.append(row);
  }
  chart.hidden = bars.length === 0;
  renderText($("output"), response.label ? "→ " + [...chosen].join(", ") : "(no label)");
}

async function run(event) {
  event.preventDefault();
  const task = selectedTask();
  const request = requestOf(task);
  resetResult();
  state.abort = new AbortController();
  $("run").disabled = true;
  $("stop").disabled = false;
  setStatus("Running " + task + "…");
  try {
    const response = await fetch(request.url, {
      method: "POST", headers: headers(), body: JSON.stringify(request.body), signal: state.abort.signal,
    });
    if (!response.ok) {
      setStatus(errorText(await response.json().catch(() => null), response.status), true);
      return;
    }
    if (!request.stream) {
      const body = await response.json();
      showClassification(body);
      showUsage(body.usage);
      setStatus("Done · הסתיים");
      return;
    }
    let text = "";
    let failed = false;
    await readEvents(response, (name, data) => {
      if (name === "error") {
        failed = true;
        setStatus(errorText(data, data.error && data.error.code), true);
      } else if (data.progress) {
        const bar = $("progress");
        bar.hidden = false;
        bar.max = data.progress.total || 1;
        bar.value = data.progress.done || 0;
        setStatus((data.progress.step || "") + " " + (data.progress.done || 0) + "/" + (data.progress.total || 0));
      } else if (data.textDelta !== undefined) {
        text += data.textDelta;
        renderText($("output"), text);
      } else if (data.response) {
        if (task === "translate") showTranslation(data.response);
        else renderText($("output"), data.response.summary || text);
        showUsage(data.response.usage);
      }
    });
    if (!failed) setStatus("Done · הסתיים");
  } catch (e) {
    setStatus(e.name === "AbortError" ? "Stopped · נעצר" : String(e), e.name !== "AbortError");
  } finally {
    $("progress").hidden = true;
    $("run").disabled = false;
    $("stop").disabled = true;
    state.abort = null;
  }
}

function init() {
  $("task").addEventListener("submit", run);
  $("stop").addEventListener("click", () => state.abort && state.abort.abort());
  for (const radio of document.querySelectorAll("input[name=task]")) radio.addEventListener("change", showOptions);
  $("file").addEventListener("change", () => $("file").files[0] && takeFile($("file").files[0]));
  $("clear-file").addEventListener("click", clearFile);
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) takeFile(e.dataTransfer.files[0]);
  });
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
  });
  $("api-key").addEventListener("change", loadModel);
  showOptions();
  loadModel();
}

init();
