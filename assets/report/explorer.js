// mtasim report explorer: draws the chosen destination's panels with uPlot from the JSON
// embedded in the page, keeps zoom, pan and cursor shared by all panels, sorts tables and
// checks itself when the address asks for it (#...&selftest). No network, no globals but
// the ones the page defines (uPlot, scriptErrors).
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("explorer-data").textContent);
  var palette = JSON.parse(document.getElementById("explorer-palette").textContent);
  var STATES = ["normal", "backoff", "suspended"];
  var BAND_ALPHA = 0.22;
  var AXIS_SIZE = 64;
  var SYNC = "mtasim-explorer";
  // Tick steps of the time axis, in seconds: round durations only.
  var TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 259200, 604800, 1209600, 2592000];

  // The panels of the PNG charts, by the series they draw. A panel is shown when one of
  // its series is in the timeline.
  var PANELS = [
    { id: "strip", title: "flow-control state", strip: true, keys: ["state"], height: 54 },
    { id: "queue", title: "queue depth", unit: "messages", height: 210, series: [
      { key: "ready", label: "ready" },
      { key: "waiting", label: "waiting retry" },
      { key: "in_flight", label: "in flight" }] },
    { id: "limits", title: "flow-control limits", unit: "connections", right: "messages/hour",
      height: 190, series: [
        { key: "concurrency_limit", label: "concurrency limit", step: true, whole: true },
        { key: "rate_limit", label: "rate limit /h (right axis)", step: true, dash: [8, 5],
          scale: "y2" }] },
    { id: "outcomes", title: "outcomes per minute", unit: "messages per minute",
      height: 210, perMinute: true, series: [
        { key: "delivered", label: "delivered" },
        { key: "deferred", label: "deferred" },
        { key: "bounced", label: "bounced" }] },
    { id: "reputation", title: "receiver's reputation score for this sender",
      unit: "score", height: 190, fixed: [-0.02, 1.05], series: [
        { key: "reputation", label: "reputation", decimals: 3 }] },
    { id: "flow", title: "destinations in dynamic flow control", unit: "destinations",
      height: 170, series: [
        { key: "in_backoff", label: "in backoff", color: "backoff", whole: true },
        { key: "suspended", label: "suspended", color: "suspended", whole: true }] },
    { id: "sessions", title: "SMTP sessions open at the receiver", unit: "sessions",
      height: 170, series: [
        { key: "sessions", label: "sessions", color: "in_flight", whole: true }] }
  ];

  var charts = [];        // { panel, source, u }
  var current = null;     // the chosen entry
  var extent = [0, 1];    // the whole run, seconds
  var syncing = false;
  var decoded = new Map(); // entry name -> timelines, decoded once

  // ---- Data -------------------------------------------------------------------------

  function expand(column) {
    if (Array.isArray(column)) return column;
    var out = [], runs = column.r;
    for (var i = 0; i < runs.length; i += 2) {
      for (var k = 0; k < runs[i + 1]; k++) out.push(runs[i]);
    }
    return out;
  }

  function decodeTimeline(raw) {
    if (!raw) return null;
    var t = 0;
    var times = expand(raw.dt).map(function (step) {
      t = Math.round((t + step) * 1000) / 1000;
      return t;
    });
    var columns = {};
    Object.keys(raw).forEach(function (key) {
      if (key !== "dt") columns[key] = expand(raw[key]);
    });
    return { times: times, columns: columns };
  }

  function timelines(entry) {
    if (!decoded.has(entry.name)) decoded.set(entry.name, entry.timelines.map(decodeTimeline));
    return decoded.get(entry.name);
  }

  // Counts in each interval as a rate per minute of the interval that ends at the sample.
  function perMinute(times, counts) {
    return counts.map(function (n, i) {
      if (n == null) return null;
      var span = i > 0 ? times[i] - times[i - 1] : (times.length > 1 ? times[1] - times[0] : 0);
      return span > 0 ? n * 60 / span : 0;
    });
  }

  // Stretches of one state: a sample stands for the interval that follows it.
  function bands(times, states) {
    var out = [], open = null;
    var last = times.length > 1 ? times[times.length - 1] + (times[times.length - 1] - times[times.length - 2]) : times[0];
    states.forEach(function (s, i) {
      if (open && open.state === s) return;
      if (open) { open.to = times[i]; out.push(open); open = null; }
      if (s != null) open = { from: times[i], state: s };
    });
    if (open) { open.to = last; out.push(open); }
    return out;
  }

  // The worst state at each sample: a destination's own, or for the total whether some
  // destination was suspended or in backoff.
  function trouble(timeline) {
    var c = timeline.columns;
    if (c.state) return c.state;
    if (c.in_backoff || c.suspended) {
      return timeline.times.map(function (_, i) {
        if (c.suspended && c.suspended[i] > 0) return 2;
        if (c.in_backoff && c.in_backoff[i] > 0) return 1;
        return null;
      });
    }
    return null;
  }

  // ---- Formatting ---------------------------------------------------------------------

  function duration(seconds) {
    if (seconds == null || !isFinite(seconds)) return "–";
    var sign = seconds < 0 ? "−" : "";
    var ms = Math.round(Math.abs(seconds) * 1000);
    if (ms === 0) return "0s";
    var parts = [];
    [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000], ["ms", 1]].forEach(function (u) {
      if (ms >= u[1]) { parts.push(Math.floor(ms / u[1]) + u[0]); ms %= u[1]; }
    });
    return sign + parts.join(" ");
  }

  function count(v) {
    return v == null ? "–" : Math.round(v).toLocaleString("en-US");
  }

  function decimal(v, places) {
    if (v == null) return "–";
    var a = Math.abs(v);
    if (places != null) return v.toFixed(places);
    if (a >= 100 || v === Math.round(v)) return count(v);
    return v.toFixed(a >= 10 ? 1 : 2);
  }

  function axisNumber(v) {
    var a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (a >= 1e4) return Math.round(v / 1e3) + "k";
    return String(Math.round(v * 100) / 100);
  }

  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }

  // ---- Panels -------------------------------------------------------------------------

  function shadeHook(spans, colourOf, opacity) {
    return function (u) {
      var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
      var left = u.bbox.left, right = u.bbox.left + u.bbox.width;
      ctx.save();
      spans.forEach(function (b) {
        var colour = colourOf(b.state);
        if (!colour) return;
        var x0 = Math.max(left, u.valToPos(b.from, "x", true));
        var x1 = Math.min(right, u.valToPos(b.to, "x", true));
        if (x1 <= x0) return;
        ctx.fillStyle = alpha(colour, opacity);
        ctx.fillRect(x0, top, x1 - x0, height);
      });
      ctx.restore();
    };
  }

  function timeAxis(show) {
    return {
      scale: "x", space: 70, incrs: TIME_STEPS, size: show ? 32 : 6,
      values: function (u, splits) { return splits.map(show ? duration : function () { return ""; }); },
      grid: { stroke: "rgba(0,0,0,0.07)" }, ticks: { show: show }
    };
  }

  function valueAxis(scale, side, label, whole) {
    return {
      scale: scale, side: side, size: AXIS_SIZE, label: label, labelSize: 16,
      labelFont: "12px sans-serif", font: "11px sans-serif",
      grid: { show: side === 3, stroke: "rgba(0,0,0,0.07)" },
      values: function (u, splits) {
        return splits.map(function (v) {
          return whole && v !== Math.round(v) ? "" : axisNumber(v);
        });
      }
    };
  }

  // The options every panel shares: one cursor and one time axis for all.
  function baseOptions(panel, width, height) {
    return {
      width: width, height: height,
      cursor: {
        sync: { key: SYNC },
        y: false,
        drag: { x: true, y: false, setScale: true },
        bind: { mousedown: panHandler }
      },
      select: { show: true },
      legend: { live: true },
      scales: { x: { time: false, range: function (u, lo, hi) { return clampRange(lo, hi); } } },
      hooks: { setScale: [shareZoom], ready: [wheelZoom] }
    };
  }

  function stripChart(panel, timeline, width) {
    var states = timeline.columns.state;
    var opts = baseOptions(panel, width, panel.height);
    opts.scales.y = { range: [0, 1] };
    opts.axes = [timeAxis(false), valueAxis("y", 3, "", true), valueAxis("y", 1, "", true)];
    opts.axes[1].values = opts.axes[2].values = function (u, s) { return s.map(function () { return ""; }); };
    opts.axes[1].grid = { show: false };
    opts.series = [
      { label: "time", value: function (u, v) { return duration(v); } },
      { label: "state", stroke: "transparent", points: { show: false },
        value: function (u, v, series, i) { return i == null || states[i] == null ? "–" : STATES[states[i]]; } }
    ];
    opts.hooks.drawClear = [shadeHook(bands(timeline.times, states), function (s) {
      return palette[STATES[s]];
    }, 1)];
    return new uPlot(opts, [timeline.times, states.map(function () { return 0.5; })], null);
  }

  // Line styles of overlaid sources, in source order (replay: log, twin; tune: log, twin,
  // recommended), and their names in a panel's title.
  var SOURCE_DASHES = [null, [7, 4], [2, 3]];
  var SOURCE_STYLES = ["solid", "dashed", "dotted"];

  // The columns and uPlot series of `panel` in one timeline; `source` names the timeline
  // in the labels and `dash` draws its lines when sources share one chart.
  function panelSeries(panel, timeline, source, dash) {
    var c = timeline.columns;
    var columns = [];
    var series = [];
    panel.series.forEach(function (s) {
      var values = c[s.key];
      if (!values) return;
      if (panel.perMinute) values = perMinute(timeline.times, values);
      columns.push(values);
      series.push({
        label: source ? s.label + " · " + source : s.label, scale: s.scale || "y",
        width: dash ? 1.4 : 1.6,
        stroke: palette[s.color || s.key], dash: dash || s.dash,
        paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
        points: { show: false },
        value: function (u, v) {
          if (s.key === "rate_limit") return v == null ? "none" : count(v);
          return s.whole ? count(v) : decimal(v, s.decimals);
        }
      });
    });
    return { columns: columns, series: series };
  }

  // Every source's lines of `panel` on one chart, on the union of their times.
  function overlayChart(panel, lines, width) {
    var tables = [];
    var series = [{ label: "time", value: function (u, v) { return duration(v); } }];
    lines.forEach(function (timeline, s) {
      if (!hasPanel(panel, timeline)) return;
      var part = panelSeries(panel, timeline, data.sources[s], SOURCE_DASHES[s % SOURCE_DASHES.length]);
      tables.push([timeline.times].concat(part.columns));
      series = series.concat(part.series);
    });
    var opts = baseOptions(panel, width, panel.height);
    valueScales(panel, opts);
    opts.series = series;
    opts.hooks.drawClear = [];
    return new uPlot(opts, uPlot.join(tables), null);
  }

  // The y scales and axes of a lines panel.
  function valueScales(panel, opts) {
    // From a little below zero, so a line at zero is drawn whole, not cut by the frame.
    var fit = function (u, lo, hi) { var top = hi > 0 ? hi * 1.08 : 1; return [-top * 0.02, top]; };
    opts.scales.y = panel.fixed ? { range: panel.fixed } : { range: fit };
    var whole = panel.series.every(function (s) { return s.whole || s.scale === "y2"; });
    opts.axes = [timeAxis(true), valueAxis("y", 3, panel.unit, whole)];
    if (panel.right) {
      opts.scales.y2 = { range: fit };
      opts.axes.push(valueAxis("y2", 1, panel.right, false));
    } else {
      var blank = valueAxis("y", 1, "", true);
      blank.values = function (u, s) { return s.map(function () { return ""; }); };
      blank.ticks = { show: false };
      opts.axes.push(blank);
    }
  }

  function linesChart(panel, timeline, entry, width) {
    var c = timeline.columns;
    var opts = baseOptions(panel, width, panel.height);
    var part = panelSeries(panel, timeline, null, null);
    var columns = [timeline.times].concat(part.columns);
    var series = [{ label: "time", value: function (u, v) { return duration(v); } }].concat(part.series);
    if (panel.id === "reputation" && entry.thresholds) {
      [["throttle_below", "throttles below", "backoff"], ["block_below", "blocks below", "suspended"]]
        .forEach(function (t) {
          var level = entry.thresholds[t[0]];
          columns.push(timeline.times.map(function () { return level; }));
          series.push({ label: t[1] + " " + level, stroke: palette[t[2]], dash: [6, 6], width: 1.4,
            points: { show: false }, value: function () { return String(level); } });
        });
    }
    valueScales(panel, opts);
    opts.series = series;
    var states = trouble(timeline);
    var hooks = [];
    if (states) {
      hooks.push(shadeHook(bands(timeline.times, states), function (s) {
        return s > 0 ? palette[STATES[s]] : null;
      }, BAND_ALPHA));
    }
    if (panel.id === "reputation" && c.blocking) {
      hooks.push(shadeHook(bands(timeline.times, c.blocking), function (s) {
        return s === 1 ? palette.blocking : null;
      }, 0.3));
    }
    opts.hooks.drawClear = hooks;
    return new uPlot(opts, columns, null);
  }

  function hasPanel(panel, timeline) {
    if (!timeline) return false;
    var keys = panel.keys || panel.series.map(function (s) { return s.key; });
    return keys.some(function (k) { return timeline.columns[k]; });
  }

  function draw(entry) {
    charts.forEach(function (c) { c.u.destroy(); });
    charts = [];
    var host = document.getElementById("panels");
    host.innerHTML = "";
    var lines = timelines(entry);
    var sources = data.sources.length;
    // Overlaid sources share one column: a strip each, then one chart per panel.
    var overlay = data.overlay && sources > 1;
    var across = overlay ? 1 : sources;
    host.style.gridTemplateColumns = "repeat(" + across + ", minmax(0, 1fr))";
    var width = Math.max(320, Math.floor((host.clientWidth - 18 * (across - 1)) / across));
    extent = wholeRun(lines);
    if (sources > 1 && !overlay) {
      data.sources.forEach(function (name) { host.appendChild(div("source-title", name)); });
    }
    PANELS.forEach(function (panel) {
      if (!lines.some(function (t) { return hasPanel(panel, t); })) return;
      if (overlay && !panel.strip) {
        var both = div("panel", "");
        var styles = data.sources.map(function (name, s) {
          return name + " " + SOURCE_STYLES[s % SOURCE_STYLES.length];
        });
        both.appendChild(div("panel-title", panel.title + " (" + styles.join(", ") + ")"));
        host.appendChild(both);
        var u = overlayChart(panel, lines, width);
        both.appendChild(u.root);
        charts.push({ panel: panel.id, source: 0, u: u });
        return;
      }
      lines.forEach(function (timeline, s) {
        var cell = div("panel " + (panel.strip ? "strip" : ""), "");
        cell.appendChild(div("panel-title", overlay ? panel.title + ": " + data.sources[s] : panel.title));
        host.appendChild(cell);
        if (!hasPanel(panel, timeline)) {
          cell.appendChild(div("note-panel", "no " + panel.title + " in " + data.sources[s]));
          return;
        }
        var u = panel.strip ? stripChart(panel, timeline, width) : linesChart(panel, timeline, entry, width);
        cell.appendChild(u.root);
        charts.push({ panel: panel.id, source: s, u: u });
      });
    });
    showReplies(entry);
  }

  function div(className, text) {
    var d = document.createElement("div");
    d.className = className;
    d.textContent = text;
    return d;
  }

  function wholeRun(lines) {
    var lo = Infinity, hi = -Infinity;
    lines.forEach(function (t) {
      if (!t || !t.times.length) return;
      lo = Math.min(lo, t.times[0]);
      hi = Math.max(hi, t.times[t.times.length - 1]);
    });
    return isFinite(lo) && hi > lo ? [lo, hi] : [0, 1];
  }

  function showReplies(entry) {
    var host = document.getElementById("replies");
    host.innerHTML = "";
    if (!entry.replies.length) return;
    host.appendChild(div("panel-title", "deferrals by reply (whole run, most frequent first)"));
    var table = document.createElement("table");
    entry.replies.forEach(function (r) {
      var tr = table.insertRow();
      var n = tr.insertCell();
      n.className = "num";
      n.textContent = count(r[1]);
      tr.insertCell().textContent = r[0];
    });
    host.appendChild(table);
  }

  // ---- Zoom and pan, shared ---------------------------------------------------------

  function clampRange(lo, hi) {
    var span = Math.min(Math.max(hi - lo, 1), extent[1] - extent[0]);
    lo = Math.max(extent[0], Math.min(lo, extent[1] - span));
    return [lo, lo + span];
  }

  function shareZoom(u, key) {
    if (key !== "x" || syncing) return;
    syncing = true;
    var lo = u.scales.x.min, hi = u.scales.x.max;
    charts.forEach(function (c) {
      if (c.u !== u) c.u.setScale("x", { min: lo, max: hi });
    });
    syncing = false;
    showRange(lo, hi);
  }

  function zoomTo(lo, hi) {
    if (!charts.length) return;
    var r = clampRange(lo, hi);
    charts[0].u.setScale("x", { min: r[0], max: r[1] });
  }

  function view() {
    var x = charts.length ? charts[0].u.scales.x : { min: extent[0], max: extent[1] };
    return [x.min, x.max];
  }

  function panHandler(u, target, handler) {
    return function (e) {
      if (!(e.shiftKey || e.button === 1)) return handler(e);
      e.preventDefault();
      var start = e.clientX, range = view(), width = u.over.clientWidth || 1;
      function move(m) {
        var shift = (start - m.clientX) / width * (range[1] - range[0]);
        zoomTo(range[0] + shift, range[1] + shift);
      }
      function up() {
        document.removeEventListener("mousemove", move);
        document.removeEventListener("mouseup", up);
      }
      document.addEventListener("mousemove", move);
      document.addEventListener("mouseup", up);
      return null;
    };
  }

  function wheelZoom(u) {
    u.over.addEventListener("wheel", function (e) {
      if (!(e.ctrlKey || e.metaKey)) return;
      e.preventDefault();
      var r = view(), at = u.posToVal(e.offsetX, "x");
      var factor = e.deltaY < 0 ? 0.7 : 1 / 0.7;
      zoomTo(at - (at - r[0]) * factor, at + (r[1] - at) * factor);
    }, { passive: false });
  }

  var hashTimer = null;
  function showRange(lo, hi) {
    document.getElementById("range").textContent = duration(lo) + " – " + duration(hi);
    clearTimeout(hashTimer);
    hashTimer = setTimeout(function () { writeHash(lo, hi); }, 150);
  }

  // ---- The address ----------------------------------------------------------------------

  function readHash() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      if (!part) return;
      var i = part.indexOf("=");
      var key = decodeURIComponent(i < 0 ? part : part.slice(0, i));
      params[key] = i < 0 ? "" : decodeURIComponent(part.slice(i + 1));
    });
    return params;
  }

  function writeHash(lo, hi) {
    if (!current) return;
    var params = readHash();
    var parts = ["destination=" + encodeURIComponent(current.name)];
    var whole = lo <= extent[0] + 1e-9 && hi >= extent[1] - 1e-9;
    if (!whole) parts.push("from=" + Math.round(lo), "to=" + Math.round(hi));
    if ("selftest" in params) parts.push("selftest");
    var hash = "#" + parts.join("&");
    if (hash !== location.hash) history.replaceState(null, "", hash);
  }

  // ---- Choosing a destination ---------------------------------------------------------

  function find(name) {
    return data.entries.find(function (e) { return e.name === name; }) || null;
  }

  function choose(entry, range, at) {
    current = entry;
    document.getElementById("pick").value = entry.label;
    var heading = document.getElementById("chosen");
    heading.textContent = entry.label;
    var facts = summaryFacts(entry.name);
    if (facts) {
      var span = document.createElement("span");
      span.className = "facts";
      span.textContent = facts;
      heading.appendChild(span);
    }
    document.querySelectorAll("tr.chosen").forEach(function (tr) { tr.classList.remove("chosen"); });
    document.querySelectorAll("tr[data-destination]").forEach(function (tr) {
      if (tr.dataset.destination === entry.name && !tr.dataset.at) tr.classList.add("chosen");
    });
    draw(entry);
    if (range) zoomTo(range[0], range[1]);
    else showRange(extent[0], extent[1]);
    // After uPlot has applied the zoom (on its next microtask).
    if (at != null) setTimeout(function () { pointAt(at); }, 0);
  }

  // "delivered 1,234 · deferrals 56 · ..." from the summary table's row.
  function summaryFacts(name) {
    var table = document.getElementById("summary-table");
    if (!table) return "";
    var row = Array.prototype.find.call(table.tBodies[0].rows, function (tr) {
      return tr.dataset.destination === name;
    });
    if (!row) return "";
    var wanted = ["delivered", "deferrals", "in backoff", "suspended", "blocks"];
    var headers = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return th.textContent.replace(/[▲▼]/g, "").trim();
    });
    return wanted.filter(function (h) { return headers.indexOf(h) >= 0; }).map(function (h) {
      return h + " " + row.cells[headers.indexOf(h)].textContent;
    }).join(" · ");
  }

  function pointAt(at) {
    charts.forEach(function (c) {
      var u = c.u;
      u.setCursor({ left: u.valToPos(at, "x"), top: u.over.clientHeight / 2 });
    });
  }

  function open(name, at) {
    var entry = find(name);
    if (!entry) return;
    var range = null;
    if (at != null) {
      var whole = wholeRun(timelines(entry));
      var half = Math.max((whole[1] - whole[0]) / 16, 60);
      range = [at - half, at + half];
    }
    choose(entry, range, at);
    document.getElementById("explorer").scrollIntoView({ behavior: "auto", block: "start" });
  }

  // ---- The picker -----------------------------------------------------------------------

  var MAX_MATCHES = 200;
  var active = 0;

  function matches(query) {
    var q = query.trim().toLowerCase();
    if (!q) return data.entries;
    var starts = [], contains = [];
    data.entries.forEach(function (e) {
      var text = (e.label + " " + e.name).toLowerCase();
      if (e.label.toLowerCase().indexOf(q) === 0 || e.name.toLowerCase().indexOf(q) === 0) starts.push(e);
      else if (text.indexOf(q) >= 0) contains.push(e);
    });
    return starts.concat(contains);
  }

  function showMatches() {
    var list = document.getElementById("matches");
    var found = matches(document.getElementById("pick").value);
    list.innerHTML = "";
    active = Math.min(active, Math.max(found.length - 1, 0));
    found.slice(0, MAX_MATCHES).forEach(function (entry, i) {
      var li = document.createElement("li");
      li.textContent = entry.label;
      if (i === active) li.className = "active";
      li.addEventListener("mousedown", function (e) {
        e.preventDefault();
        pick(entry);
      });
      list.appendChild(li);
    });
    if (found.length > MAX_MATCHES) {
      var more = document.createElement("li");
      more.className = "more";
      more.textContent = (found.length - MAX_MATCHES) + " more: type to narrow";
      list.appendChild(more);
    }
    if (!found.length) {
      var none = document.createElement("li");
      none.className = "more";
      none.textContent = "no destination matches";
      list.appendChild(none);
    }
    list.classList.add("open");
    return found;
  }

  function pick(entry) {
    document.getElementById("matches").classList.remove("open");
    choose(entry, null, null);
    writeHash(extent[0], extent[1]);
  }

  function setUpPicker() {
    var input = document.getElementById("pick");
    input.addEventListener("focus", function () { input.select(); active = 0; showMatches(); });
    input.addEventListener("input", function () { active = 0; showMatches(); });
    input.addEventListener("blur", function () {
      document.getElementById("matches").classList.remove("open");
      if (current) input.value = current.label;
    });
    input.addEventListener("keydown", function (e) {
      var found = matches(input.value);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        var n = Math.min(found.length, MAX_MATCHES);
        active = (active + (e.key === "ArrowDown" ? 1 : n - 1)) % Math.max(n, 1);
        showMatches();
      } else if (e.key === "Enter" && found.length) {
        pick(found[Math.min(active, found.length - 1)]);
        input.blur();
      } else if (e.key === "Escape") {
        input.blur();
      }
    });
  }

  function setUpToolbar() {
    function button(id, action) {
      document.getElementById(id).addEventListener("click", action);
    }
    button("zoom-out", function () {
      var r = view(), mid = (r[0] + r[1]) / 2, half = r[1] - r[0];
      zoomTo(mid - half, mid + half);
    });
    button("pan-left", function () { var r = view(), d = (r[1] - r[0]) / 2; zoomTo(r[0] - d, r[1] - d); });
    button("pan-right", function () { var r = view(), d = (r[1] - r[0]) / 2; zoomTo(r[0] + d, r[1] + d); });
    button("zoom-all", function () { zoomTo(extent[0], extent[1]); });
  }

  // ---- Tables ------------------------------------------------------------------------------

  function sortKey(cell) {
    if (cell.dataset.v !== undefined) return cell.dataset.v === "" ? NaN : Number(cell.dataset.v);
    return cell.textContent.trim().toLowerCase();
  }

  // Sorts by column `col`: numbers largest first, text A to Z, again to reverse; missing
  // numbers always last. The total stays on top and the summed rest at the bottom.
  function sortTable(table, col) {
    var th = table.tHead.rows[0].cells[col];
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var top = rows.filter(function (r) { return r.classList.contains("total"); });
    var bottom = rows.filter(function (r) { return r.classList.contains("other"); });
    var middle = rows.filter(function (r) { return top.indexOf(r) < 0 && bottom.indexOf(r) < 0; });
    var numeric = middle.some(function (r) { return typeof sortKey(r.cells[col]) === "number"; });
    var wasDesc = th.classList.contains("desc"), wasAsc = th.classList.contains("asc");
    var descending = numeric ? !wasDesc : wasAsc;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(descending ? "desc" : "asc");
    middle.sort(function (a, b) {
      var x = sortKey(a.cells[col]), y = sortKey(b.cells[col]);
      if (typeof x === "number" || typeof y === "number") {
        var xn = typeof x === "number" && !isNaN(x), yn = typeof y === "number" && !isNaN(y);
        if (!xn || !yn) return xn === yn ? 0 : (xn ? -1 : 1);
        return descending ? y - x : x - y;
      }
      return descending ? y.localeCompare(x) : x.localeCompare(y);
    });
    top.concat(middle, bottom).forEach(function (r) { body.appendChild(r); });
  }

  function setUpTables() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
        th.addEventListener("click", function () { sortTable(table, i); });
      });
      table.tBodies[0].addEventListener("click", function (e) {
        var tr = e.target.closest("tr[data-destination]");
        if (tr) open(tr.dataset.destination, tr.dataset.at ? Number(tr.dataset.at) : null);
      });
    });
  }

  // ---- Self-test (#...&selftest) -----------------------------------------------------------

  // Pixels of the plotting area in a colour near one of the panel's series colours.
  function inked(u) {
    var ctx = u.ctx, b = u.bbox;
    var pixels = ctx.getImageData(b.left, b.top, Math.max(b.width, 1), Math.max(b.height, 1)).data;
    var colours = u.series.slice(1).map(function (s) { return s.stroke && s.stroke(u, 1); })
      .filter(function (c) { return typeof c === "string" && c[0] === "#"; })
      .map(function (c) { var n = parseInt(c.slice(1), 16); return [n >> 16, (n >> 8) & 255, n & 255]; });
    if (u.root.parentNode.classList.contains("strip")) {
      colours = STATES.map(function (s) { var n = parseInt(palette[s].slice(1), 16); return [n >> 16, (n >> 8) & 255, n & 255]; });
    }
    var n = 0;
    for (var i = 0; i < pixels.length; i += 4) {
      if (pixels[i + 3] < 120) continue;
      for (var k = 0; k < colours.length; k++) {
        var c = colours[k];
        if (Math.abs(pixels[i] - c[0]) + Math.abs(pixels[i + 1] - c[1]) + Math.abs(pixels[i + 2] - c[2]) < 40) { n++; break; }
      }
    }
    return n;
  }

  function selftest() {
    var problems = [];
    var errors = window.scriptErrors || [];
    if (!current) problems.push("no destination chosen");
    if (!charts.length) problems.push("no panel drawn");
    charts.forEach(function (c) {
      var n = inked(c.u);
      if (n < 20) problems.push(c.panel + ": only " + n + " pixels in its series' colours");
      if (c.u.data[0].length < 2) problems.push(c.panel + ": fewer than two samples");
    });
    problems = problems.concat(sortsByDelivered());
    // uPlot applies a new scale on its next microtask: check the zoom a moment later.
    var lo = extent[0] + (extent[1] - extent[0]) / 4, hi = extent[0] + (extent[1] - extent[0]) / 2;
    zoomTo(lo, hi);
    setTimeout(function () {
      charts.forEach(function (c) {
        var x = c.u.scales.x;
        if (Math.abs(x.min - lo) > 1e-6 || Math.abs(x.max - hi) > 1e-6) {
          problems.push(c.panel + ": zoom not shared (" + x.min + ".." + x.max + ")");
        }
      });
      if (errors.length) problems.push("script errors: " + errors.join("; "));
      document.body.dataset.selftestPanels = String(charts.length);
      document.body.dataset.selftestDestination = current ? current.name : "";
      document.body.dataset.selftest = problems.length ? "fail: " + problems.join(" | ") : "ok";
    }, 50);
  }

  // Sorts the summary by "delivered" and checks the order; problems found.
  function sortsByDelivered() {
    var table = document.getElementById("summary-table");
    if (!table) return [];
    var col = Array.prototype.findIndex.call(table.tHead.rows[0].cells, function (th) {
      return th.textContent.trim() === "delivered";
    });
    if (col < 0) return [];
    sortTable(table, col);
    var values = Array.prototype.filter.call(table.tBodies[0].rows, function (r) {
      return !r.classList.contains("total") && !r.classList.contains("other");
    }).map(function (r) { return sortKey(r.cells[col]); });
    for (var i = 1; i < values.length; i++) {
      if (values[i] > values[i - 1]) return ["summary not sorted by delivered"];
    }
    return [];
  }

  // ---- Start ------------------------------------------------------------------------------

  // Shows what the address names; on a later change of address (a link to a section),
  // only when it names a destination.
  function fromHash(event) {
    var params = readHash();
    if (event && params.destination == null) return params;
    var entry = (params.destination != null && find(params.destination)) || data.entries[0];
    if (!entry) return params;
    var range = params.from != null && params.to != null ? [Number(params.from), Number(params.to)] : null;
    choose(entry, range, params.at != null ? Number(params.at) : null);
    // An address naming a destination is a link to its explorer, like an anchor.
    if (params.destination != null) document.getElementById("explorer").scrollIntoView();
    return params;
  }

  setUpPicker();
  setUpToolbar();
  setUpTables();
  var params = fromHash(null);
  window.addEventListener("hashchange", fromHash);
  var resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { if (current) { var r = view(); choose(current, r, null); } }, 200);
  });
  if ("selftest" in params) setTimeout(selftest, 100);
  if ("layout" in params) setTimeout(layout, 100);

  // ---- Layout report (#layout): what a reader sees first, for the headless test ----------
  function layout() {
    var verdict = document.getElementById("verdict");
    var table = document.getElementById("summary-table");
    var headers = {};
    var rows = [];
    if (table) {
      Array.prototype.forEach.call(table.querySelectorAll("thead th"), function (th) {
        headers[th.textContent] = Math.round(th.getBoundingClientRect().right);
      });
      Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
        rows.push(tr.classList.contains("total") ? "total" : tr.getAttribute("data-destination") || tr.cells[0].textContent);
      });
    }
    var box = table ? table.parentElement : null;
    document.body.dataset.layout = JSON.stringify({
      verdict: verdict ? verdict.textContent : "",
      verdictTop: verdict ? Math.round(verdict.getBoundingClientRect().top + window.scrollY) : -1,
      headers: headers,
      rows: rows,
      entries: data.entries.map(function (e) { return e.name; }),
      overflow: box ? Math.max(0, box.scrollWidth - box.clientWidth) : -1,
      viewport: window.innerWidth
    });
  }
})();
