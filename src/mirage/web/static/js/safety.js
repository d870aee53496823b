// A number's safety page: the risk score over the last 24 hours, drawn from #risk-data, with
// the band thresholds' colours behind it.
(function () {
  "use strict";
  function render() {
    const el = document.getElementById("risk-data");
    const canvas = document.getElementById("chart-risk");
    if (!el || !canvas || typeof Chart === "undefined") return;
    const d = JSON.parse(el.textContent);
    const labels = d.labels.map((s) => new Date(s).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: [{ data: d.scores, borderColor: "#b45309", backgroundColor: "rgba(180,83,9,.12)", fill: true, pointRadius: 0, stepped: false, tension: 0.2 }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { min: 0, max: 100, ticks: { stepSize: 20 } } },
        plugins: { legend: { display: false } },
      },
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
})();
