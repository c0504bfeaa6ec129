// Wan Compat front-end: the verdict on the Detect / Check / Safe Load (native) nodes in a user's
// words (one line: "Wan 2.1 T2V 1.3B · fp16 · VAE fits · text encoder fits", each problem with its
// fix, the evidence one click away), the report text of the other Wan nodes, a button that opens
// the readable report page, and errors shown on the node that raised them.
// What a node shows is saved in its properties, so it stays with the workflow (tab switch, reload,
// save) until a run changes it.
// Public frontend APIs only (registerExtension, node hooks, node.badges, node.addDOMWidget,
// api events), so it works on the classic canvas and in Nodes 2.0 (Vue nodes) alike.
// Imports are relative to this file's URL, so the pack's folder name is never hard-coded.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { element, linkified } from "./wan_dom.js";

const STORE = "wan_compat"; // node.properties key: what the node last showed
const TEXT_WIDGET = "wan report";
const REPORT_BUTTON = "open full report";
const COLORS = {
  ok: { bg: "#1f3d2b", badge: "#34d399" },
  info: { bg: "#1c2f4a", badge: "#60a5fa" },
  warning: { bg: "#463a14", badge: "#fbbf24" },
  error: { bg: "#4a1c1c", badge: "#f87171" },
};

// The frontend's own badge class where it is exposed (1.28+: window.LGraphBadge); otherwise an object
// with the same drawing contract (text, fgColor, bgColor, height, getWidth, draw) that
// LGraphNode.drawBadges calls on the classic canvas.
class WanBadge {
  constructor({ text, fgColor, bgColor }) {
    Object.assign(this, { text, fgColor, bgColor, fontSize: 12, padding: 6, height: 20, cornerRadius: 5, xOffset: 0, yOffset: 0 });
  }
  get visible() {
    return Boolean(this.text);
  }
  getWidth(ctx) {
    const font = ctx.font;
    ctx.font = `${this.fontSize}px sans-serif`;
    const width = ctx.measureText(this.text ?? "").width + this.padding * 2;
    ctx.font = font;
    return this.visible ? width : 0;
  }
  draw(ctx, x, y) {
    if (!this.visible) return;
    const { font, fillStyle, textBaseline, textAlign } = ctx;
    const width = this.getWidth(ctx);
    ctx.font = `${this.fontSize}px sans-serif`;
    ctx.fillStyle = this.bgColor;
    ctx.beginPath();
    ctx.roundRect ? ctx.roundRect(x, y, width, this.height, this.cornerRadius) : ctx.rect(x, y, width, this.height);
    ctx.fill();
    ctx.fillStyle = this.fgColor;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillText(this.text, x + this.padding, y + this.height / 2 + 1);
    Object.assign(ctx, { font, fillStyle, textBaseline, textAlign });
  }
}

function makeBadge(text, status) {
  const Badge = window.LGraphBadge ?? WanBadge;
  return new Badge({ text, fgColor: "#111", bgColor: (COLORS[status] ?? COLORS.warning).badge });
}

function redraw(node) {
  node.setDirtyCanvas?.(true, true);
  app.graph?.setDirtyCanvas?.(true, true);
}

// The panel shown on the node: the verdict as a coloured pill and the node's words, in one read-only
// DOM widget (never serialised into the prompt). Nodes 2.0 renders DOM widgets but reads
// node.badges only when a node is first drawn, so the pill is what shows a later verdict there.
function panelWidget(node) {
  let widget = node.widgets?.find((w) => w.name === TEXT_WIDGET);
  if (!widget) {
    const panel = element("div", "display:flex;flex-direction:column;gap:4px;width:100%;height:100%;box-sizing:border-box");
    panel.className = "wan-compat-panel";
    const pill = element("div", "display:none;align-self:flex-start;padding:2px 10px;border-radius:10px;color:#111;font-weight:700;font-size:12px;line-height:1.35");
    pill.className = "wan-compat-badge";
    const body = element("div", "flex:1;white-space:pre-wrap;overflow-y:auto;font-size:12px;line-height:1.35;padding:6px;"
      + "color:var(--input-text, #ddd);background:var(--comfy-input-bg, #222);border-radius:6px;box-sizing:border-box;"
      + "user-select:text;min-height:40px;overflow-wrap:anywhere");
    body.className = "wan-compat-text";
    panel.append(pill, body);
    widget = node.addDOMWidget(TEXT_WIDGET, "wan_text", panel, {
      getValue: () => body.textContent,
      setValue: () => {},
      getMinHeight: () => 90,
      serialize: false,
    });
    widget.serialize = false;
    Object.assign(widget, { wan_pill: pill, wan_body: body });
  }
  return widget;
}

function fitNode(node) {
  // Taller if the text needs it; never wider than the workflow laid the node out.
  node.setSize?.([Math.max(node.size[0], 300), Math.max(node.size[1], node.computeSize()[1])]);
  redraw(node);
}

// A verdict: the headline in the verdict's colour, each problem with its fix, what was checked,
// and the evidence folded away.
// A saved workflow is anyone's file: only lists of text are drawn, as text.
const lines = (value) => (Array.isArray(value) ? value.map(String) : []);

function showFace(node, face, status) {
  showPill(node, status, String(face.headline ?? ""));
  const body = panelWidget(node).wan_body;
  body.replaceChildren();
  for (const line of lines(face.problems)) body.append(linkified(line, "display:block;margin-bottom:3px"));
  if (face.checked) body.append(element("div", "opacity:.75", String(face.checked)));
  if (lines(face.evidence).length) {
    const details = element("details", "margin-top:3px");
    details.className = "wan-compat-evidence";
    details.append(element("summary", "cursor:pointer;opacity:.8", "evidence"));
    details.append(element("div", "font-family:monospace;font-size:11px;opacity:.85", lines(face.evidence).join("\n")));
    body.append(details);
  }
  fitNode(node);
}

function showText(node, text) {
  const body = panelWidget(node).wan_body;
  body.replaceChildren(linkified(text));
  fitNode(node);
}

function showPill(node, status, badge) {
  const pill = panelWidget(node).wan_pill;
  pill.textContent = badge ?? "";
  pill.dataset.status = status ?? "";
  pill.style.display = badge ? "block" : "none";
  pill.style.background = (COLORS[status] ?? COLORS.warning).badge;
}

function setStatus(node, status, badge) {
  const colors = COLORS[status] ?? COLORS.warning;
  node.wan_status = status;
  node.wan_badge = badge;
  node.bgcolor = status ? colors.bg : undefined;
  const mine = node.wan_badge_entry;
  const others = (node.badges ?? []).filter((b) => b !== mine);
  node.wan_badge_entry = badge ? makeBadge(badge, status) : null;
  node.badges = node.wan_badge_entry ? [...others, node.wan_badge_entry] : others;
  if (badge || node.widgets?.some((w) => w.name === TEXT_WIDGET)) showPill(node, status, badge);
  redraw(node);
}

function reportURL(report) {
  const query = new URLSearchParams({ filename: report.filename, level: report.level ?? "detailed" });
  return api.apiURL(`/wan_compat/report?${query}`);
}

function addReportButton(node) {
  if (node.widgets?.find((w) => w.name === REPORT_BUTTON)) return;
  const button = node.addWidget("button", REPORT_BUTTON, null, () => {
    if (node.wan_report) window.open(reportURL(node.wan_report), "_blank");
  });
  button.serialize = false;
}

// Draw what a node shows: {status, badge, face | text, report}.
function render(node, shown) {
  if (shown.status || shown.badge) setStatus(node, shown.status, shown.badge);
  if (shown.face && typeof shown.face === "object") showFace(node, shown.face, shown.status);
  else if (shown.text !== undefined) showText(node, shown.text);
  if (shown.report) {
    node.wan_report = shown.report;
    addReportButton(node);
  }
}

// Show it and keep it in the node's properties: it is saved with the workflow. The change is
// announced as the canvas announces an edit (emitBeforeChange/emitAfterChange, 1.27 and 1.58), so
// the frontend's copy of the open workflow (what a tab switch or a reload restores) holds it too.
function remember(node, shown) {
  app.canvas?.emitBeforeChange?.();
  node.properties ??= {};
  node.properties[STORE] = shown;
  render(node, shown);
  app.canvas?.emitAfterChange?.();
}

function forget(node) {
  if (node.properties) delete node.properties[STORE];
  setStatus(node, null, null);
  if (node.widgets?.some((w) => w.name === TEXT_WIDGET)) showText(node, "");
}

// What one run's ui message makes a node show.
function fromMessage(message) {
  const shown = {};
  const verdict = message?.wan_verdict?.[0];
  if (verdict) Object.assign(shown, { status: verdict.status, badge: verdict.badge, face: verdict });
  const report = message?.wan_report?.[0];
  if (report) {
    Object.assign(shown, { status: COLORS[report.verdict] ? report.verdict : "warning", badge: `diagnosis: ${report.verdict}`, report });
  }
  if (!shown.face && message?.text?.length) shown.text = message.text.join("\n");
  return shown;
}

app.registerExtension({
  name: "wan_compat.ui",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name?.startsWith("Wan")) return;
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const shown = fromMessage(message);
      if (Object.keys(shown).length) remember(this, shown);
    };
    // A workflow opened again (another tab and back, a reload, a saved file) shows what it showed.
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      onConfigure?.apply(this, arguments);
      const shown = this.properties?.[STORE];
      if (shown && typeof shown === "object") render(this, shown);
    };
  },

  async setup() {
    // A Wan node that raises shows the error (summary, detail and "How to fix") on itself.
    api.addEventListener("execution_error", ({ detail }) => {
      if (!detail?.node_type?.startsWith("Wan")) return;
      const node = app.graph.getNodeById(Number(detail.node_id)) ?? app.graph.getNodeById(detail.node_id);
      if (!node) return;
      remember(node, { status: "error", badge: "error", text: detail.exception_message ?? String(detail.exception_type), failed: true });
    });
    api.addEventListener("execution_start", () => {
      for (const node of app.graph?.nodes ?? app.graph?._nodes ?? []) {
        if (node.type?.startsWith("Wan") && node.properties?.[STORE]?.failed) forget(node);
      }
    });
  },
});
