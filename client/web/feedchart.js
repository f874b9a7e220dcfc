// A live chart of one `feed:` room, drawn by uPlot (vendor/uplot, loaded by index.html as
// the global `uPlot`; the copy is checked against the npm package by the test suite).
//
// Every finite number in a message's `data` is a series: {"cpu": 0.4, "mem": {"used": 0.6}}
// gives "cpu" and "mem.used". A feed may name units with a `units` object beside the
// values: {"cpu": 41, "load1": 7.2, "units": {"cpu": "%"}}. Series that share a unit share
// a y scale; a series without a unit gets a scale of its own, so cpu 0-1 beside load 7 is
// not a flat line. The first two scales get an axis (left, right); every value is shown
// with its unit in the legend, at the cursor when hovering, else the latest one. Clicking
// a legend entry hides or shows its series.
//
// The points are also on the chart's element as data-points (JSON {series: [[ts, v], ...]})
// and data-count, so tests and tools can read them.

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

const UNITS_KEY = "units";

/** [name, value] for every finite number in `data` (nested objects flattened with "."). */
export function numericFields(data, prefix = "", depth = 0) {
  if (typeof data === "number") {
    return Number.isFinite(data) ? [[prefix || "value", data]] : [];
  }
  if (data === null || typeof data !== "object" || Array.isArray(data) || depth > 3) return [];
  const out = [];
  for (const [key, value] of Object.entries(data)) {
    if (depth === 0 && key === UNITS_KEY) continue;
    out.push(...numericFields(value, prefix ? `${prefix}.${key}` : key, depth + 1));
  }
  return out;
}

/** The `units` a message declares: {series: "unit"} (strings of at most 12 characters). */
export function declaredUnits(data) {
  const units = data && typeof data === "object" ? data[UNITS_KEY] : null;
  if (!units || typeof units !== "object" || Array.isArray(units)) return {};
  return Object.fromEntries(
    Object.entries(units).filter(([, u]) => typeof u === "string" && u.length <= 12),
  );
}

/** `0.412` -> "0.412", `41.23456` -> "41.23", with the unit: "41.2 %" / "120 ms". */
export function withUnit(value, unit) {
  if (value == null || !Number.isFinite(value)) return "–";
  const shown = Math.abs(value) >= 1000 ? Math.round(value).toLocaleString()
    : Number(value.toPrecision(4)).toString();
  return unit ? `${shown} ${unit}` : shown;
}

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class FeedChart {
  constructor(element, { windowMs = 120_000, maxPoints = 600, height = 220 } = {}) {
    this.element = element;
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
    this.height = height;
    this.xs = []; // message times (ms), ascending
    this.series = new Map(); // name -> values parallel to xs (null where a message lacked it)
    this.units = {}; // name -> unit
    this.plot = null;
    this.shape = ""; // the series and units the plot was built for
    this.pending = false;
    this.expose();
    new ResizeObserver(() => this.resize()).observe(element);
    // The page follows the system's dark mode: rebuild with its colours when it flips.
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.rebuild());
  }

  /** Add one message's data at time `ts` (ms). Returns how many series it fed. */
  add(ts, data) {
    const fields = numericFields(data);
    const units = declaredUnits(data);
    if (!fields.length) return 0;
    Object.assign(this.units, units);
    let i = this.xs.length;
    while (i > 0 && this.xs[i - 1] > ts) i--; // history can arrive after live points
    this.xs.splice(i, 0, ts);
    for (const values of this.series.values()) values.splice(i, 0, null);
    for (const [name, value] of fields) {
      if (!this.series.has(name)) this.series.set(name, this.xs.map(() => null));
      this.series.get(name)[i] = value;
    }
    if (this.xs.length > this.maxPoints) {
      const drop = this.xs.length - this.maxPoints;
      this.xs.splice(0, drop);
      for (const values of this.series.values()) values.splice(0, drop);
    }
    this.expose();
    this.schedule();
    return fields.length;
  }

  get points() {
    const out = {};
    for (const [name, values] of this.series) {
      out[name] = values.flatMap((v, i) => (v == null ? [] : [[this.xs[i], v]]));
    }
    return out;
  }

  expose() {
    const points = this.points;
    this.element.dataset.points = JSON.stringify(points);
    this.element.dataset.count = String(Object.values(points).reduce((n, p) => n + p.length, 0));
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  /** Scale key of a series: one per unit, else one of its own. */
  scaleOf(name) {
    const unit = this.units[name];
    return unit ? `unit:${unit}` : `series:${name}`;
  }

  latest(name) {
    const values = this.series.get(name) || [];
    for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  options(width) {
    const names = [...this.series.keys()];
    const muted = cssVar("--muted", "#6b7280");
    const grid = cssVar("--line", "#e3e6eb");
    const scales = { x: { time: true, range: (u, min, max) => [max - this.windowMs, max] } };
    const axes = [{ stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } }];
    names.forEach((name, i) => {
      const key = this.scaleOf(name);
      if (scales[key]) return;
      scales[key] = {};
      const side = axes.length === 1 ? 3 : 1; // left, then right; more scales, no axis
      if (axes.length > 2) return;
      const unit = this.units[name];
      axes.push({
        scale: key,
        side,
        stroke: PALETTE[i % PALETTE.length],
        grid: { show: axes.length === 1, stroke: grid, width: 1 },
        ticks: { stroke: grid },
        // Wide enough for its longest label (uPlot does not measure them).
        size: (u, values) => 18 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)),
        values: (u, ticks) => ticks.map((t) => withUnit(t, unit)),
      });
    });
    return {
      width,
      height: this.height,
      ms: 1, // x values are milliseconds
      scales,
      axes,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true, markers: { fill: (u, i) => (i ? PALETTE[(i - 1) % PALETTE.length] : "") } },
      series: [
        { value: (u, ts) => (ts == null ? "now" : new Date(ts).toLocaleTimeString([], { hour12: false })) },
        ...names.map((name, i) => ({
          label: name,
          scale: this.scaleOf(name),
          stroke: PALETTE[i % PALETTE.length],
          width: 2,
          spanGaps: true,
          points: { show: false },
          // At the cursor when hovering, else the latest value.
          value: (u, v, sidx, idx) => withUnit(idx == null ? this.latest(name) : v, this.units[name]),
        })),
      ],
    };
  }

  data() {
    return [this.xs, ...this.series.values()];
  }

  rebuild() {
    this.plot?.destroy();
    this.plot = null;
    this.shape = "";
    this.draw();
  }

  draw() {
    if (!this.element.isConnected || this.element.offsetParent === null) return; // hidden
    if (!this.series.size) {
      this.element.replaceChildren(Object.assign(document.createElement("p"), {
        className: "chart-empty", textContent: "waiting for data…",
      }));
      return;
    }
    const shape = JSON.stringify([[...this.series.keys()], this.units]);
    const width = this.element.clientWidth || 600;
    if (!this.plot || shape !== this.shape) {
      this.plot?.destroy();
      this.shape = shape;
      this.element.replaceChildren();
      this.plot = new window.uPlot(this.options(width), this.data(), this.element);
      return;
    }
    this.plot.setData(this.data());
  }

  resize() {
    if (!this.plot) return this.draw();
    const width = this.element.clientWidth;
    if (width && width !== this.plot.width) this.plot.setSize({ width, height: this.height });
  }

  destroy() {
    this.plot?.destroy();
    this.plot = null;
  }
}
