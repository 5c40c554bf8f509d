// Two small canvas charts for the organiser view, written here so the page
// loads nothing from elsewhere: stacked bars (one per section) and lines
// over minutes.
"use strict";

(function () {
  // A row: its caption (section and counts) above its bar.
  const rowHeightPx = 40;
  const barHeightPx = 14;
  const legendHeightPx = 24;
  // Minutes drawn at most (the newest ones).
  const minutesMax = 120;
  const font = "12px system-ui, sans-serif";
  const ink = "#1d2330";
  const grid = "#e3e6eb";

  // A 2D context sized to the canvas's CSS box (height given, or its own).
  function context(canvas, heightPx) {
    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    const width = canvas.clientWidth || 600;
    const height = heightPx || canvas.clientHeight || 240;
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = font;
    ctx.textBaseline = "middle";
    return { ctx, width, height };
  }

  function legend(ctx, items, y) {
    let x = 0;
    for (const item of items) {
      ctx.fillStyle = item.color;
      ctx.fillRect(x, y - 5, 10, 10);
      ctx.fillStyle = ink;
      ctx.fillText(item.name, x + 14, y);
      x += 24 + ctx.measureText(item.name).width;
    }
  }

  // rows: [{label, parts: [{name, value, color}]}]; each bar is its row's
  // total (100 %), parts in order, captioned with the counts.
  function stackedBars(canvas, rows, parts) {
    const { ctx, width } = context(canvas, legendHeightPx + rows.length * rowHeightPx + 4);
    legend(ctx, parts, legendHeightPx / 2);
    const barWidth = Math.max(40, width - 2);
    rows.forEach((row, index) => {
      const y = legendHeightPx + index * rowHeightPx;
      const total = row.parts.reduce((sum, part) => sum + part.value, 0);
      const counts = row.parts.map((part) => part.name + " " + part.value).join(" · ");
      ctx.fillStyle = ink;
      ctx.fillText(row.label + ":  " + counts, 0, y + 10, width);
      const barTop = y + 20;
      let x = 0;
      for (const part of row.parts) {
        const w = total > 0 ? (part.value / total) * barWidth : 0;
        ctx.fillStyle = part.color;
        ctx.fillRect(x, barTop, w, barHeightPx);
        x += w;
      }
      if (total === 0) {
        ctx.strokeStyle = grid;
        ctx.strokeRect(0, barTop, barWidth, barHeightPx);
      }
    });
  }

  // points: [{minute, <series keys>: N}], oldest first; series: [{key,
  // name, color}]. Lines with a y axis from 0 to the largest value.
  function minuteLines(canvas, points, series) {
    const { ctx, width, height } = context(canvas, 240);
    legend(ctx, series, legendHeightPx / 2);
    const shown = points.slice(-minutesMax);
    const left = 40, top = legendHeightPx + 6, bottom = height - 22, right = width - 8;
    // Rounded up to a multiple of the 4 grid steps: whole numbers on the axis.
    const peak = 4 * Math.ceil(Math.max(1, ...shown.flatMap((p) => series.map((s) => Number(p[s.key]) || 0))) / 4);
    ctx.strokeStyle = grid;
    ctx.fillStyle = ink;
    for (let i = 0; i <= 4; i++) {
      const y = bottom - ((bottom - top) * i) / 4;
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(right, y); ctx.stroke();
      ctx.fillText(String((peak * i) / 4), 0, y);
    }
    if (shown.length === 0) return;
    const step = shown.length > 1 ? (right - left) / (shown.length - 1) : 0;
    const xOf = (i) => (shown.length > 1 ? left + i * step : (left + right) / 2);
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      shown.forEach((p, i) => {
        const y = bottom - ((Number(p[s.key]) || 0) / peak) * (bottom - top);
        if (i === 0) ctx.moveTo(xOf(i), y); else ctx.lineTo(xOf(i), y);
        if (shown.length === 1) ctx.fillRect(xOf(i) - 3, y - 3, 6, 6);
      });
      ctx.stroke();
      ctx.lineWidth = 1;
    }
    ctx.fillStyle = ink;
    const label = (p) => (typeof p.minute === "string" ? p.minute.slice(11, 16) : "");
    ctx.fillText(label(shown[0]), left, height - 8);
    if (shown.length > 1) ctx.fillText(label(shown[shown.length - 1]), right - 34, height - 8);
  }

  window.Charts = { stackedBars, minuteLines };
})();
