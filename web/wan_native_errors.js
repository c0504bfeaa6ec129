// Wan Compat: raw errors of native nodes (KSampler, VAEDecode, WanImageToVideo, CLIPTextEncode...)
// explained on the node that failed. On ComfyUI's `execution_error` event the pack's route
// (/wan_compat/explain_error) matches the message against the error catalogue and checks the graph's
// files, so the text under the node says the cause and the fix with the graph's actual file names.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const BOX = { bg: "#3b1212", border: "#f87171", text: "#fde2e2", fix: "#86efac" };
const explained = new Set();

function wrapLines(ctx, text, width) {
  const lines = [];
  for (const paragraph of String(text).split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      const next = line ? `${line} ${word}` : word;
      if (ctx.measureText(next).width > width && line) {
        lines.push(line);
        line = word;
      } else {
        line = next;
      }
    }
    lines.push(line);
  }
  return lines;
}

function drawExplanation(node, ctx) {
  const info = node.wan_native_error;
  if (!info || node.flags?.collapsed) return;
  ctx.save();
  ctx.font = "12px sans-serif";
  const width = Math.max(node.size[0], 320);
  const cause = wrapLines(ctx, `${info.summary}${info.related?.length ? ": " + info.related.map((p) => p.summary).join("; ") : ""}`, width - 16);
  const fix = wrapLines(ctx, `Fix: ${info.related?.[0]?.fix ?? info.fix}`, width - 16);
  const height = (cause.length + fix.length) * 15 + 12;
  const y = node.size[1] + 6;
  ctx.fillStyle = BOX.bg;
  ctx.strokeStyle = BOX.border;
  ctx.beginPath();
  ctx.roundRect(0, y, width, height, 6);
  ctx.fill();
  ctx.stroke();
  let line = y + 16;
  ctx.fillStyle = BOX.text;
  for (const text of cause) {
    ctx.fillText(text, 8, line);
    line += 15;
  }
  ctx.fillStyle = BOX.fix;
  for (const text of fix) {
    ctx.fillText(text, 8, line);
    line += 15;
  }
  ctx.restore();
}

async function explain(detail) {
  const node = app.graph.getNodeById(Number(String(detail.node_id).split(":")[0]));
  let workflow = null;
  try {
    workflow = app.graph.serialize();
  } catch {
    workflow = null;
  }
  const response = await api.fetchApi("/wan_compat/explain_error", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      message: detail.exception_message ?? "",
      exception_type: detail.exception_type ?? "",
      node_type: detail.node_type ?? "",
      workflow,
    }),
  });
  if (!response.ok) return;
  const info = await response.json();
  if (!info.explained || !node) return;
  node.wan_native_error = info;
  explained.add(node);
  app.graph.setDirtyCanvas(true, true);
  const fix = info.related?.[0]?.fix ?? info.fix;
  app.extensionManager?.toast?.add({ severity: "error", summary: `Wan Compat: ${info.summary}`, detail: `Fix: ${fix}`, life: 12000 });
}

app.registerExtension({
  name: "wan_compat.native_errors",

  nodeCreated(node) {
    const onDrawForeground = node.onDrawForeground;
    node.onDrawForeground = function (ctx) {
      onDrawForeground?.apply(this, arguments);
      drawExplanation(this, ctx);
    };
  },

  async setup() {
    api.addEventListener("execution_error", ({ detail }) => {
      explain(detail).catch((error) => console.warn("[wan_compat] could not explain the error:", error));
    });
    api.addEventListener("execution_start", () => {
      for (const node of explained) delete node.wan_native_error;
      explained.clear();
    });
  },
});
