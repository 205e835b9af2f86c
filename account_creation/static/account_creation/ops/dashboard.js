// Draws the dashboard's charts from the JSON the server rendered into #ops-charts.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ops-charts").textContent);
  var colours = data.colours;
  var outcomeColours = { succeeded: colours.completed, retry: colours.blocked, failed: colours.failed, lost: "#6d4c41" };
  var common = { responsive: true, animation: false, plugins: { legend: { position: "bottom" } } };

  new Chart(document.getElementById("chart-status"), {
    type: "bar",
    data: {
      labels: data.status.labels,
      datasets: Object.keys(data.status.series).map(function (status) {
        return { label: status, data: data.status.series[status], backgroundColor: colours[status] };
      })
    },
    options: Object.assign({}, common, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } })
  });

  function activity(id, chart) {
    new Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels: chart.labels,
        datasets: Object.keys(chart.series).map(function (outcome) {
          return { label: outcome + " (" + chart.totals[outcome] + ")", data: chart.series[outcome], backgroundColor: outcomeColours[outcome] };
        })
      },
      options: Object.assign({}, common, { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } })
    });
  }
  activity("chart-day", data.day);
  activity("chart-week", data.week);
  document.body.setAttribute("data-charts-ready", "1");
})();
