// The managers' dashboard: fetches /api/v1/dashboard every few seconds and draws its figures as inline SVG.
// No library and no build step: the service serves this file as it is, under a Content-Security-Policy
// that allows scripts and styles from this origin only, so nothing here writes inline styles or HTML.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const API = "/api/v1/dashboard";
  // sessionStorage: the key lives as long as the tab, is never put in a URL and is not shared across tabs.
  const KEY_STORE = "creditscore.dashboard.apiKey";
  // FICO band colours, red (Poor) to green (Exceptional).
  const BAND_COLOURS = {
    Poor: "#c62828",
    Fair: "#ef6c00",
    Good: "#f9a825",
    "Very Good": "#7cb342",
    Exceptional: "#2e7d32",
  };
  const BIN_COLOUR = "#3f6fb5";
  const VOLUME_COLOUR = "#5c6bc0";
  const query = new URLSearchParams(window.location.search);
  // ?refresh=SECONDS (at least 1) lets a wall screen or a test refresh faster than the default 10 s.
  const REFRESH_SECONDS = Math.max(1, Number(query.get("refresh")) || 10);

  const $ = (id) => document.getElementById(id);
  let timer = null;
  let loading = false;

  function setState(state) {
    document.body.dataset.state = state;
  }

  function status(text) {
    $("status").textContent = text;
  }

  function apiKey() {
    return window.sessionStorage.getItem(KEY_STORE);
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = window.setTimeout(load, REFRESH_SECONDS * 1000);
  }

  async function load() {
    // A tab in the background does not poll; visibilitychange starts it again when shown.
    if (loading || document.hidden) return;
    loading = true;
    try {
      await fetchAndDraw();
    } finally {
      loading = false;
    }
  }

  async function fetchAndDraw() {
    const headers = { Accept: "application/json" };
    const key = apiKey();
    if (key) headers["X-API-Key"] = key;
    const hours = $("hours").value;
    let response;
    try {
      response = await fetch(`${API}?hours=${encodeURIComponent(hours)}`, {
        headers,
        cache: "no-store",
        credentials: "same-origin",
      });
    } catch (error) {
      status(`The service did not answer at ${clock(new Date())}; trying again every ${REFRESH_SECONDS} s.`);
      setState("error");
      schedule();
      return;
    }
    if (response.status === 401 || response.status === 403) {
      // No polling while the form waits: a wrong key would only be refused again.
      window.clearTimeout(timer);
      askForKey(response.status, key);
      return;
    }
    if (!response.ok) {
      status(`The figures are not available (HTTP ${response.status}); trying again every ${REFRESH_SECONDS} s.`);
      setState("error");
      schedule();
      return;
    }
    const data = await response.json();
    draw(data);
    schedule();
  }

  function askForKey(code, key) {
    if (key) window.sessionStorage.removeItem(KEY_STORE);
    $("key-message").textContent =
      code === 403
        ? "That key does not have the admin scope these figures need. Enter another key."
        : key
          ? "That key was refused. Enter a valid key with the admin scope."
          : "These figures need an API key with the admin scope.";
    $("key-form").hidden = false;
    $("forget-key").hidden = true;
    status("Waiting for an API key.");
    setState("key-needed");
    $("api-key").focus();
  }

  // --- drawing -------------------------------------------------------------------------------------------

  function el(name, attributes = {}, text) {
    const node = document.createElementNS(SVG, name);
    for (const [attribute, value] of Object.entries(attributes)) node.setAttribute(attribute, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A round axis maximum at or above n whose half is a whole number too (counts have no halves).
  function niceMax(n) {
    if (n <= 2) return 2;
    const power = 10 ** Math.floor(Math.log10(n));
    for (const step of [1, 2, 4, 6, 8, 10]) {
      const max = step * power;
      if (max >= n && max % 2 === 0) return max;
    }
    return 10 * power;
  }

  function number(n) {
    return n.toLocaleString();
  }

  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // bars: [{label, count, colour, data: {...}}]; every labelEvery-th bar gets its label under the axis.
  // width: of the drawing in SVG units; a full-width card gets a wider one so its text keeps its size.
  function barChart(container, id, bars, ariaLabel, labelEvery = 1, width = 640) {
    const height = 260;
    const left = 48;
    const right = 12;
    const top = 20;
    const bottom = 44;
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const max = niceMax(Math.max(0, ...bars.map((bar) => bar.count)));
    const slot = plotWidth / Math.max(1, bars.length);
    const gap = Math.min(8, slot * 0.2);
    const svg = el("svg", {
      id,
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": ariaLabel,
      preserveAspectRatio: "xMidYMid meet",
    });
    svg.appendChild(el("title", {}, ariaLabel));
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotHeight * (1 - fraction);
      svg.appendChild(el("line", { x1: left, x2: width - right, y1: y, y2: y, class: "grid-line" }));
      svg.appendChild(el("text", { x: left - 6, y: y + 4, class: "axis-label", "text-anchor": "end" }, number(max * fraction)));
    }
    bars.forEach((bar, index) => {
      const barHeight = (bar.count / max) * plotHeight;
      const x = left + index * slot + gap / 2;
      const rect = el("rect", {
        class: "bar",
        x: x.toFixed(2),
        y: (top + plotHeight - barHeight).toFixed(2),
        width: Math.max(1, slot - gap).toFixed(2),
        height: barHeight.toFixed(2),
        fill: bar.colour,
        "data-count": bar.count,
        "data-label": bar.label,
      });
      for (const [name, value] of Object.entries(bar.data || {})) rect.setAttribute(`data-${name}`, String(value));
      rect.appendChild(el("title", {}, `${bar.label}: ${number(bar.count)}`));
      svg.appendChild(rect);
      if (bars.length <= 12 && bar.count > 0) {
        svg.appendChild(
          el("text", { x: x + (slot - gap) / 2, y: top + plotHeight - barHeight - 5, class: "bar-value", "text-anchor": "middle" }, number(bar.count)),
        );
      }
      if (index % labelEvery === 0) {
        svg.appendChild(
          el("text", { x: x + (slot - gap) / 2, y: height - bottom + 18, class: "axis-label", "text-anchor": "middle" }, bar.axisLabel ?? bar.label),
        );
      }
    });
    container.replaceChildren(svg);
  }

  function timeLabel(iso, hours) {
    const date = new Date(iso);
    if (hours > 24) return date.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function describe(title, bars) {
    return `${title}: ${bars.map((bar) => `${bar.label} ${bar.count}`).join(", ") || "none"}`;
  }

  // The score PSI of a model version and its reading, or why there is none.
  function stabilityText(model) {
    if (model.stability === "no_reference") return "no reference";
    if (model.psi === null) return "not enough data";
    return `${model.psi.toFixed(3)} ${model.psi_reading}`;
  }

  // The input that moved most (its CSI and reading): where to look first when the PSI says act.
  function shiftedText(model) {
    if (model.shifted_input === null) return "–";
    return `${model.shifted_input} ${model.shifted_csi.toFixed(3)} ${model.shifted_reading}`;
  }

  function draw(data) {
    $("key-form").hidden = true;
    $("content").hidden = false;
    $("forget-key").hidden = !apiKey();
    $("total").textContent = number(data.total);
    $("segment-new").textContent = number(data.segments.new ?? 0);
    $("segment-existing").textContent = number(data.segments.existing ?? 0);
    const generated = new Date(data.generated_at);
    $("updated").textContent = clock(generated);
    $("updated").setAttribute("data-generated-at", data.generated_at);
    $("window-note").textContent =
      `Last ${data.hours} h, ${timeLabel(data.window_start, 48)} to now (times in your time zone). ` +
      `Figures may be up to ${data.stats_flush_seconds} s behind; this page refreshes every ${REFRESH_SECONDS} s.`;

    const bands = data.bands.map((b) => ({
      label: b.band,
      count: b.count,
      colour: BAND_COLOURS[b.band] || BIN_COLOUR,
      data: { band: b.band, min: b.min_score, max: b.max_score },
    }));
    barChart($("bands-chart"), "bands-svg", bands, describe("Scores per band", bands));

    const bins = data.distribution.map((b) => ({
      label: `${b.min_score}–${b.max_score}`,
      axisLabel: String(b.min_score),
      count: b.count,
      colour: BIN_COLOUR,
      data: { min: b.min_score, max: b.max_score },
    }));
    barChart($("distribution-chart"), "distribution-svg", bins, describe("Score distribution by 50-point bin", bins));

    const volume = data.volume.map((v) => ({
      label: timeLabel(v.start, data.hours),
      count: v.count,
      colour: VOLUME_COLOUR,
      data: { start: v.start },
    }));
    const per = data.bucket_minutes === 60 ? "hour" : `${data.bucket_minutes} minutes`;
    barChart(
      $("volume-chart"),
      "volume-svg",
      volume,
      // Up to 168 buckets: the label names the non-empty ones only.
      describe(`Scores per ${per}`, volume.filter((v) => v.count > 0)),
      Math.max(1, Math.ceil(volume.length / 12)),
      1280,
    );

    const rows = data.models.map((model) => {
      const row = document.createElement("tr");
      for (const value of [model.name, model.version, model.segment, stabilityText(model), shiftedText(model)]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      }
      // Coloured by the usual reading (stable, watch, act), which the text also says.
      if (model.psi_reading) row.cells[3].className = `reading-${model.psi_reading}`;
      if (model.shifted_reading) row.cells[4].className = `reading-${model.shifted_reading}`;
      return row;
    });
    $("models").tBodies[0].replaceChildren(...rows);

    // Each model's challenger, with this worker's shadow comparisons of it (every worker's: Grafana).
    const challengers = (data.challengers || []).map((challenger) => {
      const row = document.createElement("tr");
      const agreement = challenger.band_agreement;
      const difference = challenger.mean_absolute_difference;
      for (const value of [
        challenger.model,
        challenger.version,
        challenger.mode === "split" ? `split ${challenger.share}` : "shadow",
        String(challenger.compared),
        agreement === null ? "–" : `${(100 * agreement).toFixed(1)} %`,
        difference === null ? "–" : `${difference.toFixed(1)} points`,
      ]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      }
      return row;
    });
    $("challengers").tBodies[0].replaceChildren(...challengers);
    $("challengers-card").hidden = challengers.length === 0;

    // The status line speaks up (aria-live) for problems only, not at every refresh.
    status("");
    document.body.dataset.generatedAt = data.generated_at;
    setState("ready");
  }

  // --- wiring --------------------------------------------------------------------------------------------

  function start() {
    $("hours").addEventListener("change", load);
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) return;
      window.sessionStorage.setItem(KEY_STORE, key);
      $("api-key").value = "";
      $("key-form").hidden = true;
      status("Loading…");
      load();
    });
    $("forget-key").addEventListener("click", () => {
      window.sessionStorage.removeItem(KEY_STORE);
      $("content").hidden = true;
      load();
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && document.body.dataset.state !== "key-needed") load();
    });
    load();
  }

  start();
})();
