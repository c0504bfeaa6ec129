// Wan Compat: check the files a workflow picks before it is queued.
// The pack's route (/wan_compat/check_workflow) reads the headers of the files the graph names in
// ComfyUI's own model folders. Errors open a dialog (each problem with its fix; the nodes are
// highlighted) with "Queue anyway" and "Cancel"; warnings show as a toast. A setting turns it off.
// Imports are relative to this file's URL, so the pack's folder name is never hard-coded.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { renderDownload, renderDownloadAll } from "./wan_hub_download.js"; // issue 20: downloads from the Hub

const SETTING_ID = "WanCompat.WorkflowCheck.Enabled";
const HIGHLIGHT = "#f87171";
let highlighted = [];

function setting(id, fallback) {
  try {
    const value = app.extensionManager?.setting?.get(id);
    return value === undefined || value === null ? fallback : value;
  } catch {
    return fallback;
  }
}

function toast(severity, summary, detail) {
  app.extensionManager?.toast?.add({ severity, summary, detail, life: 8000 });
}

async function askServer(workflow) {
  const response = await api.fetchApi("/wan_compat/check_workflow", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ workflow }),
  });
  if (!response.ok) throw new Error(`check route answered ${response.status}`);
  return response.json();
}

function clearHighlight() {
  for (const { node, color } of highlighted) node.boxcolor = color;
  highlighted = [];
}

function highlight(problems) {
  clearHighlight();
  for (const problem of problems) {
    for (const id of problem.node_ids ?? []) {
      // "12:34" is node 34 inside the subgraph of node 12: highlight what the canvas shows (node 12)
      const node = app.graph.getNodeById(Number(String(id).split(":")[0]));
      if (!node || highlighted.some((h) => h.node === node)) continue;
      highlighted.push({ node, color: node.boxcolor });
      node.boxcolor = HIGHLIGHT;
    }
  }
  app.graph.setDirtyCanvas(true, true);
}

function element(tag, style, text) {
  const el = document.createElement(tag);
  if (style) el.style.cssText = style;
  if (text !== undefined) el.textContent = text;
  return el;
}

// A modal listing each error with its fix. Resolves true for "Queue anyway", false for "Cancel".
function showDialog(errors, workflow) {
  return new Promise((resolve) => {
    const overlay = element("div", "position:fixed;inset:0;background:rgba(0,0,0,.55);z-index:10000;display:flex;align-items:center;justify-content:center");
    overlay.className = "wan-workflow-check-dialog";
    const box = element("div", "background:#1e1e1e;color:#eee;border:1px solid #f87171;border-radius:8px;max-width:720px;max-height:80vh;overflow:auto;padding:18px 22px;font:14px sans-serif");
    box.setAttribute("role", "dialog");
    box.append(element("h3", "margin:0 0 10px;color:#f87171", "Wan Compat: this workflow's files do not fit"));
    const list = element("ol", "padding-left:20px;margin:0 0 14px");
    const downloads = []; // issue 20 hook: a Download button on each missing file (wan_hub_download.js)
    for (const p of errors) {
      const item = element("li", "margin-bottom:10px");
      item.dataset.code = p.code;
      item.append(element("div", "font-weight:bold", `${p.summary}`));
      if (p.detail) item.append(element("div", "opacity:.8", p.detail));
      item.append(element("div", "color:#34d399", `Fix: ${p.fix}`));
      item.append(element("div", "opacity:.6;font-size:12px", `${p.code} · node ${(p.node_ids ?? []).join(", ") || "-"}`));
      downloads.push(renderDownload(item, p, workflow)); // issue 20 hook
      list.append(item);
    }
    box.append(list);
    const buttons = element("div", "display:flex;gap:10px;justify-content:flex-end");
    const cancel = element("button", "padding:6px 14px", "Cancel");
    const queue = element("button", "padding:6px 14px;background:#7f1d1d;color:#fff;border:0", "Queue anyway");
    const close = (answer) => {
      overlay.remove();
      resolve(answer);
    };
    cancel.onclick = () => close(false);
    queue.onclick = () => close(true);
    buttons.append(cancel, queue);
    renderDownloadAll(buttons, downloads); // issue 20 hook: "Download all"
    box.append(buttons);
    overlay.append(box);
    document.body.append(overlay);
    cancel.focus();
  });
}

app.registerExtension({
  name: "wan_compat.workflow_check",
  settings: [
    {
      id: SETTING_ID,
      category: ["Wan Compat", "Workflow check", "Enabled"],
      name: "Check the workflow's model files before queueing",
      tooltip: "Asks the Wan Compat route whether the picked model, VAE, text encoder, CLIP vision and LoRA files fit each other.",
      type: "boolean",
      defaultValue: true,
    },
  ],

  async setup() {
    const queuePrompt = api.queuePrompt.bind(api);
    api.queuePrompt = async function (number, data, options) {
      if (setting(SETTING_ID, true) && data?.workflow) {
        let verdict = null;
        try {
          verdict = await askServer(data.workflow);
        } catch (error) {
          console.warn("[wan_compat] workflow check unavailable:", error);
        }
        const problems = verdict?.problems ?? [];
        const errors = problems.filter((p) => p.severity === "error");
        const warnings = problems.filter((p) => p.severity === "warning");
        if (errors.length) {
          highlight(errors);
          const go = await showDialog(errors, data.workflow);
          if (!go) return { prompt_id: null, node_errors: {} }; // cancelled: nothing is queued
        } else {
          clearHighlight();
        }
        if (warnings.length) {
          toast("warn", "Wan Compat", warnings.map((w) => `${w.summary} — ${w.fix}`).join("\n"));
        }
      }
      return queuePrompt(number, data, options);
    };
  },
});
