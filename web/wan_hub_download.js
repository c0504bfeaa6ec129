// Wan Compat: "Download" for each missing model file in the queue-check dialog, and "Download all".
// The dialog (wan_workflow_check.js) calls renderDownload(item, problem, workflow) for each problem
// that carries `missing` ({name, folder}) and renderDownloadAll(buttons, controls) once. The pack's
// routes (/wan_compat/hub/*) take only the folder and name: the link comes from the registry or the
// workflow's own properties.models (a Hugging Face Hub link only), and the download runs on the
// server's worker threads; this file shows its progress, offers Cancel, and refreshes the model lists
// when a file is in place and verified. Imports are relative to this file's URL.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { element as el } from "./wan_dom.js";

const POLL_MS = 400;

async function post(route, body) {
  const response = await api.fetchApi(`/wan_compat/hub/${route}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`download route ${route} answered ${response.status}`);
  return response.json();
}

function bytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

let refreshTimer = null;
function refreshModelLists() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      await app.extensionManager.command.execute("Comfy.RefreshNodeDefinitions");
    } catch {
      await app.refreshComboInNodes?.();
    }
  }, 200);
}

// One missing file: where it would come from, a Download / Cancel button, progress, the outcome.
export function renderDownload(item, problem, workflow) {
  const missing = problem?.missing;
  if (!missing?.name || !missing?.folder) return null;
  const row = el("div", "display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin-top:6px");
  row.className = "wan-hub-download";
  row.dataset.name = missing.name;
  row.dataset.state = "checking";
  const button = el("button", "padding:3px 10px", "Download");
  button.disabled = true;
  const bar = el("progress", "width:160px;display:none");
  const status = el("span", "opacity:.85;font-size:12px", "finding the file on the Hugging Face Hub…");
  row.append(button, bar, status);
  item.append(row);

  let job = null;
  let finished = null; // settles `done`: true once the file is in place, false when it cannot be
  let attemptDone = null; // settles the promise of one start(): true when that download succeeded
  const control = {
    name: missing.name,
    downloadable: false,
    done: new Promise((resolve) => (finished = resolve)),
    get state() {
      return row.dataset.state;
    },
    start,
  };
  const set = (state, text) => {
    row.dataset.state = state;
    status.textContent = text;
  };

  post("plan", { workflow, files: [{ name: missing.name, folder: missing.folder }] })
    .then(({ files, offline }) => {
      const plan = files?.[0];
      if (plan?.source) {
        control.downloadable = true;
        button.disabled = false;
        const s = plan.source;
        set("ready", `${offline ? "offline (HF_HUB_OFFLINE): " : ""}from ${s.repo}${s.path ? "/" + s.path : ""}@${s.revision}`);
      } else {
        button.remove();
        set("refused", `${plan?.problem?.summary ?? "cannot be downloaded"} — ${plan?.problem?.fix ?? ""}`);
        finished(false);
      }
    })
    .catch((error) => {
      button.remove();
      set("refused", `download route unavailable: ${error.message}`);
      finished(false);
    });

  async function poll() {
    while (job && (job.state === "queued" || job.state === "running")) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const answer = await post("jobs", { ids: [job.id] });
      job = answer.jobs?.[0] ?? job;
      if (job.total_bytes) {
        bar.max = job.total_bytes;
        bar.value = job.done_bytes;
      }
      if (job.state === "running") set("running", `${bytes(job.done_bytes)} of ${bytes(job.total_bytes)}`);
    }
    bar.style.display = "none";
    button.textContent = "Download";
    button.onclick = start;
    if (job?.state === "done") {
      button.remove();
      const file = job.result?.files?.[0];
      const digest = file ? ` (${file.algorithm} ${String(file.digest).slice(0, 12)}… = the Hub's)` : "";
      set("done", `${job.result?.status === "present" ? "already in place" : "downloaded and verified"}${digest}: ${job.result?.target}`);
      refreshModelLists();
      finished(true);
    } else {
      const p = job?.problem;
      set(job?.state ?? "failed", `${p?.summary ?? "the download failed"}${p?.fix ? " — " + p.fix : ""}`);
    }
    attemptDone?.(job?.state === "done");
  }

  async function start() {
    if (row.dataset.state === "done") return true;
    if (!control.downloadable || row.dataset.state === "running") return false;
    const attempt = new Promise((resolve) => (attemptDone = resolve));
    set("running", "starting…");
    bar.style.display = "";
    bar.removeAttribute("value");
    try {
      const answer = await post("download", { workflow, name: missing.name, folder: missing.folder });
      if (!answer.job) {
        set("failed", `${answer.problem?.summary ?? "refused"} — ${answer.problem?.fix ?? ""}`);
        bar.style.display = "none";
        attemptDone(false);
        return attempt;
      }
      job = answer.job;
      button.textContent = "Cancel";
      button.onclick = () => post("cancel", { id: job.id }).catch(() => {});
      poll().catch((error) => {
        set("failed", `progress unavailable: ${error.message}`);
        attemptDone(false);
      });
    } catch (error) {
      set("failed", error.message);
      bar.style.display = "none";
      attemptDone(false);
    }
    return attempt;
  }
  button.onclick = start;
  return control;
}

// "Download all": starts every file that can be downloaded; says when all of them are in place.
export function renderDownloadAll(container, controls) {
  const list = controls.filter(Boolean);
  if (!list.length) return null;
  const note = el("span", "margin-right:auto;align-self:center;font-size:12px;opacity:.85");
  note.className = "wan-hub-download-all-status";
  const button = el("button", "padding:6px 14px", "Download all");
  button.className = "wan-hub-download-all";
  button.onclick = async () => {
    button.disabled = true;
    const results = await Promise.all(list.filter((c) => c.downloadable).map((c) => c.start()));
    note.textContent = results.length && results.every(Boolean) && list.every((c) => c.state === "done")
      ? "Every missing file is in place: you can queue now."
      : "Some files were not downloaded: see each one above.";
    button.disabled = false;
  };
  container.prepend(note, button);
  Promise.all(list.map((c) => c.done)).then((all) => {
    if (!all.every(Boolean)) return;
    note.textContent = "Every missing file is in place: you can queue now.";
    button.remove();
  });
  return button;
}
