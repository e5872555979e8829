/**
 * The browser console: one static page over the browser API (/api/v1). It shows only
 * what that API shows, so it cannot reveal endpoints, tokens, paths or digests either.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bundlesync console</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem; color: #1b1f24; }
  h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; }
  table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #ddd; }
  .ok { color: #1a7f37; } .bad { color: #cf222e; } .pending { color: #9a6700; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
  #msg { margin-top: .5rem; min-height: 1.2em; }
</style>
</head>
<body>
<h1>bundlesync</h1>
<div id="auth" hidden><label>API token <input id="token" type="password" autocomplete="off"></label> <button id="save">Use</button></div>
<h2>Workspaces</h2>
<table id="workspaces"><thead><tr><th>Workspace</th><th>Revision</th><th>Source</th><th>Profiles</th><th>Sync</th></tr></thead><tbody></tbody></table>
<h2>Runtimes</h2>
<table id="runtimes"><thead><tr><th>Runtime</th><th>Kind</th><th>Status</th><th>Workspaces</th></tr></thead><tbody></tbody></table>
<h2>Launch a Worker</h2>
<form id="launch">
  <select id="ws" aria-label="workspace"></select>
  <select id="profile" aria-label="profile"></select>
  <input id="goal" placeholder="goal" size="40" aria-label="goal">
  <button type="submit" id="go">Launch</button>
</form>
<div id="msg" role="status"></div>
<h2>Workers</h2>
<table id="workers"><thead><tr><th>Worker</th><th>Workspace</th><th>Profile</th><th>Runtime</th><th>Mode</th><th>Status</th></tr></thead><tbody></tbody></table>
<script>
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const headers = () => { const t = sessionStorage.getItem("token"); return t ? { authorization: "Bearer " + t } : {}; };
async function api(path, init = {}) {
  const res = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  if (res.status === 401) { $("auth").hidden = false; throw new Error("unauthorized"); }
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.code + ": " + body.error.message : String(res.status));
  return body;
}
let workspaces = [];
async function refresh() {
  const [{ workspaces: list }, { runtimes }, { workers }] = await Promise.all([api("/api/v1/workspaces"), api("/api/v1/runtimes"), api("/api/v1/workers")]);
  const details = await Promise.all(list.map((w) => api("/api/v1/workspaces/" + encodeURIComponent(w.id)).then((d) => d.workspace)));
  workspaces = details;
  $("workspaces").tBodies[0].innerHTML = details.map((w) => "<tr><td>" + esc(w.name) + " <small>(" + esc(w.id) + ")</small></td><td>" + esc(w.revision) +
    "</td><td class='" + (w.source.state === "ok" ? "ok" : "bad") + "'>" + esc(w.source.state) + (w.source.error ? " — " + esc(w.source.error.message) : "") +
    "</td><td>" + w.profiles.map((p) => esc(p.name)).join(", ") + "</td><td>" +
    w.sync.map((s) => "<span class='" + (s.state === "synced" ? "ok" : s.state === "failed" ? "bad" : "pending") + "'>" + esc(s.runtimeName) + ": " + esc(s.state) + (s.revision ? " r" + esc(s.revision) : "") + (s.error ? " (" + esc(s.error.code) + ")" : "") + "</span>").join("<br>") + "</td></tr>").join("");
  $("runtimes").tBodies[0].innerHTML = runtimes.map((r) => "<tr><td>" + esc(r.name) + " <small>(" + esc(r.id) + ")</small></td><td>" + esc(r.kind) + "</td><td class='" + (r.status === "up" ? "ok" : "bad") + "'>" + esc(r.status) + "</td><td>" + r.workspaces.map(esc).join(", ") + "</td></tr>").join("");
  $("workers").tBodies[0].innerHTML = workers.map((w) => "<tr><td>" + esc(w.id) + "</td><td>" + esc(w.workspaceId) + "</td><td>" + esc(w.profile) + "</td><td>" + esc(w.runtimeId) + "</td><td>" + esc(w.mode) + "</td><td>" + esc(w.status) + "</td></tr>").join("");
  const sel = $("ws").value;
  $("ws").innerHTML = details.map((w) => "<option value='" + esc(w.id) + "'>" + esc(w.name) + "</option>").join("");
  if (sel) $("ws").value = sel;
  fillProfiles();
}
function fillProfiles() {
  const w = workspaces.find((x) => x.id === $("ws").value) || workspaces[0];
  const cur = $("profile").value;
  $("profile").innerHTML = (w ? w.profiles : []).map((p) => "<option>" + esc(p.name) + "</option>").join("");
  if (cur) $("profile").value = cur;
}
$("ws").addEventListener("change", fillProfiles);
$("save").addEventListener("click", () => { sessionStorage.setItem("token", $("token").value); $("auth").hidden = true; refresh().catch(show); });
const show = (e) => { $("msg").textContent = e.message; $("msg").className = "bad"; };
$("launch").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const body = { profile: $("profile").value, ...($("goal").value ? { intent: { goal: $("goal").value } } : {}) };
    const { worker } = await api("/api/v1/workspaces/" + encodeURIComponent($("ws").value) + "/workers", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    $("msg").textContent = "Launched " + worker.id + " on " + worker.runtimeId + " (" + worker.mode + " mode)";
    $("msg").className = "ok";
    await refresh();
  } catch (e) { show(e); }
});
refresh().catch(show);
setInterval(() => refresh().catch(() => {}), 3000);
</script>
</body>
</html>
`;
