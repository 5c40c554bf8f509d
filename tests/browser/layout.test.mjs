// The seat map's layout and hit-testing (functions/seatmap/static/layout.js),
// without a browser.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

const require = createRequire(import.meta.url);
const layout = require("../../functions/seatmap/static/layout.js");

test("seat ids are split into a row and a number", () => {
  const cases = [
    ["A-12", "A", 12], ["A12", "A", 12], ["R003-7", "R003", 7], ["AA_3", "AA", 3], ["7", "", 7],
    ["box", "", null], ["A-1234567890", "", null],
  ];
  for (const [id, row, number] of cases) assert.deepEqual(layout.parseSeatId(id), { row, number }, id);
});

test("rows are in natural order, seats by number, ids without a number last", () => {
  const built = layout.buildLayout([{ id: "s", seats: ["B-2", "A-10", "box", "A-2", "B-1", "A-1", "A10-1"] }]);
  const lines = built.blocks[0].lines.map((line) => [line.label, line.seats]);
  assert.deepEqual(lines, [["A", ["A-1", "A-2", "A-10"]], ["A10", ["A10-1"]], ["B", ["B-1", "B-2"]], ["", ["box"]]]);
});

test("a row longer than a line wraps; a section without rows is still a grid", () => {
  const seats = Array.from({ length: 250 }, (_, i) => "S" + (i + 1));
  const built = layout.buildLayout([{ id: "s", seats }]);
  assert.deepEqual(built.blocks[0].lines.map((line) => line.seats.length), [100, 100, 50]);
  assert.equal(built.blocks[0].lines[1].label, "");
  assert.equal(built.columns, layout.columnsMax);
});

test("hit-testing the centre of every seat of 20,000 finds that seat, and gaps find none", () => {
  const rows = (letter) => Array.from({ length: 100 }, (_, i) => letter + String(i + 1).padStart(3, "0"));
  const seatsOf = (letter) => rows(letter).flatMap((row) => Array.from({ length: 100 }, (_, n) => row + "-" + (n + 1)));
  const sections = [{ id: "north", seats: seatsOf("N") }, { id: "south", seats: seatsOf("S") }];
  const built = layout.buildLayout(sections);
  for (const cell of [3, 9, 20]) {
    const geo = layout.geometry(built, cell);
    for (const section of sections) {
      for (const seat of section.seats) {
        const rect = layout.seatRect(built, geo, section.id, seat);
        const hit = layout.hitTest(built, geo, rect.x + rect.size / 2, rect.y + rect.size / 2);
        assert.ok(hit && hit.section === section.id && hit.seat === seat, seat + " at cell " + cell);
      }
    }
    assert.equal(layout.hitTest(built, geo, 1, 1), null, "the margin");
    assert.equal(layout.hitTest(built, geo, geo.width + 5, geo.tops[1] + 30), null, "right of the grid");
  }
});

test("the cell size fits the width and stays within bounds at every zoom", () => {
  const built = layout.buildLayout([{ id: "s", seats: Array.from({ length: 100 }, (_, i) => "A-" + (i + 1)) }]);
  assert.ok(layout.geometry(built, layout.cellSize(built, 1000, 1)).width <= 1000);
  assert.equal(layout.cellSize(built, 100, 0.5), 3);
  assert.equal(layout.cellSize(built, 100000, 3), 48);
});
