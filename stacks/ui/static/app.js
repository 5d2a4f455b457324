// The self-service page: plain DOM, no framework, no build step, nothing loaded from elsewhere.
// Every value from the server is inserted as text (textContent), never as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="csrf-token"]').content;
const FIELDS = ["name", "model", "team", "cluster", "precision", "source", "hfToken", "contextLength", "concurrency", "replicas"];
const IMPORTED_PREFIX = "imported:";
const SVG = "http://www.w3.org/2000/svg";
let STATE = null;
let CATALOG = [];
// Models given by params: uploaded config.json files (this page session) and the stack's own params-models.
// key -> {key, source, params, from}
const IMPORTED = new Map();
let FIT = null;
let SELECTED = null;
let PROPOSAL = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  return node;
}

function badge(text, kind) { return el("span", { class: `badge ${kind}` }, text); }
function usd(value) { return value === null || value === undefined ? "unpriced" : Math.round(value).toLocaleString("en-US"); }
function fill(tbody, rows) { tbody.replaceChildren(...rows); }

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": TOKEN },
    body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json();
  if (!response.ok) { const error = new Error(data.error || response.statusText); error.data = data; error.status = response.status; throw error; }
  return data;
}

// --- the stack at a glance ----------------------------------------------------------------------
function renderState(state) {
  STATE = state;
  const cost = state.cost;
  const policy = state.policy;
  const advisory = policy.violations.length - policy.mandatory;
  document.getElementById("cards").replaceChildren(
    el("div", { class: "card" }, "environment", el("b", {}, state.environment)),
    el("div", { class: "card" }, "resources", el("b", {}, state.resources)),
    el("div", { class: "card", id: "card-cost" }, "USD/month with models", el("b", {}, usd(cost.expectedMonthlyUsd)),
      el("span", { class: "muted" }, `baseline ${usd(cost.monthlyUsd)}, max ${usd(cost.maxMonthlyUsd)}` + (cost.budgetMonthlyUsd ? `, budget ${usd(cost.budgetMonthlyUsd)}` : ""))),
    el("div", { class: "card", id: "card-policy" }, `policy (${policy.rules} rules)`,
      el("b", {}, policy.mandatory ? `${policy.mandatory} mandatory` : "passes"), el("span", { class: "muted" }, `${advisory} advisory`)),
  );
  const poolRows = [];
  for (const cluster of state.clusters) {
    for (const pool of cluster.pools) {
      for (const slot of pool.slots) {
        poolRows.push(el("tr", {},
          el("td", {}, `${cluster.id} (${cluster.location}, ${cluster.kubernetesVersion}, ${cluster.tier})`),
          el("td", {}, pool.group),
          el("td", {}, badge(`${slot.colour}${slot.active ? " active" : " standby"}`, `${slot.colour}${slot.active ? "" : " standby"}`)),
          el("td", {}, slot.vmSize + (slot.spot ? " (spot)" : "")), el("td", {}, slot.gpus),
          el("td", {}, `${slot.minCount}-${slot.maxCount}`), el("td", {}, slot.migProfile || "")));
      }
    }
  }
  fill(document.querySelector("#pools-table tbody"), poolRows);
  fill(document.querySelector("#teams-table tbody"), state.teams.map((team) => el("tr", {},
    el("td", {}, team.name),
    el("td", {}, Object.entries(team.profiles).map(([p, n]) => `${p}: ${n}`).join(", ") || "(none)"),
    el("td", {}, team.mtls ? "yes" : "no"))));
  fill(document.querySelector("#models-table tbody"), state.models.map((m) => el("tr", {},
    el("td", {}, m.model), el("td", {}, m.team),
    el("td", {}, m.catalogModel === "custom" ? badge("imported", "imported") : m.catalogModel, m.catalogModel === "custom" ? " params" : ""),
    el("td", {}, m.precision),
    el("td", {}, `${m.cluster}/${m.pool}/${m.profile}`), el("td", {}, m.gpus),
    el("td", {}, `${m.neededGibPerGpu}/${m.availableGibPerGpu}`), el("td", {}, usd(m.monthlyUsd)),
    el("td", {}, el("button", { type: "button", class: "edit", onclick: () => editModel(m.model) }, "Edit")))));
  const verdicts = policy.violations.map((v) => el("li", {}, badge(v.enforcement, v.enforcement === "mandatory" ? "bad" : "advisory"), `${v.policy}: ${v.message}`));
  if (!verdicts.length) verdicts.push(el("li", {}, badge("pass", "ok"), `all ${policy.rules} rules pass`));
  for (const finding of state.rehearsal) verdicts.push(el("li", {}, badge(finding.severity, finding.severity === "error" ? "bad" : "advisory"), `rehearsal ${finding.kind}: ${finding.message}`));
  document.getElementById("policy-list").replaceChildren(...verdicts);
  const secrets = state.secrets.map((s) => el("li", {}, el("code", {}, s.key), `: ${s.value}`));
  document.getElementById("secrets-list").replaceChildren(...(secrets.length ? secrets : [el("li", { class: "muted" }, "none in the stack file")]));
  renderArchitecture(state);
  fillSelect("f-team", state.teams.map((t) => t.name));
  fillSelect("f-cluster", state.clusters.map((c) => c.id));
  for (const [name, entry] of Object.entries(state.modelEntries)) {
    // Keyed models.<name> so that an upload never shadows what the file holds.
    if (entry.params) IMPORTED.set(`models.${name}`, { key: `models.${name}`, source: entry.source, params: entry.params, from: `${state.file} models.${name}` });
  }
  renderModels();
}

function renderModels() {
  // The model choice: the catalog's keys, then every imported model (its value names it as imported).
  const select = document.getElementById("f-model");
  const current = select.value;
  const options = CATALOG.map((m) => el("option", { value: m.key }, m.key));
  for (const m of IMPORTED.values()) options.push(el("option", { value: IMPORTED_PREFIX + m.key }, `${m.key} (imported)`));
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === current)) select.value = current;
  if (CATALOG.length) renderCatalog();
  describeModel();
}

function describeModel() {
  const value = document.getElementById("f-model").value;
  const info = document.getElementById("model-info");
  if (!value.startsWith(IMPORTED_PREFIX)) { info.textContent = ""; return; }
  const m = IMPORTED.get(value.slice(IMPORTED_PREFIX.length));
  info.textContent = m ? `imported from ${m.from}: params ${paramsText(m.params)}` : "";
}

function paramsText(p) {
  return `${p.parametersBillions}B parameters${p.activeParametersBillions ? ` (${p.activeParametersBillions}B active)` : ""}, ${p.layers} layers, `
    + `${p.attentionHeads} heads / ${p.kvHeads} KV heads x ${p.headDim}${p.kvCacheDim ? `, latent KV ${p.kvCacheDim}` : ""}, `
    + `max context ${p.maxContext}, ${p.defaultPrecision || "bf16"}`;
}

function fillSelect(id, values) {
  const select = document.getElementById(id);
  const current = select.value;
  select.replaceChildren(...values.map((v) => el("option", { value: v }, v)));
  if (values.includes(current)) select.value = current;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderArchitecture(state) {
  const width = 980;
  const clusterHeight = (c) => 70 + 34 * Math.max(1, c.pools.length);
  const height = 40 + state.clusters.reduce((h, c) => h + clusterHeight(c) + 16, 0) + 20;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "architecture" });
  const box = (x, y, w, h, label, fillColour, stroke) => {
    root.append(svg("rect", { x, y, width: w, height: h, rx: 6, fill: fillColour, stroke: stroke || "#57606a" }));
    root.append(svg("text", { x: x + 8, y: y + 18, "font-size": 13 }, label));
  };
  box(10, 20, 170, 46, `Pulumi.${state.stack}.yaml`, "#fff8c5");
  box(10, 86, 170, 46, "PlatformConfig + policies", "#ddf4ff");
  box(10, 152, 170, 46, `shared: monitoring, fleet`, "#f6f8fa");
  root.append(svg("line", { x1: 95, y1: 66, x2: 95, y2: 86, stroke: "#57606a" }));
  let y = 20;
  for (const cluster of state.clusters) {
    const h = clusterHeight(cluster);
    box(220, y, 740, h, `cluster ${cluster.id} (${cluster.location}, AKS ${cluster.kubernetesVersion}, Cilium, DRA)`, "#ffffff");
    root.append(svg("line", { x1: 180, y1: 109, x2: 220, y2: y + 20, stroke: "#57606a" }));
    box(236, y + 30, 150, 28, "system pool", "#f6f8fa");
    let py = y + 30;
    for (const pool of cluster.pools) {
      root.append(svg("text", { x: 400, y: py + 18, "font-size": 12 }, `${pool.group}`));
      let px = 460;
      for (const slot of pool.slots) {
        const colour = slot.colour === "blue" ? "#1f6feb" : "#2da44e";
        root.append(svg("rect", { x: px, y: py, width: 220, height: 28, rx: 5, fill: colour, "fill-opacity": slot.active ? 1 : 0.35 }));
        root.append(svg("text", { x: px + 6, y: py + 18, "font-size": 12, fill: "#fff" }, `${slot.poolName} ${slot.active ? "active" : "standby"} ${slot.gpus}`));
        px += 232;
      }
      py += 34;
    }
    const models = state.models.filter((m) => m.cluster === cluster.id).map((m) => m.model).join(", ");
    root.append(svg("text", { x: 236, y: y + h - 10, "font-size": 12, fill: "#57606a" }, `models: ${models || "none"}`));
    y += h + 16;
  }
  document.getElementById("architecture").replaceChildren(root);
}

// --- catalog ------------------------------------------------------------------------------------
function renderCatalog() {
  const query = document.getElementById("catalog-search").value.trim().toLowerCase();
  const sizeMax = parseFloat(document.getElementById("size-max").value);
  const contextMin = parseInt(document.getElementById("context-min").value, 10);
  const gated = document.getElementById("gated").value;
  const wanted = (m, isGated) => (!query || m.key.includes(query))
    && (Number.isNaN(sizeMax) || m.parametersBillions <= sizeMax)
    && (Number.isNaN(contextMin) || m.maxContext >= contextMin)
    && (gated === "any" || (gated === "yes") === isGated);
  // Imported models first: whether their repository is gated is not in config.json (the gated filter skips them).
  const imported = [...IMPORTED.values()].filter((m) => gated === "any" && wanted({ key: m.key, ...m.params }, false))
    .map((m) => el("tr", { "data-model": IMPORTED_PREFIX + m.key, class: "imported" },
      el("td", {}, m.key, " ", badge("imported", "imported")), el("td", {}, m.params.parametersBillions),
      el("td", {}, m.params.maxContext.toLocaleString("en-US")),
      el("td", {}, m.source ? `${m.params.defaultPrecision || "bf16"} (${m.source})` : "none yet: set the checkpoint (source)"),
      el("td", {}, "unknown: set hfToken if gated or private"),
      el("td", {}, el("button", { type: "button", class: "use", onclick: () => useModel(IMPORTED_PREFIX + m.key) }, "Use"))));
  const rows = CATALOG.filter((m) => wanted(m, m.gated))
    .map((m) => el("tr", { "data-model": m.key },
      el("td", {}, m.key), el("td", {}, m.parametersBillions), el("td", {}, m.maxContext.toLocaleString("en-US")),
      el("td", {}, m.precisions.join(", ")), el("td", {}, m.gated ? "gated (token)" : "open"),
      el("td", {}, el("button", { type: "button", class: "use", onclick: () => useModel(m.key) }, "Use"))));
  fill(document.querySelector("#catalog-table tbody"), [...imported, ...rows]);
}

function useModel(value) {
  document.getElementById("f-model").value = value;
  const key = value.startsWith(IMPORTED_PREFIX) ? value.slice(IMPORTED_PREFIX.length) : value;
  if (value.startsWith(IMPORTED_PREFIX)) {
    // vLLM downloads the checkpoint: prefill the repository config.json names (editable, required).
    const source = document.getElementById("f-source");
    const m = IMPORTED.get(key);
    if (m && m.source) source.value = m.source;
  }
  const name = document.getElementById("f-name");
  if (!name.value) name.value = key.replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
  describeModel();
  document.getElementById("fit").scrollIntoView();
}

function editModel(name) {
  // Load a deployment of the stack into the form: the change then replaces models.<name>.
  const entry = STATE.modelEntries[name];
  document.getElementById("f-name").value = name;
  for (const field of FIELDS.slice(1)) {
    const value = entry[field];
    document.getElementById(`f-${field}`).value = value === null || value === undefined ? "" : String(value);
  }
  if (entry.params) document.getElementById("f-model").value = `${IMPORTED_PREFIX}models.${name}`;  // keeps its params
  describeModel();
  document.getElementById("fit").scrollIntoView();
}

async function importConfig(event) {
  const file = event.target.files[0];
  const out = document.getElementById("import-result");
  out.textContent = "";
  out.className = "muted";
  if (!file) return;
  let result;
  try {
    result = await api("/api/import", { configJson: await file.text(), fileName: file.name });
  } catch (error) {
    out.textContent = error.message;  // the importer's one line, naming the key
    out.className = "field-error";
    return;
  }
  IMPORTED.set(result.key, { key: result.key, source: result.source, params: result.params, from: file.name });
  renderModels();
  useModel(IMPORTED_PREFIX + result.key);
  out.textContent = `imported ${result.key}: ${paramsText(result.params)}` + (result.source ? `; checkpoint ${result.source}` : "; config.json names no repository: set the checkpoint (source)");
}

// --- fit ----------------------------------------------------------------------------------------
function formValues() {
  const values = {};
  for (const field of FIELDS) values[field] = document.getElementById(`f-${field}`).value.trim();
  if (values.model.startsWith(IMPORTED_PREFIX)) {
    // An imported model goes into the stack file as its params (ModelDeploymentSpec.params), not a catalog key.
    values.params = IMPORTED.get(values.model.slice(IMPORTED_PREFIX.length)).params;
    values.model = "";
  }
  for (const field of ["contextLength", "concurrency", "replicas"]) {
    if (/^\d+$/.test(values[field])) values[field] = parseInt(values[field], 10);
  }
  return values;
}

function clearErrors() { for (const node of document.querySelectorAll(".field-error")) node.textContent = ""; }

function showErrors(lines) {
  for (const line of lines) {
    const match = line.match(/ai-platform:models\.[^.\s:]+\.([A-Za-z]+)[.:\s]/);
    const named = match && match[1] === "params" ? "model" : match && match[1];  // params: the imported model
    const field = named && FIELDS.includes(named) ? named : (/ai-platform:models\.[^.\s:]+: /.test(line) ? "name" : "");
    const target = document.getElementById(`err-${field}`);
    target.textContent = target.textContent ? `${target.textContent} ${line}` : line;
  }
}

async function showFit(event) {
  event.preventDefault();
  clearErrors();
  resetChange();
  FIT = null;
  SELECTED = null;
  fill(document.querySelector("#fit-table tbody"), []);
  document.getElementById("fit-summary").textContent = "";
  document.getElementById("change-btn").disabled = true;
  const values = formValues();
  try {
    FIT = await api("/api/fit", values);
  } catch (error) {
    showErrors(error.data && error.data.lines ? error.data.lines : [error.message]);
    return;
  }
  if (FIT.errors.length) { showErrors(FIT.errors); fill(document.querySelector("#fit-table tbody"), []); return; }
  SELECTED = FIT.cheapest;
  renderFit();
}

function renderFit() {
  const rows = FIT.options.map((o) => {
    const marks = [];
    if (o.cheapest) marks.push(badge("cheapest", "cheapest"));
    if (o.fewestGpus) marks.push(badge("fewest GPUs", "fewest"));
    if (o.id === FIT.default) marks.push(badge("plan's choice", "default"));
    const radio = el("input", { type: "radio", name: "option", value: o.id, disabled: !o.fits, checked: o.id === SELECTED, onchange: () => { SELECTED = o.id; resetChange(); renderFit(); } });
    const throughput = o.throughput ? `${o.throughput.tokensPerSecond}` : "n/a";
    const verdict = o.fits ? [badge("fits", "ok"), ...marks] : [badge("does not fit", "bad"), o.reasons.join("; ")];
    return el("tr", { class: `${o.fits ? "fits" : "nofit"}${o.id === SELECTED ? " selected" : ""}`, "data-option": o.id },
      el("td", {}, radio),
      el("td", {}, `${o.pool} / `, badge(o.colour + (o.active ? "" : " standby"), `${o.colour}${o.active ? "" : " standby"}`), ` / ${o.profile} (${o.kind})`),
      el("td", {}, o.vmSize), el("td", {}, `${o.neededGibPerGpu ?? "n/a"} / ${o.availableGibPerGpu}`),
      el("td", {}, o.tensorParallel), el("td", {}, o.gpus), el("td", {}, o.replicas), el("td", {}, throughput),
      el("td", {}, usd(o.monthlyUsd)), el("td", { class: "verdict" }, ...verdict));
  });
  fill(document.querySelector("#fit-table tbody"), rows);
  const fitting = FIT.options.filter((o) => o.fits).length;
  document.getElementById("fit-summary").textContent = fitting
    ? `${fitting} of ${FIT.options.length} options fit. Pick one, then produce the change.`
    : `No option fits (${FIT.options.length} evaluated): see the reasons.`;
  document.getElementById("change-btn").disabled = !SELECTED;
}

// --- change and write ---------------------------------------------------------------------------
function resetChange() {
  PROPOSAL = null;
  document.getElementById("diff").replaceChildren();
  document.getElementById("change-status").textContent = "";
  document.getElementById("change-status").className = "";
  document.getElementById("write-status").textContent = "";
  const confirm = document.getElementById("confirm");
  confirm.checked = false;
  confirm.disabled = true;
  document.getElementById("write-btn").disabled = true;
}

function changeRequest() {
  const values = formValues();
  if (SELECTED && SELECTED !== FIT.default) {
    const option = FIT.options.find((o) => o.id === SELECTED);
    values.pool = option.pool;
    values.profile = option.profile;
  }
  return values;
}

function renderDiff(text) {
  const lines = text.split("\n").map((line) => {
    const kind = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : line.startsWith("@@") ? "hunk" : "";
    return el("span", { class: kind }, `${line}\n`);
  });
  document.getElementById("diff").replaceChildren(...lines);
}

async function produceChange() {
  clearErrors();
  resetChange();
  const status = document.getElementById("change-status");
  status.textContent = "validating with the offline plan...";
  try {
    PROPOSAL = await api("/api/change", changeRequest());
  } catch (error) {
    status.textContent = error.message;
    status.className = "bad";
    return;
  }
  renderDiff(PROPOSAL.diff);
  if (PROPOSAL.valid) {
    const advisory = PROPOSAL.verdicts.length;
    status.textContent = `Valid: the edited ${STATE.file} plans with the root model, the policy pack and the rehearsal (${advisory} advisory verdicts).`;
    status.className = "ok";
    document.getElementById("confirm").disabled = false;
  } else {
    status.textContent = `Not valid: ${PROPOSAL.errors.length} problem(s), shown next to the fields.`;
    status.className = "bad";
    showErrors(PROPOSAL.errors);
  }
}

async function writeChange() {
  const out = document.getElementById("write-status");
  try {
    const result = await api("/api/write", { ...changeRequest(), confirm: true, baseSha: PROPOSAL.baseSha });
    out.textContent = result.written ? `written to ${result.file}` : `not written: ${result.reason}`;
    document.getElementById("write-btn").disabled = true;
    document.getElementById("confirm").disabled = true;
    renderState(await api("/api/state"));
  } catch (error) {
    out.textContent = error.message;
  }
}

async function start() {
  const [state, catalog] = await Promise.all([api("/api/state"), api("/api/catalog")]);
  CATALOG = catalog.models;
  renderState(state);
  for (const id of ["catalog-search", "size-max", "context-min", "gated"]) document.getElementById(id).addEventListener("input", renderCatalog);
  document.getElementById("import-file").addEventListener("change", importConfig);
  document.getElementById("f-model").addEventListener("change", describeModel);
  document.getElementById("fit-form").addEventListener("submit", showFit);
  document.getElementById("change-btn").addEventListener("click", produceChange);
  document.getElementById("confirm").addEventListener("change", (e) => { document.getElementById("write-btn").disabled = !(e.target.checked && PROPOSAL && PROPOSAL.valid); });
  document.getElementById("write-btn").addEventListener("click", writeChange);
  document.body.dataset.ready = "true";
}

start().catch((error) => { document.body.dataset.ready = "error"; document.getElementById("cards").textContent = error.message; });
