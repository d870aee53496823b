// Métricas page: draws the charts from the JSON the live part carries (#metrics-data), again
// after each live swap (SSE or the fallback poll); sorts the per-number table.
(function () {
  "use strict";
  const charts = {};
  const COLORS = { sent: "#0f766e", received: "#2563eb", failed: "#dc2626" };
  const ROUND_COLORS = ["#0f766e", "#f59e0b", "#dc2626", "#6b7280", "#2563eb", "#a855f7", "#14b8a6", "#64748b"];

  function data() {
    const el = document.getElementById("metrics-data");
    return el ? JSON.parse(el.textContent) : null;
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (charts[id]) { charts[id].destroy(); delete charts[id]; }
    if (!canvas || typeof Chart === "undefined") return;
    charts[id] = new Chart(canvas, config);
  }

  function render() {
    const d = data();
    if (!d) return;
    draw("chart-daily", {
      type: "bar",
      data: {
        labels: d.labels,
        datasets: ["sent", "received", "failed"].map((k) => ({
          label: d.names[k], data: d[k], backgroundColor: COLORS[k], borderRadius: 3,
        })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } },
      },
    });
    draw("chart-rounds", {
      type: "doughnut",
      data: {
        labels: d.rounds.labels,
        datasets: [{ data: d.rounds.values, backgroundColor: ROUND_COLORS }],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
                 plugins: { legend: { position: "right" } } },
    });
    const table = document.getElementById("numbers-table");
    if (table && table.dataset.sortKey) sort(table, table.dataset.sortKey, table.dataset.sortDir);
  }

  function sort(table, key, dir) {
    const heads = Array.from(table.querySelectorAll("thead th"));
    const index = heads.findIndex((th) => th.querySelector(".sort").dataset.key === key);
    if (index < 0) return;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).filter((r) => r.cells.length === heads.length);
    const value = (r) => r.cells[index].dataset.sort;
    const numeric = rows.every((r) => value(r) !== "" && !isNaN(Number(value(r))));
    rows.sort((a, b) => {
      const x = numeric ? Number(value(a)) - Number(value(b)) : value(a).localeCompare(value(b));
      return dir === "descending" ? -x : x;
    });
    rows.forEach((r) => body.appendChild(r));
    heads.forEach((th, i) => th.setAttribute("aria-sort", i === index ? dir : "none"));
    table.dataset.sortKey = key;
    table.dataset.sortDir = dir;
    kept = [key, dir];
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("#numbers-table .sort");
    if (!button) return;
    const table = button.closest("table");
    const th = button.closest("th");
    const dir = th.getAttribute("aria-sort") === "descending" ? "ascending" : "descending";
    sort(table, button.dataset.key, dir);
  });

  // Whatever replaced the live part (the SSE swap, the fallback poll), draw again and keep
  // the sort chosen before.
  let kept = null;
  function watch() {
    const live = document.getElementById("metrics-live");
    if (!live) return;
    new MutationObserver(() => {
      if (!document.getElementById("metrics-data")) return;
      const t = document.getElementById("numbers-table");
      if (t && kept && !t.dataset.sortKey) { t.dataset.sortKey = kept[0]; t.dataset.sortDir = kept[1]; }
      render();
    }).observe(live, { childList: true });
  }
  document.addEventListener("DOMContentLoaded", () => { render(); watch(); });
})();
