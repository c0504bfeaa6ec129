// Wan Compat: check the files a workflow picks before it is queued.
// The pack's route (/wan_compat/check_workflow) reads the headers of the files the graph names in
// ComfyUI's own model folders. Errors open a dialog: each problem with its fix (links clickable),
// the nodes it concerns by the titles the canvas shows, each with a button that jumps to it, and
// the nodes outlined on the canvas (classic canvas and Nodes 2.0). "Queue anyway" queues; "Cancel"
// stops the queue action the way the frontend's own validation does: api.queuePrompt throws the
// frontend's public PromptExecutionError (scripts/api.js, 1.27 and 1.58) with the problems as
// node errors, so nothing is queued, no "queued" notice shows, widgets such as a randomized seed
// keep their values, and the frontend marks the nodes as it marks its own validation errors.
// Warnings show as a toast. A setting turns the check off.
// Imports are relative to this file's URL, so the pack's folder name is never hard-coded.
import { app } from "../../scripts/app.js";
import { api, PromptExecutionError } from "../../scripts/api.js";
import { element, linkified } from "./wan_dom.js";
import { renderDownload, renderDownloadAll } from "./wan_hub_download.js";

const SETTING_ID = "WanCompat.WorkflowCheck.Enabled";
const OUTLINE = "#f87171";

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

// "12:34" is node 34 inside the subgraph of node 12: the canvas shows node 12.
function canvasNode(id) {
  return app.graph.getNodeById(Number(String(id).split(":")[0])) ?? null;
}

// A node as the canvas names it: its title (a subgraph's inner node after the subgraph's title).
function nodeTitle(id) {
  const [outer, ...inner] = String(id).split(":");
  const node = app.graph.getNodeById(Number(outer));
  if (!node) return `node ${id}`;
  const innerNode = inner.length ? node.subgraph?.getNodeById?.(Number(inner.at(-1))) : null;
  const title = node.title || node.type;
  return innerNode ? `${title} › ${innerNode.title || innerNode.type}` : title;
}

// Outline the blamed nodes while the dialog is open: the canvas's own error outline
// (node.has_errors) on the classic canvas, an outline on the node's element in Nodes 2.0.
function outline(problems) {
  const marked = [];
  for (const id of new Set(problems.flatMap((p) => p.node_ids ?? []))) {
    const node = canvasNode(id);
    if (!node || marked.some((m) => m.node === node)) continue;
    const el = document.querySelector(`[data-node-id="${node.id}"]`);
    marked.push({ node, had: node.has_errors, el, style: el ? [el.style.outline, el.style.outlineOffset] : null });
    node.has_errors = true;
    if (el) Object.assign(el.style, { outline: `4px solid ${OUTLINE}`, outlineOffset: "6px" });
  }
  app.graph.setDirtyCanvas(true, true);
  return () => {
    for (const { node, had, el, style } of marked) {
      node.has_errors = had;
      if (el) [el.style.outline, el.style.outlineOffset] = style;
    }
    app.graph.setDirtyCanvas(true, true);
  };
}

function jumpTo(id) {
  const node = canvasNode(id);
  if (!node) return;
  app.canvas.centerOnNode?.(node);
  if (app.canvas.selectItems) app.canvas.selectItems([node]);
  else app.canvas.selectNode?.(node);
  app.graph.setDirtyCanvas(true, true);
}

// One problem: what is wrong, what was found, the fix, and the nodes with a button to each.
function problemItem(p) {
  const item = element("li", "margin-bottom:12px");
  item.dataset.code = p.code;
  item.append(element("div", "font-weight:bold", p.summary));
  if (p.detail && p.code !== "WF_FILE_MISSING") item.append(element("div", "opacity:.8", p.detail));
  item.append(linkified(`Fix: ${p.fix}`, "display:block;color:#86efac"));
  const nodes = element("div", "display:flex;flex-wrap:wrap;gap:6px;margin-top:4px");
  for (const id of p.node_ids ?? []) {
    const button = element("button", "padding:2px 8px;font-size:12px;border-radius:4px;cursor:pointer", `→ ${nodeTitle(id)}`);
    button.className = "wan-jump";
    button.title = "Show this node on the canvas";
    button.onclick = () => jumpTo(id);
    nodes.append(button);
  }
  item.append(nodes);
  if (p.code === "WF_FILE_MISSING") item.classList.add("wan-missing-file");
  return item;
}

// Problems that say the same (code, summary, fix) once, with all their nodes: the check reports a
// mispairing at each node that meets it (the conditioning node, the decoder).
function merged(problems) {
  const byWords = new Map();
  for (const p of problems) {
    const key = JSON.stringify([p.code, p.summary, p.fix]);
    const seen = byWords.get(key);
    if (seen) seen.node_ids = [...new Set([...seen.node_ids, ...(p.node_ids ?? [])])];
    else byWords.set(key, { ...p, node_ids: [...(p.node_ids ?? [])] });
  }
  return [...byWords.values()];
}

// A dialog listing each error with its fix, beside the outlined nodes; a missing file the Hub has
// gets a Download button (wan_hub_download.js), and all of them "Download all". Resolves true for
// "Queue anyway", false for "Cancel" (or Escape).
function showDialog(errors, workflow) {
  return new Promise((resolve) => {
    const overlay = element("div", "position:fixed;inset:0;background:rgba(0,0,0,.3);z-index:10000;display:flex;align-items:flex-start;justify-content:flex-end");
    overlay.className = "wan-workflow-check-dialog";
    const box = element("div", "background:#1e1e1e;color:#eee;border:1px solid #f87171;border-radius:8px;width:min(560px,90vw);"
      + "max-height:calc(100vh - 120px);overflow:auto;margin:72px 24px 0 0;padding:18px 22px;font:14px sans-serif;overflow-wrap:anywhere");
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.append(element("h3", "margin:0 0 10px;color:#f87171", "Wan Compat: this workflow's files do not fit"));
    const list = element("ol", "padding-left:20px;margin:0 0 14px");
    const downloads = [];
    for (const p of merged(errors)) {
      const item = problemItem(p);
      if (p.code === "WF_FILE_MISSING") downloads.push(renderDownload(item, p, workflow));
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
    overlay.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close(false);
    });
    buttons.append(cancel, queue);
    renderDownloadAll(buttons, downloads);
    box.append(buttons);
    overlay.append(box);
    document.body.append(overlay);
    cancel.focus();
  });
}

// What the frontend gets when the user cancels: a refused prompt in ComfyUI's own answer format,
// one node error per blamed node and problem ("custom_validation_failed": the type ComfyUI gives a
// node's own VALIDATE_INPUTS refusal; 1.27 prints "message: details", 1.58 the details).
function refusal(errors) {
  const nodeErrors = {};
  for (const p of merged(errors)) {
    for (const id of p.node_ids ?? []) {
      const entry = (nodeErrors[id] ??= { errors: [], dependent_outputs: [], class_type: canvasNode(id)?.type ?? "" });
      entry.errors.push({ type: "custom_validation_failed", message: "Wan Compat", details: `${p.summary}. Fix: ${p.fix}`, extra_info: {} });
    }
  }
  return {
    error: { type: "prompt_outputs_failed_validation", message: "Not queued", details: "Cancelled in the Wan Compat file check", extra_info: {} },
    node_errors: nodeErrors,
  };
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
          const unmark = outline(errors);
          const go = await showDialog(errors, data.workflow);
          unmark();
          if (!go) throw new PromptExecutionError(refusal(errors)); // nothing is queued
        }
        if (warnings.length) {
          toast("warn", "Wan Compat", warnings.map((w) => `${w.summary} — ${w.fix}`).join("\n"));
        }
      }
      return queuePrompt(number, data, options);
    };
  },
});
