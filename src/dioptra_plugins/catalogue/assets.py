"""The catalogue's stylesheet and its one script, inlined into the pages that use them.

Inline, so a page is one object: publish writes no extra files, a page never waits on a second
request, and nothing can point at an asset from another version of this tool.  Neither holds
anything from a bundle.  The script reads the search data that ``search.js`` (loaded by a
``<script src>``: Chromium refuses ``fetch()`` between ``file://`` URLs) puts in
``window.DIOPTRA_CATALOGUE``, and builds results with DOM calls and ``textContent`` only,
never ``innerHTML``: a docstring holding markup stays text.
"""

from __future__ import annotations

STYLE = """
:root {
  --ink: #1d2430; --muted: #5b6574; --line: #dde3ea; --paper: #ffffff; --wash: #f5f7fa;
  --accent: #2456a6; --accent-wash: #e8effa; --warn: #9a3412; --warn-wash: #fdecdf;
  --ok: #166534; --ok-wash: #e3f4e8; --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono",
  Menlo, Consolas, monospace;
}
* { box-sizing: border-box; }
body {
  margin: 0; color: var(--ink); background: var(--wash);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
}
a { color: var(--accent); text-decoration: none; }
a:hover, a:focus { text-decoration: underline; }
header.top {
  background: var(--ink); color: #fff; padding: 0.9rem 1.5rem;
  display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap;
}
header.top a { color: #fff; font-weight: 600; }
header.top .where { color: #b8c2d0; font-size: 0.9rem; }
main { max-width: 68rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0.2rem 0 0.8rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.6rem; }
h3 { font-size: 1.05rem; margin: 0; }
code, .mono { font-family: var(--mono); font-size: 0.88em; }
.card {
  background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem 1.2rem; margin: 0 0 1rem;
}
.muted { color: var(--muted); }
.badge {
  display: inline-block; border-radius: 999px; padding: 0 0.6rem; font-size: 0.8rem;
  background: var(--accent-wash); color: var(--accent); font-weight: 600; vertical-align: middle;
}
.badge.yanked { background: var(--warn-wash); color: var(--warn); }
.badge.signed { background: var(--ok-wash); color: var(--ok); }
.badge.unsigned { background: var(--wash); color: var(--muted); border: 1px solid var(--line); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.45rem 0.6rem; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 0.85rem; color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.hash { font-family: var(--mono); font-size: 0.8rem; word-break: break-all; }
form.search { display: flex; gap: 0.5rem; margin: 0 0 1.2rem; }
form.search input {
  flex: 1; font: inherit; padding: 0.6rem 0.8rem; border: 1px solid var(--line);
  border-radius: 6px; background: var(--paper);
}
form.search input:focus { outline: 2px solid var(--accent); border-color: var(--accent); }
form.search button {
  font: inherit; padding: 0.6rem 1rem; border-radius: 6px; border: 0;
  background: var(--accent); color: #fff; cursor: pointer;
}
#results { list-style: none; padding: 0; margin: 0 0 1.5rem; }
#results li { background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 0.7rem 1rem; margin: 0 0 0.6rem; }
#results .where { color: var(--muted); font-size: 0.85rem; }
#results .doc { margin: 0.2rem 0 0; }
#results .sig { font-family: var(--mono); font-size: 0.8rem; color: var(--muted);
  overflow-wrap: anywhere; }
#status { color: var(--muted); margin: 0 0 0.8rem; min-height: 1.5em; }
.task { border-top: 1px solid var(--line); padding: 0.9rem 0 0.4rem; }
.task:first-of-type { border-top: 0; padding-top: 0.2rem; }
.task pre.sig {
  background: var(--wash); border: 1px solid var(--line); border-radius: 6px;
  padding: 0.5rem 0.7rem; white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.4rem 0;
  font-family: var(--mono); font-size: 0.85rem;
}
.task h3 code { font-size: 1.08rem; color: var(--ink); }
.task .doc { margin: 0.3rem 0; white-space: pre-wrap; }
.task table { font-size: 0.9rem; margin: 0.3rem 0 0.5rem; }
.task td code { overflow-wrap: anywhere; }
p.lead { font-size: 1.05rem; margin: 0 0 1rem; }
table.declared th[colspan] { color: var(--ink); background: var(--wash); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
details > summary { cursor: pointer; color: var(--accent); margin: 0.4rem 0; }
nav.versions a { margin-right: 0.6rem; }
footer { color: var(--muted); font-size: 0.85rem; text-align: center; padding: 2rem 1rem; }
:target { scroll-margin-top: 1rem; }
.task:target { background: #fffbea; outline: 2px solid #f2d675; border-radius: 6px;
  padding-left: 0.6rem; padding-right: 0.6rem; }
"""

SEARCH_SCRIPT = """
(function () {
  "use strict";
  var data = window.DIOPTRA_CATALOGUE;
  var form = document.getElementById("search");
  var input = document.getElementById("q");
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  if (!data || !form || !input || !results || !status) { return; }
  var entries = data.tasks.map(function (entry) {
    var text = [entry.task, entry.module, entry.project, entry.doc].concat(entry.params);
    return { entry: entry, text: text.join(" ").toLowerCase() };
  });

  function words(query) {
    return query.toLowerCase().split(/\\s+/).filter(function (w) { return w.length > 0; });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function show(query) {
    var wanted = words(query);
    while (results.firstChild) { results.removeChild(results.firstChild); }
    if (wanted.length === 0) {
      status.textContent = data.tasks.length + " tasks in " + data.projects + " projects";
      return;
    }
    var found = entries.filter(function (item) {
      return wanted.every(function (w) { return item.text.indexOf(w) !== -1; });
    });
    status.textContent = found.length === 1 ? "1 task found" : found.length + " tasks found";
    found.slice(0, 200).forEach(function (item) {
      var entry = item.entry;
      var li = element("li", "result");
      var title = element("h3");
      var link = element("a", "task-link", entry.task);
      link.href = entry.href;
      title.appendChild(link);
      li.appendChild(title);
      li.appendChild(element("div", "where",
        entry.module + " \\u00b7 " + entry.project + " " + entry.version));
      if (entry.doc) { li.appendChild(element("p", "doc", entry.doc)); }
      li.appendChild(element("div", "sig", entry.task + entry.signature));
      results.appendChild(li);
    });
  }

  function remember(query) {
    var url = query ? "?q=" + encodeURIComponent(query) : window.location.pathname;
    try {
      window.history.replaceState(null, "", url);
    } catch (error) {
      // Some browsers refuse to change the URL of a file:// page; the search still works.
    }
  }

  var initial = new URLSearchParams(window.location.search).get("q") || "";
  input.value = initial;
  show(initial);
  input.addEventListener("input", function () {
    remember(input.value.trim());
    show(input.value);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    remember(input.value.trim());
    show(input.value);
  });
})();
"""
