// The report page's charts: each <canvas data-chart="N"> gets the N-th chart of the JSON data
// block, drawn by Chart.js as it is given (labels and datasets come from the Python side).
// Names from logs reach Chart.js only as data: it draws them on the canvas, as text.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  Chart.defaults.animation = false; // a document, drawn once: screenshots and prints see it all
  Chart.defaults.font.family = "system-ui, sans-serif";
  function shorten(value) {
    const label = String(this.getLabelForValue(value));
    return label.length > 28 ? `${label.slice(0, 27)}…` : label;
  }
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const chart = data.charts[Number(canvas.dataset.chart)];
    const value = chart.horizontal ? "x" : "y";
    const category = chart.horizontal ? "y" : "x";
    new Chart(canvas, {
      type: "bar",
      data: { labels: chart.labels, datasets: chart.datasets },
      options: {
        indexAxis: chart.horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: chart.datasets.length > 1 } },
        scales: {
          // Long names (they come from flows) cut on the axis; the tooltip shows them whole.
          [category]: { stacked: chart.stacked, ticks: { callback: shorten } },
          [value]: {
            stacked: chart.stacked,
            beginAtZero: true,
            title: { display: true, text: chart.unit },
            ticks: chart.unit === "seconds" ? {} : { precision: 0 },
          },
        },
      },
    });
  }
  document.body.dataset.charts = "drawn";
})();
