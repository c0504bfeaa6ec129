// Wan Compat front-end: verdict badges on the detect/check/diagnose nodes, the node's report text,
// a button that opens the readable report page, and errors shown on the node that raised them.
// Public frontend APIs only (registerExtension, node hooks, node.badges, node.addDOMWidget,
// api events), so it works on the classic canvas and in Nodes 2.0 (Vue nodes) alike.
// Imports are relative to this file's URL, so the pack's folder name is never hard-coded.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const VERDICT_NODES = new Set(["WanDetectArchitecture", "WanCheckCompatibility"]);
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

// The panel shown on the node: the verdict as a coloured pill and the report text, in one read-only
// DOM widget (never serialised into the workflow or the prompt). Nodes 2.0 renders DOM widgets but
// reads node.badges only when a node is first drawn, so the pill is what shows a later verdict there.
function panelWidget(node) {
  let widget = node.widgets?.find((w) => w.name === TEXT_WIDGET);
  if (!widget) {
    const element = document.createElement("div");
    element.className = "wan-compat-panel";
    Object.assign(element.style, {
      display: "flex", flexDirection: "column", gap: "4px", width: "100%", height: "100%", boxSizing: "border-box",
    });
    const pill = document.createElement("div");
    pill.className = "wan-compat-badge";
    Object.assign(pill.style, {
      display: "none", alignSelf: "flex-start", padding: "1px 10px", borderRadius: "10px", color: "#111",
      fontWeight: "700", fontSize: "12px",
    });
    const text = document.createElement("div");
    text.className = "wan-compat-text";
    Object.assign(text.style, {
      flex: "1", whiteSpace: "pre-wrap", overflowY: "auto", fontSize: "12px", lineHeight: "1.35", padding: "6px",
      color: "var(--input-text, #ddd)", background: "var(--comfy-input-bg, #222)", borderRadius: "6px",
      boxSizing: "border-box", userSelect: "text", minHeight: "40px",
    });
    element.append(pill, text);
    widget = node.addDOMWidget(TEXT_WIDGET, "wan_text", element, {
      getValue: () => text.textContent,
      setValue: (value) => { text.textContent = value ?? ""; },
      getMinHeight: () => 150,
      serialize: false,
    });
    widget.serialize = false;
    widget.wan_pill = pill;
  }
  return widget;
}

function showText(node, text) {
  panelWidget(node).value = text;
  node.setSize?.([Math.max(node.size[0], 380), Math.max(node.size[1], node.computeSize()[1])]);
  redraw(node);
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

function clearStatus(node) {
  setStatus(node, null, null);
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

app.registerExtension({
  name: "wan_compat.ui",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name?.startsWith("Wan")) return;
    const onExecuted = nodeType.prototype.onExecuted;

    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const verdict = message?.wan_verdict?.[0];
      if (VERDICT_NODES.has(nodeData.name) && verdict) {
        setStatus(this, verdict.status, verdict.badge);
      }
      const report = message?.wan_report?.[0];
      if (report) {
        this.wan_report = report;
        const status = COLORS[report.verdict] ? report.verdict : "warning";
        setStatus(this, status, `diagnosis: ${report.verdict}`);
        addReportButton(this);
      }
      if (message?.text?.[0]) {
        showText(this, message.text[0]);
      }
    };
  },

  async setup() {
    // A Wan node that raises shows the error (summary, detail and "How to fix") on itself.
    api.addEventListener("execution_error", ({ detail }) => {
      if (!detail?.node_type?.startsWith("Wan")) return;
      const node = app.graph.getNodeById(Number(detail.node_id)) ?? app.graph.getNodeById(detail.node_id);
      if (!node) return;
      setStatus(node, "error", "error");
      showText(node, detail.exception_message ?? String(detail.exception_type));
    });
    api.addEventListener("execution_start", () => {
      for (const node of app.graph?.nodes ?? app.graph?._nodes ?? []) {
        if (node.type?.startsWith("Wan") && node.wan_status === "error" && !node.wan_report) clearStatus(node);
      }
    });
  },
});
