// Draws the dashboard's charts from the JSON the server rendered into #ops-charts, and redraws
// them with the data live.js brings (event "ops:charts").
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("ops-charts").textContent);
  var colours = data.colours;
  var outcomeColours = { succeeded: colours.completed, retry: colours.blocked, failed: colours.failed, lost: "#6d4c41" };
  var common = { responsive: true, animation: false, plugins: { legend: { position: "bottom" } } };
  var stacked = { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } };
  function label(key) { return (data.labels && data.labels[key]) || key; }

  function statusDatasets(status) {
    return Object.keys(status.series).map(function (key) {
      return { label: label(key), data: status.series[key], backgroundColor: colours[key] };
    });
  }
  function activityDatasets(chart) {
    return Object.keys(chart.series).map(function (outcome) {
      return { label: label(outcome) + " (" + chart.totals[outcome] + ")", data: chart.series[outcome], backgroundColor: outcomeColours[outcome] };
    });
  }

  var charts = {
    status: new Chart(document.getElementById("chart-status"), {
      type: "bar", data: { labels: data.status.labels, datasets: statusDatasets(data.status) },
      options: Object.assign({}, common, stacked)
    }),
    day: new Chart(document.getElementById("chart-day"), {
      type: "bar", data: { labels: data.day.labels, datasets: activityDatasets(data.day) },
      options: Object.assign({}, common, stacked)
    }),
    week: new Chart(document.getElementById("chart-week"), {
      type: "bar", data: { labels: data.week.labels, datasets: activityDatasets(data.week) },
      options: Object.assign({}, common, stacked)
    })
  };

  document.addEventListener("ops:charts", function (event) {
    var fresh = event.detail;
    charts.status.data.labels = fresh.status.labels;
    charts.status.data.datasets = statusDatasets(fresh.status);
    charts.day.data.labels = fresh.day.labels;
    charts.day.data.datasets = activityDatasets(fresh.day);
    charts.week.data.labels = fresh.week.labels;
    charts.week.data.datasets = activityDatasets(fresh.week);
    Object.keys(charts).forEach(function (name) { charts[name].update("none"); });
  });
  document.body.setAttribute("data-charts-ready", "1");
})();
