// The two drawings of the page: the shared canvas and the chart of recent round trips.

import { colorFor } from './util.js';

const MAX_DOTS = 20000;
const RADIUS = 5;
// At most one dot per this many milliseconds while dragging.
const DOT_EVERY_MS = 20;

/** The shared canvas: dots from everyone, in each participant's colour. */
export class CanvasView {
  #canvas;
  #ctx;
  #dots = [];
  #people = new Set();

  /** `onDraw(x, y)` gets each dot this page draws, in 0..1 coordinates. */
  constructor(canvas, onDraw) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d');
    let last = 0;
    const draw = (event) => {
      if (event.type === 'pointermove' && event.buttons === 0) return;
      if (event.timeStamp - last < DOT_EVERY_MS) return;
      last = event.timeStamp;
      const box = canvas.getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width;
      const y = (event.clientY - box.top) / box.height;
      if (x >= 0 && x <= 1 && y >= 0 && y <= 1) onDraw(round(x), round(y));
    };
    canvas.addEventListener('pointerdown', (event) => {
      canvas.setPointerCapture(event.pointerId);
      last = 0;
      draw(event);
    });
    canvas.addEventListener('pointermove', draw);
    this.#clear();
  }

  /** Adds one dot from `from`; coordinates outside 0..1 are clamped. */
  dot(from, x, y, color) {
    const dot = { x: clamp(x), y: clamp(y), color };
    this.#dots.push(dot);
    this.#people.add(from);
    if (this.#dots.length > MAX_DOTS) {
      this.#dots.splice(0, this.#dots.length - MAX_DOTS);
      this.#redraw();
    } else {
      this.#paint(dot);
    }
    document.querySelector('#dot-count').textContent = String(this.#dots.length);
    document.querySelector('#dot-people').textContent = String(this.#people.size);
  }

  #clear() {
    const ctx = this.#ctx;
    ctx.fillStyle = '#fbfaf7';
    ctx.fillRect(0, 0, this.#canvas.width, this.#canvas.height);
  }

  #redraw() {
    this.#clear();
    for (const dot of this.#dots) this.#paint(dot);
  }

  #paint({ x, y, color }) {
    const ctx = this.#ctx;
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(x * this.#canvas.width, y * this.#canvas.height, RADIUS, 0, 2 * Math.PI);
    ctx.fill();
  }
}

/** Bars of the recent round trips, scaled to the largest shown. */
export class RttChart {
  #canvas;
  #ctx;

  constructor(canvas) {
    this.#canvas = canvas;
    this.#ctx = canvas.getContext('2d');
  }

  draw(values) {
    const { width, height } = this.#canvas;
    const ctx = this.#ctx;
    ctx.clearRect(0, 0, width, height);
    const shown = values.slice(-60);
    const top = Math.max(...shown, 0.001);
    const bar = width / 60;
    ctx.fillStyle = colorFor('rtt');
    shown.forEach((v, i) => {
      const h = Math.max(1, (v / top) * (height - 2));
      ctx.fillRect(i * bar + 1, height - h, Math.max(1, bar - 2), h);
    });
  }
}

function clamp(v) {
  return Math.min(1, Math.max(0, v));
}

function round(v) {
  return Math.round(v * 10000) / 10000;
}
