// Seat-map layout, hit-testing and drawing on one canvas. No DOM node per
// seat: a 20,000-seat event is one canvas, a Map from seat id to grid
// position, and an array of lines per section for hit-testing by coordinates.
// Pure functions of their inputs (also loaded by the Node unit tests).
"use strict";

(function (root) {
  // Seats per drawn line: longer rows wrap, so a section of ids without
  // rows ("S1".."S10000") is still a grid.
  const columnsMax = 100;
  const labelWidthPx = 52;
  const headerHeightPx = 24;
  const blockGapPx = 14;
  const paddingPx = 8;
  const cellPxMin = 3;
  const cellPxMax = 48;
  // A seat number with more digits is treated as part of the row label.
  const seatNumberDigitsMax = 9;
  const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

  // "A-12" -> {row: "A", number: 12}; "R003-7" -> {row: "R003", number: 7};
  // "box" -> {row: "", number: null} (drawn in order at the end).
  function parseSeatId(id) {
    const match = /^(.*?)(\d+)$/.exec(id);
    if (!match || match[2].length > seatNumberDigitsMax) return { row: "", number: null };
    return { row: match[1].replace(/[-_.]+$/, ""), number: Number(match[2]) };
  }

  function compareSeats(a, b) {
    if (a.number !== null && b.number !== null && a.number !== b.number) return a.number - b.number;
    return collator.compare(a.id, b.id);
  }

  // sections: [{id, seats: [seat ids]}] -> {blocks, index}. blocks[i].lines
  // are the drawn lines ({label, seats}); index maps a seat id to its place.
  function buildLayout(sections) {
    const blocks = [];
    const index = new Map();
    for (const section of sections) {
      const rows = new Map();
      for (const id of section.seats) {
        const parsed = parseSeatId(id);
        const key = parsed.number === null ? "\u0000other" : parsed.row;
        if (!rows.has(key)) rows.set(key, []);
        rows.get(key).push({ id, number: parsed.number });
      }
      const rowKeys = Array.from(rows.keys()).sort((a, b) => {
        if (a === "\u0000other" || b === "\u0000other") return a === "\u0000other" ? 1 : -1;
        return collator.compare(a, b);
      });
      const lines = [];
      for (const key of rowKeys) {
        const seats = rows.get(key).sort(compareSeats);
        for (let start = 0; start < seats.length; start += columnsMax) {
          const label = start === 0 && key !== "\u0000other" ? key : "";
          lines.push({ label, seats: seats.slice(start, start + columnsMax).map((s) => s.id) });
        }
      }
      const block = { section: section.id, lines, columns: 0 };
      lines.forEach((line, lineIndex) => {
        block.columns = Math.max(block.columns, line.seats.length);
        line.seats.forEach((id, column) => index.set(section.id + "\u0000" + id, { block: blocks.length, line: lineIndex, column }));
      });
      blocks.push(block);
    }
    return { blocks, index, columns: Math.max(1, ...blocks.map((b) => b.columns)) };
  }

  // The cell size that fits `widthPx`, times the zoom, within bounds.
  function cellSize(layout, widthPx, zoom) {
    const fit = Math.floor((widthPx - labelWidthPx - 2 * paddingPx) / layout.columns);
    const base = Math.min(26, Math.max(6, fit));
    return Math.min(cellPxMax, Math.max(cellPxMin, Math.round(base * zoom)));
  }

  // Where each block sits for a cell size (CSS pixels).
  function geometry(layout, cellPx) {
    const tops = [];
    let y = paddingPx;
    for (const block of layout.blocks) {
      tops.push(y);
      y += headerHeightPx + block.lines.length * cellPx + blockGapPx;
    }
    return {
      cellPx,
      tops,
      gridLeft: paddingPx + labelWidthPx,
      width: paddingPx * 2 + labelWidthPx + layout.columns * cellPx,
      height: Math.max(y - blockGapPx + paddingPx, 1),
    };
  }

  // The seat at (x, y) in CSS pixels of the canvas: {section, seat} or null.
  function hitTest(layout, geo, x, y) {
    for (let b = 0; b < layout.blocks.length; b++) {
      const gridTop = geo.tops[b] + headerHeightPx;
      const block = layout.blocks[b];
      if (y < gridTop || y >= gridTop + block.lines.length * geo.cellPx) continue;
      const line = block.lines[Math.floor((y - gridTop) / geo.cellPx)];
      const column = Math.floor((x - geo.gridLeft) / geo.cellPx);
      if (!line || column < 0 || column >= line.seats.length) return null;
      return { section: block.section, seat: line.seats[column] };
    }
    return null;
  }

  // A seat's square in CSS pixels of the canvas, or null.
  function seatRect(layout, geo, section, seat) {
    const place = layout.index.get(section + "\u0000" + seat);
    if (!place) return null;
    return {
      x: geo.gridLeft + place.column * geo.cellPx,
      y: geo.tops[place.block] + headerHeightPx + place.line * geo.cellPx,
      size: geo.cellPx,
    };
  }

  // Draws every block. stateOf(section, seat) names a key of `colors`;
  // caption(section) is the block's heading.
  function draw(ctx, layout, geo, stateOf, colors, caption) {
    const cell = geo.cellPx;
    const gap = cell >= 6 ? 1 : 0;
    ctx.clearRect(0, 0, geo.width, geo.height);
    layout.blocks.forEach((block, b) => {
      const gridTop = geo.tops[b] + headerHeightPx;
      ctx.fillStyle = colors.text;
      ctx.font = "600 13px system-ui, sans-serif";
      ctx.textBaseline = "middle";
      ctx.fillText(caption(block.section), paddingPx, geo.tops[b] + headerHeightPx / 2);
      if (cell >= 9) ctx.font = Math.min(12, cell) + "px system-ui, sans-serif";
      let current = null;
      block.lines.forEach((line, lineIndex) => {
        const y = gridTop + lineIndex * cell;
        if (line.label && cell >= 9) {
          ctx.fillStyle = colors.text;
          current = null;
          ctx.fillText(line.label, paddingPx, y + cell / 2, labelWidthPx - 6);
        }
        line.seats.forEach((seat, column) => {
          const color = colors[stateOf(block.section, seat)];
          if (color !== current) { ctx.fillStyle = color; current = color; }
          ctx.fillRect(geo.gridLeft + column * cell, y, cell - gap, cell - gap);
        });
      });
    });
  }

  const api = { columnsMax, parseSeatId, buildLayout, cellSize, geometry, hitTest, seatRect, draw };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.SeatLayout = api;
})(typeof window !== "undefined" ? window : globalThis);
