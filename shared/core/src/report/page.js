"use strict";
// Sorting, filtering and paging of the report's tables. Untrusted text never reaches this
// script as code: it reads only data-* attributes and writes only textContent and hidden.
(function () {
  var PAGE = +document.querySelector("main").dataset.page || 50;
  var q = document.getElementById("q");
  var lv = document.getElementById("lv");
  var count = document.getElementById("count");
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.res"));
  var each = function (list, f) { Array.prototype.forEach.call(list, f); };

  function apply() {
    var words = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var level = +lv.value;
    var total = 0;
    tables.forEach(function (t) {
      var n = 0, shown = 0;
      each(t.tBodies, function (b) {
        var ok = +b.dataset.level >= level && words.every(function (w) {
          return b.dataset.text.indexOf(w) >= 0;
        });
        if (ok) { n++; }
        b.hidden = !ok || n > t.limit;
        if (!b.hidden) { shown++; }
      });
      var sec = t.closest("section.account");
      sec.hidden = n === 0;
      var pager = sec.querySelector(".pager");
      pager.hidden = n <= t.limit;
      pager.querySelector("span").textContent = "showing " + shown + " of " + n;
      total += n;
    });
    each(document.querySelectorAll("section.team"), function (s) {
      s.hidden = !s.querySelector("section.account:not([hidden])");
    });
    count.textContent = total + " resource(s) shown";
  }

  function sortBy(t, th) {
    var key = th.dataset.sort, num = th.hasAttribute("data-num");
    var cur = th.getAttribute("aria-sort");
    var dir = cur ? (cur === "ascending" ? -1 : 1) : (num && key !== "due" ? -1 : 1);
    each(t.querySelectorAll("th[aria-sort]"), function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
    var bodies = Array.prototype.slice.call(t.tBodies);
    bodies.sort(function (a, b) {
      var x = a.dataset[key], y = b.dataset[key];
      if (num) {
        // No value (no task due) sorts last either way.
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        return (x - y) * dir;
      }
      return x.localeCompare(y) * dir;
    });
    bodies.forEach(function (b) { t.appendChild(b); });
    apply();
  }

  // A link to a resource (the top risks) shows it, whatever the filter and the page.
  function reveal() {
    var b = document.getElementById(location.hash.slice(1));
    if (!b || b.tagName !== "TBODY") { return; }
    q.value = "";
    lv.value = "0";
    var t = b.closest("table");
    t.limit = Math.max(t.limit, Array.prototype.indexOf.call(t.tBodies, b) + 1);
    apply();
    b.querySelector("details").open = true;
    b.scrollIntoView();
  }

  tables.forEach(function (t) {
    t.limit = PAGE;
    each(t.querySelectorAll("th[data-sort]"), function (th) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(t, th); });
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(t, th); } });
    });
    t.closest("section.account").querySelector(".pager button").addEventListener("click", function () {
      t.limit += PAGE * 4;
      apply();
    });
  });
  q.addEventListener("input", apply);
  lv.addEventListener("change", apply);
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
})();
