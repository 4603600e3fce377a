// Progress of a large knowledge-base import: polls the job's JSON status and shows it.
// Everything from the server is written with textContent (error messages quote file content).
(function () {
  "use strict";
  function start() {
    var box = document.getElementById("kb-import-progress");
    if (!box) { return; }
    var url = box.dataset.statusUrl;
    var status = box.querySelector(".kb-status");
    var count = box.querySelector(".kb-count");
    var bar = box.querySelector(".kb-bar");
    var summary = box.querySelector(".kb-summary");
    var table = box.querySelector(".kb-errors");

    function cell(row, tag, text) {
      var el = document.createElement(tag);
      el.textContent = text;
      row.appendChild(el);
    }

    function showErrors(errors) {
      var head = document.createElement("tr");
      cell(head, "th", box.dataset.rowLabel);
      cell(head, "th", box.dataset.columnLabel);
      cell(head, "th", box.dataset.problemLabel);
      table.tHead.appendChild(head);
      errors.forEach(function (e) {
        var row = document.createElement("tr");
        cell(row, "td", e.row ? String(e.row) : "–");
        cell(row, "td", e.field);
        cell(row, "td", e.message);
        table.tBodies[0].appendChild(row);
      });
      table.hidden = false;
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (job) {
          status.textContent = job.status_label;
          count.textContent = job.done_rows + " / " + job.total_rows + " " + box.dataset.rowsLabel;
          bar.max = Math.max(job.total_rows, 1);
          bar.value = job.done_rows;
          if (job.finished) {
            summary.textContent = job.summary;
            if (job.result && job.result.errors && job.result.errors.length) {
              showErrors(job.result.errors);
            }
            return;
          }
          setTimeout(poll, 1000);
        })
        .catch(function () {
          summary.textContent = box.dataset.errorLabel;
          setTimeout(poll, 3000);
        });
    }
    poll();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
