// The studio page. Everything the server or the flow says is shown with textContent (never
// innerHTML); the diagram is Mermaid's SVG (securityLevel "strict"), parsed as XML and
// stripped of anything executable before it is put in the page.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  path: null,        // the open flow, relative to the folder
  version: null,     // the version it was opened (or last saved) at
  saved: "",         // the text on disk at that version
  editor: null,
  keepDraft: false,  // an older draft waits for the designer's choice
  checkSeq: 0,
  diagramSeq: 0,
};
const DRAFTS = "studio.draft:";

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

async function api(method, url, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    const error = "the studio is not reachable: is `orchestrator studio` still running?";
    return { status: 0, ok: false, data: { error } };
  }
  let data = {};
  try { data = await response.json(); } catch { /* an empty or non-JSON answer */ }
  return { status: response.status, ok: response.ok, data };
}

function setStatus(text) { $("status").textContent = text; }

function banner(text, actions, isError) {
  const box = $("banner");
  $("banner-text").textContent = text;
  const slot = $("banner-actions");
  slot.replaceChildren();
  for (const [label, act] of actions) {
    const button = el("button", label);
    button.type = "button";
    button.addEventListener("click", act);
    slot.append(button);
  }
  box.classList.toggle("error", Boolean(isError));
  box.hidden = false;
}
function hideBanner() { $("banner").hidden = true; }

function text() { return state.editor ? StudioEditor.getText(state.editor) : ""; }
function dirty() { return state.path !== null && text() !== state.saved; }

function refreshDirty() {
  const isDirty = dirty();
  $("save").disabled = state.path === null || !isDirty;
  setStatus(state.path === null ? "" : isDirty ? "unsaved changes" : "saved");
  if (state.path !== null) {
    if (isDirty) localStorage.setItem(DRAFTS + state.path, text());
    else if (!state.keepDraft) localStorage.removeItem(DRAFTS + state.path);
    markDrafts();
  }
}

function markDrafts() {
  for (const button of $("flows").querySelectorAll("button")) {
    button.classList.toggle("draft", localStorage.getItem(DRAFTS + button.dataset.path) !== null);
  }
}

async function loadFlows() {
  const { ok, data } = await api("GET", "/api/flows");
  if (!ok) { banner(data.error || "cannot list the flows", [], true); return; }
  $("folder").textContent = data.folder;
  const list = $("flows");
  list.replaceChildren();
  for (const name of data.flows) {
    const button = el("button", name);
    button.type = "button";
    button.dataset.path = name;
    button.addEventListener("click", () => openFlow(name));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
  $("flows-empty").hidden = data.flows.length > 0;
  markDrafts();
}

async function openFlow(name) {
  const { ok, data } = await api("GET", "/api/flow?path=" + encodeURIComponent(name));
  if (!ok) { banner(data.error || "cannot open " + name, [], true); return; }
  hideBanner();
  state.path = data.path;
  state.version = data.version;
  state.saved = data.text;
  $("flow-title").textContent = data.path;
  for (const button of $("flows").querySelectorAll("button")) {
    button.setAttribute("aria-current", String(button.dataset.path === data.path));
  }
  const draft = localStorage.getItem(DRAFTS + data.path);
  state.keepDraft = draft !== null && draft !== data.text; // until the designer chooses
  if (state.editor === null) {
    state.editor = StudioEditor.createEditor($("editor"), data.text, onEdit);
  } else {
    StudioEditor.setText(state.editor, data.text);
  }
  if (draft !== null && draft !== data.text) {
    banner("You have unsaved changes to this flow from before.", [
      ["Restore my changes", () => { state.keepDraft = false; StudioEditor.setText(state.editor, draft); hideBanner(); }],
      ["Discard them", () => { state.keepDraft = false; localStorage.removeItem(DRAFTS + data.path); markDrafts(); hideBanner(); }],
    ]);
  }
  refreshDirty();
  check();
  loadScenarios();
}

let checkTimer = null;
function onEdit() {
  refreshDirty();
  $("diagram").classList.add("stale");
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, 300);
}

async function check() {
  if (state.path === null) return;
  const seq = ++state.checkSeq;
  const { ok, data } = await api("POST", "/api/validate", { path: state.path, text: text() });
  if (seq !== state.checkSeq) return; // the designer typed on; a newer answer is coming
  if (!ok) { showProblems([{ line: 1, column: 1, message: data.error || "cannot check" }]); return; }
  showProblems(data.problems);
  if (data.valid && data.diagram) drawDiagram(data.diagram);
  else $("diagram-state").textContent = data.valid ? "" : "(last valid version)";
}

function showProblems(problems) {
  StudioEditor.setProblems(state.editor, problems);
  const list = $("problems");
  list.replaceChildren();
  $("problem-count").textContent = problems.length ? String(problems.length) : "";
  if (problems.length === 0) {
    list.append(el("li", "No problems.", "ok"));
    return;
  }
  for (const p of problems) {
    const button = el("button", `${p.line}:${p.column}: ${p.message}`);
    button.type = "button";
    button.dataset.line = String(p.line);
    button.addEventListener("click", () => StudioEditor.goToLine(state.editor, p.line));
    const item = el("li");
    item.append(button);
    list.append(item);
  }
}

// Mermaid's SVG (its labels already sanitized by Mermaid's "strict" level, the flow's texts
// escaped by the server as Mermaid entities), parsed into an inert document (nothing runs or
// loads there), and stripped again of anything that could run or load before it enters the
// page.
const UNSAFE = "script, iframe, object, embed, link, meta, base, form, audio, video, img, image";
function safeSvg(source) {
  const doc = new DOMParser().parseFromString(source, "text/html");
  const root = doc.body.firstElementChild;
  if (root === null || root.nodeName.toLowerCase() !== "svg") return null;
  for (const node of root.querySelectorAll(UNSAFE)) node.remove();
  for (const node of [root, ...root.querySelectorAll("*")]) {
    for (const attr of [...node.attributes]) {
      const name = attr.name.toLowerCase();
      const value = attr.value.trim().toLowerCase();
      const link = name === "href" || name.endsWith(":href") || name === "src";
      if (name.startsWith("on") || (link && !value.startsWith("#"))) node.removeAttribute(attr.name);
    }
  }
  return document.importNode(root, true);
}

async function drawDiagram(source) {
  const seq = ++state.diagramSeq;
  try {
    const { svg } = await mermaid.render("diagram-svg-" + seq, source);
    if (seq !== state.diagramSeq) return;
    const node = safeSvg(svg);
    if (node === null) throw new Error("not an SVG");
    // Actual size by default (readable, scrolled); a click fits it to the panel.
    const width = node.viewBox && node.viewBox.baseVal ? node.viewBox.baseVal.width : 0;
    if (width > 0) node.setAttribute("width", String(Math.ceil(width)));
    $("diagram").replaceChildren(node);
    $("diagram").classList.remove("stale");
    $("diagram-state").textContent = "";
  } catch (error) {
    if (seq !== state.diagramSeq) return;
    $("diagram-state").textContent = "(cannot draw: " + String(error && error.message || error) + ")";
  }
}

async function save(force) {
  if (state.path === null) return;
  const body = { path: state.path, text: text(), version: state.version };
  if (force) {
    const now = await api("GET", "/api/flow?path=" + encodeURIComponent(state.path));
    body.version = now.ok ? now.data.version : null;
  }
  $("save").disabled = true;
  setStatus("saving…");
  const { status, ok, data } = await api("POST", "/api/save", body);
  if (ok) {
    state.version = data.version;
    state.saved = body.text;
    hideBanner();
    refreshDirty();
    loadScenarios();
    return;
  }
  refreshDirty(); // the text stays in the editor, and in the draft
  if (status === 409) {
    banner("This flow changed on disk since you opened it. Your text is still here.", [
      ["Overwrite the file with my text", () => save(true)],
      ["Reload from disk (keep mine to restore)", reloadFromDisk],
    ], true);
  } else {
    banner("Not saved: " + (data.error || "error " + status), [], true);
  }
}

async function reloadFromDisk() {
  const mine = text();
  await openFlow(state.path);
  if (mine !== state.saved) {
    banner("Reloaded from disk.", [
      ["Restore my text", () => { StudioEditor.setText(state.editor, mine); hideBanner(); }],
    ]);
  }
}

async function loadScenarios() {
  const list = $("scenarios");
  list.replaceChildren();
  $("timeline").textContent = "";
  $("timeline-title").hidden = true;
  $("scenarios-note").textContent = "";
  $("run").disabled = true;
  if (state.path === null) return;
  const { ok, data } = await api("GET", "/api/scenarios?path=" + encodeURIComponent(state.path));
  if (!ok) {
    $("scenarios-note").textContent = data.error || "cannot list scenarios";
    return;
  }
  if (data.scenarios.length === 0) {
    $("scenarios-note").textContent = "No scenario names this flow yet.";
    return;
  }
  for (const s of data.scenarios) list.append(scenarioItem(s.path, s.name || s.path, s.error));
  $("run").disabled = !data.scenarios.some((s) => !s.error);
}

function scenarioItem(path, name, error) {
  const item = el("li");
  item.dataset.path = path;
  const badge = el("span", error ? "ERROR" : "—", "badge" + (error ? " fail" : ""));
  const title = el("span", name, "name");
  const show = el("button", "Timeline");
  show.type = "button";
  show.disabled = Boolean(error);
  show.addEventListener("click", () => timeline(path));
  item.append(badge, title, " ", show);
  if (error) item.append(el("div", error, "failure"));
  return item;
}

async function runScenarios() {
  const items = [...$("scenarios").querySelectorAll("li")].filter((li) => !li.querySelector(".failure"));
  if (items.length === 0) return;
  $("run").disabled = true;
  $("scenarios-note").textContent = dirty() ? "Running the saved version (you have unsaved changes)…" : "Running…";
  const request = { scenarios: items.map((li) => li.dataset.path), flow: state.path };
  const { ok, data } = await api("POST", "/api/run", request);
  $("run").disabled = false;
  if (!ok) { $("scenarios-note").textContent = data.error || "cannot run"; return; }
  const passed = data.results.filter((r) => r.passed).length;
  let note = `${passed} of ${data.results.length} passed.`;
  const missed = data.unreached;
  if (missed && missed.steps.length + missed.outcomes.length === 0) {
    note += " Every step and outcome reached.";
  } else if (missed) {
    if (missed.steps.length) note += ` Steps no scenario reached: ${missed.steps.join(", ")}.`;
    if (missed.outcomes.length) note += ` Outcomes no scenario reached: ${missed.outcomes.join(", ")}.`;
  }
  $("scenarios-note").textContent = note;
  for (const result of data.results) {
    const item = items.find((li) => li.dataset.path === result.path);
    if (!item) continue;
    const badge = item.querySelector(".badge");
    badge.textContent = result.passed ? "PASS" : "FAIL";
    badge.className = "badge " + (result.passed ? "pass" : "fail");
    for (const old of item.querySelectorAll(".failure")) old.remove();
    for (const failure of result.failures) item.append(el("div", failure, "failure"));
    item.timeline = result.timeline;
  }
}

async function timeline(path) {
  const item = [...$("scenarios").querySelectorAll("li")].find((li) => li.dataset.path === path);
  let lines = item && item.timeline;
  $("timeline-title").hidden = false;
  $("timeline-title").textContent = "Timeline: " + path;
  if (!lines) {
    $("timeline").textContent = "Running…";
    const { ok, data } = await api("POST", "/api/timeline", { scenario: path });
    if (!ok) { $("timeline").textContent = data.error || "cannot run"; return; }
    lines = data.timeline;
    if (item) item.timeline = lines;
  }
  $("timeline").textContent = lines.join("\n");
  $("timeline-title").scrollIntoView({ block: "start" });
}

window.addEventListener("beforeunload", (event) => {
  if (dirty()) event.preventDefault(); // the draft is kept too; this is a second net
});
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "s") { event.preventDefault(); if (dirty()) save(false); }
});

window.addEventListener("DOMContentLoaded", () => {
  mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",
    suppressErrorRendering: true,
  });
  $("save").addEventListener("click", () => save(false));
  $("run").addEventListener("click", runScenarios);
  $("diagram").addEventListener("click", () => $("diagram").classList.toggle("fit"));
  loadFlows().then(() => {
    const wanted = new URLSearchParams(location.search).get("flow");
    if (wanted) openFlow(wanted);
  });
});
