// ProactiveBench episode viewer: filters kept in the URL hash (#outcome=wrong&requests=0&q=star), no server.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var items = Array.prototype.slice.call(document.querySelectorAll(".item"));
  var texts = items.map(function (el) { return el.textContent.toLowerCase(); });

  function params() { return new URLSearchParams(location.hash.slice(1)); }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; });
  }

  function fields() { return form ? Array.prototype.slice.call(form.querySelectorAll("[name]")) : []; }

  function apply() {
    var wanted = fields().filter(function (f) { return f.value !== ""; });
    var shown = 0;
    items.forEach(function (el, i) {
      var ok = wanted.every(function (f) {
        if (f.name === "q") { return texts[i].indexOf(f.value.toLowerCase()) >= 0; }
        return el.getAttribute("data-" + f.name) === f.value;
      });
      el.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var count = document.getElementById("count");
    if (count) { count.textContent = shown + " / " + items.length + " shown"; }
    document.body.setAttribute("data-shown", String(shown));
  }

  function fromHash() {
    var p = params();
    fields().forEach(function (f) { f.value = p.get(f.name) || ""; });
    apply();
    var doc = p.get("doc");
    if (doc) {
      var target = document.getElementById("d" + doc);
      if (target) {
        if (p.get("solo") === "1") {
          document.body.classList.add("solo");
          items.forEach(function (el) { el.hidden = el !== target; });
        }
        target.hidden = false;
        target.open = true;
        if (p.get("solo") !== "1") { target.scrollIntoView(); }
      }
    }
    if (p.get("open") === "all") { openShown(true); }
  }

  function toHash() {
    var p = params();
    fields().forEach(function (f) { if (f.value) { p.set(f.name, f.value); } else { p.delete(f.name); } });
    p.delete("doc"); p.delete("solo");
    history.replaceState(null, "", "#" + p.toString());
    apply();
  }

  function openShown(open) {
    items.forEach(function (el) { if (!el.hidden && el.tagName === "DETAILS") { el.open = open; } });
  }

  if (form) {
    form.addEventListener("input", toHash);
    form.addEventListener("change", toHash);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    var expand = document.getElementById("expand");
    if (expand) { expand.addEventListener("click", function () { openShown(true); }); }
    var collapse = document.getElementById("collapse");
    if (collapse) { collapse.addEventListener("click", function () { openShown(false); }); }
  }
  window.addEventListener("hashchange", fromHash);

  // -- side by side: two runs (or variants) of one scenario, one doc at a time ----------------------
  var data = document.getElementById("compare-data");
  if (data) {
    var d = JSON.parse(data.textContent);
    var selA = document.getElementById("a"), selB = document.getElementById("b");
    var agree = document.getElementById("agree"), q = document.getElementById("cq");
    var rows = document.getElementById("rows");
    var frameA = document.getElementById("fa"), frameB = document.getElementById("fb");
    var current = null;
    var state = function () {
      var p = params();
      return { a: p.get("a") || "0", b: p.get("b") || "1", agree: p.get("agree") || "", q: p.get("q") || "", doc: p.get("doc") || "" };
    };
    var save = function (s) {
      var p = new URLSearchParams();
      Object.keys(s).forEach(function (k) { if (s[k]) { p.set(k, s[k]); } });
      history.replaceState(null, "", "#" + p.toString());
    };
    var show = function (s) {
      var A = d.columns[+s.a], B = d.columns[+s.b];
      if (!A || !B) { return; }
      if (A.scenario !== B.scenario) {
        rows.innerHTML = "<tr><td colspan=4>pick two columns of the same scenario</td></tr>";
        document.getElementById("ccount").textContent = "";
        return;
      }
      var ea = d.episodes[+s.a], eb = d.episodes[+s.b];
      var keys = Object.keys(ea).filter(function (k) { return k in eb; });
      var html = [], shown = 0;
      keys.forEach(function (k) {
        var x = ea[k], y = eb[k];
        var okA = x[0] === "correct", okB = y[0] === "correct";
        var rel = okA && okB ? "both" : okA ? "a" : okB ? "b" : "neither";
        if (s.agree === "differ" && x[0] === y[0] && x[1] === y[1]) { return; }
        if (s.agree && s.agree !== "differ" && s.agree !== rel) { return; }
        var info = d.info[A.scenario][k] || ["", ""];
        var text = (k + " " + info.join(" ")).toLowerCase();
        if (s.q && text.indexOf(s.q.toLowerCase()) < 0) { return; }
        shown += 1;
        html.push("<tr data-key='" + esc(k) + "'" + (k === s.doc ? " class='sel'" : "") + "><td>" + esc(info[0]) + "</td><td>" + esc(info[1]) +
          "</td><td><span class='b " + x[0] + "'>" + x[0] + "</span> " + x[1] + "</td><td><span class='b " + y[0] + "'>" + y[0] +
          "</span> " + y[1] + "</td></tr>");
      });
      rows.innerHTML = html.join("");
      document.getElementById("ccount").textContent = shown + " / " + keys.length + " docs";
      document.body.setAttribute("data-shown", String(shown));
      if (s.doc && ea[s.doc] && eb[s.doc]) {
        var srcA = A.base + "." + ea[s.doc][3] + ".html#doc=" + ea[s.doc][2] + "&solo=1";
        var srcB = B.base + "." + eb[s.doc][3] + ".html#doc=" + eb[s.doc][2] + "&solo=1";
        if (frameA.getAttribute("src") !== srcA) { frameA.setAttribute("src", srcA); }
        if (frameB.getAttribute("src") !== srcB) { frameB.setAttribute("src", srcB); }
      }
    };
    var refresh = function () {
      current = { a: selA.value, b: selB.value, agree: agree.value, q: q.value, doc: current ? current.doc : "" };
      save(current); show(current);
    };
    var load = function () {
      current = state();
      selA.value = current.a; selB.value = current.b; agree.value = current.agree; q.value = current.q;
      show(current);
    };
    [selA, selB, agree, q].forEach(function (el) { el.addEventListener("input", refresh); el.addEventListener("change", refresh); });
    rows.addEventListener("click", function (e) {
      var tr = e.target.closest("tr");
      if (!tr) { return; }
      current.doc = tr.getAttribute("data-key"); save(current); show(current);
    });
    window.addEventListener("hashchange", load);
    load();
  } else {
    fromHash();
  }
  document.body.setAttribute("data-ready", String(Math.round(performance.now())));
  window.addEventListener("load", function () {
    document.body.setAttribute("data-loaded", String(Math.round(performance.now())));
  });
})();
