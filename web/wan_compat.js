// Wan Compat front-end: verdict badges on the detect/check nodes, the diagnose summary with a
// button that opens the full report, and errors shown on the node that raised them, with the fix.
// Imports are relative to this file's URL, so the pack's folder name is never hard-coded.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const VERDICT_NODES = new Set(["WanDetectArchitecture", "WanCheckCompatibility"]);
const COLORS = {
  ok: { bg: "#1f3d2b", badge: "#34d399" },
  warning: { bg: "#463a14", badge: "#fbbf24" },
  error: { bg: "#4a1c1c", badge: "#f87171" },
};

function textWidget(node, name) {
  let widget = node.widgets?.find((w) => w.name === name);
  if (!widget) {
    widget = ComfyWidgets["STRING"](node, name, ["STRING", { multiline: true }], app).widget;
    widget.inputEl.readOnly = true;
    widget.inputEl.style.opacity = 0.85;
    widget.serialize = false; // display only: never part of the saved workflow or the prompt
  }
  return widget;
}

function showText(node, name, text) {
  textWidget(node, name).value = text;
  node.setSize([Math.max(node.size[0], 360), Math.max(node.size[1], node.computeSize()[1])]);
  app.graph.setDirtyCanvas(true, true);
}

function setStatus(node, status, badge) {
  const colors = COLORS[status] ?? COLORS.warning;
  node.wan_status = status;
  node.wan_badge = badge;
  node.bgcolor = colors.bg;
  app.graph.setDirtyCanvas(true, true);
}

function drawBadge(node, ctx) {
  if (!node.wan_badge || node.flags?.collapsed) return;
  const colors = COLORS[node.wan_status] ?? COLORS.warning;
  ctx.save();
  ctx.font = "bold 12px sans-serif";
  const width = ctx.measureText(node.wan_badge).width + 14;
  const x = node.size[0] - width - 6;
  const y = -LiteGraph.NODE_TITLE_HEIGHT + 5;
  ctx.fillStyle = colors.badge;
  ctx.beginPath();
  ctx.roundRect(x, y, width, 18, 9);
  ctx.fill();
  ctx.fillStyle = "#111";
  ctx.fillText(node.wan_badge, x + 7, y + 13);
  ctx.restore();
}

function addReportButton(node) {
  if (node.widgets?.find((w) => w.name === "open full report")) return;
  node.addWidget("button", "open full report", null, () => {
    const report = node.wan_report;
    if (!report) return;
    const query = new URLSearchParams({ filename: report.filename, subfolder: report.subfolder ?? "", type: report.type ?? "output" });
    window.open(api.apiURL(`/view?${query}`), "_blank");
  });
}

app.registerExtension({
  name: "wan_compat.ui",

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!nodeData.name?.startsWith("Wan")) return;
    const onExecuted = nodeType.prototype.onExecuted;
    const onDrawForeground = nodeType.prototype.onDrawForeground;

    nodeType.prototype.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      drawBadge(this, ctx);
    };

    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      const verdict = message?.wan_verdict?.[0];
      if (VERDICT_NODES.has(nodeData.name) && verdict) {
        setStatus(this, verdict.status, verdict.badge);
      }
      const report = message?.wan_report?.[0];
      if (report) {
        this.wan_report = report;
        const status = ["ok", "warning", "error"].includes(report.verdict) ? report.verdict : "warning";
        setStatus(this, status, report.verdict);
        addReportButton(this);
      }
      if (message?.text?.[0]) {
        showText(this, "wan report", message.text[0]);
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
      showText(node, "wan report", detail.exception_message ?? String(detail.exception_type));
    });
    api.addEventListener("execution_start", () => {
      for (const node of app.graph._nodes ?? []) {
        if (node.type?.startsWith("Wan") && node.wan_status === "error" && !node.wan_report) {
          node.wan_status = null;
          node.wan_badge = null;
          node.bgcolor = undefined;
        }
      }
    });
  },
});
