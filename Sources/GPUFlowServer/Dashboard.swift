/// The dashboard: one page of plain HTML and JavaScript (no build step). It asks for a token
/// (kept in the page only), then shows the jobs it may see, their state and progress, per-agent
/// counts and links to reports, refreshed every second.
enum Dashboard {
    static let html = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>gpuflow jobs</title>
        <style>body{font:14px system-ui,sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}
        .succeeded{color:#2a7}.failed,.limit{color:#c33}.running{color:#27c}.cancelled,.interrupted{color:#888}</style></head>
        <body><h1>gpuflow jobs</h1>
        <p><input id="token" type="password" placeholder="bearer token" size="40"> <button id="go">show</button> <span id="status"></span></p>
        <h2>Agents</h2><table id="agents"><tr><th>agent</th><th>jobs</th><th>running</th><th>succeeded</th><th>failed</th></tr></table>
        <h2>Jobs</h2><table id="jobs"><tr><th>id</th><th>agent</th><th>state</th><th>progress</th><th>seconds</th><th>reason</th><th>report</th></tr></table>
        <script>
        let token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
        document.getElementById("token").value = token;
        document.getElementById("go").onclick = () => { token = document.getElementById("token").value; refresh(); };
        function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
        async function refresh() {
          if (!token) return;
          const r = await fetch("/v1/jobs", {headers: {Authorization: "Bearer " + token}});
          const status = document.getElementById("status");
          if (!r.ok) { status.textContent = "error " + r.status; return; }
          status.textContent = "updated " + new Date().toLocaleTimeString();
          const jobs = (await r.json()).jobs;
          const t = document.getElementById("jobs");
          while (t.rows.length > 1) t.deleteRow(1);
          const agents = {};
          for (const j of jobs) {
            const row = t.insertRow(); row.id = "job-" + j.id; row.dataset.state = j.state;
            cell(row, j.id); cell(row, j.agent); cell(row, j.state, j.state); cell(row, j.progress || "");
            cell(row, j.ended_at && j.started_at ? (j.ended_at - j.started_at).toFixed(3) : "");
            cell(row, j.reason || "");
            const rep = cell(row, "");
            if (j.report) { const a = document.createElement("a"); a.href = j.report; a.textContent = "report"; rep.appendChild(a); }
            const s = agents[j.agent] = agents[j.agent] || {jobs: 0, running: 0, succeeded: 0, failed: 0};
            s.jobs++; if (s[j.state] !== undefined) s[j.state]++; else if (j.state === "limit") s.failed++;
          }
          const a = document.getElementById("agents");
          while (a.rows.length > 1) a.deleteRow(1);
          for (const [name, s] of Object.entries(agents)) { const row = a.insertRow(); for (const v of [name, s.jobs, s.running, s.succeeded, s.failed]) cell(row, v); }
        }
        setInterval(refresh, 1000); refresh();
        </script></body></html>
        """
}
