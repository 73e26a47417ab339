// The review console: talks to the review API with the reviewer's bearer token.
// Text from submissions is only ever set with textContent, never parsed as markup.
"use strict";

const state = { token: sessionStorage.getItem("gongkai-token"), item: null, redactions: [] };
const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": `Bearer ${state.token}`, "Content-Type": "application/json" },
  });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) {
    const problem = body || {};
    const fields = (problem.errors || []).map((e) => `${e.field}：${e.reason}`).join("；");
    throw new Error([problem.detail || problem.title, fields].filter(Boolean).join(" — ") || response.statusText);
  }
  return body;
}

// Python counts characters (code points); JavaScript strings count UTF-16 units.
const codePoints = (text) => Array.from(text).length;

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

async function signIn(token) {
  state.token = token;
  try {
    await loadQueue();
  } catch (error) {
    $("sign-in-error").textContent = `登录失败：${error.message}`;
    state.token = null;
    return;
  }
  sessionStorage.setItem("gongkai-token", token);
  $("sign-in").hidden = true;
  $("workbench").hidden = false;
  $("sign-out").hidden = false;
  focusQueue();
}

// Where the keyboard goes when a list changes under it: the first waiting item, else 刷新.
function focusQueue() {
  ($("queue").querySelector("button") || $("refresh")).focus();
}

// Up and down arrows (and Home, End) move between the queue's entries; Tab leaves the list.
function moveInQueue(event) {
  const buttons = [...$("queue").querySelectorAll("button")];
  const at = buttons.indexOf(document.activeElement);
  const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (at < 0 || to === undefined || !buttons[to]) return;
  event.preventDefault();
  buttons[to].focus();
}

async function loadQueue() {
  const page = await api("/v1/reviews?state=pending");
  const queue = $("queue");
  queue.replaceChildren();
  for (const item of page.items) {
    const li = element("li");
    li.dataset.id = item.submission_id;
    const open = element("button");
    open.type = "button";
    open.append(element("span", item.title), element("span", `${item.department_name} · 第${item.level}级 · 发现${item.findings.length}处`, "meta"));
    open.setAttribute("aria-current", String(state.item?.submission_id === item.submission_id && !$("item").hidden));
    open.addEventListener("click", () => openItem(item.submission_id));
    li.append(open);
    queue.append(li);
  }
  $("queue-empty").hidden = page.items.length > 0;
  if (page.items[0]) $("who").textContent = `第${page.items[0].level}级审核`;
}

async function openItem(id) {
  state.item = await api(`/v1/reviews/${encodeURIComponent(id)}`);
  state.redactions = [];
  for (const li of $("queue").children) {
    li.classList.toggle("current", li.dataset.id === id);
    li.querySelector("button").setAttribute("aria-current", String(li.dataset.id === id));
  }
  $("item").hidden = false;
  $("decision-result").textContent = "";
  $("item-meta").textContent = `${state.item.department_name} · 成文日期 ${state.item.formed_on} · 第${state.item.revision}稿 · 第${state.item.level}/${state.item.levels}级`;
  $("decision-form").reset();
  $("reason-field").hidden = true;
  $("redact-form").reset();
  render();
  $("item-heading").focus();  // the keyboard lands where the item begins
}

// What goes online, field by field, exactly as screening read it: the title, the body, the
// document number, and each attachment's file name and every part of its text.
const fieldOf = (name) => state.item.fields.find((f) => f.name === name);
const textOf = (name) => fieldOf(name)?.text ?? "";

// The label a reviewer reads for a field a finding or redaction names ("attachments.N": a file).
function labelOf(name) {
  const whole = /^attachments\.(\d+)$/.exec(name);
  return whole ? `附件${Number(whole[1]) + 1}` : fieldOf(name)?.label ?? name;
}

// Split a field's text at every finding and redaction boundary; mark each piece accordingly.
function renderField(field) {
  const text = Array.from(textOf(field));
  const findings = state.item.findings.filter((f) => f.field === field);
  const redactions = [...state.item.redactions, ...state.redactions].filter((r) => r.field === field);
  const cuts = new Set([0, text.length]);
  for (const s of [...findings, ...redactions]) { cuts.add(s.start); cuts.add(s.end); }
  const points = [...cuts].sort((a, b) => a - b);
  const container = $(`field-${field}`);
  if (!container) return;
  container.replaceChildren();
  for (let i = 0; i + 1 < points.length; i++) {
    const [start, end] = [points[i], points[i + 1]];
    const piece = text.slice(start, end).join("");
    const within = (s) => s.start <= start && end <= s.end;
    const finding = findings.find(within);
    let node = finding ? element("mark", piece, finding.severity) : document.createTextNode(piece);
    if (finding) node.title = finding.message;
    if (redactions.some(within)) {
      const wrapper = element("span", undefined, "redacted");
      wrapper.append(node);
      node = wrapper;
    }
    container.append(node);
  }
}

const FILE_KINDS = {
  "application/pdf": "PDF",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
  "image/jpeg": "JPEG 图片",
  "image/png": "PNG 图片",
};

// Each attachment: its file name and every part of its text, each marked like the body (read
// only: a file goes online whole, so it is returned for changes, never redacted).
function renderAttachments() {
  const list = $("attachments");
  list.replaceChildren();
  state.item.attachments.forEach((a, n) => {
    const section = element("section");
    const kind = FILE_KINDS[a.media_type] || a.media_type;
    section.append(element("h4", `附件${n + 1}（${kind}，${Math.ceil(a.size / 1024)} KB）`));
    if (a.unread) section.append(element("p", a.unread, "error"));
    const open = element("button", "查看原件");
    open.className = "open-attachment";
    open.addEventListener("click", () => openAttachment(n, section));
    section.append(open);
    for (const field of state.item.fields.filter((f) => f.name.startsWith(`attachments.${n}.`))) {
      section.append(element("h5", field.label));
      const text = element("div", undefined, "attachment-text");
      text.id = `field-${field.name}`;
      text.tabIndex = 0;  // it scrolls: the keyboard must be able to reach and scroll it
      text.setAttribute("role", "region");
      text.setAttribute("aria-label", `附件${n + 1} ${field.label}`);
      section.append(text);
    }
    list.append(section);
  });
  for (const field of state.item.fields) if (field.name.startsWith("attachments.")) renderField(field.name);
  $("attachments-heading").hidden = state.item.attachments.length === 0;
}

// The file itself, fetched with the reviewer's token: an image is shown in place, a document
// opens in a new tab.
async function openAttachment(n, section) {
  const response = await fetch(`/v1/reviews/${encodeURIComponent(state.item.submission_id)}/attachments/${n}`, {
    headers: { Authorization: `Bearer ${state.token}` },
  });
  if (!response.ok) { $("decision-result").textContent = `附件无法打开（${response.status}）`; return; }
  const url = URL.createObjectURL(await response.blob());
  if (state.item.attachments[n].media_type.startsWith("image/")) {
    const image = element("img");
    image.src = url;
    image.alt = state.item.attachments[n].filename;
    image.className = "attachment-image";
    section.append(image);
  } else {
    window.open(url, "_blank", "noopener");
  }
}

// Redacting and undoing rebuild the lists; the keyboard stays on the control it used (by id),
// or goes to the given fallback when that control is gone.
function render(focus) {
  const focused = focus?.id ?? document.activeElement?.id;
  renderField("title");
  renderField("body");
  renderField("document_number");
  $("document-number-line").hidden = !textOf("document_number");
  // 公开属性: only a proactive item goes online once approved; the others are recorded.
  const DISCLOSURES = { proactive: "主动公开", on_request: "依申请公开（批准后不上网）", withheld: "不予公开（批准后不上网）" };
  $("item-disclosure").textContent = DISCLOSURES[state.item.disclosure] ?? state.item.disclosure;
  for (const name of ["disclosure_ground", "summary", "keywords"]) renderField(name);
  $("disclosure-ground-line").hidden = !textOf("disclosure_ground");
  $("summary-line").hidden = !textOf("summary");
  $("keywords-line").hidden = !textOf("keywords");
  renderAttachments();
  const findings = $("findings");
  findings.replaceChildren();
  for (const f of state.item.findings) {
    const li = element("li");
    const where = labelOf(f.field);
    li.append(element("strong", f.severity === "block" ? "禁止：" : "提示："), element("span", `${where}：${f.excerpt}（${f.message}）`));
    const covered = [...state.item.redactions, ...state.redactions].some((r) => r.field === f.field && r.start <= f.start && f.end <= r.end);
    if (REDACTABLE.has(f.field) && !covered) {
      const redact = element("button", "遮盖此处");
      redact.type = "button";
      redact.id = `redact-finding-${f.id}`;
      redact.setAttribute("aria-label", `遮盖此处：${f.excerpt}`);
      redact.addEventListener("click", () => addRedactions([{ field: f.field, start: f.start, end: f.end }], $("redactions-heading")));
      li.append(" ", redact);
    }
    if (f.severity === "flag") {
      const accept = element("input");
      accept.id = `accept-${f.id}`;
      accept.dataset.findingId = f.id;
      const label = element("label", "如无需遮盖，请填写接受理由");
      label.htmlFor = accept.id;
      li.append(label, accept);
    }
    findings.append(li);
  }
  const redactions = $("redactions");
  redactions.replaceChildren();
  state.redactions.forEach((r, index) => {
    const li = element("li", `${labelOf(r.field)}：“${Array.from(textOf(r.field)).slice(r.start, r.end).join("")}”`);
    const undo = element("button", "撤销");
    undo.type = "button";
    undo.id = `undo-${r.field}-${r.start}-${r.end}`;
    undo.setAttribute("aria-label", `撤销遮盖：${Array.from(textOf(r.field)).slice(r.start, r.end).join("")}`);
    undo.addEventListener("click", () => { state.redactions.splice(index, 1); render($("redactions-heading")); });
    li.append(" ", undo);
    redactions.append(li);
  });
  $("redactions-empty").hidden = state.redactions.length > 0;
  const again = focused && $(focused);
  if (again && again.offsetParent !== null) again.focus();
  else if (focus) focus.focus();
}

// Only these fields can be redacted: an attachment goes online whole (returned for changes).
const REDACTABLE = new Set(["title", "body", "document_number"]);

function addRedactions(spans, focus) {
  const fresh = spans.filter((s) => !state.redactions.some((r) => r.field === s.field && r.start === s.start && r.end === s.end));
  state.redactions.push(...fresh);
  render(focus);
  return fresh.length;
}

// A typed range: every place where the typed text occurs in the chosen field, in characters.
function redactTyped(event) {
  event.preventDefault();
  const field = $("redact-field").value;
  const wanted = Array.from($("redact-text").value.trim());
  const text = Array.from(textOf(field));
  const spans = [];
  if (wanted.length) {
    for (let at = 0; at + wanted.length <= text.length; at++) {
      if (wanted.every((c, k) => text[at + k] === c)) spans.push({ field, start: at, end: at + wanted.length });
    }
  }
  const where = $("redact-field").selectedOptions[0].textContent;
  if (!spans.length) {
    $("decision-result").textContent = wanted.length ? `${where}中没有“${wanted.join("")}”。` : "请输入要遮盖的文字。";
    return;
  }
  addRedactions(spans, $("redact-text"));
  $("decision-result").textContent = `已遮盖${where}中的“${wanted.join("")}”${spans.length}处。`;
  $("redact-text").value = "";
}

// The selection's start and end as character offsets into one field's text.
function selectedSpan() {
  const selection = window.getSelection();
  if (!selection.rangeCount || selection.isCollapsed) return null;
  const range = selection.getRangeAt(0);
  const container = range.commonAncestorContainer.nodeType === Node.ELEMENT_NODE
    ? range.commonAncestorContainer : range.commonAncestorContainer.parentElement;
  const field = container.closest(".field");
  if (!field) return null;
  const before = document.createRange();
  before.selectNodeContents(field);
  before.setEnd(range.startContainer, range.startOffset);
  const start = codePoints(before.toString());
  return { field: field.dataset.field, start, end: start + codePoints(range.toString()) };
}

function redactSelection() {
  const span = selectedSpan();
  if (!span || span.end <= span.start) {
    $("decision-result").textContent = "请先在标题或正文中选中要遮盖的文字。";
    return;
  }
  window.getSelection().removeAllRanges();
  $("decision-result").textContent = "";
  addRedactions([span]);
  $("decision-result").textContent = `已遮盖${labelOf(span.field)}中的“${Array.from(textOf(span.field)).slice(span.start, span.end).join("")}”。`;
}

async function submitDecision(event) {
  event.preventDefault();
  const decision = $("decision").value;
  const body = { decision, comment: $("comment").value, redactions: state.redactions };
  if (decision === "reject") body.reason = $("reason").value;
  body.accepted_flags = [...document.querySelectorAll("#findings input")]
    .filter((input) => input.value.trim())
    .map((input) => ({ finding_id: input.dataset.findingId, reason: input.value.trim() }));
  try {
    const result = await api(`/v1/reviews/${encodeURIComponent(state.item.submission_id)}/decisions`, {
      method: "POST", body: JSON.stringify(body),
    });
    $("decision-result").textContent = result.state === "pending"
      ? `已提交，等待第${result.level}级审核。` : `已提交：${({ approved: "同意公开", rejected: "不予公开", returned: "退回修改" })[result.state]}。`;
    $("item").hidden = true;
    await loadQueue();
    focusQueue();  // on to the next item; the result is announced (role=status)
  } catch (error) {
    $("decision-result").textContent = `未能提交：${error.message}`;
  }
}

$("sign-in-form").addEventListener("submit", (event) => { event.preventDefault(); signIn($("token").value.trim()); });
$("sign-out").addEventListener("click", () => { sessionStorage.removeItem("gongkai-token"); location.reload(); });
$("refresh").addEventListener("click", loadQueue);
$("redact").addEventListener("click", redactSelection);
// The redactable fields are read-only text boxes: contenteditable gives the keyboard a caret, so
// Shift and the arrows select as in any text, but no edit ever lands (beforeinput is refused, and
// what an input method composes anyway is drawn over again). Enter redacts the selection.
for (const name of REDACTABLE) {
  const field = $(`field-${name}`);
  field.contentEditable = "true";
  field.spellcheck = false;
  field.setAttribute("role", "textbox");
  field.setAttribute("aria-readonly", "true");
  field.addEventListener("beforeinput", (event) => event.preventDefault());
  field.addEventListener("input", () => renderField(name));
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); redactSelection(); }
  });
  for (const kind of ["paste", "drop", "cut"]) field.addEventListener(kind, (event) => event.preventDefault());
}
$("redact-form").addEventListener("submit", redactTyped);
$("queue").addEventListener("keydown", moveInQueue);
$("decision").addEventListener("change", () => { $("reason-field").hidden = $("decision").value !== "reject"; });
$("decision-form").addEventListener("submit", submitDecision);
if (state.token) signIn(state.token);
