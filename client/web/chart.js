// A live line chart on a <canvas>, drawn by hand (no library, no network).
// Every finite number in a message's `data` is a series: {"cpu": 0.4, "mem": {"used": 0.6}}
// gives the series "cpu" and "mem.used". Points are also exposed on the canvas as
// data-points (JSON {series: [[ts, value], ...]}) so tests and tools can read them.

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** [name, value] for every finite number in `data` (nested objects flattened with "."). */
export function numericFields(data, prefix = "", depth = 0) {
  if (typeof data === "number") {
    return Number.isFinite(data) ? [[prefix || "value", data]] : [];
  }
  if (data === null || typeof data !== "object" || Array.isArray(data) || depth > 3) return [];
  const out = [];
  for (const [key, value] of Object.entries(data)) {
    out.push(...numericFields(value, prefix ? `${prefix}.${key}` : key, depth + 1));
  }
  return out;
}

/** Round tick step (1, 2 or 5 x 10^n) for a span split into about `ticks` parts. */
export function niceStep(span, ticks = 4) {
  if (!(span > 0)) return 1;
  const raw = span / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
}

function clockLabel(ts) {
  return new Date(ts).toLocaleTimeString([], { hour12: false });
}

export class LiveChart {
  constructor(canvas, legend, { windowMs = 120_000, maxPoints = 600 } = {}) {
    this.canvas = canvas;
    this.legend = legend;
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
    this.series = new Map(); // name -> [[ts, value], ...] in time order
    this.pending = false;
    this.expose();
  }

  /** Add one message's data at time `ts` (ms). Returns how many series it fed. */
  add(ts, data) {
    const fields = numericFields(data);
    for (const [name, value] of fields) {
      if (!this.series.has(name)) this.series.set(name, []);
      const points = this.series.get(name);
      points.push([ts, value]);
      // Keep time order even when history arrives after live points.
      for (let i = points.length - 1; i > 0 && points[i - 1][0] > points[i][0]; i--) {
        [points[i - 1], points[i]] = [points[i], points[i - 1]];
      }
      if (points.length > this.maxPoints) points.splice(0, points.length - this.maxPoints);
    }
    if (fields.length) {
      this.expose();
      this.schedule();
    }
    return fields.length;
  }

  get points() {
    return Object.fromEntries(this.series);
  }

  expose() {
    this.canvas.dataset.points = JSON.stringify(this.points);
    this.canvas.dataset.count = String([...this.series.values()].reduce((n, p) => n + p.length, 0));
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.draw();
    });
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 600;
    const height = canvas.clientHeight || 240;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";

    const all = [...this.series.values()].flat();
    const pad = { left: 52, right: 14, top: 10, bottom: 24 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    ctx.strokeStyle = "#999";
    ctx.strokeRect(pad.left, pad.top, plotW, plotH);
    if (!all.length) {
      ctx.fillStyle = "#888";
      ctx.fillText("waiting for data…", pad.left + 10, pad.top + 20);
      this.drawLegend();
      return;
    }

    const tMax = Math.max(...all.map((p) => p[0]));
    const tMin = tMax - this.windowMs;
    const visible = all.filter((p) => p[0] >= tMin);
    let lo = Math.min(...visible.map((p) => p[1]));
    let hi = Math.max(...visible.map((p) => p[1]));
    if (lo >= 0 && lo < hi * 0.5) lo = 0; // positive metrics read best from zero
    if (lo === hi) {
      lo -= Math.abs(lo) * 0.1 || 1;
      hi += Math.abs(hi) * 0.1 || 1;
    }
    const step = niceStep(hi - lo);
    lo = Math.floor(lo / step) * step;
    hi = Math.ceil(hi / step) * step;
    const x = (t) => pad.left + ((t - tMin) / this.windowMs) * plotW;
    const y = (v) => pad.top + plotH - ((v - lo) / (hi - lo)) * plotH;

    // Grid and labels.
    ctx.fillStyle = "#555";
    ctx.strokeStyle = "#e4e4e4";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let v = lo; v <= hi + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.left, yy);
      ctx.lineTo(pad.left + plotW, yy);
      ctx.stroke();
      ctx.fillText(Number(v.toPrecision(6)).toString(), pad.left - 6, yy);
    }
    ctx.textBaseline = "top";
    for (let i = 0; i <= 4; i++) {
      const t = tMin + (this.windowMs * i) / 4;
      // The end labels align inward so they stay inside the canvas.
      ctx.textAlign = i === 0 ? "left" : i === 4 ? "right" : "center";
      ctx.fillText(clockLabel(t), x(t), pad.top + plotH + 6);
    }

    // One line per series, a dot on its latest value.
    let color = 0;
    ctx.save();
    ctx.beginPath();
    ctx.rect(pad.left, pad.top, plotW, plotH);
    ctx.clip();
    for (const points of this.series.values()) {
      const shown = points.filter((p) => p[0] >= tMin);
      ctx.strokeStyle = ctx.fillStyle = PALETTE[color++ % PALETTE.length];
      ctx.lineWidth = 2;
      ctx.beginPath();
      shown.forEach(([t, v], i) => (i ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
      ctx.stroke();
      const last = shown[shown.length - 1];
      if (last) {
        ctx.beginPath();
        ctx.arc(x(last[0]), y(last[1]), 3, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    ctx.restore();
    this.drawLegend();
  }

  drawLegend() {
    if (!this.legend) return;
    let color = 0;
    const items = [];
    for (const [name, points] of this.series) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[color++ % PALETTE.length];
      const label = document.createElement("span");
      const last = points[points.length - 1];
      label.textContent = `${name} ${last ? Number(last[1].toPrecision(4)) : ""}`;
      item.append(swatch, label);
      items.push(item);
    }
    this.legend.replaceChildren(...items);
  }
}
